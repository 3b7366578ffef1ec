"""Product and promo routes."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalice import Blueprint, Response

from chalicelib import bootstrap
from chalicelib.core import patterns
from chalicelib.core.http import client_info, decode_cursor, encode_cursor, page_limit, parse, query, require_role
from chalicelib.core.lazy import lazy_module
from chalicelib.users.authorizer import jwt_auth

if TYPE_CHECKING:
    from chalicelib.catalog import models
else:
    models = lazy_module("chalicelib.catalog.models")

bp = Blueprint(__name__)


def _req() -> Any:
    return bp.current_request


@bp.route("/products", methods=["GET"])
def list_products() -> dict[str, Any]:
    """Active products, by name; ?category= narrows, ?limit= and ?cursor= page."""
    category = query(_req(), "category", patterns.SLUG, "lowercase letters, digits, dashes")
    items, last = bootstrap.catalog().list_products(category, page_limit(_req()), decode_cursor(_req()))
    return {"items": items, "nextCursor": encode_cursor(last)}


@bp.route("/products/{product_id}", methods=["GET"])
def get_product(product_id: str) -> dict[str, Any]:
    return bootstrap.catalog().public(product_id)


@bp.route("/products", methods=["POST"], authorizer=jwt_auth)
def create_product() -> Response:
    who = require_role(_req(), "admin", "vendor")
    body = parse(models.ProductBody, _req())
    return Response(bootstrap.catalog().create(who, body, client_info(_req())), status_code=201)


@bp.route("/products/{product_id}", methods=["PATCH"], authorizer=jwt_auth)
def update_product(product_id: str) -> dict[str, Any]:
    who = require_role(_req(), "admin", "vendor")
    body = parse(models.ProductPatch, _req())
    return bootstrap.catalog().update(who, product_id, body, client_info(_req()))


@bp.route("/products/{product_id}", methods=["DELETE"], authorizer=jwt_auth)
def deactivate_product(product_id: str) -> dict[str, Any]:
    """Deactivates: orders keep their history, the product leaves listings."""
    who = require_role(_req(), "admin", "vendor")
    return bootstrap.catalog().deactivate(who, product_id, client_info(_req()))


@bp.route("/promos", methods=["GET"], authorizer=jwt_auth)
def list_promos() -> dict[str, Any]:
    require_role(_req(), "admin")
    items, last = bootstrap.catalog().list_promos(page_limit(_req()), decode_cursor(_req()))
    return {"items": items, "nextCursor": encode_cursor(last)}


@bp.route("/promos", methods=["POST"], authorizer=jwt_auth)
def create_promo() -> Response:
    who = require_role(_req(), "admin")
    body = parse(models.PromoBody, _req())
    return Response(bootstrap.catalog().create_promo(who, body, client_info(_req())), status_code=201)


@bp.route("/promos/{code}", methods=["GET"], authorizer=jwt_auth)
def get_promo(code: str) -> dict[str, Any]:
    require_role(_req(), "admin")
    return bootstrap.catalog().get_promo(code)


@bp.route("/promos/{code}", methods=["PATCH"], authorizer=jwt_auth)
def update_promo(code: str) -> dict[str, Any]:
    require_role(_req(), "admin")
    return bootstrap.catalog().update_promo(code, parse(models.PromoPatch, _req()))


@bp.route("/promos/{code}", methods=["DELETE"], authorizer=jwt_auth)
def deactivate_promo(code: str) -> dict[str, Any]:
    """Deactivates: orders keep the code they used; new orders cannot use it."""
    require_role(_req(), "admin")
    return bootstrap.catalog().deactivate_promo(code)
