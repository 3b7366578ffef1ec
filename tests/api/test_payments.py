"""Paying orders through the API with the checkout state machines really executing (moto, Lambda
tasks routed to the app) against a local Stripe. Asserts on state: the order, stock, the ledger,
Stripe's own record and the payment audit chain."""

from __future__ import annotations

import json
import re
import time
import uuid
from typing import Any

import pytest
from moto.backends import get_backend

from chalicelib import bootstrap
from chalicelib.core import aws, metrics
from chalicelib.core.config import get_settings
from chalicelib.orders.repo import hold_until
from chalicelib.payments import rules
from freshcart_local import faults
from tests.conftest import Api, json_body, race
from tests.factories import ADDRESS, Shop, line
from tests.stripe_local import sign

DONE = {"SUCCEEDED", "FAILED", "REFUNDED"}


class Checkout(Shop):
    """A shop whose orders can be paid; the app's Lambda tasks serve the state machines."""

    def __init__(self, api: Api, keys: dict[str, Any]) -> None:
        super().__init__(api)
        self.keys = keys
        self.milk = self.product("Milk", prices={"INR": 3000, "USD": 50})
        self.vendor_ = self.vendor([self.milk["productId"]])
        self.stock(self.milk, self.vendor_, 10)
        self.token, self.address = self.customer("ann")
        self.manager = api.user("boss", role="manager")["accessToken"]
        self._document: dict[str, Any] | None = None

    def order(self, qty: int = 2, product: dict[str, Any] | None = None, token: str | None = None) -> dict[str, Any]:
        resp = self.api.call(
            "POST",
            "/orders",
            {"items": [line(product or self.milk, qty)], "addressId": self.address},
            token=token or self.token,
            headers={"Idempotency-Key": uuid.uuid4().hex},
        )
        assert resp.status_code == 201, resp.body
        return dict(json_body(resp))

    def pay(self, order_id: str, method: str = "pm_card_visa", key: str | None = None, **headers: str) -> Any:
        return self.api.call(
            "POST",
            f"/orders/{order_id}/pay",
            {"paymentMethod": method},
            token=self.token,
            headers={"Idempotency-Key": key or uuid.uuid4().hex, **headers},
        )

    def conforms(self, schema: str, body: Any) -> None:
        """``body`` is what /openapi.json says a ``schema`` is (no null where a field is optional)."""
        from jsonschema import Draft202012Validator

        if self._document is None:
            self._document = json_body(self.api.call("GET", "/openapi.json"))
        root = {"$ref": f"#/components/schemas/{schema}", "components": self._document["components"]}
        errors = [e.message for e in Draft202012Validator(root).iter_errors(body)]
        assert not errors, (schema, errors, body)

    def payment(self, order_id: str, until: set[str] | None = None, timeout: float = 40) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            resp = self.api.call("GET", f"/orders/{order_id}/payment", token=self.manager)
            body = json_body(resp)
            if resp.status_code == 200:
                self.conforms("Payment", body)
            if until is None or (resp.status_code == 200 and body["status"] in until):
                return dict(body)
            if time.monotonic() > deadline:
                pytest.fail(f"payment of {order_id} never reached {until}: {body}")
            time.sleep(0.2)

    def finished(self, order_id: str, timeout: float = 60) -> None:
        """Wait until no checkout execution of the order's payments is running."""
        sfn = aws.client("stepfunctions")
        deadline = time.monotonic() + timeout
        arns = [get_settings().checkout_state_machine_arn, get_settings().checkout_await_state_machine_arn]
        ids = {a["paymentId"] for a in self.payment(order_id)["attempts"]}
        while time.monotonic() < deadline:
            running = [
                e
                for arn in arns
                for e in sfn.list_executions(stateMachineArn=arn, statusFilter="RUNNING")["executions"]
                if e["name"].split("-")[0] in ids
            ]
            if not running:
                return
            time.sleep(0.2)
        pytest.fail(f"checkout of {order_id} still running")

    def get_order(self, order_id: str) -> dict[str, Any]:
        return dict(self.ok("GET", f"/orders/{order_id}", token=self.manager))

    def settled(self, order_id: str, timeout: float = 30) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            entries = bootstrap.payments().ledger.entries(order_id)
            if any(e.kind == "SETTLEMENT" for e in entries):
                return entries
            time.sleep(0.2)
        pytest.fail("never settled")

    def stripe_intents(self, order_id: str) -> list[Any]:
        from chalicelib.payments import gateway

        found = gateway.client().payment_intents.list(params={"limit": 100})
        return [pi for pi in found.data if pi.metadata and pi.metadata.to_dict().get("orderId") == order_id]

    def chain_ok(self, order_id: str) -> None:
        assert bootstrap.payments().verify_chain(order_id) == []

    def webhook(self, event: dict[str, Any], secret: str | None = None, timestamp: int | None = None) -> Any:
        raw = json.dumps(event).encode()
        return self.api.call(
            "POST",
            "/webhooks/stripe",
            raw,
            headers={"Stripe-Signature": sign(raw, secret or self.keys["webhook_secret"], timestamp)},
        )

    def drain(self, queue: str, handler: str, visibility: int | None = None) -> int:
        """Run a queue's handler over what is in it (the local dispatcher's job in `make run`);
        ``visibility=0``: one pass, a failed message is visible again at once."""
        sqs = aws.client("sqs")
        url = sqs.get_queue_url(QueueName=queue)["QueueUrl"]
        n = 0
        while True:
            extra = {} if visibility is None else {"VisibilityTimeout": visibility}
            got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0, **extra)
            got = got.get("Messages", [])
            if not got:
                return n
            records = [
                {
                    "messageId": m["MessageId"],
                    "receiptHandle": m["ReceiptHandle"],
                    "body": m["Body"],
                    "attributes": {"ApproximateReceiveCount": "1"},
                    "messageAttributes": {},
                    "eventSource": "aws:sqs",
                    "eventSourceARN": f"arn:aws:sqs:us-east-1:123456789012:{queue}",
                }
                for m in got
            ]
            result = self.api.client.lambda_.invoke(handler, {"Records": records}).payload
            failed = {f["itemIdentifier"] for f in result.get("batchItemFailures", [])}
            for m in got:
                if m["MessageId"] not in failed:
                    sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
            n += len(got)
            if visibility is not None:
                return n


@pytest.fixture
def shop(checkout: Any) -> Any:
    return checkout


def test_pay_takes_an_order_to_paid_settled_archived_and_chained(shop: Checkout) -> None:
    order = shop.order(2)
    resp = shop.pay(order["orderId"])
    assert resp.status_code == 202, resp.body
    accepted = json_body(resp)
    assert accepted["status"] == "PROCESSING" and accepted["orderId"] == order["orderId"]
    payment = shop.payment(order["orderId"], DONE)
    assert payment["status"] == "SUCCEEDED", payment
    assert payment["captured"] == order["total"] == 6000 and payment["refunded"] == 0
    assert payment["fraud"]["decision"] == "pass"
    assert shop.get_order(order["orderId"])["status"] == "PAID"
    assert shop.available(shop.milk, shop.vendor_) == (8, 0)  # reservation became a sale
    entries = shop.settled(order["orderId"])
    assert rules.balance(entries) == {
        "captured": 6000,
        "refunded": 0,
        "disputed": 0,
        "settled": 5700,
        "fees": 300,
        "stripeFees": 0,
    }
    assert rules.balanced(entries)
    (intent,) = shop.stripe_intents(order["orderId"])  # Stripe's own record
    assert intent.status == "succeeded" and intent.amount == 6000 and intent.currency == "inr"
    assert intent.metadata["paymentId"] == payment["paymentId"] and intent.id == payment["paymentIntentId"]
    shop.chain_ok(order["orderId"])
    rows = bootstrap.payments().chain.rows(order["orderId"])
    assert [r["action"] for r in rows] == ["payment_started", "charge_succeeded", "payment_captured"]
    screen = rows[1]["details"]["screen"]  # validation and screening, recorded with the charge
    assert screen["method"]["valid"] is True and screen["fraud"]["decision"] == "pass"
    assert rows[2]["details"]["fee"] == 300 and sum(rows[2]["details"]["vendors"].values()) == 5700
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        objects = aws.client("s3").list_objects_v2(Bucket=get_settings().archive_bucket, Prefix="transactions/")
        if objects.get("KeyCount"):
            break
        time.sleep(0.2)
    (archived,) = objects["Contents"]  # one Firehose batch: JSON lines under transactions/YYYY/MM/DD/HH/
    assert re.fullmatch(r"transactions/\d{4}/\d{2}/\d{2}/\d{2}/freshcart-\w+-archive-.+", archived["Key"])
    body = aws.client("s3").get_object(Bucket=get_settings().archive_bucket, Key=archived["Key"])["Body"].read()
    (line,) = [json.loads(x) for x in body.decode().splitlines()]
    assert line["paymentId"] == payment["paymentId"] and line["amount"] == 6000 and line["status"] == "SUCCEEDED"
    # a replay of the same key answers the same payment, charges nothing more
    again = shop.pay(order["orderId"], key=None)
    assert again.status_code == 409  # a paid order is not payable


def test_declined_card_leaves_the_order_payable_with_another_card(shop: Checkout) -> None:
    order = shop.order(1)
    assert shop.pay(order["orderId"], "pm_card_visa_chargeDeclined").status_code == 202
    failed = shop.payment(order["orderId"], DONE)
    assert failed["status"] == "FAILED"
    assert shop.get_order(order["orderId"])["status"] == "PENDING_PAYMENT"
    assert shop.available(shop.milk, shop.vendor_) == (9, 1)
    assert shop.pay(order["orderId"], "pm_card_visa").status_code == 202
    paid = shop.payment(order["orderId"], {"SUCCEEDED"})
    assert [a["status"] for a in paid["attempts"]] == ["FAILED", "SUCCEEDED"]
    assert shop.get_order(order["orderId"])["status"] == "PAID"
    shop.chain_ok(order["orderId"])


def test_pay_checks_owner_key_and_state(shop: Checkout, api: Api) -> None:
    order = shop.order(1)
    other, _ = shop.customer("eve")
    resp = api.call(
        "POST",
        f"/orders/{order['orderId']}/pay",
        {"paymentMethod": "pm_card_visa"},
        token=other,
        headers={"Idempotency-Key": "k1"},
    )
    assert resp.status_code == 404
    assert (
        shop.api.call(
            "POST", f"/orders/{order['orderId']}/pay", {"paymentMethod": "pm_card_visa"}, token=shop.token
        ).status_code
        == 400
    )  # no Idempotency-Key
    bad = shop.api.call(
        "POST",
        f"/orders/{order['orderId']}/pay",
        {"paymentMethod": "visa", "amount": 1},
        token=shop.token,
        headers={"Idempotency-Key": "k2"},
    )
    assert bad.status_code == 400 and "amount" in json.dumps(json_body(bad))
    first = shop.pay(order["orderId"], key="same")
    replay = shop.pay(order["orderId"], key="same")
    assert json_body(first)["paymentId"] == json_body(replay)["paymentId"]
    assert shop.pay(order["orderId"], "pm_card_mastercard", key="same").status_code == 422
    shop.payment(order["orderId"], DONE)


def test_two_concurrent_pays_with_different_keys_charge_once(shop: Checkout) -> None:
    order = shop.order(1)
    results = race(*(lambda: shop.pay(order["orderId"]) for _ in range(4)))
    codes = sorted(r.status_code for r in results)
    assert codes.count(202) == 1 and set(codes) <= {202, 409}, [r.body for r in results]
    shop.payment(order["orderId"], DONE)
    assert len(shop.stripe_intents(order["orderId"])) == 1


def test_a_double_tapped_pay_answers_every_copy_with_the_same_202(shop: Checkout) -> None:
    """Finding 8: a phone on a bad network sends one pay (one Idempotency-Key) several times at
    once. Each copy's retry used to reuse one ClientRequestToken for other items (500s)."""
    order = shop.order(1)
    results = race(*(lambda: shop.pay(order["orderId"], key="double-tap") for _ in range(5)))
    assert [r.status_code for r in results] == [202] * 5, [r.body for r in results]
    assert len({json_body(r)["paymentId"] for r in results}) == 1
    assert shop.payment(order["orderId"], DONE)["status"] == "SUCCEEDED"
    shop.finished(order["orderId"])
    (intent,) = shop.stripe_intents(order["orderId"])
    assert intent.status == "succeeded" and intent.amount == order["total"]
    assert rules.balanced(bootstrap.payments().ledger.entries(order["orderId"]))
    shop.chain_ok(order["orderId"])


def test_expired_reservation_cannot_be_paid(shop: Checkout) -> None:
    order = shop.order(1)
    ddb = aws.client("dynamodb")
    ddb.update_item(
        TableName=get_settings().orders_table,
        Key={"pk": {"S": f"ORDER#{order['orderId']}"}, "sk": {"S": "META"}},
        UpdateExpression="SET reservation.expiresAt = :past",
        ExpressionAttributeValues={":past": {"N": str(int(time.time()) - 5)}},
    )
    resp = shop.pay(order["orderId"])
    assert resp.status_code == 409 and json_body(resp)["error"]["code"] == "reservation_expired"


def test_a_charge_landing_after_the_reservation_expired_is_refunded(shop: Checkout) -> None:
    """Stripe answers slowly; meanwhile the reservation runs out. The charge succeeds, so it is
    refunded, the order ends EXPIRED and its units are back on sale once."""
    fault = faults.inject(
        {"target": "stripe", "mode": "timeout", "times": 1, "path": "/v1/payment_intents", "delaySeconds": 3}
    )
    order = shop.order(2)
    shop.pay(order["orderId"])
    deadline = time.monotonic() + 20
    while next(f for f in faults.active() if f["id"] == fault["id"])["remaining"]:  # the charge is in flight
        assert time.monotonic() < deadline, "the charge never started"
        time.sleep(0.05)
    expire_reservation(order["orderId"])
    payment = shop.payment(order["orderId"], {"FAILED", "REFUNDED"}, timeout=60)
    shop.finished(order["orderId"])
    assert payment["status"] == "REFUNDED", payment
    assert shop.get_order(order["orderId"])["status"] == "EXPIRED"
    assert shop.available(shop.milk, shop.vendor_) == (10, 0)  # released once, never sold
    from chalicelib.payments import gateway

    (intent,) = shop.stripe_intents(order["orderId"])
    refunds = gateway.client().refunds.list(params={"payment_intent": intent.id}).data
    assert intent.status == "succeeded" and sum(r.amount for r in refunds) == intent.amount == order["total"]
    assert rules.balanced(bootstrap.payments().ledger.entries(order["orderId"]))
    shop.chain_ok(order["orderId"])


def test_a_payment_captured_unsplit_before_settlement_moved_into_mark_paid_is_split_by_its_refund(
    shop: Checkout, api: Api
) -> None:
    """Data from before captures carried their settlement (or a run that died between the two
    old steps): a SUCCEEDED payment with no fee or vendor shares. A refund splits it first."""
    order = shop.order(2)  # 6000
    shop.pay(order["orderId"])
    shop.payment(order["orderId"], {"SUCCEEDED"})
    shop.finished(order["orderId"])
    s, ddb = get_settings(), aws.client("dynamodb")
    (p,) = bootstrap.payments().payments.partition(order["orderId"]).payments
    pk = {"S": f"ORDER#{order['orderId']}"}
    ddb.update_item(
        TableName=s.payments_table,
        Key={"pk": pk, "sk": {"S": f"PAY#{p.payment_id}"}},
        UpdateExpression="REMOVE settled, fee",
    )
    for e in bootstrap.payments().ledger.entries(order["orderId"]):
        if e.kind in ("FEE", "SETTLEMENT"):
            ddb.delete_item(TableName=s.transactions_table, Key={"pk": pk, "sk": {"S": f"{e.kind}#{e.entry_id}"}})
    assert {e.kind for e in bootstrap.payments().ledger.entries(order["orderId"])} == {"CHARGE"}
    resp = api.call(
        "POST",
        f"/orders/{order['orderId']}/refunds",
        {"reason": "damaged", "amount": 1000},
        token=shop.manager,
        headers={"Idempotency-Key": "legacy"},
    )
    assert resp.status_code == 201, resp.body
    entries = bootstrap.payments().ledger.entries(order["orderId"])
    assert rules.balance(entries) == {
        "captured": 6000,
        "refunded": 1000,
        "disputed": 0,
        "settled": 4750,
        "fees": 250,
        "stripeFees": 0,
    }
    assert rules.balanced(entries)
    shop.chain_ok(order["orderId"])


def test_refunds_never_exceed_what_was_captured(shop: Checkout, api: Api) -> None:
    order = shop.order(2)  # 6000
    shop.pay(order["orderId"])
    shop.payment(order["orderId"], {"SUCCEEDED"})
    shop.settled(order["orderId"])

    def refund(amount: int | None, key: str, token: str | None = None) -> Any:
        body = {"reason": "damaged"} | ({"amount": amount} if amount else {})
        return api.call(
            "POST",
            f"/orders/{order['orderId']}/refunds",
            body,
            token=token or shop.manager,
            headers={"Idempotency-Key": key},
        )

    assert refund(100, "x", token=shop.token).status_code == 403
    results = race(lambda: refund(3600, "a"), lambda: refund(3600, "b"))
    assert sorted(r.status_code for r in results) == [201, 409], [r.body for r in results]
    won = next(json_body(r) for r in results if r.status_code == 201)
    assert won["status"] == "SUCCEEDED" and won["amount"] == 3600
    key = "a" if json_body(results[0]).get("refundId") else "b"
    assert json_body(refund(3600, key))["refundId"] == won["refundId"]  # a replay: same refund
    assert refund(2401, "c").status_code == 409  # 2400 left
    got = shop.get_order(order["orderId"])
    assert got["status"] == "PAID" and got["refund"] == {
        "status": "PARTIAL",
        "amount": 3600,
        "owed": 0,
        "currency": "INR",
    }
    rest = refund(None, "d")
    assert rest.status_code == 201 and json_body(rest)["amount"] == 2400
    got = shop.get_order(order["orderId"])
    assert got["status"] == "PAID" and got["refund"]["status"] == "DONE" and got["refund"]["amount"] == 6000
    # the customer is told each amount, once
    aws.client("ses").verify_email_identity(EmailAddress=get_settings().mail_from)
    shop.drain(get_settings().notifications_queue, "handle_notifications")
    shop.drain(get_settings().notifications_queue, "handle_notifications")
    sent = [m for m in get_backend("ses")["123456789012"]["us-east-1"].sent_messages if "ann" in str(m.destinations)]
    from freshcart_local.__main__ import readable  # the text of the HTML part moto keeps

    told = sorted((m.subject, readable(m.body).split(" for order")[0]) for m in sent if order["orderId"] in m.body)
    assert told == [
        ("Payment received - freshcart", "We received your payment of INR 60.00"),
        ("Refund issued - freshcart", "We refunded INR 24.00"),
        ("Refund issued - freshcart", "We refunded INR 36.00"),
    ], told
    entries = bootstrap.payments().ledger.entries(order["orderId"])
    assert rules.balance(entries)["refunded"] == 6000 and rules.balanced(entries)
    (intent,) = shop.stripe_intents(order["orderId"])
    from chalicelib.payments import gateway

    stripe_refunds = gateway.client().refunds.list(params={"payment_intent": intent.id}).data
    assert sum(r.amount for r in stripe_refunds) == 6000
    shop.chain_ok(order["orderId"])


def test_webhook_signature_is_checked_first(shop: Checkout) -> None:
    event = {"id": "evt_1", "type": "payment_intent.succeeded", "data": {"object": {"id": "pi_x"}}}
    assert shop.webhook(event, secret="whsec_wrong").status_code == 400
    assert shop.webhook(event, timestamp=int(time.time()) - 400).status_code == 400
    missing = shop.api.call("POST", "/webhooks/stripe", json.dumps(event))
    assert missing.status_code == 400
    assert json_body(missing)["error"]["fields"]["Stripe-Signature"]
    assert shop.webhook(event).status_code == 200


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"not json",
        b"[" * 5000 + b"]" * 5000,
        json.dumps({"id": "e" * 5000, "type": "payment_intent.succeeded"}).encode(),
        json.dumps({"id": "evt_1", "type": 7}).encode(),
        json.dumps({"id": "evt_2", "type": "payment_intent.succeeded", "data": {"object": "x"}}).encode(),
        json.dumps(
            {"id": "evt_3", "type": "payment_intent.succeeded", "data": {"object": {"metadata": "zz"}}}
        ).encode(),
        json.dumps({"id": "evt_4", "type": "charge.refunded", "data": {"object": {"amount_refunded": "abc"}}}).encode(),
        json.dumps(
            {"id": "evt_5", "type": "payment_intent.succeeded", "data": {"object": {"amount": {"v": 1}}}}
        ).encode(),
        json.dumps({"id": "evt_6", "type": "payment_intent.succeeded", "data": {"object": {"id": "p" * 300}}}).encode(),
    ],
    ids=["empty", "not-json", "deep", "long-id", "type", "object", "metadata", "refunded", "amount", "object-id"],
)
def test_a_signed_body_that_is_not_a_stripe_event_is_a_400_naming_the_body(shop: Checkout, raw: bytes) -> None:
    resp = shop.api.call(
        "POST", "/webhooks/stripe", raw, headers={"Stripe-Signature": sign(raw, shop.keys["webhook_secret"])}
    )
    assert resp.status_code == 400, resp.body
    error = json_body(resp)["error"]
    assert error["fields"].keys() == {"body"} and error["message"].startswith("not a Stripe event"), error
    assert shop.drain(get_settings().stripe_events_queue, "payments_stripe_events") == 0


def test_a_malformed_event_already_queued_is_alerted_and_dropped(shop: Checkout) -> None:
    sqs = aws.client("sqs")
    url = sqs.get_queue_url(QueueName=get_settings().stripe_events_queue)["QueueUrl"]
    bad = {"id": "evt_old", "type": "payment_intent.succeeded", "data": {"object": "x"}}
    sqs.send_message(QueueUrl=url, MessageBody=json.dumps(bad))
    sqs.send_message(QueueUrl=url, MessageBody=json.dumps(["not", "an", "object"]))
    assert shop.drain(get_settings().stripe_events_queue, "payments_stripe_events") == 2
    dlq = sqs.get_queue_url(QueueName=f"{get_settings().stripe_events_queue}-dlq")["QueueUrl"]
    assert sqs.receive_message(QueueUrl=dlq, WaitTimeSeconds=0).get("Messages") is None
    assert sqs.receive_message(QueueUrl=url, WaitTimeSeconds=0).get("Messages") is None


def test_duplicated_webhooks_are_queued_once(shop: Checkout) -> None:
    event = {"id": "evt_dup", "type": "charge.dispute.created", "data": {"object": {"charge": "ch_1", "amount": 5}}}
    results = race(*(lambda: shop.webhook(event) for _ in range(10)))
    assert all(r.status_code == 200 for r in results)
    assert shop.drain(get_settings().stripe_events_queue, "payments_stripe_events") == 1


class _Killed(BaseException):
    """The Lambda dying mid-request (a timeout, out of memory): no except clause runs."""


def test_a_webhook_whose_first_delivery_died_after_its_claim_is_queued_on_stripes_retry(
    shop: Checkout, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Finding 6: the claim was leased for the whole dedupe window (30 days), so a worker dying
    between claim and queue made every Stripe retry a "duplicate"."""
    from types import SimpleNamespace

    from chalicelib.core import idempotency
    from chalicelib.payments import webhooks

    event = {"id": "evt_died", "type": "charge.dispute.created", "data": {"object": {"charge": "ch_1", "amount": 5}}}

    def die(name: str) -> str:
        raise _Killed

    with monkeypatch.context() as m:
        m.setattr(webhooks.aws, "queue_url", die)
        with pytest.raises(_Killed):
            bootstrap.webhooks().enqueue(event)
    queue = get_settings().stripe_events_queue
    assert shop.drain(queue, "payments_stripe_events") == 0
    real = time.time
    monkeypatch.setattr(idempotency, "time", SimpleNamespace(time=lambda: real() + 60))  # Stripe's first retry
    assert shop.webhook(event).status_code == 200
    assert shop.drain(queue, "payments_stripe_events") == 1
    monkeypatch.setattr(idempotency, "time", SimpleNamespace(time=lambda: real() + 3 * 86400))  # deduped for days
    assert shop.webhook(event).status_code == 200
    assert shop.drain(queue, "payments_stripe_events") == 0


def test_webhook_with_a_mismatched_amount_changes_nothing(shop: Checkout) -> None:
    order = shop.order(1)
    shop.pay(order["orderId"])
    paid = shop.payment(order["orderId"], DONE)
    event = {
        "id": "evt_mismatch",
        "type": "payment_intent.payment_failed",
        "data": {
            "object": {
                "id": paid["paymentIntentId"],
                "amount": 1,
                "currency": "inr",
                "metadata": {"orderId": order["orderId"], "paymentId": paid["paymentId"]},
            }
        },
    }
    assert shop.webhook(event).status_code == 200
    shop.drain(get_settings().stripe_events_queue, "payments_stripe_events")
    assert shop.payment(order["orderId"])["status"] == "SUCCEEDED"
    unknown = {"id": "evt_unknown", "type": "payment_intent.succeeded", "data": {"object": {"id": "pi_nope"}}}
    assert shop.webhook(unknown).status_code == 200
    assert shop.drain(get_settings().stripe_events_queue, "payments_stripe_events") == 1


def test_webhooks_out_of_order_never_move_a_payment_backwards(shop: Checkout) -> None:
    order = shop.order(1)
    shop.pay(order["orderId"])
    paid = shop.payment(order["orderId"], DONE)
    shop.finished(order["orderId"])
    obj = {
        "id": paid["paymentIntentId"],
        "amount": order["total"],
        "currency": "inr",
        "metadata": {"orderId": order["orderId"], "paymentId": paid["paymentId"]},
    }
    late = [
        {"id": "evt_late_fail", "type": "payment_intent.payment_failed", "data": {"object": obj}},
        {"id": "evt_late_action", "type": "payment_intent.requires_action", "data": {"object": obj}},
        {"id": "evt_late_ok", "type": "payment_intent.succeeded", "data": {"object": obj}},  # a second time
        {
            "id": "evt_refunded",
            "type": "charge.refunded",
            "data": {"object": {"payment_intent": paid["paymentIntentId"], "amount_refunded": 0}},
        },
    ]
    for event in late:
        assert shop.webhook(event).status_code == 200
    assert shop.drain(get_settings().stripe_events_queue, "payments_stripe_events") == len(late)
    after = shop.payment(order["orderId"])
    assert after["status"] == "SUCCEEDED" and after["captured"] == order["total"] and after["refunded"] == 0
    assert shop.get_order(order["orderId"])["status"] == "PAID"
    sqs = aws.client("sqs")
    dlq = sqs.get_queue_url(QueueName=f"{get_settings().stripe_events_queue}-dlq")["QueueUrl"]
    assert sqs.receive_message(QueueUrl=dlq, WaitTimeSeconds=0).get("Messages") is None
    shop.chain_ok(order["orderId"])


def test_validate_is_a_dry_run(shop: Checkout) -> None:
    order = shop.order(1)
    result = shop.ok(
        "POST", "/payments/validate", {"orderId": order["orderId"], "paymentMethod": "pm_card_visa"}, token=shop.token
    )
    assert result == {"valid": True, "problems": []}  # finding 7: no fraud verdict for the customer (an oracle)
    staff = shop.ok(
        "POST", "/payments/validate", {"orderId": order["orderId"], "paymentMethod": "pm_card_visa"}, token=shop.manager
    )
    assert staff["valid"] is True and staff["fraud"]["decision"] == "pass"
    assert shop.stripe_intents(order["orderId"]) == []
    assert shop.api.call("GET", f"/orders/{order['orderId']}/payment", token=shop.token).status_code == 404


def test_a_big_first_order_is_held_then_approved_by_a_manager(shop: Checkout) -> None:
    cheese = shop.product("Cheese", prices={"INR": 1_100_000, "USD": 20_000})
    dairy = shop.vendor([cheese["productId"]], name="Cheese Co")
    shop.stock(cheese, dairy, 5)
    order = shop.order(2, product=cheese)  # 22,000.00 INR: over the amount and first-order limits
    shop.pay(order["orderId"])
    held = shop.payment(order["orderId"], {"HELD"})
    assert held["fraud"]["decision"] == "hold" and len(held["fraud"]["reasons"]) == 2
    # finding 7: the hold keeps its stock for the review window (24 h), not the 15-minute reservation
    deadline = time.monotonic() + 10
    while shop.get_order(order["orderId"])["reservation"]["expiresAt"] < time.time() + 23 * 3600:
        assert time.monotonic() < deadline, "the review window was not given"
        time.sleep(0.2)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        resp = shop.api.call("POST", f"/orders/{order['orderId']}/approve", token=shop.manager)
        if resp.status_code == 200:
            break
        time.sleep(0.3)  # the wait's token is stored a moment after the hold
    assert resp.status_code == 200, resp.body
    assert shop.payment(order["orderId"], DONE)["status"] == "SUCCEEDED"
    assert shop.get_order(order["orderId"])["status"] == "PAID"
    shop.chain_ok(order["orderId"])
    rows = {r["action"]: r["details"] for r in bootstrap.payments().chain.rows(order["orderId"])}
    assert rows["awaiting_review"]["screen"]["fraud"]["decision"] == "hold"  # why it was held, recorded
    assert rows["charge_succeeded"]["screen"] == {"reviewed": True}  # charged after the approval


def test_the_fraud_score_is_shown_to_staff_only_and_no_one_approves_their_own_order(shop: Checkout) -> None:
    """Finding 7: GET /payment told the customer the score and the reasons (an oracle), and a
    manager could approve a hold on their own order."""
    cheese = shop.product("Cheese", prices={"INR": 1_100_000, "USD": 20_000})
    dairy = shop.vendor([cheese["productId"]], name="Cheese Co")
    shop.stock(cheese, dairy, 5)
    shop.ok("PATCH", "/users/me", {"name": "Boss", "phone": "+91 98765 43210"}, token=shop.manager)
    boss_address = shop.ok("POST", "/users/me/addresses", ADDRESS, token=shop.manager, status=201)["addressId"]
    resp = shop.api.call(
        "POST",
        "/orders",
        {"items": [line(cheese, 2)], "addressId": boss_address},
        token=shop.manager,
        headers={"Idempotency-Key": uuid.uuid4().hex},
    )
    assert resp.status_code == 201, resp.body
    own = json_body(resp)
    paid = shop.api.call(
        "POST",
        f"/orders/{own['orderId']}/pay",
        {"paymentMethod": "pm_card_visa"},
        token=shop.manager,
        headers={"Idempotency-Key": "own"},
    )
    assert paid.status_code == 202, paid.body
    shop.payment(own["orderId"], {"HELD"})
    refused = shop.api.call("POST", f"/orders/{own['orderId']}/approve", token=shop.manager)
    assert refused.status_code == 403 and json_body(refused)["error"]["code"] == "own_order"
    assert shop.payment(own["orderId"])["status"] == "HELD"

    order = shop.order(2, product=cheese)
    shop.pay(order["orderId"])
    shop.payment(order["orderId"], {"HELD"})
    mine = json_body(shop.api.call("GET", f"/orders/{order['orderId']}/payment", token=shop.token))
    assert "fraud" not in mine and mine["status"] == "HELD"
    assert shop.payment(order["orderId"])["fraud"]["decision"] == "hold"  # the manager's view


def test_a_held_order_rejected_releases_its_stock_and_charges_nothing(shop: Checkout) -> None:
    cheese = shop.product("Cheese", prices={"INR": 1_100_000, "USD": 20_000})
    dairy = shop.vendor([cheese["productId"]], name="Cheese Co")
    shop.stock(cheese, dairy, 5)
    order = shop.order(2, product=cheese)
    shop.pay(order["orderId"])
    shop.payment(order["orderId"], {"HELD"})
    time.sleep(1)
    rejected = shop.ok("POST", f"/orders/{order['orderId']}/reject", {"reason": "looks wrong"}, token=shop.manager)
    assert rejected["status"] == "REJECTED"
    assert shop.payment(order["orderId"], DONE)["status"] == "FAILED"
    assert shop.available(cheese, dairy) == (5, 0)
    assert shop.stripe_intents(order["orderId"]) == []
    shop.chain_ok(order["orderId"])


def test_stripe_timing_out_then_answering_is_retried_to_success(shop: Checkout, monkeypatch: Any) -> None:
    monkeypatch.setenv("STRIPE_TIMEOUT_SECONDS", "1")
    bootstrap.reset()
    from chalicelib.core import config

    config.reset()
    faults.inject({"target": "stripe", "mode": "timeout", "times": 1, "path": "/v1/payment_intents", "delaySeconds": 3})
    order = shop.order(1)
    shop.pay(order["orderId"])
    paid = shop.payment(order["orderId"], DONE, timeout=60)
    assert paid["status"] == "SUCCEEDED", paid
    # the timed-out create landed at Stripe anyway; the retry, same key, was answered with it
    (intent,) = shop.stripe_intents(order["orderId"])
    assert intent.status == "succeeded" and intent.id == paid["paymentIntentId"]
    assert shop.get_order(order["orderId"])["status"] == "PAID"


@pytest.mark.parametrize(
    "step",
    [
        "checkout_validate",
        "checkout_check_method",
        "checkout_score_fraud",
        "checkout_charge",
        "checkout_mark_paid",
    ],
)
def test_a_failure_at_each_step_leaves_nothing_half_done(shop: Checkout, step: str) -> None:
    faults.inject({"target": "step", "step": step, "error": "InjectedFault", "times": 10})
    order = shop.order(2)
    shop.pay(order["orderId"])
    shop.payment(order["orderId"], DONE)
    shop.finished(order["orderId"])
    payment = shop.payment(order["orderId"])
    status = shop.get_order(order["orderId"])["status"]
    available, reserved = shop.available(shop.milk, shop.vendor_)
    sold = 2 if status == "PAID" else 0
    assert available + reserved + sold == 10  # stock conserved
    intents = shop.stripe_intents(order["orderId"])
    from chalicelib.payments import gateway

    charged = sum(pi.amount for pi in intents if pi.status == "succeeded")
    refunded = sum(  # only a succeeded intent has a charge to refund (a cancelled one has none)
        r.amount
        for pi in intents
        if pi.status == "succeeded"
        for r in gateway.client().refunds.list(params={"payment_intent": pi.id}).data
    )
    assert charged - refunded in (0, order["total"])
    if charged - refunded == 0:
        assert payment["status"] in ("FAILED", "REFUNDED")
        assert status in ("PENDING_PAYMENT", "EXPIRED", "REFUNDED")  # retryable, or over and said so
    shop.chain_ok(order["orderId"])
    entries = bootstrap.payments().ledger.entries(order["orderId"])
    assert rules.balanced(entries)


def test_the_chain_command_reports_an_edited_or_deleted_audit_row(
    shop: Checkout, capsys: pytest.CaptureFixture[str]
) -> None:
    from chalicelib.ops.__main__ import main

    order = shop.order(1)
    shop.pay(order["orderId"])
    shop.payment(order["orderId"], DONE)
    shop.finished(order["orderId"])
    assert main(["verify-chain", order["orderId"]]) == 0
    assert capsys.readouterr().out.strip() == f"{order['orderId']}: intact"
    assert main(["verify-chain", "no-such-order"]) == 1
    assert "no payment recorded" in capsys.readouterr().out

    ddb, table = aws.client("dynamodb"), get_settings().audit_table
    rows = bootstrap.payments().chain.rows(order["orderId"])
    subject = bootstrap.payments().chain.subject(order["orderId"])
    key = {"pk": {"S": subject}, "sk": {"S": rows[1]["sk"]}}
    original = ddb.get_item(TableName=table, Key=key)["Item"]
    ddb.update_item(
        TableName=table,
        Key=key,
        UpdateExpression="SET #a = :a",
        ExpressionAttributeNames={"#a": "action"},
        ExpressionAttributeValues={":a": {"S": "refund_succeeded"}},
    )
    assert main(["verify-chain", order["orderId"]]) == 1
    assert "BROKEN" in capsys.readouterr().out

    ddb.put_item(TableName=table, Item=original)
    assert main(["verify-chain", order["orderId"]]) == 0
    capsys.readouterr()
    ddb.delete_item(TableName=table, Key=key)
    assert main(["verify-chain", order["orderId"]]) == 1
    assert "BROKEN" in capsys.readouterr().out


def expire_reservation(order_id: str) -> None:
    aws.client("dynamodb").update_item(
        TableName=get_settings().orders_table,
        Key={"pk": {"S": f"ORDER#{order_id}"}, "sk": {"S": "META"}},
        UpdateExpression="SET reservation.expiresAt = :past, holdUntil = :hold",
        ExpressionAttributeValues={
            ":past": {"N": str(int(time.time()) - 1)},
            ":hold": {"S": hold_until(int(time.time()) - 1)},
        },
    )


def _deferred_with_a_lost_charge(shop: Checkout) -> tuple[dict[str, Any], str, Any]:
    """A checkout whose every charge try timed out (deferred to the failed-transactions queue),
    while Stripe took the money: (order, paymentId, the intent that took it)."""
    from chalicelib.payments import gateway

    faults.inject({"target": "step", "step": "checkout_charge", "error": "Transient", "times": 4})
    order = shop.order(2)
    payment_id = json_body(shop.pay(order["orderId"]))["paymentId"]
    deadline = time.monotonic() + 60
    while not bootstrap.payments().payments.partition(order["orderId"]).payments[0].deferred:
        assert time.monotonic() < deadline, "never deferred"
        time.sleep(0.2)
    shop.finished(order["orderId"])
    metadata = {"orderId": order["orderId"], "paymentId": payment_id, "userId": order["userId"]}
    lost = gateway.StripeGateway().charge(
        order["total"], order["currency"], "pm_card_visa", metadata, f"pi-{payment_id}", None
    )
    assert lost.outcome == "succeeded"
    return order, payment_id, lost


def _refunded_once(shop: Checkout, order: dict[str, Any], intent_id: str) -> None:
    from chalicelib.payments import gateway

    (intent,) = shop.stripe_intents(order["orderId"])
    refunds = gateway.client().refunds.list(params={"payment_intent": intent.id}).data
    assert intent.id == intent_id and intent.status == "succeeded"
    assert sum(r.amount for r in refunds) == order["total"], [r.amount for r in refunds]
    assert shop.get_order(order["orderId"])["status"] == "EXPIRED"
    assert shop.available(shop.milk, shop.vendor_) == (10, 0)
    entries = bootstrap.payments().ledger.entries(order["orderId"])
    assert rules.balance(entries)["captured"] == rules.balance(entries)["refunded"] == order["total"]
    assert rules.balanced(entries)
    shop.chain_ok(order["orderId"])


def test_a_deferred_charge_whose_answer_was_lost_is_refunded_when_the_reservation_ran_out(shop: Checkout) -> None:
    """The charge reached Stripe but its answer never came back (every try: the payment is
    deferred); the reservation runs out before the failed-transactions consumer retries. Stripe
    is asked (by our metadata): the money it took is given back."""
    order, _, lost = _deferred_with_a_lost_charge(shop)
    expire_reservation(order["orderId"])
    assert shop.drain(get_settings().failed_transactions_queue, "payments_retry_failed") == 1
    payment = shop.payment(order["orderId"])
    assert payment["status"] == "REFUNDED" and payment["paymentIntentId"] == lost.intent_id, payment
    _refunded_once(shop, order, str(lost.intent_id))


def test_a_lost_charge_is_refunded_when_the_sweeper_expires_the_order_first(shop: Checkout) -> None:
    """Finding 1: confirm timed out at Stripe but succeeded, Stripe stayed slow, and the
    reservation sweeper expired the order before the failed-transactions consumer retried. The
    expiry used to fail the payment without asking Stripe (card charged, payment FAILED)."""
    s = get_settings()
    order, _, lost = _deferred_with_a_lost_charge(shop)
    expire_reservation(order["orderId"])
    assert bootstrap.order_lifecycle().sweep()["released"] == 1
    assert bootstrap.payments().settle_expired(order["orderId"]).startswith("settled 1")  # OrderExpired's handler
    payment = shop.payment(order["orderId"])
    assert payment["status"] == "REFUNDED" and payment["paymentIntentId"] == lost.intent_id, payment
    _refunded_once(shop, order, str(lost.intent_id))
    assert shop.drain(s.failed_transactions_queue, "payments_retry_failed") == 1  # the late retry: nothing more
    _refunded_once(shop, order, str(lost.intent_id))
    # the customer is told the money is coming back (once; the payment never recorded an address)
    aws.client("ses").verify_email_identity(EmailAddress=s.mail_from)
    shop.drain(s.notifications_queue, "handle_notifications")
    sent = [m for m in get_backend("ses")["123456789012"]["us-east-1"].sent_messages if "ann" in str(m.destinations)]
    told = [m for m in sent if m.subject.startswith("Refund issued") and order["orderId"] in m.body]
    assert len(told) == 1 and "We refunded INR" in told[0].body, [m.subject for m in sent]


def test_a_succeeded_event_for_a_payment_already_failed_is_refunded(shop: Checkout) -> None:
    """Finding 1: Stripe's events are the source of truth. A payment_intent.succeeded for a
    payment we had given up (FAILED) used to be dropped ("no move"): the money is given back."""
    s = get_settings()
    order, payment_id, lost = _deferred_with_a_lost_charge(shop)
    expire_reservation(order["orderId"])
    bootstrap.payments().compensation.fail(
        order["orderId"], payment_id, "given up before Stripe answered"
    )  # the old outcome
    assert bootstrap.order_lifecycle().sweep()["released"] == 1
    event = {
        "id": "evt_late_success",
        "type": "payment_intent.succeeded",
        "data": {
            "object": {
                "id": lost.intent_id,
                "object": "payment_intent",
                "amount": order["total"],
                "currency": order["currency"].lower(),
                "status": "succeeded",
                "metadata": {"orderId": order["orderId"], "paymentId": payment_id},
            }
        },
    }
    assert shop.webhook(event).status_code == 200
    assert shop.drain(s.stripe_events_queue, "payments_stripe_events") == 1
    assert shop.payment(order["orderId"])["status"] == "REFUNDED"
    _refunded_once(shop, order, str(lost.intent_id))


def _a_day_later(monkeypatch: pytest.MonkeyPatch) -> None:
    """25 hours on: Stripe has forgotten every idempotency key, and the Stripe port's clock (an
    injected ``Clock``) says so."""
    from freshcart_local import stripe_local

    stripe_local._replays.clear()
    real = time.time
    monkeypatch.setattr(bootstrap.payments().steps.stripe, "clock", lambda: real() + 25 * 3600)


def test_a_lost_charge_redriven_after_25_hours_is_found_by_its_metadata_and_refunded(
    shop: Checkout, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Finding 3: a deferred charge redriven a day later. Replaying the create with its expired
    key made a new, unconfirmed intent, the real charge went unseen and the payment FAILED."""
    order, _, lost = _deferred_with_a_lost_charge(shop)
    _a_day_later(monkeypatch)
    expire_reservation(order["orderId"])
    assert shop.drain(get_settings().failed_transactions_queue, "payments_retry_failed") == 1
    assert shop.payment(order["orderId"])["status"] == "REFUNDED"
    _refunded_once(shop, order, str(lost.intent_id))


def test_a_refund_whose_answer_was_lost_redriven_after_25_hours_refunds_once(
    shop: Checkout, api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Finding 3: Stripe made the refund but its answer never came back; the retry comes a day
    later, when Stripe no longer knows the key. It used to refund a second time."""
    from chalicelib.payments import gateway

    order = shop.order(2)
    shop.pay(order["orderId"])
    shop.payment(order["orderId"], {"SUCCEEDED"})
    shop.finished(order["orderId"])
    monkeypatch.setenv("STRIPE_TIMEOUT_SECONDS", "1")
    config_reset()
    faults.inject({"target": "stripe", "mode": "timeout", "times": 1, "path": "/v1/refunds", "delaySeconds": 2})
    resp = api.call(
        "POST",
        f"/orders/{order['orderId']}/refunds",
        {"reason": "damaged", "amount": 1500},
        token=shop.manager,
        headers={"Idempotency-Key": "lost-answer"},
    )
    assert resp.status_code == 201 and json_body(resp)["status"] == "PENDING", resp.body
    (intent,) = shop.stripe_intents(order["orderId"])
    deadline = time.monotonic() + 10
    while not gateway.client().refunds.list(params={"payment_intent": intent.id}).data:  # Stripe acted
        assert time.monotonic() < deadline, "the delayed refund never reached Stripe"
        time.sleep(0.1)
    _a_day_later(monkeypatch)
    assert shop.drain(get_settings().failed_transactions_queue, "payments_retry_failed") == 1
    (refund,) = gateway.client().refunds.list(params={"payment_intent": intent.id}).data
    assert refund.amount == 1500 and refund.metadata.to_dict()["orderId"] == order["orderId"]
    (ours,) = shop.payment(order["orderId"])["refunds"]
    assert ours["status"] == "SUCCEEDED"
    entries = bootstrap.payments().ledger.entries(order["orderId"])
    assert rules.balance(entries)["refunded"] == 1500 and rules.balanced(entries)
    shop.chain_ok(order["orderId"])


def config_reset() -> None:
    """Settings and the Stripe client read the environment afresh."""
    from chalicelib.core import config
    from chalicelib.payments import gateway

    config.reset()
    gateway.reset()
    bootstrap.reset()


def test_an_automatic_refund_that_failed_is_tried_again_until_done(
    shop: Checkout, api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Finding 5: the refund of a cancelled order always used the key ``order-cancelled``; once
    it FAILED, every retry replayed the failure and the customer's money stayed with us."""
    from chalicelib.payments import gateway

    order = shop.order(2)
    shop.pay(order["orderId"])
    shop.payment(order["orderId"], {"SUCCEEDED"})
    shop.finished(order["orderId"])
    resp = api.call("POST", f"/orders/{order['orderId']}/cancel", {"reason": "changed my mind"}, token=shop.token)
    assert resp.status_code == 200, resp.body
    real = gateway.StripeGateway.refund
    calls: list[str] = []

    def refused_once(self: Any, *args: Any, **kwargs: Any) -> str:
        calls.append(args[2])
        if len(calls) == 1:
            raise gateway.Refused("charge_disputed: the charge is disputed")
        return real(self, *args, **kwargs)

    monkeypatch.setattr(gateway.StripeGateway, "refund", refused_once)
    svc = bootstrap.payments()
    with pytest.raises(RuntimeError):  # the OrderCancelled message comes back
        svc.refund_cancelled(order["orderId"], "order cancelled")
    assert svc.refund_cancelled(order["orderId"], "order cancelled") == "refunded"
    assert svc.refund_cancelled(order["orderId"], "order cancelled") == "nothing to refund"  # a redelivery
    assert len(set(calls)) == 2  # a key of its own for the second try
    refunds = shop.payment(order["orderId"])["refunds"]
    assert sorted(r["status"] for r in refunds) == ["FAILED", "SUCCEEDED"]
    (intent,) = shop.stripe_intents(order["orderId"])
    at_stripe = gateway.client().refunds.list(params={"payment_intent": intent.id}).data
    assert sum(r.amount for r in at_stripe) == order["total"]
    assert rules.balanced(bootstrap.payments().ledger.entries(order["orderId"]))
    shop.chain_ok(order["orderId"])


def test_a_payment_dead_lettered_after_its_retries_is_redriven_and_paid(shop: Checkout) -> None:
    """Stripe down through every retry: the payment is deferred to the failed-transactions queue;
    its consumer fails 3 times (the DLQ); redriven once Stripe is back, it charges once."""
    from chalicelib.ops.__main__ import main

    s = get_settings()
    faults.inject({"target": "stripe", "mode": "error500", "times": 1000, "path": "/v1/payment_intents"})
    order = shop.order(1)
    paying = shop.pay(order["orderId"], **{"x-correlation-id": "redrive-1"})
    payment_id = json_body(paying)["paymentId"]
    sqs = aws.client("sqs")
    queue = sqs.get_queue_url(QueueName=s.failed_transactions_queue)["QueueUrl"]
    dlq_name = f"{s.failed_transactions_queue}-dlq"
    dlq = sqs.get_queue_url(QueueName=dlq_name)["QueueUrl"]

    def depth(url: str) -> int:
        attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
        return int(attrs["Attributes"]["ApproximateNumberOfMessages"])

    deadline = time.monotonic() + 60
    while not depth(queue):
        assert time.monotonic() < deadline, "never deferred"
        time.sleep(0.3)
    # the consumer's three failed receives (the queue's maxReceiveCount), then the DLQ
    for _ in range(3):
        assert shop.drain(s.failed_transactions_queue, "payments_retry_failed", visibility=0) == 1
        assert shop.payment(order["orderId"])["status"] == "PROCESSING"
    assert sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=0).get("Messages") is None
    (dead,) = sqs.receive_message(QueueUrl=dlq, WaitTimeSeconds=0, VisibilityTimeout=0)["Messages"]
    expected = {"kind": "charge", "orderId": order["orderId"], "paymentId": payment_id, "correlationId": "redrive-1"}
    assert json.loads(dead["Body"]) == expected  # the pay request's correlation id rides along
    faults.clear()
    assert shop.stripe_intents(order["orderId"]) == []  # nothing was charged meanwhile
    assert main(["redrive", dlq_name]) == 0
    assert shop.drain(s.failed_transactions_queue, "payments_retry_failed") == 1
    paid = shop.payment(order["orderId"], DONE)
    assert paid["status"] == "SUCCEEDED"
    assert paid["fraud"]["decision"] == "pass"  # the deferral kept the screening for the retry's charge
    (stored,) = bootstrap.payments().payments.partition(order["orderId"]).payments
    assert stored.email == "ann@example.com"  # so the receipt has an address
    (intent,) = shop.stripe_intents(order["orderId"])
    assert intent.status == "succeeded" and intent.amount == order["total"]
    shop.finished(order["orderId"])
    assert shop.get_order(order["orderId"])["status"] == "PAID"
    shop.chain_ok(order["orderId"])


def test_health_is_liveness_for_anyone_and_each_dependency_for_an_admin(shop: Checkout, api: Api) -> None:
    public = shop.api.call("GET", "/health")
    assert public.status_code == 200 and json_body(public) == {"status": "ok"}
    assert json_body(shop.api.call("GET", "/health", token=shop.token)) == {"status": "ok"}  # a customer
    admin = api.user("oncall", role="admin")["accessToken"]
    report = json_body(shop.api.call("GET", "/health", token=admin))
    shop.conforms("Health", report)
    assert report["status"] == "ok", report
    assert [c["name"] for c in report["checks"]] == ["dynamodb", "queues", "stripe", "stepfunctions"]
    assert all(c["status"] == "ok" for c in report["checks"])
    # a dead letter makes it degraded, and says where
    sqs = aws.client("sqs")
    dlq = f"{get_settings().failed_transactions_queue}-dlq"
    sqs.send_message(QueueUrl=sqs.get_queue_url(QueueName=dlq)["QueueUrl"], MessageBody="{}")
    report = json_body(shop.api.call("GET", "/health", token=admin))
    shop.conforms("Health", report)
    (queues,) = [c for c in report["checks"] if c["name"] == "queues"]
    assert report["status"] == "degraded" and queues["detail"]["deadLetters"][dlq] == 1
    # Stripe unreachable: down, named
    faults.inject({"target": "stripe", "mode": "error500", "times": 5})
    report = json_body(shop.api.call("GET", "/health", token=admin))
    (stripe,) = [c for c in report["checks"] if c["name"] == "stripe"]
    assert report["status"] == "down" and stripe["status"] == "down" and "APIError" in stripe["detail"], stripe


def test_two_concurrent_refunds_that_both_fit_are_both_recorded(shop: Checkout, api: Api) -> None:
    order = shop.order(2)  # 6000
    shop.pay(order["orderId"])
    shop.payment(order["orderId"], {"SUCCEEDED"})
    shop.settled(order["orderId"])

    def refund(key: str) -> Any:
        return api.call(
            "POST",
            f"/orders/{order['orderId']}/refunds",
            {"amount": 2000, "reason": "two pouches leaked"},
            token=shop.manager,
            headers={"Idempotency-Key": key},
        )

    results = race(lambda: refund("p"), lambda: refund("q"))
    assert [r.status_code for r in results] == [201, 201], [r.body for r in results]
    assert {json_body(r)["status"] for r in results} == {"SUCCEEDED"}
    payment = shop.payment(order["orderId"])
    assert payment["refunded"] == 4000 and sorted(x["status"] for x in payment["refunds"]) == ["SUCCEEDED"] * 2
    got = shop.get_order(order["orderId"])
    assert got["status"] == "PAID" and got["refund"]["status"] == "PARTIAL" and got["refund"]["amount"] == 4000, got
    from chalicelib.payments import gateway

    at_stripe = gateway.client().refunds.list(params={"payment_intent": payment["paymentIntentId"]}).data
    assert sorted(r.amount for r in at_stripe) == [2000, 2000]
    entries = bootstrap.payments().ledger.entries(order["orderId"])
    assert rules.balance(entries)["refunded"] == 4000 and rules.balanced(entries)


def test_orders_payments_and_refunds_are_counted_once_each_as_emf(
    shop: Checkout, api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    lines: list[str] = []
    monkeypatch.setattr(metrics, "sink", lines.append)
    order = shop.order(2)
    shop.pay(order["orderId"])
    shop.payment(order["orderId"], {"SUCCEEDED"})
    resp = api.call(
        "POST",
        f"/orders/{order['orderId']}/refunds",
        {"reason": "damaged", "amount": 100},
        token=shop.manager,
        headers={"Idempotency-Key": "r1"},
    )
    assert resp.status_code == 201, resp.body
    counted: dict[str, float] = {}
    for text in lines:
        for d in metrics.parse(text) or []:
            if d["Namespace"] == "freshcart" and d["MetricName"] in ("OrdersPlaced", "PaymentsSucceeded", "Refunds"):
                counted[d["MetricName"]] = counted.get(d["MetricName"], 0) + d["Value"]
    assert counted == {"OrdersPlaced": 1, "PaymentsSucceeded": 1, "Refunds": 1}
    api_lines = [d for t in lines for d in metrics.parse(t) or [] if d["MetricName"] == "Requests"]
    assert api_lines and all(d["Dimensions"] == [{"Name": "Service", "Value": "api"}] for d in api_lines)


def test_a_partly_refunded_order_is_approved_then_cancelled_restocked_and_refunded_the_rest(
    shop: Checkout, api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Finding 5: PARTIALLY_REFUNDED was a dead end (no approve, cancel or restock) and a refunded
    CANCELLED order lost CANCELLED. Refunds are now an axis beside the fulfilment status. The
    cancel comes while the first refund is at Stripe (it used to 409 the manager with the money
    gone and the refund stuck PENDING): both land, and the cancel owes exactly the rest."""
    from chalicelib.payments import gateway

    order = shop.order(2)  # 6000
    shop.pay(order["orderId"])
    shop.payment(order["orderId"], {"SUCCEEDED"})
    shop.finished(order["orderId"])
    real = gateway.StripeGateway.refund

    def cancel_meanwhile(self: Any, *args: Any, **kwargs: Any) -> str:
        monkeypatch.setattr(gateway.StripeGateway, "refund", real)
        cancelled = api.call("POST", f"/orders/{order['orderId']}/cancel", {"reason": "moved"}, token=shop.token)
        assert cancelled.status_code == 200, cancelled.body
        return real(self, *args, **kwargs)

    approved = api.call("POST", f"/orders/{order['orderId']}/approve", {}, token=shop.manager)
    assert approved.status_code == 200 and json_body(approved)["status"] == "APPROVED"
    monkeypatch.setattr(gateway.StripeGateway, "refund", cancel_meanwhile)
    resp = api.call(
        "POST",
        f"/orders/{order['orderId']}/refunds",
        {"amount": 1000, "reason": "one pouch leaked"},
        token=shop.manager,
        headers={"Idempotency-Key": "leak"},
    )
    assert resp.status_code == 201 and json_body(resp)["status"] == "SUCCEEDED", resp.body
    got = shop.get_order(order["orderId"])
    assert got["status"] == "CANCELLED", got
    assert got["refund"] == {"status": "REQUIRED", "amount": 1000, "owed": 5000, "currency": "INR"}, got
    assert shop.available(shop.milk, shop.vendor_) == (10, 0)  # restocked
    assert bootstrap.payments().refund_cancelled(order["orderId"], "order cancelled") == "refunded"
    got = shop.get_order(order["orderId"])
    assert got["status"] == "CANCELLED" and got["refund"]["status"] == "DONE" and got["refund"]["amount"] == 6000
    assert [h["status"] for h in got["history"]][-2:] == ["APPROVED", "CANCELLED"]
    (intent,) = shop.stripe_intents(order["orderId"])
    at_stripe = gateway.client().refunds.list(params={"payment_intent": intent.id}).data
    assert sorted(r.amount for r in at_stripe) == [1000, 5000]
    entries = bootstrap.payments().ledger.entries(order["orderId"])
    assert rules.balance(entries) == {
        "captured": 6000,
        "refunded": 6000,
        "disputed": 0,
        "settled": 0,
        "fees": 0,
        "stripeFees": 0,
    }
    assert rules.balanced(entries)
    shop.chain_ok(order["orderId"])


def test_orders_stored_with_refunds_in_their_status_are_migrated_once(shop: Checkout) -> None:
    """Items written before the refund axis: PARTIALLY_REFUNDED / REFUNDED statuses, and a
    cancelled order whose REQUIRED ``refund.amount`` was what it owed. ``make migrate-orders``."""
    s, ddb = get_settings(), aws.client("dynamodb")
    old = {
        "PARTIALLY_REFUNDED": ("APPROVED", {"status": "PARTIAL", "amount": 1000}),
        "REFUNDED": ("CANCELLED", {"status": "DONE", "amount": 6000}),
        "CANCELLED": ("CANCELLED", {"status": "REQUIRED", "amount": 6000}),
    }
    ids = {}
    for status, (before, refund) in old.items():
        order = shop.order(2)
        history = [{"status": "PAID", "at": "t"}, {"status": before, "at": "t"}]
        if status != before:
            history.append({"status": status, "at": "t"})
        ddb.update_item(
            TableName=s.orders_table,
            Key={"pk": {"S": f"ORDER#{order['orderId']}"}, "sk": {"S": "META"}},
            UpdateExpression="SET #s = :s, refund = :r, history = list_append(history, :h)",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={
                ":s": {"S": status},
                ":r": {
                    "M": {
                        "status": {"S": refund["status"]},
                        "amount": {"N": str(refund["amount"])},
                        "currency": {"S": "INR"},
                    }
                },
                ":h": {"L": [{"M": {"status": {"S": h["status"]}, "at": {"S": h["at"]}}} for h in history]},
            },
        )
        ids[status] = order["orderId"]
    assert bootstrap.order_lifecycle().migrate_refund_axis()["migrated"] == 3
    got = {k: shop.get_order(v) for k, v in ids.items()}
    assert (got["PARTIALLY_REFUNDED"]["status"], got["PARTIALLY_REFUNDED"]["refund"]) == (
        "APPROVED",
        {"status": "PARTIAL", "amount": 1000, "owed": 0, "currency": "INR"},
    )
    assert got["REFUNDED"]["status"] == "CANCELLED" and got["REFUNDED"]["refund"]["status"] == "DONE"
    assert got["CANCELLED"]["refund"] == {"status": "REQUIRED", "amount": 0, "owed": 6000, "currency": "INR"}
    assert bootstrap.order_lifecycle().migrate_refund_axis()["migrated"] == 0  # a re-run changes nothing


def _another_run(order_id: str, payment_id: str, phase: str = "start") -> None:
    """What AWS may do and moto (patched as AWS) now does: an Express start with a used name
    (a retried StartExecution, a replayed pay) runs again, beside or after the first."""
    sfn = aws.client("stepfunctions")
    body = json.dumps({"orderId": order_id, "paymentId": payment_id, "phase": phase, "correlationId": "dup"})
    sfn.start_execution(
        stateMachineArn=get_settings().checkout_state_machine_arn, name=f"{payment_id}-{phase}", input=body
    )


def test_two_runs_of_one_payment_charge_once_and_a_late_one_changes_nothing(shop: Checkout) -> None:
    """Finding 2: two runs of one checkout (concurrent, and one after the payment was paid).
    Before the run fence, the losing run failed a HELD payment or refunded a SUCCEEDED one."""
    order = shop.order(2)
    paid = json_body(shop.pay(order["orderId"]))
    _another_run(order["orderId"], paid["paymentId"])  # at once, beside the first
    shop.payment(order["orderId"], DONE)
    shop.finished(order["orderId"])
    rows = len(bootstrap.payments().chain.rows(order["orderId"]))
    _another_run(order["orderId"], paid["paymentId"])  # long after
    time.sleep(1)
    shop.finished(order["orderId"])
    payment = shop.payment(order["orderId"])
    assert payment["status"] == "SUCCEEDED" and payment["refunded"] == 0, payment
    assert shop.get_order(order["orderId"])["status"] == "PAID"
    (intent,) = shop.stripe_intents(order["orderId"])
    from chalicelib.payments import gateway

    assert gateway.client().refunds.list(params={"payment_intent": intent.id}).data == []
    assert len(bootstrap.payments().chain.rows(order["orderId"])) == rows  # the late run wrote nothing
    entries = bootstrap.payments().ledger.entries(order["orderId"])
    assert rules.balance(entries)["captured"] == order["total"] and rules.balanced(entries)
    assert shop.available(shop.milk, shop.vendor_) == (8, 0)
    shop.chain_ok(order["orderId"])


def test_a_second_run_of_a_held_payment_leaves_it_held_for_the_manager(shop: Checkout) -> None:
    """Finding 2: a duplicate run finds the payment HELD (not PROCESSING), is refused, and used
    to fail the payment under the manager's review. It now ends having changed nothing."""
    cheese = shop.product("Cheese", prices={"INR": 1_100_000, "USD": 20_000})
    dairy = shop.vendor([cheese["productId"]], name="Cheese Co")
    shop.stock(cheese, dairy, 5)
    order = shop.order(2, product=cheese)
    paid = json_body(shop.pay(order["orderId"]))
    shop.payment(order["orderId"], {"HELD"})
    time.sleep(0.5)  # the hold's wait stores its token
    rows = len(bootstrap.payments().chain.rows(order["orderId"]))
    _another_run(order["orderId"], paid["paymentId"])
    sfn, arn = aws.client("stepfunctions"), get_settings().checkout_state_machine_arn
    deadline = time.monotonic() + 20
    while sfn.list_executions(stateMachineArn=arn, statusFilter="RUNNING")["executions"]:  # the Express runs
        assert time.monotonic() < deadline
        time.sleep(0.2)
    assert shop.payment(order["orderId"])["status"] == "HELD"
    assert len(bootstrap.payments().chain.rows(order["orderId"])) == rows  # the second run wrote nothing
    deadline = time.monotonic() + 10
    while (resp := shop.api.call("POST", f"/orders/{order['orderId']}/approve", token=shop.manager)).status_code != 200:
        assert time.monotonic() < deadline, resp.body
        time.sleep(0.3)
    assert shop.payment(order["orderId"], DONE)["status"] == "SUCCEEDED"
    _another_run(order["orderId"], paid["paymentId"], "approved")  # the approved run, twice
    time.sleep(1)
    shop.finished(order["orderId"])
    assert len(shop.stripe_intents(order["orderId"])) == 1
    assert shop.payment(order["orderId"])["refunded"] == 0
    assert rules.balanced(bootstrap.payments().ledger.entries(order["orderId"]))
    shop.chain_ok(order["orderId"])


def test_the_pay_requests_correlation_id_travels_into_the_checkout_and_its_events(shop: Checkout) -> None:
    """§4: ``make events`` showed ``corr=-`` for PaymentSucceeded and OrderPaid; the id of the
    POST /orders/{id}/pay request now rides the checkout's input, its tasks and its events."""
    corr = f"pay-{uuid.uuid4().hex[:12]}"
    order = shop.order(1)
    assert shop.pay(order["orderId"], **{"x-correlation-id": corr}).status_code == 202
    shop.payment(order["orderId"], {"SUCCEEDED"})
    shop.finished(order["orderId"])
    stored = aws.client("dynamodb").get_item(
        TableName=get_settings().orders_table, Key={"pk": {"S": f"ORDER#{order['orderId']}"}, "sk": {"S": "META"}}
    )["Item"]
    assert stored["correlationId"]["S"] == corr  # OrderPaid is published from this item by the stream
    sqs = aws.client("sqs")
    url = sqs.get_queue_url(QueueName=get_settings().notifications_queue)["QueueUrl"]
    seen = []
    while got := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", []):
        for m in got:
            body = json.loads(m["Body"])
            body = json.loads(body["Message"]) if "Message" in body else body
            if body.get("type") == "PaymentSucceeded" and body["data"]["orderId"] == order["orderId"]:
                seen.append(body["correlationId"])
    assert seen == [corr]
