"""The custom JWT authorizer (API Gateway TOKEN authorizer) and the routes' role guard."""

from __future__ import annotations

from chalice import AuthResponse, Blueprint
from chalice.app import AuthRequest

from chalicelib import bootstrap
from chalicelib.core import logs
from chalicelib.core.errors import Unauthorized

bp = Blueprint(__name__)
log = logs.get_logger("freshcart.auth")


@bp.authorizer(ttl_seconds=0)
def jwt_auth(auth_request: AuthRequest) -> AuthResponse:
    """ttl 0: no caching in API Gateway, so revocation (logout, role change) takes effect at once."""
    token = auth_request.token or ""
    scheme, _, value = token.partition(" ")
    if scheme.lower() != "bearer" or not value:
        return AuthResponse(routes=[], principal_id="anonymous")
    try:
        user_id, role, sid, vendor_id = bootstrap.auth().authorize(value.strip())
    except Unauthorized as exc:
        log.info("token rejected", extra={"reason": exc.code})
        return AuthResponse(routes=[], principal_id="anonymous")
    return AuthResponse(routes=["*"], principal_id=user_id, context={"role": role, "sid": sid, "vendorId": vendor_id})
