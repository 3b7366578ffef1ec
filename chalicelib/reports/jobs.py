"""The daily report's schedule: 01:00 UTC, for the day before."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from chalice import Blueprint, Cron

from chalicelib import bootstrap
from chalicelib.reports import rules

bp = Blueprint(__name__)


def day_of(event: Any) -> str:
    """The day to report: ``detail.date`` when run by hand (`make job NAME=daily_report
    DATE=...`), else the day before the event's time (UTC)."""
    detail = getattr(event, "detail", None) or {}
    if isinstance(detail, dict) and detail.get("date"):
        return str(detail["date"])
    when = getattr(event, "time", None)
    at = datetime.fromisoformat(str(when).replace("Z", "+00:00")) if when else datetime.now(UTC)
    return rules.previous_day(at.astimezone(UTC).date())


@bp.schedule(Cron(0, 1, "*", "*", "?", "*"), description="Build, store and email the daily report of the day before")
def daily_report(event: Any) -> dict[str, Any]:
    return bootstrap.reports().run(day_of(event))
