"""The pure halves of reconciliation: what an order holds, stock drift, and the ledger-vs-Stripe
diff (every kind of difference, and the cases that are none)."""

from __future__ import annotations

from typing import Any

from chalicelib.inventory import rules as stock
from chalicelib.orders import rules as orders
from chalicelib.payments import rules as pay
from chalicelib.payments.records import LedgerEntry
from tests.fakes import ledger_entry


def order(status: str, *history: str) -> dict[str, Any]:
    return {"status": status, "history": [{"status": s} for s in ("PENDING_PAYMENT", *history, status)]}


def test_what_an_order_holds() -> None:
    assert orders.stock_use(order("PENDING_PAYMENT")) == "reserved"
    for sold in (order("PAID"), order("APPROVED", "PAID"), order("DELIVERED", "PAID", "APPROVED", "DISPATCHED")):
        assert orders.stock_use(sold) == "sold"
    assert orders.stock_use({**order("APPROVED", "PAID"), "refund": {"status": "DONE"}}) == "sold"  # no stock moves
    for nothing in (order("EXPIRED"), order("CANCELLED"), order("REJECTED"), order("CANCELLED", "PAID")):
        assert orders.stock_use(nothing) is None


ROW = {"productId": "p", "variantId": "v", "vendorId": "x", "available": 6, "reserved": 2, "lowStockThreshold": 7}
KEY = ("p", "v", "x")


def test_stock_drift_and_its_confirmation() -> None:
    assert stock.stock_drift([ROW], {KEY: 10}, {KEY: {"reserved": 2, "sold": 2}}) == []
    drift = stock.stock_drift([ROW], {KEY: 10}, {KEY: {"reserved": 1, "sold": 2}})
    assert [(r["counter"], r["expected"], r["actual"]) for r in drift] == [("available", 7, 6), ("reserved", 1, 2)]
    # a second pass in which more orders came along keeps the same gaps: confirmed
    later = stock.stock_drift([{**ROW, "available": 4, "reserved": 4}], {KEY: 10}, {KEY: {"reserved": 3, "sold": 2}})
    assert stock.confirmed(drift, later) == later
    # a gap seen once (an order moved between the reads) is not drift
    assert stock.confirmed(drift, []) == [] and stock.confirmed([], drift) == []
    assert stock.stock_drift([], {}, {}) == []
    assert stock.low_stock([ROW, {**ROW, "vendorId": "y", "available": 7}]) == [
        {
            "alertType": "LOW_STOCK",
            "severity": "WARNING",
            "productId": "p",
            "vendorId": "x",
            "variantId": "v",
            "currentStock": 6,
            "threshold": 7,
        }
    ]


def charge(amount: int = 100, currency: str = "INR", intent: str = "pi_1") -> LedgerEntry:
    return ledger_entry("CHARGE", amount, currency=currency, intent_id=intent)


def pi(amount: int = 100, status: str = "succeeded", currency: str = "inr", id_: str = "pi_1") -> dict[str, Any]:
    return {"id": id_, "object": "payment_intent", "amount": amount, "currency": currency, "status": status}


def kinds(rows: list[dict[str, Any]]) -> list[tuple[str, str | None]]:
    return [(r["difference"], r["stripeId"]) for r in rows]


def test_payment_differences() -> None:
    assert pay.payment_differences([charge()], {"pi_1": pi()}, {"pi_1"}, set()) == []
    assert kinds(pay.payment_differences([charge()], {}, set(), set())) == [("missing_at_stripe", "pi_1")]
    assert kinds(pay.payment_differences([], {"pi_1": pi()}, {"pi_1"}, set())) == [("missing_in_ledger", "pi_1")]
    assert pay.payment_differences([], {"pi_1": pi()}, {"pi_1"}, {"pi_1"}) == []  # on another day's ledger
    assert pay.payment_differences([], {"pi_1": pi(status="canceled")}, {"pi_1"}, set()) == []  # no money
    wrong = pay.payment_differences([charge()], {"pi_1": pi(90, "canceled", "usd")}, {"pi_1"}, set())
    assert [r["difference"] for r in wrong] == ["status_mismatch", "amount_mismatch", "currency_mismatch"]
    assert wrong[1]["ledgerAmount"] == 100 and wrong[1]["stripeAmount"] == 90 and wrong[2]["stripeCurrency"] == "USD"
    refund = ledger_entry("REFUND", 40, stripe_refund_id="re_1")
    re = {"id": "re_1", "object": "refund", "amount": 40, "currency": "inr", "status": "pending"}
    assert pay.payment_differences([refund], {"re_1": re}, set(), set()) == []  # pending: on its way
    failed = pay.payment_differences([refund], {"re_1": {**re, "status": "failed"}}, set(), set())
    assert kinds(failed) == [("status_mismatch", "re_1")]
    fees = [ledger_entry("FEE", 5), ledger_entry("REFUND", 0, stripe_refund_id="re_1")]
    assert pay.payment_differences(fees, {}, set(), set()) == []  # ours alone; nothing moved
    assert pay.day_window("2024-03-01") == (1709251200, 1709337600)


def test_the_nightly_job_reconciles_the_previous_utc_day() -> None:
    from chalicelib.payments.jobs import previous_day

    assert previous_day({"time": "2024-03-01T00:30:00Z"}) == "2024-02-29"
    assert previous_day({"time": "2024-03-01T00:30:00Z", "detail": {"date": "2024-01-05"}}) == "2024-01-05"
