"""Which dates a subscription delivers on (pure)."""

from __future__ import annotations

from datetime import date, timedelta

from chalicelib.subscriptions import rules

MON = date(2030, 1, 7)  # a Monday


def sub(**fields: object) -> dict[str, object]:
    return {"status": "ACTIVE", "startDate": MON.isoformat(), "frequency": "DAILY", **fields}


def week(s: dict[str, object], start: date = MON) -> list[int]:
    """The days of the week (0 = Monday) an order is due, the week from ``start``."""
    return [(start + timedelta(days=i)).weekday() for i in range(7) if rules.delivers(s, start + timedelta(days=i))]


def test_a_week_of_daily_and_alternate_with_a_vacation_and_a_skip() -> None:
    vacation = [{"from": "2030-01-09", "to": "2030-01-10"}]  # Wednesday and Thursday
    assert week(sub(pauses=vacation, skips=["2030-01-12"])) == [0, 1, 4, 6]  # no Wed/Thu, no Saturday
    assert week(sub(frequency="ALTERNATE")) == [0, 2, 4, 6]
    assert week(
        sub(frequency="ALTERNATE", skips=["2030-01-09"], pauses=[{"from": "2030-01-13", "to": "2030-01-13"}])
    ) == [0, 4]
    assert week(sub(frequency="WEEKLY", weekdays=[1, 5])) == [1, 5]


def test_the_next_date_jumps_pauses_and_skips_and_ends() -> None:
    s = sub(pauses=[{"from": "2030-01-08", "to": "2030-01-10"}], skips=["2030-01-11"], endDate="2030-01-13")
    assert rules.next_date(s, MON) == date(2030, 1, 12)
    assert rules.next_date(s, date(2030, 1, 13)) is None  # past its end
    assert rules.first_date(s, MON) == MON
    assert rules.next_date({**s, "status": "PAUSED"}, MON) is None
    assert rules.next_date(sub(startDate="2030-02-01"), MON) == date(2030, 2, 1)  # not before it starts
    forever = sub(pauses=[{"from": "2030-01-08", "to": "2099-01-01"}])
    assert rules.next_date(forever, MON) is None  # nothing within the look-ahead


def test_a_dated_change_applies_from_its_date_on() -> None:
    s = sub(
        quantity=1,
        deliverySlot="MORNING",
        changes=[{"from": "2030-01-10", "quantity": 3}, {"from": "2030-01-12", "deliverySlot": "EVENING"}],
    )
    assert (rules.as_of(s, date(2030, 1, 9))["quantity"], rules.as_of(s, date(2030, 1, 9))["deliverySlot"]) == (
        1,
        "MORNING",
    )
    assert (rules.as_of(s, date(2030, 1, 10))["quantity"], rules.as_of(s, date(2030, 1, 10))["deliverySlot"]) == (
        3,
        "MORNING",
    )
    assert (rules.as_of(s, date(2030, 1, 13))["quantity"], rules.as_of(s, date(2030, 1, 13))["deliverySlot"]) == (
        3,
        "EVENING",
    )
