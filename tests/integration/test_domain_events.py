"""Domain events come from the tables' streams: one envelope format, one event per change."""

from __future__ import annotations

import json
from typing import Any

import pytest

from chalicelib.core import aws
from chalicelib.core.config import get_settings
from freshcart_local.dispatcher import Dispatcher
from tests.conftest import Api, json_body
from tests.factories import Shop, line


def watch(topic_arn: str, name: str) -> str:
    sqs, sns = aws.client("sqs"), aws.client("sns")
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    sns.subscribe(
        TopicArn=topic_arn,
        Protocol="sqs",
        Endpoint=f"arn:aws:sqs:us-east-1:123456789012:{name}",
        Attributes={"RawMessageDelivery": "true"},
    )
    return str(url)


def received(url: str) -> list[dict[str, Any]]:
    out = []
    while True:
        msgs = aws.client("sqs").receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        if not msgs:
            return out
        for m in msgs:
            out.append(json.loads(m["Body"]))
            aws.client("sqs").delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])


@pytest.fixture
def shop(api: Api) -> Shop:
    return Shop(api)


def test_order_and_stock_events(shop: Shop) -> None:
    from app import app

    s = get_settings()
    orders_q = watch(s.order_events_topic_arn, "watch-orders")
    stock_q = watch(s.inventory_events_topic_arn, "watch-stock")
    milk = shop.product()
    vendor = shop.vendor([milk["productId"]])
    shop.stock(milk, vendor, 6, threshold=5)
    token, address = shop.customer("ann")
    resp = shop.api.call(
        "POST",
        "/orders",
        {"items": [line(milk, 2)], "addressId": address},
        token=token,
        headers={"idempotency-key": "e1", "x-correlation-id": "corr-9"},
    )
    order = json_body(resp)
    shop.ok("POST", f"/orders/{order['orderId']}/cancel", {}, token=token)
    dispatcher = Dispatcher(app, "us-east-1", "local", retry_backoff=0)
    dispatcher.discover()
    dispatcher.drain()
    events = received(orders_q)
    assert [e["type"] for e in events] == ["OrderPlaced", "OrderCancelled"]
    placed = events[0]
    assert set(placed) == {"eventId", "type", "version", "time", "correlationId", "data"}
    assert placed["correlationId"] == "corr-9"
    assert placed["data"]["orderId"] == order["orderId"] and placed["data"]["total"] == 6000
    assert events[1]["data"]["from"] == "PENDING_PAYMENT"
    low = received(stock_q)
    assert [e["type"] for e in low] == ["StockLow"]  # 6 -> 4 crossed the threshold once; 4 -> 6 did not
    assert low[0]["data"]["available"] == 4
    dispatcher.drain()
    assert received(orders_q) == [] and received(stock_q) == []  # nothing published twice


def test_failing_publisher_retries_then_dead_letters(shop: Shop, monkeypatch: pytest.MonkeyPatch) -> None:
    from app import app
    from chalicelib.orders import jobs

    calls = {"n": 0}

    def broken(*args: Any) -> list[Any]:
        calls["n"] += 1
        raise RuntimeError("SNS down")

    monkeypatch.setattr(jobs, "order_events", broken)
    milk = shop.product()
    vendor = shop.vendor([milk["productId"]])
    shop.stock(milk, vendor, 6)
    token, address = shop.customer("ann")
    shop.api.call(
        "POST",
        "/orders",
        {"items": [line(milk, 1)], "addressId": address},
        token=token,
        headers={"idempotency-key": "e2"},
    )
    dispatcher = Dispatcher(app, "us-east-1", "local", retry_backoff=0)
    dispatcher.discover()
    dispatcher.drain()
    assert calls["n"] == 6  # the first try and MaximumRetryAttempts (5)
    dlq = aws.client("sqs").get_queue_url(QueueName="freshcart-local-stream-events-dlq")["QueueUrl"]
    dead = aws.client("sqs").receive_message(QueueUrl=dlq)["Messages"]
    assert json.loads(dead[0]["Body"])["handler"] == "order_stream"
