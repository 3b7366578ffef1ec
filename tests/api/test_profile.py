"""Profile, preferences, addresses (one default), admin listing."""

from __future__ import annotations

from typing import Any

from tests.conftest import Api, json_body

ADDR = {"label": "home", "line1": "1 Main St", "city": "Pune", "state": "MH", "pincode": "411001", "country": "in"}


def test_profile_completion_is_derived(api: Api) -> None:
    t = api.user("alice")["accessToken"]
    me = json_body(api.call("GET", "/users/me", token=t))
    assert me["isProfileComplete"] is False
    assert me["missingProfileFields"] == ["name", "phone", "addresses"]
    resp = api.call(
        "PATCH",
        "/users/me",
        {
            "name": "Alice",
            "phone": "+91 98765 43210",
            "preferences": {"deliveryTime": "morning"},
            "profileCompletionPrompted": True,
        },
        token=t,
    )
    assert resp.status_code == 200
    me = json_body(resp)
    assert me["missingProfileFields"] == ["addresses"] and me["profileCompletionPrompted"] is True
    api.call("POST", "/users/me/addresses", ADDR, token=t)
    me = json_body(api.call("GET", "/users/me", token=t))
    assert me["isProfileComplete"] is True and me["missingProfileFields"] == []


def test_preferences_merge_and_validate(api: Api) -> None:
    t = api.user("alice")["accessToken"]
    api.call("PATCH", "/users/me", {"preferences": {"deliveryTime": "evening"}}, token=t)
    me = json_body(api.call("PATCH", "/users/me", {"preferences": {"newsletterOptIn": True}}, token=t))
    assert me["preferences"] == {"deliveryTime": "evening", "newsletterOptIn": True}
    resp = api.call("PATCH", "/users/me", {"preferences": {"deliveryTime": "midnight"}}, token=t)
    assert resp.status_code == 400 and "preferences.deliveryTime" in json_body(resp)["error"]["fields"]
    resp = api.call("PATCH", "/users/me", {"phone": "call me"}, token=t)
    assert resp.status_code == 400 and "phone" in json_body(resp)["error"]["fields"]


def defaults(api: Api, t: str) -> list[str]:
    items = json_body(api.call("GET", "/users/me/addresses", token=t))["items"]
    return [a["label"] for a in items if a["isDefault"]]


def test_addresses_keep_exactly_one_default(api: Api) -> None:
    t = api.user("alice")["accessToken"]
    first = json_body(api.call("POST", "/users/me/addresses", ADDR, token=t))
    assert first["isDefault"] is True and first["country"] == "IN"
    second = json_body(api.call("POST", "/users/me/addresses", {**ADDR, "label": "work", "isDefault": True}, token=t))
    assert defaults(api, t) == ["work"]
    api.call("PATCH", f"/users/me/addresses/{first['addressId']}", {"isDefault": True}, token=t)
    assert defaults(api, t) == ["home"]
    resp = api.call("PATCH", f"/users/me/addresses/{first['addressId']}", {"isDefault": False}, token=t)
    assert resp.status_code == 409
    assert api.call("DELETE", f"/users/me/addresses/{first['addressId']}", token=t).status_code == 204
    assert defaults(api, t) == ["work"]
    assert api.call("DELETE", f"/users/me/addresses/{second['addressId']}", token=t).status_code == 204
    assert json_body(api.call("GET", "/users/me/addresses", token=t))["items"] == []
    assert api.call("DELETE", f"/users/me/addresses/{second['addressId']}", token=t).status_code == 404


def test_address_validation_and_limit(api: Api) -> None:
    t = api.user("alice")["accessToken"]
    resp = api.call("POST", "/users/me/addresses", {**ADDR, "pincode": "<script>"}, token=t)
    assert resp.status_code == 400 and "pincode" in json_body(resp)["error"]["fields"]
    for i in range(10):
        assert api.call("POST", "/users/me/addresses", {**ADDR, "label": f"a{i}"}, token=t).status_code == 201
    resp = api.call("POST", "/users/me/addresses", ADDR, token=t)
    assert resp.status_code == 409


def test_concurrent_profile_edits_do_not_lose_addresses(api: Api) -> None:
    """Optimistic locking: a write based on a stale read is refused, never silently merged."""
    import threading

    t = api.user("alice")["accessToken"]
    codes: list[int] = []
    barrier = threading.Barrier(6)

    def add(i: int) -> None:
        barrier.wait()
        codes.append(api.call("POST", "/users/me/addresses", {**ADDR, "label": f"a{i}"}, token=t).status_code)

    threads = [threading.Thread(target=add, args=(i,)) for i in range(6)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    stored = json_body(api.call("GET", "/users/me/addresses", token=t))["items"]
    assert codes.count(201) == len(stored) >= 1
    assert set(codes) <= {201, 409}
    assert sum(a["isDefault"] for a in stored) == 1


def test_admin_lists_users_newest_first_with_cursor(api: Api) -> None:
    admin = api.user("root", role="admin")
    for i in range(5):
        api.register(f"user{i}")
    seen: list[dict[str, Any]] = []
    cursor = None
    while True:
        path = "/users?limit=2" + (f"&cursor={cursor}" if cursor else "")
        page = json_body(api.call("GET", path, token=admin["accessToken"]))
        assert len(page["items"]) <= 2
        seen += page["items"]
        cursor = page["nextCursor"]
        if not cursor:
            break
    names = [u["username"] for u in seen]
    assert names[:5] == ["user4", "user3", "user2", "user1", "user0"] and names[-1] == "root"
    assert all(
        set(u) <= {"userId", "username", "email", "role", "status", "createdAt", "name", "emailVerified"} for u in seen
    )
    one = json_body(api.call("GET", f"/users/{seen[0]['userId']}", token=admin["accessToken"]))
    assert one["username"] == "user4"
    assert api.call("GET", "/users/nope", token=admin["accessToken"]).status_code == 404


def test_admin_cannot_demote_or_disable_self(api: Api) -> None:
    admin = api.user("root", role="admin")
    resp = api.call("PATCH", f"/users/{admin['userId']}/role", {"role": "customer"}, token=admin["accessToken"])
    assert resp.status_code == 409
    assert api.call("POST", f"/users/{admin['userId']}/disable", token=admin["accessToken"]).status_code == 409
    resp = api.call("PATCH", f"/users/{admin['userId']}/role", {"role": "superuser"}, token=admin["accessToken"])
    assert resp.status_code == 400 and "role" in json_body(resp)["error"]["fields"]
