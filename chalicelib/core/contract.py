"""meta: this document and its human-readable rendering."""

from __future__ import annotations

from typing import Any

from pydantic import ConfigDict

from chalicelib.core.openapi import Op
from chalicelib.core.schema import View

TAG = "meta"
C = "chalicelib.core.contract"


class OpenApiDocument(View):
    """An OpenAPI 3.1 document."""

    model_config = ConfigDict(extra="allow")
    openapi: str
    info: dict[str, Any]
    paths: dict[str, Any]
    components: dict[str, Any]


ROUTES: dict[tuple[str, str], Op] = {
    ("GET", "/openapi.json"): Op(f"{C}:OpenApiDocument"),
    ("GET", "/docs"): Op(None, media_type="text/html"),
}
