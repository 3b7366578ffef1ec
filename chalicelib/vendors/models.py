"""Request bodies for vendors."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, StrictInt

from chalicelib.catalog.models import Id
from chalicelib.core.schema import NOT_BLANK, Body, Patch
from chalicelib.users.models import PHONE_RE, PINCODE_RE, Email

Pincode = Annotated[str, Field(pattern=PINCODE_RE)]

MAX_AREAS = 30
MAX_PRODUCTS = 200


class Contact(Body):
    email: Email
    phone: str = Field(pattern=PHONE_RE)


class VendorAddress(Body):
    line1: str = Field(min_length=1, max_length=120, pattern=NOT_BLANK)
    city: str = Field(min_length=1, max_length=60, pattern=NOT_BLANK)
    state: str = Field(min_length=1, max_length=60, pattern=NOT_BLANK)
    pincode: str = Field(pattern=PINCODE_RE)
    country: str = Field(pattern=r"^[A-Z]{2}$")
    lat: float = Field(ge=-90, le=90)
    lng: float = Field(ge=-180, le=180)


class SlotCapacity(Body):
    """Orders a vendor delivers per date in each slot (0: not that slot)."""

    MORNING: StrictInt = Field(ge=0, le=100_000)
    EVENING: StrictInt = Field(ge=0, le=100_000)


class Capacity(Body):
    dailyOrderLimit: StrictInt = Field(ge=1, le=100_000)  # orders delivered per date, both slots
    slots: SlotCapacity | None = None  # absent: each slot may take the whole daily limit


class VendorBody(Body):
    name: str = Field(min_length=1, max_length=120, pattern=NOT_BLANK)
    contact: Contact
    address: VendorAddress
    serviceAreas: list[Pincode] = Field(min_length=1, max_length=MAX_AREAS)
    products: list[Id] = Field(default_factory=list, max_length=MAX_PRODUCTS)
    capacity: Capacity
    rating: float = Field(default=0, ge=0, le=5)
    ownerUserId: Id | None = None


class VendorPatch(Patch):
    """What a vendor may change about itself (admins too). ``version`` guards lost updates."""

    always = ("version",)
    version: StrictInt = Field(ge=0)
    name: str | None = Field(default=None, min_length=1, max_length=120, pattern=NOT_BLANK)
    contact: Contact | None = None
    address: VendorAddress | None = None
    serviceAreas: list[Pincode] | None = Field(default=None, min_length=1, max_length=MAX_AREAS)
    products: list[Id] | None = Field(default=None, max_length=MAX_PRODUCTS)
    capacity: Capacity | None = None


class VendorAdminPatch(VendorPatch):
    rating: float | None = Field(default=None, ge=0, le=5)
