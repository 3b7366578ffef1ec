"""orders: the pre-order check, placing an order (idempotent), reading, and the status machine."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from chalicelib.core import patterns
from chalicelib.core.openapi import IDEMPOTENCY_KEY, PAGE, ROLES, Op, Param
from chalicelib.core.schema import Instant, Page, View
from chalicelib.orders import rules

TAG = "orders"
M = "chalicelib.orders.models"
C = "chalicelib.orders.contract"
STAFF = ("manager", "admin")
Status = Literal[
    "PENDING_PAYMENT",
    "PAID",
    "APPROVED",
    "DISPATCHED",
    "DELIVERED",
    "CANCELLED",
    "REJECTED",
    "EXPIRED",
]
assert set(Status.__args__) == set(rules.TRANSITIONS)  # type: ignore[attr-defined]


class OrderLine(View):
    productId: str
    variantId: str
    quantity: int = Field(description="what is delivered (less than requested when partial)")
    requested: int
    vendorId: str
    name: str
    variantName: str
    unitPrice: int = Field(description="minor units")
    lineTotal: int = Field(description="minor units")


class UnavailableLine(View):
    productId: str
    variantId: str
    requested: int
    available: int
    reason: Literal["partial", "out_of_stock"]


class OrderAddress(View):
    addressId: str
    label: str
    line1: str
    line2: str | None = None
    city: str
    state: str
    pincode: str
    country: str


class Reservation(View):
    status: Literal["held", "committed", "released"]
    expiresAt: int = Field(description="epoch seconds")


class HistoryEntry(View):
    status: Status
    at: Instant
    by: str
    role: str
    reason: str | None = None


class Refund(View):
    """The refund axis, beside the fulfilment ``status``."""

    status: Literal["PARTIAL", "DONE", "REQUIRED"] = Field(
        description="PARTIAL: some refunded; DONE: all; REQUIRED: cancelled or rejected after payment, the rest owed"
    )
    amount: int = Field(description="refunded so far, minor units")
    owed: int = Field(0, description="still to refund (REQUIRED), minor units")
    currency: str


class Order(View):
    orderId: str
    userId: str
    status: Status
    lines: list[OrderLine]
    unavailableLines: list[UnavailableLine]
    partialFulfillment: bool
    vendorIds: list[str]
    currency: str
    subtotal: int
    discount: int
    total: int
    promoCode: str | None = None
    address: OrderAddress
    paymentMethod: Literal["card", "upi", "cod", "wallet"] | None = None
    deliveryDate: str | None = Field(default=None, json_schema_extra={"format": "date"})  # absent on older orders
    deliverySlot: Literal["MORNING", "EVENING"] | None = None
    specialInstructions: str | None = None
    subscriptionId: str | None = None  # placed by the subscription job
    firstOrder: bool
    reservation: Reservation
    history: list[HistoryEntry]
    createdAt: Instant
    updatedAt: Instant
    refund: Refund | None = None
    payment: dict[str, Any] | None = None


class VendorOrder(View):
    """What a vendor sees of an order: its own lines and where they go."""

    orderId: str
    status: Status
    createdAt: Instant
    updatedAt: Instant
    address: OrderAddress
    currency: str
    lines: list[OrderLine]


class OrderPage(Page):
    items: list[Order]


class ProfileCheck(View):
    isProfileComplete: bool
    missingFields: list[Literal["name", "phone", "addresses"]]
    profileCompletionPrompted: bool


class OtherVendor(View):
    vendorId: str
    name: str
    available: int


class OtherVariant(View):
    variantId: str
    name: str
    available: int
    unitPrice: int


class Alternatives(View):
    vendors: list[OtherVendor]
    variants: list[OtherVariant]


class CheckedLine(View):
    productId: str
    variantId: str
    requested: int
    available: int
    unitPrice: int
    status: Literal["available", "partial", "out_of_stock"]
    alternatives: Alternatives | None = None


class Quote(View):
    nullable = frozenset({"promoCode", "promoError"})
    currency: str
    subtotal: int
    discount: int
    total: int
    promoCode: str | None
    promoError: str | None


class DeliverySlot(View):
    deliveryDate: str = Field(json_schema_extra={"format": "date"})
    deliverySlot: Literal["MORNING", "EVENING"]


class AskedSlot(DeliverySlot):
    hasRoom: bool  # the whole cart fits in it (stock and the vendors' room)


class OrderCheck(View):
    profile: ProfileCheck
    pincode: str
    serviceable: bool
    lines: list[CheckedLine]
    quote: Quote
    firstOrder: bool
    delivery: AskedSlot  # the slot asked for, or the earliest open one
    deliverySlots: list[DeliverySlot]  # the next open slots the whole cart fits in, earliest first


STAFF_ONLY = "managers and admins only (others get a 403)"
FILTERS = (
    Param(
        "deliveryDate",
        {"type": "string", "format": "date", "pattern": patterns.DATE},
        description="the orders delivered that date (anyone, of what they may list)",
    ),
    Param("status", {"type": "string", "enum": sorted(rules.TRANSITIONS)}, description=STAFF_ONLY),
    Param("userId", {"type": "string", "pattern": patterns.ID}, description=STAFF_ONLY),
    Param(
        "from",
        {"type": "string", "format": "date-time", "pattern": patterns.DATE_TIME},
        description=STAFF_ONLY + "; with `to`",
    ),
    Param(
        "to",
        {"type": "string", "format": "date-time", "pattern": patterns.DATE_TIME},
        description=STAFF_ONLY + "; with `from`",
    ),
    Param(
        "day",
        {"type": "string", "format": "date", "pattern": patterns.DATE},
        description=STAFF_ONLY + "; default today (UTC)",
    ),
)

ROUTES: dict[tuple[str, str], Op] = {
    ("POST", "/orders/check"): Op(f"{C}:OrderCheck", body=f"{M}:OrderCheckBody", roles=ROLES, errors=(404, 422)),
    ("POST", "/orders"): Op(
        f"{C}:Order",
        201,
        f"{M}:OrderBody",
        headers=(IDEMPOTENCY_KEY,),
        roles=ROLES,
        errors=(403, 404, 409, 422),
    ),
    ("GET", "/orders"): Op(f"{C}:OrderPage", query=(*FILTERS, *PAGE), roles=ROLES, errors=(403, 422)),
    ("GET", "/orders/{order_id}"): Op(f"{C}:Order", roles=ROLES, alternatives=(f"{C}:VendorOrder",)),
    ("POST", "/orders/{order_id}/cancel"): Op(f"{C}:Order", body=f"{M}:ReasonBody", roles=ROLES, errors=(409,)),
    ("POST", "/orders/{order_id}/approve"): Op(f"{C}:Order", roles=STAFF, errors=(409,)),
    ("POST", "/orders/{order_id}/reject"): Op(f"{C}:Order", body=f"{M}:ReasonBody", roles=STAFF, errors=(409,)),
}
