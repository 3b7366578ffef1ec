"""HTTP edge helpers: body parsing into pydantic models, caller identity, cursors, and the
middleware that renders every error as ``{"error": {...}}`` with a correlation id."""

from __future__ import annotations

import base64
import binascii
import json
import re
import time
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any, TypeVar

from chalice import Response
from chalice.app import Request

from chalicelib.core import logs, metrics, patterns
from chalicelib.core.context import Caller, ClientInfo
from chalicelib.core.errors import AppError, Forbidden, PayloadTooLarge, Unauthorized, ValidationError

MAX_BODY_BYTES = 64 * 1024
MAX_PAGE_SIZE = 100
log = logs.get_logger("freshcart.http")

if TYPE_CHECKING:
    from pydantic import BaseModel

    M = TypeVar("M", bound=BaseModel)


def parse(model: type[M], request: Request) -> M:
    """The request body as ``model``; every problem is a 4xx naming the field."""
    from chalicelib.core.schema import validate

    raw = request.raw_body or b""
    if len(raw) > MAX_BODY_BYTES:
        raise PayloadTooLarge(f"body exceeds {MAX_BODY_BYTES} bytes")
    if not raw.strip():
        data: Any = {}
    else:
        try:
            data = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            raise ValidationError("body is not valid JSON", fields={"body": "malformed JSON"}) from None
    if not isinstance(data, dict):
        raise ValidationError("body must be a JSON object", fields={"body": "expected an object"})
    return validate(model, data)


def caller(request: Request) -> Caller:
    context: dict[str, Any] = dict(request.context or {})
    ctx: dict[str, Any] = context.get("authorizer") or {}
    user_id = ctx.get("principalId") or ctx.get("userId")
    if not user_id:
        raise Unauthorized("authentication required")
    return Caller(
        user_id=str(user_id),
        role=str(ctx.get("role", "")),
        session_id=str(ctx.get("sid", "")),
        vendor_id=str(ctx.get("vendorId", "")),
    )


def require_role(request: Request, *roles: str) -> Caller:
    who = caller(request)
    if who.role not in roles:
        raise Forbidden("this action needs role " + " or ".join(roles))
    return who


def query(request: Request, name: str, pattern: str | None = None, hint: str = "") -> str | None:
    """A query parameter; with ``pattern``, one that does not match is a 400 naming it."""
    params: dict[str, str] = dict(request.query_params or {})
    value = params.get(name)
    if value is not None and pattern is not None and not re.search(pattern, value):
        raise ValidationError(f"{name} is invalid", fields={name: hint or f"must match {pattern}"})
    return value


def query_datetime(request: Request, name: str) -> str | None:
    """An RFC 3339 date-time query parameter (as JSON Schema's ``date-time`` format), normalised."""
    value = query(request, name, patterns.DATE_TIME, "an RFC 3339 date-time, e.g. 2030-01-31T10:00:00Z")
    if value is None:
        return None
    try:
        return datetime.fromisoformat(value.upper()).astimezone(UTC).isoformat()
    except (ValueError, OverflowError):  # OverflowError: 9999-12-31T23:59:59-01:00 is past year 9999 in UTC
        raise ValidationError(f"{name} is not a date-time", fields={name: "not a real date or time"}) from None


def query_date(request: Request, name: str) -> str | None:
    value = query(request, name, patterns.DATE, "a date, e.g. 2030-01-31")
    if value is None:
        return None
    try:
        return date.fromisoformat(value).isoformat()
    except ValueError:
        raise ValidationError(f"{name} is not a date", fields={name: "not a real date"}) from None


def header(request: Request, name: str) -> str | None:
    headers: Any = request.headers or {}
    value = headers.get(name)
    return str(value) if value is not None else None


def idempotency_key(request: Request) -> str:
    """The required ``Idempotency-Key`` header (printable ASCII, at most 100 characters)."""
    key = header(request, "idempotency-key")
    if not key:
        raise ValidationError("Idempotency-Key header is required", fields={"Idempotency-Key": "required"})
    if not re.fullmatch(patterns.IDEMPOTENCY_KEY, key):
        raise ValidationError(
            "Idempotency-Key must be 1-100 printable ASCII characters", fields={"Idempotency-Key": "invalid"}
        )
    return key


def client_info(request: Request) -> ClientInfo:
    context: dict[str, Any] = dict(request.context or {})
    identity: dict[str, Any] = context.get("identity") or {}
    return ClientInfo(
        ip=str(identity.get("sourceIp") or "unknown"),
        user_agent=(header(request, "user-agent") or "")[:256],
        country=header(request, "cloudfront-viewer-country"),
    )


def page_limit(request: Request, default: int = 20) -> int:
    raw = query(request, "limit")
    if raw is None:
        return default
    if not re.fullmatch(r"[0-9]{1,6}", raw):
        raise ValidationError("limit must be an integer", fields={"limit": "not an integer"})
    value = int(raw)
    if not 1 <= value <= MAX_PAGE_SIZE:
        raise ValidationError(f"limit must be between 1 and {MAX_PAGE_SIZE}", fields={"limit": f"1..{MAX_PAGE_SIZE}"})
    return value


def encode_cursor(key: dict[str, Any] | None) -> str | None:
    if not key:
        return None
    return base64.urlsafe_b64encode(json.dumps(key, separators=(",", ":")).encode()).decode()


def decode_cursor(request: Request) -> dict[str, Any] | None:
    raw = query(request, "cursor", patterns.CURSOR, "not a cursor from this API")
    if raw is None:
        return None
    try:
        key = json.loads(base64.urlsafe_b64decode(raw.encode()))
    except (ValueError, binascii.Error):
        raise ValidationError("cursor is invalid", fields={"cursor": "not a cursor from this API"}) from None
    ok = isinstance(key, dict) and all(_key_attribute(v) for v in key.values())
    if not ok:
        raise ValidationError("cursor is invalid", fields={"cursor": "not a cursor from this API"})
    return dict(key)


def _key_attribute(value: Any) -> bool:
    """One DynamoDB key attribute as our cursors hold them: {"S": text} or {"N": "<number>"}."""
    if not isinstance(value, dict) or len(value) != 1:
        return False
    kind, text = next(iter(value.items()))
    return isinstance(text, str) and (
        kind == "S" or (kind == "N" and re.fullmatch(r"-?[0-9]+(\.[0-9]+)?", text) is not None)
    )


# Chalice's own error codes (unknown method, media type, unhandled) mapped to ours.
_CHALICE_CODES = {
    "MethodNotAllowedError": "method_not_allowed",
    "UnsupportedMediaType": "unsupported_media_type",
    "BadRequest": "bad_request",
    "BadRequestError": "bad_request",
    "NotFoundError": "not_found",
}


def error_middleware(request: Request, get_response: Callable[[Request], Response]) -> Response:
    """Correlation id in, JSON errors out; a 500 never leaks internals."""
    sent = header(request, "x-correlation-id") or ""
    cid = sent if re.fullmatch(patterns.CORRELATION_ID, sent) else str(uuid.uuid4())
    token = logs.correlation_id.set(cid)
    started = time.perf_counter()
    try:
        if len(request.raw_body or b"") > MAX_BODY_BYTES:
            err = PayloadTooLarge(f"body exceeds {MAX_BODY_BYTES} bytes")
            response = Response(body=err.body(), status_code=err.status)
        else:
            try:
                response = get_response(request)
            except AppError as err:
                response = Response(body=err.body(), status_code=err.status, headers=dict(err.headers))
            except Exception:
                log.exception("unhandled error", extra={"path": request.path, "method": request.method})
                response = _internal_error(cid)
            response = _normalise(response, cid)
        _stamp(response, cid)
        response.headers["x-correlation-id"] = cid
        ms = round((time.perf_counter() - started) * 1000, 1)
        log.info(
            "request", extra={"method": request.method, "path": request.path, "status": response.status_code, "ms": ms}
        )
        status = response.status_code
        metrics.emit(
            {
                "Requests": (1, "Count"),
                "Latency": (ms, "Milliseconds"),
                "Errors4xx": (int(400 <= status < 500), "Count"),
                "Errors5xx": (int(status >= 500), "Count"),
            },
            Service="api",
        )
        return response
    finally:
        logs.correlation_id.reset(token)


def _internal_error(cid: str) -> Response:
    body = {"error": {"code": "internal_error", "message": "internal error", "requestId": cid}}
    return Response(body=body, status_code=500)


def _stamp(response: Response, cid: str) -> None:
    """Every error body carries the request id (the correlation id), 4xx as well as 5xx."""
    body = response.body
    if response.status_code >= 400 and isinstance(body, dict) and isinstance(body.get("error"), dict):
        body["error"]["requestId"] = cid


def _normalise(response: Response, cid: str) -> Response:
    body = response.body
    if response.status_code >= 500 and not (isinstance(body, dict) and "error" in body):
        log.error("internal error response", extra={"status": response.status_code})
        return _internal_error(cid)
    if response.status_code >= 400 and isinstance(body, dict) and "Code" in body:
        code = _CHALICE_CODES.get(str(body["Code"]), "bad_request")
        response.body = {"error": {"code": code, "message": str(body.get("Message", ""))}}
    return response
