"""Domain errors. Each maps to one HTTP status and a stable machine-readable code.

They subclass ChaliceUnhandledError so Chalice re-raises them to our middleware, which
renders ``{"error": {"code", "message", "fields"?}}`` (see chalicelib/core/http.py).
"""

from __future__ import annotations

from typing import Any

from chalice import ChaliceUnhandledError


class AppError(ChaliceUnhandledError):
    status = 400
    code = "bad_request"

    def __init__(
        self,
        message: str,
        *,
        fields: dict[str, str] | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.fields = fields
        self.headers = headers or {}
        if code:
            self.code = code

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.fields:
            error["fields"] = self.fields
        return {"error": error}


class ValidationError(AppError):
    status = 400
    code = "validation_error"


class Unauthorized(AppError):
    status = 401
    code = "unauthorized"


class Forbidden(AppError):
    status = 403
    code = "forbidden"


class NotFound(AppError):
    status = 404
    code = "not_found"


class Conflict(AppError):
    status = 409
    code = "conflict"


class PayloadTooLarge(AppError):
    status = 413
    code = "payload_too_large"


class Unprocessable(AppError):
    status = 422
    code = "unprocessable"


class TooManyRequests(AppError):
    status = 429
    code = "too_many_requests"

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message, headers={"Retry-After": str(max(1, retry_after))})
        self.retry_after = retry_after


class ServiceUnavailable(AppError):
    status = 503
    code = "service_unavailable"
