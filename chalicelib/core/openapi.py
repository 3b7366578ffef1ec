"""OpenAPI 3 built from the registered routes and the pydantic models they parse."""

from __future__ import annotations

from typing import Any

from chalice import Chalice
from pydantic import BaseModel

# (METHOD, path) -> request body model; filled by each api module with ``documents``.
REQUEST_MODELS: dict[tuple[str, str], type[BaseModel]] = {}


def documents(method: str, path: str, model: type[BaseModel]) -> None:
    REQUEST_MODELS[(method.upper(), path)] = model


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
            model = REQUEST_MODELS.get((method, path))
            if model is not None:
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
