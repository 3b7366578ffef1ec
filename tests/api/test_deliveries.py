"""Deliveries: scheduled once per approved order and vendor, assigned to a driver, moved forward by
that driver only (with a photo as proof), the order's fulfilment following in the same transaction;
a failed one rescheduled (the vendor's room held) or refunded by a manager."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from chalicelib import bootstrap
from chalicelib.audit.repo import Actor
from chalicelib.core import aws, tx
from chalicelib.core.config import get_settings
from chalicelib.deliveries import slots
from chalicelib.orders.jobs import order_events
from tests.api.test_orders import place
from tests.conftest import Api, json_body, race
from tests.factories import Shop, line


def _tomorrow() -> str:
    return (slots.policy().local(datetime.now(UTC)).date() + timedelta(days=1)).isoformat()


class Run:
    """A shop with two vendors, a customer's approved order for tomorrow morning, and a driver."""

    def __init__(self, shop: Shop, api: Api) -> None:
        self.shop, self.api = shop, api
        owner, other = api.user("vera"), api.user("otto")
        self.milk, self.ghee = shop.product("Milk"), shop.product("Ghee")
        self.vera = shop.vendor([self.milk["productId"]], name="Vera Dairy", owner=owner["userId"], rating=4.5)
        self.otto = shop.vendor([self.ghee["productId"]], name="Otto Dairy", owner=other["userId"], rating=4.0)
        shop.stock(self.milk, self.vera, 20)
        shop.stock(self.ghee, self.otto, 20)
        self.vera_token = api.login("vera")["accessToken"]
        self.otto_token = api.login("otto")["accessToken"]
        self.manager = api.user("mona", role="manager")["accessToken"]
        self.driver = api.user("dev", role="driver")
        self.other_driver = api.user("dora", role="driver")
        self.token, self.address = shop.customer("ann")

    def approved_order(self, items: list[dict[str, Any]]) -> dict[str, Any]:
        resp = place(self.shop, self.token, self.address, items, deliveryDate=_tomorrow(), deliverySlot="MORNING")
        order = json_body(resp)
        lifecycle = bootstrap.order_lifecycle()
        actor = Actor("system", "system", "-", "test")
        paid = {"paymentId": "p-1", "amount": order["total"], "status": "SUCCEEDED"}
        tx.commit(
            lifecycle.paid_items(lifecycle.get(order["orderId"]), paid, actor, int(time.time())),
            f"paid-{order['orderId']}",
        )
        approved = self.shop.ok("POST", f"/orders/{order['orderId']}/approve", token=self.manager)
        assert approved["status"] == "APPROVED"
        return approved

    def approved_event(self, order: dict[str, Any]) -> str:
        """What the orders stream publishes for the approval, through the deliveries queue's handler."""
        before = {**bootstrap.order_lifecycle().get(order["orderId"]), "status": "PAID"}
        ((kind, data),) = order_events("MODIFY", before, bootstrap.order_lifecycle().get(order["orderId"]))
        assert kind == "OrderApproved"
        self.handle(kind, data)
        return kind

    def handle(self, kind: str, data: dict[str, Any], event_id: str | None = None) -> None:
        """The deliveries queue's handler over one order event, as SQS would give it."""
        body = json.dumps({"eventId": event_id or f"e-{time.time_ns()}", "type": kind, "version": 1, "data": data})
        record = {
            "messageId": f"m-{time.time_ns()}",
            "receiptHandle": "r",
            "body": body,
            "attributes": {"ApproximateReceiveCount": "1"},
            "messageAttributes": {},
            "eventSource": "aws:sqs",
            "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:freshcart-local-deliveries",
        }
        result = self.api.client.lambda_.invoke("deliveries_schedule", {"Records": [record]}).payload
        assert result == {"batchItemFailures": []}

    def deliveries(self, order: dict[str, Any], token: str | None = None) -> list[dict[str, Any]]:
        got = self.shop.ok("GET", f"/orders/{order['orderId']}/delivery", token=token or self.token)
        return list(got["items"])

    def call(self, method: str, path: str, body: Any, token: str) -> Any:
        return self.api.call(method, path, body, token=token)

    def photo(self, delivery_id: str, size: int = 2048, content_type: str = "image/jpeg") -> str:
        form = self.shop.ok(
            "POST", f"/deliveries/{delivery_id}/proof", {"contentType": "image/jpeg"}, token=self.driver["accessToken"]
        )
        # the client POSTs the form to S3; here the object is put as that upload would leave it
        aws.client("s3").put_object(
            Bucket=get_settings().archive_bucket, Key=form["key"], Body=b"x" * size, ContentType=content_type
        )
        return str(form["key"])


@pytest.fixture
def run(shop: Shop, api: Api) -> Run:
    return Run(shop, api)


def test_an_approved_order_is_scheduled_once_per_vendor_and_a_replayed_event_changes_nothing(run: Run) -> None:
    order = run.approved_order([line(run.milk, 2), line(run.ghee, 1)])
    assert run.deliveries(order) == []  # none until the event is handled
    run.approved_event(order)
    run.approved_event(order)  # SQS delivers at least once
    got = run.deliveries(order)
    assert sorted(d["vendorId"] for d in got) == sorted([run.vera["vendorId"], run.otto["vendorId"]])
    assert all(
        (d["status"], d["deliveryDate"], d["deliverySlot"]) == ("SCHEDULED", _tomorrow(), "MORNING") for d in got
    )
    mine = next(d for d in got if d["vendorId"] == run.vera["vendorId"])
    assert [x["productId"] for x in mine["lines"]] == [run.milk["productId"]]  # each vendor its own lines
    assert bootstrap.deliveries().schedule(order["orderId"]) == "already scheduled"


def test_a_vendor_assigns_a_driver_who_runs_it_to_delivered_with_a_photo(run: Run) -> None:
    order = run.approved_order([line(run.milk, 2), line(run.ghee, 1)])
    run.approved_event(order)
    vera_d, otto_d = sorted(run.deliveries(order), key=lambda d: d["vendorId"] != run.vera["vendorId"])
    day = run.shop.ok("GET", f"/deliveries?date={_tomorrow()}&slot=MORNING", token=run.vera_token)
    assert [d["deliveryId"] for d in day["items"]] == [vera_d["deliveryId"]]  # Vera's alone
    driver, dtoken = run.driver["userId"], run.driver["accessToken"]
    # another vendor's staff cannot assign Vera's delivery; a customer is no driver
    assert (
        run.call("POST", f"/deliveries/{vera_d['deliveryId']}/assign", {"driverId": driver}, run.otto_token).status_code
        == 404
    )
    ann = run.shop.ok("GET", "/users/me", token=run.token)["userId"]
    bad = run.call("POST", f"/deliveries/{vera_d['deliveryId']}/assign", {"driverId": ann}, run.vera_token)
    assert bad.status_code == 422 and "driverId" in json_body(bad)["error"]["fields"]
    for d, token in ((vera_d, run.vera_token), (otto_d, run.otto_token)):
        assigned = run.shop.ok("POST", f"/deliveries/{d['deliveryId']}/assign", {"driverId": driver}, token=token)
        assert assigned["driverId"] == driver
    runsheet = run.shop.ok("GET", f"/drivers/me/deliveries?date={_tomorrow()}", token=dtoken)
    assert {d["deliveryId"] for d in runsheet["items"]} == {vera_d["deliveryId"], otto_d["deliveryId"]}
    other = run.other_driver["accessToken"]
    assert run.shop.ok("GET", f"/drivers/me/deliveries?date={_tomorrow()}", token=other)["items"] == []
    status = f"/deliveries/{vera_d['deliveryId']}/status"
    assert run.call("POST", status, {"status": "IN_TRANSIT"}, other).status_code == 404  # not theirs
    moved = run.shop.ok("POST", status, {"status": "IN_TRANSIT"}, token=dtoken)
    assert moved["status"] == "IN_TRANSIT"
    assert run.shop.ok("POST", status, {"status": "IN_TRANSIT"}, token=dtoken)["status"] == "IN_TRANSIT"  # replay
    assert bootstrap.order_lifecycle().get(order["orderId"])["status"] == "DISPATCHED"
    no_photo = run.call("POST", status, {"status": "DELIVERED"}, dtoken)
    assert no_photo.status_code == 422 and "proofKey" in json_body(no_photo)["error"]["fields"]
    done = run.shop.ok(
        "POST", status, {"status": "DELIVERED", "proofKey": run.photo(vera_d["deliveryId"])}, token=dtoken
    )
    assert done["status"] == "DELIVERED" and done["actualDeliveryTime"] and done["proofKey"]
    back = run.call("POST", status, {"status": "IN_TRANSIT"}, dtoken)
    assert back.status_code == 409  # never backwards
    assert bootstrap.order_lifecycle().get(order["orderId"])["status"] == "DISPATCHED"  # Otto's still to come
    otto_status = f"/deliveries/{otto_d['deliveryId']}/status"
    run.shop.ok("POST", otto_status, {"status": "IN_TRANSIT"}, token=dtoken)
    run.shop.ok("POST", otto_status, {"status": "DELIVERED", "proofKey": run.photo(otto_d["deliveryId"])}, token=dtoken)
    assert bootstrap.order_lifecycle().get(order["orderId"])["status"] == "DELIVERED"
    customer_view = run.deliveries(order)
    assert {d["status"] for d in customer_view} == {"DELIVERED"}


@pytest.mark.parametrize(("size", "content_type"), [(6 * 1024 * 1024, "image/jpeg"), (2048, "application/pdf")])
def test_a_photo_too_large_or_not_an_image_is_refused(run: Run, size: int, content_type: str) -> None:
    order = run.approved_order([line(run.milk, 1)])
    run.approved_event(order)
    (d,) = run.deliveries(order)
    run.shop.ok(
        "POST", f"/deliveries/{d['deliveryId']}/assign", {"driverId": run.driver["userId"]}, token=run.vera_token
    )
    dtoken = run.driver["accessToken"]
    status = f"/deliveries/{d['deliveryId']}/status"
    run.shop.ok("POST", status, {"status": "IN_TRANSIT"}, token=dtoken)
    resp = run.call(
        "POST", status, {"status": "DELIVERED", "proofKey": run.photo(d["deliveryId"], size, content_type)}, dtoken
    )
    assert resp.status_code == 422 and "proofKey" in json_body(resp)["error"]["fields"]
    assert run.shop.ok("GET", f"/deliveries/{d['deliveryId']}", token=dtoken)["status"] == "IN_TRANSIT"
    bad = run.call("POST", f"/deliveries/{d['deliveryId']}/proof", {"contentType": "application/pdf"}, dtoken)
    assert bad.status_code == 400 and "contentType" in json_body(bad)["error"]["fields"]
    form = run.shop.ok("POST", f"/deliveries/{d['deliveryId']}/proof", {}, token=dtoken)
    policy = json.loads(__import__("base64").b64decode(form["fields"]["policy"]))
    assert ["content-length-range", 1, 5 * 1024 * 1024] in policy["conditions"]  # S3 itself refuses more


def test_a_failed_delivery_is_rescheduled_into_a_slot_with_room_or_refunded(run: Run) -> None:
    order = run.approved_order([line(run.milk, 1)])
    run.approved_event(order)
    (d,) = run.deliveries(order)
    did, dtoken = d["deliveryId"], run.driver["accessToken"]
    run.shop.ok("POST", f"/deliveries/{did}/assign", {"driverId": run.driver["userId"]}, token=run.vera_token)
    early = run.call("POST", f"/deliveries/{did}/reschedule", {"refund": True}, run.manager)
    assert early.status_code == 409  # only a failed one
    no_reason = run.call("POST", f"/deliveries/{did}/status", {"status": "FAILED"}, dtoken)
    assert no_reason.status_code == 422 and "reason" in json_body(no_reason)["error"]["fields"]
    failed = run.shop.ok(
        "POST", f"/deliveries/{did}/status", {"status": "FAILED", "reason": "nobody home"}, token=dtoken
    )
    assert (failed["status"], failed["failureReason"]) == ("FAILED", "nobody home")
    day_after = (datetime.fromisoformat(_tomorrow()) + timedelta(days=1)).date().isoformat()
    again = run.shop.ok(
        "POST",
        f"/deliveries/{did}/reschedule",
        {"deliveryDate": day_after, "deliverySlot": "EVENING"},
        token=run.manager,
    )
    assert (again["status"], again["deliveryDate"], again["deliverySlot"]) == ("SCHEDULED", day_after, "EVENING")
    assert "failureReason" not in again
    runsheet = run.shop.ok("GET", f"/drivers/me/deliveries?date={day_after}", token=dtoken)
    assert [x["deliveryId"] for x in runsheet["items"]] == [did]  # on the driver's new day


def test_two_drivers_racing_a_delivery_move_it_once(run: Run) -> None:
    order = run.approved_order([line(run.milk, 1)])
    run.approved_event(order)
    (d,) = run.deliveries(order)
    run.shop.ok(
        "POST", f"/deliveries/{d['deliveryId']}/assign", {"driverId": run.driver["userId"]}, token=run.vera_token
    )
    tokens = [run.driver["accessToken"]] * 5 + [run.other_driver["accessToken"]] * 5
    results = race(
        *[
            lambda t=t: run.call("POST", f"/deliveries/{d['deliveryId']}/status", {"status": "IN_TRANSIT"}, t)
            for t in tokens
        ]
    )
    codes = sorted(r.status_code for r in results)
    assert codes == [200] * 5 + [404] * 5
    stored = run.shop.ok("GET", f"/deliveries/{d['deliveryId']}", token=run.manager)
    assert stored["status"] == "IN_TRANSIT"
    assert bootstrap.order_lifecycle().get(order["orderId"])["status"] == "DISPATCHED"


def test_an_order_cancelled_before_it_went_out_calls_its_deliveries_off(run: Run) -> None:
    order = run.approved_order([line(run.milk, 1), line(run.ghee, 1)])
    run.approved_event(order)
    vera_d = next(d for d in run.deliveries(order) if d["vendorId"] == run.vera["vendorId"])
    run.shop.ok(
        "POST", f"/deliveries/{vera_d['deliveryId']}/assign", {"driverId": run.driver["userId"]}, token=run.vera_token
    )
    cancelled = run.shop.ok("POST", f"/orders/{order['orderId']}/cancel", {}, token=run.token)
    assert cancelled["status"] == "CANCELLED"
    for _ in range(2):  # delivered twice: the second changes nothing
        run.handle("OrderCancelled", {"orderId": order["orderId"]}, event_id="e-cancel")
    assert {d["status"] for d in run.deliveries(order)} == {"CANCELLED"}
    moved = run.call(
        "POST", f"/deliveries/{vera_d['deliveryId']}/status", {"status": "IN_TRANSIT"}, run.driver["accessToken"]
    )
    assert moved.status_code == 409
    assert (
        run.shop.ok("GET", f"/drivers/me/deliveries?date={_tomorrow()}", token=run.driver["accessToken"])["items"][0][
            "status"
        ]
        == "CANCELLED"
    )


def test_refunding_a_failed_delivery_ends_the_order_as_what_happened(run: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    """Nothing went out: refunded and its order CANCELLED (stock back). One of two went out: the
    order DELIVERED once the other's refund settles it. (The money side is the payments domain's,
    tested there; here its refund answers as Stripe's success would.)"""
    refunds: list[tuple[str, int]] = []

    def refund(who: Any, order_id: str, amount: int | None, reason: str, key: str) -> dict[str, Any]:
        refunds.append((order_id, int(amount or 0)))
        return {"refundId": key, "status": "SUCCEEDED"}

    monkeypatch.setattr(bootstrap.deliveries().refunds, "refund", refund)
    dtoken, driver = run.driver["accessToken"], run.driver["userId"]
    alone = run.approved_order([line(run.milk, 1)])
    run.approved_event(alone)
    (d,) = run.deliveries(alone)
    run.shop.ok("POST", f"/deliveries/{d['deliveryId']}/assign", {"driverId": driver}, token=run.vera_token)
    run.shop.ok(
        "POST", f"/deliveries/{d['deliveryId']}/status", {"status": "FAILED", "reason": "gate locked"}, token=dtoken
    )
    refunded = run.shop.ok("POST", f"/deliveries/{d['deliveryId']}/reschedule", {"refund": True}, token=run.manager)
    assert refunded["status"] == "REFUNDED"
    assert bootstrap.order_lifecycle().get(alone["orderId"])["status"] == "CANCELLED"
    both = run.approved_order([line(run.milk, 1), line(run.ghee, 1)])
    run.approved_event(both)
    vera_d, otto_d = sorted(run.deliveries(both), key=lambda x: x["vendorId"] != run.vera["vendorId"])
    for x, token in ((vera_d, run.vera_token), (otto_d, run.otto_token)):
        run.shop.ok("POST", f"/deliveries/{x['deliveryId']}/assign", {"driverId": driver}, token=token)
        run.shop.ok("POST", f"/deliveries/{x['deliveryId']}/status", {"status": "IN_TRANSIT"}, token=dtoken)
    proof = run.photo(vera_d["deliveryId"])
    run.shop.ok(
        "POST", f"/deliveries/{vera_d['deliveryId']}/status", {"status": "DELIVERED", "proofKey": proof}, token=dtoken
    )
    run.shop.ok(
        "POST",
        f"/deliveries/{otto_d['deliveryId']}/status",
        {"status": "FAILED", "reason": "no one home"},
        token=dtoken,
    )
    assert bootstrap.order_lifecycle().get(both["orderId"])["status"] == "DISPATCHED"
    run.shop.ok("POST", f"/deliveries/{otto_d['deliveryId']}/reschedule", {"refund": True}, token=run.manager)
    assert bootstrap.order_lifecycle().get(both["orderId"])["status"] == "DELIVERED"
    assert refunds == [(alone["orderId"], alone["total"]), (both["orderId"], otto_d and refunds[1][1])]
    assert 0 < refunds[1][1] < both["total"]  # Otto's share only
