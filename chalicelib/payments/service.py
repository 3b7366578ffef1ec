"""Payments: start a checkout, run its steps, refund, apply Stripe's webhooks.

Every change of an order's payments is one transaction that also advances the order's payment
audit chain (``Chain``); the chain head's condition serialises concurrent changes of one order,
and a change that lost the race is re-read and retried (``_change``). Steps are idempotent: a
step that finds its work done answers as if it had done it, so an at-least-once workflow
re-run has no second effect on money.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from chalicelib.audit.repo import Actor
from chalicelib.core import aws, events, logs, metrics, tx, uow
from chalicelib.core.config import get_settings
from chalicelib.core.context import Caller, ClientInfo
from chalicelib.core.dynamo import read_all
from chalicelib.core.errors import Conflict, NotFound, ServiceUnavailable, Unprocessable
from chalicelib.core.tx import Tagged
from chalicelib.payments import rules
from chalicelib.payments.gateway import StripeGateway, Transient
from chalicelib.payments.repo import Chain, LedgerRepo, PaymentsRepo, now_iso
from chalicelib.users.rules import missing_profile_fields

log = logs.get_logger("freshcart.payments")
SYSTEM = Actor("system", "system", "-", "checkout")
PENDING_PAYMENT, PAID = "PENDING_PAYMENT", "PAID"
PAID_STATES = frozenset({"PAID", "APPROVED", "DISPATCHED", "DELIVERED", "CANCELLED", "REJECTED", "PARTIALLY_REFUNDED"})


class Refused(Exception):
    """A business reason to stop the checkout (caught by the workflow, never retried)."""


class Orders(Protocol):
    """What payments need of the orders domain (chalicelib/orders/lifecycle.py)."""

    def get(self, order_id: str) -> dict[str, Any]: ...
    def paid_items(self, order: dict[str, Any], payment: dict[str, Any], actor: Actor, now: int) -> list[Tagged]: ...
    def refunded_items(
        self, order: dict[str, Any], refunded: int, actor: Actor, reason: str | None
    ) -> list[Tagged]: ...
    def expire(self, order: dict[str, Any], actor: Actor) -> dict[str, Any] | None: ...
    def transition(
        self, order: dict[str, Any], target: str, actor: Actor, reason: str | None, sets: dict[str, Any] | None = None
    ) -> tuple[list[Tagged], dict[str, Any]]: ...


class OrderReads(Protocol):
    def order_read(self, order_id: str) -> Any: ...
    def placed_since(self, user_id: str, since: str) -> list[dict[str, Any]]: ...
    def ever_paid(self, user_id: str) -> bool: ...


class Users(Protocol):
    def get(self, user_id: str, consistent: bool = False) -> dict[str, Any] | None: ...


class Workflows:
    """Step Functions: the Express checkout and the Standard wait for a webhook or a review."""

    def start_checkout(self, order_id: str, payment_id: str, phase: str) -> None:
        self._start(
            get_settings().checkout_state_machine_arn,
            f"{payment_id}-{phase}",
            {"orderId": order_id, "paymentId": payment_id, "phase": phase},
        )

    def start_wait(self, order_id: str, payment_id: str, kind: str, timeout: int) -> None:
        self._start(
            get_settings().checkout_await_state_machine_arn,
            f"{payment_id}-{kind}",
            {"orderId": order_id, "paymentId": payment_id, "kind": kind, "timeoutSeconds": max(1, timeout)},
        )

    @staticmethod
    def _start(arn: str, name: str, payload: dict[str, Any]) -> None:
        sfn = aws.client("stepfunctions")
        with contextlib.suppress(sfn.exceptions.ExecutionAlreadyExists):  # a retried start: the first one runs
            sfn.start_execution(stateMachineArn=arn, name=name, input=json.dumps(payload))

    @staticmethod
    def succeed(token: str, output: dict[str, Any]) -> None:
        with _closed_wait():
            aws.client("stepfunctions").send_task_success(taskToken=token, output=json.dumps(output))

    @staticmethod
    def fail(token: str, error: str, cause: str) -> None:
        with _closed_wait():
            aws.client("stepfunctions").send_task_failure(taskToken=token, error=error, cause=cause[:256])


@contextlib.contextmanager
def _closed_wait() -> Iterator[None]:
    """A wait that already ended (answered twice, or timed out) is a 409, not a 500."""
    from botocore.exceptions import ClientError

    try:
        yield
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("TaskTimedOut", "InvalidToken", "TaskDoesNotExist"):
            raise Conflict(
                "this payment is no longer waiting (already resolved or timed out)", code="not_waiting"
            ) from None
        raise


def payment_id_for(order_id: str, user_id: str, key: str) -> str:
    return hashlib.sha256(f"pay:{order_id}:{user_id}:{key}".encode()).hexdigest()[:32]


def refund_id_for(order_id: str, key: str) -> str:
    return hashlib.sha256(f"refund:{order_id}:{key}".encode()).hexdigest()[:32]


def _hash(body: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def _screened(screen: dict[str, Any] | None, email: str | None) -> dict[str, Any]:
    """The payment's fields from the checkout's validation and screening (absent ones unset)."""
    fraud = (screen or {}).get("fraud")
    return {k: v for k, v in {"fraud": fraud, "email": email}.items() if v}


def _epoch(record: dict[str, Any]) -> int:
    """When a payment or refund was created (epoch seconds): when its Stripe keys were first used."""
    return int(datetime.fromisoformat(str(record["createdAt"])).timestamp())


def _error_text(error: Any) -> str:
    if isinstance(error, dict):
        cause = error.get("Cause")
        with contextlib.suppress(ValueError, AttributeError):
            cause = json.loads(cause).get("errorMessage", cause) if cause else cause
        return f"{error.get('Error')}: {cause}" if cause else str(error.get("Error"))
    return str(error or "unknown")


@dataclass
class PaymentService:
    payments: PaymentsRepo
    ledger: LedgerRepo
    chain: Chain
    stripe: StripeGateway
    orders: Orders
    order_reads: OrderReads
    users: Users
    workflows: Workflows

    # -- the chained change --------------------------------------------------------------------
    def _change(
        self,
        order_id: str,
        action: str,
        build: Any,
        actor: Actor = SYSTEM,
        lock: dict[str, Any] | None = None,
        state: dict[str, Any] | None = None,
    ) -> Any:
        """Read the order's payments (or take ``state``, just read by the caller, for the first
        try), let ``build(state)`` return (items, details, result) or None (nothing to do), commit
        them with the next chain row; retry on a fresh read when another change of the same order
        got there first. Returns ``result`` (or None)."""
        given = [state] if state is not None else []  # the caller's read serves the first attempt only

        def attempt() -> Any:
            st = given.pop() if given else self.payments.partition(order_id)
            built = build(st)
            if built is None:
                return None
            items, details, result = built
            head = st["current"] or {}
            prev_seq, prev_hash = int(head.get("chainSeq", 0)), str(head.get("chainHash", rules.GENESIS))
            row, digest = self.chain.row(order_id, prev_seq + 1, prev_hash, action, actor, details)
            head_item = self.payments.head_request(order_id, prev_seq, prev_seq + 1, digest, lock or {})
            try:
                tx.commit([head_item, row, *items], uow.attempt_token(f"payment:{order_id}:{prev_seq + 1}"))
            except tx.Cancelled as exc:
                if exc.conflict or exc.hit(head_item):
                    raise uow.Contended from None
                raise Conflict("the payment changed meanwhile; retry", code="payment_changed") from None
            return result

        return uow.retrying(attempt, message="too much contention on this order's payment; retry")

    @staticmethod
    def _find(state: dict[str, Any], payment_id: str) -> dict[str, Any]:
        for p in state["payments"]:
            if p["paymentId"] == payment_id:
                return dict(p)
        raise Refused(f"payment {payment_id} not found")

    def _move(
        self, p: dict[str, Any], target: str, sets: dict[str, Any] | None = None, reason: str | None = None
    ) -> Tagged:
        entry = {"status": target, "at": now_iso(), **({"reason": reason} if reason else {})}
        return self.payments.payment_request(
            p["orderId"],
            p["paymentId"],
            p["status"],
            {"status": target, "updatedAt": entry["at"], "history": [*p.get("history", []), entry], **(sets or {})},
        )

    # -- the API ---------------------------------------------------------------------------------
    def pay(self, who: Caller, order_id: str, method: str, key: str, client: ClientInfo) -> dict[str, Any]:
        """Start paying an order: at most one open payment per order; the amount is the order's."""
        payment_id = payment_id_for(order_id, who.user_id, key)
        body_hash = _hash({"paymentMethod": method})

        def attempt() -> dict[str, Any]:
            order, state = read_all(
                self.order_reads.order_read(order_id), self.payments.start_read(order_id, payment_id)
            )  # call 1
            if order is None or order["userId"] != who.user_id:
                raise NotFound("order not found")
            existing = state["payment"]
            if existing is not None:
                if existing.get("bodyHash") != body_hash:
                    raise Unprocessable(
                        "this Idempotency-Key was used with another body",
                        code="idempotency_key_reused",
                        fields={"Idempotency-Key": "reused with another body"},
                    )
                if existing["status"] == rules.PROCESSING and not existing.get("fraud"):
                    self._start_or_503(order_id, payment_id)  # the first start may have failed
                return self.pay_view(existing)
            self._payable(order)
            current = state["current"] or {}
            if current.get("open"):
                raise Conflict(
                    "a payment for this order is in progress", code="payment_in_progress", fields={"orderId": "paying"}
                )
            now = now_iso()
            payment = {
                "paymentId": payment_id,
                "orderId": order_id,
                "userId": who.user_id,
                "amount": int(order["total"]),
                "currency": order["currency"],
                "method": method,
                "status": rules.PROCESSING,
                "captured": 0,
                "refundable": 0,
                "refunded": 0,
                "bodyHash": body_hash,
                "client": {
                    "ip": client.ip,
                    "userAgent": client.user_agent,
                    "country": client.country,
                    "session": who.session_id,  # the login it comes from: what the fraud rules judge against
                },
                "lines": [
                    {"vendorId": x["vendorId"], "unitPrice": int(x["unitPrice"]), "quantity": int(x["quantity"])}
                    for x in order["lines"]
                ],
                "history": [{"status": rules.PROCESSING, "at": now}],
                "createdAt": now,
                "updatedAt": now,
            }
            prev_seq = int(current.get("chainSeq", 0))
            row, digest = self.chain.row(
                order_id,
                prev_seq + 1,
                str(current.get("chainHash", rules.GENESIS)),
                "payment_started",
                Actor.of(who, client),
                {"paymentId": payment_id, "amount": payment["amount"], "currency": payment["currency"]},
            )
            head = self.payments.head_request(
                order_id, prev_seq, prev_seq + 1, digest, {"paymentId": payment_id, "open": True}
            )
            try:  # call 2
                tx.commit(
                    [head, row, self.payments.new_payment_request(payment)], uow.attempt_token(f"pay:{payment_id}")
                )
            except tx.Cancelled:
                # Another pay or step moved the head, or a concurrent copy of this request (same
                # Idempotency-Key) created our payment row: read again, and answer as it did.
                raise uow.Contended from None
            self._start_or_503(order_id, payment_id)  # call 3
            return self.pay_view(payment)

        return uow.retrying(attempt, 4, "a payment for this order is in progress; retry", code="payment_in_progress")

    def _start_or_503(self, order_id: str, payment_id: str) -> None:
        try:
            self.workflows.start_checkout(order_id, payment_id, "start")
        except ServiceUnavailable:
            raise
        except Exception:
            log.exception("checkout start failed", extra={"paymentId": payment_id})
            raise ServiceUnavailable("could not start the payment; retry with the same Idempotency-Key") from None

    @staticmethod
    def _payable(order: dict[str, Any]) -> None:
        if order["status"] != PENDING_PAYMENT:
            raise Conflict(
                f"an order in {order['status']} cannot be paid", code="not_payable", fields={"status": order["status"]}
            )
        if int(order["reservation"]["expiresAt"]) <= int(time.time()):
            raise Conflict(
                "the order's reservation has expired; place it again",
                code="reservation_expired",
                fields={"orderId": "reservation expired"},
            )

    @staticmethod
    def pay_view(p: dict[str, Any]) -> dict[str, Any]:
        out = {"orderId": p["orderId"], "paymentId": p["paymentId"], "status": rules.public_status(p["status"])}
        if p["status"] == rules.REQUIRES_ACTION and p.get("clientSecret"):
            out["clientSecret"] = p["clientSecret"]
        return out

    def view(self, order_id: str, staff: bool = False) -> dict[str, Any]:
        """The order's payment; the fraud score and its reasons only for ``staff`` (told to a
        customer, they would teach an attacker which rule to dodge)."""
        state = self.payments.partition(order_id)
        if not state["payments"]:
            raise NotFound("this order has no payment")
        current_id = (state["current"] or {}).get("paymentId")
        p = next((x for x in state["payments"] if x["paymentId"] == current_id), state["payments"][-1])
        return _present(
            {
                "orderId": order_id,
                "paymentId": p["paymentId"],
                "status": p["status"],
                "amount": int(p["amount"]),
                "currency": p["currency"],
                "captured": int(p.get("captured", 0)),
                "refunded": int(p.get("refunded", 0)),
                "paymentIntentId": p.get("intentId"),
                "fraud": p.get("fraud") if staff else None,
                **({"clientSecret": p["clientSecret"]} if p["status"] == rules.REQUIRES_ACTION else {}),
                "attempts": [
                    _present(
                        {
                            "paymentId": a["paymentId"],
                            "status": a["status"],
                            "paymentIntentId": a.get("intentId"),
                            "failure": a.get("failure"),
                            "createdAt": a["createdAt"],
                        }
                    )
                    for a in state["payments"]
                ],
                "refunds": [self._refund_view(r) for r in state["refunds"]],
            }
        )

    @staticmethod
    def _refund_view(r: dict[str, Any]) -> dict[str, Any]:
        return _present(
            {
                "refundId": r["refundId"],
                "amount": int(r["amount"]),
                "status": r["status"],
                "reason": r.get("reason"),
                "createdAt": r["createdAt"],
            }
        )

    def validate(self, who: Caller, order_id: str, method: str | None, client: ClientInfo) -> dict[str, Any]:
        """The checkout's validation and fraud screen as a dry run: nothing is charged or stored."""
        order = self.orders.get(order_id)
        if order["userId"] != who.user_id and who.role not in ("manager", "admin"):
            raise NotFound("order not found")
        problems = []
        try:
            self._payable(order)
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
        if who.role not in ("manager", "admin"):  # the screen's verdict is staff-only: no oracle
            return {"valid": not problems, "problems": problems}
        fraud = self._score(
            order,
            user,
            {"ip": client.ip, "userAgent": client.user_agent, "country": client.country, "session": who.session_id},
        )
        if fraud.decision == "block":
            problems.append("blocked by fraud rules")
        return {"valid": not problems, "problems": problems, "fraud": fraud.as_dict()}

    # -- workflow steps ----------------------------------------------------------------------------
    def step_validate(self, order_id: str, payment_id: str) -> dict[str, Any]:
        order = self.orders.get(order_id)
        state = self.payments.partition(order_id)
        p = self._find(state, payment_id)
        if p["status"] != rules.PROCESSING:
            raise Refused(f"payment is {p['status']}, not PROCESSING")
        problems = []
        try:
            self._payable(order)
        except Conflict as exc:
            problems.append(exc.message)
        user = self.users.get(order["userId"], consistent=True) or {}
        if user.get("status", "active") != "active":
            problems.append("account is not active")
        missing = missing_profile_fields(user)
        if missing:
            problems.append(f"profile is missing: {', '.join(missing)}")
        if int(order["total"]) != int(p["amount"]) or order["currency"] != p["currency"]:
            problems.append("the order's total changed")
        if problems:  # recorded by the Refused step, with the payment's failure
            raise Refused("; ".join(problems))
        # Nothing is written here: the charge records what the screening found, in its own change.
        return {"orderId": order_id, "paymentId": payment_id, "email": user.get("email")}

    def step_check_method(self, order_id: str, payment_id: str) -> dict[str, Any]:
        p = self._find(self.payments.partition(order_id), payment_id)
        ok, why = self.stripe.check_method(p["method"])
        return {"valid": ok, "problem": why}

    def step_score_fraud(self, order_id: str, payment_id: str) -> dict[str, Any]:
        order = self.orders.get(order_id)
        state = self.payments.partition(order_id)
        p = self._find(state, payment_id)
        user = self.users.get(order["userId"]) or {}
        return self._score(order, user, p.get("client") or {}).as_dict()  # recorded by the charge or the hold

    def _score(self, order: dict[str, Any], user: dict[str, Any], client: dict[str, Any]) -> rules.FraudScore:
        """The fraud rules over the account's history: its devices and IPs as they were before
        the login this payment comes from (the session's device is the one the client named at
        login, ``deviceId``), its paid orders, and the other orders of the last hour."""
        since = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
        session = (user.get("sessions") or {}).get(str(client.get("session") or "")) or {}
        before = rules.known_before(user.get("devices") or [], session.get("createdAt"))
        device_key = (
            session.get("device") or hashlib.sha256(str(client.get("userAgent") or "").encode()).hexdigest()[:16]
        )
        recent = [
            o
            for o in self.order_reads.placed_since(order["userId"], since)
            if o["orderId"] != order["orderId"] and o.get("status") != "EXPIRED"
        ]
        return rules.score_fraud(
            rules.FraudInput(
                amount=int(order["total"]),
                currency=order["currency"],
                first_order=not self.order_reads.ever_paid(order["userId"]),
                orders_last_hour=len(recent) + 1,
                known_device=any(d.get("key") == device_key for d in before) or not before,
                known_ip=any(d.get("ip") == client.get("ip") for d in before) or not before,
                address_country=(order.get("address") or {}).get("country"),
                request_country=client.get("country"),
                spent_last_hour=sum(int(o["total"]) for o in recent if o.get("currency") == order["currency"]),
            )
        )

    def step_charge(
        self, order_id: str, payment_id: str, screen: dict[str, Any] | None = None, email: str | None = None
    ) -> dict[str, Any]:
        """Charge the card, and record with it what validation and screening found (one change,
        one chain row: ``screen`` is the parallel step's result, ``email`` the validated profile's)."""
        state = self.payments.partition(order_id)
        p = self._find(state, payment_id)
        if p["status"] not in (rules.PROCESSING,):
            if p["status"] in (rules.SUCCEEDED, rules.REQUIRES_ACTION):
                return {"outcome": "succeeded" if p["status"] == rules.SUCCEEDED else "requires_action"}
            raise Refused(f"payment is {p['status']}")
        charge = self.stripe.charge(
            int(p["amount"]), p["currency"], p["method"], self._metadata(p), f"pi-{payment_id}", None, _epoch(p)
        )
        if charge.outcome == "processing":  # neither taken nor declined yet: ask again later
            raise Transient(f"PaymentIntent {charge.intent_id} is still processing at Stripe")

        def build(st: dict[str, Any]) -> Any:
            cur = self._find(st, payment_id)
            sets: dict[str, Any] = {
                "intentId": charge.intent_id,
                "clientSecret": charge.client_secret,
                **_screened(screen, email),
            }
            items = []
            if charge.outcome == "declined":
                sets["failure"] = charge.decline or "declined"
            if charge.intent_id:
                items.append(self.payments.intent_request(charge.intent_id, order_id, payment_id))
            items.append(
                self.payments.payment_request(order_id, payment_id, cur["status"], {k: v for k, v in sets.items() if v})
            )
            details = {"paymentId": payment_id, "outcome": charge.outcome, "intentId": charge.intent_id}
            return items, {**details, **({"screen": screen} if screen else {})}, None

        self._change(order_id, f"charge_{charge.outcome}", build, state=state)
        return {"outcome": charge.outcome}

    @staticmethod
    def _metadata(p: dict[str, Any]) -> dict[str, str]:
        return {"orderId": p["orderId"], "paymentId": p["paymentId"], "userId": p["userId"]}

    def step_park(
        self,
        order_id: str,
        payment_id: str,
        kind: str,
        screen: dict[str, Any] | None = None,
        email: str | None = None,
    ) -> dict[str, Any]:
        """Wait for 3-D Secure (``action``) or a manager (``review``) in the Standard workflow; a
        hold records the screening that caused it."""
        order = self.orders.get(order_id)
        target = rules.REQUIRES_ACTION if kind == "action" else rules.HELD

        def build(st: dict[str, Any]) -> Any:
            cur = self._find(st, payment_id)
            if cur["status"] == target:
                return None
            if not rules.can_move(cur["status"], target):
                raise Refused(f"payment is {cur['status']}")
            details = {"paymentId": payment_id, "waitingFor": kind, **({"screen": screen} if screen else {})}
            return [self._move(cur, target, _screened(screen, email))], details, None

        self._change(order_id, "awaiting_" + kind, build)
        self.workflows.start_wait(order_id, payment_id, kind, int(order["reservation"]["expiresAt"]) - int(time.time()))
        return {"waiting": kind}

    def step_wait(self, order_id: str, payment_id: str, kind: str, token: str) -> dict[str, Any]:
        """Keep the task token where the webhook consumer or the manager's decision finds it."""

        def build(st: dict[str, Any]) -> Any:
            cur = self._find(st, payment_id)
            item = self.payments.payment_request(order_id, payment_id, cur["status"], {"waitToken": token})
            return [item], {"paymentId": payment_id, "waitingFor": kind}, cur

        cur = self._change(order_id, "wait_started", build)
        if kind == "action" and cur and cur.get("intentId"):
            # The customer may have finished 3-D Secure before the token was stored: look once.
            charge = self.stripe.retrieve(cur["intentId"])
            if charge.outcome == "succeeded":
                self.workflows.succeed(token, {"phase": "charged"})
        return {"stored": True}

    def step_resume(self, order_id: str, payment_id: str, decision: dict[str, Any]) -> dict[str, Any]:
        phase = str(decision.get("phase") or "charged")
        if phase == "approved":

            def build(st: dict[str, Any]) -> Any:
                cur = self._find(st, payment_id)
                if cur["status"] != rules.HELD:
                    return None
                return (
                    [self._move(cur, rules.PROCESSING, reason="approved by a manager")],
                    {"paymentId": payment_id},
                    None,
                )

            self._change(order_id, "review_approved", build)
        self.workflows.start_checkout(order_id, payment_id, phase)
        return {"resumed": phase}

    def step_abandon(self, order_id: str, payment_id: str, kind: str, error: Any) -> dict[str, Any]:
        """The wait ended without success: 3-D Secure not finished in time or failed, or the
        review rejected or timed out. An unfinished intent is cancelled and the payment fails; one
        the customer finished at the last moment (the cancel comes too late) is refunded."""
        why = _error_text(error)
        state = self.payments.partition(order_id)
        p = self._find(state, payment_id)
        if p.get("intentId") and kind == "action":
            self.stripe.cancel(p["intentId"], f"cancel-{payment_id}")
        self._compensate(order_id, payment_id, why)  # fails it, or refunds a charge that got through
        return {"abandoned": why}

    def _fail(self, order_id: str, payment_id: str, why: str) -> None:
        def build(st: dict[str, Any]) -> Any:
            cur = self._find(st, payment_id)
            if cur["status"] not in rules.OPEN:
                return None
            return (
                [self._move(cur, rules.FAILED, {"failure": why}, reason=why)],
                {"paymentId": payment_id, "why": why},
                None,
            )

        lock = {"open": False}
        self._change(order_id, "payment_failed", build, lock=lock)

    def step_mark_paid(self, order_id: str, payment_id: str) -> dict[str, Any]:
        """Stock committed, order PAID, ledger CHARGE, the platform fee and each vendor's share,
        payment SUCCEEDED: one transaction, so money taken is never left unsplit."""
        order = self.orders.get(order_id)
        state = self.payments.partition(order_id)
        p = self._find(state, payment_id)
        if p["status"] == rules.SUCCEEDED:
            if not p.get("settled"):  # paid before captures carried their settlement
                self._change(order_id, "settlement", self._settle_only(payment_id))
            return self._paid_result(order, p)
        if p["status"] not in (rules.PROCESSING, rules.REQUIRES_ACTION):
            raise Refused(f"payment is {p['status']}")
        charge = self.stripe.retrieve(p["intentId"])  # paid only on a server-seen `succeeded`
        if charge.outcome != "succeeded":
            raise Refused(f"PaymentIntent {p['intentId']} is not succeeded")
        if order["status"] != PENDING_PAYMENT:
            raise Refused(f"order is {order['status']}: the reservation is gone")
        summary = {"paymentId": payment_id, "intentId": p["intentId"], "amount": int(p["amount"])}

        def build(st: dict[str, Any]) -> Any:
            cur = self._find(st, payment_id)
            if cur["status"] == rules.SUCCEEDED:
                return None
            amount = int(cur["amount"])
            fee, shares, settlement = self._settlement_items(cur, amount)
            items = [
                self._move(
                    cur, rules.SUCCEEDED, {"captured": amount, "refundable": amount, "settled": shares, "fee": fee}
                ),
                self.ledger.entry_request(
                    order_id,
                    "CHARGE",
                    payment_id,
                    amount,
                    cur["currency"],
                    {"paymentId": payment_id, "intentId": cur["intentId"]},
                ),
                *settlement,
                # the order keeps what its views and the report read; the intent is the payment's
                *self.orders.paid_items(
                    order,
                    {"paymentId": payment_id, "amount": amount, "status": rules.SUCCEEDED},
                    SYSTEM,
                    int(time.time()),
                ),
            ]
            return items, {**summary, "fee": fee, "vendors": shares}, None

        try:
            self._change(order_id, "payment_captured", build, state=state)
        except Conflict:
            raise Refused("the order's reservation expired before it was paid") from None
        metrics.count("PaymentsSucceeded", Service="payments")
        amount = int(p["amount"])
        return self._paid_result(order, {**p, "status": rules.SUCCEEDED, "captured": amount, "refundable": amount})

    def _settlement_items(self, p: dict[str, Any], captured: int) -> tuple[int, dict[str, int], list[Tagged]]:
        """The platform fee and each vendor's share of ``captured``, as ledger entries written once."""
        fee, shares = rules.settlement(captured, p["lines"], get_settings().platform_fee_bps)
        order_id, payment_id, currency = p["orderId"], p["paymentId"], p["currency"]
        items = [self.ledger.entry_request(order_id, "FEE", payment_id, fee, currency, {"paymentId": payment_id})]
        for vendor, amount in sorted(shares.items()):
            items.append(
                self.ledger.entry_request(
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

    def _settle_only(self, payment_id: str) -> Any:
        def build(st: dict[str, Any]) -> Any:
            cur = self._find(st, payment_id)
            if cur["status"] != rules.SUCCEEDED or cur.get("settled"):
                return None
            fee, shares, items = self._settlement_items(cur, int(cur["captured"]))
            sets = {"settled": shares, "fee": fee}
            items.insert(0, self.payments.payment_request(cur["orderId"], payment_id, rules.SUCCEEDED, sets))
            return items, {"paymentId": payment_id, "fee": fee, "vendors": shares}, None

        return build

    def _paid_result(self, order: dict[str, Any], p: dict[str, Any]) -> dict[str, Any]:
        now = datetime.now(UTC)
        data = {
            "orderId": order["orderId"],
            "paymentId": p["paymentId"],
            "userId": p["userId"],
            "email": p.get("email"),
            "amount": int(p["amount"]),
            "currency": p["currency"],
            "vendorIds": sorted({x["vendorId"] for x in p.get("lines", [])}),
        }
        record = {**data, "intentId": p.get("intentId"), "status": rules.SUCCEEDED, "capturedAt": now.isoformat()}
        created = datetime.fromisoformat(p["createdAt"])
        analytics = {**data, "seconds": round((now - created).total_seconds(), 3), "fraud": p.get("fraud")}
        return {
            # the same event id however often the checkout runs: the customer is emailed once
            "event": json.dumps({**events.envelope("PaymentSucceeded", data), "eventId": f"paid-{p['paymentId']}"}),
            # one JSON line: Firehose batches the lines into objects under transactions/YYYY/MM/DD/HH/
            "record": json.dumps(record) + "\n",
            "analytics": json.dumps(events.envelope("CheckoutCompleted", analytics)),
        }

    def step_finish(
        self,
        order_id: str,
        payment_id: str,
        outcome: str,
        error: Any,
        screen: dict[str, Any] | None = None,
        email: str | None = None,
    ) -> dict[str, Any]:
        """Where the checkout ends when it does not end paid (a deferred charge keeps what the
        screening found, for the retry's charge)."""
        why = _error_text(error)
        if outcome == "failed":
            self._fail(order_id, payment_id, why)
        elif outcome == "deferred":
            self._defer(order_id, payment_id, why, screen, email)
        elif outcome in ("compensate", "broken"):
            self._compensate(order_id, payment_id, why)
        elif outcome == "charge_broken":  # the charge task died: its answer may be lost
            self._compensate(order_id, payment_id, why, charge_lost=True)
        elif outcome == "fanout_failed":
            self._alert("CheckoutFanOutFailed", {"orderId": order_id, "paymentId": payment_id, "error": why})
        return {"outcome": outcome, "why": why}

    def _defer(
        self, order_id: str, payment_id: str, why: str, screen: dict[str, Any] | None, email: str | None
    ) -> None:
        def build(st: dict[str, Any]) -> Any:
            cur = self._find(st, payment_id)
            if cur["status"] != rules.PROCESSING:
                return None
            sets = {"deferred": why, **_screened(screen, email)}
            item = self.payments.payment_request(order_id, payment_id, rules.PROCESSING, sets)
            return [item], {"paymentId": payment_id, "why": why, **({"screen": screen} if screen else {})}, None

        self._change(order_id, "payment_deferred", build)
        queue = aws.queue_url(get_settings().failed_transactions_queue)
        aws.client("sqs").send_message(
            QueueUrl=queue, MessageBody=json.dumps({"kind": "charge", "orderId": order_id, "paymentId": payment_id})
        )

    def retry_deferred(self, message: dict[str, Any]) -> str:
        """The failed-transactions consumer: charge again with the same idempotency key; a
        transient failure raises (the message comes back; after 3 receives, the DLQ)."""
        order_id, payment_id = message["orderId"], message["paymentId"]
        if message.get("kind") == "refund":
            return self.complete_refund(order_id, message["refundId"], queued=True)
        p = self._find(self.payments.partition(order_id), payment_id)
        if p["status"] != rules.PROCESSING:
            return f"payment is {p['status']}"
        try:
            validated = self.step_validate(order_id, payment_id)
        except Refused as exc:  # e.g. the reservation expired meanwhile: the lost charge is refunded
            self._compensate(order_id, payment_id, str(exc), charge_lost=True)
            return "failed"
        outcome = self.step_charge(order_id, payment_id, None, validated.get("email"))[
            "outcome"
        ]  # Transient propagates
        if outcome == "succeeded":
            self.workflows.start_checkout(order_id, payment_id, "charged")
        elif outcome == "requires_action":
            self.step_park(order_id, payment_id, "action")
        else:
            self._fail(order_id, payment_id, "the card was declined")
        return str(outcome)

    def _compensate(
        self, order_id: str, payment_id: str, why: str, found_intent: str | None = None, charge_lost: bool = False
    ) -> None:
        """Leave nothing half-done: money taken comes back, stock held or sold is released.
        ``charge_lost``: a charge was sent and its answer never recorded (the task died, or a
        deferred charge is given up); Stripe is asked whether it took the money."""
        state = self.payments.partition(order_id)
        p = self._find(state, payment_id)
        intent_id = p.get("intentId") or found_intent
        if not intent_id and charge_lost and p["status"] == rules.PROCESSING:
            intent_id = self.stripe.lost_intent(payment_id, _epoch(p))  # asked by our metadata
        charged = bool(intent_id) and self.stripe.retrieve(str(intent_id)).outcome == "succeeded"
        if not charged:
            self._fail(order_id, payment_id, why)
            return
        order = self.orders.get(order_id)
        amount = int(p["amount"]) - int(p.get("refunded", 0))
        stripe_refund = (
            self.stripe.refund(
                str(intent_id),
                amount,
                f"comp-{payment_id}",
                "checkout compensation",
                {"orderId": order_id, "refundId": f"comp-{payment_id}"},
                _epoch(p),
            )
            if amount > 0
            else None
        )

        def build(st: dict[str, Any]) -> Any:
            cur = self._find(st, payment_id)
            if cur["status"] == rules.REFUNDED:
                return None
            captured = int(cur.get("captured", 0)) or int(cur["amount"])  # Stripe took it, either way
            items = [
                self._move(
                    cur,
                    rules.REFUNDED,
                    {
                        "failure": why,
                        "captured": captured,
                        "refundable": 0,
                        "refunded": int(cur.get("refunded", 0)) + amount,
                        "intentId": intent_id,
                    },
                    reason=why,
                )
            ]
            if cur["status"] == rules.SUCCEEDED:  # it was captured in the ledger: reverse it
                items += self._reversal_items(cur, f"comp-{payment_id}", amount)
            else:  # charged at Stripe but never recorded: the ledger gets the charge and its refund
                if not cur.get("intentId"):  # found by replaying the create: its events find us too
                    items.append(self.payments.intent_request(str(intent_id), order_id, payment_id))
                items.append(
                    self.ledger.entry_request(
                        order_id,
                        "CHARGE",
                        payment_id,
                        captured,
                        cur["currency"],
                        {"paymentId": payment_id, "intentId": intent_id},
                    )
                )
            items.append(
                self.ledger.entry_request(
                    order_id,
                    "REFUND",
                    f"comp-{payment_id}",
                    amount,
                    cur["currency"],
                    {"paymentId": payment_id, "stripeRefundId": stripe_refund},
                )
            )
            return items, {"paymentId": payment_id, "refunded": amount, "why": why}, None

        self._change(order_id, "payment_compensated", build, lock={"open": False})
        if order["status"] == PENDING_PAYMENT:
            # An expired hold is released now (a no-op if the sweeper won); a live one stays, so
            # the customer can pay again while it lasts.
            self.orders.expire(order, SYSTEM)
        elif order["status"] == PAID:  # sold units go back on sale, and the order says it was refunded
            items, cancelled = self.orders.transition(
                order, "CANCELLED", SYSTEM, f"checkout failed after payment: {why}"
            )
            tx.commit(items, f"order:{order_id}:compensate")
            done = self.orders.refunded_items(cancelled, int(order["total"]), SYSTEM, "checkout compensation")
            tx.commit(done, f"order:{order_id}:compensated")
        self._alert("PaymentCompensated", {"orderId": order_id, "paymentId": payment_id, "amount": amount, "why": why})

    def _reversal_items(self, p: dict[str, Any], refund_id: str, amount: int) -> list[Tagged]:
        """Take a refund back from what was settled, so the order's ledger stays balanced."""
        settled = {k: int(v) for k, v in (p.get("settled") or {}).items()}
        if not settled:
            return []
        held = {k: v - int((p.get("reversed") or {}).get(k, 0)) for k, v in settled.items()}
        fee = int(p.get("fee", 0)) - int((p.get("reversed") or {}).get("PLATFORM", 0))
        shares = rules.refund_reversal(amount, held, fee)
        items = []
        for who, share in sorted(shares.items()):
            if share == 0:
                continue
            kind = "FEE_REVERSAL" if who == "PLATFORM" else "SETTLEMENT_REVERSAL"
            items.append(
                self.ledger.entry_request(
                    p["orderId"],
                    kind,
                    f"{refund_id}#{who}",
                    share,
                    p["currency"],
                    {"paymentId": p["paymentId"], "refundId": refund_id},
                    merchant_id=None if who == "PLATFORM" else who,
                )
            )
        return items

    # -- refunds ------------------------------------------------------------------------------------
    def refund(
        self, who: Actor, order_id: str, amount: int | None, reason: str, key: str
    ) -> tuple[int, dict[str, Any]]:
        """Reserve the amount (never more than is left, under concurrency too), refund it at
        Stripe with an idempotency key from our refund id, then record it."""
        refund_id = refund_id_for(order_id, key)
        body_hash = _hash({"amount": amount, "reason": reason})
        state = self.payments.partition(order_id)
        existing = next((r for r in state["refunds"] if r["refundId"] == refund_id), None)
        if existing is not None:
            if existing.get("bodyHash") != body_hash:
                raise Unprocessable(
                    "this Idempotency-Key was used with another body",
                    code="idempotency_key_reused",
                    fields={"Idempotency-Key": "reused with another body"},
                )
            if existing["status"] == "PENDING":  # a replay finishes what the first try left
                self.complete_refund(order_id, refund_id)
                existing = next(r for r in self.payments.partition(order_id)["refunds"] if r["refundId"] == refund_id)
            return 201, self._refund_view(existing)
        paid = [p for p in state["payments"] if p["status"] == rules.SUCCEEDED]
        if not paid:
            raise Conflict("this order has no captured payment", code="not_refundable", fields={"orderId": "not paid"})
        p = paid[-1]
        if not p.get("settled"):  # captured before captures carried their settlement: split it first
            self._change(order_id, "settlement", self._settle_only(p["paymentId"]))
            p = self._find(self.payments.partition(order_id), p["paymentId"])
        left = int(p["refundable"])
        want = left if amount is None else amount
        if want <= 0 or want > left:
            raise Conflict(
                f"{want} is more than the {left} left to refund" if want > 0 else "nothing is left to refund",
                code="refund_exceeds_captured",
                fields={"amount": f"at most {left}"},
            )

        def build(st: dict[str, Any]) -> Any:
            cur = self._find(st, p["paymentId"])
            refund = {
                "refundId": refund_id,
                "orderId": order_id,
                "paymentId": cur["paymentId"],
                "amount": want,
                "currency": cur["currency"],
                "reason": reason,
                "status": "PENDING",
                "bodyHash": body_hash,
                "by": who.user_id,
                "createdAt": now_iso(),
            }
            items = [
                self.payments.payment_request(
                    order_id, cur["paymentId"], rules.SUCCEEDED, {}, add={"refundable": -want, "refunded": want}
                ),
                self.payments.new_refund_request(refund),
            ]
            return items, {"refundId": refund_id, "amount": want, "reason": reason}, refund

        try:
            self._change(order_id, "refund_requested", build, actor=who)
        except Conflict:
            again = self.payments.partition(order_id)
            if any(r["refundId"] == refund_id for r in again["refunds"]):
                return self.refund(who, order_id, amount, reason, key)
            left = int(self._find(again, p["paymentId"])["refundable"])
            raise Conflict(
                f"{want} is more than the {left} left to refund",
                code="refund_exceeds_captured",
                fields={"amount": f"at most {left}"},
            ) from None
        self.complete_refund(order_id, refund_id)
        done = next(r for r in self.payments.partition(order_id)["refunds"] if r["refundId"] == refund_id)
        return 201, self._refund_view(done)

    def complete_refund(self, order_id: str, refund_id: str, queued: bool = False) -> str:
        """Refund at Stripe (key ``re-<refundId>``), then record it. A transient failure is retried
        through the failed-transactions queue: from the API it is queued; from that queue's
        consumer (``queued``) it raises, so SQS backs off and dead-letters after 3 receives."""
        state = self.payments.partition(order_id)
        r = next((x for x in state["refunds"] if x["refundId"] == refund_id), None)
        if r is None or r["status"] != "PENDING":
            return "done"
        p = self._find(state, r["paymentId"])
        try:
            stripe_id = self.stripe.refund(
                p["intentId"],
                int(r["amount"]),
                f"re-{refund_id}",
                r.get("reason"),
                {"orderId": order_id, "refundId": refund_id},
                _epoch(r),  # a redrive days later looks the refund up first
            )
        except Transient:
            if queued:
                raise
            queue = aws.queue_url(get_settings().failed_transactions_queue)
            aws.client("sqs").send_message(
                QueueUrl=queue,
                MessageBody=json.dumps(
                    {"kind": "refund", "orderId": order_id, "paymentId": p["paymentId"], "refundId": refund_id}
                ),
            )
            return "pending"
        except Exception as exc:
            self._refund_failed(order_id, r, str(exc))
            return "failed"

        def build(st: dict[str, Any]) -> Any:
            rr = next(x for x in st["refunds"] if x["refundId"] == refund_id)
            if rr["status"] != "PENDING":
                return None
            cur = self._find(st, rr["paymentId"])
            amount = int(rr["amount"])
            order = self.orders.get(order_id)  # afresh each try: a concurrent refund moves it too
            done = amount + sum(
                int(x["amount"]) for x in st["refunds"] if x["status"] == "SUCCEEDED" and x["refundId"] != refund_id
            )
            items = [
                self.payments.refund_request(
                    order_id, refund_id, "PENDING", {"status": "SUCCEEDED", "stripeRefundId": stripe_id}
                ),
                self.ledger.entry_request(
                    order_id,
                    "REFUND",
                    refund_id,
                    amount,
                    cur["currency"],
                    {"paymentId": cur["paymentId"], "stripeRefundId": stripe_id},
                ),
                *self._reversal_items(cur, refund_id, amount),
                *self.orders.refunded_items(order, done, SYSTEM, rr.get("reason")),
            ]
            reversed_now = {}
            for item in items:
                if item.tag.startswith("ledger:SETTLEMENT_REVERSAL#") or item.tag.startswith("ledger:FEE_REVERSAL#"):
                    who = item.tag.rsplit("#", 1)[1]
                    reversed_now[who] = int(item.request["Put"]["Item"]["amount"]["N"])
            if reversed_now:
                total = {k: int(v) for k, v in (cur.get("reversed") or {}).items()}
                for k, v in reversed_now.items():
                    total[k] = total.get(k, 0) + v
                items.append(
                    self.payments.payment_request(order_id, cur["paymentId"], rules.SUCCEEDED, {"reversed": total})
                )
            return items, {"refundId": refund_id, "amount": amount, "stripeRefundId": stripe_id}, cur

        cur = self._change(order_id, "refund_succeeded", build)
        if cur is not None:
            metrics.count("Refunds", Service="payments")
            self._publish(
                "RefundSucceeded",
                {
                    "orderId": order_id,
                    "refundId": refund_id,
                    "amount": int(r["amount"]),
                    "currency": r["currency"],
                    "email": cur.get("email"),
                    "userId": cur["userId"],
                },
            )
        return "succeeded"

    def _refund_failed(self, order_id: str, r: dict[str, Any], why: str) -> None:
        def build(st: dict[str, Any]) -> Any:
            items = [
                self.payments.refund_request(order_id, r["refundId"], "PENDING", {"status": "FAILED", "failure": why}),
                self.payments.payment_request(
                    order_id,
                    r["paymentId"],
                    None,
                    {},
                    add={"refundable": int(r["amount"]), "refunded": -int(r["amount"])},
                ),
            ]
            return items, {"refundId": r["refundId"], "why": why}, None

        self._change(order_id, "refund_failed", build)
        self._alert("RefundFailed", {"orderId": order_id, "refundId": r["refundId"], "why": why})

    def refund_cancelled(self, order_id: str, reason: str) -> str:
        """A paid order was cancelled or rejected: refund what is left, by itself, until it is
        done. Each try after a FAILED one gets a key of its own (a replay of the failed key would
        answer FAILED forever); a failure raises, so the message comes back (then the DLQ, alarmed)."""
        state = self.payments.partition(order_id)
        if not any(p["status"] == rules.SUCCEEDED and int(p["refundable"]) > 0 for p in state["payments"]):
            return "nothing to refund"
        failed = sum(1 for r in state["refunds"] if r.get("by") == SYSTEM.user_id and r["status"] == "FAILED")
        key = "order-cancelled" if failed == 0 else f"order-cancelled:{failed}"
        _, refund = self.refund(SYSTEM, order_id, None, reason, key)
        if refund["status"] == "FAILED":
            raise RuntimeError(f"the automatic refund of order {order_id} failed; it is tried again")
        return "refunded" if refund["status"] == "SUCCEEDED" else "refund pending"

    def settle_expired(self, order_id: str) -> str:
        """The order's reservation ran out: no open payment may outlive it. A checkout that
        died without reaching its Catch (a runtime error, a timed-out execution) leaves one
        behind; money Stripe took for it goes back, an unfinished intent is cancelled."""
        state = self.payments.partition(order_id)
        open_ = [p for p in state["payments"] if p["status"] in rules.OPEN]
        for p in open_:
            why = "the reservation expired before the payment completed"
            if p.get("intentId"):
                self.stripe.cancel(p["intentId"], f"cancel-{p['paymentId']}")  # a no-op once it succeeded
            # A charge whose answer never came back (a deferred one, a task that died) may have
            # taken money: Stripe is asked before the payment is failed.
            self._compensate(order_id, p["paymentId"], why, charge_lost=not p.get("intentId"))
        return f"settled {len(open_)} open payment(s)" if open_ else "no open payment"

    # -- fraud reviews (the orders domain's approve/reject) ---------------------------------------------
    def resolve(self, order_id: str, approve: bool, actor: Actor, reason: str | None) -> None:
        state = self.payments.partition(order_id)
        held = [p for p in state["payments"] if p["status"] == rules.HELD]
        if not held:
            if approve:
                raise Conflict(
                    "this order is not held for review", code="invalid_transition", fields={"status": "PENDING_PAYMENT"}
                )
            return
        p = held[-1]
        if not p.get("waitToken"):
            raise Conflict("the review is not ready yet; retry in a moment", code="contention")
        if approve:
            self.workflows.succeed(p["waitToken"], {"phase": "approved", "by": actor.user_id})
            return
        try:
            self.workflows.fail(p["waitToken"], "Rejected", reason or "rejected by a manager")
        except Conflict:  # a retried reject: the wait already ended (the payment fails meanwhile)
            log.info("review already ended", extra={"orderId": order_id, "paymentId": p["paymentId"]})

    # -- webhooks ---------------------------------------------------------------------------------------
    def apply_event(self, event: dict[str, Any]) -> str:
        """Apply one verified Stripe event (the queue's consumer). Never moves anything backwards."""
        problem = rules.event_problem(event)  # the route checked it; a message queued before may not be
        if problem:
            event_id = str(event.get("id"))[:255] if isinstance(event, dict) else "-"
            self._alert("StripeEventMalformed", {"eventId": event_id, "problem": problem})
            return "malformed"
        kind = event["type"]
        obj = (event.get("data") or {}).get("object") or {}
        if kind == "charge.dispute.created":
            self._alert(
                "ChargeDisputed", {"eventId": event["id"], "charge": obj.get("charge"), "amount": obj.get("amount")}
            )
            return "alerted"
        intent_id = obj.get("payment_intent") if kind.startswith("charge.") else obj.get("id")
        ref = self.payments.intent(str(intent_id)) if intent_id else None
        meta = obj.get("metadata") or {}
        order_id = (ref or {}).get("orderId") or meta.get("orderId")
        payment_id = (ref or {}).get("paymentId") or meta.get("paymentId")
        if not order_id or not payment_id:
            self._alert("StripeEventUnknownOrder", {"eventId": event["id"], "type": kind, "intent": intent_id})
            return "unknown order"
        state = self.payments.partition(str(order_id))
        p = next((x for x in state["payments"] if x["paymentId"] == payment_id), None)
        if p is None:
            self._alert("StripeEventUnknownOrder", {"eventId": event["id"], "type": kind, "orderId": order_id})
            return "unknown payment"
        if kind == "charge.refunded":
            if int(obj.get("amount_refunded", 0)) != int(p.get("refunded", 0)):
                self._alert(
                    "RefundDrift",
                    {"orderId": order_id, "stripe": obj.get("amount_refunded"), "ours": p.get("refunded")},
                )
                return "drift"
            return "in step"
        problems = rules.mismatch(p, obj.get("amount"), obj.get("currency"), meta.get("orderId"))
        if not problems and p.get("intentId") and intent_id != p["intentId"]:
            # Another PaymentIntent for the same payment: a second charge. Give it back.
            if kind == "payment_intent.succeeded":
                self.stripe.refund(
                    str(intent_id),
                    int(obj["amount"]),
                    f"orphan-{intent_id}",
                    "duplicate charge",
                    {"orderId": str(order_id), "refundId": f"orphan-{intent_id}"},
                    int(obj.get("created") or 0) or None,
                )
            self._alert(
                "OrphanPaymentIntent",
                {"eventId": event["id"], "orderId": order_id, "intent": intent_id, "ours": p["intentId"], "type": kind},
            )
            return "orphan intent" + (" refunded" if kind == "payment_intent.succeeded" else "")
        if problems:
            self._alert("StripeEventMismatch", {"eventId": event["id"], "orderId": order_id, "problems": problems})
            return "mismatch"
        if kind == "payment_intent.succeeded" and p["status"] == rules.FAILED:
            # Stripe took money for a payment we had given up (its answer came too late, or after
            # the reservation ran out): Stripe's record wins, and the money goes back.
            self._compensate(
                str(order_id), str(payment_id), "charged at Stripe after the payment was given up", str(intent_id)
            )
            return "late charge refunded"
        target = rules.event_moves(kind, p["status"])
        if target is None:
            return "no move"
        token = p.get("waitToken")
        if p["status"] == rules.REQUIRES_ACTION:
            if not token:
                raise Transient("the checkout is not waiting yet")  # the message comes back shortly
            if target == rules.SUCCEEDED:
                self.workflows.succeed(token, {"phase": "charged"})
            elif target == rules.FAILED:
                self.workflows.fail(token, "Declined", "authentication failed")
            return "resumed"
        return "left to the running checkout"

    # -- helpers ------------------------------------------------------------------------------------------
    def _publish(self, kind: str, data: dict[str, Any]) -> None:
        topic = get_settings().payment_events_topic_arn
        if topic:
            events.publish(topic, kind, data)

    @staticmethod
    def _alert(kind: str, data: dict[str, Any]) -> None:
        log.warning("payment alert", extra={"alert": kind, **{k: str(v) for k, v in data.items()}})
        topic = get_settings().alerts_topic_arn
        if topic:
            events.publish(topic, kind, data)

    def verify_chain(self, order_id: str) -> list[str]:
        """Problems in an order's payment audit chain; empty when intact. The head is read first:
        rows a later change appended meanwhile are beyond it and not judged."""
        head = self.payments.partition(order_id)["current"] or {}
        top = int(head.get("chainSeq", 0))
        rows = [r for r in self.chain.rows(order_id) if int(r["seq"]) <= top]
        problems = rules.verify_chain(rows)
        if top and not rows:
            return ["every row of the chain is missing"]
        if rows and int(rows[-1]["seq"]) != top:
            problems.append(f"the chain ends at row {rows[-1]['seq']} but its head says {top}")
        elif rows and head.get("chainHash") != rows[-1].get("hash"):
            problems.append("the last row is not the chain's head")
        return problems


def _present(view: dict[str, Any]) -> dict[str, Any]:
    """An answer without the fields that have no value (the contract has them optional, not null)."""
    return {k: v for k, v in view.items() if v is not None}
