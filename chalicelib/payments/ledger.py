"""The ledger: immutable money movements, one row per movement, written in the same transaction
as the payment change that causes it (so money moved is never left unrecorded, nor the reverse).

transactions table (no TTL, point-in-time recovery): ``ORDER#<orderId>`` / ``<KIND>#<id>``
entries, written once (``attribute_not_exists``), GSIs ``byMerchant`` (a vendor's entries) and
``byDay``. Kinds: CHARGE, REFUND, FEE (the platform's), SETTLEMENT (a vendor's share) and their
_REVERSALs; how they must add up is ``rules.balanced``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from chalicelib.core import aws
from chalicelib.core.config import get_settings
from chalicelib.core.dynamo import Read, from_item, ping_read, put_new, query_page, strip, values
from chalicelib.core.errors import ValidationError
from chalicelib.core.tx import Tagged
from chalicelib.payments import rules
from chalicelib.payments.records import LedgerEntry, OrderPayments, Payment

if TYPE_CHECKING:
    from chalicelib.payments.book import Built, PaymentBook


def _pk(order_id: str) -> str:
    return f"ORDER#{order_id}"


class LedgerRepo:
    @property
    def table(self) -> str:
        return get_settings().transactions_table

    def ping(self) -> Read[None]:
        return ping_read(self.table)

    def entry_request(
        self,
        order_id: str,
        kind: str,
        entry_id: str,
        amount: int,
        currency: str,
        details: dict[str, Any],
        merchant_id: str | None = None,
    ) -> Tagged:
        """One immutable ledger entry; written once (a replay of the same step cannot add another).
        ``details``: what caused it (paymentId, intentId, stripeRefundId, refundId, disputeId)."""
        now = datetime.now(UTC)
        row = {
            "orderId": order_id,
            "kind": kind,
            "entryId": entry_id,
            "amount": amount,
            "currency": currency,
            "merchantId": merchant_id,
            "day": now.date().isoformat(),
            "createdKey": f"{now.isoformat()}#{order_id}#{kind}#{entry_id}",
            "createdAt": now.isoformat(),
            **details,
        }
        entry = LedgerEntry.of(row)
        unknown = {k for k, v in row.items() if v is not None} - set(entry.row())
        if unknown:
            raise ValueError(f"a ledger entry has no {sorted(unknown)}")
        item = {"pk": _pk(order_id), "sk": f"{kind}#{entry_id}", **entry.row()}
        return Tagged(f"ledger:{kind}#{entry_id}", put_new(self.table, item))

    def entries(self, order_id: str) -> list[LedgerEntry]:
        """An order's entries, every page."""
        return self._all(
            {
                "TableName": self.table,
                "KeyConditionExpression": "pk = :p",
                "ExpressionAttributeValues": values(p=_pk(order_id)),
                "ConsistentRead": True,
            }
        )

    def day_entries(self, day: str) -> list[LedgerEntry]:
        """Every entry written on one UTC day (``YYYY-MM-DD``): the byDay index, every page."""
        return self._all(
            {
                "TableName": self.table,
                "IndexName": "byDay",
                "KeyConditionExpression": "#d = :d",
                "ExpressionAttributeNames": {"#d": "day"},
                "ExpressionAttributeValues": values(d=day),
            }
        )

    def merchant_page(
        self, merchant_id: str, first: str, last: str, limit: int, cursor: dict[str, Any] | None
    ) -> tuple[list[LedgerEntry], dict[str, Any] | None]:
        """One page of a vendor's entries written from day ``first`` to day ``last`` (inclusive),
        oldest first (the byMerchant index; its sort key starts with the ISO time)."""
        if cursor and cursor.get("merchantId") != {"S": merchant_id}:
            raise ValidationError("cursor is invalid", fields={"cursor": "not a cursor of this listing"})
        between = ("createdKey", first, f"{last}~")  # '~' sorts after every time of that day
        items, nxt = query_page(
            aws.client("dynamodb"),
            self.table,
            ("merchantId", merchant_id),
            limit,
            cursor,
            index="byMerchant",
            sort_between=between,
        )
        return [LedgerEntry.of(i) for i in items], nxt

    def merchant_entries(self, merchant_id: str, first: str, last: str) -> list[LedgerEntry]:
        out: list[LedgerEntry] = []
        cursor = None
        while True:
            items, cursor = self.merchant_page(merchant_id, first, last, 500, cursor)
            out += items
            if not cursor:
                return out

    def _all(self, args: dict[str, Any]) -> list[LedgerEntry]:
        out: list[LedgerEntry] = []
        while True:
            resp = aws.client("dynamodb").query(**args)
            out += [LedgerEntry.of(e) for e in (strip(from_item(x)) for x in resp.get("Items", [])) if e]
            if "LastEvaluatedKey" not in resp:
                return out
            args = {**args, "ExclusiveStartKey": resp["LastEvaluatedKey"]}


@dataclass(frozen=True)
class Reversal:
    reversed: dict[str, int]  # the payment's tallies after it
    items: list[Tagged]
    shares: dict[str, int]  # who gave back what (PLATFORM: the fee, and any shortfall)
    shortfall: int  # what nobody still held: borne by the platform


@dataclass
class Ledger:
    """Which entries a capture, a refund or a reversal writes (the rules in ``rules.py``)."""

    repo: LedgerRepo

    def settlement_items(self, p: Payment, captured: int) -> tuple[int, dict[str, int], list[Tagged]]:
        """The platform fee and each vendor's share of ``captured``, as entries written once."""
        fee, shares = rules.settlement(captured, p.lines, get_settings().platform_fee_bps)
        order_id, payment_id, currency = p.order_id, p.payment_id, p.currency
        items = [self.repo.entry_request(order_id, "FEE", payment_id, fee, currency, {"paymentId": payment_id})]
        for vendor, amount in sorted(shares.items()):
            items.append(
                self.repo.entry_request(
                    order_id,
                    "SETTLEMENT",
                    f"{payment_id}#{vendor}",
                    amount,
                    currency,
                    {"paymentId": payment_id},
                    merchant_id=vendor,
                )
            )
        return fee, shares, items

    def reversal(self, p: Payment, ref: str, amount: int) -> Reversal:
        """Take ``amount`` back from what was settled (each vendor and the fee in proportion to
        what they still hold; never more than they hold), so the order's ledger stays balanced.
        What nobody still holds (a refunded charge then disputed) is the platform's: its fee goes
        below zero by that ``shortfall``. The payment's new ``reversed`` tallies, the entries, and
        who gave back what (``shares``, kept by the refund or dispute to undo exactly that)."""
        settled = {k: int(v) for k, v in (p.settled or {}).items()}
        done = {k: int(v) for k, v in (p.reversed or {}).items()}
        if not settled or amount <= 0:
            return Reversal(done, [], {}, 0)
        held = {k: v - done.get(k, 0) for k, v in settled.items()}
        fee = p.fee - done.get("PLATFORM", 0)
        taken = min(amount, max(0, sum(held.values()) + fee))
        shares = {who: n for who, n in rules.refund_reversal(taken, held, fee).items() if n}
        if amount > taken:
            shares["PLATFORM"] = shares.get("PLATFORM", 0) + amount - taken
        for who, share in shares.items():
            done[who] = done.get(who, 0) + share
        return Reversal(done, self._entries(p, ref, shares, back=False), shares, amount - taken)

    def settle_back(self, p: Payment, ref: str, shares: dict[str, int]) -> tuple[dict[str, int], list[Tagged]]:
        """Money that came back (a refund that failed, a dispute won): settled again exactly as
        ``shares`` had been taken. The payment's new ``reversed`` tallies and the entries."""
        done = {k: int(v) for k, v in (p.reversed or {}).items()}
        for who, share in shares.items():
            done[who] = done.get(who, 0) - int(share)
        return done, self._entries(p, ref, {k: int(v) for k, v in shares.items()}, back=True)

    def _entries(self, p: Payment, ref: str, shares: dict[str, int], back: bool) -> list[Tagged]:
        items = []
        for who, share in sorted(shares.items()):
            if share == 0:
                continue
            platform = who == "PLATFORM"
            kind = ("FEE" if platform else "SETTLEMENT") + ("" if back else "_REVERSAL")
            items.append(
                self.repo.entry_request(
                    p.order_id,
                    kind,
                    f"{ref}#{who}",
                    share,
                    p.currency,
                    {"paymentId": p.payment_id, "refundId": ref},
                    merchant_id=None if platform else who,
                )
            )
        return items

    def settle_unsplit(self, book: PaymentBook, order_id: str, payment_id: str) -> None:
        """A SUCCEEDED payment with no fee or vendor shares (captured before captures carried
        their settlement): split it now, once."""

        def build(st: OrderPayments) -> Built:
            cur = st.payment(payment_id)
            if cur is None or cur.status != rules.SUCCEEDED or cur.settled:
                return None
            fee, shares, items = self.settlement_items(cur, cur.captured)
            sets = {"settled": shares, "fee": fee}
            items.insert(0, book.payments.payment_request(order_id, payment_id, rules.SUCCEEDED, sets))
            return items, {"paymentId": payment_id, "fee": fee, "vendors": shares}, None

        book.change(order_id, "settlement", build)
