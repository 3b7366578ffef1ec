"""What Stripe does to money after the sale, recorded as it happens: disputes (chargebacks),
refunds that fail after they were made, and refunds made in Stripe's dashboard. Each becomes
ledger entries in the same change as the payment's, so the ledger keeps balancing:

- a dispute's funds withdrawn: DISPUTE (the amount), DISPUTE_FEE (Stripe's fee, the platform's
  cost) and the vendors' settlement and platform fee reversed in proportion, as for a refund;
  funds reinstated (a won dispute): DISPUTE_REVERSAL and the settlement made again;
  a lost dispute is alerted (its money moved when it was withdrawn);
- a refund that failed after it succeeded: REFUND_FAILED (the money is ours again), the
  settlement made again, the amount refundable again;
- a dashboard refund: a REFUND of our own, with its reversal, as if made through the API.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from chalicelib.payments import rules
from chalicelib.payments.book import SYSTEM, Built, PaymentBook, find
from chalicelib.payments.ledger import Ledger
from chalicelib.payments.ports import Orders, RetryQueue, Stripe
from chalicelib.payments.records import OrderPayments, Payment, Refund
from chalicelib.payments.repo import now_iso

DASHBOARD = "stripe-dashboard"


def _dispute_fee(obj: dict[str, Any], currency: str) -> tuple[int, str]:
    """Stripe's dispute fee, from the dispute's balance transactions (in the account's settlement
    currency, which may not be the charge's; the disputed amount is the dispute's own ``amount``)."""
    txns = [t for t in obj.get("balance_transactions") or [] if isinstance(t, dict) and int(t.get("amount", 0)) < 0]
    fee = sum(int(t.get("fee", 0)) for t in txns)
    return fee, str((txns[0].get("currency") if txns else None) or currency).upper()


@dataclass
class AfterSale:
    book: PaymentBook
    ledger: Ledger
    stripe: Stripe
    orders: Orders
    retries: RetryQueue

    # -- disputes ---------------------------------------------------------------------------------
    def dispute(self, kind: str, obj: dict[str, Any], p: Payment) -> str:
        order_id, payment_id, dispute_id = p.order_id, p.payment_id, str(obj["id"])
        status = str(obj.get("status") or "")
        if kind == "charge.dispute.closed" and status == "lost":
            self._withdraw(order_id, payment_id, dispute_id, obj)  # if its withdrawal was never seen
            self.book.bus.alert(
                "DisputeLost",
                {"orderId": order_id, "paymentId": payment_id, "dispute": dispute_id, "amount": obj.get("amount")},
            )
            return "dispute lost"
        if kind == "charge.dispute.funds_withdrawn":
            return self._withdraw(order_id, payment_id, dispute_id, obj)
        if kind == "charge.dispute.funds_reinstated" or (kind == "charge.dispute.closed" and status == "won"):
            return self._reinstate(order_id, payment_id, dispute_id)
        self._note(order_id, payment_id, dispute_id, {"status": status or "needs_response"}, kind)
        return "dispute recorded"

    def _note(self, order_id: str, payment_id: str, dispute_id: str, sets: dict[str, Any], kind: str) -> None:
        def build(st: OrderPayments) -> Built:
            cur = find(st, payment_id)
            disputes = dict(cur.disputes or {})
            was = disputes.get(dispute_id) or {}
            if all(was.get(k) == v for k, v in sets.items()):
                return None
            disputes[dispute_id] = {**was, **sets, "at": now_iso()}
            item = self.book.payments.payment_request(order_id, payment_id, None, {"disputes": disputes})
            return [item], {"paymentId": payment_id, "dispute": dispute_id, "event": kind}, None

        self.book.change(order_id, "dispute_updated", build)

    def _withdraw(self, order_id: str, payment_id: str, dispute_id: str, obj: dict[str, Any]) -> str:
        amount = int(obj.get("amount", 0))

        def build(st: OrderPayments) -> Built:
            cur = find(st, payment_id)
            disputes = dict(cur.disputes or {})
            d = dict(disputes.get(dispute_id) or {})
            if d.get("withdrawn"):
                return None
            fee, fee_currency = _dispute_fee(obj, cur.currency)
            rev = self.ledger.reversal(cur, dispute_id, amount)  # what nobody held: the platform's loss
            entry = self.ledger.repo.entry_request
            details = {"paymentId": payment_id, "disputeId": dispute_id}
            items = [
                entry(order_id, "DISPUTE", dispute_id, amount, cur.currency, details),
                *([entry(order_id, "DISPUTE_FEE", dispute_id, fee, fee_currency, details)] if fee else []),
                *rev.items,
            ]
            taken = min(cur.refundable, amount)  # what was charged back cannot be refunded
            disputes[dispute_id] = {
                **d,
                "withdrawn": amount,
                "fee": fee,
                "shares": rev.shares,  # undone exactly if the dispute is won
                "refundableTaken": taken,
                "status": obj.get("status"),
                "at": now_iso(),
            }
            sets = {"disputes": disputes, "reversed": rev.reversed, "refundable": cur.refundable - taken}
            items.insert(0, self.book.payments.payment_request(order_id, payment_id, cur.status, sets))
            return items, {**details, "withdrawn": amount, "fee": fee}, None

        self.book.change(order_id, "dispute_funds_withdrawn", build)
        return "dispute funds withdrawn"

    def _reinstate(self, order_id: str, payment_id: str, dispute_id: str) -> str:
        def build(st: OrderPayments) -> Built:
            cur = find(st, payment_id)
            disputes = dict(cur.disputes or {})
            d = dict(disputes.get(dispute_id) or {})
            if not d.get("withdrawn") or d.get("reinstated"):
                return None
            amount = int(d["withdrawn"])
            reversed_, settlement = self.ledger.settle_back(cur, f"{dispute_id}-won", d.get("shares") or {})
            details = {"paymentId": payment_id, "disputeId": dispute_id}
            items = [
                self.ledger.repo.entry_request(order_id, "DISPUTE_REVERSAL", dispute_id, amount, cur.currency, details),
                *settlement,
            ]
            disputes[dispute_id] = {**d, "reinstated": amount, "status": "won", "at": now_iso()}
            back = int(d.get("refundableTaken", 0))
            sets = {"disputes": disputes, "reversed": reversed_, "refundable": cur.refundable + back}
            items.insert(0, self.book.payments.payment_request(order_id, payment_id, cur.status, sets))
            return items, {**details, "reinstated": amount}, None

        self.book.change(order_id, "dispute_funds_reinstated", build)
        return "dispute funds reinstated"

    # -- refunds Stripe changed after the fact -------------------------------------------------------
    def refund_failed(self, obj: dict[str, Any], p: Payment) -> str:
        """A refund that failed at Stripe after it succeeded (the card was closed): the money is
        ours again, so the vendors' share is settled again and the amount may be refunded again."""
        order_id, payment_id = p.order_id, p.payment_id
        state = self.book.payments.partition(order_id)
        ours = state.refund(str((obj.get("metadata") or {}).get("refundId") or "")) or next(
            (r for r in state.refunds if r.stripe_refund_id == obj.get("id")), None
        )
        if ours is None:
            self.book.bus.alert("RefundFailedUnknown", {"orderId": order_id, "stripeRefund": obj.get("id")})
            return "unknown refund failed"
        refund_id, why = ours.refund_id, str(obj.get("failure_reason") or "failed at Stripe")

        def build(st: OrderPayments) -> Built:
            r = st.refund(refund_id)
            if r is None or r.status == "FAILED":
                return None
            cur, amount = find(st, payment_id), r.amount
            items = [
                self.book.payments.refund_request(order_id, refund_id, r.status, {"status": "FAILED", "failure": why})
            ]
            sets: dict[str, Any] = {}
            if r.status == "SUCCEEDED":  # recorded as money out: it came back
                shares = r.reversed or self._shares_of_old_refund(cur, amount)
                sets["reversed"], settlement = self.ledger.settle_back(cur, f"{refund_id}-failed", shares)
                details = {"paymentId": payment_id, "refundId": refund_id}
                items += [
                    self.ledger.repo.entry_request(order_id, "REFUND_FAILED", refund_id, amount, cur.currency, details),
                    *settlement,
                ]
                done = st.refunded() - amount
                items += self.orders.refunded_items(self.orders.get(order_id), done, SYSTEM, f"refund failed: {why}")
            items.append(
                self.book.payments.payment_request(
                    order_id, payment_id, None, sets, add={"refundable": amount, "refunded": -amount}
                )
            )
            return items, {"refundId": refund_id, "why": why}, None

        self.book.change(order_id, "refund_failed", build, contended=("order",))
        self.book.bus.alert("RefundFailed", {"orderId": order_id, "refundId": refund_id, "why": why})
        if (self.orders.get(order_id).get("refund") or {}).get("status") == "REQUIRED":
            self.retries.send({"kind": "owed", "orderId": order_id})  # a cancelled order: the rest is owed
        return "refund failed"

    @staticmethod
    def _shares_of_old_refund(p: Payment, amount: int) -> dict[str, int]:
        """Who gave back what for a refund recorded before refunds kept it: the split a refund
        of ``amount`` makes of the settlement (exact when nothing else was reversed)."""
        settled = {k: int(v) for k, v in (p.settled or {}).items()}
        split = rules.refund_reversal(amount, settled, p.fee) if settled else {}
        return {k: v for k, v in split.items() if v}

    def dashboard_refunds(self, intent_id: str, p: Payment) -> list[str]:
        """Refunds of ``intent_id`` made outside the API (Stripe's dashboard): recorded as ours,
        with their ledger entries, reversal and the order's refund state."""
        order_id, payment_id = p.order_id, p.payment_id
        state = self.book.payments.partition(order_id)
        known = {r.stripe_refund_id for r in state.refunds} | {r.refund_id for r in state.refunds}
        found = []
        for refund in self.stripe.refunds_of(intent_id):
            if refund["id"] in known or refund.get("refundId") or refund["status"] not in ("succeeded", "pending"):
                continue  # ours (every refund we make carries our refundId), or no money moved
            self._record_dashboard_refund(order_id, payment_id, refund)
            found.append(refund["id"])
        return found

    def _record_dashboard_refund(self, order_id: str, payment_id: str, refund: dict[str, Any]) -> None:
        refund_id, amount = str(refund["id"]), int(refund["amount"])

        def build(st: OrderPayments) -> Built:
            if st.refund(refund_id) is not None:
                return None
            cur = find(st, payment_id)
            rev = self.ledger.reversal(cur, refund_id, amount)
            row = Refund(
                refund_id=refund_id,
                order_id=order_id,
                payment_id=payment_id,
                amount=amount,
                currency=cur.currency,
                reason="refunded in Stripe's dashboard",
                status="SUCCEEDED",
                stripe_refund_id=refund_id,
                by=DASHBOARD,
                created_at=now_iso(),
                reversed=rev.shares,
            )
            done = amount + st.refunded()
            details = {"paymentId": payment_id, "stripeRefundId": refund_id}
            sets = {
                "reversed": rev.reversed,
                "refundable": max(0, cur.refundable - amount),  # the money left: never refused
                "refunded": cur.refunded + amount,
            }
            items = [
                self.book.payments.new_refund_request(row),
                self.book.payments.payment_request(order_id, payment_id, None, sets),
                self.ledger.repo.entry_request(order_id, "REFUND", refund_id, amount, cur.currency, details),
                *rev.items,
                *self.orders.refunded_items(self.orders.get(order_id), done, SYSTEM, row.reason),
            ]
            return items, {"refundId": refund_id, "amount": amount, "by": DASHBOARD}, None

        self.book.change(order_id, "dashboard_refund", build, contended=("order",))
        self.book.bus.alert("DashboardRefundRecorded", {"orderId": order_id, "refund": refund_id, "amount": amount})
