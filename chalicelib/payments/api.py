"""Payment routes: pay an order, read its payment, refund it, validate as a dry run, Stripe's
webhook, and a vendor's ledger and payouts."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from chalice import Blueprint, Response

from chalicelib import bootstrap
from chalicelib.audit.repo import Actor
from chalicelib.core.errors import ValidationError
from chalicelib.core.http import (
    caller,
    client_info,
    decode_cursor,
    encode_cursor,
    header,
    idempotency_key,
    page_limit,
    parse,
    query_date,
    require_role,
)
from chalicelib.core.lazy import lazy_module
from chalicelib.users.authorizer import jwt_auth

if TYPE_CHECKING:
    from chalicelib.payments import models
else:
    models = lazy_module("chalicelib.payments.models")

bp = Blueprint(__name__)


def _req() -> Any:
    return bp.current_request


@bp.route("/orders/{order_id}/pay", methods=["POST"], authorizer=jwt_auth)
def pay_order(order_id: str) -> Response:
    """Pay an order (its owner; Idempotency-Key required): the checkout workflow starts.

    The amount and currency are the order's. Poll GET /orders/{id}/payment for the outcome;
    REQUIRES_ACTION carries the clientSecret for 3-D Secure."""
    who = caller(_req())
    key = idempotency_key(_req())
    body = parse(models.PayBody, _req())
    result = bootstrap.payments().pay(who, order_id, body.paymentMethod, key, client_info(_req()))
    return Response(result, status_code=202)


@bp.route("/orders/{order_id}/payment", methods=["GET"], authorizer=jwt_auth)
def get_payment(order_id: str) -> dict[str, Any]:
    """The order's payment: status, amounts, attempts, refunds (owner, staff); the fraud score for staff."""
    who = caller(_req())
    order = bootstrap.order_views().owned_or_staff(who, order_id)
    return bootstrap.payments().view(order["orderId"], staff=who.role in ("manager", "admin"))


@bp.route("/orders/{order_id}/refunds", methods=["POST"], authorizer=jwt_auth)
def refund_order(order_id: str) -> Response:
    """Refund a paid order, in full or in part (managers, admins; Idempotency-Key required)."""
    who = require_role(_req(), "manager", "admin")
    key = idempotency_key(_req())
    body = parse(models.RefundBody, _req())
    bootstrap.order_views().owned_or_staff(who, order_id)
    actor = Actor.of(who, client_info(_req()))
    refund = bootstrap.payments().refund(actor, order_id, body.amount, body.reason, key)
    return Response(refund, status_code=201)


@bp.route("/vendors/{vendor_id}/ledger", methods=["GET"], authorizer=jwt_auth)
def vendor_ledger(vendor_id: str) -> dict[str, Any]:
    """A vendor's own money (its staff, admins): settlements and their reversals by refunds and
    disputes, oldest first, from/to days (default the last 30), with a cursor."""
    req = _req()
    page = bootstrap.statements().entries(
        caller(req), vendor_id, query_date(req, "from"), query_date(req, "to"), page_limit(req, 50), decode_cursor(req)
    )
    cursor = encode_cursor(page.pop("next"))
    return {**page, **({"nextCursor": cursor} if cursor else {})}


@bp.route("/vendors/{vendor_id}/payouts", methods=["GET"], authorizer=jwt_auth)
def vendor_payouts(vendor_id: str) -> dict[str, Any]:
    """What a vendor is owed per day and currency: settled, reversed and net (its staff, admins)."""
    req = _req()
    return bootstrap.statements().payouts(caller(req), vendor_id, query_date(req, "from"), query_date(req, "to"))


@bp.route("/payments/validate", methods=["POST"], authorizer=jwt_auth)
def validate_payment() -> dict[str, Any]:
    """Validation of an order's payment as a dry run (the fraud screen's verdict for staff only): nothing is charged."""
    who = caller(_req())
    body = parse(models.ValidateBody, _req())
    bootstrap.order_views().owned_or_staff(who, body.orderId)
    return bootstrap.payments().validate(who, body.orderId, body.paymentMethod, client_info(_req()))


@bp.route("/webhooks/stripe", methods=["POST"], content_types=["application/json", "text/plain"])
def stripe_webhook() -> dict[str, Any]:
    """Stripe's events: the signature is checked on the raw body first, then the event is queued."""
    raw = _req().raw_body or b""
    from chalicelib.payments.gateway import BadEvent

    try:
        event = bootstrap.webhooks().verify(raw, header(_req(), "stripe-signature"))
    except BadEvent as exc:
        raise ValidationError(f"not a Stripe event: {exc}", fields={"body": str(exc)}) from None
    except ValueError as exc:
        raise ValidationError(f"invalid Stripe signature: {exc}", fields={"Stripe-Signature": str(exc)}) from None
    bootstrap.webhooks().enqueue(event)
    return {"received": True}


@bp.route("/users/me/payment-methods", methods=["POST"], authorizer=jwt_auth)
def save_payment_method() -> Response:
    """Start saving a card for off-session charges (subscriptions): a SetupIntent's client
    secret, confirmed by the customer with Stripe.js; the card then appears in the list."""
    who = caller(_req())
    user = bootstrap.profiles().me(who)
    return Response(bootstrap.saved_methods().start(who.user_id, user.get("email"), uuid.uuid4().hex), status_code=201)


@bp.route("/users/me/payment-methods", methods=["GET"], authorizer=jwt_auth)
def list_payment_methods() -> dict[str, Any]:
    """Your saved cards (brand, last 4) and which one is the default."""
    return bootstrap.saved_methods().list(caller(_req()).user_id)


@bp.route("/users/me/payment-methods/{payment_method_id}/default", methods=["POST"], authorizer=jwt_auth)
def default_payment_method(payment_method_id: str) -> dict[str, Any]:
    """Make one of your saved cards the default (the one subscriptions charge)."""
    return bootstrap.saved_methods().choose(caller(_req()).user_id, payment_method_id)


@bp.route("/users/me/payment-methods/{payment_method_id}", methods=["DELETE"], authorizer=jwt_auth)
def remove_payment_method(payment_method_id: str) -> Response:
    """Remove one of your saved cards."""
    bootstrap.saved_methods().remove(caller(_req()).user_id, payment_method_id)
    return Response(body="", status_code=204)
