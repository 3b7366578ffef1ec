"""Error contract, correlation ids, limits, OpenAPI coverage."""

from __future__ import annotations

import json
from typing import Any

import pytest
from openapi_spec_validator import validate

from tests.conftest import Api, json_body


def err(resp: Any) -> dict[str, Any]:
    body = json_body(resp)
    assert list(body) == ["error"], body
    assert {"code", "message"} <= set(body["error"])
    return body["error"]


def test_malformed_json(api: Api) -> None:
    resp = api.call("POST", "/auth/register", "{not json")
    assert resp.status_code == 400 and err(resp)["fields"] == {"body": "malformed JSON"}


def test_non_object_body(api: Api) -> None:
    resp = api.call("POST", "/auth/login", "[1,2]")
    assert resp.status_code == 400 and "body" in err(resp)["fields"]


def test_wrong_types_name_the_field(api: Api) -> None:
    resp = api.call("POST", "/auth/register", {"username": 5, "email": "not-an-email", "password": ["x"]})
    assert resp.status_code == 400
    assert set(err(resp)["fields"]) == {"username", "email", "password"}


def test_missing_field(api: Api) -> None:
    resp = api.call("POST", "/auth/register", {"username": "alice", "password": "x"})
    assert resp.status_code == 400 and "email" in err(resp)["fields"]


def test_body_over_64kb(api: Api) -> None:
    resp = api.call("POST", "/auth/register", {"username": "a" * (70 * 1024)})
    assert resp.status_code == 413 and err(resp)["code"] == "payload_too_large"


def test_unknown_route_and_wrong_method(api: Api) -> None:
    resp = api.client.http.get("/nope")
    assert resp.status_code == 404 and err(resp)["code"] == "not_found"
    resp = api.client.http.get("/nope", headers={"authorization": "Bearer x"})
    assert resp.status_code == 404
    resp = api.call("DELETE", "/auth/login")
    assert resp.status_code == 405 and err(resp)["code"] == "method_not_allowed"


def test_internal_error_hides_internals(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    from chalicelib.users.auth import AuthService

    def boom(*a: Any, **k: Any) -> None:
        raise RuntimeError("secret internal detail: table freshcart-local-users")

    monkeypatch.setattr(AuthService, "check", boom)
    resp = api.call("POST", "/auth/check", {"username": "alice"}, headers={"x-correlation-id": "cid-123"})
    assert resp.status_code == 500
    body = err(resp)
    assert body["code"] == "internal_error" and body["requestId"] == "cid-123"
    assert "secret" not in json.dumps(body) and "Traceback" not in json.dumps(body)


def test_correlation_id_echoed_or_created(api: Api) -> None:
    resp = api.call("POST", "/auth/check", {"username": "alice"}, headers={"x-correlation-id": "abc-1"})
    assert resp.headers["x-correlation-id"] == "abc-1"
    resp = api.call("POST", "/auth/check", {"username": "alice"})
    assert len(resp.headers["x-correlation-id"]) >= 16


def test_list_limit_capped_and_cursor_validated(api: Api) -> None:
    admin = api.user("root", role="admin")
    assert api.call("GET", "/users?limit=1000", token=admin["accessToken"]).status_code == 400
    assert api.call("GET", "/users?limit=abc", token=admin["accessToken"]).status_code == 400
    resp = api.call("GET", "/users?cursor=!!!", token=admin["accessToken"])
    assert resp.status_code == 400 and "cursor" in err(resp)["fields"]


def test_openapi_covers_every_route(api: Api) -> None:
    from app import app

    resp = api.client.http.get("/openapi.json")
    assert resp.status_code == 200
    doc = json_body(resp)
    validate(doc)
    for path, methods in app.routes.items():
        for method in methods:
            assert method.lower() in doc["paths"].get(path, {}), f"{method} {path} missing from OpenAPI"
            if method in ("POST", "PATCH", "PUT") and _parses_body(methods[method].view_function):
                assert "requestBody" in doc["paths"][path][method.lower()], f"{method} {path} has no body schema"
    assert doc["paths"]["/users/me"]["get"]["security"] == [{"bearerAuth": []}]


def _parses_body(view: Any) -> bool:
    import inspect

    return "parse(" in inspect.getsource(view)
