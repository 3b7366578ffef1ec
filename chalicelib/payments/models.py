"""Request bodies for payments. Amounts a client may send are refunds only, in minor units."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictInt

from chalicelib.catalog.models import Id
from chalicelib.core.schema import NOT_BLANK, Body

PAYMENT_METHOD = r"^pm_[A-Za-z0-9_]{1,200}$"


class PayBody(Body):
    paymentMethod: str = Field(pattern=PAYMENT_METHOD, max_length=203)


class RefundBody(Body):
    amount: StrictInt | None = Field(default=None, ge=1, le=100_000_000_00)
    reason: str = Field(min_length=1, max_length=500, pattern=NOT_BLANK)


class ValidateBody(Body):
    orderId: Id
    paymentMethod: str | None = Field(default=None, pattern=PAYMENT_METHOD, max_length=203)


class StripeEventData(BaseModel):
    model_config = ConfigDict(extra="allow")
    object: dict[str, Any] = Field(default_factory=dict, description="the PaymentIntent, Charge or Dispute")


class StripeEvent(BaseModel):
    """A Stripe event as Stripe sends it (documentation: the route reads the raw body, checks the
    signature first, then this shape; Stripe's other fields are allowed)."""

    model_config = ConfigDict(extra="allow")
    id: str = Field(min_length=1, max_length=255)
    type: str = Field(min_length=1, max_length=100)
    data: StripeEventData = Field(default_factory=StripeEventData)
