"""Stripe's own records, as reconciliation reads them (reads only): the PaymentIntents, Refunds
and balance transactions of a day, and single objects by id. Beside ``gateway.py``, which moves
money; both use its client and its error mapping."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from chalicelib.core.config import get_settings
from chalicelib.payments.gateway import _NotFound, _stripe_errors, client


def _record_of(obj: Any) -> dict[str, Any]:
    """A PaymentIntent or Refund as the plain fields reconciliation compares. ``amount_received``
    is what a PaymentIntent actually took (localstripe has no such field: ``amount`` then)."""
    raw = obj.to_dict() if hasattr(obj, "to_dict") else dict(obj)
    metadata = raw.get("metadata") or {}
    received = raw.get("amount_received")
    kind = str(raw.get("object"))
    return {
        "id": str(raw["id"]),
        "object": kind,
        "amount": int(received if received is not None and kind == "payment_intent" else raw["amount"]),
        "currency": str(raw["currency"]),
        "status": str(raw.get("status")),
        "created": int(raw["created"]),
        "orderId": metadata.get("orderId"),
        "paymentIntent": raw.get("payment_intent"),
    }


class StripeRecords:
    def intents_created(self, start: int, end: int) -> Iterator[dict[str, Any]]:
        """Every PaymentIntent created in [start, end) (epoch seconds), every page."""
        return self._created(client().payment_intents, start, end)

    def refunds_created(self, start: int, end: int) -> Iterator[dict[str, Any]]:
        """Every Refund created in [start, end) (epoch seconds), every page."""
        return self._created(client().refunds, start, end)

    def balance_transactions(self, start: int, end: int) -> Iterator[dict[str, Any]]:
        """Stripe's balance transactions of charges created in [start, end): the money as it
        moved, with Stripe's fee (``source``: the charge; its PaymentIntent: ``intent_of_charge``)."""
        params: dict[str, Any] = {"limit": 100}
        if not get_settings().stripe_api_base:
            params["created"] = {"gte": start, "lt": end}
        with _stripe_errors():
            for txn in client().balance_transactions.list(params=params).auto_paging_iter():
                raw = txn.to_dict()
                if start <= int(raw["created"]) < end and raw.get("type") in ("charge", "payment"):
                    yield {k: raw.get(k) for k in ("id", "amount", "fee", "currency", "source", "created")}

    def intent_of_charge(self, charge_id: str) -> str | None:
        with _stripe_errors():
            charge = client().charges.retrieve(charge_id).to_dict()
        return str(charge["payment_intent"]) if charge.get("payment_intent") else None

    def intent_record(self, intent_id: str) -> dict[str, Any] | None:
        """One PaymentIntent as a record, or None if Stripe has no such object."""
        return self._record(lambda: client().payment_intents.retrieve(intent_id))

    def refund_record(self, refund_id: str) -> dict[str, Any] | None:
        return self._record(lambda: client().refunds.retrieve(refund_id))

    @staticmethod
    def _created(service: Any, start: int, end: int) -> Iterator[dict[str, Any]]:
        params: dict[str, Any] = {"limit": 100}
        if not get_settings().stripe_api_base:
            params["created"] = {"gte": start, "lt": end}
        # localstripe (STRIPE_API_BASE set: the local stage and the tests) refuses a ``created``
        # filter on both lists ("Unexpected created" for PaymentIntents, an unknown argument for
        # Refunds); it gets none and every record is filtered here instead, as it is anyway.
        with _stripe_errors():
            for obj in service.list(params=params).auto_paging_iter():
                if start <= int(obj["created"]) < end:
                    yield _record_of(obj)

    @staticmethod
    def _record(fetch: Any) -> dict[str, Any] | None:
        import stripe

        try:
            with _stripe_errors(not_found=stripe.InvalidRequestError):
                return _record_of(fetch())
        except _NotFound:
            return None
