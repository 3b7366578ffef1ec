"""users: registration, sessions, the caller's profile and addresses, and user administration."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from chalicelib.core.openapi import PAGE, ROLES, Op
from chalicelib.core.schema import Instant, Page, View
from chalicelib.users.models import Role

TAG = "users"
M = "chalicelib.users.models"
C = "chalicelib.users.contract"
ANY_ROLE = ROLES


class Registered(View):
    userId: str
    status: Literal["created"]
    role: Literal["customer"]


class NextStep(View):
    next: Literal["login", "register"]


class Tokens(View):
    accessToken: str
    refreshToken: str
    tokenType: Literal["Bearer"]
    expiresIn: int = Field(description="seconds the access token lives")
    userId: str
    role: Role
    isProfileComplete: bool


class EmailVerified(View):
    emailVerified: Literal[True]


class VerificationSent(View):
    status: Literal["sent"]


class Address(View):
    addressId: str
    label: str
    line1: str
    line2: str | None = None
    city: str
    state: str
    pincode: str
    country: str
    isDefault: bool


class Addresses(View):
    items: list[Address]


class SavedPreferences(View):
    deliveryTime: Literal["morning", "afternoon", "evening", "any"] | None = None
    paymentMethod: Literal["card", "upi", "cod", "wallet"] | None = None
    newsletterOptIn: bool | None = None
    notifications: dict[str, dict[str, bool]] | None = None  # category -> {email, sms, push}


class Device(View):
    os: str | None = None
    browser: str | None = None
    ip: str | None = None
    lastActive: Instant | None = None


class Profile(View):
    userId: str
    username: str
    email: str
    role: Role
    status: Literal["active", "disabled"]
    emailVerified: bool
    name: str | None = None
    phone: str | None = None
    preferences: SavedPreferences
    addresses: list[Address]
    profileCompletionPrompted: bool
    createdAt: Instant
    updatedAt: Instant
    lastActiveAt: Instant | None = None
    region: str | None = None
    devices: list[Device]
    isProfileComplete: bool
    missingProfileFields: list[Literal["name", "phone", "addresses"]]


class UserSummary(View):
    userId: str
    username: str
    email: str
    role: Role
    status: Literal["active", "disabled"]
    createdAt: Instant
    name: str | None = None
    emailVerified: bool


class UserPage(Page):
    items: list[UserSummary]


ROUTES: dict[tuple[str, str], Op] = {
    ("POST", "/auth/register"): Op(f"{C}:Registered", 201, f"{M}:RegisterBody", errors=(409, 422)),
    ("POST", "/auth/check"): Op(f"{C}:NextStep", body=f"{M}:AuthCheckBody", errors=(429,)),
    ("POST", "/auth/login"): Op(f"{C}:Tokens", body=f"{M}:LoginBody", errors=(401, 403, 429)),
    ("POST", "/auth/refresh"): Op(f"{C}:Tokens", body=f"{M}:RefreshBody", errors=(401,)),
    ("POST", "/auth/logout"): Op(None, 204, roles=ANY_ROLE),
    ("POST", "/auth/verify-email"): Op(f"{C}:EmailVerified", body=f"{M}:VerifyEmailBody", errors=(401,)),
    ("POST", "/auth/verify-email/resend"): Op(f"{C}:VerificationSent", roles=ANY_ROLE, errors=(409, 429)),
    ("POST", "/auth/password"): Op(None, 204, f"{M}:PasswordBody", roles=ANY_ROLE, errors=(422,)),
    ("GET", "/users/me"): Op(f"{C}:Profile", roles=ANY_ROLE),
    ("PATCH", "/users/me"): Op(f"{C}:Profile", body=f"{M}:ProfilePatch", roles=ANY_ROLE, errors=(409,)),
    ("GET", "/users/me/addresses"): Op(f"{C}:Addresses", roles=ANY_ROLE),
    ("POST", "/users/me/addresses"): Op(f"{C}:Address", 201, f"{M}:AddressBody", roles=ANY_ROLE, errors=(409,)),
    ("PATCH", "/users/me/addresses/{address_id}"): Op(
        f"{C}:Address", body=f"{M}:AddressPatch", roles=ANY_ROLE, errors=(409,)
    ),
    ("DELETE", "/users/me/addresses/{address_id}"): Op(None, 204, roles=ANY_ROLE, errors=(409,)),
    ("GET", "/users"): Op(f"{C}:UserPage", query=PAGE, roles=("admin",)),
    ("GET", "/users/{user_id}"): Op(f"{C}:Profile", roles=("admin",)),
    ("PATCH", "/users/{user_id}/role"): Op(f"{C}:Profile", body=f"{M}:RoleBody", roles=("admin",), errors=(409,)),
    ("POST", "/users/{user_id}/disable"): Op(f"{C}:Profile", roles=("admin",), errors=(409,)),
    ("POST", "/users/{user_id}/enable"): Op(f"{C}:Profile", roles=("admin",), errors=(409,)),
}
