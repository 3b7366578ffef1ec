"""One contract for the Stripe port (chalicelib/payments/ports.py: ``Stripe``), run against the
in-memory fake (tests/fakes.py: ``FakeStripe``, in ``make test-fast``) and the real adapter over
the local Stripe (``StripeGateway`` and localstripe, in ``make test``): the fake cannot drift from
what the services meet for real. Plus the local Stripe's own patches (freshcart_local)."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import pytest

from chalicelib.payments.outcomes import ChargeOutcome
from tests.fakes import FakeStripe


@pytest.fixture(params=["fake", pytest.param("localstripe", marks=pytest.mark.adapter)])
def port(request: pytest.FixtureRequest) -> tuple[Any, dict[str, str]]:
    """The adapter and its test cards: ``ok`` succeeds, ``declined`` is declined, ``gb`` is a
    card issued in GB, ``missing`` is not a PaymentMethod."""
    cards = {"ok": "pm_card_visa", "declined": "pm_card_visa_chargeDeclined", "missing": "pm_nothing_here"}
    if request.param == "fake":
        return FakeStripe(), {**cards, "gb": "pm_card_gb"}
    request.getfixturevalue("stripe_env")
    from chalicelib.payments import gateway

    gb = gateway.client().payment_methods.create(
        params={"type": "card", "card": {"number": "4000008260000000", "exp_month": 12, "exp_year": 2030, "cvc": "123"}}
    )
    return gateway.StripeGateway(), {**cards, "gb": gb.id}


def _meta(payment_id: str) -> dict[str, str]:
    return {"orderId": "o-1", "paymentId": payment_id, "userId": "u-1"}


def test_methods_and_their_card_country(port: tuple[Any, dict[str, str]]) -> None:
    stripe, cards = port
    assert stripe.check_method(cards["ok"]) == (True, None)
    ok, why = stripe.check_method(cards["missing"])
    assert not ok and why
    assert stripe.card_country(cards["ok"]) == "IN"  # the shop's own country, locally
    assert stripe.card_country(cards["gb"]) == "GB"
    assert stripe.card_country(cards["missing"]) is None


def test_a_charge_is_idempotent_on_its_key_and_found_by_its_metadata(port: tuple[Any, dict[str, str]]) -> None:
    stripe, cards = port
    payment_id = uuid.uuid4().hex
    key = f"pi-{payment_id}"
    first = stripe.charge(6000, "INR", cards["ok"], _meta(payment_id), key, None)
    again = stripe.charge(6000, "INR", cards["ok"], _meta(payment_id), key, None)
    assert first.outcome == ChargeOutcome.SUCCEEDED and again.intent_id == first.intent_id
    assert (first.amount, first.currency.upper()) == (6000, "INR")
    assert stripe.retrieve(str(first.intent_id)).outcome == ChargeOutcome.SUCCEEDED
    assert stripe.lost_intent(payment_id, int(time.time()) - 60) == first.intent_id
    assert stripe.lost_intent(uuid.uuid4().hex, int(time.time()) - 60) is None


def test_a_declined_card_is_declined_not_an_error(port: tuple[Any, dict[str, str]]) -> None:
    stripe, cards = port
    payment_id = uuid.uuid4().hex
    charge = stripe.charge(6000, "INR", cards["declined"], _meta(payment_id), f"pi-{payment_id}", None)
    assert charge.outcome == ChargeOutcome.DECLINED and charge.intent_id and charge.decline
    assert stripe.lost_intent(payment_id, int(time.time()) - 60) is None  # and it can take nothing later


def test_refunds_are_idempotent_on_their_key_and_carry_our_refund_id(port: tuple[Any, dict[str, str]]) -> None:
    stripe, cards = port
    payment_id = uuid.uuid4().hex
    charge = stripe.charge(6000, "INR", cards["ok"], _meta(payment_id), f"pi-{payment_id}", None)
    intent = str(charge.intent_id)
    first = stripe.refund(intent, 1000, "re-r1", "leak", {"orderId": "o-1", "refundId": "r1"})
    assert stripe.refund(intent, 1000, "re-r1", "leak", {"orderId": "o-1", "refundId": "r1"}) == first
    second = stripe.refund(intent, 500, "re-r2", "leak", {"orderId": "o-1", "refundId": "r2"})
    listed = sorted((r["amount"], r["refundId"], r["status"]) for r in stripe.refunds_of(intent))
    assert listed == [(500, "r2", "succeeded"), (1000, "r1", "succeeded")] and second != first


@pytest.mark.adapter
def test_the_local_stripe_takes_a_fee_and_lists_balance_transactions(stripe_env: dict[str, Any]) -> None:
    """freshcart_local's patches of localstripe (pinned): it charged no fee, and its balance
    transaction listing failed (no url passed); reconciliation reads both."""
    from chalicelib.payments import gateway
    from chalicelib.payments.stripe_records import StripeRecords

    payment_id = uuid.uuid4().hex
    charge = gateway.StripeGateway().charge(6000, "INR", "pm_card_visa", _meta(payment_id), f"pi-{payment_id}", None)
    records, now = StripeRecords(), int(time.time())
    (txn,) = [t for t in records.balance_transactions(now - 60, now + 60)]
    assert (txn["amount"], txn["fee"], txn["currency"]) == (6000, 120, "inr")
    assert records.intent_of_charge(str(txn["source"])) == charge.intent_id


@pytest.fixture(params=["fake", pytest.param("moto", marks=pytest.mark.adapter)])
def bus_and_queue(request: pytest.FixtureRequest) -> tuple[Any, Any, Any]:
    """The event bus and the retry queue, with a way to read back what reached them: the
    in-memory fakes, or the real adapters (SNS, SQS) over moto."""
    from tests.fakes import MemoryBus, MemoryQueue

    if request.param == "fake":
        bus, queue = MemoryBus(), MemoryQueue()
        return bus, queue, lambda: (bus.events, bus.alerts, queue.sent)
    request.getfixturevalue("aws")
    from chalicelib.core import aws
    from chalicelib.core.config import get_settings
    from chalicelib.payments.adapters import SnsBus, SqsRetryQueue
    from tests.integration.test_domain_events import received, watch

    s = get_settings()
    events_q, alerts_q = watch(s.payment_events_topic_arn, "port-events"), watch(s.alerts_topic_arn, "port-alerts")
    retry_url = aws.queue_url(s.failed_transactions_queue)

    def read() -> tuple[list[Any], list[Any], list[Any]]:
        sent = [
            json.loads(m["Body"])
            for m in aws.client("sqs").receive_message(QueueUrl=retry_url, MaxNumberOfMessages=10).get("Messages", [])
        ]
        return (
            [(e["type"], e["data"]) for e in received(events_q)],
            [(e["type"], e["data"]) for e in received(alerts_q)],
            sent,
        )

    return SnsBus(), SqsRetryQueue(), read


def test_the_bus_and_the_retry_queue_deliver_what_was_given(bus_and_queue: tuple[Any, Any, Any]) -> None:
    from chalicelib.core import logs

    bus, queue, read = bus_and_queue
    token = logs.correlation_id.set("corr-port")
    try:
        bus.publish("RefundSucceeded", {"orderId": "o1", "amount": 100})
        bus.alert("DisputeLost", {"orderId": "o1"})
        queue.send({"kind": "charge", "orderId": "o1", "paymentId": "p1"})
    finally:
        logs.correlation_id.reset(token)
    events, alerts, sent = read()
    assert events == [("RefundSucceeded", {"orderId": "o1", "amount": 100})]
    assert alerts == [("DisputeLost", {"orderId": "o1"})]
    assert sent == [{"kind": "charge", "orderId": "o1", "paymentId": "p1", "correlationId": "corr-port"}]


def test_an_off_session_charge_of_a_saved_card_is_idempotent_on_its_key(port: tuple[Any, dict[str, str]]) -> None:
    stripe, cards = port
    customer = None
    if not isinstance(stripe, FakeStripe):  # the real adapter: a customer with the card saved
        from chalicelib.payments.wallet import StripeWallet

        wallet = StripeWallet()
        customer = wallet.create_customer(f"u-{uuid.uuid4().hex}", None)
        setup_id, _ = wallet.setup_intent(customer, uuid.uuid4().hex)
        from chalicelib.payments import gateway

        gateway.client().setup_intents.confirm(setup_id, params={"payment_method": cards["ok"]})
        cards = {**cards, "ok": wallet.cards(customer)[0].payment_method_id}
    payment_id = uuid.uuid4().hex
    key = f"pi-{payment_id}"
    first = stripe.charge(4000, "INR", cards["ok"], _meta(payment_id), key, None, customer=customer or "cus_fake")
    again = stripe.charge(4000, "INR", cards["ok"], _meta(payment_id), key, None, customer=customer or "cus_fake")
    assert first.outcome == ChargeOutcome.SUCCEEDED and again.intent_id == first.intent_id


@pytest.mark.adapter
def test_a_confirmed_setup_intent_saves_the_card_on_its_customer(stripe_env: dict[str, Any]) -> None:
    """localstripe 1.15.10 records the method on the SetupIntent only; freshcart_local's patch
    attaches it to the customer, as Stripe does (canary: fails if the patch stops applying)."""
    from chalicelib.payments import gateway
    from chalicelib.payments.wallet import StripeWallet

    wallet = StripeWallet()
    customer = wallet.create_customer("u-canary", "canary@example.com")
    assert wallet.create_customer("u-canary", "canary@example.com") == customer  # once per user
    setup_id, secret = wallet.setup_intent(customer, "k1")
    assert secret.startswith(setup_id)
    gateway.client().setup_intents.confirm(setup_id, params={"payment_method": "pm_card_visa"})
    (card,) = wallet.cards(customer)
    assert (card.brand, card.last4) == ("visa", "4242")
    assert wallet.remove(card.payment_method_id) and wallet.cards(customer) == []
