"""Identity rules and views with no pydantic: the authorizer and GETs load only this."""

from __future__ import annotations

import re
from typing import Any

ROLES: tuple[str, ...] = ("customer", "admin", "manager", "vendor", "driver")


def password_problem(password: str, email: str = "", username: str = "") -> str | None:
    """The password policy, in one place, as a message a person can act on."""
    size = len(password.encode())
    if size < 10:
        return "must be at least 10 characters"
    if size > 72:
        return "must be at most 72 bytes"
    if not re.search(r"[A-Za-z]", password) or not re.search(r"[0-9]", password):
        return "must contain at least one letter and one digit"
    lowered = password.lower()
    for part in (email.split("@")[0].lower(), username.lower()):
        if len(part) >= 4 and part in lowered:
            return "must not contain your username or email"
    return None


# -- views: the only shapes that leave the service ----------------------------------------
PUBLIC_FIELDS = (
    "userId",
    "username",
    "email",
    "role",
    "status",
    "emailVerified",
    "name",
    "phone",
    "preferences",
    "addresses",
    "profileCompletionPrompted",
    "createdAt",
    "updatedAt",
    "lastActiveAt",
    "region",
)
ADMIN_LIST_FIELDS = ("userId", "username", "email", "role", "status", "createdAt", "name", "emailVerified")


def missing_profile_fields(user: dict[str, Any]) -> list[str]:
    """The ONE rule for a complete profile: name, phone and at least one address."""
    missing = [f for f in ("name", "phone") if not user.get(f)]
    if not user.get("addresses"):
        missing.append("addresses")
    return missing


def profile_view(user: dict[str, Any]) -> dict[str, Any]:
    view = {k: user[k] for k in PUBLIC_FIELDS if k in user}
    view.setdefault("addresses", [])
    view.setdefault("preferences", {})
    view["devices"] = [
        {k: d.get(k) for k in ("os", "browser", "ip", "lastActive") if d.get(k)} for d in user.get("devices", [])
    ]
    view["isProfileComplete"] = not missing_profile_fields(user)
    view["missingProfileFields"] = missing_profile_fields(user)
    return view


def list_view(user: dict[str, Any]) -> dict[str, Any]:
    return {k: user[k] for k in ADMIN_LIST_FIELDS if k in user}


def subject(user_id: str) -> str:
    """The audit log's subject for a user."""
    return f"USER#{user_id}"
