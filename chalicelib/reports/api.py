"""Daily report routes: the JSON and the page (managers, admins)."""

from __future__ import annotations

from typing import Any

from chalice import Blueprint, Response

from chalicelib import bootstrap
from chalicelib.core.http import query, require_role
from chalicelib.users.authorizer import jwt_auth

bp = Blueprint(__name__)
STAFF = ("manager", "admin")


def _req() -> Any:
    return bp.current_request


@bp.route("/reports/daily", methods=["GET"], authorizer=jwt_auth)
def get_daily_report() -> dict[str, Any]:
    """One UTC day's report as JSON (managers, admins); built at 01:00 UTC for the day before."""
    require_role(_req(), *STAFF)
    return bootstrap.reports().get(query(_req(), "date"))  # type: ignore[arg-type]


@bp.route("/reports/daily/{date}/page", methods=["GET"], authorizer=jwt_auth)
def get_daily_report_page(date: str) -> Response:
    """The same report as a page with charts (managers, admins): self-contained HTML."""
    require_role(_req(), *STAFF)
    page = bootstrap.reports().page(date)
    return Response(page, headers={"Content-Type": "text/html; charset=utf-8"})
