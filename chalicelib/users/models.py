"""Request bodies for identity routes: strict, no unknown fields, no nulls (see core/schema.py)."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, StrictBool, field_validator, model_validator

from chalicelib.core import patterns
from chalicelib.core.schema import NOT_BLANK, Body, Patch, Rule
from chalicelib.users.rules import password_problem

Role = Literal["customer", "admin", "manager", "vendor", "driver"]

USERNAME_RE = r"^[A-Za-z0-9_.-]{3,32}$"
PINCODE_RE = patterns.PINCODE
PHONE_RE = r"^\+?[0-9 ()-]{7,20}$"
COUNTRY_RE = r"^[A-Za-z]{2}$"
EMAIL_RE = r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$"
# The password policy (rules.password_problem) as far as JSON Schema can say it; more than 72
# bytes, or containing the username or email, is a Rule (422).
PASSWORD_RE = r"[A-Za-z][\s\S]*[0-9]|[0-9][\s\S]*[A-Za-z]"


def _password(value: str) -> str:
    if not re.search(PASSWORD_RE, value):
        raise ValueError("must contain at least one letter and one digit")
    if len(value.encode()) > 72:
        raise Rule("must be at most 72 bytes")
    return value


def _lower(value: str) -> str:
    """Case folding; ownership is proven by the verification email."""
    return value.lower()


Email = Annotated[str, Field(max_length=254, pattern=EMAIL_RE), AfterValidator(_lower)]
NewPassword = Annotated[
    str,
    Field(
        min_length=10,
        max_length=72,
        json_schema_extra={"pattern": PASSWORD_RE},
        description="10-72 characters (at most 72 bytes), with a letter and a digit, not containing the "
        "username or the email's local part",
    ),
    AfterValidator(_password),
]


class DeviceInfo(Body):
    deviceId: str | None = Field(default=None, min_length=1, max_length=64, pattern=NOT_BLANK)
    os: str | None = Field(default=None, min_length=1, max_length=64, pattern=NOT_BLANK)
    browser: str | None = Field(default=None, min_length=1, max_length=64, pattern=NOT_BLANK)
    region: str | None = Field(default=None, min_length=1, max_length=64, pattern=NOT_BLANK)


class RegisterBody(Body):
    username: str = Field(pattern=USERNAME_RE)
    email: Email
    password: NewPassword
    deviceInfo: DeviceInfo | None = None

    @model_validator(mode="after")
    def _policy(self) -> RegisterBody:
        problem = password_problem(self.password, self.email, self.username)
        if problem:
            raise Rule(problem, field="password")
        return self


class AuthCheckBody(Body):
    """Is this email or username registered? Exactly one of the two."""

    exactly_one = (("email", "username"),)
    email: Email | None = None
    username: str | None = Field(default=None, pattern=USERNAME_RE)


class LoginBody(AuthCheckBody):
    """Exactly one of email or username, and the password."""

    password: str = Field(min_length=1, max_length=200)
    deviceInfo: DeviceInfo | None = None


class RefreshBody(Body):
    refreshToken: str = Field(min_length=1, max_length=4096)


class VerifyEmailBody(Body):
    token: str = Field(min_length=1, max_length=4096)


class PasswordBody(Body):
    currentPassword: str = Field(min_length=1, max_length=200)
    newPassword: NewPassword


class ChannelChoice(Body):
    """Which channels a category's notices come by (email stays on for transactional ones)."""

    email: StrictBool | None = None
    sms: StrictBool | None = None
    push: StrictBool | None = None


class NotificationPreferences(Body):
    orders: ChannelChoice | None = None
    payments: ChannelChoice | None = None
    deliveries: ChannelChoice | None = None
    subscriptions: ChannelChoice | None = None
    account: ChannelChoice | None = None
    marketing: ChannelChoice | None = None


class Preferences(Patch):
    deliveryTime: Literal["morning", "afternoon", "evening", "any"] | None = None
    paymentMethod: Literal["card", "upi", "cod", "wallet"] | None = None
    newsletterOptIn: StrictBool | None = None
    notifications: NotificationPreferences | None = None


class ProfilePatch(Patch):
    name: str | None = Field(default=None, min_length=1, max_length=100, pattern=NOT_BLANK)
    phone: str | None = Field(default=None, pattern=PHONE_RE)
    preferences: Preferences | None = None
    profileCompletionPrompted: StrictBool | None = None


class AddressBody(Body):
    label: str = Field(min_length=1, max_length=40, pattern=NOT_BLANK)
    line1: str = Field(min_length=1, max_length=120, pattern=NOT_BLANK)
    line2: str | None = Field(default=None, min_length=1, max_length=120, pattern=NOT_BLANK)
    city: str = Field(min_length=1, max_length=60, pattern=NOT_BLANK)
    state: str = Field(min_length=1, max_length=60, pattern=NOT_BLANK)
    pincode: str = Field(pattern=PINCODE_RE)
    country: str = Field(pattern=COUNTRY_RE, description="ISO 3166-1 alpha-2")
    isDefault: StrictBool = False

    @field_validator("country")
    @classmethod
    def _upper(cls, v: str) -> str:
        return v.upper()


class AddressPatch(Patch):
    """``line2: null`` removes the second line."""

    nullable = frozenset({"line2"})
    label: str | None = Field(default=None, min_length=1, max_length=40, pattern=NOT_BLANK)
    line1: str | None = Field(default=None, min_length=1, max_length=120, pattern=NOT_BLANK)
    line2: str | None = Field(default=None, min_length=1, max_length=120, pattern=NOT_BLANK)
    city: str | None = Field(default=None, min_length=1, max_length=60, pattern=NOT_BLANK)
    state: str | None = Field(default=None, min_length=1, max_length=60, pattern=NOT_BLANK)
    pincode: str | None = Field(default=None, pattern=PINCODE_RE)
    country: str | None = Field(default=None, pattern=COUNTRY_RE)
    isDefault: StrictBool | None = None

    @field_validator("country")
    @classmethod
    def _upper(cls, v: str | None) -> str | None:
        return v.upper() if v else v


class RoleBody(Body):
    role: Role
