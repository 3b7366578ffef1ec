"""Pure delivery rules: the status machine, who may move a delivery, the run order, the view.

A paid and approved order gets one delivery per vendor in it (each vendor brings its own lines),
on the order's date and slot. A delivery moves forward only:

    SCHEDULED -> IN_TRANSIT -> DELIVERED
    SCHEDULED | IN_TRANSIT -> FAILED -> SCHEDULED (rescheduled by a manager) | REFUNDED
    SCHEDULED | FAILED -> CANCELLED (its order cancelled or rejected before it went out)
"""

from __future__ import annotations

import hashlib
from typing import Any

SCHEDULED, IN_TRANSIT, DELIVERED, FAILED, REFUNDED = "SCHEDULED", "IN_TRANSIT", "DELIVERED", "FAILED", "REFUNDED"
CANCELLED = "CANCELLED"
DRIVER_MOVES: dict[str, frozenset[str]] = {  # what the assigned driver may do
    SCHEDULED: frozenset({IN_TRANSIT, FAILED}),
    IN_TRANSIT: frozenset({DELIVERED, FAILED}),
    DELIVERED: frozenset(),
    FAILED: frozenset(),
    REFUNDED: frozenset(),
    CANCELLED: frozenset(),
}
DONE = frozenset({DELIVERED, REFUNDED, CANCELLED})  # nothing more happens to it
SLOT_ORDER = {"MORNING": "1", "EVENING": "2"}  # a driver's run: the morning's first
PROOF_TYPES = ("image/jpeg", "image/png")
PROOF_MAX_BYTES = 5 * 1024 * 1024


def delivery_id(order_id: str, vendor_id: str) -> str:
    """The same id however often an order is scheduled: a second scheduling finds it there."""
    return hashlib.sha256(f"delivery:{order_id}:{vendor_id}".encode()).hexdigest()[:32]


def run_key(slot: str, pincode: str, delivery_id_: str) -> str:
    """The sort key of a driver's (and a vendor's) day: slot, then area, then the delivery."""
    return f"{SLOT_ORDER.get(slot, '9')}#{pincode}#{delivery_id_}"


def move_problem(delivery: dict[str, Any], target: str, driver_id: str) -> str | None:
    """Why the driver ``driver_id`` cannot move ``delivery`` to ``target`` (None: they can).
    A move to where it already is, by its driver, is a replay: not a problem."""
    if delivery.get("driverId") != driver_id:
        return "not your delivery"
    current = delivery["status"]
    if target == current:
        return None
    if target not in DRIVER_MOVES.get(current, frozenset()):
        return f"a {current} delivery cannot become {target}"
    return None


def share(order: dict[str, Any], vendor_id: str) -> int:
    """What a vendor's lines cost the customer, its part of the order's discount taken off
    (integer minor units; the shares of all vendors add up to the order's total)."""
    lines = [x for x in order["lines"] if x["vendorId"] == vendor_id]
    subtotal = int(order["subtotal"]) or 1
    mine = sum(int(x["lineTotal"]) for x in lines)
    return mine * int(order["total"]) // subtotal


VIEW_FIELDS = (
    "deliveryId",
    "orderId",
    "vendorId",
    "deliveryDate",
    "deliverySlot",
    "status",
    "driverId",
    "actualDeliveryTime",
    "proofKey",
    "failureReason",
    "address",
    "lines",
    "specialInstructions",
    "createdAt",
    "updatedAt",
)


def view(delivery: dict[str, Any]) -> dict[str, Any]:
    return {k: delivery[k] for k in VIEW_FIELDS if delivery.get(k) is not None}
