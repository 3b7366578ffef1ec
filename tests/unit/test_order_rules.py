"""Pure order rules: the status machine, promo maths, vendor assignment."""

from datetime import UTC, datetime

import pytest

from chalicelib.orders import rules
from chalicelib.orders.rules import Line, assign, candidate_vendors, promo_discount
from chalicelib.vendors.capacity import limits

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


def test_status_machine() -> None:
    assert rules.can_move("PENDING_PAYMENT", "PAID")
    assert rules.can_move("PAID", "APPROVED") and rules.can_move("APPROVED", "CANCELLED")
    assert not rules.can_move("PENDING_PAYMENT", "APPROVED")
    assert not rules.can_move("DISPATCHED", "CANCELLED")
    assert not rules.can_move("CANCELLED", "PENDING_PAYMENT")
    terminal = [s for s, nxt in rules.TRANSITIONS.items() if not nxt]
    assert sorted(terminal) == ["CANCELLED", "DELIVERED", "EXPIRED", "REJECTED"]
    assert "REFUNDED" not in rules.TRANSITIONS and "PARTIALLY_REFUNDED" not in rules.TRANSITIONS  # its own axis
    reachable = set().union(*rules.TRANSITIONS.values())
    assert reachable | {"PENDING_PAYMENT"} == set(rules.TRANSITIONS)


ORDER = {"orderId": "o", "total": 6000, "currency": "INR", "status": "PAID", "history": []}


def test_refunds_are_an_axis_of_their_own() -> None:
    """A partly refunded order keeps its fulfilment status and may still move; cancelling it
    owes the rest; a cancelled order refunded stays CANCELLED."""
    partial = rules.refund_after(ORDER, 1000)
    assert partial == {"status": "PARTIAL", "amount": 1000, "owed": 0, "currency": "INR"}
    approved = {**ORDER, "status": "APPROVED", "refund": partial}
    assert rules.can_move(approved["status"], "DISPATCHED") and rules.can_move(approved["status"], "CANCELLED")
    owed = rules.refund_on_cancel(approved)
    assert owed == {"status": "REQUIRED", "amount": 1000, "owed": 5000, "currency": "INR"}
    cancelled = {**approved, "status": "CANCELLED", "refund": owed}
    assert rules.refund_after(cancelled, 6000) == {"status": "DONE", "amount": 6000, "owed": 0, "currency": "INR"}
    assert rules.refund_after({**cancelled, "refund": owed}, 3000)["owed"] == 3000  # still owes the rest
    assert rules.refund_after(ORDER, 6000)["status"] == "DONE"  # a delivered order refunded in full stays DELIVERED


def test_orders_stored_with_refunds_in_their_status_are_split() -> None:
    def hist(*statuses: str) -> list[dict[str, str]]:
        return [{"status": s} for s in ("PENDING_PAYMENT", *statuses)]

    refunded = {**ORDER, "status": "REFUNDED", "history": hist("PAID", "CANCELLED", "REFUNDED")}
    refunded["refund"] = {"status": "DONE", "amount": 6000, "currency": "INR"}
    assert rules.legacy_split(refunded) == {
        "status": "CANCELLED",
        "refund": {"status": "DONE", "amount": 6000, "owed": 0, "currency": "INR"},
    }
    partly = {**ORDER, "status": "PARTIALLY_REFUNDED", "history": hist("PAID", "APPROVED", "PARTIALLY_REFUNDED")}
    partly["refund"] = {"status": "PARTIAL", "amount": 1000, "currency": "INR"}
    assert rules.legacy_split(partly) == {
        "status": "APPROVED",
        "refund": {"status": "PARTIAL", "amount": 1000, "owed": 0, "currency": "INR"},
    }
    owed = {**ORDER, "status": "CANCELLED", "history": hist("PAID", "CANCELLED")}
    owed["refund"] = {"status": "REQUIRED", "amount": 6000, "currency": "INR"}  # then: the amount owed
    assert rules.legacy_split(owed) == {
        "status": "CANCELLED",
        "refund": {"status": "REQUIRED", "amount": 0, "owed": 6000, "currency": "INR"},
    }
    assert rules.legacy_split({**ORDER, "refund": rules.refund_after(ORDER, 10)}) is None  # already current
    assert rules.legacy_split(ORDER) is None


def promo(**over: object) -> dict:
    base = {
        "code": "X",
        "kind": "percent",
        "value": 10,
        "active": True,
        "uses": 0,
        "maxUses": 5,
        "validFrom": "2026-01-01T00:00:00+00:00",
        "validTo": "2027-01-01T00:00:00+00:00",
    }
    return {**base, **over}


def test_promo_maths_in_minor_units() -> None:
    assert promo_discount(promo(), 999, "INR", NOW) == 99  # floor, never rounds up
    assert promo_discount(promo(kind="fixed", value=500, currency="INR"), 300, "INR", NOW) == 300  # capped
    with pytest.raises(rules.PromoProblem, match="INR"):
        promo_discount(promo(kind="fixed", value=500, currency="INR"), 3000, "USD", NOW)
    with pytest.raises(rules.PromoProblem, match="at least"):
        promo_discount(promo(minOrder=1000, currency="INR"), 999, "INR", NOW)
    with pytest.raises(rules.PromoProblem, match="used up"):
        promo_discount(promo(uses=5), 999, "INR", NOW)
    with pytest.raises(rules.PromoProblem, match="not valid now"):
        promo_discount(promo(validTo="2026-06-01T00:00:00+00:00"), 999, "INR", NOW)
    with pytest.raises(rules.PromoProblem, match="not active"):
        promo_discount(promo(active=False), 999, "INR", NOW)
    with pytest.raises(rules.PromoProblem, match="unknown"):
        promo_discount(None, 999, "INR", NOW)


def vendor(vid: str, rating: float, products: list[str], limit: int = 10) -> dict:
    return {
        "vendorId": vid,
        "name": vid,
        "rating": rating,
        "active": True,
        "products": products,
        "capacity": {"dailyOrderLimit": limit},
    }


def test_assign_prefers_rating_then_room_and_respects_capacity() -> None:
    line = Line("p", "v", 2, 100, "Milk", "1L")
    a, b, c = vendor("a", 4.5, ["p"], limit=1), vendor("b", 4.5, ["p"]), vendor("c", 3.0, ["p"])
    stock = {("p", "v", "a"): 5, ("p", "v", "b"): 5, ("p", "v", "c"): 5}
    assert assign([line], [a, b, c], stock, {"a": 1, "b": 0, "c": 9}, False).lines[0]["vendorId"] == "a"
    assert assign([line], [a, b, c], stock, {"a": 1, "b": 7, "c": 9}, False).lines[0]["vendorId"] == "b"  # roomier
    assert assign([line], [a, b, c], stock, {"a": 2, "b": 2}, False).lines[0]["vendorId"] == "a"  # tie: id
    assert assign([line], [a, b, c], stock, {"c": 1}, False).lines[0]["vendorId"] == "c"  # a and b are full
    assert assign([line], [a, b, c], stock, {}, False).unavailable  # nobody has room


def test_room_is_the_lesser_of_the_days_and_the_slots() -> None:
    v = {**vendor("a", 4, ["p"], limit=10), "capacity": {"dailyOrderLimit": 10, "slots": {"MORNING": 3, "EVENING": 0}}}
    assert limits(v, "MORNING") == (10, 3) and limits(vendor("b", 4, ["p"]), "EVENING") == (10, 10)
    assert rules.room(v, {}, "MORNING") == 3 and rules.room(v, {"n": 9, "MORNING": 1}, "MORNING") == 1
    assert rules.room(v, {"n": 2, "MORNING": 3}, "MORNING") == 0 and rules.room(v, {}, "EVENING") == 0
    assert rules.room(v, {"n": 12, "MORNING": 0}, "MORNING") == 0  # never negative


def test_assign_partial_and_out_of_stock() -> None:
    lines = [Line("p", "v", 5, 100, "Milk", "1L"), Line("q", "v", 1, 50, "Bread", "loaf")]
    v = vendor("a", 4, ["p", "q"])
    strict = assign(lines, [v], {("p", "v", "a"): 3}, {"a": 1}, False)
    assert [x["productId"] for x in strict.lines] == []
    assert [(u["productId"], u["reason"]) for u in strict.unavailable] == [("p", "partial"), ("q", "out_of_stock")]
    partial = assign(lines, [v], {("p", "v", "a"): 3}, {"a": 1}, True)
    assert [(x["productId"], x["quantity"], x["lineTotal"]) for x in partial.lines] == [("p", 3, 300)]


def test_candidates_fit_one_batch_get() -> None:
    many = [vendor(f"v{i:03d}", i / 100, ["p"]) for i in range(200)]
    chosen = candidate_vendors(many, {"p"}, lines=25)
    assert len(chosen) * (25 + 1) <= 100 and chosen[0]["vendorId"] == "v199"
    assert candidate_vendors([{**many[0], "active": False}], {"p"}, 1) == []
    assert candidate_vendors(many, {"other"}, 1) == []


def test_a_migrated_order_publishes_nothing_and_a_refund_publishes_order_refunded() -> None:
    from chalicelib.orders.jobs import order_events

    legacy = {**ORDER, "status": "REFUNDED", "userId": "u", "refund": {"status": "DONE", "amount": 6000}}
    moved = {**legacy, "status": "DELIVERED", "migratedAt": "2030-01-01T00:00:00+00:00"}
    moved["refund"] = {"status": "DONE", "amount": 6000, "owed": 0, "currency": "INR"}
    assert order_events("MODIFY", legacy, moved) == []  # no second OrderDelivered, no refund replayed
    paid = {**ORDER, "userId": "u"}
    refunded = {**paid, "refund": rules.refund_after(paid, 1000)}
    ((kind, data),) = order_events("MODIFY", paid, refunded)
    assert kind == "OrderRefunded" and data["refundedNow"] == 1000 and data["refund"]["status"] == "PARTIAL"
