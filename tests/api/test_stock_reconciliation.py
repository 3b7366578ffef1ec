"""Stock reconciliation: the counters on the stock rows against a recomputation from the orders
and the change log. Drift injected behind the app's back is found, alerted and left alone; a
consistent store with orders in every state shows none. StockLow reaches the vendor by email."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import pytest
from moto.backends import get_backend

from chalicelib import bootstrap
from chalicelib.core import aws
from chalicelib.core.config import get_settings
from chalicelib.inventory import reconcile
from chalicelib.inventory.repo import InventoryRepo, stock_key
from chalicelib.orders.repo import hold_until
from freshcart_local import lambdas
from freshcart_local.dispatcher import Dispatcher
from tests.api.test_payments import DONE, Checkout
from tests.conftest import Api, json_body
from tests.factories import Shop, line


def watch_alerts(name: str = "watch-alerts") -> str:
    sqs = aws.client("sqs")
    url = str(sqs.create_queue(QueueName=name)["QueueUrl"])
    aws.client("sns").subscribe(
        TopicArn=get_settings().alerts_topic_arn,
        Protocol="sqs",
        Endpoint=f"arn:aws:sqs:us-east-1:123456789012:{name}",
        Attributes={"RawMessageDelivery": "true"},
    )
    return url


def alerts(url: str) -> list[dict[str, Any]]:
    msgs = aws.client("sqs").receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
    return [json.loads(m["Body"]) for m in msgs]


def run_job(api: Api) -> dict[str, Any]:
    client = api.client
    event = client.events.generate_cw_event(
        source="aws.events", detail_type="Scheduled Event", detail={}, resources=["stock_reconciliation"]
    )
    return dict(client.lambda_.invoke("stock_reconciliation", event).payload)


def place(shop: Shop, token: str, address: str, items: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    resp = shop.api.call(
        "POST",
        "/orders",
        {"items": items, "addressId": address, **extra},
        token=token,
        headers={"Idempotency-Key": uuid.uuid4().hex},
    )
    assert resp.status_code == 201, resp.body
    return dict(json_body(resp))


def repo_rows() -> list[dict[str, Any]]:
    return list(InventoryRepo().rows())


def counters() -> list[dict[str, Any]]:
    return sorted(
        ({k: r[k] for k in ("productId", "variantId", "vendorId", "available", "reserved")} for r in repo_rows()),
        key=lambda r: (r["productId"], r["variantId"], r["vendorId"]),
    )


def test_injected_drift_is_found_alerted_and_left_alone(api: Api) -> None:
    shop = Shop(api)
    milk = shop.product("Milk", variants=2)
    vendor = shop.vendor([milk["productId"]])
    shop.stock(milk, vendor, 10)
    shop.stock(milk, vendor, 8, variant=1)
    token, address = shop.customer("ann")
    place(shop, token, address, [line(milk, 2)])
    cancelled = place(shop, token, address, [line(milk, 1), line(milk, 3, variant=1)])
    shop.ok("POST", f"/orders/{cancelled['orderId']}/cancel", {}, token=token)
    assert reconcile.stock_drift() == []  # consistent so far
    # behind the app's back: 3 units appear as reserved on variant 0, one unit vanishes from variant 1
    ddb, table = aws.client("dynamodb"), get_settings().inventory_table
    v0, v1 = milk["variants"][0]["variantId"], milk["variants"][1]["variantId"]
    ddb.update_item(
        TableName=table,
        Key=stock_key(milk["productId"], v0, vendor["vendorId"]),
        UpdateExpression="SET reserved = reserved + :n",
        ExpressionAttributeValues={":n": {"N": "3"}},
    )
    ddb.update_item(
        TableName=table,
        Key=stock_key(milk["productId"], v1, vendor["vendorId"]),
        UpdateExpression="SET available = available - :n",
        ExpressionAttributeValues={":n": {"N": "1"}},
    )
    before = counters()
    watched = watch_alerts()
    result = run_job(api)
    ids = {"productId": milk["productId"], "vendorId": vendor["vendorId"]}
    expected = sorted(
        [
            {**ids, "variantId": v0, "counter": "reserved", "expected": 2, "actual": 5},
            {**ids, "variantId": v1, "counter": "available", "expected": 8, "actual": 7},
        ],
        key=lambda r: r["variantId"],
    )
    assert sorted(result["drift"], key=lambda r: r["variantId"]) == expected
    assert counters() == before  # reported, never "fixed"
    (alert,) = alerts(watched)
    assert alert["type"] == "StockDrift" and alert["data"]["count"] == 2
    assert sorted(alert["data"]["rows"], key=lambda r: r["variantId"]) == expected


def test_a_row_named_by_orders_but_missing_is_drift(api: Api) -> None:
    shop = Shop(api)
    milk = shop.product("Milk")
    vendor = shop.vendor([milk["productId"]])
    shop.stock(milk, vendor, 5)
    token, address = shop.customer("ann")
    place(shop, token, address, [line(milk, 2)])
    aws.client("dynamodb").delete_item(
        TableName=get_settings().inventory_table,
        Key=stock_key(milk["productId"], milk["variants"][0]["variantId"], vendor["vendorId"]),
    )
    drift = reconcile.stock_drift()
    found = {(r["counter"], r["expected"], r["actual"]) for r in drift}
    assert found == {("reserved", 2, None), ("available", 3, None)}


@pytest.fixture
def paying(api: Api, stripe_env: dict[str, Any], client: Any) -> Any:
    from app import app

    lambdas.install(app)
    yield Checkout(api, stripe_env)
    lambdas.uninstall(app)


def test_no_drift_with_orders_in_every_state(paying: Checkout, api: Api) -> None:
    shop = paying
    milk, vendor = shop.milk, shop.vendor_
    shop.stock(milk, vendor, 40)  # a set: logged like every change
    shop.ok("POST", "/inventory/adjust", {**_adjust(milk, vendor), "delta": 5})  # an atomic delta
    scarce = shop.product("Curd", prices={"INR": 2000, "USD": 40})
    other = shop.vendor([scarce["productId"]], name="Curd Co")
    shop.stock(scarce, other, 3, threshold=5)

    buyers = iter([shop.customer(name) for name in ("bob", "cat", "dan", "eve")])
    state: dict[str, Any] = {"who": next(buyers), "n": 0}

    def order(qty: int) -> dict[str, Any]:
        if state["n"] == 4:  # velocity rules hold a fifth order an hour: another customer
            state["who"], state["n"] = next(buyers), 0
        state["n"] += 1
        token, address = state["who"]
        return place(shop, token, address, [line(milk, qty)]) | {"token": token}

    def paid(qty: int) -> dict[str, Any]:
        o = order(qty)
        resp = shop.api.call(
            "POST",
            f"/orders/{o['orderId']}/pay",
            {"paymentMethod": "pm_card_visa"},
            token=o["token"],
            headers={"Idempotency-Key": uuid.uuid4().hex},
        )
        assert resp.status_code == 202, resp.body
        assert shop.payment(o["orderId"], DONE)["status"] == "SUCCEEDED"
        return o

    order(2)  # PENDING_PAYMENT: reserved
    late = order(1)  # its hold will have passed but nobody swept it yet: still reserved
    expired = order(1)  # swept: EXPIRED, released
    _hold_passed(expired["orderId"])
    assert bootstrap.order_lifecycle().sweep()["released"] >= 1
    _hold_passed(late["orderId"])  # after the sweep
    cancelled = order(1)  # cancelled unpaid: released
    shop.ok("POST", f"/orders/{cancelled['orderId']}/cancel", {}, token=cancelled["token"])
    rejected = order(1)  # rejected unpaid: released
    shop.ok("POST", f"/orders/{rejected['orderId']}/reject", {"reason": "no"}, token=shop.manager)
    paid(2)  # PAID: sold
    approved = paid(1)  # APPROVED: sold
    shop.ok("POST", f"/orders/{approved['orderId']}/approve", {}, token=shop.manager)
    back = paid(1)  # paid then cancelled: restocked (refunded by the refunds consumer)
    shop.finished(back["orderId"])
    shop.ok("POST", f"/orders/{back['orderId']}/cancel", {}, token=back["token"])
    partly = paid(2)  # partially refunded: still sold
    shop.settled(partly["orderId"])
    _refund(shop, partly["orderId"], 1000)
    whole = paid(1)  # refunded in full: still sold (a refund moves no stock)
    shop.settled(whole["orderId"])
    _refund(shop, whole["orderId"], None)
    partial = place(shop, shop.token, shop.address, [line(scarce, 5)], allowPartial=True)  # 3 of 5
    assert partial["lines"][0]["quantity"] == 3
    statuses = [shop.get_order(o["orderId"])["status"] for o in (expired, cancelled, rejected, back, partly, whole)]
    assert statuses == ["EXPIRED", "CANCELLED", "REJECTED", "CANCELLED", "PAID", "PAID"]
    refunds = [(shop.get_order(o["orderId"]).get("refund") or {}).get("status") for o in (back, partly, whole)]
    assert refunds[1:] == ["PARTIAL", "DONE"]  # the refund axis; the fulfilment status unmoved
    before = counters()
    result = run_job(api)
    assert result["drift"] == []
    assert counters() == before
    low = [r for r in result["lowStock"] if r["productId"] == scarce["productId"]]
    assert low == [
        {
            "alertType": "LOW_STOCK",
            "severity": "WARNING",
            "productId": scarce["productId"],
            "vendorId": other["vendorId"],
            "variantId": scarce["variants"][0]["variantId"],
            "currentStock": 0,
            "threshold": 5,
        }
    ]
    assert reconcile.low_stock() == result["lowStock"]
    # and the recomputation is not vacuous: 45 supplied, 3 reserved (2 + 1 unswept), 6 sold
    # (2 + 1 approved + 2 partly + 1 whole refunded; the paid-then-cancelled one came back)
    assert shop.available(milk, vendor) == (45 - 3 - 6, 3)


def _adjust(product: dict[str, Any], vendor: dict[str, Any]) -> dict[str, Any]:
    return {
        "productId": product["productId"],
        "variantId": product["variants"][0]["variantId"],
        "vendorId": vendor["vendorId"],
        "reason": "delivery",
    }


def _hold_passed(order_id: str) -> None:
    past = int(time.time()) - 5
    aws.client("dynamodb").update_item(
        TableName=get_settings().orders_table,
        Key={"pk": {"S": f"ORDER#{order_id}"}, "sk": {"S": "META"}},
        UpdateExpression="SET reservation.expiresAt = :past, holdUntil = :hold",
        ExpressionAttributeValues={":past": {"N": str(past)}, ":hold": {"S": hold_until(past)}},
    )


def _refund(shop: Checkout, order_id: str, amount: int | None) -> None:
    body = {"reason": "leaked"} | ({"amount": amount} if amount else {})
    resp = shop.api.call(
        "POST", f"/orders/{order_id}/refunds", body, token=shop.manager, headers={"Idempotency-Key": uuid.uuid4().hex}
    )
    assert resp.status_code == 201, resp.body


def test_stock_low_reaches_the_vendor_by_email(api: Api) -> None:
    from app import app

    shop = Shop(api)
    milk = shop.product("Milk")
    vendor = shop.vendor([milk["productId"]], name="Dairy One")
    shop.stock(milk, vendor, 6, threshold=5)
    token, address = shop.customer("ann")
    place(shop, token, address, [line(milk, 2)])  # 6 -> 4: under 5
    dispatcher = Dispatcher(app, "us-east-1", "local", retry_backoff=0)
    dispatcher.discover()
    dispatcher.drain()  # stream -> StockLow on the inventory topic -> notifications queue -> SES
    sent = get_backend("ses")["123456789012"]["us-east-1"].sent_messages
    mails = [m for m in sent if m.destinations["ToAddresses"] == ["v@example.com"]]
    assert len(mails) == 1, [(m.destinations, m.subject) for m in sent]
    (mail,) = mails
    assert mail.subject == "Low stock: Milk (500ml) - freshcart"
    assert "Hi Dairy One" in mail.body and "4 left" in mail.body and "threshold is 5" in mail.body
    dispatcher.drain()
    assert len([m for m in sent if m.destinations["ToAddresses"] == ["v@example.com"]]) == 1  # once
