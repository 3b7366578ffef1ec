"""Delivery routes: the order's delivery, a vendor's date, a driver's run and moves, a manager's
choice for a failed delivery."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalice import Blueprint

from chalicelib import bootstrap
from chalicelib.audit.repo import Actor
from chalicelib.core import patterns
from chalicelib.core.errors import ValidationError
from chalicelib.core.http import (
    caller,
    client_info,
    decode_cursor,
    encode_cursor,
    page_limit,
    parse,
    query,
    query_date,
    require_role,
)
from chalicelib.core.lazy import lazy_module
from chalicelib.users.authorizer import jwt_auth

if TYPE_CHECKING:
    from chalicelib.deliveries import models
else:
    models = lazy_module("chalicelib.deliveries.models")

bp = Blueprint(__name__)


def _req() -> Any:
    return bp.current_request


def _page(items: list[dict[str, Any]], nxt: dict[str, Any] | None) -> dict[str, Any]:
    return {"items": items, "nextCursor": encode_cursor(nxt)}


def _day() -> str:
    day = query_date(_req(), "date")
    if day is None:
        raise ValidationError("date is required", fields={"date": "required, e.g. 2030-01-31"})
    return day


@bp.route("/orders/{order_id}/delivery", methods=["GET"], authorizer=jwt_auth)
def order_delivery(order_id: str) -> dict[str, Any]:
    """The order's deliveries, one per vendor (its owner, staff); none until it is approved."""
    order = bootstrap.order_views().owned_or_staff(caller(_req()), order_id)
    return {"orderId": order["orderId"], "items": bootstrap.deliveries().of_order(order["orderId"])}


@bp.route("/deliveries", methods=["GET"], authorizer=jwt_auth)
def vendor_deliveries() -> dict[str, Any]:
    """A vendor's deliveries of a date (its staff; admins name the vendor), by slot and pincode."""
    who = require_role(_req(), "vendor", "admin")
    vendor_id = query(_req(), "vendorId", patterns.ID, "a vendor id") or (
        who.vendor_id if who.role == "vendor" else None
    )
    if not vendor_id:
        raise ValidationError("vendorId is required", fields={"vendorId": "required for admins"})
    slot = query(_req(), "slot")
    if slot is not None and slot not in ("MORNING", "EVENING"):
        raise ValidationError("slot is MORNING or EVENING", fields={"slot": "MORNING or EVENING"})
    items, nxt = bootstrap.deliveries().vendor_day(
        who, vendor_id, _day(), slot, page_limit(_req(), 100), decode_cursor(_req())
    )
    return _page(items, nxt)


@bp.route("/deliveries/{delivery_id}", methods=["GET"], authorizer=jwt_auth)
def get_delivery(delivery_id: str) -> dict[str, Any]:
    """One delivery (staff, the vendor's staff, its driver, its customer)."""
    return bootstrap.deliveries().get(caller(_req()), delivery_id)


@bp.route("/deliveries/{delivery_id}/assign", methods=["POST"], authorizer=jwt_auth)
def assign_driver(delivery_id: str) -> dict[str, Any]:
    """A driver for a scheduled delivery (the vendor's staff, admins)."""
    who = require_role(_req(), "vendor", "admin")
    body = parse(models.AssignBody, _req())
    return bootstrap.deliveries().assign(who, delivery_id, body.driverId)


@bp.route("/drivers/me/deliveries", methods=["GET"], authorizer=jwt_auth)
def driver_run() -> dict[str, Any]:
    """The driver's run of a date, in order: the morning's first, then by pincode (one query)."""
    who = require_role(_req(), "driver")
    items, nxt = bootstrap.deliveries().driver_day(who, _day(), page_limit(_req(), 200), decode_cursor(_req()))
    return _page(items, nxt)


@bp.route("/deliveries/{delivery_id}/proof", methods=["POST"], authorizer=jwt_auth)
def proof_upload(delivery_id: str) -> dict[str, Any]:
    """A presigned POST for the delivery's photo (its driver): JPEG or PNG, at most 5 MB."""
    who = require_role(_req(), "driver")
    body = parse(models.ProofBody, _req())
    return bootstrap.deliveries().proof_form(who, delivery_id, body.contentType)


@bp.route("/deliveries/{delivery_id}/status", methods=["POST"], authorizer=jwt_auth)
def move_delivery(delivery_id: str) -> dict[str, Any]:
    """The driver moves it forward: IN_TRANSIT, DELIVERED (with proofKey) or FAILED (with a reason)."""
    who = require_role(_req(), "driver")
    body = parse(models.StatusBody, _req())
    return bootstrap.deliveries().move(who, delivery_id, body.status, body.proofKey, body.reason)


@bp.route("/deliveries/{delivery_id}/reschedule", methods=["POST"], authorizer=jwt_auth)
def reschedule_delivery(delivery_id: str) -> dict[str, Any]:
    """A failed delivery: another date and slot (the vendor's room held), or the customer refunded."""
    who = require_role(_req(), "manager", "admin")
    body = parse(models.RescheduleBody, _req())
    if body.refund:
        return bootstrap.deliveries().refund(who, delivery_id, Actor.of(who, client_info(_req())))
    assert body.deliveryDate is not None and body.deliverySlot is not None
    return bootstrap.deliveries().reschedule(who, delivery_id, body.deliveryDate.isoformat(), body.deliverySlot)
