"""Request bodies for identity routes. Bodies forbid unknown fields (see core/schema.py)."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, field_validator, model_validator

from chalicelib.core.schema import Body

Role = Literal["customer", "admin", "manager", "vendor"]

USERNAME_RE = r"^[A-Za-z0-9_.-]{3,32}$"
PINCODE_RE = r"^[A-Za-z0-9 -]{3,10}$"
PHONE_RE = r"^\+?[0-9 ()-]{7,20}$"
_EMAIL = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")


def _email(value: str) -> str:
    """Shape check and case folding; ownership is proven by the verification email."""
    if len(value) > 254 or not _EMAIL.match(value):
        raise ValueError("value is not a valid email address")
    return value.lower()


Email = Annotated[str, AfterValidator(_email)]


class DeviceInfo(Body):
    deviceId: str | None = Field(default=None, max_length=64)
    os: str | None = Field(default=None, max_length=64)
    browser: str | None = Field(default=None, max_length=64)
    region: str | None = Field(default=None, max_length=64)


class RegisterBody(Body):
    username: str = Field(pattern=USERNAME_RE)
    email: Email
    password: str = Field(max_length=200)
    deviceInfo: DeviceInfo | None = None


class CheckBody(Body):
    email: Email | None = None
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
