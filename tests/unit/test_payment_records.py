"""The payments domain's typed records against the stored items they are read from and written as."""

from __future__ import annotations

import pytest

from chalicelib.payments.records import Head, LedgerEntry, OrderPayments, Payment, Refund

STORED_PAYMENT = {
    "paymentId": "p1",
    "orderId": "o1",
    "userId": "u1",
    "amount": 6000,
    "currency": "INR",
    "method": "pm_card_visa",
    "status": "SUCCEEDED",
    "createdAt": "2030-01-01T00:00:00+00:00",
    "updatedAt": "2030-01-01T00:00:05+00:00",
    "captured": 6000,
    "refundable": 4500,
    "refunded": 1500,
    "intentId": "pi_1",
    "startFailed": True,
    "waitToken": "tok",
    "settled": {"v1": 5700},
    "fee": 300,
    "reversed": {"v1": 1425, "PLATFORM": 75},
    "lines": [{"vendorId": "v1", "unitPrice": 3000, "quantity": 2}],
    "history": [{"status": "PROCESSING", "at": "2030-01-01T00:00:00+00:00"}],
}


def test_a_stored_payment_reads_as_a_record_and_writes_back_the_same_attributes() -> None:
    p = Payment.of({**STORED_PAYMENT, "pendingPk": "index keys are not the record's"})
    assert (p.payment_id, p.intent_id, p.start_failed, p.wait_token, p.refundable) == ("p1", "pi_1", True, "tok", 4500)
    assert p.vendor_ids == ["v1"] and p.compensating is None
    assert {k: v for k, v in p.row().items() if k not in ("client",)} == STORED_PAYMENT
    with pytest.raises(TypeError):  # a stored payment without its amount is not a payment
        Payment.of({k: v for k, v in STORED_PAYMENT.items() if k != "amount"})


def test_an_orders_payments_find_their_payment_refund_and_what_was_given_back() -> None:
    def refund(rid: str, amount: int, status: str) -> Refund:
        return Refund(rid, "o1", "p1", amount, "INR", status, "2030-01-01T00:00:00+00:00")

    state = OrderPayments(
        Head.of({"paymentId": "p1", "open": False, "chainSeq": 4, "chainHash": "h"}),
        [Payment.of(STORED_PAYMENT)],
        [refund("r1", 1000, "SUCCEEDED"), refund("r2", 500, "SUCCEEDED"), refund("r3", 700, "FAILED")],
    )
    assert state.head == Head("p1", False, 4, "h") and Head.of(None) == Head()
    assert state.payment("p1") is state.payments[0] and state.payment("nope") is None
    assert state.refund("r2") is state.refunds[1] and state.refund("nope") is None
    assert state.refunded() == 1500 and state.refunded(exclude="r1") == 500


def test_a_ledger_entry_keeps_its_cause() -> None:
    row = {
        "orderId": "o1",
        "kind": "SETTLEMENT_REVERSAL",
        "entryId": "r1#v1",
        "amount": 1425,
        "currency": "INR",
        "day": "2030-01-01",
        "createdAt": "2030-01-01T00:00:00+00:00",
        "merchantId": "v1",
        "refundId": "r1",
    }
    e = LedgerEntry.of(row)
    assert (e.merchant_id, e.refund_id, e.dispute_id) == ("v1", "r1", None)
    assert e.row() == row
