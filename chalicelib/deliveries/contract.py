"""deliveries: one vendor's part of an approved order, on its date and slot, brought by a driver."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from chalicelib.core import patterns
from chalicelib.core.openapi import PAGE, ROLES, Op, Param
from chalicelib.core.schema import Instant, Page, View

TAG = "deliveries"
M = "chalicelib.deliveries.models"
C = "chalicelib.deliveries.contract"
Status = Literal["SCHEDULED", "IN_TRANSIT", "DELIVERED", "FAILED", "REFUNDED", "CANCELLED"]


class Delivery(View):
    deliveryId: str
    orderId: str
    vendorId: str
    deliveryDate: str = Field(json_schema_extra={"format": "date"})
    deliverySlot: Literal["MORNING", "EVENING"]
    status: Status
    driverId: str | None = None
    actualDeliveryTime: Instant | None = None
    proofKey: str | None = None
    failureReason: str | None = None
    address: dict[str, Any]
    lines: list[dict[str, Any]]
    specialInstructions: str | None = None
    createdAt: Instant
    updatedAt: Instant


class DeliveryPage(Page):
    items: list[Delivery]


class OrderDeliveries(View):
    orderId: str
    items: list[Delivery]  # one per vendor; empty until a manager approves the order


class ProofForm(View):
    """POST the photo to ``url`` as multipart/form-data: every ``fields`` entry, then ``file``."""

    url: str
    fields: dict[str, str]
    key: str  # give it as proofKey when marking the delivery DELIVERED
    expiresIn: int


DATE = Param("date", {"type": "string", "format": "date", "pattern": patterns.DATE}, required=True)
SLOT = Param("slot", {"type": "string", "enum": ["MORNING", "EVENING"]})
VENDOR = Param("vendorId", {"type": "string", "pattern": patterns.ID}, description="admins: required; vendors: theirs")

ROUTES: dict[tuple[str, str], Op] = {
    ("GET", "/orders/{order_id}/delivery"): Op(f"{C}:OrderDeliveries", roles=ROLES),
    ("GET", "/deliveries"): Op(
        f"{C}:DeliveryPage", query=(DATE, SLOT, VENDOR, *PAGE), roles=("vendor", "admin"), errors=(403, 404, 422)
    ),
    ("GET", "/deliveries/{delivery_id}"): Op(f"{C}:Delivery", roles=ROLES),
    ("POST", "/deliveries/{delivery_id}/assign"): Op(
        f"{C}:Delivery", body=f"{M}:AssignBody", roles=("vendor", "admin"), errors=(409, 422)
    ),
    ("GET", "/drivers/me/deliveries"): Op(f"{C}:DeliveryPage", query=(DATE, *PAGE), roles=("driver",), errors=(403,)),
    ("POST", "/deliveries/{delivery_id}/proof"): Op(
        f"{C}:ProofForm", body=f"{M}:ProofBody", roles=("driver",), errors=(409,)
    ),
    ("POST", "/deliveries/{delivery_id}/status"): Op(
        f"{C}:Delivery", body=f"{M}:StatusBody", roles=("driver",), errors=(409, 422)
    ),
    ("POST", "/deliveries/{delivery_id}/reschedule"): Op(
        f"{C}:Delivery", body=f"{M}:RescheduleBody", roles=("manager", "admin"), errors=(409, 422)
    ),
}
