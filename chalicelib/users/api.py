"""Identity and user routes: parse, call the service, map the result."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalice import Blueprint, Response

from chalicelib import bootstrap
from chalicelib.core.http import caller, client_info, decode_cursor, encode_cursor, page_limit, parse, require_role
from chalicelib.core.lazy import lazy_module
from chalicelib.users.authorizer import jwt_auth

if TYPE_CHECKING:
    from chalicelib.users import models
else:  # loaded on first use: the authorizer and GET routes never need pydantic
    models = lazy_module("chalicelib.users.models")

bp = Blueprint(__name__)


def _req() -> Any:
    return bp.current_request


@bp.route("/auth/register", methods=["POST"])
def register() -> Response:
    body = parse(models.RegisterBody, _req())
    return Response(bootstrap.auth().register(body, client_info(_req())), status_code=201)


@bp.route("/auth/check", methods=["POST"])
def check() -> dict[str, str]:
    return bootstrap.auth().check(parse(models.AuthCheckBody, _req()), client_info(_req()))


@bp.route("/auth/login", methods=["POST"])
def login() -> dict[str, Any]:
    return bootstrap.auth().login(parse(models.LoginBody, _req()), client_info(_req()))


@bp.route("/auth/refresh", methods=["POST"])
def refresh() -> dict[str, Any]:
    return bootstrap.auth().refresh(parse(models.RefreshBody, _req()), client_info(_req()))


@bp.route("/auth/logout", methods=["POST"], authorizer=jwt_auth)
def logout() -> Response:
    bootstrap.auth().logout(caller(_req()), client_info(_req()))
    return Response(body="", status_code=204)


@bp.route("/auth/verify-email", methods=["POST"])
def verify_email() -> dict[str, Any]:
    return bootstrap.auth().verify_email(parse(models.VerifyEmailBody, _req()))


@bp.route("/auth/verify-email/resend", methods=["POST"], authorizer=jwt_auth)
def resend_verification() -> dict[str, Any]:
    """Send the verification email again (3 an hour)."""
    return bootstrap.auth().resend_verification(caller(_req()))


@bp.route("/auth/password", methods=["POST"], authorizer=jwt_auth)
def change_password() -> Response:
    body = parse(models.PasswordBody, _req())
    bootstrap.auth().change_password(caller(_req()), body, client_info(_req()))
    return Response(body="", status_code=204)


@bp.route("/users/me", methods=["GET"], authorizer=jwt_auth)
def get_me() -> dict[str, Any]:
    return bootstrap.profiles().me(caller(_req()))


@bp.route("/users/me", methods=["PATCH"], authorizer=jwt_auth)
def patch_me() -> dict[str, Any]:
    return bootstrap.profiles().update_me(caller(_req()), parse(models.ProfilePatch, _req()))


@bp.route("/users/me/addresses", methods=["GET"], authorizer=jwt_auth)
def list_addresses() -> dict[str, Any]:
    return {"items": bootstrap.profiles().list_addresses(caller(_req()))}


@bp.route("/users/me/addresses", methods=["POST"], authorizer=jwt_auth)
def add_address() -> Response:
    body = parse(models.AddressBody, _req())
    return Response(bootstrap.profiles().add_address(caller(_req()), body), status_code=201)


@bp.route("/users/me/addresses/{address_id}", methods=["PATCH"], authorizer=jwt_auth)
def update_address(address_id: str) -> dict[str, Any]:
    body = parse(models.AddressPatch, _req())
    return bootstrap.profiles().update_address(caller(_req()), address_id, body)


@bp.route("/users/me/addresses/{address_id}", methods=["DELETE"], authorizer=jwt_auth)
def delete_address(address_id: str) -> Response:
    bootstrap.profiles().delete_address(caller(_req()), address_id)
    return Response(body="", status_code=204)


# -- admin -----------------------------------------------------------------------------------
@bp.route("/users", methods=["GET"], authorizer=jwt_auth)
def list_users() -> dict[str, Any]:
    require_role(_req(), "admin")
    items, last = bootstrap.profiles().list_users(page_limit(_req()), decode_cursor(_req()))
    return {"items": items, "nextCursor": encode_cursor(last)}


@bp.route("/users/{user_id}", methods=["GET"], authorizer=jwt_auth)
def get_user(user_id: str) -> dict[str, Any]:
    require_role(_req(), "admin")
    return bootstrap.profiles().get_user(user_id)


@bp.route("/users/{user_id}/role", methods=["PATCH"], authorizer=jwt_auth)
def change_role(user_id: str) -> dict[str, Any]:
    who = require_role(_req(), "admin")
    body = parse(models.RoleBody, _req())
    return bootstrap.profiles().change_role(who, user_id, body.role, client_info(_req()))


@bp.route("/users/{user_id}/disable", methods=["POST"], authorizer=jwt_auth)
def disable_user(user_id: str) -> dict[str, Any]:
    who = require_role(_req(), "admin")
    return bootstrap.profiles().set_status(who, user_id, "disabled", client_info(_req()))


@bp.route("/users/{user_id}/enable", methods=["POST"], authorizer=jwt_auth)
def enable_user(user_id: str) -> dict[str, Any]:
    who = require_role(_req(), "admin")
    return bootstrap.profiles().set_status(who, user_id, "active", client_info(_req()))
