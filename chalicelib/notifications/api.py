"""The in-app feed: a user's notices, newest first, and marking one read."""

from __future__ import annotations

from typing import Any

from chalice import Blueprint

from chalicelib import bootstrap
from chalicelib.core.http import caller, decode_cursor, encode_cursor, page_limit
from chalicelib.users.authorizer import jwt_auth

bp = Blueprint(__name__)


def _req() -> Any:
    return bp.current_request


@bp.route("/users/me/notifications", methods=["GET"], authorizer=jwt_auth)
def my_notifications() -> dict[str, Any]:
    """Your notices, newest first, with a cursor."""
    items, nxt = bootstrap.feed().page(caller(_req()).user_id, page_limit(_req(), 20), decode_cursor(_req()))
    return {"items": items, "nextCursor": encode_cursor(nxt)}


@bp.route("/users/me/notifications/{notification_id}/read", methods=["POST"], authorizer=jwt_auth)
def mark_read(notification_id: str) -> dict[str, Any]:
    """Mark one of your notices read (another's: 404)."""
    bootstrap.feed().mark_read(caller(_req()).user_id, notification_id)
    return {"notificationId": notification_id, "read": True}
