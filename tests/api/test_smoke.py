import socket

import pytest

from tests.conftest import Api, json_body, reset_caches


def test_register_login_me(api: Api) -> None:
    reg = api.register("alice")
    assert reg["role"] == "customer" and reg["status"] == "created"
    tokens = api.login("alice")
    resp = api.call("GET", "/users/me", token=tokens["accessToken"])
    assert resp.status_code == 200, resp.body
    me = json_body(resp)
    assert me["email"] == "alice@example.com"
    assert "passwordHash" not in me and "sessions" not in me


def test_unreachable_aws_is_a_json_503_not_a_500(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    """`chalice local` with the local AWS down: a one-line hint in the log, 503 to the client."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{dead}")
    reset_caches()
    resp = api.call("POST", "/auth/check", {"email": "x@example.com"})
    assert resp.status_code == 503, resp.body
    assert json_body(resp)["error"]["code"] == "service_unavailable"
