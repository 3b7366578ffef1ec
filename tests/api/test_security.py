"""Token attacks, BOLA/BFLA, mass assignment."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import jwt
import pytest

from chalicelib.core.config import get_settings
from chalicelib.users import tokens
from tests.conftest import PASSWORD, Api, json_body


def claims_for(user_id: str, **over: Any) -> dict[str, Any]:
    s = get_settings()
    now = int(time.time())
    base = {
        "iss": s.jwt_issuer,
        "aud": s.jwt_audience,
        "sub": user_id,
        "typ": "access",
        "iat": now,
        "exp": now + 600,
        "role": "customer",
        "ver": 0,
        "jti": "x",
    }
    base.update(over)
    return {k: v for k, v in base.items() if v is not None}


def b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


@pytest.fixture
def alice(api: Api) -> dict[str, Any]:
    return api.user("alice")


def sid_of(token: str) -> str:
    return str(jwt.decode(token, options={"verify_signature": False})["sid"])


def forged(alice: dict[str, Any], **over: Any) -> str:
    c = claims_for(alice["userId"], sid=sid_of(alice["accessToken"]), **over)
    return jwt.encode(c, tokens.signing_key(), algorithm="HS256")


def assert_401(api: Api, token: str) -> None:
    resp = api.call("GET", "/users/me", token=token)
    assert resp.status_code == 401, (resp.status_code, resp.body)
    assert json_body(resp)["error"]["code"] == "unauthorized"


def test_a_correctly_signed_forgery_passes_so_the_attacks_below_are_meaningful(api: Api, alice: dict) -> None:
    assert api.call("GET", "/users/me", token=forged(alice)).status_code == 200


def test_alg_none_rejected(api: Api, alice: dict) -> None:
    c = claims_for(alice["userId"], sid=sid_of(alice["accessToken"]))
    assert_401(api, b64({"alg": "none", "typ": "JWT"}) + "." + b64(c) + ".")


def test_other_algorithms_and_keys_rejected(api: Api, alice: dict) -> None:
    c = claims_for(alice["userId"], sid=sid_of(alice["accessToken"]))
    assert_401(api, jwt.encode(c, tokens.signing_key(), algorithm="HS512"))
    assert_401(api, jwt.encode(c, "not-the-key-but-long-enough-to-be-a-key-xx", algorithm="HS256"))


def test_tampered_payload_rejected(api: Api, alice: dict) -> None:
    head, _, sig = alice["accessToken"].split(".")
    c = jwt.decode(alice["accessToken"], options={"verify_signature": False})
    c["role"] = "admin"
    assert_401(api, f"{head}.{b64(c)}.{sig}")


@pytest.mark.parametrize(
    "over",
    [
        {"exp": int(time.time()) - 5},
        {"aud": "someone-else"},
        {"iss": "evil"},
        {"typ": "refresh"},
        {"typ": None},
        {"iat": None},
        {"exp": None},
        {"ver": 7},
    ],
)
def test_bad_claims_rejected(api: Api, alice: dict, over: dict) -> None:
    assert_401(api, forged(alice, **over))


def test_refresh_token_is_not_an_access_token(api: Api, alice: dict) -> None:
    assert_401(api, alice["refreshToken"])


def test_access_token_is_not_a_refresh_token(api: Api, alice: dict) -> None:
    resp = api.call("POST", "/auth/refresh", {"refreshToken": alice["accessToken"]})
    assert resp.status_code == 401


def test_missing_or_malformed_authorization(api: Api, alice: dict) -> None:
    resp = api.client.http.get("/users/me")
    assert resp.status_code == 401
    for header in ("Basic abc", "Bearer", alice["accessToken"]):
        resp = api.client.http.get("/users/me", headers={"authorization": header})
        assert resp.status_code == 401, header


def test_disabled_user_tokens_die_at_once(api: Api, alice: dict) -> None:
    admin = api.user("root", role="admin")
    resp = api.call("POST", f"/users/{alice['userId']}/disable", token=admin["accessToken"])
    assert resp.status_code == 200 and json_body(resp)["status"] == "disabled"
    assert_401(api, alice["accessToken"])
    assert api.call("POST", "/auth/refresh", {"refreshToken": alice["refreshToken"]}).status_code == 401
    resp = api.call("POST", "/auth/login", {"username": "alice", "password": PASSWORD})
    assert resp.status_code == 403 and json_body(resp)["error"]["code"] == "account_disabled"
    assert api.call("POST", f"/users/{alice['userId']}/enable", token=admin["accessToken"]).status_code == 200
    assert api.login("alice")["accessToken"]


def test_role_change_revokes_and_takes_effect(api: Api, alice: dict) -> None:
    admin = api.user("root", role="admin")
    resp = api.call("PATCH", f"/users/{alice['userId']}/role", {"role": "manager"}, token=admin["accessToken"])
    assert resp.status_code == 200 and json_body(resp)["role"] == "manager"
    assert_401(api, alice["accessToken"])
    assert api.login("alice")["role"] == "manager"
    from chalicelib.audit import repo as audit

    rows = [r for r in audit.list_for(f"USER#{alice['userId']}") if r["action"] == "role_change"]
    assert rows and rows[0]["actorId"] == admin["userId"] and rows[0]["actorRole"] == "admin"
    assert rows[0]["details"] == {"from": "customer", "to": "manager"}


@pytest.mark.parametrize(
    "method,path,body",
    [
        ("GET", "/users", None),
        ("GET", "/users/{other}", None),
        ("PATCH", "/users/{other}/role", {"role": "admin"}),
        ("POST", "/users/{other}/disable", None),
        ("POST", "/users/{other}/enable", None),
    ],
)
@pytest.mark.parametrize("role", ["customer", "manager", "vendor"])
def test_admin_routes_closed_to_others(api: Api, method: str, path: str, body: Any, role: str) -> None:
    victim = api.register("victim")
    me = api.user("mallory", role=role)
    resp = api.call(method, path.format(other=victim["userId"]), body, token=me["accessToken"])
    assert resp.status_code == 403
    from chalicelib.users.repo import UsersRepo

    user = UsersRepo().get(victim["userId"])
    assert user["role"] == "customer" and user["status"] == "active"


def test_no_object_of_another_user_is_reachable(api: Api, alice: dict) -> None:
    bob = api.user("bob")
    addr = {"label": "home", "line1": "1 Main", "city": "Pune", "state": "MH", "pincode": "411001", "country": "IN"}
    created = json_body(api.call("POST", "/users/me/addresses", addr, token=alice["accessToken"]))
    # bob cannot see, edit or delete alice's address through his own routes
    assert (
        api.call(
            "PATCH", f"/users/me/addresses/{created['addressId']}", {"label": "x"}, token=bob["accessToken"]
        ).status_code
        == 404
    )
    assert (
        api.call("DELETE", f"/users/me/addresses/{created['addressId']}", token=bob["accessToken"]).status_code == 404
    )
    assert json_body(api.call("GET", "/users/me/addresses", token=bob["accessToken"]))["items"] == []
    assert api.call("GET", f"/users/{alice['userId']}", token=bob["accessToken"]).status_code == 403


@pytest.mark.parametrize(
    "field,value",
    [
        ("role", "admin"),
        ("userId", "u-1"),
        ("status", "active"),
        ("emailVerified", True),
        ("isProfileComplete", True),
        ("passwordHash", "x"),
        ("tokenVersion", 0),
        ("email", "x@example.com"),
    ],
)
def test_mass_assignment_rejected(api: Api, alice: dict, field: str, value: Any) -> None:
    resp = api.call("PATCH", "/users/me", {"name": "Alice", field: value}, token=alice["accessToken"])
    assert resp.status_code == 400
    assert json_body(resp)["error"]["fields"] == {field: "unknown field"}
    me = json_body(api.call("GET", "/users/me", token=alice["accessToken"]))
    assert me["role"] == "customer" and "name" not in me


@pytest.mark.parametrize("field,value", [("role", "admin"), ("userId", "u-1"), ("status", "active")])
def test_register_mass_assignment_rejected(api: Api, field: str, value: Any) -> None:
    resp = api.call(
        "POST", "/auth/register", {"username": "eve", "email": "eve@example.com", "password": PASSWORD, field: value}
    )
    assert resp.status_code == 400 and field in json_body(resp)["error"]["fields"]


def test_no_response_leaks_secrets(api: Api, alice: dict) -> None:
    admin = api.user("root", role="admin")
    bodies = [
        api.call("GET", "/users/me", token=alice["accessToken"]).body,
        api.call("GET", "/users", token=admin["accessToken"]).body,
        api.call("GET", f"/users/{alice['userId']}", token=admin["accessToken"]).body,
    ]
    for body in bodies:
        text = body.decode() if isinstance(body, bytes) else str(body)
        for secret in ("passwordHash", "$2b$", "sessions", "tokenVersion", "jti"):
            assert secret not in text
