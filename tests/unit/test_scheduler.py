import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from chalice import Chalice

from freshcart_local.scheduler import Cron, Scheduler, next_run

T = datetime(2026, 11, 22, 13, 7, 30, tzinfo=UTC)  # a Sunday


def test_rate() -> None:
    assert (next_run("rate(5 minutes)", T) - T).total_seconds() == 300
    assert (next_run("rate(1 day)", T) - T).total_seconds() == 86400


def test_cron_daily_report_time() -> None:
    assert next_run("cron(30 1 * * ? *)", T) == datetime(2026, 11, 23, 1, 30, tzinfo=UTC)


def test_cron_steps_lists_and_weekday_names() -> None:
    assert next_run("cron(0/15 * * * ? *)", T) == datetime(2026, 11, 22, 13, 15, tzinfo=UTC)
    # MON-FRI at 09:00: the next is Monday
    assert next_run("cron(0 9 ? * MON-FRI *)", T) == datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
    assert next_run("cron(0 9 ? * 1 *)", T) == datetime(2026, 11, 29, 9, 0, tzinfo=UTC)  # 1 = SUN
    assert next_run("cron(0 0 1 JAN,JUL ? *)", T) == datetime(2027, 1, 1, 0, 0, tzinfo=UTC)


def test_cron_rejects_what_it_cannot_honour() -> None:
    with pytest.raises(ValueError):
        Cron.parse("0 9 L * ? *")
    with pytest.raises(ValueError):
        next_run("every tuesday", T)


def _two_jobs() -> tuple[Any, threading.Event, threading.Event, list[str]]:
    app = Chalice(app_name="sched-test")
    release, slow_started, ran = threading.Event(), threading.Event(), []

    @app.schedule("rate(1 minute)", name="slow")
    def slow(event: Any) -> None:
        slow_started.set()
        ran.append("slow")
        release.wait(10)

    @app.schedule("rate(1 minute)", name="fast")
    def fast(event: Any) -> None:
        ran.append("fast")

    return app, release, slow_started, ran


def test_a_slow_job_delays_no_other_and_never_overlaps_itself() -> None:
    app, release, slow_started, ran = _two_jobs()
    scheduler = Scheduler(app, "us-east-1")
    past = datetime(2024, 1, 1, tzinfo=UTC)
    scheduler.next = {"slow": past, "fast": past}
    try:
        assert sorted(scheduler.fire_due(datetime.now(UTC))) == ["fast", "slow"]
        assert slow_started.wait(5)
        deadline = time.monotonic() + 5
        while "fast" not in ran and time.monotonic() < deadline:
            time.sleep(0.01)
        assert "fast" in ran  # while slow still runs
        scheduler.next = {"slow": past, "fast": past}
        later = datetime.now(UTC) + timedelta(minutes=2)
        assert scheduler.fire_due(later) == ["fast"]  # slow is still running: skipped, not stacked
        assert scheduler.skipped == {"slow": 1}
    finally:
        release.set()
        assert scheduler.stop(timeout=5) == []
    assert ran.count("slow") == 1


def test_swap_keeps_due_times_and_adds_new_jobs() -> None:
    app, release, _, _ = _two_jobs()
    release.set()
    scheduler = Scheduler(app, "us-east-1")
    due = datetime(2030, 1, 1, tzinfo=UTC)
    scheduler.next = {"slow": due, "gone": due}
    scheduler.swap(app)
    assert scheduler.next["slow"] == due and "gone" not in scheduler.next and scheduler.next["fast"] > datetime.now(UTC)
