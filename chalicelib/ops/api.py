"""Operations routes: the health check."""

from __future__ import annotations

from typing import Any

from chalice import Blueprint

from chalicelib import bootstrap
from chalicelib.core.http import header

bp = Blueprint(__name__)


@bp.route("/health", methods=["GET"])
def health() -> dict[str, Any]:
    """Public: {status}. With an admin's bearer token, each dependency's check too."""
    from chalicelib.ops import health as checks

    return checks.report(admin=bootstrap.is_admin(header(bp.current_request, "authorization")))
