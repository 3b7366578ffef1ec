"""API Gateway's own responses, locally. In AWS the template's AWS::ApiGateway::GatewayResponse
resources turn gateway errors (no token, authorizer deny, unknown route) into our JSON error
shape; Chalice's local gateway (chalice local and chalice.test.Client) answers them its own way.
This reads the SAME template resources and applies them locally, so both agree."""

from __future__ import annotations

from typing import Any

from chalice.local import LocalGateway, LocalGatewayException

from freshcart_local.provision import load_template

_applied = False


def _responses() -> dict[str, tuple[int, bytes]]:
    out = {}
    for res in load_template()["Resources"].values():
        if res.get("Type") == "AWS::ApiGateway::GatewayResponse":
            p = res["Properties"]
            out[p["ResponseType"]] = (int(p["StatusCode"]), p["ResponseTemplates"]["application/json"].encode())
    return out


def _kind(exc: LocalGatewayException) -> str:
    kind = str(exc.headers.get("x-amzn-ErrorType", ""))
    if kind == "AccessDeniedException":
        return "ACCESS_DENIED"
    if b"Missing Authentication Token" in (exc.body or b"") or b"Authorization header requires" in (exc.body or b""):
        return "MISSING_AUTHENTICATION_TOKEN"
    if kind == "UnauthorizedException":
        return "UNAUTHORIZED"
    return ""


def apply() -> None:
    global _applied
    if _applied:
        return
    responses = _responses()
    original = LocalGateway.handle_request

    def handle_request(self: LocalGateway, method: str, path: str, headers: Any, body: Any) -> Any:
        try:
            return original(self, method, path, headers, body)
        except LocalGatewayException as exc:
            mapped = responses.get(_kind(exc))
            if mapped is None:
                raise
            err = LocalGatewayException({**exc.headers, "Content-Type": "application/json"}, mapped[1])
            err.CODE = mapped[0]
            raise err from None

    LocalGateway.handle_request = handle_request  # type: ignore[method-assign]
    _applied = True
