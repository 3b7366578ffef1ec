"""Orders for a delivery date and slot: validated against the slot policy, held against each
vendor's capacity per date and slot in the order's own transaction, given back on cancel."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from chalicelib.core import config
from chalicelib.deliveries import slots
from tests.api.test_orders import place
from tests.conftest import json_body, race
from tests.factories import Shop, line


def _days_ahead(n: int) -> str:
    return (slots.policy().local(datetime.now(UTC)).date() + timedelta(days=n)).isoformat()


def _load(vendor: dict[str, Any], day: str) -> dict[str, int]:
    from chalicelib.core.dynamo import read_all
    from chalicelib.vendors.repo import VendorsRepo

    (loads,) = read_all(VendorsRepo().loads_read([vendor["vendorId"]], [day]))
    return dict(loads.get((vendor["vendorId"], day), {}))


def test_an_order_keeps_its_slot_holds_the_vendors_room_and_a_cancel_gives_it_back(shop: Shop) -> None:
    milk = shop.product("Milk")
    vendor = shop.vendor([milk["productId"]], slots={"MORNING": 3, "EVENING": 3})
    shop.stock(milk, vendor, 10)
    token, address = shop.customer("ann")
    tomorrow = _days_ahead(1)
    resp = place(
        shop,
        token,
        address,
        [line(milk, 1)],
        deliveryDate=tomorrow,
        deliverySlot="MORNING",
        specialInstructions="ring twice",
    )
    assert resp.status_code == 201, resp.body
    order = json_body(resp)
    assert (order["deliveryDate"], order["deliverySlot"], order["specialInstructions"]) == (
        tomorrow,
        "MORNING",
        "ring twice",
    )
    assert _load(vendor, tomorrow) == {"n": 1, "MORNING": 1}
    shop.ok("POST", f"/orders/{order['orderId']}/cancel", {}, token=token)
    assert _load(vendor, tomorrow) == {"n": 0, "MORNING": 0}


def test_without_a_slot_an_order_gets_the_earliest_open_one(shop: Shop) -> None:
    milk = shop.product("Milk")
    vendor = shop.vendor([milk["productId"]])
    shop.stock(milk, vendor, 10)
    token, address = shop.customer("ann")
    order = json_body(place(shop, token, address, [line(milk, 1)]))
    first = slots.policy().upcoming(datetime.now(UTC), 1)[0]
    assert (order["deliveryDate"], order["deliverySlot"]) == (first[0].isoformat(), first[1])


@pytest.mark.parametrize(
    ("extra", "status", "field"),
    [
        ({"deliveryDate": "2020-01-01", "deliverySlot": "MORNING"}, 422, "deliveryDate"),
        ({"deliveryDate": "+9"}, 422, "deliverySlot"),  # the date alone (checked as a pair first)
        ({"deliverySlot": "EVENING"}, 422, "deliveryDate"),
        ({"deliveryDate": "tomorrow", "deliverySlot": "MORNING"}, 400, "deliveryDate"),
        ({"deliveryDate": "+1", "deliverySlot": "NIGHT"}, 400, "deliverySlot"),
        ({"deliveryDate": "+30", "deliverySlot": "MORNING"}, 422, "deliveryDate"),  # beyond the horizon
        ({"specialInstructions": "x" * 501}, 400, "specialInstructions"),
    ],
)
def test_a_bad_slot_is_refused_naming_the_field_and_holds_nothing(
    shop: Shop, extra: dict[str, Any], status: int, field: str
) -> None:
    milk = shop.product("Milk")
    vendor = shop.vendor([milk["productId"]])
    shop.stock(milk, vendor, 10)
    token, address = shop.customer("ann")
    if str(extra.get("deliveryDate", "")).startswith("+"):
        extra = {**extra, "deliveryDate": _days_ahead(int(extra["deliveryDate"][1:]))}
    resp = place(shop, token, address, [line(milk, 1)], **extra)
    assert resp.status_code == status, resp.body
    assert field in json_body(resp)["error"]["fields"], resp.body
    assert shop.available(milk, vendor) == (10, 0)


def test_todays_slot_closes_at_its_cut_off(shop: Shop, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DELIVERY_CUTOFFS", "MORNING=00:00,EVENING=00:00")  # both closed all day
    config.reset()
    milk = shop.product("Milk")
    vendor = shop.vendor([milk["productId"]])
    shop.stock(milk, vendor, 10)
    token, address = shop.customer("ann")
    resp = place(shop, token, address, [line(milk, 1)], deliveryDate=_days_ahead(0), deliverySlot="EVENING")
    assert resp.status_code == 422 and "closed" in json_body(resp)["error"]["fields"]["deliverySlot"]
    order = json_body(place(shop, token, address, [line(milk, 1)]))
    assert (order["deliveryDate"], order["deliverySlot"]) == (_days_ahead(1), "MORNING")


def test_a_slot_takes_no_more_orders_than_its_capacity_under_a_30_way_race(shop: Shop) -> None:
    milk = shop.product("Milk")
    vendor = shop.vendor([milk["productId"]], slots={"MORNING": 5, "EVENING": 2})
    shop.stock(milk, vendor, 1000)
    buyers = [shop.customer(f"slot{i}") for i in range(30)]
    tomorrow = _days_ahead(1)
    results = race(
        *[
            lambda t=t, a=a: place(shop, t, a, [line(milk, 1)], deliveryDate=tomorrow, deliverySlot="MORNING")
            for t, a in buyers
        ]
    )
    placed = [r for r in results if r.status_code == 201]
    assert len(placed) == 5, [r.status_code for r in results]
    refused = [json_body(r)["error"] for r in results if r.status_code != 201]
    assert {(r["code"], *r["fields"]) for r in refused} == {("slot_full", "deliverySlot")}
    assert _load(vendor, tomorrow) == {"n": 5, "MORNING": 5}
    assert shop.available(milk, vendor) == (995, 5)
    token, address = buyers[0]
    check = shop.ok(
        "POST",
        "/orders/check",
        {"items": [line(milk, 1)], "addressId": address, "deliveryDate": tomorrow, "deliverySlot": "MORNING"},
        token=token,
    )
    assert check["delivery"] == {"deliveryDate": tomorrow, "deliverySlot": "MORNING", "hasRoom": False}
    assert {"deliveryDate": tomorrow, "deliverySlot": "EVENING"} in check["deliverySlots"]
    assert {"deliveryDate": tomorrow, "deliverySlot": "MORNING"} not in check["deliverySlots"]


def test_a_vendor_that_does_not_deliver_a_slot_is_never_given_it(shop: Shop) -> None:
    milk = shop.product("Milk")
    vendor = shop.vendor([milk["productId"]], slots={"MORNING": 5, "EVENING": 0})
    shop.stock(milk, vendor, 10)
    token, address = shop.customer("ann")
    resp = place(shop, token, address, [line(milk, 1)], deliveryDate=_days_ahead(1), deliverySlot="EVENING")
    assert resp.status_code == 409 and json_body(resp)["error"]["code"] == "slot_full"
    assert shop.available(milk, vendor) == (10, 0)


def test_orders_are_listed_by_their_delivery_date(shop: Shop) -> None:
    milk = shop.product("Milk")
    vendor = shop.vendor([milk["productId"]])
    shop.stock(milk, vendor, 10)
    token, address = shop.customer("ann")
    first = json_body(place(shop, token, address, [line(milk, 1)], deliveryDate=_days_ahead(1), deliverySlot="MORNING"))
    place(shop, token, address, [line(milk, 1)], deliveryDate=_days_ahead(2), deliverySlot="EVENING")
    listed = shop.ok("GET", f"/orders?deliveryDate={_days_ahead(1)}", token=token)["items"]
    assert [o["orderId"] for o in listed] == [first["orderId"]]
    bad = shop.api.call("GET", "/orders?deliveryDate=tomorrow", token=token)
    assert bad.status_code == 400 and "deliveryDate" in json_body(bad)["error"]["fields"]


def test_staff_narrow_a_listing_by_delivery_date_not_the_days_orders(shop: Shop) -> None:
    manager = shop.api.user("mona", role="manager")["accessToken"]
    bad = shop.api.call("GET", f"/orders?deliveryDate={_days_ahead(1)}", token=manager)
    assert bad.status_code == 422 and "deliveryDate" in json_body(bad)["error"]["fields"]
    assert shop.api.call("GET", f"/orders?deliveryDate={_days_ahead(1)}&status=PAID", token=manager).status_code == 200
