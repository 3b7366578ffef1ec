"""Run the app's ``@app.schedule`` jobs locally: ``rate(...)`` and AWS ``cron(...)`` (UTC)."""

from __future__ import annotations

import re
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from chalice import Chalice
from chalice.app import ScheduledEventConfig

from chalicelib.core import logs
from freshcart_local.runtime import ACCOUNT_ID, invoke

log = logs.get_logger("freshcart.local.scheduler")

_UNITS = {"minute": 60, "minutes": 60, "hour": 3600, "hours": 3600, "day": 86400, "days": 86400}
_MONTHS = {
    m: i + 1 for i, m in enumerate(["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"])
}
_DAYS = {d: i + 1 for i, d in enumerate(["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"])}  # AWS: 1=SUN


def _expr(cfg: ScheduledEventConfig) -> str:
    e = cfg.schedule_expression
    return e if isinstance(e, str) else e.to_string()


def _field(spec: str, lo: int, hi: int, names: dict[str, int] | None = None) -> set[int]:
    if spec in ("*", "?"):
        return set(range(lo, hi + 1))
    out: set[int] = set()
    for part in spec.split(","):
        step = 1
        if "/" in part:
            part, step_s = part.split("/")
            step = int(step_s)
        if part in ("*", ""):
            a, b = lo, hi
        elif "-" in part:
            a_s, b_s = part.split("-")
            a, b = _num(a_s, names), _num(b_s, names)
        else:
            a = _num(part, names)
            b = hi if step > 1 else a
        out.update(range(a, b + 1, step))
    return out


def _num(token: str, names: dict[str, int] | None) -> int:
    return names[token.upper()] if names and token.upper() in names else int(token)


@dataclass(frozen=True)
class Cron:
    minutes: set[int]
    hours: set[int]
    days: set[int]
    months: set[int]
    weekdays: set[int]
    dom_any: bool
    dow_any: bool

    @classmethod
    def parse(cls, body: str) -> Cron:
        parts = body.split()
        if len(parts) != 6:
            raise ValueError(f"AWS cron needs 6 fields: {body!r}")
        mi, h, dom, mon, dow, _year = parts
        for unsupported in ("L", "W", "#"):
            if unsupported in dom or unsupported in dow:
                raise ValueError(f"local scheduler does not support {unsupported!r} in {body!r}")
        return cls(
            _field(mi, 0, 59),
            _field(h, 0, 23),
            _field(dom, 1, 31),
            _field(mon, 1, 12, _MONTHS),
            _field(dow, 1, 7, _DAYS),
            dom in ("*", "?"),
            dow in ("*", "?"),
        )

    def matches(self, t: datetime) -> bool:
        aws_dow = (t.isoweekday() % 7) + 1  # Monday=2 ... Sunday=1
        return (
            t.minute in self.minutes
            and t.hour in self.hours
            and t.month in self.months
            and (self.dom_any or t.day in self.days)
            and (self.dow_any or aws_dow in self.weekdays)
        )

    def next_after(self, t: datetime) -> datetime:
        c = t.replace(second=0, microsecond=0) + timedelta(minutes=1)
        for _ in range(60 * 24 * 366 * 2):
            if self.matches(c):
                return c
            c += timedelta(minutes=1)
        raise ValueError("cron never fires")


def next_run(expression: str, after: datetime) -> datetime:
    m = re.fullmatch(r"rate\((\d+)\s+(\w+)\)", expression.strip())
    if m:
        return after + timedelta(seconds=int(m.group(1)) * _UNITS[m.group(2)])
    m = re.fullmatch(r"cron\((.+)\)", expression.strip())
    if m:
        return Cron.parse(m.group(1)).next_after(after)
    raise ValueError(f"unknown schedule expression {expression!r}")


def scheduled_event(name: str, region: str, when: datetime) -> dict[str, Any]:
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": ACCOUNT_ID,
        "time": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [f"arn:aws:events:{region}:{ACCOUNT_ID}:rule/{name}"],
        "detail": {},
    }


def jobs(app: Chalice) -> dict[str, str]:
    return {cfg.name: _expr(cfg) for cfg in app.event_sources if isinstance(cfg, ScheduledEventConfig)}


def run_job(app: Chalice, name: str, region: str, detail: dict[str, Any] | None = None) -> Any:
    """Run a job now; ``detail`` goes into the event's ``detail`` (e.g. the report's date)."""
    if name not in jobs(app):
        raise KeyError(f"no scheduled job {name!r}; known: {sorted(jobs(app))}")
    return invoke(app, name, {**scheduled_event(name, region, datetime.now(UTC)), "detail": detail or {}})


class Scheduler:
    """Fires each due job on its own worker thread, so a slow job delays no other; a job still
    running when it is due again is skipped (never two runs of one job at once), as a Lambda
    with reserved concurrency 1 would."""

    def __init__(self, app: Chalice, region: str, tick: float = 1.0) -> None:
        self.app = app
        self.region = region
        self.tick = tick
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._running: dict[str, threading.Thread] = {}
        self.next: dict[str, datetime] = {}
        self.skipped: dict[str, int] = {}

    def start(self) -> None:
        now = datetime.now(UTC)
        self.next = {name: next_run(expr, now) for name, expr in jobs(self.app).items()}
        self._thread = threading.Thread(target=self._loop, name="scheduler", daemon=True)
        self._thread.start()

    def swap(self, app: Chalice) -> None:
        """Use a reloaded app: new jobs are scheduled, removed ones dropped, the rest keep their time."""
        now = datetime.now(UTC)
        schedule = jobs(app)
        self.app = app
        self.next = {name: self.next.get(name) or next_run(expr, now) for name, expr in schedule.items()}

    def _loop(self) -> None:
        while not self._stop.wait(self.tick):
            self.fire_due(datetime.now(UTC))

    def fire_due(self, now: datetime) -> list[str]:
        """Start every job that is due; returns the names started."""
        schedule = jobs(self.app)
        started = []
        for name, due in list(self.next.items()):
            if now < due or name not in schedule:
                continue
            self.next[name] = next_run(schedule[name], now)
            running = self._running.get(name)
            if running is not None and running.is_alive():
                self.skipped[name] = self.skipped.get(name, 0) + 1
                log.warning("job still running; this run skipped", extra={"job": name})
                continue
            worker = threading.Thread(target=self._run, args=(self.app, name, now), name=f"job-{name}", daemon=True)
            self._running[name] = worker
            worker.start()
            started.append(name)
        return started

    def _run(self, app: Chalice, name: str, when: datetime) -> None:
        try:
            result = invoke(app, name, scheduled_event(name, self.region, when))
            log.info("job ran", extra={"job": name, "result": result})
        except Exception:
            log.exception("job failed", extra={"job": name})

    def stop(self, timeout: float = 5) -> list[str]:
        """Stop firing; wait at most ``timeout`` for running jobs. Returns the threads still alive."""
        self._stop.set()
        deadline = time.monotonic() + timeout
        if self._thread is not None:  # the loop first: after it, nothing adds to _running
            self._thread.join(timeout=max(0.0, deadline - time.monotonic()))
        threads = [t for t in (self._thread, *list(self._running.values())) if t is not None]
        for t in threads:
            t.join(timeout=max(0.0, deadline - time.monotonic()))
        return [t.name for t in threads if t.is_alive()]
