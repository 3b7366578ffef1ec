"""Delivery background work, from the order-events topic through the deliveries queue: an approved
order's deliveries are scheduled (OrderApproved); a cancelled or rejected one's called off."""

from __future__ import annotations

from typing import Any

from chalice import Blueprint
from chalice.app import SQSEvent

from chalicelib import bootstrap
from chalicelib.core import logs, messages
from chalicelib.core.config import resource_name, stage_name

bp = Blueprint(__name__)
log = logs.get_logger("freshcart.deliveries")


@bp.on_sqs_message(queue=resource_name(stage_name(), "deliveries"), batch_size=10)
def deliveries_schedule(event: SQSEvent) -> dict[str, Any]:
    """OrderApproved: one delivery per vendor, written once (a redelivered event changes nothing);
    OrderCancelled / OrderRejected: the deliveries not yet on the road cancelled."""

    def apply(body: dict[str, Any]) -> str:
        order_id = str(body["data"]["orderId"])
        if body.get("type") in ("OrderCancelled", "OrderRejected"):
            return bootstrap.deliveries().cancel_for_order(order_id)
        return bootstrap.deliveries().schedule(order_id)

    return messages.each(event, apply, log, "delivery message")
