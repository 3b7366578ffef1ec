"""Error contract, correlation ids, limits, OpenAPI coverage."""

from __future__ import annotations

import base64
import json
from typing import Any
from urllib.parse import quote

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


def test_every_error_carries_the_request_id(api: Api) -> None:
    cid = {"x-correlation-id": "cid-4xx"}
    for resp in (
        api.call("POST", "/auth/register", "{not json", headers=cid),  # 400 from the app
        api.call("DELETE", "/auth/login", headers=cid),  # 405 from Chalice, reshaped
        api.call("GET", "/users/me", headers=cid),  # 401 from the gateway (authorizer)
        api.call("GET", "/nope", headers=cid),  # 404 from the gateway (no route)
        api.call("POST", "/auth/register", {"username": "a" * (70 * 1024)}, headers=cid),  # 413
    ):
        assert resp.status_code >= 400
        assert err(resp)["requestId"] == "cid-4xx", resp.body
        assert resp.headers["x-correlation-id"] == "cid-4xx"


def test_patch_me_needs_a_change_and_strict_types(api: Api) -> None:
    token = api.user("pat")["accessToken"]
    for body, field in [
        (None, "body"),
        ({}, "body"),
        ({"preferences": {}}, "preferences"),
        ({"preferences": {"newsletterOptIn": "yes"}}, "preferences.newsletterOptIn"),
        ({"preferences": {"newsletterOptIn": 0}}, "preferences.newsletterOptIn"),
        ({"profileCompletionPrompted": 1}, "profileCompletionPrompted"),
        ({"name": "   "}, "name"),
        ({"name": None}, "name"),
    ]:
        resp = api.call("PATCH", "/users/me", body, token=token)
        assert resp.status_code == 400, (body, resp.body)
        assert field in err(resp)["fields"], (body, err(resp))
    assert err(api.call("PATCH", "/users/me", {"name": " \t"}, token=token))["fields"]["name"] == "must not be blank"


def test_strict_booleans_and_blank_strings_everywhere(api: Api) -> None:
    token = api.user("bee")["accessToken"]
    address = {"label": "home", "line1": "1 Road", "city": "X", "state": "Y", "pincode": "560001", "country": "IN"}
    for bad in ({"isDefault": "yes"}, {"isDefault": 0}, {"isDefault": 1}, {"label": " "}, {"pincode": "   "}):
        resp = api.call("POST", "/users/me/addresses", {**address, **bad}, token=token)
        assert resp.status_code == 400 and set(bad) <= set(err(resp)["fields"]), (bad, resp.body)
    resp = api.call("POST", "/users/me/addresses", {**address, "isDefault": True}, token=token)
    assert resp.status_code == 201
    address_id = json_body(resp)["addressId"]
    assert api.call("PATCH", f"/users/me/addresses/{address_id}", {}, token=token).status_code == 400
    resp = api.call("PATCH", f"/users/me/addresses/{address_id}", {"isDefault": "true"}, token=token)
    assert resp.status_code == 400 and "isDefault" in err(resp)["fields"]


def test_integral_numbers_are_integers_as_in_json_schema(api: Api) -> None:
    admin = api.user("root", role="admin")["accessToken"]
    body = {
        "code": "TEN",
        "kind": "percent",
        "value": 10.0,
        "validFrom": "2020-01-01T00:00:00Z",
        "validTo": "2099-01-01T00:00:00Z",
        "maxUses": 5,
    }
    resp = api.call("POST", "/promos", body, token=admin)
    assert resp.status_code == 201 and json_body(resp)["value"] == 10
    for bad in ({"value": 10.5}, {"value": "10"}, {"maxUses": True}, {"validFrom": 1577836800}):
        resp = api.call("POST", "/promos", {**body, "code": "BAD", **bad}, token=admin)
        assert resp.status_code == 400 and set(bad) <= set(err(resp)["fields"]), (bad, resp.body)
    # A rule JSON Schema cannot state is a 422 naming the field.
    resp = api.call("POST", "/promos", {**body, "code": "BACK", "validTo": "2019-01-01T00:00:00Z"}, token=admin)
    assert resp.status_code == 422 and "validTo" in err(resp)["fields"]


def test_every_unserved_method_is_a_json_405(api: Api) -> None:
    for method, path in [("OPTIONS", "/auth/login"), ("PUT", "/orders"), ("HEAD", "/products"), ("TRACE", "/docs")]:
        resp = api.client.http.request(method, path, headers={"x-correlation-id": "m"})
        assert resp.status_code == 405, (method, path, resp.status_code)
        assert err(resp)["code"] == "method_not_allowed" and err(resp)["requestId"] == "m"


def test_a_made_up_cursor_is_a_400_not_a_500(api: Api, own_clients: None) -> None:
    """Real DynamoDB refuses a start key that is not one of the listing's (moto does not check,
    so the refusal is simulated here, with DynamoDB's error code)."""

    from botocore.exceptions import ClientError

    from chalicelib.core import aws

    def refuse(params: dict[str, Any], **_: Any) -> None:
        if "ExclusiveStartKey" in params:
            error = {"Error": {"Code": "ValidationException", "Message": "The provided starting key is invalid"}}
            raise ClientError(error, "Query")  # type: ignore[arg-type]

    aws.client("dynamodb").meta.events.register("before-parameter-build.dynamodb.Query", refuse)
    forged = base64.urlsafe_b64encode(json.dumps({"pk": {"S": "USER#x"}}).encode()).decode()
    resp = api.call("GET", f"/products?cursor={forged}")
    assert resp.status_code == 400 and "cursor" in err(resp)["fields"]
    assert api.call("GET", "/products?cursor=").status_code == 400


def test_order_filters_are_checked_at_the_edge(api: Api) -> None:
    manager = api.user("mgr", role="manager")["accessToken"]
    for query, status in [
        ("day=2030-02-30", 400),
        ("day=tomorrow", 400),
        ("from=2030-01-01", 400),
        ("userId=a%20b", 400),
        ("from=2030-01-02T00:00:00Z", 422),
        ("from=2030-01-02T00:00:00Z&to=2030-01-01T00:00:00Z", 422),
        ("status=PAID&from=2030-01-01T00:00:00%2B05:30&to=2030-01-02T00:00:00Z", 200),
        ("from=2030-01-01T00:00:00Z&to=2030-01-02T00:00:00Z", 422),  # a range needs status or userId
    ]:
        assert api.call("GET", f"/orders?{query}", token=manager).status_code == status, query


def test_component_names_are_unique() -> None:
    from pydantic import BaseModel

    from chalicelib.core import openapi

    builder = openapi._Builder()
    builder.ref("chalicelib.users.models:AuthCheckBody")
    builder.ref("chalicelib.orders.models:OrderCheckBody")
    first = type("Twin", (BaseModel,), {"__annotations__": {"a": int}, "__module__": __name__})
    second = type("Twin", (BaseModel,), {"__annotations__": {"b": str}, "__module__": __name__})
    globals().update(TwinA=first, TwinB=second)
    builder.ref(f"{__name__}:TwinA")
    with pytest.raises(openapi.DuplicateComponent, match="Twin"):
        builder.ref(f"{__name__}:TwinB")


def test_document_describes_what_the_server_checks(api: Api) -> None:
    doc = json_body(api.client.http.get("/openapi.json"))
    ops = {(m, p): op for p, methods in doc["paths"].items() for m, op in methods.items()}

    def params(method: str, path: str) -> dict[str, dict[str, Any]]:
        return {p["name"]: p for p in ops[(method, path)]["parameters"]}

    assert {"limit", "cursor", "category", "x-correlation-id"} <= set(params("get", "/products"))
    assert params("get", "/vendors")["pincode"]["required"] is True
    assert {"status", "userId", "from", "to", "day"} <= set(params("get", "/orders"))
    assert params("post", "/orders")["Idempotency-Key"]["required"] is True
    assert {"vendorId"} <= set(params("get", "/inventory"))
    schemas = doc["components"]["schemas"]
    assert schemas["AuthCheckBody"]["oneOf"] == [{"required": ["email"]}, {"required": ["username"]}]
    assert schemas["StockChange"]["oneOf"] == [{"required": ["set"]}, {"required": ["delta"]}]
    assert schemas["OrderCheckBody"]["oneOf"] == [{"required": ["addressId"]}, {"required": ["pincode"]}]
    assert "requestId" in schemas["Error"]["properties"]["error"]["required"]
    assert ops[("post", "/auth/check")]["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/AuthCheckBody"
    }
    assert {t["name"] for t in doc["tags"]} == {
        "users",
        "catalog",
        "vendors",
        "inventory",
        "orders",
        "payments",
        "deliveries",
        "notifications",
        "subscriptions",
        "reports",
        "ops",
        "meta",
    }
    for (method, path), op in ops.items():
        assert op["tags"], (method, path)
        success = [c for c in op["responses"] if c.startswith("2")]
        assert len(success) == 1, (method, path)
        if success[0] != "204" and "text/html" not in op["responses"][success[0]].get("content", {}):
            assert "$ref" in json.dumps(op["responses"][success[0]]["content"]), (method, path)
        if op.get("security"):
            assert "401" in op["responses"], (method, path)


def test_docs_page_is_self_contained(api: Api) -> None:
    resp = api.client.http.get("/docs")
    assert resp.status_code == 200 and resp.headers["Content-Type"].startswith("text/html")
    page = resp.body.decode()
    assert "place_order" in page and 'id="schema-Order"' in page and "Idempotency-Key" in page
    assert "<script" not in page and "http://" not in page and "https://cdn" not in page


@pytest.mark.parametrize(
    "key",
    [{"pk": {"S": 1}, "sk": {"S": "x"}}, {"pk": {"N": "one"}}, {"pk": {"S": ["a"]}}, {"pk": {"B": "eA=="}}],
)
def test_a_cursor_with_the_wrong_value_types_is_a_400(api: Api, key: dict[str, Any]) -> None:
    """Found in review: {"pk": {"S": 1}} passed the cursor check and botocore refused it (a 500)."""
    forged = base64.urlsafe_b64encode(json.dumps(key).encode()).decode()
    resp = api.call("GET", f"/products?cursor={forged}")
    assert resp.status_code == 400 and "cursor" in err(resp)["fields"]


@pytest.mark.parametrize("instant", ["9999-12-31T23:59:59-01:00", "0001-01-01T00:00:00+01:00"])
def test_a_date_time_past_the_calendar_in_utc_is_a_400(api: Api, instant: str) -> None:
    token = api.user("mgr", role="manager")["accessToken"]
    resp = api.call("GET", f"/orders?from={quote(instant)}&to={quote(instant)}", token=token)
    assert resp.status_code == 400 and "from" in err(resp)["fields"]
