"""Products, vendors and stock: permissions, optimistic locking, indexes, the stock log."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Api, json_body
from tests.factories import PINCODE, Shop, vendor_body


@pytest.fixture
def shop(api: Api) -> Shop:
    return Shop(api)


def test_products_public_listing_by_category_with_cursor(shop: Shop) -> None:
    for name in ("Curd", "Butter", "Milk"):
        shop.product(name)
    shop.product("Bread", category="bakery")
    page = shop.ok("GET", "/products?limit=2", token=None)
    rest = shop.ok("GET", f"/products?limit=2&cursor={page['nextCursor']}")
    names = [p["name"] for p in page["items"] + rest["items"]]
    assert names == ["Bread", "Butter", "Curd", "Milk"]
    dairy = shop.api.client.http.get("/products?category=dairy")
    assert [p["name"] for p in json_body(dairy)["items"]] == ["Butter", "Curd", "Milk"]
    assert shop.api.client.http.get("/products?category=Not%20A%20Slug").status_code == 400
    assert shop.api.client.http.get("/products?limit=101").status_code == 400


def test_prices_are_integer_minor_units_and_images_https(shop: Shop) -> None:
    base = {
        "name": "Milk",
        "category": "dairy",
        "variants": [{"name": "1L", "unit": "l", "sku": "M1", "prices": {"INR": 6000}}],
    }
    for bad, field in [
        ({"imageUrl": "http://x.example.com/a.png"}, "imageUrl"),
        ({"variants": [{**base["variants"][0], "prices": {"INR": 60.5}}]}, "variants.0.prices.INR"),
        ({"variants": [{**base["variants"][0], "prices": {"inr": 60}}]}, "variants.0.prices.inr"),
        ({"variants": []}, "variants"),
    ]:
        resp = shop.api.call("POST", "/products", {**base, **bad}, token=shop.admin)
        assert resp.status_code == 400, bad
        assert any(k.startswith(field.split(".")[0]) for k in json_body(resp)["error"]["fields"]), resp.body


def test_optimistic_locking_and_deactivation(shop: Shop) -> None:
    milk = shop.product("Milk")
    pid = milk["productId"]
    updated = shop.ok("PATCH", f"/products/{pid}", {"version": 0, "name": "Whole Milk"})
    assert updated["version"] == 1 and updated["name"] == "Whole Milk"
    stale = shop.api.call("PATCH", f"/products/{pid}", {"version": 0, "name": "Skim"}, token=shop.admin)
    assert stale.status_code == 409 and json_body(stale)["error"]["code"] == "version_conflict"
    assert shop.ok("GET", f"/products/{pid}")["name"] == "Whole Milk"
    shop.ok("DELETE", f"/products/{pid}")
    assert shop.api.client.http.get(f"/products/{pid}").status_code == 404
    assert json_body(shop.api.client.http.get("/products"))["items"] == []


def test_vendor_edits_only_products_it_offers(shop: Shop) -> None:
    milk, bread = shop.product("Milk"), shop.product("Bread")
    owner = shop.api.register("vend")
    vendor = shop.vendor([milk["productId"]], owner=owner["userId"])
    token = shop.api.login("vend")["accessToken"]
    assert shop.ok("GET", "/vendors/me", token=token)["vendorId"] == vendor["vendorId"]
    assert shop.ok("PATCH", f"/products/{milk['productId']}", {"version": 0, "description": "A2"}, token=token)
    resp = shop.api.call("PATCH", f"/products/{bread['productId']}", {"version": 0, "description": "x"}, token=token)
    assert resp.status_code == 403
    created = shop.ok(
        "POST",
        "/products",
        {
            "name": "Ghee",
            "category": "dairy",
            "variants": [{"name": "200g", "unit": "g", "sku": "G1", "prices": {"INR": 25000}}],
        },
        token=token,
        status=201,
    )
    assert created["productId"] in shop.ok("GET", "/vendors/me", token=token)["products"]
    customer = shop.api.user("cust")["accessToken"]
    assert shop.api.call("POST", "/products", {"name": "X"}, token=customer).status_code == 403


def test_vendors_by_pincode_from_the_area_index(shop: Shop) -> None:
    milk = shop.product()
    a = shop.vendor([milk["productId"]], name="A", rating=3.5)
    b = shop.vendor([milk["productId"]], name="B", rating=4.9, areas=[PINCODE, "560002"])
    found = json_body(shop.api.client.http.get(f"/vendors?pincode={PINCODE}"))["items"]
    assert [v["name"] for v in found] == ["B", "A"] and set(found[0]) == {"vendorId", "name", "rating"}
    # b moves out of PINCODE: its area entry goes with it
    current = shop.ok("GET", f"/vendors/{b['vendorId']}")
    shop.ok("PATCH", f"/vendors/{b['vendorId']}", {"version": current["version"], "serviceAreas": ["560002"]})
    assert [v["name"] for v in json_body(shop.api.client.http.get(f"/vendors?pincode={PINCODE}"))["items"]] == ["A"]
    shop.ok("POST", f"/vendors/{a['vendorId']}/deactivate")
    assert json_body(shop.api.client.http.get(f"/vendors?pincode={PINCODE}"))["items"] == []
    assert shop.api.client.http.get("/vendors").status_code == 400
    assert {v["name"] for v in shop.ok("GET", "/vendors/all")["items"]} == {"A", "B"}
    resp = shop.api.call("POST", "/vendors", vendor_body(["nope"]), token=shop.admin)
    assert resp.status_code == 422 and json_body(resp)["error"]["fields"] == {"products": "not in the catalog: nope"}


def test_vendor_role_link_and_bola(shop: Shop) -> None:
    owner = shop.api.user("vend")
    vendor = shop.vendor([], owner=owner["userId"])
    other = shop.vendor([], name="Other")
    assert shop.api.call("GET", "/users/me", token=owner["accessToken"]).status_code == 401  # role changed
    token = shop.api.login("vend")["accessToken"]
    assert shop.api.call("GET", f"/vendors/{other['vendorId']}", token=token).status_code == 404
    resp = shop.api.call("PATCH", f"/vendors/{other['vendorId']}", {"version": 0, "name": "Mine"}, token=token)
    assert resp.status_code == 404
    resp = shop.api.call("PATCH", f"/vendors/{vendor['vendorId']}", {"version": 0, "rating": 5}, token=token)
    assert resp.status_code == 400 and json_body(resp)["error"]["fields"] == {"rating": "unknown field"}
    assert shop.ok("PATCH", f"/vendors/{vendor['vendorId']}", {"version": 0, "name": "Renamed"}, token=token)


def test_stock_changes_are_logged_and_never_negative(shop: Shop) -> None:
    milk = shop.product()
    owner = shop.api.register("vend")
    vendor = shop.vendor([milk["productId"]], owner=owner["userId"])
    token = shop.api.login("vend")["accessToken"]
    ref = {"productId": milk["productId"], "variantId": milk["variants"][0]["variantId"]}
    shop.ok("POST", "/inventory/adjust", {**ref, "set": 10, "reason": "opening", "lowStockThreshold": 3}, token=token)
    row = shop.ok("POST", "/inventory/adjust", {**ref, "delta": -8, "reason": "spoilt"}, token=token)
    assert row["available"] == 2 and row["lowStock"] is True
    resp = shop.api.call("POST", "/inventory/adjust", {**ref, "delta": -5, "reason": "oops"}, token=token)
    assert resp.status_code == 409 and shop.available(milk, vendor) == (2, 0)
    log = shop.ok("GET", "/inventory/log", token=token)["items"]
    assert [(x["delta"], x["reason"], x["by"]) for x in log] == [
        (-8, "spoilt", owner["userId"]),
        (10, "opening", owner["userId"]),
    ]
    listed = shop.ok("GET", "/inventory", token=token)["items"]
    assert [(x["available"], x["lowStock"]) for x in listed] == [(2, True)]
    other = shop.vendor([milk["productId"]], name="Other")
    resp = shop.api.call(
        "POST", "/inventory/adjust", {**ref, "vendorId": other["vendorId"], "set": 1, "reason": "x"}, token=token
    )
    assert resp.status_code == 403
    bread = shop.product("Bread")
    resp = shop.api.call(
        "POST",
        "/inventory/adjust",
        {"productId": bread["productId"], "variantId": bread["variants"][0]["variantId"], "set": 1, "reason": "x"},
        token=token,
    )
    assert resp.status_code == 409 and "productId" in json_body(resp)["error"]["fields"]
    customer = shop.api.user("cust")["accessToken"]
    assert shop.api.call("GET", "/inventory", token=customer).status_code == 403


def test_promo_admin_only_and_validated(shop: Shop) -> None:
    customer = shop.api.user("cust")["accessToken"]
    body: dict[str, Any] = {
        "code": "SAVE",
        "kind": "percent",
        "value": 150,
        "validFrom": "2020-01-01T00:00:00Z",
        "validTo": "2099-01-01T00:00:00Z",
        "maxUses": 5,
    }
    assert shop.api.call("POST", "/promos", body, token=customer).status_code == 403
    assert shop.api.call("POST", "/promos", body, token=shop.admin).status_code == 400
    shop.ok("POST", "/promos", {**body, "value": 15}, status=201)
    assert shop.api.call("POST", "/promos", {**body, "value": 15}, token=shop.admin).status_code == 409
    assert shop.ok("PATCH", "/promos/SAVE", {"maxUses": 9})["maxUses"] == 9
    assert shop.ok("DELETE", "/promos/SAVE")["active"] is False
    assert [p["code"] for p in shop.ok("GET", "/promos")["items"]] == ["SAVE"]


def test_concurrent_deltas_are_not_lost(shop: Shop) -> None:
    import threading

    milk = shop.product()
    vendor = shop.vendor([milk["productId"]])
    shop.stock(milk, vendor, 5)
    ref = {
        "productId": milk["productId"],
        "variantId": milk["variants"][0]["variantId"],
        "vendorId": vendor["vendorId"],
        "reason": "delivery",
    }
    codes: list[int] = []
    barrier = threading.Barrier(10)

    def add() -> None:
        barrier.wait()
        codes.append(shop.api.call("POST", "/inventory/adjust", {**ref, "delta": 1}, token=shop.admin).status_code)

    threads = [threading.Thread(target=add) for _ in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert codes == [200] * 10
    assert shop.available(milk, vendor) == (15, 0)
    assert len(shop.ok("GET", f"/inventory/log?vendorId={vendor['vendorId']}")["items"]) == 11


def test_stale_vendor_version_is_a_conflict(shop: Shop) -> None:
    vendor = shop.vendor([])
    shop.ok("PATCH", f"/vendors/{vendor['vendorId']}", {"version": 0, "name": "Renamed"})
    stale = shop.api.call("PATCH", f"/vendors/{vendor['vendorId']}", {"version": 0, "name": "Lost"}, token=shop.admin)
    assert stale.status_code == 409 and json_body(stale)["error"]["code"] == "version_conflict"
    assert shop.ok("GET", f"/vendors/{vendor['vendorId']}")["name"] == "Renamed"


def test_inventory_set_racing_a_reservation_stays_consistent(shop: Shop) -> None:
    from tests.api.test_orders import place
    from tests.conftest import race
    from tests.factories import line

    milk = shop.product()
    vendor = shop.vendor([milk["productId"]])
    token, address = shop.customer("ann")
    ref = {"productId": milk["productId"], "variantId": milk["variants"][0]["variantId"], "reason": "count"}
    for round_ in range(4):
        shop.stock(milk, vendor, 10)
        before = shop.available(milk, vendor)
        set_to, order = race(
            lambda: shop.api.call(
                "POST", "/inventory/adjust", {**ref, "vendorId": vendor["vendorId"], "set": 20}, token=shop.admin
            ),
            lambda round_=round_: place(shop, token, address, [line(milk, 3)], key=f"race-{round_}"),
        )
        assert order.status_code == 201, order.body
        available, reserved = shop.available(milk, vendor)
        assert reserved == before[1] + 3  # the reservation is never lost
        if set_to.status_code == 200:  # the count landed before the order (17) or after it (20)
            assert available in (17, 20)
        else:  # the count read 10, the order took 3 meanwhile: refused, nothing written
            assert set_to.status_code == 409 and json_body(set_to)["error"]["code"] == "stock_conflict"
            assert available == 7
        shop.ok("POST", f"/orders/{json_body(order)['orderId']}/cancel", {}, token=token)


def test_vendor_creating_a_product_while_its_record_changes(shop: Shop) -> None:
    """The new product's offer is conditional on the vendor's version: a concurrent vendor edit
    makes one of the two a 409, never a 500, and nothing is half-written."""
    from tests.conftest import race

    owner = shop.api.register("vend")
    vendor = shop.vendor([], owner=owner["userId"])
    token = shop.api.login("vend")["accessToken"]
    for i in range(6):
        version = shop.ok("GET", f"/vendors/{vendor['vendorId']}")["version"]
        body = {
            "name": f"Curd {i}",
            "category": "dairy",
            "variants": [{"name": "400g", "unit": "g", "sku": f"C{i}", "prices": {"INR": 5000}}],
        }
        created, edited = race(
            lambda body=body: shop.api.call("POST", "/products", body, token=token),
            lambda version=version, i=i: shop.api.call(
                "PATCH", f"/vendors/{vendor['vendorId']}", {"version": version, "name": f"V{i}"}, token=shop.admin
            ),
        )
        assert {created.status_code, edited.status_code} <= {200, 201, 409}, (created.body, edited.body)
        offered = shop.ok("GET", f"/vendors/{vendor['vendorId']}")["products"]
        if created.status_code == 201:
            assert json_body(created)["productId"] in offered
        else:
            assert json_body(created)["error"]["code"] == "version_conflict"
            names = [p["name"] for p in shop.ok("GET", "/products?limit=100")["items"]]
            assert body["name"] not in names  # no product without its offer


def test_the_public_catalog_does_not_show_who_edited(shop: Shop) -> None:
    milk = shop.product("Milk")
    assert milk["createdBy"]  # the editor's answer names them
    listed = shop.api.call("GET", "/products")
    one = shop.api.call("GET", f"/products/{milk['productId']}")
    for product in [*json_body(listed)["items"], json_body(one)]:
        assert "createdBy" not in product and "updatedBy" not in product
