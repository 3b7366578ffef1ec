"""What each domain event tells whom, pure: a notice per recipient with its category, title and
text (the channels render it). Recipients are named, not addressed (``user``, ``vendor``,
``driver``, ``managers``); the service finds their addresses and preferences.

Categories: ``orders``, ``payments``, ``deliveries``, ``subscriptions`` and ``account`` are
transactional (email always on); ``marketing`` needs an opt-in. SMS and push are opt-in per category.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

TRANSACTIONAL = frozenset({"orders", "payments", "deliveries", "subscriptions", "account"})
CATEGORIES = (*sorted(TRANSACTIONAL), "marketing")
CHANNELS = ("email", "sms", "push")
ZERO_DECIMAL = frozenset({"JPY", "KRW", "VND", "CLP", "ISK", "UGX"})  # Stripe's: minor unit = major unit


@dataclass(frozen=True)
class Notice:
    to: str  # "user:<id>", "vendor:<id>", "driver:<id>" or "managers"
    category: str
    title: str
    text: str
    order_id: str | None = None


def money(amount: int, currency: str) -> str:
    """Integer minor units as a customer reads them: 5600 INR -> "INR 56.00"."""
    code = currency.upper()
    if code in ZERO_DECIMAL:
        return f"{code} {amount:,}"
    return f"{code} {amount // 100:,}.{amount % 100:02d}"


def channels(category: str, preferences: dict[str, Any]) -> list[str]:
    """The channels a recipient gets a notice of ``category`` by: email for transactional ones
    whatever they chose, the rest as they opted in (``preferences.notifications``)."""
    chosen = ((preferences.get("notifications") or {}).get(category)) or {}
    out = [c for c in CHANNELS if chosen.get(c) is True]
    if category in TRANSACTIONAL and "email" not in out:
        out.insert(0, "email")
    return out


def _slot(d: dict[str, Any]) -> str:
    return f"{str(d.get('deliverySlot', '')).lower()} of {d.get('deliveryDate')}"


def _order(kind: str) -> Callable[[dict[str, Any]], list[Notice]]:
    texts = {
        "OrderPlaced": ("Order placed", "We have your order {o}. Pay for it within 15 minutes to keep its items."),
        "OrderApproved": ("Order confirmed", "Your order {o} is confirmed and will be delivered as scheduled."),
        "OrderRejected": ("Order rejected", "We could not accept your order {o}. Anything you paid comes back."),
        "OrderCancelled": ("Order cancelled", "Your order {o} is cancelled. Anything you paid comes back."),
        "OrderExpired": ("Order expired", "Your order {o} was not paid in time; its items are released."),
    }
    title, text = texts[kind]

    def notices(d: dict[str, Any]) -> list[Notice]:
        if kind == "OrderPlaced" and d.get("subscriptionId"):
            return []  # the subscription's own notice says it (and that it pays by itself)
        return [Notice(f"user:{d['userId']}", "orders", title, text.format(o=d["orderId"]), d["orderId"])]

    return notices


def _paid(d: dict[str, Any]) -> list[Notice]:
    """The vendors' "New Order Assigned": each its own lines (``vendorLines``, read by the service)."""
    out = []
    for vendor_id, lines in sorted((d.get("vendorLines") or {}).items()):
        items = "\n".join(
            f"- {x['quantity']} x {x.get('name', x['productId'])} {x.get('variantName') or ''}".rstrip() for x in lines
        )
        when = f" for the {_slot(d)}" if d.get("deliveryDate") else ""
        text = f"New order {d['orderId']}{when}:\n{items}"
        out.append(Notice(f"vendor:{vendor_id}", "orders", "New Order Assigned", text, d["orderId"]))
    return out


def _payment_succeeded(d: dict[str, Any]) -> list[Notice]:
    text = (
        f"We received your payment of {money(int(d['amount']), d['currency'])} for order {d['orderId']}. "
        f"Your order is confirmed; GET /orders/{d['orderId']} shows its progress."
    )
    return [Notice(f"user:{d['userId']}", "payments", "Payment received", text, d["orderId"])]


def _payment_failed(d: dict[str, Any]) -> list[Notice]:
    text = (
        f"Your payment for order {d['orderId']} did not go through ({d.get('why') or 'declined'}). "
        f"Pay again while the order is held: POST /orders/{d['orderId']}/pay."
    )
    return [Notice(f"user:{d['userId']}", "payments", "Payment failed", text, d["orderId"])]


def _payment_held(d: dict[str, Any]) -> list[Notice]:
    text = (
        f"A payment for order {d['orderId']} is held for review. Approve or reject it: "
        f"POST /orders/{d['orderId']}/approve or /reject."
    )
    return [Notice("managers", "orders", "Payment held for review", text, d["orderId"])]


def _refunded(d: dict[str, Any]) -> list[Notice]:
    text = (
        f"We refunded {money(int(d['amount']), d['currency'])} for order {d['orderId']}. "
        "It reaches your card in 5-10 business days."
    )
    return [Notice(f"user:{d['userId']}", "payments", "Refund issued", text, d["orderId"])]


def _delivery(kind: str) -> Callable[[dict[str, Any]], list[Notice]]:
    texts = {
        "DeliveryScheduled": ("Delivery scheduled", "Your order {o} will be delivered in the {slot}."),
        "DeliveryInTransit": ("Out for delivery", "Your order {o} is on its way."),
        "DeliveryCompleted": ("Delivered", "Your order {o} was delivered. Enjoy!"),
        "DeliveryFailed": ("Delivery failed", "We could not deliver your order {o} ({why}). We will be in touch."),
    }
    title, text = texts[kind]

    def notices(d: dict[str, Any]) -> list[Notice]:
        body = text.format(o=d["orderId"], slot=_slot(d), why=d.get("failureReason") or "no reason given")
        return [Notice(f"user:{d['userId']}", "deliveries", title, body, d["orderId"])]

    return notices


def _called_off(d: dict[str, Any]) -> list[Notice]:
    text = f"Order {d['orderId']} was cancelled: do not deliver it in the {_slot(d)}."
    return [Notice(f"driver:{d['driverId']}", "deliveries", "Delivery cancelled", text, d["orderId"])]


def _assigned(d: dict[str, Any]) -> list[Notice]:
    text = f"You deliver order {d['orderId']} in the {_slot(d)}: GET /drivers/me/deliveries?date={d['deliveryDate']}."
    return [Notice(f"driver:{d['driverId']}", "deliveries", "New Delivery Assignment", text, d["orderId"])]


def _subscription(kind: str) -> Callable[[dict[str, Any]], list[Notice]]:
    texts = {
        "SubscriptionOrderCreated": (
            "Subscription order placed",
            "Your subscription's order {o} for the {slot} is placed.",
        ),
        "SubscriptionSkipped": ("Subscription delivery skipped", "No delivery in the {slot}: {why}."),
        "SubscriptionPaymentFailed": ("Subscription not paid", "Your order for the {slot} could not be paid: {why}."),
        "SubscriptionPaused": (
            "Subscription paused",
            "Your subscription {s} is paused: {why}. Resume it with POST /subscriptions/{s}/resume.",
        ),
    }
    title, text = texts[kind]

    def notices(d: dict[str, Any]) -> list[Notice]:
        body = text.format(o=d.get("orderId"), slot=_slot(d), why=d.get("why") or "-", s=d["subscriptionId"])
        return [Notice(f"user:{d['userId']}", "subscriptions", title, body, d.get("orderId"))]

    return notices


def _action_required(d: dict[str, Any]) -> list[Notice]:
    text = (
        f"Your bank asks you to confirm the payment for order {d['orderId']}: its clientSecret is in "
        f"GET /orders/{d['orderId']}/payment; confirm it with 3-D Secure before the delivery's cut-off."
    )
    return [Notice(f"user:{d['userId']}", "payments", "Confirm your payment", text, d["orderId"])]


NOTICES: dict[str, Callable[[dict[str, Any]], list[Notice]]] = {
    **{
        k: _subscription(k)
        for k in ("SubscriptionOrderCreated", "SubscriptionSkipped", "SubscriptionPaymentFailed", "SubscriptionPaused")
    },
    "PaymentActionRequired": _action_required,
    **{k: _order(k) for k in ("OrderPlaced", "OrderApproved", "OrderRejected", "OrderCancelled", "OrderExpired")},
    "OrderPaid": _paid,
    "PaymentSucceeded": _payment_succeeded,
    "PaymentFailed": _payment_failed,
    "PaymentHeld": _payment_held,
    "RefundSucceeded": _refunded,
    **{k: _delivery(k) for k in ("DeliveryScheduled", "DeliveryInTransit", "DeliveryCompleted", "DeliveryFailed")},
    "DeliveryAssigned": _assigned,
    "DeliveryCancelled": _called_off,
}


def notices(event_type: str, data: dict[str, Any]) -> list[Notice]:
    make = NOTICES.get(event_type)
    return make(data) if make else []
