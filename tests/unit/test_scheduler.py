from datetime import UTC, datetime

import pytest

from freshcart_local.scheduler import Cron, next_run

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
