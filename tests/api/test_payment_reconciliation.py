"""Payment reconciliation: one UTC day of the ledger against the local Stripe's own records.
Differences injected on either side are found and alerted; a normal paid and refunded flow
shows none; nothing is changed by the reconciliation."""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from chalicelib import bootstrap
from chalicelib.core import aws
from chalicelib.core.config import get_settings
from chalicelib.core.dynamo import to_item
from chalicelib.payments import gateway, rules
from chalicelib.payments.reconcile import payment_drift
from freshcart_local import faults
from tests.api.test_payments import Checkout, config_reset
from tests.api.test_stock_reconciliation import alerts, watch_alerts
from tests.conftest import Api


@pytest.fixture
def shop(checkout: Any) -> Any:
    return checkout


def today() -> str:
    return datetime.now(UTC).date().isoformat()


def paid(shop: Checkout, qty: int = 2) -> dict[str, Any]:
    order = shop.order(qty)
    assert shop.pay(order["orderId"]).status_code == 202
    payment = shop.payment(order["orderId"], {"SUCCEEDED"})
    shop.settled(order["orderId"])
    return {**order, "intentId": payment["paymentIntentId"], "paymentId": payment["paymentId"]}


def refund(shop: Checkout, order_id: str, amount: int) -> None:
    resp = shop.api.call(
        "POST",
        f"/orders/{order_id}/refunds",
        {"amount": amount, "reason": "leaked"},
        token=shop.manager,
        headers={"Idempotency-Key": uuid.uuid4().hex},
    )
    assert resp.status_code == 201, resp.body


def ledger() -> list[dict[str, Any]]:
    return sorted((e for e in bootstrap.payments().ledger.day_entries(today())), key=lambda e: (e.order_id, e.kind))


def stripe_state() -> tuple[list[Any], list[Any]]:
    c = gateway.client()
    intents = [(p.id, p.amount, p.status) for p in c.payment_intents.list(params={"limit": 100}).auto_paging_iter()]
    refunds = [(r.id, r.amount, r.status) for r in c.refunds.list(params={"limit": 100}).auto_paging_iter()]
    return sorted(intents), sorted(refunds)


def balance_of(intent_id: str) -> str:
    """The balance transaction of the charge of ``intent_id`` (at the local Stripe)."""
    c = gateway.client()
    charge = c.payment_intents.retrieve(intent_id).to_dict()["latest_charge"]
    charge_id = charge if isinstance(charge, str) else charge["id"]
    return str(c.charges.retrieve(charge_id).to_dict()["balance_transaction"])


def run_job(api: Api, day: str) -> dict[str, Any]:
    client = api.client
    event = client.events.generate_cw_event(
        source="aws.events", detail_type="Scheduled Event", detail={"date": day}, resources=["payment_reconciliation"]
    )
    return dict(client.lambda_.invoke("payment_reconciliation", event).payload)


def test_no_drift_after_a_paid_and_refunded_day(shop: Checkout) -> None:
    first = paid(shop)
    refund(shop, first["orderId"], 1000)
    second = paid(shop, 1)
    refund(shop, second["orderId"], 3000)  # in full
    kinds = {e.kind for e in ledger()}
    assert {"CHARGE", "REFUND", "SETTLEMENT", "FEE"} <= kinds
    assert payment_drift(today()) == []
    assert payment_drift("2001-01-01") == []  # an empty day is no error


def test_every_injected_difference_is_reported_and_nothing_is_changed(shop: Checkout, api: Api) -> None:
    order = paid(shop)
    edited = paid(shop, 1)
    ddb, table = aws.client("dynamodb"), get_settings().transactions_table
    # 1. a ledger charge whose PaymentIntent Stripe never saw
    now = datetime.now(UTC)
    ghost = {
        "pk": "ORDER#ghost-order",
        "sk": "CHARGE#ghost-pay",
        "orderId": "ghost-order",
        "kind": "CHARGE",
        "entryId": "ghost-pay",
        "amount": 4200,
        "currency": "INR",
        "intentId": "pi_neverexisted0001",
        "day": now.date().isoformat(),
        "createdKey": f"{now.isoformat()}#ghost-order#CHARGE#ghost-pay",
        "createdAt": now.isoformat(),
    }
    ddb.put_item(TableName=table, Item=to_item(ghost))
    # 2. a PaymentIntent that took money with no ledger entry
    stray = gateway.client().payment_intents.create(
        params={
            "amount": 777,
            "currency": "inr",
            "payment_method": "pm_card_visa",
            "confirm": True,
            "payment_method_types": ["card"],
            "metadata": {"orderId": "nobody-knows"},
        }
    )
    assert stray.status == "succeeded"
    # 3. an amount edited in the ledger behind the app's back
    ddb.update_item(
        TableName=table,
        Key=to_item({"pk": f"ORDER#{edited['orderId']}", "sk": f"CHARGE#{edited['paymentId']}"}),
        UpdateExpression="SET amount = :a",
        ExpressionAttributeValues={":a": {"N": "2999"}},
    )
    # 4. a refund made at Stripe (the dashboard, say) that the ledger never recorded
    lost = gateway.client().refunds.create(params={"payment_intent": order["intentId"], "amount": 500})
    before_ledger, before_stripe = ledger(), stripe_state()
    watched = watch_alerts("watch-payment-alerts")
    result = run_job(api, today())
    found = {(r["difference"], r["object"], r["stripeId"]) for r in result["drift"]}
    assert found == {
        ("missing_at_stripe", "payment_intent", "pi_neverexisted0001"),
        ("missing_in_ledger", "payment_intent", stray.id),
        ("amount_mismatch", "payment_intent", edited["intentId"]),
        ("missing_in_ledger", "refund", lost.id),
        # Stripe's balance says the same twice: a charge it holds we never recorded, one we misrecorded
        ("missing_in_ledger", "balance_transaction", balance_of(stray.id)),
        ("amount_mismatch", "balance_transaction", balance_of(edited["intentId"])),
    }, result["drift"]
    mismatch = next(
        r for r in result["drift"] if r["difference"] == "amount_mismatch" and r["object"] == "payment_intent"
    )
    assert (mismatch["ledgerAmount"], mismatch["stripeAmount"], mismatch["orderId"]) == (2999, 3000, edited["orderId"])
    lost_row = next(r for r in result["drift"] if r["stripeId"] == lost.id)
    assert lost_row["orderId"] == order["orderId"] and lost_row["stripeAmount"] == 500
    # reported, never "fixed": the ledger and Stripe are as they were, but for Stripe's fees on
    # the charges we know (2 % locally), now recorded as the platform's cost
    fees = [e for e in ledger() if e.kind == "STRIPE_FEE"]
    assert [e for e in ledger() if e.kind != "STRIPE_FEE"] == before_ledger and stripe_state() == before_stripe
    assert sorted(e.amount for e in fees) == [60, 120]  # 2 % of 3000 and of 6000
    again = run_job(api, today())  # the fees are recorded once; the close now counts them
    assert again["drift"] == result["drift"] and len(ledger()) == len(before_ledger) + 2
    (alert, _) = [a for a in alerts(watched) if a["type"] == "PaymentDrift"]
    assert alert["data"]["day"] == today() and alert["data"]["count"] == 6
    assert json.dumps(alert["data"]["rows"], sort_keys=True) == json.dumps(result["drift"], sort_keys=True)
    # the daily report reads the stored close (one item), not the ledger again
    report = bootstrap.reports().build(today())
    assert report["paymentsReconciled"] is True
    assert json.dumps(report["paymentDrift"], sort_keys=True) == json.dumps(result["drift"], sort_keys=True)
    assert report["ledger"] == again["ledger"] and report["ledger"]["INR"]["charged"] == 4200 + 6000 + 2999


def test_a_report_of_a_day_not_yet_reconciled_says_so(shop: Checkout) -> None:
    order = paid(shop, 1)
    report = bootstrap.reports().build(today())
    assert report["paymentsReconciled"] is False and report["paymentDrift"] == []
    assert report["ledger"]["INR"]["charged"] == order["total"]  # from the day's ledger itself


def test_the_nightly_run_closes_again_the_days_within_stripes_event_window(shop: Checkout, api: Api) -> None:
    """Money can move days later (a dispute, a refund made in Stripe's dashboard, a webhook Stripe
    retried for 3 days): the next nights close a closed day again, and its drift shows."""

    first = paid(shop)
    day = today()
    assert run_job(api, day)["drift"] == []
    gateway.client().refunds.create(params={"payment_intent": first["intentId"], "amount": 100})
    tomorrow = (date.fromisoformat(day) + timedelta(days=1)).isoformat()
    result = run_job(api, tomorrow)
    assert day in result["reclosed"]
    stored = bootstrap.payment_reconciler().payments.close(day)
    assert stored is not None and [r["difference"] for r in stored["drift"]] == ["missing_in_ledger"]


def test_a_refund_left_pending_is_completed_by_the_nightly_run_once(
    shop: Checkout, api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Stripe made the refund but its answer was lost, and the retry message died too (its DLQ
    purged, say): the refund sat PENDING for ever. The nightly run re-checks refunds PENDING for
    an hour (the sparse byPending index) and completes each: Stripe is asked by our key, never a
    second refund."""

    order = paid(shop)
    monkeypatch.setenv("STRIPE_TIMEOUT_SECONDS", "1")
    config_reset()
    faults.inject({"target": "stripe", "mode": "timeout", "times": 1, "path": "/v1/refunds", "delaySeconds": 2})
    resp = shop.api.call(
        "POST",
        f"/orders/{order['orderId']}/refunds",
        {"reason": "leaked", "amount": 700},
        token=shop.manager,
        headers={"Idempotency-Key": "lost"},
    )
    assert resp.status_code == 201 and json.loads(resp.body)["status"] == "PENDING"
    sqs = aws.client("sqs")
    sqs.purge_queue(QueueUrl=sqs.get_queue_url(QueueName=get_settings().failed_transactions_queue)["QueueUrl"])

    deadline = time.monotonic() + 10
    while not gateway.client().refunds.list(params={"payment_intent": order["intentId"]}).data:  # Stripe acted
        assert time.monotonic() < deadline
        time.sleep(0.1)
    reconciler = bootstrap.payment_reconciler()
    assert reconciler.recheck_refunds() == []  # not an hour old yet: its own retry may still come
    (done,) = reconciler.recheck_refunds(older_than=0)
    assert done["outcome"] == "succeeded"
    assert reconciler.payments.pending_refunds("9999") == []
    (at_stripe,) = gateway.client().refunds.list(params={"payment_intent": order["intentId"]}).data
    (ours,) = bootstrap.payments().view(order["orderId"])["refunds"]
    assert (ours["status"], at_stripe.amount) == ("SUCCEEDED", 700)
    entries = bootstrap.payments().ledger.entries(order["orderId"])

    assert rules.balance(entries)["refunded"] == 700 and rules.balanced(entries)
    faults.clear()
