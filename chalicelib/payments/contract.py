"""payments: paying an order (the checkout workflow), its state, refunds, Stripe's webhooks."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from chalicelib.core import patterns
from chalicelib.core.openapi import IDEMPOTENCY_KEY, PAGE, ROLES, Op, Param
from chalicelib.core.schema import Instant, View

TAG = "payments"
M = "chalicelib.payments.models"
C = "chalicelib.payments.contract"
STAFF = ("manager", "admin")
PaymentStatus = Literal["PROCESSING", "REQUIRES_ACTION", "HELD", "SUCCEEDED", "FAILED", "REFUNDED"]


class PayAccepted(View):
    orderId: str
    paymentId: str
    status: Literal["PROCESSING", "REQUIRES_ACTION", "SUCCEEDED", "FAILED"]
    clientSecret: str | None = Field(default=None, description="for Stripe.js to finish 3-D Secure")


class Fraud(View):
    score: int
    decision: Literal["pass", "hold", "block"]
    reasons: list[str]


class Attempt(View):
    paymentId: str
    status: PaymentStatus
    paymentIntentId: str | None = None
    failure: str | None = None
    createdAt: Instant


class RefundView(View):
    refundId: str
    amount: int = Field(description="minor units")
    status: Literal["PENDING", "SUCCEEDED", "FAILED"]
    reason: str | None = None
    createdAt: Instant


class Payment(View):
    orderId: str
    paymentId: str
    status: PaymentStatus
    amount: int = Field(description="minor units")
    currency: str
    captured: int
    refunded: int
    paymentIntentId: str | None = None
    clientSecret: str | None = None
    fraud: Fraud | None = None
    attempts: list[Attempt]
    refunds: list[RefundView]


class Validation(View):
    valid: bool
    problems: list[str]
    fraud: Fraud | None = Field(default=None, description="staff only: the fraud score and its reasons")


class Received(View):
    received: bool


class LedgerEntry(View):
    entryId: str
    orderId: str
    kind: Literal["SETTLEMENT", "SETTLEMENT_REVERSAL"]
    amount: int = Field(description="minor units; a reversal is negative")
    currency: str
    day: str = Field(description="the UTC day it was written, YYYY-MM-DD")
    createdAt: Instant
    cause: str | None = Field(default=None, description="the refund or dispute a reversal comes from")


class VendorLedger(View):
    vendorId: str
    from_: str = Field(alias="from")
    to: str
    items: list[LedgerEntry]
    nextCursor: str | None = None


class PayoutDay(View):
    day: str
    currency: str
    settled: int
    reversed: int
    net: int = Field(description="settled - reversed: what the vendor is owed for the day")
    entries: int


class Payouts(View):
    vendorId: str
    from_: str = Field(alias="from")
    to: str
    days: list[PayoutDay]


class SetupStarted(View):
    setupIntentId: str
    clientSecret: str  # confirm it with Stripe.js (locally: localstripe's /v1/setup_intents/{id}/confirm)


class SavedCard(View):
    paymentMethodId: str
    brand: str
    last4: str
    default: bool


class SavedCards(View):
    items: list[SavedCard]


DAYS = (
    Param(
        "from", {"type": "string", "format": "date", "pattern": patterns.DATE}, description="default: 29 days before to"
    ),
    Param(
        "to",
        {"type": "string", "format": "date", "pattern": patterns.DATE},
        description="default: today (UTC); at most 92 days after from",
    ),
)
SIGNATURE = Param(
    "Stripe-Signature",
    {"type": "string", "maxLength": 2000},
    location="header",
    required=True,
    description="Stripe's signature of the raw body (verified first; 300 s tolerance)",
)

ROUTES: dict[tuple[str, str], Op] = {
    ("POST", "/orders/{order_id}/pay"): Op(
        f"{C}:PayAccepted", 202, f"{M}:PayBody", headers=(IDEMPOTENCY_KEY,), roles=ROLES, errors=(404, 409, 422, 503)
    ),
    ("GET", "/orders/{order_id}/payment"): Op(f"{C}:Payment", roles=ROLES),
    ("POST", "/orders/{order_id}/refunds"): Op(
        f"{C}:RefundView", 201, f"{M}:RefundBody", headers=(IDEMPOTENCY_KEY,), roles=STAFF, errors=(409, 422)
    ),
    ("GET", "/vendors/{vendor_id}/ledger"): Op(
        f"{C}:VendorLedger", query=(*DAYS, *PAGE), roles=("vendor", "admin"), errors=(404, 422)
    ),
    ("GET", "/vendors/{vendor_id}/payouts"): Op(
        f"{C}:Payouts", query=DAYS, roles=("vendor", "admin"), errors=(404, 422)
    ),
    ("POST", "/users/me/payment-methods"): Op(f"{C}:SetupStarted", 201, roles=ROLES, errors=(503,)),
    ("GET", "/users/me/payment-methods"): Op(f"{C}:SavedCards", roles=ROLES, errors=(503,)),
    ("POST", "/users/me/payment-methods/{payment_method_id}/default"): Op(
        f"{C}:SavedCards", roles=ROLES, errors=(404, 503)
    ),
    ("DELETE", "/users/me/payment-methods/{payment_method_id}"): Op(None, 204, roles=ROLES, errors=(404, 503)),
    ("POST", "/payments/validate"): Op(f"{C}:Validation", body=f"{M}:ValidateBody", roles=ROLES, errors=(404,)),
    ("POST", "/webhooks/stripe"): Op(f"{C}:Received", body=f"{M}:StripeEvent", headers=(SIGNATURE,), errors=(503,)),
}
