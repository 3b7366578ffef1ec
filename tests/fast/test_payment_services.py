"""The payment services over MemoryDynamo and fakes, in seconds (``make test-fast``): composed as
bootstrap composes them (tests/fast/world.py), orders placed and moved by the orders domain's own
services, checkouts run through the real ASL and Lambda handlers. Each scenario asserts on state:
the payment, the order and its stock, the ledger and its balance, the audit chain, Stripe's own
record, what the customer and the operators were told, and what waits in the retry queue.

The state is read in ONE place, ``seen()``: the services' internals are moving from dicts to
dataclasses, and only that helper knows their shapes."""

from __future__ import annotations

import contextlib
import json
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from chalicelib.core import config
from chalicelib.core.errors import Conflict, ServiceUnavailable
from chalicelib.payments import rules
from tests.conftest import race
from tests.fast.world import CLIENT, MANAGER, Customer, World

DAY = 86400


@dataclass
class Seen:
    payment: dict[str, Any]  # the staff view (GET /orders/{id}/payment)
    order: dict[str, Any]
    entries: dict[str, int]  # the ledger: amount per kind
    balance: dict[str, int]
    balanced: bool
    chain: list[str]  # the audit chain's problems
    intents: list[dict[str, Any]]  # Stripe's PaymentIntents for the order: id, status, amount
    stripe_refunded: int
    stock: tuple[int, int]  # available, reserved
    pending_refunds: list[str]
    published: list[str]  # the events the customer side hears: the FanOut's and the bus's, by type
    alerts: list[str]


def seen(world: World, order_id: str) -> Seen:
    """Everything a scenario asserts on, for one order."""
    svc = world.svc
    try:
        payment = svc.view(order_id, staff=True)
    except Exception:  # no payment yet
        payment = {}
    entries = svc.ledger.entries(order_id)
    kinds: dict[str, int] = {}
    for e in entries:
        kinds[e.kind] = kinds.get(e.kind, 0) + e.amount
    intents = [pi for pi in world.stripe.intents.values() if pi["metadata"].get("orderId") == order_id]
    fanned = [
        json.loads(p["Message"])["type"] for kind, p in world.fanout if kind == "publish" and order_id in p["Message"]
    ]
    return Seen(
        payment=payment,
        order=world.lifecycle.get(order_id),
        entries=kinds,
        balance=rules.balance(entries),
        balanced=rules.balanced(entries),
        chain=svc.verify_chain(order_id),
        intents=[{"id": pi["id"], "status": pi["status"], "amount": pi["amount"]} for pi in intents],
        stripe_refunded=sum(world.stripe.refunded(pi["id"]) for pi in intents),
        stock=world.stock(),
        pending_refunds=[r for o, r in svc.payments.pending_refunds("9999") if o == order_id],
        published=fanned + [kind for kind, data in world.bus.events if data.get("orderId") == order_id],
        alerts=[kind for kind, data in world.bus.alerts if data.get("orderId") == order_id],
    )


def paid_order(world: World) -> tuple[Customer, str]:
    ann = world.customer()
    order_id = world.place(ann)["orderId"]
    world.pay(ann, order_id)
    assert seen(world, order_id).order["status"] == "PAID"
    return ann, order_id


SETTLED = {"CHARGE": 6000, "FEE": 300, "SETTLEMENT": 5700}  # 2 x 3000 INR, a 5% fee


# -- checkouts ----------------------------------------------------------------------------------
def test_a_happy_checkout_ends_paid_with_its_settlement_balanced(world: World) -> None:
    ann = world.customer()
    order_id = world.place(ann)["orderId"]
    assert world.stock() == (8, 2)

    answer = world.pay(ann, order_id)

    assert answer["status"] == "PROCESSING"  # the checkout runs after the answer
    (run,) = world.executions
    assert run.failed is None and run.path[-1] == "Analytics"
    s = seen(world, order_id)
    assert (s.payment["status"], s.payment["captured"], s.payment["fraud"]["decision"]) == ("SUCCEEDED", 6000, "pass")
    assert s.order["status"] == "PAID" and s.order["reservation"]["status"] == "committed"
    assert s.stock == (8, 0)
    assert s.entries == SETTLED and s.balanced
    assert s.chain == []
    assert s.intents == [{"id": s.payment["paymentIntentId"], "status": "succeeded", "amount": 6000}]
    assert s.published == ["PaymentSucceeded", "CheckoutCompleted"] and s.alerts == []
    assert world.queue.sent == []


def test_a_declined_card_fails_the_payment_and_the_customer_may_pay_again(world: World) -> None:
    ann = world.customer()
    order_id = world.place(ann)["orderId"]

    world.pay(ann, order_id, "pm_card_visa_chargeDeclined")

    s = seen(world, order_id)
    assert s.payment["status"] == "FAILED"
    assert s.payment["attempts"][0]["failure"] == "Declined: the card was declined"
    assert s.order["status"] == "PENDING_PAYMENT" and s.stock == (8, 2)  # held while the reservation lasts
    assert (
        s.entries == {} and s.stripe_refunded == 0 and [i["status"] for i in s.intents] == ["requires_payment_method"]
    )
    assert s.chain == [] and s.published == ["PaymentFailed"] and world.queue.sent == []  # the customer is told, once

    world.pay(ann, order_id, "pm_card_visa")  # the payment lock was released with the failure

    s = seen(world, order_id)
    assert [a["status"] for a in s.payment["attempts"]] == ["FAILED", "SUCCEEDED"]
    assert s.order["status"] == "PAID" and s.stock == (8, 0) and s.entries == SETTLED and s.balanced
    assert s.chain == []


def test_a_declined_order_left_unpaid_gives_its_stock_back_when_swept(world: World) -> None:
    ann = world.customer()
    order_id = world.place(ann)["orderId"]
    world.pay(ann, order_id, "pm_card_visa_chargeDeclined")

    world.clock.advance(16 * 60)  # the 15-minute reservation is over
    assert world.lifecycle.sweep() == {"due": 1, "released": 1}
    assert world.svc.settle_expired(order_id) == "no open payment"  # OrderExpired's consumer

    s = seen(world, order_id)
    assert s.order["status"] == "EXPIRED" and s.order["reservation"]["status"] == "released"
    assert s.stock == (10, 0)
    assert s.payment["status"] == "FAILED" and s.entries == {} and s.chain == []
    assert world.lifecycle.sweep() == {"due": 0, "released": 0}


def test_a_lost_charge_answer_is_deferred_and_the_retry_finds_the_charge_by_its_metadata(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RESERVATION_TTL_SECONDS", str(2 * DAY))  # long enough to outlive Stripe's keys
    config.reset()
    ann = world.customer()
    order_id = world.place(ann)["orderId"]
    world.stripe.lose("charge", times=4)  # Stripe charges; its answer never comes back, nor the 3 retries'

    world.pay(ann, order_id)

    (run,) = world.executions
    assert run.path[-1] == "Defer" and run.retries == [("Charge", "Transient")] * 3
    s = seen(world, order_id)
    assert s.payment["status"] == "PROCESSING" and "paymentIntentId" not in s.payment
    assert [i["status"] for i in s.intents] == ["succeeded"]  # the money was taken all the same
    assert world.queue.sent == [
        {"kind": "charge", "orderId": order_id, "paymentId": s.payment["paymentId"], "correlationId": "-"}
    ]
    assert s.order["status"] == "PENDING_PAYMENT" and s.entries == {}

    world.clock.advance(25 * 3600)  # the failed-transactions queue is drained a day later: Stripe forgot the key
    assert world.svc.retry_deferred(world.queue.sent[0]) == "succeeded"
    world.drain()  # the checkout the retried charge was handed to

    s = seen(world, order_id)
    assert len(s.intents) == 1 and s.payment["paymentIntentId"] == s.intents[0]["id"]  # found, not charged twice
    assert s.payment["status"] == "SUCCEEDED" and s.order["status"] == "PAID" and s.stock == (8, 0)
    assert s.entries == SETTLED and s.balanced and s.chain == []
    assert s.published == ["PaymentSucceeded", "CheckoutCompleted"]


def test_a_duplicate_run_of_one_checkout_changes_nothing(world: World) -> None:
    ann = world.customer()
    order_id = world.place(ann)["orderId"]
    world.svc.pay(ann.who, order_id, "pm_card_visa", uuid.uuid4().hex, CLIENT)
    (first,) = world.started()
    second = world.execution(*world.workflows.started[0])  # AWS ran the Express execution twice

    while first.step() | second.step():  # state by state, side by side
        pass

    ends = sorted([first.path[-1], second.path[-1]])
    assert ends == ["Analytics", "Refused"], (first.path, second.path)
    fenced = first if first.path[-1] == "Refused" else second
    assert fenced.output["fenced"] is True  # it ended without touching the payment
    before = seen(world, order_id)
    assert before.payment["status"] == "SUCCEEDED" and before.entries == SETTLED and len(before.intents) == 1
    assert before.published == ["PaymentSucceeded", "CheckoutCompleted"] and before.chain == []

    late = world.execution(*world.workflows.started[0]).run()  # and a third, after it all

    assert late.path[-1] == "Refused" and late.output["fenced"] is True
    assert seen(world, order_id) == before


def test_a_checkout_whose_start_failed_is_started_by_the_replay_of_the_same_request(world: World) -> None:
    ann = world.customer()
    order_id = world.place(ann)["orderId"]
    key, start = uuid.uuid4().hex, world.workflows.start_checkout

    def unreachable(*args: Any) -> None:
        raise ConnectionError("Step Functions is unreachable (injected)")

    world.workflows.start_checkout = unreachable  # type: ignore[method-assign,assignment]
    with pytest.raises(ServiceUnavailable):
        world.svc.pay(ann.who, order_id, "pm_card_visa", key, CLIENT)
    world.workflows.start_checkout = start  # type: ignore[method-assign,assignment]
    assert seen(world, order_id).payment["status"] == "PROCESSING" and world.workflows.started == []

    again = world.pay(ann, order_id, key=key)  # the client retries with the same Idempotency-Key

    assert again["status"] == "PROCESSING" and len(world.workflows.started) == 1
    s = seen(world, order_id)
    assert len(s.payment["attempts"]) == 1 and s.payment["status"] == "SUCCEEDED" and s.order["status"] == "PAID"
    assert s.entries == SETTLED and s.chain == []
    assert world.pay(ann, order_id, key=key)["status"] == "SUCCEEDED" and len(world.workflows.started) == 1


# -- refunds -----------------------------------------------------------------------------------
def test_a_manager_refunds_part_then_the_rest(world: World) -> None:
    _, order_id = paid_order(world)

    first = world.svc.refund(MANAGER, order_id, 2000, "one bottle leaked", "refund-1")

    assert (first["status"], first["amount"]) == ("SUCCEEDED", 2000)
    s = seen(world, order_id)
    assert s.payment["refunded"] == 2000 and s.stripe_refunded == 2000
    assert s.order["refund"] == {"status": "PARTIAL", "amount": 2000, "owed": 0, "currency": "INR"}
    assert s.order["status"] == "PAID"  # a refund is not a fulfilment move
    assert s.balanced and s.balance["refunded"] == 2000 and s.balance["settled"] + s.balance["fees"] == 4000
    assert world.svc.refund(MANAGER, order_id, 2000, "one bottle leaked", "refund-1") == first  # a replay
    assert seen(world, order_id).stripe_refunded == 2000

    rest = world.svc.refund(MANAGER, order_id, None, "the rest", "refund-2")

    assert (rest["status"], rest["amount"]) == ("SUCCEEDED", 4000)
    s = seen(world, order_id)
    assert s.payment["refunded"] == 6000 and s.stripe_refunded == 6000
    assert s.order["refund"] == {"status": "DONE", "amount": 6000, "owed": 0, "currency": "INR"}
    assert s.balanced and s.balance["settled"] + s.balance["fees"] == 0
    assert s.entries["REFUND"] == 6000 and s.chain == [] and s.pending_refunds == []
    assert s.published.count("RefundSucceeded") == 2
    with pytest.raises(Conflict) as nothing_left:
        world.svc.refund(MANAGER, order_id, 1, "more", "refund-3")
    assert nothing_left.value.code == "refund_exceeds_captured"


def test_a_refund_whose_answer_was_lost_is_redriven_a_day_later_and_refunds_once(world: World) -> None:
    _, order_id = paid_order(world)
    world.stripe.lose("refund")  # Stripe refunds; the answer is lost

    pending = world.svc.refund(MANAGER, order_id, None, "spoiled", "refund-1")

    assert pending["status"] == "PENDING"
    s = seen(world, order_id)
    assert s.stripe_refunded == 6000 and "REFUND" not in s.entries  # money moved, not yet booked
    assert s.pending_refunds == [pending["refundId"]]
    (message,) = world.queue.sent
    assert message["kind"] == "refund" and message["refundId"] == pending["refundId"]

    world.clock.advance(25 * 3600)  # redriven from the dead-letter queue: Stripe forgot the key
    assert world.svc.retry_deferred(message) == "succeeded"

    s = seen(world, order_id)
    assert s.stripe_refunded == 6000  # found by our refund id, not made again
    assert [r["status"] for r in s.payment["refunds"]] == ["SUCCEEDED"] and s.pending_refunds == []
    assert s.order["refund"]["status"] == "DONE" and s.entries["REFUND"] == 6000 and s.balanced
    assert s.chain == [] and s.published.count("RefundSucceeded") == 1
    assert world.svc.retry_deferred(message) == "done"  # a second delivery of the message


def test_a_paid_order_cancelled_after_a_partial_refund_is_refunded_the_rest_by_itself(world: World) -> None:
    ann, order_id = paid_order(world)
    world.svc.refund(MANAGER, order_id, 2000, "one bottle leaked", "refund-1")

    world.lifecycle.cancel(ann.who, order_id, "changed my mind", CLIENT)

    s = seen(world, order_id)
    assert s.order["status"] == "CANCELLED" and s.stock == (10, 0)  # the sold units went back on the shelf
    assert s.order["refund"] == {"status": "REQUIRED", "amount": 2000, "owed": 4000, "currency": "INR"}
    # OrderCancelled (refundRequired) reaches the refunds queue's consumer:
    assert world.svc.refund_cancelled(order_id, "order cancelled") == "refunded"
    s = seen(world, order_id)
    assert s.order["refund"] == {"status": "DONE", "amount": 6000, "owed": 0, "currency": "INR"}
    assert s.stripe_refunded == 6000 and s.payment["refunded"] == 6000
    assert s.balanced and s.balance["settled"] + s.balance["fees"] == 0 and s.chain == []
    assert world.svc.refund_cancelled(order_id, "order cancelled") == "nothing to refund"  # delivered again


# -- money Stripe took after we gave up ---------------------------------------------------------
def test_the_sweeper_expires_an_order_whose_charge_landed_late_and_gives_the_money_back(world: World) -> None:
    ann = world.customer()
    order_id = world.place(ann)["orderId"]
    world.stripe.lose("charge", times=4)
    world.pay(ann, order_id)  # deferred: the charge's answer never came
    (deferred,) = world.queue.sent

    world.clock.advance(16 * 60)  # the retry queue's consumer is down past the reservation
    assert world.lifecycle.sweep() == {"due": 1, "released": 1}
    assert world.svc.settle_expired(order_id) == "settled 1 open payment(s)"

    s = seen(world, order_id)
    assert s.order["status"] == "EXPIRED" and s.stock == (10, 0)
    assert s.payment["status"] == "REFUNDED" and s.payment["paymentIntentId"] == s.intents[0]["id"]
    assert s.stripe_refunded == 6000 and len(s.intents) == 1
    assert s.entries == {"CHARGE": 6000, "REFUND": 6000} and s.balanced and s.chain == []
    assert "RefundSucceeded" in s.published and "PaymentCompensated" in s.alerts  # the customer is told
    told = next(data for kind, data in world.bus.events if kind == "RefundSucceeded")
    assert (told["email"], told["amount"]) == ("ann@example.com", 6000)

    assert world.svc.retry_deferred(deferred) == "payment is REFUNDED"  # the consumer is back
    assert world.svc.settle_expired(order_id) == "no open payment"  # OrderExpired delivered again
    assert (
        seen(world, order_id).stripe_refunded == 6000 and seen(world, order_id).published.count("RefundSucceeded") == 1
    )


def test_a_succeeded_event_for_a_failed_payment_refunds_the_late_charge(world: World) -> None:
    ann = world.customer()
    order_id = world.place(ann)["orderId"]
    world.stripe.charge_processing()  # the bank answers late: the intent stays processing
    world.pay(ann, order_id)
    assert world.executions[0].path[-1] == "Defer"
    world.clock.advance(16 * 60)
    world.lifecycle.sweep()
    world.svc.settle_expired(order_id)  # nothing was taken yet, and a processing intent cannot be cancelled
    s = seen(world, order_id)
    assert s.payment["status"] == "FAILED" and [i["status"] for i in s.intents] == ["processing"]

    event = world.stripe.land(s.intents[0]["id"])  # the bank says yes after all

    assert world.svc.apply_event(event) == "late charge refunded"
    s = seen(world, order_id)
    assert s.payment["status"] == "REFUNDED" and s.payment["paymentIntentId"] == s.intents[0]["id"]
    assert s.stripe_refunded == 6000 and s.entries == {"CHARGE": 6000, "REFUND": 6000} and s.balanced
    assert s.order["status"] == "EXPIRED" and s.stock == (10, 0) and s.chain == []
    assert "RefundSucceeded" in s.published
    assert world.svc.apply_event(event) == "no move"  # Stripe delivers events at least once
    assert seen(world, order_id).stripe_refunded == 6000


def test_refunding_an_old_attempts_late_charge_keeps_the_lock_of_the_attempt_in_flight(world: World) -> None:
    ann = world.customer()
    order_id = world.place(ann)["orderId"]
    world.stripe.charge_processing()  # the bank is slow...
    world.stripe.hang("charge", times=4)  # ...past the Charge task's timeout and its retries
    world.pay(ann, order_id)  # ChargeBroken: Stripe took nothing yet, the attempt fails
    first = seen(world, order_id)
    assert first.payment["status"] == "FAILED" and [i["status"] for i in first.intents] == ["processing"]
    world.svc.pay(ann.who, order_id, "pm_card_visa", "second-attempt", CLIENT)  # in flight now

    assert world.svc.apply_event(world.stripe.land(first.intents[0]["id"])) == "late charge refunded"

    with pytest.raises(Conflict) as busy:  # at most one open payment per order
        world.svc.pay(ann.who, order_id, "pm_card_visa", "third-attempt", CLIENT)
    assert busy.value.code == "payment_in_progress"
    after = seen(world, order_id)
    assert after.payment["status"] == "PROCESSING"  # the headline is the attempt in flight, not the refunded one
    assert [a["status"] for a in after.payment["attempts"]] == ["REFUNDED", "PROCESSING"]
    assert after.balanced and after.stripe_refunded == 6000 and after.chain == []


# -- concurrency -------------------------------------------------------------------------------
@contextlib.contextmanager
def _together(world: World, operation: str, parties: int) -> Iterator[None]:
    """Hold each thread's first ``operation`` until every party has reached it: all of them have
    read before any of them writes (threads alone rarely overlap calls this fast)."""
    barrier, local = threading.Barrier(parties, timeout=10), threading.local()

    def hook(op: str, params: dict[str, Any]) -> None:
        if op == operation and not getattr(local, "met", False):
            local.met = True
            barrier.wait()

    world.dynamo.hooks.append(hook)
    try:
        yield
    finally:
        world.dynamo.hooks.remove(hook)


def test_a_double_tapped_pay_answers_every_tap_the_same(world: World) -> None:
    ann = world.customer()
    order_id = world.place(ann)["orderId"]
    key = uuid.uuid4().hex
    with _together(world, "TransactWriteItems", 6):
        answers = race(*[lambda: world.svc.pay(ann.who, order_id, "pm_card_visa", key, CLIENT)] * 6)

    assert len({json.dumps(a, sort_keys=True) for a in answers}) == 1, answers
    assert len(world.workflows.started) == 1  # one checkout
    world.drain()
    s = seen(world, order_id)
    assert len(s.payment["attempts"]) == 1 and s.payment["status"] == "SUCCEEDED"
    assert s.entries == SETTLED and len(s.intents) == 1 and s.chain == []


def test_two_managers_refunding_at_once_never_give_back_more_than_was_paid(world: World) -> None:
    _, order_id = paid_order(world)
    refunds = [lambda k=k: _outcome(lambda: world.svc.refund(MANAGER, order_id, 4000, "twice", k)) for k in "ab"]
    with _together(world, "TransactWriteItems", 2):
        outcomes = race(*refunds)

    assert sorted(outcomes) == ["SUCCEEDED", "refund_exceeds_captured"], outcomes
    s = seen(world, order_id)
    assert s.payment["refunded"] == 4000 and s.stripe_refunded == 4000
    assert s.order["refund"]["amount"] == 4000 and s.balanced and s.chain == []


def _outcome(call: Any) -> str:
    try:
        return str(call()["status"])
    except Conflict as exc:
        return exc.code
