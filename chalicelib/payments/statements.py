"""A vendor's own money: its ledger entries (settlements of its share, and their reversals by
refunds and disputes) and a per-day payout summary, both from the ledger's byMerchant index (one
query per page; never a scan). The daily report reads the same entries."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from chalicelib.core.context import Caller
from chalicelib.core.errors import NotFound, Unprocessable
from chalicelib.payments.ledger import LedgerRepo
from chalicelib.payments.records import LedgerEntry

MAX_DAYS = 92  # a payout summary covers at most a quarter
DEFAULT_DAYS = 30
SIGN = {"SETTLEMENT": 1, "SETTLEMENT_REVERSAL": -1}


def window(start: str | None, end: str | None, today: date) -> tuple[str, str]:
    """``from``/``to`` (days, inclusive; default the last 30 days), checked: ``from`` not after
    ``to``, at most ``MAX_DAYS`` days."""
    last = date.fromisoformat(end) if end else today
    try:
        first = date.fromisoformat(start) if start else last - timedelta(days=DEFAULT_DAYS - 1)
    except OverflowError:  # to=0001-01-05 and no from: no 30 days before it
        raise Unprocessable("to is too early", fields={"to": "give from as well"}) from None
    if first > last:
        raise Unprocessable("from must not be after to", fields={"from": "after to"})
    if (last - first).days >= MAX_DAYS:
        raise Unprocessable(f"at most {MAX_DAYS} days at a time", fields={"to": f"within {MAX_DAYS} days of from"})
    return first.isoformat(), last.isoformat()


def entry_view(e: LedgerEntry) -> dict[str, Any]:
    cause = e.dispute_id or e.refund_id
    return {
        "entryId": e.entry_id,
        "orderId": e.order_id,
        "kind": e.kind,
        "amount": e.amount * SIGN.get(e.kind, 1),
        "currency": e.currency,
        "day": e.day,
        "createdAt": e.created_at,
        **({"cause": cause} if cause else {}),
    }


def payout_days(entries: list[LedgerEntry]) -> list[dict[str, Any]]:
    """Per day and currency: settled, reversed (by refunds and disputes) and the net owed."""
    rows: dict[tuple[str, str], dict[str, Any]] = defaultdict(lambda: {"settled": 0, "reversed": 0, "entries": 0})
    for e in entries:
        if e.kind not in SIGN:
            continue
        row = rows[(e.day, e.currency)]
        row["settled" if e.kind == "SETTLEMENT" else "reversed"] += e.amount
        row["entries"] += 1
    return [
        {"day": day, "currency": cur, **r, "net": r["settled"] - r["reversed"]}
        for (day, cur), r in sorted(rows.items())
    ]


@dataclass
class Statements:
    ledger: LedgerRepo

    @staticmethod
    def _allowed(who: Caller, vendor_id: str) -> None:
        if who.role == "admin" or (who.role == "vendor" and who.vendor_id == vendor_id):
            return
        raise NotFound("vendor not found")  # another vendor's money is not even there

    def entries(
        self, who: Caller, vendor_id: str, start: str | None, end: str | None, limit: int, cursor: dict[str, Any] | None
    ) -> dict[str, Any]:
        self._allowed(who, vendor_id)
        first, last = window(start, end, datetime.now(UTC).date())
        items, nxt = self.ledger.merchant_page(vendor_id, first, last, limit, cursor)
        return {"vendorId": vendor_id, "from": first, "to": last, "items": [entry_view(e) for e in items], "next": nxt}

    def payouts(self, who: Caller, vendor_id: str, start: str | None, end: str | None) -> dict[str, Any]:
        self._allowed(who, vendor_id)
        first, last = window(start, end, datetime.now(UTC).date())
        days = payout_days(self.ledger.merchant_entries(vendor_id, first, last))
        return {"vendorId": vendor_id, "from": first, "to": last, "days": days}
