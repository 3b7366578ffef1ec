"""What each domain event means for the customer's inbox. One message per event id."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from chalicelib.core import idempotency, logs
from chalicelib.core.config import get_settings
from chalicelib.notifications import mailer
from chalicelib.users import tokens

log = logs.get_logger("freshcart.notifications")


def _verification(data: dict[str, Any]) -> tuple[str, str, str]:
    token = tokens.issue(
        tokens.VERIFY_EMAIL, data["userId"], get_settings().verify_ttl_seconds, email=data["email"]
    ).token
    text = (
        f"Hi {data.get('username', '')},\n\nWelcome to freshcart. Confirm your email by sending this "
        f'token to POST /auth/verify-email as {{"token": "..."}}:\n\n{token}\n'
    )
    return data["email"], "Confirm your freshcart email", text


def _new_device(data: dict[str, Any]) -> tuple[str, str, str]:
    device = data.get("device") or {}
    text = (
        f"A new sign-in to your freshcart account at {data.get('at')} from IP {data.get('ip')} "
        f"({device.get('browser') or device.get('userAgent') or 'unknown device'}).\n"
        "If this was not you, change your password now."
    )
    return data["email"], "New sign-in to freshcart", text


# Stripe's zero-decimal currencies among those one might sell in: minor unit = major unit.
ZERO_DECIMAL = frozenset({"JPY", "KRW", "VND", "CLP", "ISK", "UGX"})


def money(amount: int, currency: str) -> str:
    """Integer minor units as a customer reads them: 5600 INR -> "INR 56.00"."""
    code = currency.upper()
    if code in ZERO_DECIMAL:
        return f"{code} {amount:,}"
    return f"{code} {amount // 100:,}.{amount % 100:02d}"


def _paid(data: dict[str, Any]) -> tuple[str, str, str]:
    text = (
        f"We received your payment of {money(int(data['amount']), data['currency'])} for order "
        f"{data['orderId']}. Your order is confirmed; GET /orders/{data['orderId']} shows its progress.\n"
    )
    return data["email"], "Payment received - freshcart", text


def _refunded(data: dict[str, Any]) -> tuple[str, str, str]:
    text = (
        f"We refunded {money(int(data['amount']), data['currency'])} for order {data['orderId']} "
        f"(refund {data['refundId']}). It reaches your card in 5-10 business days.\n"
    )
    return data["email"], "Refund issued - freshcart", text


def _stock_low(data: dict[str, Any]) -> tuple[str, str, str]:
    item = data.get("productName") or data["productId"]
    if data.get("variantName"):
        item = f"{item} ({data['variantName']})"
    text = (
        f"Hi {data.get('vendorName') or 'there'},\n\n{item} is running low: {data.get('available')} left "
        f"(your threshold is {data.get('lowStockThreshold')}; {data.get('reserved', 0)} more held by unpaid orders).\n"
        f"Restock it with POST /inventory/adjust "
        f'{{"productId": "{data["productId"]}", "variantId": "{data["variantId"]}", "delta": ..., "reason": ...}}.\n'
    )
    return data["email"], f"Low stock: {item} - freshcart", text


def _vendor_contact(data: dict[str, Any]) -> dict[str, Any]:
    """A stock event names the vendor; its contact email (and the product's name) are read now,
    so the mail goes to the address the vendor has today."""
    from chalicelib.catalog.repo import CatalogRepo
    from chalicelib.catalog.rules import find_variant
    from chalicelib.vendors.repo import VendorsRepo

    vendor = VendorsRepo().get(str(data.get("vendorId"))) or {}
    product = CatalogRepo().get_product(str(data.get("productId"))) or {}
    variant = find_variant(product, str(data.get("variantId"))) if product else None
    return {
        "email": (vendor.get("contact") or {}).get("email"),
        "vendorName": vendor.get("name"),
        "productName": product.get("name"),
        "variantName": (variant or {}).get("name"),
    }


def _customer_contact(data: dict[str, Any]) -> dict[str, Any]:
    """A payment event that carries no address (a charge whose answer was lost never recorded
    the profile's): the customer's email as it is now."""
    if data.get("email") or not data.get("userId"):
        return {}
    from chalicelib.users.repo import UsersRepo

    return {"email": (UsersRepo().get(str(data["userId"])) or {}).get("email")}


# Events that name their recipient rather than carry the address: how to find it.
RECIPIENTS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "StockLow": _vendor_contact,
    "RefundSucceeded": _customer_contact,
}

RENDERERS: dict[str, Callable[[dict[str, Any]], tuple[str, str, str]]] = {
    "UserRegistered": _verification,
    "VerificationRequested": _verification,
    "NewDeviceLogin": _new_device,
    "PaymentSucceeded": _paid,
    "RefundSucceeded": _refunded,
    "StockLow": _stock_low,
}


def handle(event: dict[str, Any]) -> str:
    """Send the email an event calls for, at most once per event id. Returns what happened."""
    render = RENDERERS.get(event["type"])
    if render is None:
        return "ignored"
    data = event["data"]
    if event["type"] in RECIPIENTS:
        data = {**data, **RECIPIENTS[event["type"]](data)}
    if not data.get("email"):
        log.warning("no address to tell", extra={"eventType": event["type"], "eventId": event["eventId"]})
        return "no address"
    key = f"notify:{event['eventId']}"
    if not idempotency.claim(key):
        return "duplicate"
    try:
        to, subject, text = render(data)
        mailer.send(to, subject, text)
    except Exception:
        idempotency.release(key)
        raise
    idempotency.complete(key)
    log.info("email sent", extra={"eventType": event["type"], "eventId": event["eventId"]})
    return "sent"
