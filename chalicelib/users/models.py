"""Request bodies and public views for users. Bodies forbid unknown fields."""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import EmailStr, Field, field_validator, model_validator

from chalicelib.core.http import Body

Role = Literal["customer", "admin", "manager", "vendor"]
ROLES: tuple[str, ...] = ("customer", "admin", "manager", "vendor")

USERNAME_RE = r"^[A-Za-z0-9_.-]{3,32}$"
PINCODE_RE = r"^[A-Za-z0-9 -]{3,10}$"
PHONE_RE = r"^\+?[0-9 ()-]{7,20}$"


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


class DeviceInfo(Body):
    deviceId: str | None = Field(default=None, max_length=64)
    os: str | None = Field(default=None, max_length=64)
    browser: str | None = Field(default=None, max_length=64)
    region: str | None = Field(default=None, max_length=64)


class RegisterBody(Body):
    username: str = Field(pattern=USERNAME_RE)
    email: EmailStr = Field(max_length=254)
    password: str = Field(max_length=200)
    deviceInfo: DeviceInfo | None = None


class CheckBody(Body):
    email: EmailStr | None = Field(default=None, max_length=254)
    username: str | None = Field(default=None, pattern=USERNAME_RE)

    @model_validator(mode="after")
    def _one(self) -> CheckBody:
        if (self.email is None) == (self.username is None):
            raise ValueError("give exactly one of email or username")
        return self


class LoginBody(CheckBody):
    password: str = Field(min_length=1, max_length=200)
    deviceInfo: DeviceInfo | None = None


class RefreshBody(Body):
    refreshToken: str = Field(min_length=1, max_length=4096)


class VerifyEmailBody(Body):
    token: str = Field(min_length=1, max_length=4096)


class PasswordBody(Body):
    currentPassword: str = Field(min_length=1, max_length=200)
    newPassword: str = Field(max_length=200)


class Preferences(Body):
    deliveryTime: Literal["morning", "afternoon", "evening", "any"] | None = None
    paymentMethod: Literal["card", "upi", "cod", "wallet"] | None = None
    newsletterOptIn: bool | None = None


class ProfilePatch(Body):
    name: str | None = Field(default=None, min_length=1, max_length=100)
    phone: str | None = Field(default=None, pattern=PHONE_RE)
    preferences: Preferences | None = None
    profileCompletionPrompted: bool | None = None


class AddressBody(Body):
    label: str = Field(min_length=1, max_length=40)
    line1: str = Field(min_length=1, max_length=120)
    line2: str | None = Field(default=None, max_length=120)
    city: str = Field(min_length=1, max_length=60)
    state: str = Field(min_length=1, max_length=60)
    pincode: str = Field(pattern=PINCODE_RE)
    country: str = Field(min_length=2, max_length=2, description="ISO 3166-1 alpha-2")
    isDefault: bool = False

    @field_validator("country")
    @classmethod
    def _upper(cls, v: str) -> str:
        return v.upper()


class AddressPatch(Body):
    label: str | None = Field(default=None, min_length=1, max_length=40)
    line1: str | None = Field(default=None, min_length=1, max_length=120)
    line2: str | None = Field(default=None, max_length=120)
    city: str | None = Field(default=None, min_length=1, max_length=60)
    state: str | None = Field(default=None, min_length=1, max_length=60)
    pincode: str | None = Field(default=None, pattern=PINCODE_RE)
    country: str | None = Field(default=None, min_length=2, max_length=2)
    isDefault: bool | None = None


class RoleBody(Body):
    role: Role


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
