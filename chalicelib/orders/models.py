"""Request bodies for orders. Prices, status, user and totals are never accepted from clients."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, StrictBool, StrictInt, model_validator

from chalicelib.catalog.models import Currency, Id, PromoCode
from chalicelib.core.schema import NOT_BLANK, Body, Day, Rule
from chalicelib.users.models import PINCODE_RE

MAX_LINES = 25


class CartLine(Body):
    productId: Id
    variantId: Id
    quantity: StrictInt = Field(ge=1, le=1000)


class Cart(Body):
    items: list[CartLine] = Field(min_length=1, max_length=MAX_LINES)
    promoCode: PromoCode | None = None
    currency: Currency | None = None

    @model_validator(mode="after")
    def _distinct(self) -> Cart:
        pairs = [(i.productId, i.variantId) for i in self.items]
        if len(set(pairs)) != len(pairs):
            raise Rule("each product variant may appear once; raise its quantity instead", field="items")
        return self


class Delivery(Body):
    """When it arrives: a date and a slot, both or neither (neither: the earliest slot open)."""

    schema_rules = ({"dependentRequired": {"deliveryDate": ["deliverySlot"], "deliverySlot": ["deliveryDate"]}},)
    deliveryDate: Day | None = None
    deliverySlot: Literal["MORNING", "EVENING"] | None = None
    specialInstructions: str | None = Field(default=None, min_length=1, max_length=500, pattern=NOT_BLANK)

    @model_validator(mode="after")
    def _both(self) -> Delivery:
        if (self.deliveryDate is None) != (self.deliverySlot is None):
            missing = "deliverySlot" if self.deliverySlot is None else "deliveryDate"
            raise Rule("deliveryDate and deliverySlot come together", field=missing)
        return self


class OrderCheckBody(Cart, Delivery):
    """The cart and where it goes: exactly one of ``addressId`` (yours) or ``pincode``."""

    exactly_one = (("addressId", "pincode"),)
    addressId: Id | None = None
    pincode: str | None = Field(default=None, pattern=PINCODE_RE)


class OrderBody(Cart, Delivery):
    addressId: Id
    allowPartial: StrictBool = False
    paymentMethod: Literal["card", "upi", "cod", "wallet"] | None = None


class ReasonBody(Body):
    reason: str | None = Field(default=None, min_length=1, max_length=500, pattern=NOT_BLANK)
