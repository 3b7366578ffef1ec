"""The subscription job: tomorrow's due subscriptions become orders, placed and paid off-session."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from chalice import Blueprint, Cron

from chalicelib import bootstrap

bp = Blueprint(__name__)


def delivery_date(event: Any) -> str:
    """``detail.date`` when a run names one (``make job NAME=subscription_orders DATE=``), else
    tomorrow in the shop's time."""
    raw = event.to_dict() if hasattr(event, "to_dict") else dict(event or {})
    named = (raw.get("detail") or {}).get("date")
    if named:
        return str(datetime.fromisoformat(str(named)).date())
    return bootstrap.subscriptions().tomorrow()


@bp.schedule(Cron(30, 12, "*", "*", "?", "*"), description="Tomorrow's subscription orders, placed and paid")
def subscription_orders(event: Any) -> dict[str, int]:
    """Daily at 12:30 UTC (18:00 in India), well before tomorrow's morning cut-off: each
    subscription due tomorrow gets its order, paid off-session with the customer's default card."""
    return bootstrap.subscriptions().place_due(delivery_date(event))


@bp.schedule(Cron(30, 16, "*", "*", "?", "*"), description="Tomorrow's unpaid subscription orders, tried once more")
def subscription_retries(event: Any) -> dict[str, int]:
    """Daily at 16:30 UTC (22:00 in India), four hours after the orders: each of tomorrow's
    subscription orders still unpaid (a decline, a bank asking the customer) is tried once more."""
    return bootstrap.subscriptions().retry_due(delivery_date(event))
