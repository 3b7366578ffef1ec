"""What each domain event means for whom: account emails (verification, a new sign-in, a vendor's
low stock) here, once per event id; everything about orders, payments and deliveries through
``notices.py`` and ``deliver.py`` (every channel, and the in-app feed)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from chalicelib.core import idempotency, logs
from chalicelib.core.config import get_settings
from chalicelib.notifications import mailer
from chalicelib.notifications.deliver import Notifier
from chalicelib.notifications.notices import NOTICES
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


# Events that name their recipient rather than carry the address: how to find it.
RECIPIENTS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "StockLow": _vendor_contact,
}

RENDERERS: dict[str, Callable[[dict[str, Any]], tuple[str, str, str]]] = {
    "UserRegistered": _verification,
    "VerificationRequested": _verification,
    "NewDeviceLogin": _new_device,
    "StockLow": _stock_low,
}


def handle(event: dict[str, Any]) -> str:
    """Tell whom an event concerns (``notices.py``: customers, vendors, drivers, managers, on
    their channels and in their feed), or send the account email it calls for, at most once per
    event id. Returns what happened."""
    if event["type"] in NOTICES:
        return Notifier().deliver(event)
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
