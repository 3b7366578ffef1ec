"""Pure subscription rules: on which dates a subscription delivers, and its next one.

A subscription delivers on its ``startDate`` and then every day (DAILY), every other day
(ALTERNATE, counted from the start) or on chosen weekdays (WEEKLY, ``weekdays`` 0 = Monday), up to
its ``endDate``; never on a date inside a pause (``pauses``: [from, to] inclusive) or skipped
(``skips``). Dunning: after ``MAX_FAILED_DATES`` dates in a row whose order could not be paid it
pauses itself, as Stripe Billing's smart retries end in a paused subscription.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

DAILY, ALTERNATE, WEEKLY = "DAILY", "ALTERNATE", "WEEKLY"
ACTIVE, PAUSED, CANCELLED = "ACTIVE", "PAUSED", "CANCELLED"
MAX_FAILED_DATES = 3
LOOKAHEAD_DAYS = 400  # a next date further than this is none (a pause to the end of time)


def _day(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def scheduled(sub: dict[str, Any], day: date) -> bool:
    """Does the subscription's frequency fall on ``day`` (before pauses and skips)?"""
    start = _day(sub["startDate"])
    if day < start or (sub.get("endDate") and day > _day(sub["endDate"])):
        return False
    if sub["frequency"] == DAILY:
        return True
    if sub["frequency"] == ALTERNATE:
        return (day - start).days % 2 == 0
    return day.weekday() in set(sub.get("weekdays") or [])


def delivers(sub: dict[str, Any], day: date) -> bool:
    """Is an order due for ``day``: scheduled, not paused then, not skipped."""
    if not scheduled(sub, day):
        return False
    if day.isoformat() in set(sub.get("skips") or []):
        return False
    return not any(_day(p["from"]) <= day <= _day(p["to"]) for p in sub.get("pauses") or [])


def next_date(sub: dict[str, Any], after: date) -> date | None:
    """The first date strictly after ``after`` an order is due; None when there is none (ended,
    cancelled, paused by dunning)."""
    if sub.get("status") != ACTIVE:
        return None
    day = max(after + timedelta(days=1), _day(sub["startDate"]))
    for _ in range(LOOKAHEAD_DAYS):
        if sub.get("endDate") and day > _day(sub["endDate"]):
            return None
        if delivers(sub, day):
            return day
        day += timedelta(days=1)
    return None


def first_date(sub: dict[str, Any], earliest: date) -> date | None:
    """The first due date on or after ``earliest`` (the first date whose cut-off is still ahead)."""
    return next_date(sub, earliest - timedelta(days=1))


def as_of(sub: dict[str, Any], day: date) -> dict[str, Any]:
    """The subscription as it orders on ``day``: its changes dated on or before it applied in order."""
    out = dict(sub)
    for change in sorted(sub.get("changes") or [], key=lambda c: str(c["from"])):
        if _day(change["from"]) <= day:
            out.update({k: v for k, v in change.items() if k in ("quantity", "deliverySlot")})
    return out
