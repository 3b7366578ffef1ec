"""Run the app's ``@app.schedule`` jobs locally: ``rate(...)`` and AWS ``cron(...)`` (UTC)."""

from __future__ import annotations

import re
import threading
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


def run_job(app: Chalice, name: str, region: str) -> Any:
    if name not in jobs(app):
        raise KeyError(f"no scheduled job {name!r}; known: {sorted(jobs(app))}")
    return invoke(app, name, scheduled_event(name, region, datetime.now(UTC)))


class Scheduler:
    def __init__(self, app: Chalice, region: str) -> None:
        self.app = app
        self.region = region
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.next: dict[str, datetime] = {}

    def start(self) -> None:
        now = datetime.now(UTC)
        self.next = {name: next_run(expr, now) for name, expr in jobs(self.app).items()}
        self._thread = threading.Thread(target=self._loop, name="scheduler", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        schedule = jobs(self.app)
        while not self._stop.wait(1):
            now = datetime.now(UTC)
            for name, due in list(self.next.items()):
                if now >= due:
                    self.next[name] = next_run(schedule[name], now)
                    try:
                        result = invoke(self.app, name, scheduled_event(name, self.region, now))
                        log.info("job ran", extra={"job": name, "result": result})
                    except Exception:
                        log.exception("job failed", extra={"job": name})

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=5)
