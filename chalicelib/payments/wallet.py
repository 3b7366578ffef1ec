"""Stripe's side of a customer's saved cards: one Stripe Customer per user, SetupIntents to save a
card for off-session use, the cards listed and removed. The only code that calls these APIs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from chalicelib.payments.gateway import _call, _NotFound, _stripe_errors, client


@dataclass(frozen=True)
class Card:
    payment_method_id: str
    brand: str
    last4: str


class StripeWallet:
    def create_customer(self, user_id: str, email: str | None) -> str:
        """The user's Stripe Customer, created once (the key is the user's)."""
        params = {"metadata": {"userId": user_id}, **({"email": email} if email else {})}
        return str(_call(client().customers.create, params, f"customer-{user_id}").id)

    def setup_intent(self, customer: str, key: str) -> tuple[str, str]:
        """A SetupIntent for saving a card for off-session charges: (id, client secret)."""
        params = {"customer": customer, "usage": "off_session", "payment_method_types": ["card"]}
        si = _call(client().setup_intents.create, params, key)
        return str(si.id), str(si.client_secret)

    def cards(self, customer: str) -> list[Card]:
        with _stripe_errors():
            found = client().payment_methods.list(params={"customer": customer, "type": "card", "limit": 100})
        out = []
        for pm in found.data:
            card: dict[str, Any] = pm.to_dict().get("card") or {}
            out.append(Card(str(pm.id), str(card.get("brand") or "card"), str(card.get("last4") or "")))
        return out

    def remove(self, method: str) -> bool:
        """Detach a card from its customer; False when Stripe has no such card."""
        import stripe

        try:
            with _stripe_errors(not_found=stripe.InvalidRequestError):
                client().payment_methods.detach(method)
        except _NotFound:
            return False
        return True
