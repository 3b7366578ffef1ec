"""Leave nothing half-done: a checkout that cannot end paid fails its payment, gives back money
Stripe took for it, and releases the order's stock once its hold is over. Used by the steps, the
sweeper of expired orders and Stripe's events. It never undoes a sale: a SUCCEEDED payment (its
order PAID in the same transaction) is refunded only through refunds.py."""

from __future__ import annotations

from dataclasses import dataclass

from chalicelib.payments import rules
from chalicelib.payments.book import PENDING_PAYMENT, SYSTEM, Built, PaymentBook, epoch, find, owns
from chalicelib.payments.ledger import Ledger
from chalicelib.payments.outcomes import ChargeOutcome
from chalicelib.payments.ports import Orders, Stripe
from chalicelib.payments.records import OrderPayments


@dataclass
class Compensation:
    book: PaymentBook
    ledger: Ledger
    stripe: Stripe
    orders: Orders

    def fail(self, order_id: str, payment_id: str, why: str, run: str | None = None) -> None:
        """An open payment fails (and the order's lock is released); a closed one is left alone,
        as is one another checkout run owns (``run``: the asking run, None for the system)."""

        def build(st: OrderPayments) -> Built:
            cur = find(st, payment_id)
            if cur.status not in rules.OPEN or not owns(cur, run):
                return None
            return (
                [self.book.move(cur, rules.FAILED, {"failure": why}, reason=why)],
                {"paymentId": payment_id, "why": why},
                cur,
            )

        failed = self.book.change(order_id, "payment_failed", build, release=payment_id)
        if failed is not None:  # the customer is told, once (the event id is the payment's)
            told = {"orderId": order_id, "paymentId": payment_id, "userId": failed.user_id, "why": why}
            self.book.bus.publish("PaymentFailed", told)

    def compensate(
        self,
        order_id: str,
        payment_id: str,
        why: str,
        found_intent: str | None = None,
        charge_lost: bool = False,
        run: str | None = None,
    ) -> None:
        """Money taken comes back, stock held or sold is released. ``charge_lost``: a charge was
        sent and its answer never recorded (the task died, or a deferred charge is given up);
        Stripe is asked, by our metadata, whether it took the money."""
        p = find(self.book.payments.partition(order_id), payment_id)
        if not owns(p, run):
            return
        if p.status in (rules.SUCCEEDED, rules.REFUNDED):
            # A SUCCEEDED payment is a finished sale (its order PAID in the same transaction):
            # nothing of a checkout is left to undo, whichever run asks. Its refunds are refunds.py's.
            if p.status == rules.SUCCEEDED:
                self.book.bus.alert("CompensationRefused", {"orderId": order_id, "paymentId": payment_id, "why": why})
            return
        intent_id = p.intent_id or found_intent
        if not intent_id and charge_lost and p.status == rules.PROCESSING:
            intent_id = self.stripe.lost_intent(payment_id, epoch(p))
        charged = bool(intent_id) and self.stripe.retrieve(str(intent_id)).outcome == ChargeOutcome.SUCCEEDED
        if not charged:
            self.fail(order_id, payment_id, why, run)
            return
        if not self._claim(order_id, payment_id, why, run):
            return  # it became a sale meanwhile (a mark-paid that outlived its timeout): it stands
        ref = f"comp-{payment_id}"
        amount = p.amount
        stripe_refund = self.stripe.refund(
            str(intent_id), amount, ref, "checkout compensation", {"orderId": order_id, "refundId": ref}, epoch(p)
        )

        def build(st: OrderPayments) -> Built:
            cur = find(st, payment_id)
            if cur.status in (rules.SUCCEEDED, rules.REFUNDED) or not owns(cur, run):
                return None
            sets = {"failure": why, "captured": amount, "refundable": 0, "refunded": amount, "intentId": intent_id}
            entry = self.ledger.repo.entry_request
            details = {"paymentId": payment_id, "intentId": intent_id}
            items = [
                self.book.move(cur, rules.REFUNDED, sets, reason=why),
                # charged at Stripe but never a sale: the ledger gets the charge and its refund
                entry(order_id, "CHARGE", payment_id, amount, cur.currency, details),
                entry(order_id, "REFUND", ref, amount, cur.currency, {**details, "stripeRefundId": stripe_refund}),
            ]
            if cur.intent_id != intent_id:  # found at Stripe: its events find us too
                items.append(self.book.payments.intent_request(str(intent_id), order_id, payment_id))
            return items, {"paymentId": payment_id, "refunded": amount, "why": why}, cur

        done = self.book.change(order_id, "payment_compensated", build, release=payment_id)
        order = self.orders.get(order_id)
        if order["status"] == PENDING_PAYMENT:
            # An expired hold is released now (a no-op if the sweeper won); a live one stays, so
            # the customer can pay again while it lasts. An order paid by another payment meanwhile
            # is that payment's: it is not touched.
            self.orders.expire(order, SYSTEM)
        self.book.bus.alert(
            "PaymentCompensated", {"orderId": order_id, "paymentId": payment_id, "amount": amount, "why": why}
        )
        if done is not None:  # the customer is told their money is coming back, once
            told = {"orderId": order_id, "refundId": ref, "amount": amount, "currency": done.currency}
            self.book.bus.publish("RefundSucceeded", {**told, "email": done.email, "userId": done.user_id})

    def _claim(self, order_id: str, payment_id: str, why: str, run: str | None) -> bool:
        """Mark the payment as being given back, under the chain head, before Stripe is asked
        to refund: a mark-paid racing with this then refuses (never a sale with its money gone).
        False when it became a sale first."""

        def build(st: OrderPayments) -> Built:
            cur = find(st, payment_id)
            if cur.status in (rules.SUCCEEDED, rules.REFUNDED) or not owns(cur, run) or cur.compensating:
                return None
            item = self.book.payments.payment_request(order_id, payment_id, cur.status, {"compensating": why})
            return [item], {"paymentId": payment_id, "why": why}, None

        self.book.change(order_id, "compensation_started", build)
        cur = find(self.book.payments.partition(order_id), payment_id)
        if cur.compensating and cur.status not in (rules.SUCCEEDED, rules.REFUNDED):
            return True
        if cur.status == rules.SUCCEEDED:
            self.book.bus.alert("CompensationRefused", {"orderId": order_id, "paymentId": payment_id, "why": why})
        return False

    def settle_expired(self, order_id: str) -> str:
        """The order's reservation ran out: no open payment may outlive it. A checkout that
        died without reaching its Catch (a runtime error, a timed-out execution) leaves one
        behind; money Stripe took for it goes back, an unfinished intent is cancelled."""
        state = self.book.payments.partition(order_id)
        open_ = [p for p in state.payments if p.status in rules.OPEN]
        for p in open_:
            why = "the reservation expired before the payment completed"
            if p.intent_id:
                self.stripe.cancel(p.intent_id, f"cancel-{p.payment_id}")  # a no-op once it succeeded
            # A charge whose answer never came back (a deferred one, a task that died) may have
            # taken money: Stripe is asked before the payment is failed.
            self.compensate(order_id, p.payment_id, why, charge_lost=not p.intent_id)
        return f"settled {len(open_)} open payment(s)" if open_ else "no open payment"
