"""Delivery background work: an approved order's deliveries are scheduled (OrderApproved, from the
order-events topic through the deliveries queue)."""

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
    """OrderApproved: one delivery per vendor, written once (a redelivered event changes nothing)."""

    def apply(body: dict[str, Any]) -> str:
        return bootstrap.deliveries().schedule(str(body["data"]["orderId"]))

    return messages.each(event, apply, log, "delivery message")
