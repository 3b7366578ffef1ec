"""Orders: placement, reservations, idempotency, the status machine, access rules."""

from __future__ import annotations

import time
from typing import Any

import pytest

from chalicelib.audit import repo as audit
from chalicelib.core import config
from tests.conftest import json_body, race
from tests.factories import PINCODE, Shop, line


def place(
    shop: Shop, token: str, address: str, items: list[dict[str, Any]], key: str | None = None, **extra: Any
) -> Any:
    headers = {"idempotency-key": key or f"k-{time.time_ns()}"}
    return shop.api.call(
        "POST", "/orders", {"items": items, "addressId": address, **extra}, token=token, headers=headers
    )


def test_place_order_prices_from_catalog_and_reserves(shop: Shop) -> None:
    milk = shop.product("Milk")
    vendor = shop.vendor([milk["productId"]])
    shop.stock(milk, vendor, 10)
    token, address = shop.customer("ann")
    resp = place(shop, token, address, [line(milk, 3)], paymentMethod="upi")
    assert resp.status_code == 201, resp.body
    order = json_body(resp)
    assert order["status"] == "PENDING_PAYMENT"
    assert order["lines"][0]["unitPrice"] == 3000 and order["total"] == 9000 and order["currency"] == "INR"
    assert order["lines"][0]["vendorId"] == vendor["vendorId"]
    assert order["firstOrder"] is True and order["reservation"]["status"] == "held"
    assert shop.available(milk, vendor) == (7, 3)
    me = shop.ok("GET", "/users/me", token=token)
    from chalicelib.users.repo import UsersRepo

    user = UsersRepo().get(me["userId"])
    assert user["orderCount"] == 1 and user["preferredPaymentMethod"] == "upi"
    assert [r["action"] for r in audit.list_for(f"ORDER#{order['orderId']}")] == ["order_placed"]


def test_idempotent_replay_and_key_reuse(shop: Shop) -> None:
    milk = shop.product()
    vendor = shop.vendor([milk["productId"]])
    shop.stock(milk, vendor, 10)
    token, address = shop.customer("ann")
    first = place(shop, token, address, [line(milk, 2)], key="same")
    again = place(shop, token, address, [line(milk, 2)], key="same")
    assert first.status_code == again.status_code == 201
    assert json_body(first) == json_body(again)
    assert shop.available(milk, vendor) == (8, 2)  # reserved once
    other = place(shop, token, address, [line(milk, 3)], key="same")
    assert other.status_code == 422 and json_body(other)["error"]["code"] == "idempotency_key_reused"
    assert shop.available(milk, vendor) == (8, 2)
    assert len(shop.ok("GET", "/orders", token=token)["items"]) == 1
    missing = shop.api.call("POST", "/orders", {"items": [line(milk, 1)], "addressId": address}, token=token)
    assert missing.status_code == 400 and "Idempotency-Key" in json_body(missing)["error"]["fields"]


def test_concurrent_duplicate_creates_one_order(shop: Shop) -> None:
    milk = shop.product()
    vendor = shop.vendor([milk["productId"]])
    shop.stock(milk, vendor, 10)
    token, address = shop.customer("ann")
    responses = race(*[lambda: place(shop, token, address, [line(milk, 1)], key="dup")] * 6)
    assert [r.status_code for r in responses] == [201] * 6, [r.body for r in responses]  # every copy its answer
    assert len({json_body(r)["orderId"] for r in responses}) == 1
    assert shop.available(milk, vendor) == (9, 1)
    assert len(shop.ok("GET", "/orders", token=token)["items"]) == 1


def test_fifty_buyers_for_the_last_five_units(shop: Shop) -> None:
    milk = shop.product()
    vendor = shop.vendor([milk["productId"]])
    shop.stock(milk, vendor, 5)
    buyers = [shop.customer(f"buyer{i}") for i in range(50)]
    responses = race(*[lambda t=t, a=a: place(shop, t, a, [line(milk, 1)]) for t, a in buyers])
    codes = [r.status_code for r in responses]
    errors = [json_body(r)["error"]["code"] for r in responses if r.status_code == 409]
    assert codes.count(201) == 5 and codes.count(409) == 45
    assert set(errors) == {"out_of_stock"}
    assert shop.available(milk, vendor) == (0, 5)


def test_promo_limited_to_five_uses_under_concurrency(shop: Shop) -> None:
    milk = shop.product()
    vendor = shop.vendor([milk["productId"]])
    shop.stock(milk, vendor, 1000)
    shop.promo("FIVE", maxUses=5)
    buyers = [shop.customer(f"promo{i}") for i in range(20)]
    results = race(*[lambda t=t, a=a: place(shop, t, a, [line(milk, 1)], promoCode="FIVE") for t, a in buyers])
    ok = [json_body(r) for r in results if r.status_code == 201]
    assert len(ok) == 5 and all(o["discount"] == 300 and o["total"] == 2700 for o in ok)
    assert all(r.status_code == 409 for r in results if r.status_code != 201)
    assert shop.ok("GET", "/promos/FIVE")["uses"] == 5
    assert shop.available(milk, vendor) == (995, 5)


def test_promo_per_user_limit_and_validity(shop: Shop) -> None:
    milk = shop.product()
    vendor = shop.vendor([milk["productId"]])
    shop.stock(milk, vendor, 100)
    shop.promo("ONCE", kind="fixed", value=500, currency="INR", minOrder=5000, maxUsesPerUser=1)
    shop.promo("OLD", value=50, validTo="2021-01-01T00:00:00Z")
    token, address = shop.customer("ann")
    small = place(shop, token, address, [line(milk, 1)], promoCode="ONCE")
    assert small.status_code == 409 and "promoCode" in json_body(small)["error"]["fields"]
    first = place(shop, token, address, [line(milk, 2)], promoCode="ONCE")
    assert first.status_code == 201 and json_body(first)["discount"] == 500
    second = place(shop, token, address, [line(milk, 2)], promoCode="ONCE")
    assert second.status_code == 409 and json_body(second)["error"]["code"] == "promo_exhausted"
    assert place(shop, token, address, [line(milk, 1)], promoCode="OLD").status_code == 409
    assert shop.available(milk, vendor) == (98, 2)


def test_short_last_line_writes_nothing(shop: Shop) -> None:
    products = [shop.product(f"Item{i}") for i in range(3)]
    vendor = shop.vendor([p["productId"] for p in products])
    for p in products[:2]:
        shop.stock(p, vendor, 10)
    shop.stock(products[2], vendor, 1)
    token, address = shop.customer("ann")
    resp = place(shop, token, address, [line(products[0], 2), line(products[1], 2), line(products[2], 5)])
    assert resp.status_code == 409 and json_body(resp)["error"]["code"] == "out_of_stock"
    assert [shop.available(p, vendor) for p in products] == [(10, 0), (10, 0), (1, 0)]
    assert shop.ok("GET", "/orders", token=token)["items"] == []
    from chalicelib.users.repo import UsersRepo

    assert UsersRepo().get(shop.ok("GET", "/users/me", token=token)["userId"]).get("orderCount", 0) == 0


def test_allow_partial_takes_what_is_available(shop: Shop) -> None:
    a, b = shop.product("A"), shop.product("B")
    vendor = shop.vendor([a["productId"], b["productId"]])
    shop.stock(a, vendor, 10)
    shop.stock(b, vendor, 2)
    token, address = shop.customer("ann")
    order = json_body(place(shop, token, address, [line(a, 3), line(b, 5)], allowPartial=True))
    assert order["partialFulfillment"] is True
    assert [(x["quantity"], x["requested"]) for x in order["lines"]] == [(3, 3), (2, 5)]
    assert order["unavailableLines"] == [
        {
            "productId": b["productId"],
            "variantId": b["variants"][0]["variantId"],
            "requested": 5,
            "available": 2,
            "reason": "partial",
        }
    ]
    assert order["total"] == 5 * 3000
    assert shop.available(b, vendor) == (0, 2)


def test_vendor_choice_rating_then_capacity(shop: Shop) -> None:
    milk = shop.product()
    good = shop.vendor([milk["productId"]], name="Good", rating=4.8, limit=1)
    okay = shop.vendor([milk["productId"]], name="Okay", rating=3.0)
    far = shop.vendor([milk["productId"]], name="Far", rating=5.0, areas=["999999"])
    for v in (good, okay, far):
        shop.stock(milk, v, 10)
    token, address = shop.customer("ann")
    first = json_body(place(shop, token, address, [line(milk, 1)]))
    assert first["lines"][0]["vendorId"] == good["vendorId"]
    second = json_body(place(shop, token, address, [line(milk, 1)]))  # Good is at capacity today
    assert second["lines"][0]["vendorId"] == okay["vendorId"]
    assert shop.available(milk, far) == (10, 0)


def test_more_than_25_lines_rejected(shop: Shop) -> None:
    token, address = shop.customer("ann")
    items = [{"productId": f"p{i}", "variantId": "v", "quantity": 1} for i in range(26)]
    resp = place(shop, token, address, items)
    assert resp.status_code == 400 and "items" in json_body(resp)["error"]["fields"]


@pytest.mark.parametrize(
    "field,value", [("status", "PAID"), ("price", 1), ("userId", "someone"), ("totalAmount", 1), ("total", 1)]
)
def test_mass_assignment_rejected(shop: Shop, field: str, value: Any) -> None:
    milk = shop.product()
    token, address = shop.customer("ann")
    resp = place(shop, token, address, [line(milk, 1)], **{field: value})
    assert resp.status_code == 400 and json_body(resp)["error"]["fields"] == {field: "unknown field"}
    item = {**line(milk, 1), "unitPrice": 1}
    resp = place(shop, token, address, [item])
    assert resp.status_code == 400 and "items.0.unitPrice" in json_body(resp)["error"]["fields"]


def test_cancel_releases_once_and_history_is_kept(shop: Shop) -> None:
    milk = shop.product()
    vendor = shop.vendor([milk["productId"]])
    shop.stock(milk, vendor, 10)
    token, address = shop.customer("ann")
    order = json_body(place(shop, token, address, [line(milk, 4)]))
    cancelled = shop.ok("POST", f"/orders/{order['orderId']}/cancel", {"reason": "changed my mind"}, token=token)
    assert cancelled["status"] == "CANCELLED" and cancelled["reservation"]["status"] == "released"
    assert [h["status"] for h in cancelled["history"]] == ["PENDING_PAYMENT", "CANCELLED"]
    assert shop.available(milk, vendor) == (10, 0)
    again = shop.api.call("POST", f"/orders/{order['orderId']}/cancel", {}, token=token)
    assert again.status_code == 409 and json_body(again)["error"]["code"] == "invalid_transition"
    assert shop.available(milk, vendor) == (10, 0)
    actions = [r["action"] for r in audit.list_for(f"ORDER#{order['orderId']}")]
    assert sorted(actions) == ["order_cancelled", "order_placed"]


def test_manager_approves_paid_and_rejects_with_release(shop: Shop) -> None:
    from chalicelib import bootstrap
    from chalicelib.audit.repo import Actor
    from chalicelib.core import tx

    milk = shop.product()
    vendor = shop.vendor([milk["productId"]])
    shop.stock(milk, vendor, 10)
    token, address = shop.customer("ann")
    manager = shop.api.user("boss", role="manager")["accessToken"]
    unpaid = json_body(place(shop, token, address, [line(milk, 2)]))
    paid = json_body(place(shop, token, address, [line(milk, 3)]))
    lifecycle = bootstrap.order_lifecycle()
    actor = Actor("system", "system", "-", "test")
    tx.commit(lifecycle.paid_items(lifecycle.get(paid["orderId"]), {"paymentId": "pi_1"}, actor, int(time.time())), "t")
    assert shop.available(milk, vendor) == (5, 2)  # the paid reservation was committed
    resp = shop.api.call("POST", f"/orders/{unpaid['orderId']}/approve", token=manager)
    assert resp.status_code == 409  # only paid orders can be approved
    approved = shop.ok("POST", f"/orders/{paid['orderId']}/approve", token=manager)
    assert approved["status"] == "APPROVED" and approved["history"][-1]["role"] == "manager"
    rejected = shop.ok("POST", f"/orders/{unpaid['orderId']}/reject", {"reason": "fraud check"}, token=manager)
    assert rejected["status"] == "REJECTED"
    assert shop.available(milk, vendor) == (7, 0)
    # the customer cancels the approved (paid) order before dispatch: stock back, refund flagged
    cancelled = shop.ok("POST", f"/orders/{paid['orderId']}/cancel", {}, token=token)
    assert cancelled["refund"] == {"status": "REQUIRED", "amount": 0, "owed": 9000, "currency": "INR"}
    assert shop.available(milk, vendor) == (10, 0)
    assert shop.api.call("POST", f"/orders/{paid['orderId']}/approve", token=token).status_code == 403


def test_bola_other_customers_and_vendors(shop: Shop) -> None:
    milk, bread = shop.product("Milk"), shop.product("Bread")
    owner_user = shop.api.register("vend")
    v1 = shop.vendor([milk["productId"]], name="V1", owner=owner_user["userId"])
    v2 = shop.vendor([bread["productId"]], name="V2")
    shop.stock(milk, v1, 10)
    shop.stock(bread, v2, 10)
    token, address = shop.customer("ann")
    mallory, _ = shop.customer("mallory")
    order = json_body(place(shop, token, address, [line(milk, 1), line(bread, 1)]))
    oid = order["orderId"]
    for method, path in [("GET", f"/orders/{oid}"), ("POST", f"/orders/{oid}/cancel")]:
        resp = shop.api.call(method, path, {} if method == "POST" else None, token=mallory)
        assert resp.status_code == 404, path
    assert shop.api.call("POST", f"/orders/{oid}/approve", token=mallory).status_code == 403
    vendor_token = shop.api.login("vend")["accessToken"]
    seen = shop.ok("GET", f"/orders/{oid}", token=vendor_token)
    assert [x["productId"] for x in seen["lines"]] == [milk["productId"]]
    assert "total" not in seen and "userId" not in seen and "history" not in seen
    assert shop.ok("GET", f"/orders/{oid}", token=token)["status"] == "PENDING_PAYMENT"


def past_holds() -> None:
    """Into the next second: holds are kept to the second, and the sweeper takes those before now."""
    time.sleep(1.02 - time.time() % 1)


@pytest.fixture
def short_holds(shop: Shop, monkeypatch: pytest.MonkeyPatch) -> tuple[dict[str, Any], dict[str, Any], str, str]:
    """Reservations that expire at once (wait with ``past_holds``); returns (product, vendor with 10
    in stock, token, addressId)."""
    monkeypatch.setenv("RESERVATION_TTL_SECONDS", "0")
    config.reset()
    milk = shop.product()
    vendor = shop.vendor([milk["productId"]])
    shop.stock(milk, vendor, 10)
    token, address = shop.customer("ann")
    return milk, vendor, token, address


def test_reservation_expiry_returns_stock_exactly_once(shop: Shop, short_holds: tuple) -> None:
    from chalicelib import bootstrap

    milk, vendor, token, address = short_holds
    order = json_body(place(shop, token, address, [line(milk, 4)]))
    past_holds()
    sweep, cancel, read = race(
        bootstrap.order_lifecycle().sweep,
        lambda: shop.api.call("POST", f"/orders/{order['orderId']}/cancel", {}, token=token),
        lambda: shop.api.call("GET", f"/orders/{order['orderId']}", token=token),
    )
    assert read.status_code == 200 and cancel.status_code in (200, 409)
    assert sweep["released"] in (0, 1)
    assert shop.available(milk, vendor) == (10, 0)  # released once, not twice
    final = shop.ok("GET", f"/orders/{order['orderId']}", token=token)
    assert final["status"] in ("EXPIRED", "CANCELLED")
    assert [h["status"] for h in final["history"]].count(final["status"]) == 1
    assert len(final["history"]) == 2


def test_expiry_on_read_and_sweeper_job(shop: Shop, short_holds: tuple) -> None:
    from app import app
    from freshcart_local.scheduler import run_job

    milk, vendor, token, address = short_holds
    a = json_body(place(shop, token, address, [line(milk, 1)]))
    b = json_body(place(shop, token, address, [line(milk, 2)]))
    past_holds()
    assert shop.ok("GET", f"/orders/{a['orderId']}", token=token)["status"] == "EXPIRED"
    assert run_job(app, "expire_reservations", "us-east-1") == {"due": 1, "released": 1}
    assert shop.ok("GET", f"/orders/{b['orderId']}", token=token)["status"] == "EXPIRED"
    assert shop.available(milk, vendor) == (10, 0)


def test_lists_mine_newest_first_and_manager_filters(shop: Shop) -> None:
    milk = shop.product()
    vendor = shop.vendor([milk["productId"]])
    shop.stock(milk, vendor, 100)
    ann, ann_addr = shop.customer("ann")
    bob, bob_addr = shop.customer("bob")
    ids = [json_body(place(shop, ann, ann_addr, [line(milk, 1)]))["orderId"] for _ in range(3)]
    bob_order = json_body(place(shop, bob, bob_addr, [line(milk, 1)]))["orderId"]
    shop.ok("POST", f"/orders/{ids[0]}/cancel", {}, token=ann)
    page = shop.ok("GET", "/orders?limit=2", token=ann)
    assert [o["orderId"] for o in page["items"]] == [ids[2], ids[1]]
    rest = shop.ok("GET", f"/orders?limit=2&cursor={page['nextCursor']}", token=ann)
    assert [o["orderId"] for o in rest["items"]] == [ids[0]]
    assert shop.api.call("GET", "/orders?status=CANCELLED", token=ann).status_code == 403
    manager = shop.api.user("boss", role="manager")["accessToken"]
    cancelled = shop.ok("GET", "/orders?status=CANCELLED", token=manager)
    assert [o["orderId"] for o in cancelled["items"]] == [ids[0]]
    me_bob = shop.ok("GET", "/users/me", token=bob)["userId"]
    assert [o["orderId"] for o in shop.ok("GET", f"/orders?userId={me_bob}", token=manager)["items"]] == [bob_order]
    assert len(shop.ok("GET", "/orders", token=manager)["items"]) == 4  # today's orders
    assert shop.api.call("GET", "/orders?status=NOPE", token=manager).status_code == 400


def test_pre_order_check(shop: Shop) -> None:
    milk = shop.product("Milk", variants=2)
    near = shop.vendor([milk["productId"]], name="Near", rating=4.5)
    other = shop.vendor([milk["productId"]], name="Other", rating=3.0)
    shop.stock(milk, near, 2, variant=0)
    shop.stock(milk, other, 1, variant=0)
    shop.stock(milk, near, 10, variant=1)
    shop.promo("TEN", maxUses=5)
    token = shop.api.user("ann")["accessToken"]  # profile incomplete
    result = shop.ok(
        "POST", "/orders/check", {"items": [line(milk, 5)], "pincode": PINCODE, "promoCode": "TEN"}, token=token
    )
    assert result["profile"] == {
        "isProfileComplete": False,
        "missingFields": ["name", "phone", "addresses"],
        "profileCompletionPrompted": True,
    }
    assert shop.ok("GET", "/users/me", token=token)["profileCompletionPrompted"] is True
    got = result["lines"][0]
    assert got["status"] == "partial" and got["available"] == 2
    assert got["alternatives"]["vendors"] == [{"vendorId": other["vendorId"], "name": "Other", "available": 1}]
    assert got["alternatives"]["variants"][0]["variantId"] == milk["variants"][1]["variantId"]
    assert result["quote"]["subtotal"] == 6000 and result["quote"]["discount"] == 600
    assert result["firstOrder"] is True and result["serviceable"] is True
    nowhere = shop.ok("POST", "/orders/check", {"items": [line(milk, 1)], "pincode": "111111"}, token=token)
    assert nowhere["serviceable"] is False and nowhere["lines"][0]["status"] == "out_of_stock"
    usd = shop.ok(
        "POST", "/orders/check", {"items": [line(milk, 1)], "pincode": PINCODE, "currency": "USD"}, token=token
    )
    assert usd["quote"] == {
        "currency": "USD",
        "subtotal": 50,
        "discount": 0,
        "total": 50,
        "promoCode": None,
        "promoError": None,
    }


def test_cancel_gives_the_promo_use_back(shop: Shop) -> None:
    milk = shop.product()
    vendor = shop.vendor([milk["productId"]])
    shop.stock(milk, vendor, 10)
    shop.promo("ONLY1", maxUses=1, maxUsesPerUser=1)
    token, address = shop.customer("ann")
    order = json_body(place(shop, token, address, [line(milk, 1)], promoCode="ONLY1"))
    assert order["promoCode"] == "ONLY1" and shop.ok("GET", "/promos/ONLY1")["uses"] == 1
    shop.ok("POST", f"/orders/{order['orderId']}/cancel", {}, token=token)
    assert shop.ok("GET", "/promos/ONLY1")["uses"] == 0
    again = place(shop, token, address, [line(milk, 1)], promoCode="ONLY1")  # the per-user use came back too
    assert again.status_code == 201, again.body
    assert shop.ok("GET", "/promos/ONLY1")["uses"] == 1


def test_expiry_gives_the_promo_use_back(shop: Shop, short_holds: tuple) -> None:
    from chalicelib import bootstrap

    milk, vendor, token, address = short_holds
    shop.promo("ONLY1", maxUses=1, maxUsesPerUser=1)
    order = json_body(place(shop, token, address, [line(milk, 2)], promoCode="ONLY1"))
    assert shop.ok("GET", "/promos/ONLY1")["uses"] == 1
    past_holds()
    assert bootstrap.order_lifecycle().sweep() == {"due": 1, "released": 1}
    assert shop.ok("GET", f"/orders/{order['orderId']}", token=token)["status"] == "EXPIRED"
    assert shop.ok("GET", "/promos/ONLY1")["uses"] == 0
    assert shop.available(milk, vendor) == (10, 0)


def test_manager_filters_by_date_range_day_and_user_with_status(shop: Shop) -> None:
    from datetime import UTC, datetime, timedelta

    milk = shop.product()
    vendor = shop.vendor([milk["productId"]])
    shop.stock(milk, vendor, 100)
    ann, ann_addr = shop.customer("ann")
    bob, bob_addr = shop.customer("bob")
    a1 = json_body(place(shop, ann, ann_addr, [line(milk, 1)]))["orderId"]
    a2 = json_body(place(shop, ann, ann_addr, [line(milk, 1)]))["orderId"]
    b1 = json_body(place(shop, bob, bob_addr, [line(milk, 1)]))["orderId"]
    shop.ok("POST", f"/orders/{a2}/cancel", {}, token=ann)
    manager = shop.api.user("boss", role="manager")["accessToken"]
    today = datetime.now(UTC).date()
    yesterday, tomorrow = (today - timedelta(days=1)).isoformat(), (today + timedelta(days=1)).isoformat()
    since, until = f"{yesterday}T00:00:00Z", f"{tomorrow}T00:00:00Z"

    def ids(query: str) -> list[str]:
        return [o["orderId"] for o in shop.ok("GET", f"/orders?{query}", token=manager)["items"]]

    assert ids(f"day={today.isoformat()}") == [b1, a2, a1]
    assert ids(f"day={yesterday}") == []
    assert ids(f"status=PENDING_PAYMENT&from={since}&to={until}") == [b1, a1]
    assert ids(f"status=PENDING_PAYMENT&from={until}&to={until}") == []
    ann_id = shop.ok("GET", "/users/me", token=ann)["userId"]
    assert ids(f"userId={ann_id}&status=CANCELLED") == [a2]
    assert ids(f"userId={ann_id}&from={since}&to={until}") == [a2, a1]
    half = shop.api.call("GET", f"/orders?from={since}", token=manager)
    assert half.status_code == 422 and json_body(half)["error"]["fields"] == {"to": "required with the other"}
    backwards = shop.api.call("GET", f"/orders?status=CANCELLED&from={until}&to={since}", token=manager)
    assert backwards.status_code == 422 and json_body(backwards)["error"]["fields"] == {"from": "after to"}
    unscoped = shop.api.call("GET", f"/orders?from={since}&to={until}", token=manager)  # was: today's, silently
    assert unscoped.status_code == 422 and json_body(unscoped)["error"]["fields"] == {"from": "needs status or userId"}
    bad = shop.api.call("GET", "/orders?status=PENDING_PAYMENT&from=yesterday&to=today", token=manager)
    assert bad.status_code == 400 and "from" in json_body(bad)["error"]["fields"]
