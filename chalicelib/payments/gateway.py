"""Stripe, behind one small class: the official SDK, keys from Secrets Manager, every POST with an
idempotency key derived from our own ids, and Stripe's errors turned into three kinds: declined
(the customer's problem), transient (retry with the same key) and refused (a bug or bad input)."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from chalicelib.core import aws
from chalicelib.core.config import get_settings
from chalicelib.payments import rules
from chalicelib.payments.outcomes import ChargeOutcome


class Transient(Exception):
    """Stripe timed out, was unreachable, rate-limited us or failed (5xx): retry the same call."""


class BadEvent(ValueError):
    """A correctly signed body that is not a Stripe event we can apply."""


class Refused(Exception):
    """Stripe refused the request for a reason retrying will not fix."""


# Stripe may forget an idempotency key after 24 hours: a create older than this is never
# replayed blindly; the object is looked up by our metadata first.
KEY_HORIZON_SECONDS = 23 * 3600


@dataclass(frozen=True)
class Charge:
    outcome: ChargeOutcome
    intent_id: str | None
    client_secret: str | None
    amount: int
    currency: str
    decline: str | None = None


@dataclass(frozen=True)
class Keys:
    secret_key: str
    publishable_key: str
    webhook_secret: str


_keys: Keys | None = None
_client: Any = None
_lock = threading.Lock()


def keys() -> Keys:
    """Read once per container from the ``freshcart/<stage>/stripe`` secret."""
    global _keys
    if _keys is None:
        with _lock:
            if _keys is None:
                raw = aws.client("secretsmanager").get_secret_value(SecretId=get_settings().stripe_secret_id)
                data = json.loads(raw["SecretString"])
                _keys = Keys(
                    str(data.get("secretKey") or ""),
                    str(data.get("publishableKey") or ""),
                    str(data.get("webhookSecret") or ""),
                )
    return _keys


def client() -> Any:
    global _client
    if _client is None:
        import stripe  # here: routes that never pay do not pay for the import

        k = keys()
        if not k.secret_key:
            raise Refused("Stripe is not configured: set secretKey in the stage's stripe secret")
        s = get_settings()
        base = {"api": s.stripe_api_base} if s.stripe_api_base else None
        with _lock:
            if _client is None:
                _client = stripe.StripeClient(
                    k.secret_key,
                    base_addresses=base,  # type: ignore[arg-type]
                    max_network_retries=0,  # our workflow retries, with the same idempotency key
                    http_client=stripe.RequestsClient(timeout=s.stripe_timeout_seconds),
                )
    return _client


def reset() -> None:
    global _keys, _client
    _keys, _client = None, None


def _call(fn: Any, params: dict[str, Any], key: str | None = None) -> Any:
    import stripe

    try:
        return fn(params=params, options={"idempotency_key": key} if key else {})
    except (stripe.APIConnectionError, stripe.RateLimitError) as exc:
        raise Transient(f"{type(exc).__name__}: {exc.user_message or exc}") from None
    except stripe.APIError as exc:
        raise Transient(f"Stripe error {exc.http_status}: {exc.user_message or exc}") from None
    except stripe.StripeError as exc:
        if exc.http_status and (exc.http_status >= 500 or exc.http_status == 409):  # 409: the same key in flight
            raise Transient(f"Stripe error {exc.http_status}") from None
        if isinstance(exc, stripe.CardError):
            raise
        raise Refused(f"{type(exc).__name__}: {exc.user_message or exc}") from None


class _NotFound(Exception):
    pass


@contextlib.contextmanager
def _stripe_errors(not_found: Any = None) -> Iterator[None]:
    """Stripe's errors on a read as ours: Transient (retry later) or Refused; a 404 as _NotFound
    when the caller asks for it."""
    import stripe

    try:
        yield
    except stripe.StripeError as exc:
        if not_found is not None and isinstance(exc, not_found) and exc.http_status == 404:
            raise _NotFound() from None
        if isinstance(exc, (stripe.APIConnectionError, stripe.RateLimitError, stripe.APIError)) or (
            exc.http_status and exc.http_status >= 500
        ):
            raise Transient(f"{type(exc).__name__}: {exc.user_message or exc}") from None
        raise Refused(f"{type(exc).__name__}: {exc.user_message or exc}") from None


class StripeGateway:
    """``clock``: now in epoch seconds, against which a key's age is judged (``KEY_HORIZON_SECONDS``)."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock

    def check_method(self, method: str) -> tuple[bool, str | None]:
        """Can this PaymentMethod be charged? (it exists and is a card)."""
        import stripe

        try:
            pm = _call(lambda params, options: client().payment_methods.retrieve(method, options=options), {})
        except (Refused, stripe.CardError) as exc:
            return False, str(exc)
        if getattr(pm, "type", "card") != "card":
            return False, f"payment method type {pm.type} is not accepted"
        return True, None

    def card_country(self, method: str) -> str | None:
        """Where the card behind a PaymentMethod was issued (``card.country``), or None when
        Stripe cannot say (not a card, not found, no answer): the fraud rule then stays silent."""
        try:
            pm = _call(lambda params, options: client().payment_methods.retrieve(method, options=options), {})
        except Exception:
            return None
        card = (pm.to_dict() if hasattr(pm, "to_dict") else {}).get("card") or {}
        return str(card["country"]) if card.get("country") else None

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
        """Create a PaymentIntent, then confirm it: two calls, each idempotent on its own key
        (``key`` and ``confirm-<key>``). ``since``: when this charge's keys were first used (epoch
        seconds); past ``KEY_HORIZON_SECONDS`` the keys may be gone at Stripe, so the intent made
        for ``metadata["paymentId"]`` is looked up first and confirmed, never created again.
        ``customer``: an off-session charge of the customer's saved method (a subscription's
        order), created and confirmed in one call, as Stripe takes ``off_session``."""
        import stripe

        if customer:
            return self._off_session(amount, currency, method, metadata, key, customer, since)
        confirm_key = f"confirm-{key}"
        pi = None
        if since is not None and self.clock() - since > KEY_HORIZON_SECONDS:
            found = self.intents_for(metadata["paymentId"], since)
            done = [c for c in found if c.outcome != "declined"]
            if done:
                return done[0]  # it took money, is taking it, or waits for 3-D Secure: no second charge
            if found:
                pi = _call(lambda params, options: client().payment_intents.retrieve(found[0].intent_id), {})
                confirm_key = f"confirm-{key}-{int(self.clock())}"  # the first confirm's key may be gone
        if pi is None:
            pi = self._create(amount, currency, method, metadata, key)
        params: dict[str, Any] = {"return_url": return_url} if return_url else {}
        if pi.status not in ("requires_confirmation", "requires_payment_method"):  # a replayed create
            return self._charge_of(pi, amount, currency)
        try:
            pi = _call(
                lambda params, options: client().payment_intents.confirm(pi.id, params=params, options=options),
                params,
                confirm_key,
            )
        except stripe.CardError as exc:
            body: dict[str, Any] = exc.json_body if isinstance(exc.json_body, dict) else {}
            intent = body.get("error", {}).get("payment_intent") or {}
            return Charge(
                ChargeOutcome.DECLINED,
                intent.get("id") or pi.id,
                None,
                amount,
                currency,
                exc.user_message or "declined",
            )
        return self._charge_of(pi, amount, currency)

    def _off_session(
        self,
        amount: int,
        currency: str,
        method: str,
        metadata: dict[str, str],
        key: str,
        customer: str,
        since: int | None,
    ) -> Charge:
        import stripe

        if since is not None and self.clock() - since > KEY_HORIZON_SECONDS:
            found = self.intents_for(metadata["paymentId"], since)
            if found:
                return found[0]  # the key may be gone: what Stripe holds for this payment stands
        params: dict[str, Any] = {
            "amount": amount,
            "currency": currency.lower(),
            "payment_method": method,
            "customer": customer,
            "metadata": metadata,
            "payment_method_types": ["card"],
            "confirm": True,
            "off_session": True,
        }
        try:
            pi = _call(client().payment_intents.create, params, key)
        except stripe.CardError as exc:
            body: dict[str, Any] = exc.json_body if isinstance(exc.json_body, dict) else {}
            error = body.get("error", {})
            intent = error.get("payment_intent") or {}
            outcome = (
                ChargeOutcome.REQUIRES_ACTION
                if error.get("code") == "authentication_required"
                else ChargeOutcome.DECLINED
            )
            return Charge(
                outcome, intent.get("id"), intent.get("client_secret"), amount, currency, exc.user_message or "declined"
            )
        return self._charge_of(pi, amount, currency)

    @staticmethod
    def _create(amount: int, currency: str, method: str, metadata: dict[str, str], key: str) -> Any:
        params: dict[str, Any] = {
            "amount": amount,
            "currency": currency.lower(),
            "payment_method": method,
            "metadata": metadata,
            "payment_method_types": ["card"],
        }
        return _call(client().payment_intents.create, params, key)

    def lost_intent(self, payment_id: str, since: int) -> str | None:
        """The PaymentIntent that took money for ``payment_id``, when the charge's answer never
        came back (the task died, the reservation ran out first): Stripe is asked by our
        metadata, not by replaying a create whose key may be gone. Every intent of that payment
        that did not succeed is cancelled first, so none can take money later."""
        found = self.intents_for(payment_id, since)
        for c in found:
            if c.outcome != ChargeOutcome.SUCCEEDED and c.intent_id:
                self.cancel(c.intent_id, f"cancel-{c.intent_id}")
        again = [self.retrieve(str(c.intent_id)) for c in found if c.intent_id]
        took = [c for c in again if c.outcome == ChargeOutcome.SUCCEEDED]  # a cancel may come too late
        return took[0].intent_id if took else None

    def intents_for(self, payment_id: str, since: int) -> list[Charge]:
        """The PaymentIntents Stripe holds for one of our payments (``metadata.paymentId``),
        created since ``since`` (epoch seconds; a few minutes of clock skew allowed), newest
        first. A listing, not Stripe's search: search is not offered in every country (India)."""
        params: dict[str, Any] = {"limit": 100}
        if not get_settings().stripe_api_base:
            params["created"] = {"gte": since - 300}
        out = []
        with _stripe_errors():
            for pi in client().payment_intents.list(params=params).auto_paging_iter():
                raw = pi.to_dict()
                if (raw.get("metadata") or {}).get("paymentId") == payment_id and int(raw["created"]) >= since - 300:
                    out.append(self._charge_of(pi, int(raw["amount"]), str(raw["currency"])))
        return out

    def retrieve(self, intent_id: str) -> Charge:
        pi = _call(lambda params, options: client().payment_intents.retrieve(intent_id, options=options), {})
        return self._charge_of(pi, int(pi.amount), str(pi.currency))

    @staticmethod
    def _charge_of(pi: Any, amount: int, currency: str) -> Charge:
        status = str(pi.status)
        if status == "succeeded":
            outcome = ChargeOutcome.SUCCEEDED
        elif status in ("requires_action", "requires_source_action"):
            outcome = ChargeOutcome.REQUIRES_ACTION
        elif status == "processing":  # not declined: the money may still come
            outcome = ChargeOutcome.PROCESSING
        else:
            outcome = ChargeOutcome.DECLINED
        return Charge(outcome, str(pi.id), getattr(pi, "client_secret", None), int(pi.amount), str(pi.currency), None)

    def refund(
        self,
        intent_id: str,
        amount: int,
        key: str,
        reason: str | None = None,
        metadata: dict[str, str] | None = None,
        since: int | None = None,
    ) -> str:
        """Refund ``amount`` of a PaymentIntent; the refund's id. Idempotent on ``key``; the refund
        carries ``metadata`` (our ``orderId``, ``refundId``) so it can be found again: past
        ``KEY_HORIZON_SECONDS`` after ``since`` the intent's refunds are listed first and one with
        our ``refundId`` is the answer, never a second refund."""
        meta = {"reason": reason or "", **(metadata or {})}
        if since is not None and self.clock() - since > KEY_HORIZON_SECONDS and meta.get("refundId"):
            found = self.refund_of(intent_id, meta["refundId"])
            if found:
                return found
        params: dict[str, Any] = {"payment_intent": intent_id, "amount": amount, "metadata": meta}
        refund = _call(client().refunds.create, params, key)
        return str(refund.id)

    def refunds_of(self, intent_id: str) -> list[dict[str, Any]]:
        """Every refund Stripe holds for ``intent_id`` (``id``, ``amount``, ``status``, our
        ``refundId`` when we made it)."""
        out = []
        with _stripe_errors():
            for r in client().refunds.list(params={"payment_intent": intent_id, "limit": 100}).auto_paging_iter():
                raw = r.to_dict()
                refund_id = (raw.get("metadata") or {}).get("refundId")
                out.append(
                    {"id": raw["id"], "amount": int(raw["amount"]), "status": raw.get("status"), "refundId": refund_id}
                )
        return out

    def refund_of(self, intent_id: str, refund_id: str) -> str | None:
        """Stripe's refund of ``intent_id`` that carries our ``refundId``, if any (not failed)."""
        with _stripe_errors():
            listed = client().refunds.list(params={"payment_intent": intent_id, "limit": 100})
            for r in listed.auto_paging_iter():
                raw = r.to_dict()
                if (raw.get("metadata") or {}).get("refundId") == refund_id and raw.get("status") not in (
                    "failed",
                    "canceled",
                ):
                    return str(raw["id"])
        return None

    def cancel(self, intent_id: str, key: str) -> None:
        """Cancel an unfinished PaymentIntent (3-D Secure never completed)."""
        with contextlib.suppress(Refused):  # already succeeded, failed or cancelled: nothing to cancel
            _call(lambda params, options: client().payment_intents.cancel(intent_id, options=options), {}, key)

    def verify_event(self, payload: bytes, signature: str | None) -> dict[str, Any]:
        """The event, if ``signature`` signs ``payload`` with our webhook secret within 300 s;
        ValueError otherwise."""
        import stripe

        if not signature:
            raise ValueError("Stripe-Signature header is missing")
        secret = keys().webhook_secret
        if not secret:
            raise ValueError("no webhook secret configured")
        try:
            stripe.WebhookSignature.verify_header(payload.decode("utf-8"), signature, secret, tolerance=300)
        except (stripe.SignatureVerificationError, UnicodeDecodeError) as exc:
            raise ValueError(str(exc).split("\n")[0]) from None
        try:
            event = json.loads(payload)
        except (ValueError, RecursionError):
            raise BadEvent("the body is not JSON (or nested too deeply)") from None
        problem = rules.event_problem(event)
        if problem:
            raise BadEvent(problem)
        return dict(event)
