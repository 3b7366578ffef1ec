"""Pure order rules: the status machine, promo maths, vendor assignment."""

from datetime import UTC, datetime

import pytest

from chalicelib.orders import rules
from chalicelib.orders.rules import Line, assign, candidate_vendors, promo_discount

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


def test_status_machine() -> None:
    assert rules.can_move("PENDING_PAYMENT", "PAID")
    assert rules.can_move("PAID", "APPROVED") and rules.can_move("APPROVED", "CANCELLED")
    assert not rules.can_move("PENDING_PAYMENT", "APPROVED")
    assert not rules.can_move("DISPATCHED", "CANCELLED")
    assert not rules.can_move("CANCELLED", "PENDING_PAYMENT")
    terminal = [s for s, nxt in rules.TRANSITIONS.items() if not nxt]
    assert sorted(terminal) == ["EXPIRED", "REFUNDED"]
    for paid in ("PAID", "APPROVED", "DISPATCHED", "DELIVERED", "CANCELLED", "REJECTED"):
        assert rules.can_move(paid, "REFUNDED") and rules.can_move(paid, "PARTIALLY_REFUNDED")
    assert not rules.can_move("PENDING_PAYMENT", "REFUNDED") and not rules.can_move("EXPIRED", "REFUNDED")
    reachable = set().union(*rules.TRANSITIONS.values())
    assert reachable | {"PENDING_PAYMENT"} == set(rules.TRANSITIONS)


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


def test_assign_prefers_rating_then_load_and_respects_capacity() -> None:
    line = Line("p", "v", 2, 100, "Milk", "1L")
    a, b, c = vendor("a", 4.5, ["p"], limit=1), vendor("b", 4.5, ["p"]), vendor("c", 3.0, ["p"])
    stock = {("p", "v", "a"): 5, ("p", "v", "b"): 5, ("p", "v", "c"): 5}
    assert assign([line], [a, b, c], stock, {"a": 0, "b": 3}, False).lines[0]["vendorId"] == "a"
    assert assign([line], [a, b, c], stock, {"a": 1, "b": 3}, False).lines[0]["vendorId"] == "b"  # a is full
    assert assign([line], [a, b, c], stock, {"a": 0, "b": 0}, False).lines[0]["vendorId"] == "a"  # tie: id


def test_assign_partial_and_out_of_stock() -> None:
    lines = [Line("p", "v", 5, 100, "Milk", "1L"), Line("q", "v", 1, 50, "Bread", "loaf")]
    v = vendor("a", 4, ["p", "q"])
    strict = assign(lines, [v], {("p", "v", "a"): 3}, {}, False)
    assert [x["productId"] for x in strict.lines] == []
    assert [(u["productId"], u["reason"]) for u in strict.unavailable] == [("p", "partial"), ("q", "out_of_stock")]
    partial = assign(lines, [v], {("p", "v", "a"): 3}, {}, True)
    assert [(x["productId"], x["quantity"], x["lineTotal"]) for x in partial.lines] == [("p", 3, 300)]


def test_candidates_fit_one_batch_get() -> None:
    many = [vendor(f"v{i:03d}", i / 100, ["p"]) for i in range(200)]
    chosen = candidate_vendors(many, {"p"}, lines=25)
    assert len(chosen) * (25 + 1) <= 100 and chosen[0]["vendorId"] == "v199"
    assert candidate_vendors([{**many[0], "active": False}], {"p"}, 1) == []
    assert candidate_vendors(many, {"other"}, 1) == []
