"""The slot policy: which (date, slot) an order may ask for, in the shop's time."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from chalicelib.deliveries.slots import SlotPolicy

POLICY = SlotPolicy.parse("MORNING=05:00,EVENING=14:00", 14, 330)  # India: UTC+05:30


def at(utc: str) -> datetime:
    return datetime.fromisoformat(utc).replace(tzinfo=UTC)


def test_today_is_open_until_each_slots_cut_off_in_the_shops_time() -> None:
    early = at("2030-03-01T23:00")  # 04:30 on 2 March in India
    today = date(2030, 3, 2)
    assert POLICY.problem(today, "MORNING", early) is None
    assert POLICY.problem(today, "MORNING", at("2030-03-01T23:30")) == (
        "deliverySlot",
        "today's MORNING slot closed at 05:00",
    )
    assert POLICY.problem(today, "EVENING", at("2030-03-02T08:29")) is None  # 13:59 there
    assert POLICY.problem(today, "EVENING", at("2030-03-02T08:30"))[0] == "deliverySlot"  # type: ignore[index]


def test_past_dates_dates_beyond_the_horizon_and_unknown_slots_are_refused() -> None:
    now = at("2030-03-02T06:00")
    assert POLICY.problem(date(2030, 3, 1), "EVENING", now) == ("deliveryDate", "in the past")
    assert POLICY.problem(date(2030, 3, 16), "MORNING", now) is None  # 14 days ahead
    assert POLICY.problem(date(2030, 3, 17), "MORNING", now) == ("deliveryDate", "at most 14 days ahead")
    assert POLICY.problem(date(2030, 3, 3), "NIGHT", now) == ("deliverySlot", "one of MORNING, EVENING")


def test_the_upcoming_slots_start_with_the_first_still_open() -> None:
    afternoon = at("2030-03-02T10:00")  # 15:30 in India: both of today's slots closed
    assert POLICY.upcoming(afternoon, 3) == [
        (date(2030, 3, 3), "MORNING"),
        (date(2030, 3, 3), "EVENING"),
        (date(2030, 3, 4), "MORNING"),
    ]
    assert POLICY.upcoming(at("2030-03-02T06:00"), 1) == [(date(2030, 3, 2), "EVENING")]  # 11:30 there


@pytest.mark.parametrize("cutoffs", ["MORNING=05:00", "MORNING=05:00,NIGHT=22:00", "MORNING=5am,EVENING=14:00"])
def test_a_policy_missing_a_slot_or_with_a_bad_time_is_refused(cutoffs: str) -> None:
    with pytest.raises(ValueError):
        SlotPolicy.parse(cutoffs, 14, 330)
