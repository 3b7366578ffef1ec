"""The in-app feed: a user's notices, newest first, and marking one read."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalice import Blueprint, Response

from chalicelib import bootstrap
from chalicelib.core.http import caller, decode_cursor, encode_cursor, page_limit, parse
from chalicelib.core.lazy import lazy_module
from chalicelib.users.authorizer import jwt_auth

if TYPE_CHECKING:
    from chalicelib.notifications import models
else:
    models = lazy_module("chalicelib.notifications.models")

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


@bp.route("/users/me/devices", methods=["POST"], authorizer=jwt_auth)
def register_device() -> Response:
    """A phone for push notices (its FCM or APNs token); the same token again is the same device."""
    body = parse(models.DeviceBody, _req())
    return Response(bootstrap.devices().register(caller(_req()).user_id, body.platform, body.token), status_code=201)


@bp.route("/users/me/devices", methods=["GET"], authorizer=jwt_auth)
def list_devices() -> dict[str, Any]:
    return bootstrap.devices().list(caller(_req()).user_id)


@bp.route("/users/me/devices/{device_id}", methods=["DELETE"], authorizer=jwt_auth)
def remove_device(device_id: str) -> Response:
    bootstrap.devices().remove(caller(_req()).user_id, device_id)
    return Response(body="", status_code=204)
