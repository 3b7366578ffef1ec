"""Payments end to end: the real local stack (API, moto with the checkout state machines really
executing, the event dispatcher, local Stripe and its webhooks) driven over HTTP with requests.
Every test asserts on state: the order, the payment record, stock, refunds, and Stripe's own
records read from local Stripe with the secret key. Faults are armed through the stack's
local-only fault switch. One stack for the module; each test has its own product, vendor,
pincode and customer."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
import requests

from tests.e2e import harness
from tests.e2e.harness import LocalStripeApi, bearer, login, poll

pytestmark = pytest.mark.e2e
DONE = {"SUCCEEDED", "FAILED", "REFUNDED"}
PRICE = 5000  # 50.00 INR a unit: far below the fraud rules' amount limits
UNITS = 10
STRIPE_TIMEOUT_SECONDS = harness.STRIPE_TIMEOUT_SECONDS  # what the stack under test was started with


def race(n: int, call: Callable[[int], Any]) -> list[Any]:
    """``n`` calls released together from ``n`` threads."""
    gate = threading.Barrier(n)

    def run(i: int) -> Any:
        gate.wait()
        return call(i)

    with ThreadPoolExecutor(max_workers=n) as pool:
        return list(pool.map(run, range(n)))


@dataclass
class Shop:
    """One test's world: a product stocked at a vendor serving its own pincode, and a customer."""

    env: Payments
    line: dict[str, Any]
    vendor_id: str
    customer: dict[str, str]
    address: str

    @property
    def api(self) -> str:
        return self.env.api

    def order(self, quantity: int = 2) -> dict[str, Any]:
        body: dict[str, Any] = {"items": [{**self.line, "quantity": quantity}], "addressId": self.address}
        r = requests.post(
            f"{self.api}/orders", headers={**self.customer, "Idempotency-Key": uuid.uuid4().hex}, json=body, timeout=30
        )
        assert r.status_code == 201, r.text
        order: dict[str, Any] = r.json()
        assert order["status"] == "PENDING_PAYMENT" and order["total"] == PRICE * quantity
        return order

    def pay(self, order_id: str, method: str = "pm_card_visa", key: str | None = None) -> requests.Response:
        return requests.post(
            f"{self.api}/orders/{order_id}/pay",
            headers={**self.customer, "Idempotency-Key": key or uuid.uuid4().hex},
            json={"paymentMethod": method},
            timeout=30,
        )

    def get_order(self, order_id: str) -> dict[str, Any]:
        r = requests.get(f"{self.api}/orders/{order_id}", headers=self.customer, timeout=30)
        assert r.status_code == 200, r.text
        body: dict[str, Any] = r.json()
        return body

    def order_until(self, order_id: str, statuses: set[str], timeout: float = 30) -> dict[str, Any]:
        return poll(
            lambda: self.get_order(order_id), lambda o: o["status"] in statuses, timeout, f"order in {statuses}"
        )

    def refund_until(self, order_id: str, status: str, timeout: float = 30) -> dict[str, Any]:
        """The order once its refund axis reads ``status`` (PARTIAL, DONE, REQUIRED)."""
        return poll(
            lambda: self.get_order(order_id),
            lambda o: (o.get("refund") or {}).get("status") == status,
            timeout,
            f"order refund {status}",
        )

    def payment(self, order_id: str) -> dict[str, Any]:
        r = requests.get(f"{self.api}/orders/{order_id}/payment", headers=self.customer, timeout=30)
        return {"_status": r.status_code, **r.json()}

    def payment_until(self, order_id: str, statuses: set[str], timeout: float = 30) -> dict[str, Any]:
        return poll(
            lambda: self.payment(order_id),
            lambda p: p["_status"] == 200 and p["status"] in statuses,
            timeout,
            f"payment in {statuses}",
        )

    def stock(self) -> tuple[int, int]:
        """(available, reserved) of the product at the vendor; sold = UNITS - both."""
        r = requests.get(f"{self.api}/inventory?vendorId={self.vendor_id}", headers=self.env.admin, timeout=30)
        assert r.status_code == 200, r.text
        (item,) = r.json()["items"]
        return int(item["available"]), int(item["reserved"])

    def refund(self, order_id: str, key: str, amount: int | None = None, who: dict[str, str] | None = None) -> Any:
        body: dict[str, Any] = {"reason": "damaged in transit", **({"amount": amount} if amount else {})}
        return requests.post(
            f"{self.api}/orders/{order_id}/refunds",
            headers={**(who or self.env.manager), "Idempotency-Key": key},
            json=body,
            timeout=60,
        )

    # -- Stripe's side --------------------------------------------------------------------------
    def intents(self, order_id: str) -> list[dict[str, Any]]:
        """Every PaymentIntent at local Stripe whose metadata names the order."""
        found = self.env.stripe.get("/v1/payment_intents", limit=100)["data"]
        return [pi for pi in found if (pi.get("metadata") or {}).get("orderId") == order_id]

    def refunds_at_stripe(self, intent_id: str) -> list[dict[str, Any]]:
        return list(self.env.stripe.get("/v1/refunds", payment_intent=intent_id, limit=100)["data"])

    def net_charged(self, order_id: str) -> tuple[int, int, int]:
        """(succeeded charges, their count, refunded) at Stripe for the order."""
        won = [pi for pi in self.intents(order_id) if pi["status"] == "succeeded"]
        refunded = sum(r["amount"] for pi in won for r in self.refunds_at_stripe(pi["id"]))
        return sum(pi["amount"] for pi in won), len(won), refunded


@dataclass
class Payments:
    facts: dict[str, Any]
    api: str
    admin: dict[str, str]
    manager: dict[str, str]
    stripe: LocalStripeApi
    pincodes: Iterator[int]

    def shop(self, name: str) -> Shop:
        pincode = str(next(self.pincodes))
        run = uuid.uuid4().hex[:6]
        made = harness.stocked(self.api, self.admin, f"{name} {run}", pincode, UNITS, price=PRICE)
        customer, address = harness.shopper(self.api, f"{name.lower().replace(' ', '')}{run}", pincode)
        return Shop(self, made["line"], made["vendor"]["vendorId"], customer, address)

    def webhook(self, raw: bytes, signature: str) -> requests.Response:
        headers = {"Stripe-Signature": signature, "Content-Type": "application/json"}
        return requests.post(f"{self.api}/webhooks/stripe", data=raw, headers=headers, timeout=30)

    def sign(self, raw: bytes, timestamp: int | None = None, secret: str | None = None) -> str:
        ts = int(time.time()) if timestamp is None else timestamp
        key = (secret or self.facts["stripe"]["webhook_secret"]).encode()
        return f"t={ts},v1={hmac.new(key, f'{ts}.'.encode() + raw, hashlib.sha256).hexdigest()}"


@pytest.fixture(scope="module")
def env(stack: dict[str, Any]) -> Payments:
    return payments_env(stack)


def payments_env(stack: dict[str, Any], first_pincode: int = 560101) -> Payments:
    """Admin and manager logins on the stack, local Stripe, and a pincode per shop."""
    api = stack["api_url"]
    admin = bearer(login(api, stack["admin"]["email"], stack["admin"]["password"])["accessToken"])
    name = f"boss{uuid.uuid4().hex[:6]}"
    r = requests.post(
        f"{api}/auth/register",
        json={"username": name, "email": f"{name}@example.com", "password": "correct-horse-42"},
        timeout=30,
    )
    assert r.status_code == 201, r.text
    r = requests.patch(f"{api}/users/{r.json()['userId']}/role", headers=admin, json={"role": "manager"}, timeout=30)
    assert r.status_code == 200, r.text
    manager = bearer(login(api, f"{name}@example.com", "correct-horse-42")["accessToken"])
    return Payments(
        stack, api, admin, manager, LocalStripeApi(stack["stripe"]), iter(range(first_pincode, first_pincode + 98))
    )


@pytest.fixture
def faults(stack: dict[str, Any]) -> Iterator[Callable[[dict[str, Any]], dict[str, Any]]]:
    harness.clear_faults(stack)
    yield lambda spec: harness.fault(stack, spec)
    harness.clear_faults(stack)


def assert_paid(shop: Shop, order: dict[str, Any], quantity: int) -> dict[str, Any]:
    """The order PAID, its payment SUCCEEDED with all of it captured, Stripe's PaymentIntent
    succeeded for that amount naming the order, the reservation turned into a sale."""
    paid = shop.order_until(order["orderId"], {"PAID"})
    assert paid["payment"]["status"] == "SUCCEEDED"
    payment = shop.payment_until(order["orderId"], {"SUCCEEDED"})
    assert payment["captured"] == payment["amount"] == order["total"] and payment["refunded"] == 0
    assert payment["currency"] == "INR" and "clientSecret" not in payment
    pi = shop.env.stripe.get(f"/v1/payment_intents/{payment['paymentIntentId']}")
    assert pi["status"] == "succeeded" and pi["amount"] == order["total"] and pi["currency"] == "inr"
    assert pi["metadata"]["orderId"] == order["orderId"] and pi["metadata"]["paymentId"] == payment["paymentId"]
    assert shop.stock() == (UNITS - quantity, 0)  # sold: neither available nor reserved
    return payment


def test_pay_with_a_card_takes_the_order_to_paid(env: Payments) -> None:
    shop = env.shop("Paid Milk")
    order = shop.order(2)
    assert shop.stock() == (UNITS - 2, 2)
    r = shop.pay(order["orderId"], key="pay-1")
    assert r.status_code == 202, r.text
    accepted = r.json()
    assert accepted["orderId"] == order["orderId"] and accepted["status"] in ("PROCESSING", "SUCCEEDED")
    payment = assert_paid(shop, order, 2)
    assert payment["paymentId"] == accepted["paymentId"]
    assert "fraud" not in payment  # the customer is never told the fraud score (an oracle); staff are
    assert [a["status"] for a in payment["attempts"]] == ["SUCCEEDED"]
    assert len(shop.intents(order["orderId"])) == 1
    replay = shop.pay(order["orderId"], key="pay-1")  # the same key: the same payment, nothing new
    assert replay.status_code == 202 and replay.json()["paymentId"] == accepted["paymentId"]
    assert replay.json()["status"] == "SUCCEEDED"
    again = shop.pay(order["orderId"], key="pay-2")  # a paid order is not payable again
    assert again.status_code == 409 and again.json()["error"]["code"] == "not_payable"
    assert len(shop.intents(order["orderId"])) == 1


def test_three_d_secure_is_finished_by_the_customer_and_resumed_by_stripes_webhook(env: Payments) -> None:
    shop = env.shop("Secure Curd")
    order = shop.order(1)
    card = {"type": "card", "card[number]": "4000002760003184", "card[exp_month]": "12"}
    r = env.stripe.post("/v1/payment_methods", {**card, "card[exp_year]": "2030", "card[cvc]": "123"})
    assert r.status_code == 200, r.text
    r = shop.pay(order["orderId"], method=r.json()["id"])
    assert r.status_code == 202, r.text
    waiting = shop.payment_until(order["orderId"], {"REQUIRES_ACTION", *DONE})
    assert waiting["status"] == "REQUIRES_ACTION", waiting
    secret = waiting["clientSecret"]
    assert secret and secret.startswith(waiting["paymentIntentId"])
    pi = env.stripe.get(f"/v1/payment_intents/{waiting['paymentIntentId']}")
    assert pi["status"] == "requires_action"
    assert shop.get_order(order["orderId"])["status"] == "PENDING_PAYMENT" and shop.stock() == (UNITS - 1, 1)

    done = env.stripe.post(
        f"/v1/payment_intents/{waiting['paymentIntentId']}/_authenticate", {"client_secret": secret, "success": "true"}
    )
    assert done.status_code == 200, done.text
    # Nothing but Stripe knows the customer finished: its payment_intent.succeeded webhook resumes
    # the waiting checkout (or, had the customer been quicker than the wait, the wait's own look).
    payment = assert_paid(shop, order, 1)
    assert payment["paymentIntentId"] == waiting["paymentIntentId"] and len(shop.intents(order["orderId"])) == 1


def test_a_declined_card_leaves_the_order_payable_with_another(env: Payments) -> None:
    shop = env.shop("Declined Paneer")
    order = shop.order(2)
    r = shop.pay(order["orderId"], method="pm_card_visa_chargeDeclined")
    assert r.status_code == 202, r.text
    assert r.json()["status"] in ("PROCESSING", "FAILED")
    failed = shop.payment_until(order["orderId"], DONE)
    assert failed["status"] == "FAILED" and failed["captured"] == 0, failed
    assert failed["attempts"][0]["failure"]
    assert shop.get_order(order["orderId"])["status"] == "PENDING_PAYMENT"
    assert shop.stock() == (UNITS - 2, 2)  # still held for the customer
    assert [pi["status"] for pi in shop.intents(order["orderId"])] != ["succeeded"]

    r = shop.pay(order["orderId"], method="pm_card_visa")
    assert r.status_code == 202, r.text
    payment = assert_paid(shop, order, 2)
    assert [a["status"] for a in payment["attempts"]] == ["FAILED", "SUCCEEDED"]
    assert shop.net_charged(order["orderId"]) == (order["total"], 1, 0)  # exactly one charge


def test_cancelling_a_paid_order_refunds_it_in_full_and_restocks(env: Payments) -> None:
    shop = env.shop("Cancel Butter")
    order = shop.order(3)
    assert shop.pay(order["orderId"]).status_code == 202
    payment = assert_paid(shop, order, 3)
    r = requests.post(f"{env.api}/orders/{order['orderId']}/cancel", headers=shop.customer, json={}, timeout=30)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "CANCELLED" and r.json()["refund"]["status"] == "REQUIRED"
    refunded = shop.refund_until(order["orderId"], "DONE")  # through the refunds queue
    assert refunded["status"] == "CANCELLED" and refunded["refund"]["amount"] == order["total"]
    after = shop.payment(order["orderId"])
    assert after["refunded"] == after["captured"] == order["total"]
    assert [(x["amount"], x["status"]) for x in after["refunds"]] == [(order["total"], "SUCCEEDED")]
    (stripe_refund,) = shop.refunds_at_stripe(payment["paymentIntentId"])
    assert stripe_refund["amount"] == order["total"] and stripe_refund["status"] == "succeeded"
    assert shop.stock() == (UNITS, 0)  # the units are back


def test_a_manager_refunds_in_part_then_the_rest_and_never_more(env: Payments) -> None:
    shop = env.shop("Partial Ghee")
    order = shop.order(2)  # 10000
    assert shop.pay(order["orderId"]).status_code == 202
    payment = assert_paid(shop, order, 2)
    oid, total = order["orderId"], order["total"]

    r = shop.refund(oid, "cust-1", 100, who=shop.customer)
    assert r.status_code in (403, 404), r.text
    first = shop.refund(oid, "part-1", 4000)
    assert first.status_code == 201, first.text
    assert first.json()["amount"] == 4000 and first.json()["status"] == "SUCCEEDED"
    partial = shop.refund_until(oid, "PARTIAL")
    assert partial["refund"]["amount"] == 4000 and partial["status"] == "PAID"  # still to be delivered
    replay = shop.refund(oid, "part-1", 4000)
    assert replay.status_code == 201 and replay.json()["refundId"] == first.json()["refundId"]
    reused = shop.refund(oid, "part-1", 3000)  # the key with another body
    assert reused.status_code == 422 and reused.json()["error"]["code"] == "idempotency_key_reused"
    over = shop.refund(oid, "over", total - 4000 + 1)
    assert over.status_code == 409 and over.json()["error"]["code"] == "refund_exceeds_captured"

    rest = shop.refund(oid, "rest")
    assert rest.status_code == 201, rest.text
    assert rest.json()["amount"] == total - 4000
    done = shop.refund_until(oid, "DONE")
    assert done["refund"]["amount"] == total and done["status"] == "PAID"
    third = shop.refund(oid, "third", 1)
    assert third.status_code == 409, third.text
    after = shop.payment(oid)
    assert after["refunded"] == after["captured"] == total
    assert sorted(x["amount"] for x in after["refunds"]) == [4000, total - 4000]
    at_stripe = shop.refunds_at_stripe(payment["paymentIntentId"])
    assert sorted(x["amount"] for x in at_stripe) == [4000, total - 4000]  # the replay refunded nothing
    assert shop.stock() == (UNITS - 2, 0)  # money back, goods kept: a refund does not restock


def test_two_concurrent_sixty_percent_refunds_one_wins(env: Payments) -> None:
    shop = env.shop("Race Lassi")
    order = shop.order(2)
    assert shop.pay(order["orderId"]).status_code == 202
    payment = assert_paid(shop, order, 2)
    sixty = order["total"] * 60 // 100
    answers = race(2, lambda i: shop.refund(order["orderId"], f"sixty-{i}", sixty))
    assert sorted(r.status_code for r in answers) == [201, 409], [r.text for r in answers]
    lost = next(r for r in answers if r.status_code == 409)
    assert lost.json()["error"]["code"] == "refund_exceeds_captured"
    after = shop.payment(order["orderId"])
    assert after["refunded"] == sixty and [x["amount"] for x in after["refunds"]] == [sixty]
    assert [x["amount"] for x in shop.refunds_at_stripe(payment["paymentIntentId"])] == [sixty]
    assert shop.refund_until(order["orderId"], "PARTIAL")["refund"]["amount"] == sixty


@pytest.mark.parametrize(
    "spec",
    [
        pytest.param({"mode": "error500"}, id="error500"),
        pytest.param({"mode": "rate_limit"}, id="rate_limit"),
        # unanswered past the app's Stripe timeout and never handled: the retry is the only charge
        pytest.param(
            {"mode": "timeout", "delaySeconds": STRIPE_TIMEOUT_SECONDS + 2, "drop": True}, id="timeout-dropped"
        ),
        # answered too late: Stripe did the work after the app gave up, and the app retried with
        # the same Idempotency-Key, which Stripe answers with the first intent
        pytest.param({"mode": "timeout", "delaySeconds": STRIPE_TIMEOUT_SECONDS + 2}, id="timeout-handled-late"),
    ],
)
def test_stripe_failing_once_is_retried_to_one_charge(
    env: Payments, faults: Callable[[dict[str, Any]], dict[str, Any]], spec: dict[str, Any]
) -> None:
    shop = env.shop(f"Flaky {spec['mode']}")
    order = shop.order(1)
    armed = faults({"target": "stripe", "times": 1, "path": "/v1/payment_intents", **spec})
    landed_by = time.monotonic() + float(spec.get("delaySeconds", 0)) + 3
    assert shop.pay(order["orderId"]).status_code == 202
    payment = shop.payment_until(order["orderId"], DONE, timeout=30 + STRIPE_TIMEOUT_SECONDS)
    assert payment["status"] == "SUCCEEDED", payment
    assert_paid(shop, order, 1)
    fired = [f for f in requests.get(env.facts["faults"], timeout=10).json()["faults"] if f["id"] == armed["id"]]
    assert fired[0]["remaining"] == 0  # the fault did happen
    if spec["mode"] == "timeout" and not spec.get("drop"):  # the late call's work lands after its delay
        poll(lambda: len(shop.intents(order["orderId"])), lambda n: n > 1 or time.monotonic() > landed_by, 30)
    assert shop.net_charged(order["orderId"]) == (order["total"], 1, 0), shop.intents(order["orderId"])


def at_rest(shop: Shop, order: dict[str, Any], timeout: float = 30) -> tuple[dict[str, Any], dict[str, Any], int]:
    """Wait until the checkout has settled one way or the other: paid (the order PAID, its payment
    SUCCEEDED, the total charged at Stripe), or undone (the payment FAILED or REFUNDED and Stripe
    holds nothing of the customer's). Returns the order, the payment and the net charge."""

    def read() -> tuple[dict[str, Any], dict[str, Any], tuple[int, int, int]]:
        return shop.get_order(order["orderId"]), shop.payment(order["orderId"]), shop.net_charged(order["orderId"])

    def rest(s: tuple[dict[str, Any], dict[str, Any], tuple[int, int, int]]) -> bool:
        o, p, (charged, _, refunded) = s
        paid = o["status"] == "PAID" and p["status"] == "SUCCEEDED" and charged - refunded == order["total"]
        undone = o["status"] != "PAID" and p["status"] in ("FAILED", "REFUNDED") and charged == refunded
        return paid or undone

    o, p, (charged, count, refunded) = poll(read, rest, timeout, "the checkout to come to rest")
    assert count <= 1, "more than one succeeded charge"
    return o, p, charged - refunded


def test_a_step_failing_after_the_charge_leaves_nothing_half_done(
    env: Payments, faults: Callable[[dict[str, Any]], dict[str, Any]]
) -> None:
    """Mark-paid (stock, order, ledger and settlement in one transaction) keeps failing."""
    shop = env.shop("Broken mark-paid")
    order = shop.order(2)
    faults({"target": "step", "step": "checkout_mark_paid", "error": "InjectedFault", "times": 5})
    assert shop.pay(order["orderId"]).status_code == 202
    o, payment, net = at_rest(shop, order)
    available, reserved = shop.stock()
    sold = 2 if o["status"] == "PAID" else 0
    assert available + reserved + sold == UNITS, (o["status"], available, reserved)  # stock conserved
    assert net in (0, order["total"])
    assert payment["status"] == "REFUNDED" and net == 0, payment  # a failure after the charge is undone
    assert payment["refunded"] == order["total"]
    if o["status"] == "PENDING_PAYMENT":  # still held for the customer, who may pay again
        assert (available, reserved) == (UNITS - 2, 2)
        harness.clear_faults(env.facts)
        assert shop.pay(order["orderId"]).status_code == 202
        again = assert_paid(shop, order, 2)
        assert [a["status"] for a in again["attempts"]] == ["REFUNDED", "SUCCEEDED"]
        charged, count, refunded = shop.net_charged(order["orderId"])
        assert (charged - refunded, count) == (order["total"], 2)
    else:  # the hold ran out meanwhile: the order is over and its units are back
        assert (available, reserved) == (UNITS, 0)
        assert o["status"] == "EXPIRED", o


def test_a_checkout_that_dies_after_the_charge_is_recovered(
    env: Payments, faults: Callable[[dict[str, Any]], dict[str, Any]]
) -> None:
    """The execution ends without reaching a Catch (moto refuses the error name 'States.TaskFailed'
    and stops it, as a States.Runtime error would on AWS): the payment is left PROCESSING with the
    money taken. When the reservation runs out, nothing of it may stay: the expiry's OrderExpired
    event makes the payments domain refund the charge."""
    shop = env.shop("Dead Checkout")
    order = shop.order(2)
    faults({"target": "step", "step": "checkout_mark_paid", "error": "States.TaskFailed", "times": 1})
    assert shop.pay(order["orderId"]).status_code == 202
    stuck = poll(
        lambda: (shop.payment(order["orderId"]), shop.net_charged(order["orderId"])),
        lambda s: s[1][0] == order["total"],
        30,
        "the charge at Stripe",
    )
    assert stuck[0]["status"] == "PROCESSING"
    time.sleep(2)  # nothing is running for it any more
    assert shop.payment(order["orderId"])["status"] == "PROCESSING"
    # the reservation runs out (15 minutes, shortened here) and the sweeper expires the order
    ddb = boto3.client(
        "dynamodb",
        endpoint_url=env.facts["aws_endpoint"],
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )
    past = int(time.time()) - 1
    ddb.update_item(
        TableName=env.facts["env"]["ORDERS_TABLE"],
        Key={"pk": {"S": f"ORDER#{order['orderId']}"}, "sk": {"S": "META"}},
        UpdateExpression="SET reservation.expiresAt = :past, holdUntil = :hold",
        ExpressionAttributeValues={":past": {"N": str(past)}, ":hold": {"S": f"{past:012d}"}},
    )
    job = harness.cli("run-job", "expire_reservations", home=env.facts["_home"])
    assert job.returncode == 0, job.stderr
    o, payment, net = at_rest(shop, order, timeout=30)
    assert o["status"] == "EXPIRED" and payment["status"] == "REFUNDED" and net == 0, (o, payment)
    assert shop.stock() == (UNITS, 0)


def alerts_of(sqs: Any, url: str, kind: str, event_id: str) -> list[dict[str, Any]]:
    return drain(sqs, url, lambda b: b.get("type") == kind and b["data"].get("eventId") == event_id)


def test_webhooks_need_a_valid_signature_and_duplicates_apply_once(env: Payments, stack: dict[str, Any]) -> None:
    shop = env.shop("Hook Cream")
    order = shop.order(1)
    assert shop.pay(order["orderId"]).status_code == 202
    payment = assert_paid(shop, order, 1)
    alerts = subscribe(stack, stack["env"]["ALERTS_TOPIC_ARN"])

    event: dict[str, Any] = {"id": f"evt_{uuid.uuid4().hex}", "object": "event", "type": "charge.dispute.created"}
    event["data"] = {"object": {"charge": f"ch_{uuid.uuid4().hex[:12]}", "amount": order["total"]}}
    raw = json.dumps(event).encode()
    assert env.webhook(raw, env.sign(raw, secret="whsec_not_ours")).status_code == 400
    assert env.webhook(raw, env.sign(raw, timestamp=int(time.time()) - 400)).status_code == 400  # stale
    assert env.webhook(raw + b" ", env.sign(raw)).status_code == 400  # signs another body
    assert env.webhook(raw, "t=1,v1=deadbeef").status_code == 400
    missing = requests.post(f"{env.api}/webhooks/stripe", data=raw, timeout=30)
    assert missing.status_code == 400 and missing.json()["error"]["fields"]["Stripe-Signature"], missing.text

    answers = race(10, lambda _: env.webhook(raw, env.sign(raw)))
    assert [r.status_code for r in answers] == [200] * 10, [r.text for r in answers]
    assert len(alerts_of(*alerts, "ChargeDisputed", event["id"])) == 1  # queued and applied once

    # "payment failed" for the paid order, duplicated: it never moves the payment backwards. A
    # twin whose amount is off is alerted once and shows when the consumer has been through them.
    failed: dict[str, Any] = {"id": payment["paymentIntentId"], "object": "payment_intent", "currency": "inr"}
    failed["metadata"] = {"orderId": order["orderId"], "paymentId": payment["paymentId"]}
    backwards: dict[str, Any] = {"id": f"evt_{uuid.uuid4().hex}", "object": "event"}
    backwards["type"] = "payment_intent.payment_failed"
    backwards["data"] = {"object": {**failed, "amount": order["total"]}}
    odd = {**backwards, "id": f"evt_{uuid.uuid4().hex}", "data": {"object": {**failed, "amount": 1}}}
    raw, odd_raw = json.dumps(backwards).encode(), json.dumps(odd).encode()
    answers = race(10, lambda _: env.webhook(raw, env.sign(raw)))
    answers += race(10, lambda _: env.webhook(odd_raw, env.sign(odd_raw)))
    assert [r.status_code for r in answers] == [200] * 20
    assert len(alerts_of(*alerts, "StripeEventMismatch", odd["id"])) == 1
    still = shop.payment(order["orderId"])
    assert still["status"] == "SUCCEEDED" and still["captured"] == order["total"]
    assert still["attempts"] == payment["attempts"] and still["refunds"] == []
    assert shop.get_order(order["orderId"])["status"] == "PAID"


def test_two_concurrent_pays_with_different_keys_charge_at_most_once(env: Payments) -> None:
    shop = env.shop("Twin Pay")
    order = shop.order(1)
    answers = race(2, lambda i: shop.pay(order["orderId"], key=f"twin-{i}"))
    codes = sorted(r.status_code for r in answers)
    assert codes in ([202, 202], [202, 409]), [r.text for r in answers]
    if codes == [202, 409]:
        assert next(r for r in answers if r.status_code == 409).json()["error"]["code"] == "payment_in_progress"
    assert_paid(shop, order, 1)
    charged, count, _ = shop.net_charged(order["orderId"])
    assert count == 1 and charged == order["total"]
    assert len(shop.intents(order["orderId"])) == 1


# -- helpers over the local AWS -------------------------------------------------------------------
def subscribe(stack: dict[str, Any], topic: str) -> tuple[Any, str]:
    creds = {"endpoint_url": stack["aws_endpoint"], "region_name": "us-east-1"}
    creds |= {"aws_access_key_id": "x", "aws_secret_access_key": "x"}
    sqs, sns = boto3.client("sqs", **creds), boto3.client("sns", **creds)
    name = f"e2e-payments-{uuid.uuid4().hex[:8]}"
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    sns.subscribe(
        TopicArn=topic,
        Protocol="sqs",
        Endpoint=f"arn:aws:sqs:us-east-1:123456789012:{name}",
        Attributes={"RawMessageDelivery": "true"},
    )
    return sqs, url


def drain(sqs: Any, url: str, wanted: Callable[[dict[str, Any]], bool], quiet: float = 3) -> list[dict[str, Any]]:
    """Matching messages, until none has come for ``quiet`` seconds after the first (30 s at most)."""
    seen: list[dict[str, Any]] = []
    deadline, last = time.monotonic() + 30, None
    while time.monotonic() < deadline and (last is None or time.monotonic() - last < quiet):
        for m in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", []):
            body = json.loads(m["Body"])
            if wanted(body):
                seen.append(body)
                last = time.monotonic()
    return seen
