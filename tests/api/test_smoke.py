from tests.conftest import Api, json_body


def test_register_login_me(api: Api) -> None:
    reg = api.register("alice")
    assert reg["role"] == "customer" and reg["status"] == "created"
    tokens = api.login("alice")
    resp = api.call("GET", "/users/me", token=tokens["accessToken"])
    assert resp.status_code == 200, resp.body
    me = json_body(resp)
    assert me["email"] == "alice@example.com"
    assert "passwordHash" not in me and "sessions" not in me
