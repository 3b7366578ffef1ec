"""The payment book: every change of an order's payments, chained.

Every change is one transaction that also advances the order's payment audit chain (rows in
``chalicelib/audit/chain.py``); the chain head's condition serialises concurrent changes of one
order, and a change that lost the race is re-read and rebuilt (``core/uow.py``). The capability
modules (checkout, steps, refunds, compensation, events) all write through ``PaymentBook.change``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from chalicelib.audit import chain as audit_chain
from chalicelib.audit.repo import Actor
from chalicelib.core import tx, uow
from chalicelib.core.errors import Conflict
from chalicelib.core.tx import Tagged
from chalicelib.payments.ports import Bus, Clock
from chalicelib.payments.records import OrderPayments, Payment, Refund
from chalicelib.payments.repo import PaymentsRepo, now_iso

SYSTEM = Actor("system", "system", "-", "checkout")
PENDING_PAYMENT, PAID = "PENDING_PAYMENT", "PAID"

# What ``build(state)`` returns: (items, the chain row's details, the caller's result), or None.
Built = tuple[list[Tagged], dict[str, Any], Any] | None


class Refused(Exception):
    """A business reason to stop the checkout (caught by the workflow, never retried)."""


def payment_id_for(order_id: str, user_id: str, key: str) -> str:
    return hashlib.sha256(f"pay:{order_id}:{user_id}:{key}".encode()).hexdigest()[:32]


def refund_id_for(order_id: str, key: str) -> str:
    return hashlib.sha256(f"refund:{order_id}:{key}".encode()).hexdigest()[:32]


def body_hash(body: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def epoch(record: Payment | Refund) -> int:
    """When a payment or refund was created (epoch seconds): when its Stripe keys were first used."""
    return int(datetime.fromisoformat(record.created_at).timestamp())


def error_text(error: Any) -> str:
    """A workflow's Catch output (``Error``, ``Cause``) as one line."""
    if isinstance(error, dict):
        cause = error.get("Cause")
        with contextlib.suppress(ValueError, AttributeError):
            cause = json.loads(cause).get("errorMessage", cause) if cause else cause
        return f"{error.get('Error')}: {cause}" if cause else str(error.get("Error"))
    return str(error or "unknown")


def present(view: dict[str, Any]) -> dict[str, Any]:
    """An answer without the fields that have no value (the contract has them optional, not null)."""
    return {k: v for k, v in view.items() if v is not None}


OPEN_RUN = "open"  # a payment handed over (after a wait or a retried charge): the next run to write takes it


def owns(p: Payment, run: str | None) -> bool:
    """May checkout run ``run`` act on payment ``p``? The first run to write claims it (``run``
    on the payment); another run (AWS may start an Express execution twice under one name) only
    once it is handed over. ``run=None``: not a checkout run (a queue consumer, the sweeper, a
    webhook), which acts on the payment's state alone."""
    return run is None or p.run in (None, OPEN_RUN, run)


def claim(run: str | None) -> dict[str, Any]:
    return {"run": run} if run else {}


def find(state: OrderPayments, payment_id: str) -> Payment:
    p = state.payment(payment_id)
    if p is None:
        raise Refused(f"payment {payment_id} not found")
    return p


@dataclass
class PaymentBook:
    payments: PaymentsRepo
    chain: audit_chain.Chain
    bus: Bus
    clock: Clock = time.time  # now, in epoch seconds: the one clock of the payment services

    def change(
        self,
        order_id: str,
        action: str,
        build: Callable[[OrderPayments], Built],
        actor: Actor = SYSTEM,
        lock: dict[str, Any] | None = None,
        state: OrderPayments | None = None,
        contended: tuple[str, ...] = (),
        release: str | None = None,
    ) -> Any:
        """Read the order's payments (or take ``state``, just read by the caller, for the first
        try), let ``build(state)`` return (items, details, result) or None (nothing to do), commit
        them with the next chain row; retry on a fresh read when another change of the same order
        got there first, or when an item tagged in ``contended`` (another domain's row that
        ``build`` reads afresh, as the order) changed meanwhile. ``release``: a payment being
        settled; the order's lock opens only if it is that payment's (not a later attempt's, in
        flight while an old one is settled). Returns ``result`` (or None)."""
        given = [state] if state is not None else []  # the caller's read serves the first attempt only

        def attempt() -> Any:
            st = given.pop() if given else self.payments.partition(order_id)
            built = build(st)
            if built is None:
                return None
            items, details, result = built
            prev_seq, prev_hash = st.head.chain_seq, st.head.chain_hash or audit_chain.GENESIS
            row, digest = self.chain.row(order_id, prev_seq + 1, prev_hash, action, actor, details)
            sets = dict(lock or {})
            if release is not None and st.head.payment_id == release:
                sets["open"] = False
            head_item = self.payments.head_request(order_id, prev_seq, prev_seq + 1, digest, sets)
            try:
                tx.commit([head_item, row, *items], uow.attempt_token(f"payment:{order_id}:{prev_seq + 1}"))
            except tx.Cancelled as exc:
                if exc.conflict or exc.hit(head_item) or exc.failed & set(contended):
                    raise uow.Contended from None
                raise Conflict("the payment changed meanwhile; retry", code="payment_changed") from None
            return result

        return uow.retrying(attempt, message="too much contention on this order's payment; retry")

    def move(self, p: Payment, target: str, sets: dict[str, Any] | None = None, reason: str | None = None) -> Tagged:
        """A payment's status change, kept in its history (only from the status it was read in)."""
        entry = {"status": target, "at": now_iso(), **({"reason": reason} if reason else {})}
        return self.payments.payment_request(
            p.order_id,
            p.payment_id,
            p.status,
            {"status": target, "updatedAt": entry["at"], "history": [*p.history, entry], **(sets or {})},
        )

    def verify_chain(self, order_id: str) -> list[str]:
        """Problems in an order's payment audit chain; empty when intact. The head is read first:
        rows a later change appended meanwhile are beyond it and not judged."""
        head = self.payments.partition(order_id).head
        rows = self.chain.rows(order_id)
        return audit_chain.verify_to_head(rows, head.chain_seq, head.chain_hash)
