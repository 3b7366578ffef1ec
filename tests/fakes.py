"""In-memory stand-ins for the payment ports (chalicelib/payments/ports.py), for tests that run
without moto or a local Stripe. ``tests/integration/test_payment_ports.py`` holds ``FakeStripe``
to the same behaviour as the real adapter over localstripe, so the fake cannot drift."""

from __future__ import annotations

import itertools
import time
from typing import Any

from chalicelib.payments.gateway import Charge
from chalicelib.payments.outcomes import ChargeOutcome
from chalicelib.payments.records import LedgerEntry

_ids = itertools.count(1)
DECLINED = {"pm_card_visa_chargeDeclined"}
COUNTRIES = {"pm_card_visa": "IN", "pm_card_gb": "GB"}


class FakeStripe:
    """Stripe as the payment services use it: intents with our metadata, idempotency keys,
    refunds, and the test cards' outcomes (``pm_card_visa`` succeeds, ``…chargeDeclined`` is
    declined, an unknown id is not a usable method)."""

    def __init__(self) -> None:
        self.intents: dict[str, dict[str, Any]] = {}
        self.refunds: dict[str, dict[str, Any]] = {}
        self.keys: dict[str, str] = {}  # idempotency key -> the object it made

    def check_method(self, method: str) -> tuple[bool, str | None]:
        if method in COUNTRIES or method in DECLINED:
            return True, None
        return False, f"No such PaymentMethod: '{method}'"

    def card_country(self, method: str) -> str | None:
        return COUNTRIES.get(method, "IN" if method in DECLINED else None)

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
        intent_id = self.keys.get(key)
        if intent_id is None:
            intent_id = self.keys[key] = f"pi_fake{next(_ids)}"
            status = "requires_payment_method" if method in DECLINED else "succeeded"
            self.intents[intent_id] = {
                "id": intent_id,
                "amount": amount,
                "currency": currency.lower(),
                "metadata": dict(metadata),
                "status": status,
                "created": int(time.time()),
                **({"customer": customer, "off_session": True} if customer else {}),
            }
        pi = self.intents[intent_id]
        if pi["status"] == "requires_payment_method":
            return Charge(ChargeOutcome.DECLINED, intent_id, None, amount, currency, "Your card was declined.")
        return self._charge_of(pi)

    @staticmethod
    def _charge_of(pi: dict[str, Any]) -> Charge:
        outcome = ChargeOutcome.SUCCEEDED if pi["status"] == "succeeded" else ChargeOutcome.DECLINED
        return Charge(outcome, pi["id"], None, int(pi["amount"]), str(pi["currency"]))

    def retrieve(self, intent_id: str) -> Charge:
        return self._charge_of(self.intents[intent_id])

    def lost_intent(self, payment_id: str, since: int) -> str | None:
        mine = [pi for pi in self.intents.values() if pi["metadata"].get("paymentId") == payment_id]
        for pi in mine:
            if pi["status"] != "succeeded":
                pi["status"] = "canceled"
        took = [pi["id"] for pi in mine if pi["status"] == "succeeded"]
        return took[0] if took else None

    def refund(
        self,
        intent_id: str,
        amount: int,
        key: str,
        reason: str | None = None,
        metadata: dict[str, str] | None = None,
        since: int | None = None,
    ) -> str:
        refund_id = self.keys.get(key)
        if refund_id is None:
            refund_id = self.keys[key] = f"re_fake{next(_ids)}"
            meta = {"reason": reason or "", **(metadata or {})}
            self.refunds[refund_id] = {"id": refund_id, "payment_intent": intent_id, "amount": amount, "metadata": meta}
        return refund_id

    def refunds_of(self, intent_id: str) -> list[dict[str, Any]]:
        return [
            {"id": r["id"], "amount": r["amount"], "status": "succeeded", "refundId": r["metadata"].get("refundId")}
            for r in self.refunds.values()
            if r["payment_intent"] == intent_id
        ]

    def cancel(self, intent_id: str, key: str) -> None:
        pi = self.intents[intent_id]
        if pi["status"] != "succeeded":
            pi["status"] = "canceled"


class MemoryWorkflows:
    """Records the checkout runs and waits started, and the waits ended."""

    def __init__(self) -> None:
        self.started: list[tuple[str, str, str]] = []
        self.waits: list[tuple[str, str, str, int]] = []
        self.ended: list[tuple[str, str]] = []

    def start_checkout(self, order_id: str, payment_id: str, phase: str) -> None:
        self.started.append((order_id, payment_id, phase))

    def start_wait(self, order_id: str, payment_id: str, kind: str, timeout: int) -> None:
        self.waits.append((order_id, payment_id, kind, timeout))

    def succeed(self, token: str, output: dict[str, Any]) -> None:
        self.ended.append((token, "succeeded"))

    def fail(self, token: str, error: str, cause: str) -> None:
        self.ended.append((token, error))


class MemoryBus:
    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []
        self.alerts: list[tuple[str, dict[str, Any]]] = []

    def publish(self, kind: str, data: dict[str, Any]) -> None:
        self.events.append((kind, data))

    def alert(self, kind: str, data: dict[str, Any]) -> None:
        self.alerts.append((kind, data))


class MemoryQueue:
    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    def send(self, message: dict[str, Any]) -> None:
        from chalicelib.core import logs

        self.sent.append({**message, "correlationId": logs.correlation_id.get()})


class FakeOrderReads:
    """The orders domain's history of one account, as the fraud screen asks for it."""

    def __init__(self, recent: list[dict[str, Any]] | None = None, paid_before: bool = False) -> None:
        self.recent, self.paid_before = recent or [], paid_before

    def order_read(self, order_id: str) -> Any:
        raise NotImplementedError

    def placed_since(self, user_id: str, since: str) -> list[dict[str, Any]]:
        return list(self.recent)

    def ever_paid(self, user_id: str) -> bool:
        return self.paid_before


def ledger_entry(kind: str, amount: int, **fields: Any) -> LedgerEntry:
    """A ledger entry for the pure rules (order ``o1``, INR, 2030-01-01 unless ``fields`` say)."""
    base: dict[str, Any] = {"order_id": "o1", "entry_id": kind, "currency": "INR", "day": "2030-01-01"}
    return LedgerEntry(kind=kind, amount=amount, created_at="2030-01-01T00:00:00+00:00", **{**base, **fields})
