"""OpenAPI 3 built from the registered routes and the pydantic models they parse."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from chalice import Chalice

if TYPE_CHECKING:
    from pydantic import BaseModel

# (METHOD, path) -> "module:Model" of the request body; filled by each api module with
# ``documents``. Names, not classes, so declaring them imports no pydantic at cold start.
REQUEST_MODELS: dict[tuple[str, str], str] = {}


def documents(method: str, path: str, model: str) -> None:
    REQUEST_MODELS[(method.upper(), path)] = model


def _model(ref: str) -> type[BaseModel]:
    module, name = ref.split(":")
    cls: type[BaseModel] = getattr(importlib.import_module(module), name)
    return cls


def build(app: Chalice) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    schemas: dict[str, Any] = {}
    error_ref = {"$ref": "#/components/schemas/Error"}
    for path, methods in sorted(app.routes.items()):
        for method, entry in sorted(methods.items()):
            op: dict[str, Any] = {
                "operationId": entry.view_name,
                "summary": (entry.view_function.__doc__ or entry.view_name).strip().splitlines()[0],
                "responses": {
                    "2XX": {"description": "success"},
                    "4XX": {"description": "client error", "content": {"application/json": {"schema": error_ref}}},
                },
            }
            params = [
                {"name": n, "in": "path", "required": True, "schema": {"type": "string"}} for n in entry.view_args
            ]
            if params:
                op["parameters"] = params
            if entry.authorizer is not None:
                op["security"] = [{"bearerAuth": []}]
            ref = REQUEST_MODELS.get((method, path))
            if ref is not None:
                model = _model(ref)
                schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
                schemas.update(schema.pop("$defs", {}))
                schemas[model.__name__] = schema
                op["requestBody"] = {
                    "required": True,
                    "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{model.__name__}"}}},
                }
            paths.setdefault(path, {})[method.lower()] = op
    schemas["Error"] = {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["code", "message"],
                "properties": {
                    "code": {"type": "string"},
                    "message": {"type": "string"},
                    "fields": {"type": "object", "additionalProperties": {"type": "string"}},
                },
            }
        },
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "freshcart API", "version": "1.0.0"},
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
        },
    }
