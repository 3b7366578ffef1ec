"""Notifications through the real event chain in-process (the orders stream, the topics, the
queues and their handlers, pumped by the local stack's dispatcher): every step of an order tells
whom it concerns, on the channels they chose and in their feed, once per event x recipient x channel."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from chalicelib import bootstrap
from chalicelib.core import events
from chalicelib.core.config import get_settings
from chalicelib.notifications import deliver, mailer
from freshcart_local.dispatcher import Dispatcher
from tests.api.test_deliveries import Run, _tomorrow
from tests.conftest import Api
from tests.factories import Shop, line


def _ses() -> Any:
    from moto.backends import get_backend

    return get_backend("ses")["123456789012"]["us-east-1"]


def _sms() -> list[tuple[str, str]]:
    from moto.backends import get_backend

    return list(get_backend("sns")["123456789012"]["us-east-1"].sms_messages.values())


def mails(to: str) -> list[tuple[str, str]]:
    return [(m.subject, m.body) for m in _ses().sent_messages if to in m.destinations["ToAddresses"]]


@pytest.fixture
def pump() -> Iterator[Dispatcher]:
    from app import app

    dispatcher = Dispatcher(app, "us-east-1", "local")
    dispatcher.discover(stream_start="LATEST")
    yield dispatcher


@pytest.fixture
def run(shop: Shop, api: Api) -> Run:
    return Run(shop, api)


def feed(run: Run, token: str) -> list[dict[str, Any]]:
    return list(run.shop.ok("GET", "/users/me/notifications?limit=50", token=token)["items"])


def test_each_step_of_an_order_reaches_the_customer_vendor_and_driver_once(run: Run, pump: Dispatcher) -> None:
    run.shop.ok(
        "PATCH", "/users/me", {"preferences": {"notifications": {"deliveries": {"sms": True}}}}, token=run.token
    )
    order = run.approved_order([line(run.milk, 2), line(run.ghee, 1)])
    pump.drain()  # OrderPlaced, OrderPaid, OrderApproved -> the deliveries scheduled -> DeliveryScheduled
    got = run.deliveries(order)
    assert len(got) == 2
    vera_d = next(d for d in got if d["vendorId"] == run.vera["vendorId"])
    run.shop.ok(
        "POST", f"/deliveries/{vera_d['deliveryId']}/assign", {"driverId": run.driver["userId"]}, token=run.vera_token
    )
    run.shop.ok(
        "POST", f"/deliveries/{vera_d['deliveryId']}/status", {"status": "IN_TRANSIT"}, token=run.driver["accessToken"]
    )
    pump.drain()
    titles = [n["title"] for n in feed(run, run.token)]
    assert titles[0] == "Out for delivery"  # newest first
    assert titles.count("Delivery scheduled") == 2  # one per vendor's delivery
    assert {"Order placed", "Order confirmed"} <= set(titles)
    ann = run.shop.ok("GET", "/users/me", token=run.token)
    subjects = [s for s, _ in mails(ann["email"])]
    assert subjects.count("Out for delivery - freshcart") == 1 and subjects.count("Order confirmed - freshcart") == 1
    texts = [m for phone, m in _sms() if phone == "+919876543210"]
    assert sum("on its way" in m for m in texts) == 1  # deliveries by SMS too: she opted in
    assert not any("confirmed" in m for m in texts)  # orders: email only, as she chose nothing else
    # the vendors: "New Order Assigned" with their own lines only; the driver: the assignment
    (vera_mail,) = [
        b for s, b in mails("v@example.com") if s.startswith("New Order Assigned") and run.milk["name"] in b
    ]
    assert run.ghee["name"] not in vera_mail
    dev = run.shop.ok("GET", "/users/me", token=run.driver["accessToken"])
    assert [s for s, _ in mails(dev["email"])] == ["New Delivery Assignment - freshcart"]
    assert [n["title"] for n in feed(run, run.driver["accessToken"])] == ["New Delivery Assignment"]
    vera_titles = [n["title"] for n in feed(run, run.vera_token)]
    assert vera_titles == ["New Order Assigned"]  # her own order's notice, in her feed


def test_a_duplicated_event_sends_nothing_twice(run: Run) -> None:
    order = run.approved_order([line(run.milk, 1)])
    me = run.shop.ok("GET", "/users/me", token=run.token)
    event = events.envelope(
        "DeliveryCompleted",
        {
            "orderId": order["orderId"],
            "userId": me["userId"],
            "deliveryId": "d",
            "vendorId": "v",
            "deliveryDate": _tomorrow(),
            "deliverySlot": "MORNING",
            "status": "DELIVERED",
        },
    )
    from chalicelib.notifications import service

    assert service.handle(event).startswith("sent")
    assert service.handle(event) == "sent 0"  # SNS delivers at least once: the copy is claimed
    assert [s for s, _ in mails(me["email"])].count("Delivered - freshcart") == 1
    assert [n["title"] for n in feed(run, run.token)].count("Delivered") == 1


def test_a_failing_channel_retries_alone_and_never_blocks_the_others(run: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    run.shop.ok(
        "PATCH", "/users/me", {"preferences": {"notifications": {"deliveries": {"sms": True}}}}, token=run.token
    )
    me = run.shop.ok("GET", "/users/me", token=run.token)
    event = events.envelope(
        "DeliveryInTransit",
        {
            "orderId": "o-1",
            "userId": me["userId"],
            "deliveryId": "d",
            "vendorId": "v",
            "deliveryDate": _tomorrow(),
            "deliverySlot": "MORNING",
            "status": "IN_TRANSIT",
        },
    )
    from chalicelib.notifications import service

    real = mailer.send

    def down(*args: Any, **kwargs: Any) -> str:
        raise RuntimeError("SES is down")

    monkeypatch.setattr(mailer, "send", down)
    with pytest.raises(RuntimeError):
        service.handle(event)  # the message comes back (then the DLQ)
    assert sum("on its way" in m for _, m in _sms()) == 1  # the SMS went anyway
    assert mails(me["email"]) == []
    monkeypatch.setattr(mailer, "send", real)
    assert service.handle(event) == "sent 1"  # the email alone, on the redelivery
    assert sum("on its way" in m for _, m in _sms()) == 1
    assert [s for s, _ in mails(me["email"])] == ["Out for delivery - freshcart"]


def test_the_feed_is_newest_first_pages_and_marks_read_only_your_own(run: Run) -> None:
    me = run.shop.ok("GET", "/users/me", token=run.token)
    from chalicelib.notifications import service

    for i in range(5):
        service.handle(
            events.envelope("OrderPlaced", {"orderId": f"o-{i}", "userId": me["userId"], "status": "PENDING_PAYMENT"})
        )
    first = run.shop.ok("GET", "/users/me/notifications?limit=3", token=run.token)
    assert [n["orderId"] for n in first["items"]] == ["o-4", "o-3", "o-2"] and first["nextCursor"]
    rest = run.shop.ok("GET", f"/users/me/notifications?limit=3&cursor={first['nextCursor']}", token=run.token)
    assert [n["orderId"] for n in rest["items"]] == ["o-1", "o-0"] and rest["nextCursor"] is None
    nid = first["items"][0]["notificationId"]
    assert not first["items"][0]["read"]
    other = run.api.call("POST", f"/users/me/notifications/{nid}/read", token=run.driver["accessToken"])
    assert other.status_code == 404
    assert run.shop.ok("POST", f"/users/me/notifications/{nid}/read", token=run.token) == {
        "notificationId": nid,
        "read": True,
    }
    assert run.shop.ok("GET", "/users/me/notifications?limit=1", token=run.token)["items"][0]["read"] is True


def test_preferences_keep_transactional_email_and_are_merged_per_category(run: Run) -> None:
    saved = run.shop.ok(
        "PATCH",
        "/users/me",
        {"preferences": {"notifications": {"deliveries": {"email": False, "sms": True}, "marketing": {"email": True}}}},
        token=run.token,
    )["preferences"]["notifications"]
    assert saved == {"deliveries": {"email": False, "sms": True}, "marketing": {"email": True}}
    again = run.shop.ok(
        "PATCH", "/users/me", {"preferences": {"notifications": {"deliveries": {"push": True}}}}, token=run.token
    )["preferences"]["notifications"]
    assert again["deliveries"] == {"email": False, "sms": True, "push": True} and again["marketing"] == {"email": True}
    from chalicelib.notifications.notices import channels

    assert channels("deliveries", {"notifications": again}) == ["email", "sms", "push"]  # email stays on
    assert channels("marketing", {}) == []  # opt-in only
    bad = run.api.call(
        "PATCH", "/users/me", {"preferences": {"notifications": {"deliveries": {"fax": True}}}}, token=run.token
    )
    assert bad.status_code == 400


def test_the_alerts_topic_has_an_email_subscriber_in_the_template() -> None:
    template = json.loads(Path("infra/resources.json").read_text())
    subs = [r["Properties"] for r in template["Resources"].values() if r.get("Type") == "AWS::SNS::Subscription"]
    email = [s for s in subs if s["Protocol"] == "email"]
    assert email == [
        {"TopicArn": {"Ref": "AlertsTopic"}, "Protocol": "email", "Endpoint": {"Ref": "NotificationEmail"}}
    ]
    assert template["Parameters"]["NotificationEmail"]["Type"] == "String"
    assert get_settings().notifications_table.endswith("notifications") and deliver.CLAIM_SECONDS >= 86400
    assert bootstrap.feed() is bootstrap.feed()


def test_a_registered_phone_gets_its_push_once_when_opted_in(run: Run) -> None:
    from moto.backends import get_backend

    sns = get_backend("sns")["123456789012"]["us-east-1"]
    device = run.shop.ok(
        "POST", "/users/me/devices", {"platform": "android", "token": "fcm-token-123456"}, token=run.token, status=201
    )
    again = run.shop.ok(
        "POST", "/users/me/devices", {"platform": "android", "token": "fcm-token-123456"}, token=run.token, status=201
    )
    assert again["deviceId"] == device["deviceId"]  # the same phone
    assert [d["deviceId"] for d in run.shop.ok("GET", "/users/me/devices", token=run.token)["items"]] == [
        device["deviceId"]
    ]
    me = run.shop.ok("GET", "/users/me", token=run.token)
    from chalicelib.notifications import service

    data = {
        "orderId": "o-9",
        "userId": me["userId"],
        "deliveryDate": _tomorrow(),
        "deliverySlot": "MORNING",
        "deliveryId": "d",
    }
    service.handle(events.envelope("DeliveryInTransit", data))
    (endpoint,) = [e for e in sns.platform_endpoints.values() if e.token == "fcm-token-123456"]
    assert endpoint.messages == {}  # push is opt-in
    run.shop.ok(
        "PATCH", "/users/me", {"preferences": {"notifications": {"deliveries": {"push": True}}}}, token=run.token
    )
    event = events.envelope("DeliveryCompleted", data)
    service.handle(event)
    service.handle(event)  # redelivered
    (sent,) = endpoint.messages.values()
    assert json.loads(json.loads(sent)["GCM"])["notification"]["title"] == "Delivered"
    assert (
        run.api.call("DELETE", f"/users/me/devices/{device['deviceId']}", token=run.driver["accessToken"]).status_code
        == 404
    )
    assert run.api.call("DELETE", f"/users/me/devices/{device['deviceId']}", token=run.token).status_code == 204
    assert run.shop.ok("GET", "/users/me/devices", token=run.token)["items"] == []
