"""Request bodies for orders. Prices, status, user and totals are never accepted from clients."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, StrictInt, model_validator

from chalicelib.catalog.models import Currency, Id
from chalicelib.core.schema import Body
from chalicelib.users.models import PINCODE_RE

MAX_LINES = 25


class CartLine(Body):
    productId: Id
    variantId: Id
    quantity: StrictInt = Field(ge=1, le=1000)


class Cart(Body):
    items: list[CartLine] = Field(min_length=1, max_length=MAX_LINES)
    promoCode: str | None = Field(default=None, pattern=r"^[A-Z0-9_-]{3,20}$")
    currency: Currency | None = None

    @model_validator(mode="after")
    def _distinct(self) -> Cart:
        pairs = [(i.productId, i.variantId) for i in self.items]
        if len(set(pairs)) != len(pairs):
            raise ValueError("each product variant may appear once; raise its quantity instead")
        return self


class CheckBody(Cart):
    addressId: Id | None = None
    pincode: str | None = Field(default=None, pattern=PINCODE_RE)

    @model_validator(mode="after")
    def _where(self) -> CheckBody:
        if (self.addressId is None) == (self.pincode is None):
            raise ValueError("give exactly one of addressId or pincode")
        return self


class OrderBody(Cart):
    addressId: Id
    allowPartial: bool = False
    paymentMethod: Literal["card", "upi", "cod", "wallet"] | None = None


class ReasonBody(Body):
    reason: str | None = Field(default=None, max_length=500)
