"""OpenAPI 3.1 built from the registered routes and each domain's contract module.

A domain's ``contract.py`` is the one place that says, for each of its routes, what the route checks
and answers: the body model, query and header parameters, the success status and response shape,
the errors beyond the usual ones, and who may call it. The models are pydantic (request bodies are
the ones the handler parses; responses are ``View`` models), referenced by name so nothing here
or in the api modules imports pydantic at cold start: the document is built on first request.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from chalice import Chalice

from chalicelib.core import patterns

if TYPE_CHECKING:
    from pydantic import BaseModel

CONTRACTS = (
    "chalicelib.users.contract",
    "chalicelib.catalog.contract",
    "chalicelib.vendors.contract",
    "chalicelib.inventory.contract",
    "chalicelib.orders.contract",
    "chalicelib.payments.contract",
    "chalicelib.deliveries.contract",
    "chalicelib.notifications.contract",
    "chalicelib.subscriptions.contract",
    "chalicelib.reports.contract",
    "chalicelib.ops.contract",
    "chalicelib.core.contract",
)
REF = "#/components/schemas/{model}"
ROLES = ("customer", "admin", "manager", "vendor", "driver")


@dataclass(frozen=True)
class Param:
    name: str
    schema: dict[str, Any]
    location: str = "query"
    required: bool = False
    description: str = ""

    def document(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"name": self.name, "in": self.location, "required": self.required, "schema": self.schema}
        if self.description:
            doc["description"] = self.description
        return doc


@dataclass(frozen=True)
class Op:
    """What one route checks and answers. ``response`` and ``body`` are ``"module:Model"``;
    ``response=None`` is a success without content (204)."""

    response: str | None
    status: int = 200
    body: str | None = None
    query: tuple[Param, ...] = ()
    headers: tuple[Param, ...] = ()
    errors: tuple[int, ...] = ()
    roles: tuple[str, ...] = ()
    alternatives: tuple[str, ...] = field(default=())  # other response models (anyOf with ``response``)
    media_type: str = "application/json"  # another one is a text response (the docs page)


# Parameters more than one domain uses.
LIMIT = Param("limit", {"type": "integer", "minimum": 1, "maximum": 100, "default": 20}, description="page size, 1-100")
CURSOR = Param(
    "cursor",
    {"type": "string", "pattern": patterns.CURSOR},
    description="opaque: the nextCursor of the previous page (any other value is a 400)",
)
PAGE = (LIMIT, CURSOR)
CORRELATION_ID = Param(
    "x-correlation-id",
    {"type": "string"},
    location="header",
    description=f"echoed in the response header and in every error body as requestId when it matches "
    f"{patterns.CORRELATION_ID}; any other value is replaced by a generated id (never refused)",
)
IDEMPOTENCY_KEY = Param(
    "Idempotency-Key",
    {"type": "string", "pattern": patterns.IDEMPOTENCY_KEY, "maxLength": 100},
    location="header",
    required=True,
    description="the same key and body answer the stored response; the same key with another body is a 422",
)

ERRORS = {
    400: "invalid input: `fields` names each problem",
    401: "no token, or an invalid, expired or revoked one",
    403: "the caller's role may not do this",
    404: "not found (or not yours)",
    409: "conflicts with the current state (stale version, taken, out of stock, ...)",
    413: "body over 64 KB",
    415: "body is not application/json",
    422: "well-formed but refused by a rule JSON Schema cannot state (`fields` names it)",
    429: "rate limited: see Retry-After",
    500: "internal error: the body carries only the requestId",
    503: "a dependency (AWS, Stripe) is unavailable: retry, with the same Idempotency-Key where there is one",
}
ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["error"],
    "additionalProperties": False,
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message", "requestId"],
            "additionalProperties": False,
            "properties": {
                "code": {"type": "string", "description": "stable, machine-readable"},
                "message": {"type": "string"},
                "requestId": {"type": "string", "description": "the correlation id (x-correlation-id)"},
                "fields": {"type": "object", "additionalProperties": {"type": "string"}},
            },
        }
    },
}


class DuplicateComponent(ValueError):
    """Two different schemas under one component name: a generated client would get one of them."""


def _model(ref: str) -> type[BaseModel]:
    module, name = ref.split(":")
    cls: type[BaseModel] = getattr(importlib.import_module(module), name)
    return cls


class _Builder:
    def __init__(self) -> None:
        self.schemas: dict[str, Any] = {"Error": ERROR_SCHEMA}
        self.owners: dict[str, str] = {"Error": "chalicelib.core.openapi:Error"}

    def add(self, name: str, schema: dict[str, Any], owner: str) -> None:
        if name in self.schemas and self.schemas[name] != schema:
            raise DuplicateComponent(f"component {name!r} is defined by {self.owners[name]} and by {owner}")
        self.schemas[name] = schema
        self.owners.setdefault(name, owner)

    def ref(self, model_ref: str) -> dict[str, str]:
        model = _model(model_ref)
        schema = model.model_json_schema(ref_template=REF)
        for name, sub in schema.pop("$defs", {}).items():
            self.add(name, sub, f"{model_ref} (nested)")
        name = model.__name__
        self.add(name, schema, model_ref)
        return {"$ref": REF.format(model=name)}


CORRELATION_HEADER: dict[str, Any] = {
    "description": "the request's correlation id (echoed, or generated)",
    "required": True,
    "schema": {"type": "string"},
}
HEADER_REF = {"$ref": "#/components/headers/CorrelationId"}


def contracts() -> tuple[dict[tuple[str, str], tuple[str, Op]], dict[str, str]]:
    """(METHOD, path) -> (tag, Op) over every domain's contract module, and each tag's description."""
    out: dict[tuple[str, str], tuple[str, Op]] = {}
    tags: dict[str, str] = {}
    for name in CONTRACTS:
        module = importlib.import_module(name)
        tags[module.TAG] = (module.__doc__ or module.TAG).strip().splitlines()[0]
        for key, op in module.ROUTES.items():
            if key in out:
                raise ValueError(f"{key} documented twice")
            out[key] = (module.TAG, op)
    return out, tags


_cache: dict[int, dict[str, Any]] = {}


def document(app: Chalice) -> dict[str, Any]:
    """The document for ``app``, built once per container (routes do not change at run time)."""
    if id(app) not in _cache:
        _cache[id(app)] = build(app)
    return _cache[id(app)]


def build(app: Chalice) -> dict[str, Any]:
    documented, tag_docs = contracts()
    builder = _Builder()
    paths: dict[str, dict[str, Any]] = {}
    operation_ids: set[str] = set()
    tags: list[str] = []
    for path, methods in sorted(app.routes.items()):
        for method, entry in sorted(methods.items()):
            if (method, path) not in documented:
                raise KeyError(f"{method} {path} has no entry in any contract module")
            tag, op = documented[(method, path)]
            if tag not in tags:
                tags.append(tag)
            if entry.view_name in operation_ids:
                raise ValueError(f"operationId {entry.view_name} is not unique")
            operation_ids.add(entry.view_name)
            doc = (entry.view_function.__doc__ or "").strip()
            operation: dict[str, Any] = {
                "operationId": entry.view_name,
                "tags": [tag],
                "summary": doc.splitlines()[0] if doc else entry.view_name.replace("_", " "),
            }
            if doc and len(doc.splitlines()) > 1:
                operation["description"] = " ".join(line.strip() for line in doc.splitlines())
            params = [
                {"name": n, "in": "path", "required": True, "schema": {"type": "string", "minLength": 1}}
                for n in entry.view_args
            ]
            params += [p.document() for p in (*op.query, *op.headers, CORRELATION_ID)]
            operation["parameters"] = params
            protected = entry.authorizer is not None
            if protected:
                operation["security"] = [{"bearerAuth": []}]
            if op.roles:
                operation["x-roles"] = list(op.roles)
            if op.body is not None:
                operation["requestBody"] = {
                    "required": True,
                    "content": {"application/json": {"schema": builder.ref(op.body)}},
                }
            operation["responses"] = _responses(builder, op, protected, bool(entry.view_args))
            paths.setdefault(path, {})[method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "freshcart API",
            "version": "1.0.0",
            "description": "Errors are `{error: {code, message, requestId, fields?}}`. Money is in integer minor "
            "units. `x-roles` names the roles that may call an operation. Human-readable at /docs.",
        },
        "tags": [{"name": name, "description": tag_docs[name]} for name in sorted(tags)],
        "paths": paths,
        "components": {
            "schemas": builder.schemas,
            "responses": _error_responses(),
            "headers": {"CorrelationId": CORRELATION_HEADER},
            "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
        },
    }


def _responses(builder: _Builder, op: Op, protected: bool, has_path_params: bool) -> dict[str, Any]:
    success: dict[str, Any] = {"description": "success", "headers": {"x-correlation-id": HEADER_REF}}
    if op.media_type != "application/json":
        success["content"] = {op.media_type: {"schema": {"type": "string"}}}
    elif op.response is not None:
        schema: dict[str, Any] = builder.ref(op.response)
        if op.alternatives:
            schema = {"anyOf": [schema, *(builder.ref(r) for r in op.alternatives)]}
        success["content"] = {"application/json": {"schema": schema}}
    responses: dict[str, Any] = {str(op.status): success}
    codes = set(op.errors) | {500}
    if op.body is not None:
        codes |= {400, 413, 415}
    if op.query or any(p.required for p in op.headers):
        codes.add(400)
    if protected:
        codes.add(401)
    if op.roles and set(op.roles) != set(ROLES):
        codes.add(403)
    if has_path_params:
        codes.add(404)
    for code in sorted(codes):
        responses[str(code)] = {"$ref": f"#/components/responses/Error{code}"}
    return responses


def _error_responses() -> dict[str, Any]:
    error_content = {"application/json": {"schema": {"$ref": REF.format(model="Error")}}}
    out: dict[str, Any] = {}
    for code, text in ERRORS.items():
        # API Gateway answers the authorizer's 401 itself: it echoes only a correlation id it was sent.
        headers: dict[str, Any] = {
            "x-correlation-id": HEADER_REF if code != 401 else {**CORRELATION_HEADER, "required": False}
        }
        if code == 429:
            headers["Retry-After"] = {"required": True, "schema": {"type": "string", "pattern": "^[0-9]+$"}}
        out[f"Error{code}"] = {"description": text, "headers": headers, "content": error_content}
    return out
