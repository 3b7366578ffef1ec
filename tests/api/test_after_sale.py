"""What Stripe does to money after the sale (finding 4): disputes won and lost, a refund that
fails after it was made, a refund made in Stripe's dashboard. Each reaches the ledger, which
keeps balancing; a lost dispute takes the vendors' settlement back and is alerted."""

from __future__ import annotations

import uuid
from typing import Any

from chalicelib import bootstrap
from chalicelib.core.config import get_settings
from chalicelib.payments import gateway, rules
from tests.api.test_payments import Checkout
from tests.conftest import json_body


def _paid(shop: Checkout, qty: int = 2) -> tuple[dict[str, Any], dict[str, Any]]:
    order = shop.order(qty)
    shop.pay(order["orderId"])
    payment = shop.payment(order["orderId"], {"SUCCEEDED"})
    shop.finished(order["orderId"])
    shop.settled(order["orderId"])
    return order, payment


def _event(shop: Checkout, kind: str, obj: dict[str, Any]) -> None:
    assert shop.webhook({"id": f"evt_{uuid.uuid4().hex}", "type": kind, "data": {"object": obj}}).status_code == 200
    shop.drain(get_settings().stripe_events_queue, "payments_stripe_events")


def _entries(order_id: str) -> list[dict[str, Any]]:
    return bootstrap.payments().ledger.entries(order_id)


def _vendor_net(entries: list[dict[str, Any]]) -> int:
    return rules.balance(entries)["settled"]


def _dispute(payment: dict[str, Any], amount: int, status: str, fee: int = 0) -> dict[str, Any]:
    return {
        "id": f"dp_{payment['paymentId'][:12]}",
        "object": "dispute",
        "payment_intent": payment["paymentIntentId"],
        "charge": "ch_x",
        "amount": amount,
        "currency": "inr",
        "status": status,
        "balance_transactions": [{"amount": -amount, "fee": fee}] if fee else [],
    }


def test_a_lost_dispute_takes_back_the_vendors_settlement_and_balances(checkout: Checkout) -> None:
    order, payment = _paid(checkout)  # 6000: vendor 5700, platform fee 300
    _event(checkout, "charge.dispute.created", _dispute(payment, 6000, "needs_response"))
    assert rules.balance(_entries(order["orderId"]))["disputed"] == 0  # nothing moved yet
    _event(checkout, "charge.dispute.funds_withdrawn", _dispute(payment, 6000, "under_review", fee=1500))
    _event(checkout, "charge.dispute.funds_withdrawn", _dispute(payment, 6000, "under_review", fee=1500))  # again
    _event(checkout, "charge.dispute.closed", _dispute(payment, 6000, "lost"))
    entries = _entries(order["orderId"])
    b = rules.balance(entries)
    assert (b["captured"], b["disputed"], b["settled"], b["fees"], b["stripeFees"]) == (6000, 6000, 0, 0, 1500)
    assert rules.balanced(entries)
    vendor = [e for e in entries if e.merchant_id == checkout.vendor_["vendorId"]]
    assert sum(e.amount * (1 if e.kind == "SETTLEMENT" else -1) for e in vendor) == 0  # the vendor's share back
    after = checkout.payment(order["orderId"])
    assert after["status"] == "SUCCEEDED" and after["captured"] == 6000
    refund = checkout.api.call(
        "POST",
        f"/orders/{order['orderId']}/refunds",
        {"reason": "goodwill"},
        token=checkout.manager,
        headers={"Idempotency-Key": "after-chargeback"},
    )
    assert refund.status_code == 409, refund.body  # charged back: nothing left to refund
    checkout.chain_ok(order["orderId"])


def test_a_won_dispute_gives_the_money_and_the_settlement_back(checkout: Checkout) -> None:
    order, payment = _paid(checkout)
    _event(checkout, "charge.dispute.funds_withdrawn", _dispute(payment, 3000, "under_review"))
    assert _vendor_net(_entries(order["orderId"])) == 5700 - 2850
    _event(checkout, "charge.dispute.funds_reinstated", _dispute(payment, 3000, "won"))
    _event(checkout, "charge.dispute.closed", _dispute(payment, 3000, "won"))  # reinstated once
    entries = _entries(order["orderId"])
    b = rules.balance(entries)
    assert (b["disputed"], b["settled"], b["fees"]) == (0, 5700, 300) and rules.balanced(entries)
    checkout.chain_ok(order["orderId"])


def test_a_refund_that_fails_after_it_succeeded_is_refundable_again_and_balances(checkout: Checkout) -> None:
    order, payment = _paid(checkout)
    made = checkout.api.call(
        "POST",
        f"/orders/{order['orderId']}/refunds",
        {"amount": 2000, "reason": "leak"},
        token=checkout.manager,
        headers={"Idempotency-Key": "r1"},
    )
    assert made.status_code == 201
    ours = json_body(made)
    (stripe_refund,) = gateway.client().refunds.list(params={"payment_intent": payment["paymentIntentId"]}).data
    failed = {
        "id": stripe_refund.id,
        "object": "refund",
        "payment_intent": payment["paymentIntentId"],
        "amount": 2000,
        "currency": "inr",
        "status": "failed",
        "failure_reason": "expired_or_canceled_card",
        "metadata": {"orderId": order["orderId"], "refundId": ours["refundId"]},
    }
    _event(checkout, "refund.failed", failed)
    _event(checkout, "refund.failed", failed)  # a redelivery changes nothing
    after = checkout.payment(order["orderId"])
    assert after["refunded"] == 0 and [r["status"] for r in after["refunds"]] == ["FAILED"]
    entries = _entries(order["orderId"])
    b = rules.balance(entries)
    assert (b["refunded"], b["settled"], b["fees"]) == (0, 5700, 300) and rules.balanced(entries)
    got = checkout.get_order(order["orderId"])
    assert got["status"] == "PAID" and got["refund"]["amount"] == 0
    again = checkout.api.call(
        "POST",
        f"/orders/{order['orderId']}/refunds",
        {"reason": "leak, again"},
        token=checkout.manager,
        headers={"Idempotency-Key": "r2"},
    )
    assert again.status_code == 201 and json_body(again)["amount"] == 6000  # all of it is refundable again
    checkout.chain_ok(order["orderId"])


def test_a_refund_made_in_stripes_dashboard_is_recorded_with_its_reversal(checkout: Checkout) -> None:
    order, payment = _paid(checkout)
    made = gateway.client().refunds.create(params={"payment_intent": payment["paymentIntentId"], "amount": 1500})
    refunded = {"id": "ch_x", "object": "charge", "payment_intent": payment["paymentIntentId"], "amount_refunded": 1500}
    _event(checkout, "charge.refunded", refunded)
    _event(checkout, "charge.refunded", refunded)  # again: recorded once
    after = checkout.payment(order["orderId"])
    assert after["refunded"] == 1500
    assert [(r["refundId"], r["amount"], r["status"]) for r in after["refunds"]] == [(made.id, 1500, "SUCCEEDED")]
    entries = _entries(order["orderId"])
    assert rules.balance(entries)["refunded"] == 1500 and rules.balanced(entries)
    assert checkout.get_order(order["orderId"])["refund"] == {
        "status": "PARTIAL",
        "amount": 1500,
        "owed": 0,
        "currency": "INR",
    }
    checkout.chain_ok(order["orderId"])


def test_a_dispute_of_a_refunded_charge_balances_and_winning_it_restores_exactly(checkout: Checkout) -> None:
    """Review finding: after a full refund nothing is left to reverse, so a dispute left the ledger
    unbalanced, and winning it settled the vendors again for money the customer already had."""
    order, payment = _paid(checkout)
    made = checkout.api.call(
        "POST",
        f"/orders/{order['orderId']}/refunds",
        {"reason": "all of it"},
        token=checkout.manager,
        headers={"Idempotency-Key": "full"},
    )
    assert made.status_code == 201 and json_body(made)["amount"] == 6000
    _event(checkout, "charge.dispute.funds_withdrawn", _dispute(payment, 6000, "under_review"))
    entries = _entries(order["orderId"])
    b = rules.balance(entries)
    assert rules.balanced(entries) and (b["settled"], b["fees"]) == (0, -6000), b  # the platform bears it
    _event(checkout, "charge.dispute.funds_reinstated", _dispute(payment, 6000, "won"))
    entries = _entries(order["orderId"])
    b = rules.balance(entries)
    assert rules.balanced(entries) and (b["settled"], b["fees"], b["disputed"]) == (0, 0, 0), b
    assert checkout.payment(order["orderId"])["refunded"] == 6000
    again = checkout.api.call(
        "POST",
        f"/orders/{order['orderId']}/refunds",
        {"reason": "more"},
        token=checkout.manager,
        headers={"Idempotency-Key": "more"},
    )
    assert again.status_code == 409  # nothing became refundable again
    checkout.chain_ok(order["orderId"])


def test_the_refund_of_a_second_charge_is_not_booked_against_the_sale(checkout: Checkout) -> None:
    """Review finding: Stripe's charge.refunded for a duplicate PaymentIntent (given back by us)
    was taken for a dashboard refund of the real payment."""
    order, payment = _paid(checkout)
    meta = {"orderId": order["orderId"], "paymentId": payment["paymentId"], "userId": order["userId"]}
    second = gateway.StripeGateway().charge(6000, "INR", "pm_card_visa", meta, f"dup-{uuid.uuid4().hex}", None)
    obj = {"id": second.intent_id, "object": "payment_intent", "amount": 6000, "currency": "inr", "metadata": meta}
    _event(checkout, "payment_intent.succeeded", obj)
    refunded = {
        "id": "ch_dup",
        "object": "charge",
        "payment_intent": second.intent_id,
        "amount_refunded": 6000,
        "metadata": meta,
    }
    _event(checkout, "charge.refunded", refunded)
    after = checkout.payment(order["orderId"])
    assert (after["refunded"], after["refunds"]) == (0, []), after
    back = gateway.client().refunds.list(params={"payment_intent": second.intent_id}).data
    assert [r.amount for r in back] == [6000]  # the second charge was given back, once
    entries = _entries(order["orderId"])
    assert rules.balance(entries)["refunded"] == 0 and rules.balanced(entries)
