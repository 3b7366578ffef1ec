"""Scheduled operational jobs."""

from __future__ import annotations

from typing import Any

from chalice import Blueprint, Rate

from chalicelib.ops import health

bp = Blueprint(__name__)


@bp.schedule(
    Rate(5, unit=Rate.MINUTES), description="Health: API latency, Lambda and DynamoDB errors, DLQs; alert on a change"
)
def health_monitor(event: Any) -> dict[str, Any]:
    return health.check()
