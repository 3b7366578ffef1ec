"""A customer's saved cards (``/users/me/payment-methods``): saved with a SetupIntent confirmed by
the customer (3-D Secure where the bank asks), one default, charged off-session by the
subscription job through the normal checkout."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from chalicelib.core import logs
from chalicelib.core.errors import NotFound, ServiceUnavailable
from chalicelib.payments.gateway import Refused, Transient
from chalicelib.payments.repo import PaymentsRepo
from chalicelib.payments.wallet import StripeWallet

log = logs.get_logger("freshcart.payments")


@contextlib.contextmanager
def _stripe() -> Iterator[None]:
    """Stripe unreachable, or refusing what we ask of it (not configured): a 503, never a 500."""
    try:
        yield
    except (Transient, Refused) as exc:
        log.warning("saved cards: Stripe did not serve", extra={"error": str(exc)})
        raise ServiceUnavailable("Stripe did not answer; try again shortly") from None


@dataclass
class SavedMethods:
    payments: PaymentsRepo
    wallet: StripeWallet

    def _customer(self, user_id: str, email: str | None) -> str:
        saved = self.payments.customer(user_id)
        if saved:
            return str(saved["customerId"])
        customer = self.wallet.create_customer(user_id, email)
        self.payments.put_customer(user_id, customer)
        return str((self.payments.customer(user_id) or {}).get("customerId") or customer)

    def start(self, user_id: str, email: str | None, key: str) -> dict[str, Any]:
        """A SetupIntent the customer confirms (Stripe.js, or locally localstripe's confirm)."""
        with _stripe():
            setup_id, secret = self.wallet.setup_intent(self._customer(user_id, email), f"setup-{user_id}-{key}")
        return {"setupIntentId": setup_id, "clientSecret": secret}

    def list(self, user_id: str) -> dict[str, Any]:
        saved = self.payments.customer(user_id)
        if not saved:
            return {"items": []}
        with _stripe():
            cards = self.wallet.cards(str(saved["customerId"]))
        default = saved.get("defaultMethod")
        if default not in {c.payment_method_id for c in cards}:
            default = cards[0].payment_method_id if cards else None  # the first saved, until one is chosen
        return {
            "items": [
                {
                    "paymentMethodId": c.payment_method_id,
                    "brand": c.brand,
                    "last4": c.last4,
                    "default": c.payment_method_id == default,
                }
                for c in cards
            ]
        }

    def default(self, user_id: str) -> tuple[str, str] | None:
        """(customer, default card) for an off-session charge; None without a saved card."""
        saved = self.payments.customer(user_id)
        chosen = next((m for m in self.list(user_id)["items"] if m["default"]), None)
        return (str(saved["customerId"]), str(chosen["paymentMethodId"])) if saved and chosen else None

    def choose(self, user_id: str, method: str) -> dict[str, Any]:
        self._own(user_id, method)
        self.payments.set_default_method(user_id, method)
        return self.list(user_id)

    def remove(self, user_id: str, method: str) -> None:
        self._own(user_id, method)
        with _stripe():
            self.wallet.remove(method)
        if (self.payments.customer(user_id) or {}).get("defaultMethod") == method:
            self.payments.set_default_method(user_id, None)

    def _own(self, user_id: str, method: str) -> None:
        if not any(m["paymentMethodId"] == method for m in self.list(user_id)["items"]):
            raise NotFound("payment method not found", fields={"paymentMethodId": "not one of your saved cards"})
