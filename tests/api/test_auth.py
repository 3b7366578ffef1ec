"""Registration, check, login, refresh rotation, logout, password change, email verification."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from chalicelib.audit import repo as audit
from chalicelib.core import aws, config
from freshcart_local.dispatcher import Dispatcher
from tests.conftest import PASSWORD, Api, json_body


def actions(user_id: str) -> list[str]:
    return [row["action"] for row in audit.list_for(f"USER#{user_id}")]


def error(resp: Any) -> dict[str, Any]:
    body = json_body(resp)
    assert set(body) == {"error"}, body
    return body["error"]


def test_register_creates_customer_with_flags_and_audit(api: Api) -> None:
    resp = api.call(
        "POST",
        "/auth/register",
        {
            "username": "alice",
            "email": "Alice@Example.com",
            "password": PASSWORD,
            "deviceInfo": {"os": "iOS", "browser": "Safari"},
        },
        headers={"user-agent": "UA-1", "cloudfront-viewer-country": "IN"},
    )
    assert resp.status_code == 201
    body = json_body(resp)
    assert body["role"] == "customer" and body["status"] == "created"
    from chalicelib.users.repo import UsersRepo

    user = UsersRepo().get(body["userId"])
    assert user is not None
    assert user["email"] == "alice@example.com"
    assert user["region"] == "IN" and user["registeredIp"]
    assert user["devices"][0]["os"] == "iOS" and user["devices"][0]["userAgent"] == "UA-1"
    assert user["passwordHash"].startswith("$2")
    rows = audit.list_for(f"USER#{body['userId']}")
    assert [r["action"] for r in rows] == ["register"]
    import time

    assert abs(rows[0]["expiresAt"] - (time.time() + 90 * 86400)) < 120  # the 90-day TTL attribute
    me = json_body(api.call("GET", "/users/me", token=api.login("alice")["accessToken"]))
    assert me["isProfileComplete"] is False


def test_email_unique_case_insensitive(api: Api) -> None:
    api.register("alice", "alice@example.com")
    resp = api.call(
        "POST", "/auth/register", {"username": "alice2", "email": "ALICE@example.com", "password": PASSWORD}
    )
    assert resp.status_code == 409
    assert error(resp)["fields"] == {"email": "already registered"}
    resp = api.call("POST", "/auth/register", {"username": "ALICE", "email": "other@example.com", "password": PASSWORD})
    assert resp.status_code == 409 and "username" in error(resp)["fields"]


def test_concurrent_registrations_one_wins(api: Api) -> None:
    results: list[int] = []
    barrier = threading.Barrier(8)

    def go(i: int) -> None:
        barrier.wait()
        r = api.call(
            "POST", "/auth/register", {"username": f"racer{i}", "email": "same@example.com", "password": PASSWORD}
        )
        results.append(r.status_code)

    threads = [threading.Thread(target=go, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [201] + [409] * 7
    # exactly one user and one email claim exist
    items = aws.client("dynamodb").query(
        TableName=config.get_settings().users_table,
        KeyConditionExpression="pk = :p",
        ExpressionAttributeValues={":p": {"S": "EMAIL#same@example.com"}},
    )["Items"]
    assert len(items) == 1


def test_password_policy_names_the_field(api: Api) -> None:
    # 400: what the schema says (length, a letter and a digit); 422: what it cannot (bytes, username).
    for pw, status, msg in [
        ("short1", 400, "at least 10"),
        ("onlyletterslong", 400, "letter and one digit"),
        ("x1" * 40, 400, "at most 72"),
        ("alice-secret-99", 422, "username or email"),
        ("a" + "\u00e91" * 35, 422, "72 bytes"),
    ]:
        resp = api.call("POST", "/auth/register", {"username": "alice", "email": "a@example.com", "password": pw})
        assert resp.status_code == status, pw
        assert msg in error(resp)["fields"]["password"]


def test_register_publishes_event_and_verification_email_is_sent(api: Api) -> None:
    from app import app

    user = api.register("alice")
    dispatcher = Dispatcher(app, "us-east-1", "local")
    dispatcher.discover()
    dispatcher.drain()
    sent = aws.client("ses").get_send_quota()["SentLast24Hours"]
    assert sent == 1
    from moto.backends import get_backend

    ses = get_backend("ses")["123456789012"]["us-east-1"]
    msg = ses.sent_messages[-1]
    assert msg.destinations["ToAddresses"] == ["alice@example.com"]
    token = msg.body.strip().splitlines()[-1]
    resp = api.call("POST", "/auth/verify-email", {"token": token})
    assert resp.status_code == 200
    from chalicelib.users.repo import UsersRepo

    assert UsersRepo().get(user["userId"])["emailVerified"] is True


def test_check_says_login_or_register_and_is_rate_limited(api: Api, monkeypatch: Any) -> None:
    api.register("alice")
    assert json_body(api.call("POST", "/auth/check", {"email": "ALICE@example.com"})) == {"next": "login"}
    assert json_body(api.call("POST", "/auth/check", {"username": "nobody"})) == {"next": "register"}
    assert api.call("POST", "/auth/check", {"email": "a@example.com", "username": "x1x"}).status_code == 400
    monkeypatch.setenv("CHECK_MAX_PER_WINDOW", "3")
    config.reset()
    codes = [api.call("POST", "/auth/check", {"username": "nobody"}).status_code for _ in range(5)]
    assert 429 in codes
    resp = api.call("POST", "/auth/check", {"username": "nobody"})
    assert resp.status_code == 429 and int(resp.headers["Retry-After"]) >= 1


def test_login_updates_activity_and_records_new_device(api: Api) -> None:
    user = api.register("alice")
    from chalicelib.users.repo import UsersRepo

    before = UsersRepo().get(user["userId"])
    tokens = api.login("alice", deviceInfo={"deviceId": "phone-1", "os": "Android"})
    assert tokens["tokenType"] == "Bearer" and tokens["expiresIn"] == 900
    after = UsersRepo().get(user["userId"])
    assert after["lastActiveAt"] >= before["lastActiveAt"]
    assert after["devices"][0]["key"] == "phone-1"
    assert len(after["sessions"]) == 1
    assert actions(user["userId"])[0] == "login_success"
    # new device -> NewDeviceLogin event -> an email to the user
    from app import app

    dispatcher = Dispatcher(app, "us-east-1", "local")
    dispatcher.discover()
    dispatcher.drain()  # UserRegistered, then NewDeviceLogin: from the users table's stream
    from moto.backends import get_backend

    def subjects() -> list[str]:
        return [m.subject for m in get_backend("ses")["123456789012"]["us-east-1"].sent_messages]

    assert subjects() == ["Confirm your freshcart email", "New sign-in to freshcart"]
    api.login("alice", deviceInfo={"deviceId": "phone-1", "os": "Android"})  # a known device: no mail
    api.call("PATCH", "/users/me", {"name": "Alice"}, token=tokens["accessToken"])  # not a login: no mail
    dispatcher.drain()
    assert subjects() == ["Confirm your freshcart email", "New sign-in to freshcart"]


def test_failed_logins_lock_out_with_retry_after(api: Api) -> None:
    user = api.register("alice")
    for _ in range(5):
        resp = api.call("POST", "/auth/login", {"username": "alice", "password": "wrong-password-1"})
        assert resp.status_code == 401
        assert error(resp)["code"] == "invalid_credentials"
    resp = api.call("POST", "/auth/login", {"username": "alice", "password": PASSWORD})
    assert resp.status_code == 429
    assert int(resp.headers["Retry-After"]) > 0
    assert actions(user["userId"]).count("login_failure") == 5


def test_unknown_user_login_is_indistinguishable(api: Api) -> None:
    resp = api.call("POST", "/auth/login", {"email": "ghost@example.com", "password": PASSWORD})
    assert resp.status_code == 401 and error(resp)["code"] == "invalid_credentials"


def test_refresh_rotates_and_reuse_revokes_family(api: Api) -> None:
    api.register("alice")
    first = api.login("alice")
    resp = api.call("POST", "/auth/refresh", {"refreshToken": first["refreshToken"]})
    assert resp.status_code == 200
    second = json_body(resp)
    assert second["refreshToken"] != first["refreshToken"]
    assert api.call("GET", "/users/me", token=second["accessToken"]).status_code == 200
    # the old refresh token is replayed: the whole family dies, including the new tokens
    resp = api.call("POST", "/auth/refresh", {"refreshToken": first["refreshToken"]})
    assert resp.status_code == 401 and error(resp)["code"] == "token_revoked"
    assert api.call("POST", "/auth/refresh", {"refreshToken": second["refreshToken"]}).status_code == 401
    assert api.call("GET", "/users/me", token=second["accessToken"]).status_code == 401
    assert "refresh_reuse_revoked" in actions(first["userId"])


def test_logout_revokes_only_that_session(api: Api) -> None:
    api.register("alice")
    a = api.login("alice")
    b = api.login("alice")
    assert api.call("POST", "/auth/logout", token=a["accessToken"]).status_code == 204
    assert api.call("GET", "/users/me", token=a["accessToken"]).status_code == 401
    assert api.call("POST", "/auth/refresh", {"refreshToken": a["refreshToken"]}).status_code == 401
    assert api.call("GET", "/users/me", token=b["accessToken"]).status_code == 200
    assert "logout" in actions(a["userId"])


def test_password_change_revokes_every_session(api: Api) -> None:
    api.register("alice")
    a, b = api.login("alice"), api.login("alice")
    resp = api.call(
        "POST",
        "/auth/password",
        {"currentPassword": "nope-nope-1", "newPassword": "another-pass-77"},
        token=a["accessToken"],
    )
    assert resp.status_code == 401
    resp = api.call(
        "POST",
        "/auth/password",
        {"currentPassword": PASSWORD, "newPassword": "another-pass-77"},
        token=a["accessToken"],
    )
    assert resp.status_code == 204
    for t in (a, b):
        assert api.call("GET", "/users/me", token=t["accessToken"]).status_code == 401
        assert api.call("POST", "/auth/refresh", {"refreshToken": t["refreshToken"]}).status_code == 401
    assert api.call("POST", "/auth/login", {"username": "alice", "password": PASSWORD}).status_code == 401
    assert api.login("alice", password="another-pass-77")["accessToken"]
    assert "password_change" in actions(a["userId"])


def test_sessions_are_capped(api: Api, monkeypatch: Any) -> None:
    monkeypatch.setenv("MAX_SESSIONS", "3")
    config.reset()
    user = api.register("alice")
    logins = [api.login("alice") for _ in range(5)]
    from chalicelib.users.repo import UsersRepo

    assert len(UsersRepo().get(user["userId"])["sessions"]) == 3
    assert api.call("GET", "/users/me", token=logins[0]["accessToken"]).status_code == 401
    assert api.call("GET", "/users/me", token=logins[-1]["accessToken"]).status_code == 200


def test_verification_email_can_be_resent_a_few_times(api: Api) -> None:
    from moto.backends import get_backend

    from app import app

    token = api.user("alice")["accessToken"]
    dispatcher = Dispatcher(app, "us-east-1", "local")
    dispatcher.discover()
    codes = [api.call("POST", "/auth/verify-email/resend", token=token).status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    dispatcher.drain()
    mails = get_backend("ses")["123456789012"]["us-east-1"].sent_messages
    tokens = [m.body.strip().splitlines()[-1] for m in mails if m.subject == "Confirm your freshcart email"]
    assert len(tokens) == 4  # the registration's and three resends (one per request, no duplicates)
    assert api.call("POST", "/auth/verify-email", {"token": tokens[-1]}).status_code == 200
    resp = api.call("POST", "/auth/verify-email/resend", token=token)
    assert resp.status_code == 409 and error(resp)["code"] == "already_verified"


def test_a_transaction_conflict_is_a_retryable_409_not_a_false_refusal(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On DynamoDB a transaction can be cancelled because another one held the user item (an
    order placement updates it too); that is not a failed condition (disabled, gone)."""
    from chalicelib.core import tx

    api.register("alice")

    def busy(items: Any, operation: str) -> None:
        raise tx.Cancelled(set(), conflict=True)

    monkeypatch.setattr(tx, "commit", busy)
    resp = api.call("POST", "/auth/login", {"username": "alice", "password": PASSWORD})
    assert resp.status_code == 409 and json_body(resp)["error"]["code"] == "contention"
