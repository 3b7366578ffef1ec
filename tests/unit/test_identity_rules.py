import time

from chalicelib.core.context import ClientInfo
from chalicelib.users.auth import _merge_device, _stale_sessions
from chalicelib.users.profile import _one_default
from chalicelib.users.rules import missing_profile_fields, password_problem


def test_password_policy() -> None:
    assert password_problem("abc") == "must be at least 10 characters"
    assert password_problem("abcdefghijk") == "must contain at least one letter and one digit"
    assert password_problem("é" * 37 + "1") == "must be at most 72 bytes"
    assert password_problem("maria-2024-xyz", email="maria@example.com") == "must not contain your username or email"
    assert password_problem("correct-horse-42", "alice@example.com", "alice") is None


def test_profile_rule() -> None:
    assert missing_profile_fields({}) == ["name", "phone", "addresses"]
    assert missing_profile_fields({"name": "A", "phone": "1", "addresses": [{"addressId": "x"}]}) == []


def test_device_merge_flags_new_device_or_ip_and_caps() -> None:
    d = {"key": "k1", "ip": "1.1.1.1", "lastActive": "t"}
    merged, new = _merge_device([], d)
    assert new and merged == [{**d, "firstSeen": "t"}]
    merged, new = _merge_device(merged, {**d, "lastActive": "t2"})
    assert not new and len(merged) == 1 and merged[0]["lastActive"] == "t2"
    assert merged[0]["firstSeen"] == "t"  # never moves: fraud rules judge against what came before a login
    merged, new = _merge_device(merged, {**d, "ip": "2.2.2.2"})
    assert new and len(merged) == 2
    many = [{"key": f"k{i}", "ip": "x"} for i in range(20)]
    assert len(_merge_device(many, d)[0]) == 10


def test_stale_sessions_drop_expired_and_oldest() -> None:
    now = int(time.time())
    sessions = {
        "old": {"exp": now + 100, "createdAt": "2026-01-01"},
        "mid": {"exp": now + 100, "createdAt": "2026-02-01"},
        "new": {"exp": now + 100, "createdAt": "2026-03-01"},
        "dead": {"exp": now - 1, "createdAt": "2026-04-01"},
    }
    assert sorted(_stale_sessions(sessions, keep=2)) == ["dead", "old"]


def test_one_default_address() -> None:
    a = [{"addressId": "a", "isDefault": False}, {"addressId": "b", "isDefault": True}]
    assert [x["isDefault"] for x in _one_default(a, None)] == [False, True]
    assert [x["isDefault"] for x in _one_default(a, "a")] == [True, False]
    assert [x["isDefault"] for x in _one_default([{"addressId": "c", "isDefault": False}], None)] == [True]


def test_client_info_reads_gateway_identity_and_caps_user_agent() -> None:
    from chalice.app import Request

    from chalicelib.core.http import client_info

    event = {
        "headers": {"user-agent": "x" * 500, "cloudfront-viewer-country": "IN"},
        "multiValueHeaders": {},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": None,
        "stageVariables": None,
        "body": None,
        "isBase64Encoded": False,
        "httpMethod": "GET",
        "requestContext": {"identity": {"sourceIp": "1.2.3.4"}, "resourcePath": "/", "httpMethod": "GET"},
    }
    info = client_info(Request(event))
    assert info == ClientInfo("1.2.3.4", "x" * 256, "IN")
    bare = dict(event, headers={}, requestContext={"resourcePath": "/", "httpMethod": "GET"})
    assert client_info(Request(bare)) == ClientInfo("unknown", "", None)
