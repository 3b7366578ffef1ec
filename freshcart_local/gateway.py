"""API Gateway's own responses, locally. In AWS the template's AWS::ApiGateway::GatewayResponse
resources turn gateway errors (no token, authorizer deny, unknown route) into our JSON error
shape; Chalice's local gateway (chalice local and chalice.test.Client) answers them its own way.
This reads the SAME template resources and applies them locally, so both agree."""

from __future__ import annotations

import json
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
        except Exception as exc:
            # The authorizer could not reach AWS (ServiceUnavailable): the JSON 503 a route gives,
            # not a dropped connection and a traceback.
            if getattr(exc, "status", None) != 503:
                raise
            body = json.dumps({"error": {"code": "service_unavailable", "message": str(exc)}}).encode()
            err = LocalGatewayException({"Content-Type": "application/json"}, body)
            err.CODE = 503
            raise err from None

    LocalGateway.handle_request = handle_request  # type: ignore[method-assign]
    _applied = True


def for_chalice_local() -> None:
    """What `make run` gives its API server, for `chalice local` too (app.py calls this under
    the Chalice CLI): API Gateway's responses from the template and a listen backlog that takes
    bursts. Chalice's own local server already keeps ``current_request`` per thread."""
    from chalice.local import ThreadedHTTPServer

    apply()
    ThreadedHTTPServer.request_queue_size = 128
