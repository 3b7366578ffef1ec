"""What a subscription looks like to its customer, and the order one of its dates places."""

from __future__ import annotations

from datetime import date
from typing import Any

from chalicelib.subscriptions import rules


def order_body(sub: dict[str, Any], day: str) -> Any:
    """The order a subscription's date places (as a customer's POST /orders would)."""
    from chalicelib.orders.models import OrderBody

    now = rules.as_of(sub, date.fromisoformat(day))  # with its changes dated up to that day
    item = {"productId": now["productId"], "variantId": now["variantId"], "quantity": int(now["quantity"])}
    body = {
        "items": [item],
        "addressId": now["addressId"],
        "deliveryDate": day,
        "deliverySlot": now["deliverySlot"],
        "paymentMethod": "card",
    }
    return OrderBody.model_validate(body)


def iso(day: date | None) -> str | None:
    return day.isoformat() if day else None


VIEW = (
    "subscriptionId",
    "productId",
    "variantId",
    "quantity",
    "frequency",
    "weekdays",
    "deliverySlot",
    "startDate",
    "endDate",
    "addressId",
    "status",
    "pauses",
    "skips",
    "changes",
    "nextDate",
    "failedDates",
    "createdAt",
    "updatedAt",
)


def view(sub: dict[str, Any]) -> dict[str, Any]:
    return {k: sub[k] for k in VIEW if sub.get(k) is not None}
