"""A vendor's statement windows and payout days (chalicelib/payments/statements.py): pure."""

from __future__ import annotations

from datetime import date

import pytest

from chalicelib.core.errors import Unprocessable
from chalicelib.payments.records import LedgerEntry
from chalicelib.payments.statements import payout_days, window
from tests.fakes import ledger_entry

TODAY = date(2030, 1, 31)


def test_the_window_defaults_to_the_last_30_days_and_refuses_what_it_cannot_serve() -> None:
    assert window(None, None, TODAY) == ("2030-01-02", "2030-01-31")
    assert window("2030-01-01", "2030-01-01", TODAY) == ("2030-01-01", "2030-01-01")
    for start, end in (("2030-01-02", "2030-01-01"), ("2030-01-01", "2030-04-03"), (None, "0001-01-05")):
        with pytest.raises(Unprocessable):  # after to, over 92 days, before the calendar (was a 500)
            window(start, end, TODAY)


def test_payout_days_net_settlements_against_reversals_per_day_and_currency() -> None:
    def e(kind: str, amount: int, day: str = "2030-01-01", currency: str = "INR") -> LedgerEntry:
        return ledger_entry(kind, amount, day=day, currency=currency)

    got = payout_days(
        [e("SETTLEMENT", 5700), e("SETTLEMENT_REVERSAL", 950), e("SETTLEMENT", 40, currency="USD"), e("FEE", 300)]
    )
    assert got == [
        {"day": "2030-01-01", "currency": "INR", "settled": 5700, "reversed": 950, "entries": 2, "net": 4750},
        {"day": "2030-01-01", "currency": "USD", "settled": 40, "reversed": 0, "entries": 1, "net": 40},
    ]
