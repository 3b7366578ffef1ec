"""The checkout under faults, in-process (moto's state machines really running, the local Stripe,
the fault injector of `make run`): each scenario is a fault at one step, and every one must end
coherent. At rest: the money Stripe holds is 0 or the order's total (never twice); the ledger
balances and says the same; stock is conserved; the order and its payment agree; the payment's
audit chain is complete. (tests/e2e/test_payments.py runs a few of these over HTTP on the real
local stack.)"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from chalicelib import bootstrap
from chalicelib.core.config import get_settings
from chalicelib.payments import gateway, rules
from freshcart_local import faults
from tests.api.test_payments import (
    Checkout,
    _a_day_later,
    _another_run,
    _deferred_with_a_lost_charge,
    config_reset,
    expire_reservation,
)
from tests.conftest import json_body

QTY, UNITS = 2, 10
PAID, UNDONE = "paid", "undone"


Arm = Callable[[], None]  # a fault set before the customer pays
After = Callable[[Checkout, dict[str, Any], str], None]  # what happens once the checkout runs


@dataclass(frozen=True)
class Scenario:
    arm: Arm | None
    after: After | None
    outcome: str


def _stripe(**spec: Any) -> Arm:
    return lambda: faults.inject({"target": "stripe", "times": 1, "path": "/v1/payment_intents", **spec})


def _step(step: str, error: str, times: int) -> Arm:
    return lambda: faults.inject({"target": "step", "step": step, "error": error, "times": times})


def _redriven_once_stripe_is_back(shop: Checkout, order: dict[str, Any], payment_id: str) -> None:
    deadline = time.monotonic() + 60
    while not bootstrap.payments().payments.partition(order["orderId"]).payments[0].deferred:
        assert time.monotonic() < deadline, "never deferred"
        time.sleep(0.2)
    faults.clear()
    shop.drain(get_settings().failed_transactions_queue, "payments_retry_failed")


def _duplicate_run(shop: Checkout, order: dict[str, Any], payment_id: str) -> None:
    _another_run(order["orderId"], payment_id)


def _sweeper_first(shop: Checkout, order: dict[str, Any], payment_id: str) -> None:
    """The charge is slow at Stripe; meanwhile the reservation runs out and the sweeper runs."""
    deadline = time.monotonic() + 20
    while any(f["remaining"] for f in faults.active() if f["target"] == "stripe"):  # the charge is in flight
        assert time.monotonic() < deadline, "the charge never started"
        time.sleep(0.05)
    expire_reservation(order["orderId"])
    bootstrap.order_lifecycle().sweep()
    bootstrap.payments().settle_expired(order["orderId"])  # the OrderExpired event's handler


def _webhook_instead_of_the_run(shop: Checkout, order: dict[str, Any], payment_id: str) -> None:
    """The run dies after the charge without reaching a Catch; Stripe's webhook says succeeded;
    the reservation then runs out: the sweeper must give the money back."""
    deadline = time.monotonic() + 30
    while not (p := bootstrap.payments().payments.partition(order["orderId"]).payments[0]).intent_id:
        assert time.monotonic() < deadline
        time.sleep(0.2)
    shop.finished(order["orderId"])
    obj = {
        "id": p.intent_id,
        "object": "payment_intent",
        "amount": order["total"],
        "currency": "inr",
        "metadata": {"orderId": order["orderId"], "paymentId": payment_id},
    }
    event = {"id": f"evt_{payment_id}", "type": "payment_intent.succeeded", "data": {"object": obj}}
    assert shop.webhook(event).status_code == 200
    shop.drain(get_settings().stripe_events_queue, "payments_stripe_events")
    expire_reservation(order["orderId"])
    bootstrap.order_lifecycle().sweep()
    bootstrap.payments().settle_expired(order["orderId"])


SCENARIOS = {
    "charge: Stripe fails once (500)": Scenario(_stripe(mode="error500"), None, PAID),
    "charge: Stripe rate-limits once": Scenario(_stripe(mode="rate_limit"), None, PAID),
    "charge: answer lost after Stripe acted": Scenario(_stripe(mode="timeout", delaySeconds=2), None, PAID),
    "charge: connection dropped, nothing done": Scenario(
        _stripe(mode="timeout", drop=True, delaySeconds=0.2), None, PAID
    ),
    "charge: Stripe down, deferred, redriven": Scenario(
        _stripe(mode="error500", times=1000), _redriven_once_stripe_is_back, PAID
    ),
    "charge: the task dies (its answer may be lost)": Scenario(
        _step("checkout_charge", "InjectedFault", 5), None, UNDONE
    ),
    "mark paid: keeps failing after the charge": Scenario(
        _step("checkout_mark_paid", "InjectedFault", 5), None, UNDONE
    ),
    "validate: keeps failing": Scenario(_step("checkout_validate", "InjectedFault", 5), None, UNDONE),
    "the whole run, twice": Scenario(None, _duplicate_run, PAID),
    "sweeper first, the charge lands late": Scenario(_stripe(mode="timeout", delaySeconds=2), _sweeper_first, UNDONE),
    "webhook instead of the run, then the sweeper": Scenario(
        _step("checkout_mark_paid", "States.TaskFailed", 1), _webhook_instead_of_the_run, UNDONE
    ),
}


def _money_at_stripe(shop: Checkout, order_id: str) -> tuple[int, int]:
    """(net money Stripe holds for the order, how many of its intents succeeded)."""
    intents = shop.stripe_intents(order_id)
    took = [pi for pi in intents if pi.status == "succeeded"]
    back = sum(r.amount for pi in took for r in gateway.client().refunds.list(params={"payment_intent": pi.id}).data)
    return sum(pi.amount for pi in took) - back, len(took)


def assert_at_rest(shop: Checkout, order: dict[str, Any], outcome: str) -> None:
    order_id = order["orderId"]
    shop.finished(order_id)
    payment = shop.payment(order_id, {"SUCCEEDED", "FAILED", "REFUNDED"}, timeout=60)
    got = shop.get_order(order_id)
    net, charges = _money_at_stripe(shop, order_id)
    available, reserved = shop.available(shop.milk, shop.vendor_)
    sold = QTY if got["status"] == "PAID" else 0
    assert available + reserved + sold == UNITS, (got["status"], available, reserved)  # stock conserved
    assert reserved == (QTY if got["status"] == "PENDING_PAYMENT" else 0)
    if outcome == PAID:
        assert (payment["status"], got["status"], net, charges) == ("SUCCEEDED", "PAID", order["total"], 1), payment
    else:
        assert payment["status"] in ("FAILED", "REFUNDED") and net == 0, (payment, net)
        assert got["status"] in ("PENDING_PAYMENT", "EXPIRED"), got["status"]
    entries = bootstrap.payments().ledger.entries(order_id)
    b = rules.balance(entries)
    assert rules.balanced(entries) and b["captured"] - b["refunded"] == net, b
    shop.chain_ok(order_id)


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_the_checkout_ends_coherent_under_each_fault(
    checkout: Checkout, scenario: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    case = SCENARIOS[scenario]
    monkeypatch.setenv("STRIPE_TIMEOUT_SECONDS", "1")  # a lost answer shows in a second, not ten
    config_reset()
    order = checkout.order(QTY)
    if case.arm:
        case.arm()
    payment_id = json_body(checkout.pay(order["orderId"]))["paymentId"]
    try:
        if case.after:
            case.after(checkout, order, payment_id)
        assert_at_rest(checkout, order, case.outcome)
    finally:
        faults.clear()


def test_a_lost_charge_redriven_after_25_hours_ends_coherent(
    checkout: Checkout, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Redrive after 25 hours (Stripe forgot every idempotency key): the reservation has long run
    out, so the charge Stripe took is found by our metadata and given back; never a second one."""
    order, _, lost = _deferred_with_a_lost_charge(checkout)
    faults.clear()
    expire_reservation(order["orderId"])
    _a_day_later(monkeypatch)
    checkout.drain(get_settings().failed_transactions_queue, "payments_retry_failed")
    bootstrap.order_lifecycle().sweep()
    assert_at_rest(checkout, order, UNDONE)
    assert len(checkout.stripe_intents(order["orderId"])) == 1 and lost.intent_id
