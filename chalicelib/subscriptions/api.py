"""Subscription routes: a customer's own subscriptions, kept from one date to the next."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalice import Blueprint, Response

from chalicelib import bootstrap
from chalicelib.core.http import caller, decode_cursor, encode_cursor, page_limit, parse
from chalicelib.core.lazy import lazy_module
from chalicelib.users.authorizer import jwt_auth

if TYPE_CHECKING:
    from chalicelib.subscriptions import models
else:
    models = lazy_module("chalicelib.subscriptions.models")

bp = Blueprint(__name__)


def _req() -> Any:
    return bp.current_request


@bp.route("/subscriptions", methods=["POST"], authorizer=jwt_auth)
def create_subscription() -> Response:
    """Subscribe to a product: DAILY, ALTERNATE (every other day) or WEEKLY on weekdays, in a slot."""
    body = parse(models.SubscriptionBody, _req())
    return Response(bootstrap.subscriptions().create(caller(_req()), body), status_code=201)


@bp.route("/subscriptions", methods=["GET"], authorizer=jwt_auth)
def list_subscriptions() -> dict[str, Any]:
    items, nxt = bootstrap.subscriptions().list(caller(_req()), page_limit(_req(), 20), decode_cursor(_req()))
    return {"items": items, "nextCursor": encode_cursor(nxt)}


@bp.route("/subscriptions/{subscription_id}", methods=["GET"], authorizer=jwt_auth)
def get_subscription(subscription_id: str) -> dict[str, Any]:
    return bootstrap.subscriptions().get(caller(_req()), subscription_id)


@bp.route("/subscriptions/{subscription_id}", methods=["PATCH"], authorizer=jwt_auth)
def change_subscription(subscription_id: str) -> dict[str, Any]:
    """Quantity or slot, from the next order not yet placed."""
    body = parse(models.SubscriptionPatch, _req())
    return bootstrap.subscriptions().change(caller(_req()), subscription_id, body)


@bp.route("/subscriptions/{subscription_id}", methods=["DELETE"], authorizer=jwt_auth)
def cancel_subscription(subscription_id: str) -> dict[str, Any]:
    return bootstrap.subscriptions().cancel(caller(_req()), subscription_id)


@bp.route("/subscriptions/{subscription_id}/pause", methods=["POST"], authorizer=jwt_auth)
def pause_subscription(subscription_id: str) -> dict[str, Any]:
    """A vacation: no orders from ``from`` to ``to`` (inclusive)."""
    body = parse(models.PauseBody, _req())
    return bootstrap.subscriptions().pause(caller(_req()), subscription_id, body.from_, body.to)


@bp.route("/subscriptions/{subscription_id}/skip", methods=["POST"], authorizer=jwt_auth)
def skip_date(subscription_id: str) -> dict[str, Any]:
    body = parse(models.SkipBody, _req())
    return bootstrap.subscriptions().skip(caller(_req()), subscription_id, body.date)


@bp.route("/subscriptions/{subscription_id}/resume", methods=["POST"], authorizer=jwt_auth)
def resume_subscription(subscription_id: str) -> dict[str, Any]:
    return bootstrap.subscriptions().resume(caller(_req()), subscription_id)
