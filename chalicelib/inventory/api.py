"""Stock routes for vendors (their own) and admins (any vendor)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalice import Blueprint

from chalicelib import bootstrap
from chalicelib.core import patterns
from chalicelib.core.http import client_info, decode_cursor, encode_cursor, page_limit, parse, query, require_role
from chalicelib.core.lazy import lazy_module
from chalicelib.users.authorizer import jwt_auth

if TYPE_CHECKING:
    from chalicelib.inventory import models
else:
    models = lazy_module("chalicelib.inventory.models")

bp = Blueprint(__name__)


def _req() -> Any:
    return bp.current_request


@bp.route("/inventory", methods=["GET"], authorizer=jwt_auth)
def list_stock() -> dict[str, Any]:
    """A vendor's own stock; admins see all, or one vendor's with ?vendorId=."""
    who = require_role(_req(), "admin", "vendor")
    items, last = bootstrap.inventory().list_page(
        who, query(_req(), "vendorId", patterns.ID), page_limit(_req()), decode_cursor(_req())
    )
    return {"items": items, "nextCursor": encode_cursor(last)}


@bp.route("/inventory/adjust", methods=["POST"], authorizer=jwt_auth)
def adjust_stock() -> dict[str, Any]:
    """Set or add/subtract stock for a variant at a vendor; every change is logged."""
    who = require_role(_req(), "admin", "vendor")
    return bootstrap.inventory().change(who, parse(models.StockChange, _req()), client_info(_req()))


@bp.route("/inventory/log", methods=["GET"], authorizer=jwt_auth)
def stock_log() -> dict[str, Any]:
    who = require_role(_req(), "admin", "vendor")
    return {"items": bootstrap.inventory().log(who, query(_req(), "vendorId", patterns.ID))}
