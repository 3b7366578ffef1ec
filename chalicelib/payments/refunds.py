"""Refunds of a paid order: a manager's (``POST /orders/{id}/refunds``) and the automatic one of a
cancelled or rejected order. The amount is reserved and the refund recorded PENDING before
Stripe is called; Stripe's answer completes it (SUCCEEDED, with its ledger entries and the
settlement's reversal) or fails it (the amount is refundable again)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from chalicelib.audit.repo import Actor
from chalicelib.core import metrics
from chalicelib.core.errors import Conflict, Unprocessable
from chalicelib.payments import rules
from chalicelib.payments.book import (
    SYSTEM,
    Built,
    PaymentBook,
    body_hash,
    epoch,
    find,
    present,
    refund_id_for,
)
from chalicelib.payments.gateway import Transient
from chalicelib.payments.ledger import Ledger
from chalicelib.payments.ports import Orders, RetryQueue, Stripe
from chalicelib.payments.records import OrderPayments, Refund
from chalicelib.payments.repo import now_iso


def refund_view(r: Refund) -> dict[str, Any]:
    return present(
        {"refundId": r.refund_id, "amount": r.amount, "status": r.status, "reason": r.reason, "createdAt": r.created_at}
    )


@dataclass
class Refunds:
    book: PaymentBook
    ledger: Ledger
    stripe: Stripe
    orders: Orders
    retries: RetryQueue

    def refund(self, who: Actor, order_id: str, amount: int | None, reason: str, key: str) -> dict[str, Any]:
        """Reserve the amount (never more than is left, under concurrency too) and record the
        refund PENDING, then refund it at Stripe with a key from our refund id, then record the
        answer. A replay with the same key answers the same refund."""
        refund_id = refund_id_for(order_id, key)
        digest = body_hash({"amount": amount, "reason": reason})
        state = self.book.payments.partition(order_id)
        existing = state.refund(refund_id)
        if existing is not None:
            if existing.body_hash != digest:
                raise Unprocessable(
                    "this Idempotency-Key was used with another body",
                    code="idempotency_key_reused",
                    fields={"Idempotency-Key": "reused with another body"},
                )
            if existing.status == "PENDING":  # a replay finishes what the first try left
                self.complete(order_id, refund_id)
            return self._view(order_id, refund_id)
        paid = [p for p in state.payments if p.status == rules.SUCCEEDED]
        if not paid:
            raise Conflict("this order has no captured payment", code="not_refundable", fields={"orderId": "not paid"})
        payment_id = paid[-1].payment_id
        if not paid[-1].settled:  # captured before captures carried their settlement
            self.ledger.settle_unsplit(self.book, order_id, payment_id)
            state = self.book.payments.partition(order_id)

        def build(st: OrderPayments) -> Built:
            if st.refund(refund_id) is not None:  # a concurrent copy of this request made it
                return None
            cur = find(st, payment_id)
            left = cur.refundable
            want = left if amount is None else amount
            if want <= 0 or want > left:
                raise Conflict(
                    f"{want} is more than the {left} left to refund" if want > 0 else "nothing is left to refund",
                    code="refund_exceeds_captured",
                    fields={"amount": f"at most {left}"},
                )
            refund = Refund(
                refund_id=refund_id,
                order_id=order_id,
                payment_id=payment_id,
                amount=want,
                currency=cur.currency,
                reason=reason,
                status="PENDING",
                body_hash=digest,
                by=who.user_id,
                created_at=now_iso(),
            )
            items = [
                self.book.payments.payment_request(
                    order_id, payment_id, rules.SUCCEEDED, {}, add={"refundable": -want, "refunded": want}
                ),
                self.book.payments.new_refund_request(refund),
            ]
            return items, {"refundId": refund_id, "amount": want, "reason": reason}, refund

        self.book.change(order_id, "refund_requested", build, actor=who, state=state)
        self.complete(order_id, refund_id)
        return self._view(order_id, refund_id)

    def _view(self, order_id: str, refund_id: str) -> dict[str, Any]:
        r = self.book.payments.partition(order_id).refund(refund_id)
        assert r is not None  # recorded before Stripe was called
        return refund_view(r)

    def complete(self, order_id: str, refund_id: str, queued: bool = False) -> str:
        """Refund at Stripe (key ``re-<refundId>``), then record it. A transient failure is retried
        through the failed-transactions queue: from the API it is queued; from that queue's
        consumer (``queued``) it raises, so SQS backs off and dead-letters after 3 receives."""
        state = self.book.payments.partition(order_id)
        r = state.refund(refund_id)
        if r is None or r.status != "PENDING":
            return "done"
        p = find(state, r.payment_id)
        try:
            stripe_id = self.stripe.refund(
                str(p.intent_id),
                r.amount,
                f"re-{refund_id}",
                r.reason,
                {"orderId": order_id, "refundId": refund_id},
                epoch(r),  # a redrive days later looks the refund up first
            )
        except Transient:
            if queued:
                raise
            self.retries.send({"kind": "refund", "orderId": order_id, "paymentId": p.payment_id, "refundId": refund_id})
            return "pending"
        except Exception as exc:
            self.failed(order_id, r, str(exc))
            return "failed"
        return self.succeeded(order_id, refund_id, stripe_id)

    def succeeded(self, order_id: str, refund_id: str, stripe_id: str) -> str:
        """Stripe made the refund: record it with its ledger entries and the order's refund state."""

        def build(st: OrderPayments) -> Built:
            rr = st.refund(refund_id)
            if rr is None or rr.status != "PENDING":
                return None
            cur = find(st, rr.payment_id)
            amount = rr.amount
            order = self.orders.get(order_id)  # afresh each try: a concurrent refund moves it too
            done = amount + st.refunded(exclude=refund_id)
            rev = self.ledger.reversal(cur, refund_id, amount)
            done_sets = {"status": "SUCCEEDED", "stripeRefundId": stripe_id, "reversed": rev.shares}
            items = [
                self.book.payments.refund_request(order_id, refund_id, "PENDING", done_sets),
                self.ledger.repo.entry_request(
                    order_id,
                    "REFUND",
                    refund_id,
                    amount,
                    cur.currency,
                    {"paymentId": cur.payment_id, "stripeRefundId": stripe_id},
                ),
                *rev.items,
                *self.orders.refunded_items(order, done, SYSTEM, rr.reason),
            ]
            if rev.items:
                items.append(
                    self.book.payments.payment_request(
                        order_id, cur.payment_id, rules.SUCCEEDED, {"reversed": rev.reversed}
                    )
                )
            return items, {"refundId": refund_id, "amount": amount, "stripeRefundId": stripe_id}, (cur, rr)

        done = self.book.change(order_id, "refund_succeeded", build, contended=("order",))
        if done is not None:
            cur, rr = done
            metrics.count("Refunds", Service="payments")
            self.book.bus.publish(
                "RefundSucceeded",
                {
                    "orderId": order_id,
                    "refundId": refund_id,
                    "amount": rr.amount,
                    "currency": rr.currency,
                    "email": cur.email,
                    "userId": cur.user_id,
                },
            )
        return "succeeded"

    def failed(self, order_id: str, r: Refund, why: str) -> None:
        """Stripe refused or failed the refund: its amount is refundable again, and it is alerted."""

        def build(st: OrderPayments) -> Built:
            rr = st.refund(r.refund_id)
            if rr is None or rr.status != "PENDING":  # a concurrent try recorded Stripe's answer
                return None
            items = [
                self.book.payments.refund_request(
                    order_id, r.refund_id, rr.status, {"status": "FAILED", "failure": why}
                ),
                self.book.payments.payment_request(
                    order_id, r.payment_id, None, {}, add={"refundable": r.amount, "refunded": -r.amount}
                ),
            ]
            return items, {"refundId": r.refund_id, "why": why}, None

        self.book.change(order_id, "refund_failed", build)
        self.book.bus.alert("RefundFailed", {"orderId": order_id, "refundId": r.refund_id, "why": why})
        self.owe_rest(order_id)

    def owe_rest(self, order_id: str) -> None:
        """An order cancelled or rejected after payment still owes what a failed refund did not
        give back: its automatic refund is queued again (the OrderCancelled event was spent)."""
        if (self.orders.get(order_id).get("refund") or {}).get("status") == "REQUIRED":
            self.retries.send({"kind": "owed", "orderId": order_id})

    def refund_cancelled(self, order_id: str, reason: str) -> str:
        """A paid order was cancelled or rejected: refund what is left, by itself, until it is
        done. Each try after a FAILED one gets a key of its own (a replay of the failed key would
        answer FAILED forever); a failure raises, so the message comes back (then the DLQ, alarmed)."""
        state = self.book.payments.partition(order_id)
        if not any(p.status == rules.SUCCEEDED and p.refundable > 0 for p in state.payments):
            return "nothing to refund"
        failed = sum(1 for r in state.refunds if r.status == "FAILED")  # a manager's too: its money is owed
        key = "order-cancelled" if failed == 0 else f"order-cancelled:{failed}"
        refund = self.refund(SYSTEM, order_id, None, reason, key)
        if refund["status"] == "FAILED":
            raise RuntimeError(f"the automatic refund of order {order_id} failed; it is tried again")
        return "refunded" if refund["status"] == "SUCCEEDED" else "refund pending"
