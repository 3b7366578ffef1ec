"""The payments domain's pure rules, in milliseconds: fraud (every rule firing and not), how
money splits and is reversed, the audit chain's hash, and which Stripe event moves a payment."""

from __future__ import annotations

from dataclasses import replace

import pytest

from chalicelib.audit import chain
from chalicelib.payments import rules
from tests.fakes import ledger_entry

CLEAN = rules.FraudInput(
    amount=10_000,
    currency="INR",
    first_order=False,
    orders_last_hour=1,
    known_device=True,
    known_ip=True,
    address_country="IN",
    request_country="IN",
    spent_last_hour=0,
)


def test_a_clean_payment_passes_with_no_reason() -> None:
    assert rules.score_fraud(CLEAN) == rules.FraudScore(0, "pass", [])


@pytest.mark.parametrize(
    ("change", "weight", "words"),
    [
        ({"amount": 2_000_001}, 45, "over the INR limit"),
        ({"first_order": True, "amount": 500_001}, 30, "first order"),
        ({"orders_last_hour": 6}, 40, "orders in the last hour"),
        ({"spent_last_hour": 1_995_000}, 40, "in the last hour is over the limit"),
        ({"known_device": False}, 15, "device"),
        ({"known_ip": False}, 10, "IP address"),
        ({"request_country": "US"}, 25, "request from US"),
        ({"currency": "XOF"}, 40, "no fraud limits are set for XOF"),
        ({"card_country": "GB"}, 25, "card issued in GB, delivery to IN"),
    ],
)
def test_each_fraud_rule_fires_with_its_weight_and_reason(change: dict[str, object], weight: int, words: str) -> None:
    got = rules.score_fraud(replace(CLEAN, **change))  # type: ignore[arg-type]
    assert got.score == weight and len(got.reasons) == 1 and words in got.reasons[0], got


@pytest.mark.parametrize(
    "change",
    [
        {"amount": 2_000_000},  # at the limit, not over
        {"first_order": True, "amount": 500_000},
        {"first_order": False, "amount": 600_000},  # the first-order limit is for a first paid order only
        {"orders_last_hour": 5},
        {"spent_last_hour": 1_990_000},  # with this one: exactly the limit
        {"request_country": None},  # no CDN header: nothing to compare
        {"card_country": "in"},  # a card from the delivery country (any case)
        {"card_country": None},  # Stripe could not say
        {"currency": "JPY", "amount": 75_000},  # JPY has its own (zero-decimal) figures
    ],
)
def test_no_fraud_rule_fires_at_or_under_its_threshold(change: dict[str, object]) -> None:
    assert rules.score_fraud(replace(CLEAN, **change)).score == 0  # type: ignore[arg-type]


def test_splitting_one_big_order_under_the_limit_is_held() -> None:
    """Finding 7: five orders of 4,500.00 INR in an hour each scored 0."""
    fifth = replace(CLEAN, amount=450_000, spent_last_hour=4 * 450_000, orders_last_hour=5)
    assert rules.score_fraud(fifth).decision == "hold"


def test_jpy_is_not_scored_with_inr_figures() -> None:
    """Finding 7: currencies outside the table used INR's minor-unit limits (JPY 100x looser)."""
    assert rules.score_fraud(replace(CLEAN, currency="JPY", amount=80_000)).score == 45


def test_only_devices_seen_before_this_login_are_known() -> None:
    devices = [
        {"key": "old", "ip": "1.1.1.1", "firstSeen": "2026-01-01T00:00:00+00:00"},
        {"key": "attacker", "ip": "6.6.6.6", "firstSeen": "2026-12-06T10:00:00+00:00"},  # added by this login
        {"key": "legacy", "ip": "2.2.2.2"},  # recorded before devices carried firstSeen
    ]
    before = rules.known_before(devices, "2026-12-06T10:00:00+00:00")
    assert [d["key"] for d in before] == ["old", "legacy"]
    assert rules.known_before(devices, None) == devices


def test_settlement_splits_exactly_and_a_refund_reverses_in_proportion() -> None:
    lines = [{"vendorId": "a", "unitPrice": 3000, "quantity": 2}, {"vendorId": "b", "unitPrice": 1000, "quantity": 1}]
    fee, shares = rules.settlement(7001, lines, 500)
    assert fee == 350 and fee + sum(shares.values()) == 7001 and shares["a"] > shares["b"]
    back = rules.refund_reversal(1001, shares, fee)
    assert sum(back.values()) == 1001 and set(back) == {"a", "b", "PLATFORM"}


def test_the_ledger_balances_only_when_settled_plus_fees_is_net() -> None:
    e = ledger_entry
    entries = [e("CHARGE", 1000), e("FEE", 50), e("SETTLEMENT", 950), e("REFUND", 100)]
    assert not rules.balanced(entries)
    entries += [e("FEE_REVERSAL", 5), e("SETTLEMENT_REVERSAL", 95)]
    assert rules.balanced(entries)


def test_the_chain_hash_detects_an_edit_a_gap_and_a_broken_link() -> None:
    rows, prev = [], chain.GENESIS
    for seq in (1, 2, 3):
        row = {"seq": seq, "action": f"a{seq}", "prevHash": prev}
        row["hash"] = chain.chain_hash(prev, chain.chained_fields(row))
        rows.append(row)
        prev = row["hash"]
    assert chain.verify_rows(rows) == []
    edited = [rows[0], {**rows[1], "action": "changed"}, rows[2]]
    assert any("edited" in p for p in chain.verify_rows(edited))
    assert any("missing" in p for p in chain.verify_rows([rows[0], rows[2]]))


def test_stripe_events_move_a_payment_forward_only() -> None:
    assert rules.event_moves("payment_intent.succeeded", rules.REQUIRES_ACTION) == rules.SUCCEEDED
    assert rules.event_moves("payment_intent.payment_failed", rules.SUCCEEDED) is None  # never backwards
    assert rules.event_moves("payment_intent.succeeded", rules.SUCCEEDED) is None  # already there
    assert rules.event_moves("charge.dispute.created", rules.SUCCEEDED) is None


def test_the_ledger_balances_with_disputes_failed_refunds_and_stripes_fees() -> None:
    e = ledger_entry

    sale = [e("CHARGE", 6000), e("FEE", 300), e("SETTLEMENT", 5700)]
    lost = [*sale, e("DISPUTE", 6000), e("FEE_REVERSAL", 300), e("SETTLEMENT_REVERSAL", 5700), e("DISPUTE_FEE", 1500)]
    assert rules.balanced(lost) and rules.balance(lost)["stripeFees"] == 1500
    assert not rules.balanced([*sale, e("DISPUTE", 6000)])  # charged back, still settled: caught
    won = [*lost, e("DISPUTE_REVERSAL", 6000), e("FEE", 300), e("SETTLEMENT", 5700)]
    assert rules.balanced(won) and rules.balance(won)["disputed"] == 0
    failed = [*sale, e("REFUND", 2000), e("FEE_REVERSAL", 100), e("SETTLEMENT_REVERSAL", 1900)]
    failed += [e("REFUND_FAILED", 2000), e("FEE", 100), e("SETTLEMENT", 1900)]
    assert rules.balanced(failed) and rules.balance(failed)["refunded"] == 0


def test_the_fraud_screen_judges_the_accounts_history_and_the_card_over_fakes() -> None:
    """The service half of the screen (chalicelib/payments/fraud.py) over an in-memory orders
    history and the fake Stripe: no moto, no network."""
    from chalicelib.payments.fraud import FraudScreen
    from tests.fakes import FakeOrderReads, FakeStripe

    order = {"orderId": "o1", "userId": "u1", "total": 600_000, "currency": "INR", "address": {"country": "IN"}}
    user = {"devices": [{"key": "k1", "ip": "10.0.0.1", "firstSeen": "2026-01-01T00:00:00+00:00"}]}
    user["sessions"] = {"s1": {"createdAt": "2026-06-01T00:00:00+00:00", "device": "k1"}}
    client = {"ip": "10.0.0.1", "session": "s1"}
    stripe = FakeStripe()
    first = FraudScreen(FakeOrderReads()).score(order, user, client, stripe.card_country("pm_card_visa"))
    assert (first.score, first.decision) == (30, "pass")  # a first paid order over INR 5,000.00
    again = FraudScreen(FakeOrderReads(paid_before=True)).score(order, user, client, stripe.card_country("pm_card_gb"))
    assert (again.score, again.reasons) == (25, ["card issued in GB, delivery to IN"])
    recent = [{"orderId": f"r{i}", "total": 400_000, "currency": "INR", "status": "PAID"} for i in range(4)]
    split = FraudScreen(FakeOrderReads(recent, paid_before=True)).score(order, user, client, "IN")
    assert split.decision == "hold" and "in the last hour is over the limit" in split.reasons[0]
    # a subscription's scheduled orders of the hour are no burst of the customer's
    small = {**order, "total": 5000}
    scheduled = [
        {"orderId": f"s{i}", "total": 5000, "currency": "INR", "status": "PAID", "subscriptionId": "x"}
        for i in range(6)
    ]
    assert FraudScreen(FakeOrderReads(scheduled, paid_before=True)).score(small, user, client, "IN").reasons == []
    burst = [{k: v for k, v in o.items() if k != "subscriptionId"} for o in scheduled]
    assert (
        "orders in the last hour"
        in FraudScreen(FakeOrderReads(burst, paid_before=True)).score(small, user, client, "IN").reasons[0]
    )
