"""The payments domain's records, typed: a payment attempt, a refund, a ledger entry, and an
order's payments as one query reads them. The repositories turn stored items (camelCase
attributes) into these (``of``) and these into items (``row``); the services work with these.

Records are frozen: a change is written as a conditional update of named attributes (the
repositories' requests), and the next read returns the new record.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any, Self


def camel(name: str) -> str:
    first, *rest = name.split("_")
    return first + "".join(word.title() for word in rest)


_ATTRIBUTES: dict[type, dict[str, str]] = {}


def _attributes(cls: type) -> dict[str, str]:
    """A record class's stored attribute names -> its field names."""
    if cls not in _ATTRIBUTES:
        _ATTRIBUTES[cls] = {camel(f.name): f.name for f in fields(cls)}
    return _ATTRIBUTES[cls]


class Record:
    @classmethod
    def of(cls, row: Mapping[str, Any]) -> Self:
        """The record of a stored item; attributes it does not model (index keys) are left out."""
        names = _attributes(cls)
        return cls(**{names[k]: v for k, v in row.items() if k in names})

    def row(self) -> dict[str, Any]:
        """The stored attributes (unset ones left out)."""
        return {camel(f.name): v for f in fields(self) if (v := getattr(self, f.name)) is not None}  # type: ignore[arg-type]


@dataclass(frozen=True)
class Payment(Record):
    """One attempt to pay an order (``PAY#<paymentId>``)."""

    payment_id: str
    order_id: str
    user_id: str
    amount: int
    currency: str
    method: str
    status: str
    created_at: str
    updated_at: str
    customer_id: str | None = None  # set: an off-session charge of the customer's saved method
    captured: int = 0
    refundable: int = 0
    refunded: int = 0
    body_hash: str | None = None
    client: dict[str, Any] = field(default_factory=dict)  # ip, userAgent, country, session (fraud rules)
    lines: list[dict[str, Any]] = field(default_factory=list)  # vendorId, unitPrice, quantity (settlement)
    history: list[dict[str, Any]] = field(default_factory=list)  # status, at, reason
    correlation_id: str | None = None
    intent_id: str | None = None
    client_secret: str | None = None
    failure: str | None = None
    fraud: dict[str, Any] | None = None  # the screen's score, decision and reasons (staff only)
    email: str | None = None
    run: str | None = None  # the checkout run that owns it (book.owns)
    start_failed: bool | None = None
    deferred: str | None = None  # why its charge was left to the failed-transactions queue
    wait_token: str | None = None
    compensating: str | None = None  # why it is being given back (claimed before Stripe refunds)
    settled: dict[str, int] | None = None  # each vendor's share of the capture
    fee: int = 0  # the platform's
    reversed: dict[str, int] | None = None  # what refunds and disputes took back, by vendor / PLATFORM
    disputes: dict[str, dict[str, Any]] | None = None

    @property
    def vendor_ids(self) -> list[str]:
        return sorted({str(x["vendorId"]) for x in self.lines})


@dataclass(frozen=True)
class Refund(Record):
    """One refund of a payment (``REFUND#<refundId>``): PENDING until Stripe answers."""

    refund_id: str
    order_id: str
    payment_id: str
    amount: int
    currency: str
    status: str  # PENDING | SUCCEEDED | FAILED
    created_at: str
    reason: str | None = None
    body_hash: str | None = None
    by: str | None = None
    stripe_refund_id: str | None = None
    failure: str | None = None
    reversed: dict[str, int] | None = None  # who gave back what (undone exactly if it fails later)


@dataclass(frozen=True)
class LedgerEntry(Record):
    """One immutable money movement (``<KIND>#<entryId>`` in the order's ledger partition)."""

    order_id: str
    kind: str
    entry_id: str
    amount: int
    currency: str
    day: str
    created_at: str
    created_key: str | None = None
    merchant_id: str | None = None  # a vendor's entries (SETTLEMENT and its reversal)
    payment_id: str | None = None
    intent_id: str | None = None
    stripe_refund_id: str | None = None
    refund_id: str | None = None  # what a reversal undoes (a refund, a dispute)
    dispute_id: str | None = None


@dataclass(frozen=True)
class Head:
    """An order's payment lock and the head of its payment audit chain (``CURRENT``)."""

    payment_id: str | None = None
    open: bool = False
    chain_seq: int = 0
    chain_hash: str | None = None

    @classmethod
    def of(cls, row: Mapping[str, Any] | None) -> Head:
        row = row or {}
        return cls(row.get("paymentId"), bool(row.get("open")), int(row.get("chainSeq", 0)), row.get("chainHash"))


@dataclass(frozen=True)
class OrderPayments:
    """Everything about an order's payments, read consistently in one query."""

    head: Head
    payments: list[Payment]
    refunds: list[Refund]

    def payment(self, payment_id: str) -> Payment | None:
        return next((p for p in self.payments if p.payment_id == payment_id), None)

    def refund(self, refund_id: str) -> Refund | None:
        return next((r for r in self.refunds if r.refund_id == refund_id), None)

    def refunded(self, exclude: str | None = None) -> int:
        """What the order's SUCCEEDED refunds gave back (``exclude``: one not to count)."""
        return sum(r.amount for r in self.refunds if r.status == "SUCCEEDED" and r.refund_id != exclude)
