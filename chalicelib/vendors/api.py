"""Vendor routes."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalice import Blueprint, Response

from chalicelib import bootstrap
from chalicelib.core import patterns
from chalicelib.core.errors import NotFound, ValidationError
from chalicelib.core.http import client_info, decode_cursor, encode_cursor, page_limit, parse, query, require_role
from chalicelib.core.lazy import lazy_module
from chalicelib.users.authorizer import jwt_auth

if TYPE_CHECKING:
    from chalicelib.vendors import models
else:
    models = lazy_module("chalicelib.vendors.models")

bp = Blueprint(__name__)


def _req() -> Any:
    return bp.current_request


@bp.route("/vendors", methods=["GET"])
def list_vendors() -> dict[str, Any]:
    """?pincode= (required): active vendors serving it, best rated first (one Query on the
    service-area index). Admins list every vendor at /vendors/all."""
    pincode = query(_req(), "pincode", patterns.PINCODE, "3-10 letters, digits, spaces, dashes")
    if pincode is None:
        raise ValidationError("pincode is required", fields={"pincode": "required"})
    public = ("vendorId", "name", "rating")
    return {"items": [{k: v[k] for k in public if k in v} for v in bootstrap.vendors().by_pincode(pincode)]}


@bp.route("/vendors/all", methods=["GET"], authorizer=jwt_auth)
def list_all_vendors() -> dict[str, Any]:
    require_role(_req(), "admin")
    items, last = bootstrap.vendors().repo.list_page(page_limit(_req()), decode_cursor(_req()))
    return {"items": items, "nextCursor": encode_cursor(last)}


@bp.route("/vendors", methods=["POST"], authorizer=jwt_auth)
def create_vendor() -> Response:
    who = require_role(_req(), "admin")
    body = parse(models.VendorBody, _req())
    return Response(bootstrap.vendors().create(who, body, client_info(_req())), status_code=201)


@bp.route("/vendors/me", methods=["GET"], authorizer=jwt_auth)
def my_vendor() -> dict[str, Any]:
    return bootstrap.vendors().own(require_role(_req(), "vendor"))


@bp.route("/vendors/{vendor_id}", methods=["GET"], authorizer=jwt_auth)
def get_vendor(vendor_id: str) -> dict[str, Any]:
    who = require_role(_req(), "admin", "vendor")
    if who.role == "vendor" and who.vendor_id != vendor_id:
        raise NotFound("vendor not found")
    return bootstrap.vendors().get(vendor_id)


@bp.route("/vendors/{vendor_id}", methods=["PATCH"], authorizer=jwt_auth)
def update_vendor(vendor_id: str) -> dict[str, Any]:
    who = require_role(_req(), "admin", "vendor")
    body = parse(models.VendorAdminPatch if who.role == "admin" else models.VendorPatch, _req())
    return bootstrap.vendors().update(who, vendor_id, body, client_info(_req()))


@bp.route("/vendors/{vendor_id}/deactivate", methods=["POST"], authorizer=jwt_auth)
def deactivate_vendor(vendor_id: str) -> dict[str, Any]:
    who = require_role(_req(), "admin")
    return bootstrap.vendors().set_active(who, vendor_id, False, client_info(_req()))


@bp.route("/vendors/{vendor_id}/activate", methods=["POST"], authorizer=jwt_auth)
def activate_vendor(vendor_id: str) -> dict[str, Any]:
    who = require_role(_req(), "admin")
    return bootstrap.vendors().set_active(who, vendor_id, True, client_info(_req()))
