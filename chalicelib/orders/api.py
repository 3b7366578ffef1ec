"""Order routes."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalice import Blueprint, Response

from chalicelib import bootstrap
from chalicelib.core import patterns
from chalicelib.core.http import (
    caller,
    client_info,
    decode_cursor,
    encode_cursor,
    idempotency_key,
    page_limit,
    parse,
    query,
    query_date,
    query_datetime,
    require_role,
)
from chalicelib.core.lazy import lazy_module
from chalicelib.orders import rules
from chalicelib.users.authorizer import jwt_auth

if TYPE_CHECKING:
    from chalicelib.orders import models
else:
    models = lazy_module("chalicelib.orders.models")

bp = Blueprint(__name__)


def _req() -> Any:
    return bp.current_request


@bp.route("/orders/check", methods=["POST"], authorizer=jwt_auth)
def check_order() -> dict[str, Any]:
    """Pre-order check: profile completeness, availability with alternatives, a server-side quote."""
    return bootstrap.order_placement().check(caller(_req()), parse(models.OrderCheckBody, _req()))


@bp.route("/orders", methods=["POST"], authorizer=jwt_auth)
def place_order() -> Response:
    """Place an order (Idempotency-Key header required); stock is reserved until payment."""
    who = caller(_req())
    key = idempotency_key(_req())
    body = parse(models.OrderBody, _req())
    status, order = bootstrap.order_placement().place(who, body, key, client_info(_req()))
    return Response(order, status_code=status)


@bp.route("/orders", methods=["GET"], authorizer=jwt_auth)
def list_orders() -> dict[str, Any]:
    """Mine, newest first; managers and admins filter by status, userId, from/to or day; anyone
    narrows to a delivery date (``deliveryDate``)."""
    req = _req()
    wanted = rules.OrderFilter.of(
        status=query(req, "status"),
        user_id=query(req, "userId", patterns.ID),
        start=query_datetime(req, "from"),
        end=query_datetime(req, "to"),
        day=query_date(req, "day"),
    )
    items, last = bootstrap.order_views().list_page(
        caller(req), wanted, page_limit(req), decode_cursor(req), delivery_date=query_date(req, "deliveryDate")
    )
    return {"items": items, "nextCursor": encode_cursor(last)}


@bp.route("/orders/{order_id}", methods=["GET"], authorizer=jwt_auth)
def get_order(order_id: str) -> dict[str, Any]:
    return bootstrap.order_views().get(caller(_req()), order_id, client_info(_req()))


@bp.route("/orders/{order_id}/cancel", methods=["POST"], authorizer=jwt_auth)
def cancel_order(order_id: str) -> dict[str, Any]:
    """The owner cancels before dispatch; stock goes back (a paid order is flagged for refund)."""
    body = parse(models.ReasonBody, _req())
    return bootstrap.order_lifecycle().cancel(caller(_req()), order_id, body.reason, client_info(_req()))


@bp.route("/orders/{order_id}/approve", methods=["POST"], authorizer=jwt_auth)
def approve_order(order_id: str) -> dict[str, Any]:
    who = require_role(_req(), "manager", "admin")
    return bootstrap.order_lifecycle().approve(who, order_id, client_info(_req()))


@bp.route("/orders/{order_id}/reject", methods=["POST"], authorizer=jwt_auth)
def reject_order(order_id: str) -> dict[str, Any]:
    who = require_role(_req(), "manager", "admin")
    body = parse(models.ReasonBody, _req())
    return bootstrap.order_lifecycle().reject(who, order_id, body.reason, client_info(_req()))
