"""User events from the users table's stream: a committed registration or login is always
announced, a rolled-back one never (no SNS call on the request path)."""

from __future__ import annotations

from typing import Any

from chalice import Blueprint

from chalicelib.core.config import get_settings
from chalicelib.core.streams import publish_changes
from chalicelib.users.repo import UsersRepo

bp = Blueprint(__name__)

USER_REGISTERED = "UserRegistered"
NEW_DEVICE_LOGIN = "NewDeviceLogin"
VERIFICATION_REQUESTED = "VerificationRequested"


def user_events(name: str, old: dict[str, Any] | None, new: dict[str, Any] | None) -> list[tuple[str, dict[str, Any]]]:
    if new is None or not UsersRepo.is_profile_row(new):
        return []
    if name == "INSERT":
        return [(USER_REGISTERED, {"userId": new["userId"], "email": new["email"], "username": new["username"]})]
    if old is not None and new.get("verificationRequestedAt") != old.get("verificationRequestedAt"):
        return [(VERIFICATION_REQUESTED, {"userId": new["userId"], "email": new["email"], "username": new["username"]})]
    devices = new.get("devices") or []
    if old is None or not devices or new.get("lastActiveAt") == old.get("lastActiveAt"):
        return []
    latest = devices[0]
    known = {(d.get("key"), d.get("ip")) for d in old.get("devices") or []}
    if (latest.get("key"), latest.get("ip")) in known:
        return []
    device = {k: latest.get(k) for k in ("os", "browser", "userAgent")}
    return [
        (
            NEW_DEVICE_LOGIN,
            {
                "userId": new["userId"],
                "email": new["email"],
                "ip": latest.get("ip"),
                "device": device,
                "at": new["lastActiveAt"],
            },
        )
    ]


@bp.lambda_function(name="user_stream")
def user_stream(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Fed by the users table's stream (infra/resources.json: UserStreamMapping)."""
    return publish_changes(event, get_settings().user_events_topic_arn, user_events)
