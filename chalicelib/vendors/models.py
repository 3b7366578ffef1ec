"""Request bodies for vendors."""

from __future__ import annotations

from pydantic import Field, StrictInt

from chalicelib.catalog.models import Id
from chalicelib.core.schema import Body
from chalicelib.users.models import PHONE_RE, PINCODE_RE, Email

MAX_AREAS = 30
MAX_PRODUCTS = 200


class Contact(Body):
    email: Email
    phone: str = Field(pattern=PHONE_RE)


class VendorAddress(Body):
    line1: str = Field(min_length=1, max_length=120)
    city: str = Field(min_length=1, max_length=60)
    state: str = Field(min_length=1, max_length=60)
    pincode: str = Field(pattern=PINCODE_RE)
    country: str = Field(pattern=r"^[A-Z]{2}$")
    lat: float = Field(ge=-90, le=90)
    lng: float = Field(ge=-180, le=180)


class Capacity(Body):
    dailyOrderLimit: StrictInt = Field(ge=1, le=100_000)


class VendorBody(Body):
    name: str = Field(min_length=1, max_length=120)
    contact: Contact
    address: VendorAddress
    serviceAreas: list[str] = Field(min_length=1, max_length=MAX_AREAS)
    products: list[Id] = Field(default_factory=list, max_length=MAX_PRODUCTS)
    capacity: Capacity
    rating: float = Field(default=0, ge=0, le=5)
    ownerUserId: Id | None = None


class VendorPatch(Body):
    """What a vendor may change about itself (admins too). ``version`` guards lost updates."""

    version: StrictInt = Field(ge=0)
    name: str | None = Field(default=None, min_length=1, max_length=120)
    contact: Contact | None = None
    address: VendorAddress | None = None
    serviceAreas: list[str] | None = Field(default=None, min_length=1, max_length=MAX_AREAS)
    products: list[Id] | None = Field(default=None, max_length=MAX_PRODUCTS)
    capacity: Capacity | None = None


class VendorAdminPatch(VendorPatch):
    rating: float | None = Field(default=None, ge=0, le=5)
