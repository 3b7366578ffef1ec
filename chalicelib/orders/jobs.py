"""Order background work: the reservation sweeper and the order-events publisher."""

from __future__ import annotations

from typing import Any

from chalice import Blueprint, Rate

from chalicelib import bootstrap
from chalicelib.core.config import get_settings
from chalicelib.core.streams import publish_changes
from chalicelib.orders import rules

bp = Blueprint(__name__)

EVENT_FOR_STATUS = {
    rules.PAID: "OrderPaid",
    rules.APPROVED: "OrderApproved",
    rules.REJECTED: "OrderRejected",
    rules.CANCELLED: "OrderCancelled",
    rules.EXPIRED: "OrderExpired",
    rules.DISPATCHED: "OrderDispatched",
    rules.DELIVERED: "OrderDelivered",
}


@bp.schedule(Rate(1, unit=Rate.MINUTES), description="Release stock held by unpaid orders past their expiry")
def expire_reservations(event: Any) -> dict[str, int]:
    return bootstrap.order_lifecycle().sweep()


def order_events(name: str, old: dict[str, Any] | None, new: dict[str, Any] | None) -> list[tuple[str, dict[str, Any]]]:
    if new is None:
        return []
    data = {
        "orderId": new["orderId"],
        "userId": new["userId"],
        "status": new["status"],
        "total": new.get("total"),
        "currency": new.get("currency"),
        "vendorIds": new.get("vendorIds", []),
        **({"subscriptionId": new["subscriptionId"]} if new.get("subscriptionId") else {}),
    }
    if old is not None and new.get("migratedAt") != old.get("migratedAt"):
        return []  # a stored order moved to the current shape (make migrate-orders): nothing happened to it
    if name == "INSERT":
        return [
            (
                "OrderPlaced",
                {
                    **data,
                    "partialFulfillment": new.get("partialFulfillment", False),
                    "firstOrder": new.get("firstOrder", False),
                },
            )
        ]
    out = []
    if old is not None and old.get("status") != new.get("status") and new["status"] in EVENT_FOR_STATUS:
        extra = {"refundRequired": True} if (new.get("refund") or {}).get("status") == rules.REFUND_REQUIRED else {}
        out.append((EVENT_FOR_STATUS[new["status"]], {**data, "from": old.get("status"), **extra}))
    refund, before = new.get("refund") or {}, (old or {}).get("refund") or {}
    if refund.get("amount", 0) != before.get("amount", 0):  # the refund axis moved: money went back
        now = int(refund["amount"]) - int(before.get("amount", 0))
        out.append(("OrderRefunded", {**data, "refund": refund, "refundedNow": now}))
    return out


@bp.lambda_function(name="order_stream")
def order_stream(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Fed by the orders table's stream (infra/resources.json: OrderStreamMapping)."""
    return publish_changes(event, get_settings().order_events_topic_arn, order_events)
