"""Stripe's events (the stripe-events queue's consumer): what Stripe says happened moves our
records forward, never backwards. Stripe's record wins: money it took for a payment we gave up
goes back; a second PaymentIntent for one payment is refunded."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from chalicelib.payments import rules
from chalicelib.payments.book import PaymentBook, find
from chalicelib.payments.compensation import Compensation
from chalicelib.payments.disputes import AfterSale
from chalicelib.payments.gateway import Transient
from chalicelib.payments.outcomes import Phase
from chalicelib.payments.ports import Stripe, Workflows


@dataclass
class StripeEvents:
    book: PaymentBook
    stripe: Stripe
    workflows: Workflows
    compensation: Compensation
    after_sale: AfterSale

    def apply(self, event: dict[str, Any]) -> str:
        """Apply one verified Stripe event; the answer says what it did (logged by the consumer)."""
        alert = self.book.bus.alert
        problem = rules.event_problem(event)  # the route checked it; a message queued before may not be
        if problem:
            event_id = str(event.get("id"))[:255] if isinstance(event, dict) else "-"
            alert("StripeEventMalformed", {"eventId": event_id, "problem": problem})
            return "malformed"
        kind = event["type"]
        obj = (event.get("data") or {}).get("object") or {}
        if kind == "charge.dispute.created":
            alert("ChargeDisputed", {"eventId": event["id"], "charge": obj.get("charge"), "amount": obj.get("amount")})
        intent_id = obj.get("payment_intent") if kind.startswith(("charge.", "refund.")) else obj.get("id")
        ref = self.book.payments.intent(str(intent_id)) if intent_id else None
        meta = obj.get("metadata") or {}
        order_id = (ref or {}).get("orderId") or meta.get("orderId")
        payment_id = (ref or {}).get("paymentId") or meta.get("paymentId")
        if not order_id or not payment_id:
            if kind == "charge.dispute.created":
                return "alerted"  # a dispute of a charge that is not ours to record
            alert("StripeEventUnknownOrder", {"eventId": event["id"], "type": kind, "intent": intent_id})
            return "unknown order"
        p = self.book.payments.partition(str(order_id)).payment(str(payment_id))
        if p is None:
            alert("StripeEventUnknownOrder", {"eventId": event["id"], "type": kind, "orderId": order_id})
            return "unknown payment"
        if p.intent_id and intent_id and intent_id != p.intent_id:
            # Another PaymentIntent for the same payment: a second charge. It is given back, and
            # nothing about it (its refund, a dispute of it) is booked against the real sale.
            if kind == "payment_intent.succeeded" and not rules.mismatch(
                p, obj.get("amount"), obj.get("currency"), meta.get("orderId")
            ):
                self.stripe.refund(
                    str(intent_id),
                    int(obj["amount"]),
                    f"orphan-{intent_id}",
                    "duplicate charge",
                    {"orderId": str(order_id), "refundId": f"orphan-{intent_id}"},
                    int(obj.get("created") or 0) or None,
                )
                refunded = " refunded"
            else:
                refunded = ""
            alert(
                "OrphanPaymentIntent",
                {"eventId": event["id"], "orderId": order_id, "intent": intent_id, "ours": p.intent_id, "type": kind},
            )
            return "orphan intent" + refunded
        if kind.startswith("charge.dispute."):
            return self.after_sale.dispute(kind, obj, p)
        if kind == "refund.failed" or (kind == "charge.refund.updated" and obj.get("status") == "failed"):
            return self.after_sale.refund_failed(obj, p)
        if kind == "charge.refunded":
            if int(obj.get("amount_refunded", 0)) > p.refunded:  # refunded outside the API
                self.after_sale.dashboard_refunds(str(intent_id), p)
                p = find(self.book.payments.partition(str(order_id)), str(payment_id))
            if int(obj.get("amount_refunded", 0)) != p.refunded:
                drift = {"orderId": order_id, "stripe": obj.get("amount_refunded"), "ours": p.refunded}
                alert("RefundDrift", drift)
                return "drift"
            return "in step"
        problems = rules.mismatch(p, obj.get("amount"), obj.get("currency"), meta.get("orderId"))
        if problems:
            alert("StripeEventMismatch", {"eventId": event["id"], "orderId": order_id, "problems": problems})
            return "mismatch"
        if kind == "payment_intent.succeeded" and p.status == rules.FAILED:
            # Stripe took money for a payment we had given up (its answer came too late, or after
            # the reservation ran out): Stripe's record wins, and the money goes back.
            self.compensation.compensate(
                str(order_id), str(payment_id), "charged at Stripe after the payment was given up", str(intent_id)
            )
            return "late charge refunded"
        target = rules.event_moves(kind, p.status)
        if target is None:
            return "no move"
        token = p.wait_token
        if p.status == rules.REQUIRES_ACTION:
            if not token:
                raise Transient("the checkout is not waiting yet")  # the message comes back shortly
            if target == rules.SUCCEEDED:
                self.workflows.succeed(token, {"phase": Phase.CHARGED.value})
            elif target == rules.FAILED:
                self.workflows.fail(token, "Declined", "authentication failed")
            return "resumed"
        return "left to the running checkout"
