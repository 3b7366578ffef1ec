"""``FakeStripe`` (tests/fakes.py) with what the fast payment tests need of Stripe besides:

- a clock: objects are created at the test's time, and Stripe forgets an idempotency key after
  24 hours; a call whose keys may be gone (``since`` older than ``KEY_HORIZON_SECONDS``) looks
  the object up by our metadata first, as the real adapter (``gateway.StripeGateway``) does;
- faults: ``lose(call, n)`` does the work and loses the answer (a read timeout after Stripe
  acted), ``fail(call, n)`` answers nothing and does nothing; both raise ``Transient``;
  ``hang(call, n)`` does the work and never returns: the Lambda task times out (``TaskTimedOut``);
- intents that stay ``processing`` (``charge_processing()``), which Stripe will not cancel, until
  ``land()`` makes one succeed and returns the ``payment_intent.succeeded`` event it sends;
- Stripe's own refusals: no refund of an intent that did not succeed, none beyond its amount.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable
from typing import Any

from chalicelib.payments.gateway import KEY_HORIZON_SECONDS, Charge, Refused, Transient
from chalicelib.payments.outcomes import ChargeOutcome
from tests.fakes import DECLINED, FakeStripe

FORGETS_KEYS_AFTER = 24 * 3600
_ids = itertools.count(1)
OUTCOMES = {
    "succeeded": ChargeOutcome.SUCCEEDED,
    "processing": ChargeOutcome.PROCESSING,
    "requires_action": ChargeOutcome.REQUIRES_ACTION,
}


class TaskTimedOut(Exception):
    """A Lambda task that ran out of time: Step Functions names it ``States.Timeout``."""

    asl_error = "States.Timeout"


class StripeDouble(FakeStripe):
    def __init__(self, clock: Callable[[], float]) -> None:
        super().__init__()
        self.clock = clock
        self.key_times: dict[str, float] = {}
        self.faults: list[tuple[str, str]] = []  # (call, "lost", "down" or "hung"), used in order
        self.next_status: str | None = None
        self._lock = threading.RLock()

    # -- what a test arranges
    def lose(self, call: str, times: int = 1) -> None:
        self.faults += [(call, "lost")] * times

    def fail(self, call: str, times: int = 1) -> None:
        self.faults += [(call, "down")] * times

    def hang(self, call: str, times: int = 1) -> None:
        self.faults += [(call, "hung")] * times

    def charge_processing(self) -> None:
        """The next intent created stays ``processing`` (a bank that answers late)."""
        self.next_status = "processing"

    def land(self, intent_id: str) -> dict[str, Any]:
        """A processing intent succeeds; the event Stripe then sends."""
        pi = self.intents[intent_id]
        assert pi["status"] == "processing", pi
        pi["status"] = "succeeded"
        return self.event("payment_intent.succeeded", pi)

    @staticmethod
    def event(kind: str, obj: dict[str, Any]) -> dict[str, Any]:
        return {"id": f"evt_double{next(_ids)}", "type": kind, "data": {"object": dict(obj)}}

    # -- the port (chalicelib/payments/ports.py: Stripe)
    def charge(
        self,
        amount: int,
        currency: str,
        method: str,
        metadata: dict[str, str],
        key: str,
        return_url: str | None,
        since: int | None = None,
        customer: str | None = None,
    ) -> Charge:
        with self._lock:
            fault = self._fault("charge")
            pi = None
            if since is not None and self.clock() - since > KEY_HORIZON_SECONDS:
                pi = next(
                    (
                        p
                        for p in self._intents_for(metadata["paymentId"], since)
                        if p["status"] != "requires_payment_method"
                    ),
                    None,
                )
            if pi is None:
                intent_id = self._remembered(key)
                if intent_id is None:
                    intent_id = self._remember(key, f"pi_double{next(_ids)}")
                    status = self.next_status or ("requires_payment_method" if method in DECLINED else "succeeded")
                    self.next_status = None
                    self.intents[intent_id] = {
                        "id": intent_id,
                        "amount": amount,
                        "currency": currency.lower(),
                        "metadata": dict(metadata),
                        "status": status,
                        "created": int(self.clock()),
                    }
                pi = self.intents[intent_id]
            answer = self._charge_of(pi)
            if pi["status"] == "requires_payment_method":
                answer = Charge(
                    ChargeOutcome.DECLINED, pi["id"], None, int(pi["amount"]), currency, "Your card was declined."
                )
            result: Charge = self._answer(fault, answer)
            return result

    @staticmethod
    def _charge_of(pi: dict[str, Any]) -> Charge:
        outcome = OUTCOMES.get(pi["status"], ChargeOutcome.DECLINED)
        return Charge(outcome, pi["id"], None, int(pi["amount"]), str(pi["currency"]))

    def lost_intent(self, payment_id: str, since: int) -> str | None:
        """As the adapter: every intent of the payment that did not succeed is cancelled (one
        still processing cannot be), then the one that took money, if any."""
        with self._lock:
            mine = self._intents_for(payment_id, since)
            for pi in mine:
                self.cancel(pi["id"], f"cancel-{pi['id']}")
            took = [pi["id"] for pi in mine if pi["status"] == "succeeded"]
            return took[0] if took else None

    def cancel(self, intent_id: str, key: str) -> None:
        pi = self.intents[intent_id]
        if pi["status"] not in ("succeeded", "processing"):  # Stripe refuses those; the adapter shrugs
            pi["status"] = "canceled"

    def refund(
        self,
        intent_id: str,
        amount: int,
        key: str,
        reason: str | None = None,
        metadata: dict[str, str] | None = None,
        since: int | None = None,
    ) -> str:
        with self._lock:
            fault = self._fault("refund")
            meta = {"reason": reason or "", **(metadata or {})}
            if since is not None and self.clock() - since > KEY_HORIZON_SECONDS and meta.get("refundId"):
                mine = [r for r in self.refunds.values() if r["payment_intent"] == intent_id]
                found = next((r["id"] for r in mine if r["metadata"].get("refundId") == meta["refundId"]), None)
                if found:
                    return str(self._answer(fault, found))
            refund_id = self._remembered(key)
            if refund_id is None:
                pi = self.intents[intent_id]
                given = sum(int(r["amount"]) for r in self.refunds.values() if r["payment_intent"] == intent_id)
                if pi["status"] != "succeeded" or given + amount > int(pi["amount"]):
                    raise Refused(
                        f"InvalidRequestError: refund of {amount} on {intent_id} ({pi['status']}, {given} refunded)"
                    )
                refund_id = self._remember(key, f"re_double{next(_ids)}")
                self.refunds[refund_id] = {
                    "id": refund_id,
                    "payment_intent": intent_id,
                    "amount": amount,
                    "metadata": meta,
                }
            return str(self._answer(fault, refund_id))

    # -- inside
    def _fault(self, call: str) -> str | None:
        for i, (which, mode) in enumerate(self.faults):
            if which == call:
                del self.faults[i]
                if mode == "down":
                    raise Transient(f"Stripe did not answer the {call} (injected)")
                return mode
        return None

    @staticmethod
    def _answer(fault: str | None, answer: Any) -> Any:
        if fault == "lost":
            raise Transient("the answer was lost after Stripe acted (injected)")
        if fault == "hung":
            raise TaskTimedOut("the task ran out of time waiting for Stripe (injected)")
        return answer

    def _remembered(self, key: str) -> str | None:
        at = self.key_times.get(key)
        if at is not None and self.clock() - at > FORGETS_KEYS_AFTER:
            del self.keys[key], self.key_times[key]
        return self.keys.get(key)

    def _remember(self, key: str, object_id: str) -> str:
        self.keys[key], self.key_times[key] = object_id, self.clock()
        return object_id

    def _intents_for(self, payment_id: str, since: int) -> list[dict[str, Any]]:
        return [
            p
            for p in self.intents.values()
            if p["metadata"].get("paymentId") == payment_id and p["created"] >= since - 300
        ]

    def refunded(self, intent_id: str) -> int:
        return sum(int(r["amount"]) for r in self.refunds.values() if r["payment_intent"] == intent_id)
