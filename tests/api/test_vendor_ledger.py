"""A vendor's own money over HTTP (issue 19 §4): its ledger (settlements and their reversals,
with a cursor) and a per-day payout summary, for its staff and admins only."""

from __future__ import annotations

from typing import Any

from tests.api.test_payments import Checkout
from tests.conftest import json_body


def test_a_vendor_reads_its_own_settlements_reversals_and_payouts(checkout: Checkout) -> None:
    shop, api = checkout, checkout.api
    owner = api.user("vera")
    ghee = shop.product("Ghee", prices={"INR": 3000, "USD": 50})  # Vera's alone
    vendor = shop.vendor([ghee["productId"]], name="Vera Dairy", owner=owner["userId"])
    shop.stock(ghee, vendor, 50)
    token = api.login("vera")["accessToken"]  # the role changed: a new login carries it
    orders = []
    for _ in range(3):
        order = shop.order(2, product=ghee)  # 6000 each: 5700 settled to Vera
        shop.pay(order["orderId"])
        shop.payment(order["orderId"], {"SUCCEEDED"})
        shop.settled(order["orderId"])
        orders.append(order)
    mine = orders
    refund = api.call(
        "POST",
        f"/orders/{mine[0]['orderId']}/refunds",
        {"amount": 1000, "reason": "leak"},
        token=shop.manager,
        headers={"Idempotency-Key": "vl-1"},
    )
    assert refund.status_code == 201

    def page(cursor: str | None = None, who: str = token, **q: Any) -> Any:
        query = "&".join(f"{k}={v}" for k, v in {"limit": 3, **q, **({"cursor": cursor} if cursor else {})}.items())
        return api.call("GET", f"/vendors/{vendor['vendorId']}/ledger?{query}", token=who)

    items, cursor, pages = [], None, 0
    while True:
        resp = page(cursor)
        assert resp.status_code == 200, resp.body
        body = json_body(resp)
        shop.conforms("VendorLedger", body)
        items += body["items"]
        pages += 1
        cursor = body.get("nextCursor")
        if not cursor:
            break
    assert pages >= 2 and len(items) == len(mine) + 1
    kinds = sorted((i["kind"], i["amount"]) for i in items)
    assert kinds == sorted([("SETTLEMENT", 5700)] * len(mine) + [("SETTLEMENT_REVERSAL", -950)])
    assert all(i["orderId"] in {o["orderId"] for o in mine} for i in items)
    payouts = json_body(api.call("GET", f"/vendors/{vendor['vendorId']}/payouts", token=token))
    shop.conforms("Payouts", payouts)
    (day,) = payouts["days"]
    assert (day["settled"], day["reversed"], day["net"]) == (5700 * len(mine), 950, 5700 * len(mine) - 950)
    # nobody else's money: another vendor's staff and a customer get 404, an admin sees it
    other = api.user("otto")
    shop.vendor([shop.milk["productId"]], name="Otto Dairy", owner=other["userId"])
    otto = api.login("otto")["accessToken"]
    assert page(who=otto).status_code == 404
    assert page(who=shop.token).status_code == 404
    assert page(who=shop.admin).status_code == 200
    assert page(**{"from": "2030-01-02", "to": "2030-01-01"}).status_code == 422
    assert page(**{"from": "2030-01-01", "to": "2030-06-01"}).status_code == 422  # more than 92 days
    assert page(**{"from": "2030-02-30"}).status_code == 400
    assert json_body(page(**{"from": "2030-01-01", "to": "2030-01-31"}))["items"] == []
