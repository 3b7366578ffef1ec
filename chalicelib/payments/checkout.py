"""Starting a checkout (``POST /orders/{id}/pay``), what the customer and staff see of it, and its
dry run (``POST /payments/validate``). The run itself is ``steps.py``'s."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from chalicelib.audit.chain import GENESIS
from chalicelib.audit.repo import Actor
from chalicelib.core import logs, tx, uow
from chalicelib.core.context import Caller, ClientInfo
from chalicelib.core.dynamo import read_all
from chalicelib.core.errors import Conflict, NotFound, ServiceUnavailable, Unprocessable
from chalicelib.payments import rules
from chalicelib.payments.book import (
    PENDING_PAYMENT,
    Built,
    PaymentBook,
    body_hash,
    epoch,
    find,
    payment_id_for,
    present,
)
from chalicelib.payments.fraud import FraudScreen
from chalicelib.payments.gateway import Transient
from chalicelib.payments.outcomes import Phase
from chalicelib.payments.ports import OrderReads, Orders, Stripe, Users, Workflows
from chalicelib.payments.records import OrderPayments, Payment
from chalicelib.payments.refunds import refund_view
from chalicelib.payments.repo import now_iso
from chalicelib.users.rules import missing_profile_fields

log = logs.get_logger("freshcart.payments")
STAFF = ("manager", "admin")
RESTART_AFTER_SECONDS = 30  # a run charges within seconds of its start (Stripe's timeout is 20 s)


def payable(order: dict[str, Any], now: float) -> None:
    """Raise a Conflict naming why ``order`` cannot be paid at ``now``."""
    if order["status"] != PENDING_PAYMENT:
        raise Conflict(
            f"an order in {order['status']} cannot be paid", code="not_payable", fields={"status": order["status"]}
        )
    if int(order["reservation"]["expiresAt"]) <= int(now):
        raise Conflict(
            "the order's reservation has expired; place it again",
            code="reservation_expired",
            fields={"orderId": "reservation expired"},
        )


def pay_view(p: Payment) -> dict[str, Any]:
    out = {"orderId": p.order_id, "paymentId": p.payment_id, "status": rules.public_status(p.status)}
    if p.status == rules.REQUIRES_ACTION and p.client_secret:
        out["clientSecret"] = p.client_secret
    return out


@dataclass
class Checkout:
    book: PaymentBook
    stripe: Stripe
    orders: Orders
    order_reads: OrderReads
    users: Users
    workflows: Workflows
    fraud: FraudScreen

    def pay(
        self, who: Caller, order_id: str, method: str, key: str, client: ClientInfo, customer: str | None = None
    ) -> dict[str, Any]:
        """Start paying an order: at most one open payment per order; the amount is the order's.
        Concurrent copies of one request (same Idempotency-Key) all answer the same payment.
        ``customer``: charged off-session with the customer's saved ``method`` (a subscription's
        order, placed by the scheduled job: nobody is there to authenticate)."""
        payment_id = payment_id_for(order_id, who.user_id, key)
        digest = body_hash({"paymentMethod": method})
        repo = self.book.payments

        def attempt() -> dict[str, Any]:
            order, (head, existing) = read_all(
                self.order_reads.order_read(order_id), repo.start_read(order_id, payment_id)
            )  # call 1
            if order is None or order["userId"] != who.user_id:
                raise NotFound("order not found")
            if existing is not None:
                if existing.body_hash != digest:
                    raise Unprocessable(
                        "this Idempotency-Key was used with another body",
                        code="idempotency_key_reused",
                        fields={"Idempotency-Key": "reused with another body"},
                    )
                if self._never_ran(existing):
                    self._start(order_id, payment_id)  # the first start failed, or died before it
                return pay_view(existing)
            payable(order, self.book.clock())
            if head.open:
                raise Conflict(
                    "a payment for this order is in progress", code="payment_in_progress", fields={"orderId": "paying"}
                )
            payment = self._new_payment(who, order, payment_id, method, digest, client, customer)
            prev_seq = head.chain_seq
            row, chained = self.book.chain.row(
                order_id,
                prev_seq + 1,
                head.chain_hash or GENESIS,
                "payment_started",
                Actor.of(who, client),
                {"paymentId": payment_id, "amount": payment.amount, "currency": payment.currency},
            )
            head = repo.head_request(order_id, prev_seq, prev_seq + 1, chained, {"paymentId": payment_id, "open": True})
            try:  # call 2
                tx.commit([head, row, repo.new_payment_request(payment)], uow.attempt_token(f"pay:{payment_id}"))
            except tx.Cancelled:
                # Another pay or step moved the head, or a concurrent copy of this request (same
                # Idempotency-Key) created our payment row: read again, and answer as it did.
                raise uow.Contended from None
            self._start(order_id, payment_id)  # call 3
            return pay_view(payment)

        return uow.retrying(attempt, 4, "a payment for this order is in progress; retry", code="payment_in_progress")

    @staticmethod
    def _new_payment(
        who: Caller,
        order: dict[str, Any],
        payment_id: str,
        method: str,
        digest: str,
        client: ClientInfo,
        customer: str | None,
    ) -> Payment:
        now = now_iso()
        return Payment(
            payment_id=payment_id,
            order_id=order["orderId"],
            user_id=who.user_id,
            amount=int(order["total"]),
            currency=order["currency"],
            method=method,
            status=rules.PROCESSING,
            created_at=now,
            updated_at=now,
            body_hash=digest,
            customer_id=customer,
            client={
                "ip": client.ip,
                "userAgent": client.user_agent,
                "country": client.country,
                "session": who.session_id,  # the login it comes from: what the fraud rules judge against
                **({"offSession": True} if customer else {}),
            },
            lines=[
                {"vendorId": x["vendorId"], "unitPrice": int(x["unitPrice"]), "quantity": int(x["quantity"])}
                for x in order["lines"]
            ],
            history=[{"status": rules.PROCESSING, "at": now}],
            correlation_id=logs.correlation_id.get(),  # carried into the checkout's tasks and events
        )

    def _never_ran(self, p: Payment) -> bool:
        """No checkout run has touched this payment in the time one takes to reach its charge:
        its start failed (the client was told 503 and retries) or the request died before it.
        A replay never starts a second run beside a live one (AWS would run it: Express
        executions are not deduped by name); were it to, the run fence keeps it from acting."""
        untouched = p.status == rules.PROCESSING and not p.run and not p.deferred
        return untouched and (bool(p.start_failed) or self.book.clock() - epoch(p) > RESTART_AFTER_SECONDS)

    def _start(self, order_id: str, payment_id: str) -> None:
        try:
            self.workflows.start_checkout(order_id, payment_id, Phase.START.value)
        except Exception:
            log.exception("checkout start failed", extra={"paymentId": payment_id})
            with contextlib.suppress(Exception):  # else the replay waits RESTART_AFTER_SECONDS
                self.book.change(order_id, "start_failed", self._start_failed(payment_id))
            raise ServiceUnavailable("could not start the payment; retry with the same Idempotency-Key") from None

    def _start_failed(self, payment_id: str) -> Callable[[OrderPayments], Built]:
        def build(st: OrderPayments) -> Built:
            cur = find(st, payment_id)
            if cur.status != rules.PROCESSING or cur.run or cur.start_failed:
                return None
            item = self.book.payments.payment_request(cur.order_id, payment_id, rules.PROCESSING, {"startFailed": True})
            return [item], {"paymentId": payment_id}, None

        return build

    def view(self, order_id: str, staff: bool = False) -> dict[str, Any]:
        """The order's payment; the fraud score and its reasons only for ``staff`` (told to a
        customer, they would teach an attacker which rule to dodge)."""
        state = self.book.payments.partition(order_id)
        if not state.payments:
            raise NotFound("this order has no payment")
        p = state.payment(state.head.payment_id or "") or state.payments[-1]
        return present(
            {
                "orderId": order_id,
                "paymentId": p.payment_id,
                "status": p.status,
                "amount": p.amount,
                "currency": p.currency,
                "captured": p.captured,
                "refunded": p.refunded,
                "paymentIntentId": p.intent_id,
                "fraud": p.fraud if staff else None,
                "clientSecret": p.client_secret if p.status == rules.REQUIRES_ACTION else None,
                "attempts": [
                    present(
                        {
                            "paymentId": a.payment_id,
                            "status": a.status,
                            "paymentIntentId": a.intent_id,
                            "failure": a.failure,
                            "createdAt": a.created_at,
                        }
                    )
                    for a in state.payments
                ],
                "refunds": [refund_view(r) for r in state.refunds],
            }
        )

    def validate(self, who: Caller, order_id: str, method: str | None, client: ClientInfo) -> dict[str, Any]:
        """The checkout's validation and fraud screen as a dry run: nothing is charged or stored."""
        order = self.orders.get(order_id)
        if order["userId"] != who.user_id and who.role not in STAFF:
            raise NotFound("order not found")
        problems = []
        try:
            payable(order, self.book.clock())
        except Conflict as exc:
            problems.append(exc.message)
        user = self.users.get(order["userId"]) or {}
        missing = missing_profile_fields(user)
        if missing:
            problems.append(f"profile is missing: {', '.join(missing)}")
        if method:
            try:
                ok, why = self.stripe.check_method(method)
            except Transient:
                raise ServiceUnavailable("Stripe did not answer; try again shortly") from None
            if not ok:
                problems.append(f"payment method: {why}")
        if who.role not in STAFF:  # the screen's verdict is staff-only: no oracle
            return {"valid": not problems, "problems": problems}
        fraud = self.fraud.score(
            order,
            user,
            {"ip": client.ip, "userAgent": client.user_agent, "country": client.country, "session": who.session_id},
            self.stripe.card_country(method) if method else None,
        )
        if fraud.decision == "block":
            problems.append("blocked by fraud rules")
        return {"valid": not problems, "problems": problems, "fraud": fraud.as_dict()}
