"""ops: the health check."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from chalicelib.core.openapi import Op
from chalicelib.core.schema import View

TAG = "ops"
C = "chalicelib.ops.contract"


class HealthCheck(View):
    name: str
    status: Literal["ok", "degraded", "down"]
    latencyMs: int
    detail: dict[str, Any] | str | None = None


class Health(View):
    status: Literal["ok", "degraded", "down"]
    checks: list[HealthCheck] | None = Field(default=None, description="admins only")


ROUTES: dict[tuple[str, str], Op] = {("GET", "/health"): Op(f"{C}:Health")}
