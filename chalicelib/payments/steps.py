"""The checkout's steps, one per Lambda task of ``stepfunctions/checkout.asl.json`` and
``checkout_await.asl.json``, plus the failed-transactions retry of a deferred charge.

Steps are idempotent: a step that finds its work done answers as if it had done it, so an
at-least-once workflow re-run has no second effect on money. A step that must stop the
checkout for a business reason raises ``Refused`` (caught by the workflow, never retried).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from chalicelib.audit.repo import Actor
from chalicelib.core import logs, metrics
from chalicelib.core.config import get_settings
from chalicelib.core.errors import Conflict
from chalicelib.payments import rules
from chalicelib.payments.book import (
    OPEN_RUN,
    PENDING_PAYMENT,
    SYSTEM,
    Built,
    PaymentBook,
    Refused,
    claim,
    epoch,
    error_text,
    find,
    owns,
)
from chalicelib.payments.checkout import payable
from chalicelib.payments.compensation import Compensation
from chalicelib.payments.fanout import paid_messages
from chalicelib.payments.fraud import FraudScreen
from chalicelib.payments.gateway import Transient
from chalicelib.payments.ledger import Ledger
from chalicelib.payments.outcomes import ChargeOutcome, Finish, Phase, WaitKind
from chalicelib.payments.ports import Orders, RetryQueue, Stripe, Users, Workflows
from chalicelib.payments.records import OrderPayments
from chalicelib.users.rules import missing_profile_fields

log = logs.get_logger("freshcart.payments")


def _screened(screen: dict[str, Any] | None, email: str | None) -> dict[str, Any]:
    """The payment's fields from the checkout's validation and screening (absent ones unset)."""
    fraud = (screen or {}).get("fraud")
    return {k: v for k, v in {"fraud": fraud, "email": email}.items() if v}


def _until_cutoff(order: dict[str, Any], now: float) -> int:
    """Seconds the customer has to confirm an off-session payment: until the delivery slot's
    cut-off, never less than the usual reservation."""
    from datetime import date

    from chalicelib.deliveries import slots

    cutoff = slots.policy().cutoff_at(date.fromisoformat(order["deliveryDate"]), order["deliverySlot"])
    return max(get_settings().reservation_ttl_seconds, int(cutoff.timestamp() - now))


@dataclass
class CheckoutSteps:
    book: PaymentBook
    ledger: Ledger
    stripe: Stripe
    orders: Orders
    users: Users
    workflows: Workflows
    fraud: FraudScreen
    compensation: Compensation
    retries: RetryQueue

    def validate(self, order_id: str, payment_id: str) -> dict[str, Any]:
        order = self.orders.get(order_id)
        p = find(self.book.payments.partition(order_id), payment_id)
        if p.status != rules.PROCESSING:
            raise Refused(f"payment is {p.status}, not PROCESSING")
        problems = []
        try:
            payable(order, self.book.clock())
        except Conflict as exc:
            problems.append(exc.message)
        user = self.users.get(order["userId"], consistent=True) or {}
        if user.get("status", "active") != "active":
            problems.append("account is not active")
        missing = missing_profile_fields(user)
        if missing:
            problems.append(f"profile is missing: {', '.join(missing)}")
        if int(order["total"]) != p.amount or order["currency"] != p.currency:
            problems.append("the order's total changed")
        if problems:  # recorded by the Refused step, with the payment's failure
            raise Refused("; ".join(problems))
        # Nothing is written here: the charge records what the screening found, in its own change.
        return {"orderId": order_id, "paymentId": payment_id, "email": user.get("email")}

    def check_method(self, order_id: str, payment_id: str) -> dict[str, Any]:
        p = find(self.book.payments.partition(order_id), payment_id)
        ok, why = self.stripe.check_method(p.method)
        return {"valid": ok, "problem": why}

    def score_fraud(self, order_id: str, payment_id: str) -> dict[str, Any]:
        order = self.orders.get(order_id)
        p = find(self.book.payments.partition(order_id), payment_id)
        user = self.users.get(order["userId"]) or {}
        country = self.stripe.card_country(p.method)  # in parallel with CheckMethod: no added wait
        return self.fraud.score(order, user, p.client, country).as_dict()  # recorded by the charge or hold

    def charge(
        self,
        order_id: str,
        payment_id: str,
        screen: dict[str, Any] | None = None,
        email: str | None = None,
        run: str | None = None,
        hand_over: bool = False,
    ) -> dict[str, Any]:
        """Charge the card, and record with it what validation and screening found (one change,
        one chain row: ``screen`` is the parallel step's result, ``email`` the validated profile's).
        The run that records the charge owns the payment (``hand_over``: the next run takes it)."""
        state = self.book.payments.partition(order_id)
        p = find(state, payment_id)
        if not owns(p, run):
            raise Refused("another checkout run owns this payment")
        if p.status != rules.PROCESSING:
            if p.status in (rules.SUCCEEDED, rules.REQUIRES_ACTION):
                done = ChargeOutcome.SUCCEEDED if p.status == rules.SUCCEEDED else ChargeOutcome.REQUIRES_ACTION
                return {"outcome": done.value}
            raise Refused(f"payment is {p.status}")
        metadata = {"orderId": p.order_id, "paymentId": p.payment_id, "userId": p.user_id}
        charge = self.stripe.charge(
            p.amount, p.currency, p.method, metadata, f"pi-{payment_id}", None, epoch(p), p.customer_id
        )
        if charge.outcome == ChargeOutcome.PROCESSING:  # neither taken nor declined yet: ask again later
            raise Transient(f"PaymentIntent {charge.intent_id} is still processing at Stripe")

        def build(st: OrderPayments) -> Built:
            cur = find(st, payment_id)
            if not owns(cur, run):  # another run recorded its charge first (the same intent)
                raise Refused("another checkout run owns this payment")
            sets: dict[str, Any] = {
                "intentId": charge.intent_id,
                "clientSecret": charge.client_secret,
                **_screened(screen, email),
                "run": OPEN_RUN if hand_over else run,
            }
            items = []
            if charge.outcome == ChargeOutcome.DECLINED:
                sets["failure"] = charge.decline or "declined"
            if charge.intent_id:
                items.append(self.book.payments.intent_request(charge.intent_id, order_id, payment_id))
            items.append(
                self.book.payments.payment_request(
                    order_id, payment_id, cur.status, {k: v for k, v in sets.items() if v}
                )
            )
            details = {"paymentId": payment_id, "outcome": charge.outcome, "intentId": charge.intent_id}
            return items, {**details, **({"screen": screen} if screen else {})}, None

        self.book.change(order_id, f"charge_{charge.outcome}", build, state=state)
        return {"outcome": charge.outcome}

    def park(
        self,
        order_id: str,
        payment_id: str,
        kind: str,
        screen: dict[str, Any] | None = None,
        email: str | None = None,
        run: str | None = None,
    ) -> dict[str, Any]:
        """Wait for 3-D Secure (``action``) or a manager (``review``) in the Standard workflow; a
        hold records the screening that caused it."""
        order = self.orders.get(order_id)
        target = rules.REQUIRES_ACTION if kind == WaitKind.ACTION else rules.HELD

        def build(st: OrderPayments) -> Built:
            cur = find(st, payment_id)
            if not owns(cur, run):
                raise Refused("another checkout run owns this payment")
            if cur.status == target:
                return None
            if not rules.can_move(cur.status, target):
                raise Refused(f"payment is {cur.status}")
            details = {"paymentId": payment_id, "waitingFor": kind, **({"screen": screen} if screen else {})}
            return [self.book.move(cur, target, {**_screened(screen, email), **claim(run)})], details, cur

        parked = self.book.change(order_id, "awaiting_" + kind, build)
        if parked is not None and kind == WaitKind.REVIEW:  # the managers are told, once
            self.book.bus.publish(
                "PaymentHeld", {"orderId": order_id, "paymentId": payment_id, "userId": parked.user_id}
            )
        if parked is not None and kind == WaitKind.ACTION and parked.customer_id:  # off-session: nobody is there
            told = {"orderId": order_id, "paymentId": payment_id, "userId": parked.user_id}
            self.book.bus.publish("PaymentActionRequired", told)
        if kind == WaitKind.REVIEW:  # a manager has the review window, not what is left of the 15 minutes
            order = self.orders.hold_for_review(order, get_settings().review_window_seconds)
        elif parked is not None and parked.customer_id and order.get("deliveryDate"):
            order = self.orders.hold_for_review(order, _until_cutoff(order, self.book.clock()))  # off-session 3DS
        self.workflows.start_wait(
            order_id, payment_id, kind, int(order["reservation"]["expiresAt"]) - int(self.book.clock())
        )
        return {"waiting": kind}

    def wait(self, order_id: str, payment_id: str, kind: str, token: str) -> dict[str, Any]:
        """Keep the task token where the webhook consumer or the manager's decision finds it."""

        def build(st: OrderPayments) -> Built:
            cur = find(st, payment_id)
            item = self.book.payments.payment_request(order_id, payment_id, cur.status, {"waitToken": token})
            return [item], {"paymentId": payment_id, "waitingFor": kind}, cur

        cur = self.book.change(order_id, "wait_started", build)
        # The customer may have finished 3-D Secure before the token was stored: look once.
        if (
            kind == WaitKind.ACTION
            and cur
            and cur.intent_id
            and self.stripe.retrieve(cur.intent_id).outcome == ChargeOutcome.SUCCEEDED
        ):
            self.workflows.succeed(token, {"phase": Phase.CHARGED.value})
        return {"stored": True}

    def resume(self, order_id: str, payment_id: str, decision: dict[str, Any]) -> dict[str, Any]:
        """The wait ended well: the payment is handed over to the next checkout run."""
        phase = Phase(str(decision.get("phase") or Phase.CHARGED))

        def build(st: OrderPayments) -> Built:
            cur = find(st, payment_id)
            details = {"paymentId": payment_id, "phase": phase.value}
            if phase == Phase.APPROVED and cur.status == rules.HELD:
                move = self.book.move(cur, rules.PROCESSING, {"run": OPEN_RUN}, reason="approved by a manager")
                return [move], details, None
            if cur.run == OPEN_RUN or cur.status not in rules.OPEN:
                return None
            item = self.book.payments.payment_request(order_id, payment_id, cur.status, {"run": OPEN_RUN})
            return [item], details, None

        self.book.change(order_id, "review_approved" if phase == Phase.APPROVED else "handed_over", build)
        self.workflows.start_checkout(order_id, payment_id, phase.value)
        return {"resumed": phase.value}

    def abandon(self, order_id: str, payment_id: str, kind: str, error: Any) -> dict[str, Any]:
        """The wait ended without success: 3-D Secure not finished in time or failed, or the
        review rejected or timed out. An unfinished intent is cancelled and the payment fails; one
        the customer finished at the last moment (the cancel comes too late) is refunded."""
        why = error_text(error)
        p = find(self.book.payments.partition(order_id), payment_id)
        if p.intent_id and kind == WaitKind.ACTION:
            self.stripe.cancel(p.intent_id, f"cancel-{payment_id}")
        self.compensation.compensate(order_id, payment_id, why)  # fails it, or refunds a charge that got through
        return {"abandoned": why}

    def mark_paid(self, order_id: str, payment_id: str, run: str | None = None) -> dict[str, Any]:
        """Stock committed, order PAID, ledger CHARGE, the platform fee and each vendor's share,
        payment SUCCEEDED: one transaction, so money taken is never left unsplit. Only the run
        that owns the payment fans out (a duplicate run's notification would be a second one)."""
        order = self.orders.get(order_id)
        state = self.book.payments.partition(order_id)
        p = find(state, payment_id)
        if not owns(p, run):
            raise Refused("another checkout run owns this payment")
        if p.status == rules.SUCCEEDED:
            if not p.settled:  # paid before captures carried their settlement
                self.ledger.settle_unsplit(self.book, order_id, payment_id)
            return paid_messages(order, p)
        if p.status not in (rules.PROCESSING, rules.REQUIRES_ACTION):
            raise Refused(f"payment is {p.status}")
        if not p.intent_id or self.stripe.retrieve(p.intent_id).outcome != ChargeOutcome.SUCCEEDED:
            raise Refused(f"PaymentIntent {p.intent_id} is not succeeded")  # paid only on a server-seen success
        if order["status"] != PENDING_PAYMENT:
            raise Refused(f"order is {order['status']}: the reservation is gone")
        summary = {"paymentId": payment_id, "intentId": p.intent_id, "amount": p.amount}

        def build(st: OrderPayments) -> Built:
            cur = find(st, payment_id)
            if not owns(cur, run):
                raise Refused("another checkout run owns this payment")
            if cur.status == rules.SUCCEEDED:
                return None
            if cur.compensating:  # its money is being given back: it can no longer be a sale
                raise Refused(f"the payment is being given back: {cur.compensating}")
            amount = cur.amount
            fee, shares, settlement = self.ledger.settlement_items(cur, amount)
            sets = {"captured": amount, "refundable": amount, "settled": shares, "fee": fee, **claim(run)}
            charge = self.ledger.repo.entry_request(
                order_id,
                "CHARGE",
                payment_id,
                amount,
                cur.currency,
                {"paymentId": payment_id, "intentId": cur.intent_id},
            )
            paid = {"paymentId": payment_id, "amount": amount, "status": rules.SUCCEEDED}
            items = [
                self.book.move(cur, rules.SUCCEEDED, sets),
                charge,
                *settlement,
                # the order keeps what its views and the report read; the intent is the payment's
                *self.orders.paid_items(order, paid, SYSTEM, int(self.book.clock())),
            ]
            return items, {**summary, "fee": fee, "vendors": shares}, None

        try:
            self.book.change(order_id, "payment_captured", build, state=state)
        except Conflict:
            raise Refused("the order's reservation expired before it was paid") from None
        metrics.count("PaymentsSucceeded", Service="payments")
        return paid_messages(order, p)

    def finish(
        self,
        order_id: str,
        payment_id: str,
        outcome: str,
        error: Any,
        screen: dict[str, Any] | None = None,
        email: str | None = None,
        run: str | None = None,
    ) -> dict[str, Any]:
        """Where the checkout ends when it does not end paid (a deferred charge keeps what the
        screening found, for the retry's charge). A run that does not own the payment (a
        duplicate, or one that lost the race to charge) ends here having changed nothing."""
        why, end = error_text(error), Finish(outcome)
        if not owns(find(self.book.payments.partition(order_id), payment_id), run):
            log.info("a checkout run that does not own the payment ended", extra={"paymentId": payment_id})
            return {"outcome": end.value, "why": why, "fenced": True}
        if end == Finish.FAILED:
            self.compensation.fail(order_id, payment_id, why, run)
        elif end == Finish.DEFERRED:
            self._defer(order_id, payment_id, why, screen, email, run)
        elif end in (Finish.COMPENSATE, Finish.BROKEN):
            self.compensation.compensate(order_id, payment_id, why, run=run)
        elif end == Finish.CHARGE_BROKEN:  # the charge task died: its answer may be lost
            self.compensation.compensate(order_id, payment_id, why, charge_lost=True, run=run)
        elif end == Finish.FANOUT_FAILED:
            self.book.bus.alert("CheckoutFanOutFailed", {"orderId": order_id, "paymentId": payment_id, "error": why})
        return {"outcome": end.value, "why": why}

    def _defer(
        self,
        order_id: str,
        payment_id: str,
        why: str,
        screen: dict[str, Any] | None,
        email: str | None,
        run: str | None = None,
    ) -> None:
        def build(st: OrderPayments) -> Built:
            cur = find(st, payment_id)
            if cur.status != rules.PROCESSING or not owns(cur, run):
                return None
            sets = {"deferred": why, **_screened(screen, email), **claim(run)}
            item = self.book.payments.payment_request(order_id, payment_id, rules.PROCESSING, sets)
            return [item], {"paymentId": payment_id, "why": why, **({"screen": screen} if screen else {})}, None

        self.book.change(order_id, "payment_deferred", build)
        self.retries.send({"kind": "charge", "orderId": order_id, "paymentId": payment_id})

    def retry_deferred(self, order_id: str, payment_id: str) -> str:
        """The failed-transactions consumer's charge: charge again with the same idempotency key; a
        transient failure raises (the message comes back; after 3 receives, the DLQ)."""
        p = find(self.book.payments.partition(order_id), payment_id)
        if p.status != rules.PROCESSING:
            return f"payment is {p.status}"
        try:
            validated = self.validate(order_id, payment_id)
        except Refused as exc:  # e.g. the reservation expired meanwhile: the lost charge is refunded
            self.compensation.compensate(order_id, payment_id, str(exc), charge_lost=True)
            return "failed"
        # Transient propagates; a charge taken is handed over to the run started next
        outcome = self.charge(order_id, payment_id, None, validated.get("email"), hand_over=True)["outcome"]
        if outcome == ChargeOutcome.SUCCEEDED:
            self.workflows.start_checkout(order_id, payment_id, Phase.CHARGED.value)
        elif outcome == ChargeOutcome.REQUIRES_ACTION:
            self.park(order_id, payment_id, WaitKind.ACTION.value)
        else:
            self.compensation.fail(order_id, payment_id, "the card was declined")
        return str(outcome)

    def resolve(self, order_id: str, approve: bool, actor: Actor, reason: str | None) -> None:
        """A manager's decision on a payment held for review ends its wait."""
        held = [p for p in self.book.payments.partition(order_id).payments if p.status == rules.HELD]
        if not held:
            if approve:
                raise Conflict(
                    "this order is not held for review", code="invalid_transition", fields={"status": "PENDING_PAYMENT"}
                )
            return
        p = held[-1]
        if not p.wait_token:
            raise Conflict("the review is not ready yet; retry in a moment", code="contention")
        if approve:
            self.workflows.succeed(p.wait_token, {"phase": "approved", "by": actor.user_id})
            return
        try:
            self.workflows.fail(p.wait_token, "Rejected", reason or "rejected by a manager")
        except Conflict:  # a retried reject: the wait already ended (the payment fails meanwhile)
            log.info("review already ended", extra={"orderId": order_id, "paymentId": p.payment_id})
