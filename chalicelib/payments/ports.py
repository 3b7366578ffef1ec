"""What the payment services need from outside, as small Protocols. The composition root
(``chalicelib/bootstrap.py``) passes the real adapters (``gateway.StripeGateway``,
``adapters.py``); tests may pass in-memory fakes (``tests/fakes.py``), held to the same
behaviour by ``tests/contract``."""

from __future__ import annotations

from typing import Any, Protocol

from chalicelib.audit.repo import Actor
from chalicelib.core.tx import Tagged
from chalicelib.payments.gateway import Charge


class Clock(Protocol):
    """Now, in epoch seconds (``time.time``; a test's clock may be a day ahead)."""

    def __call__(self) -> float: ...


class Stripe(Protocol):
    def check_method(self, method: str) -> tuple[bool, str | None]: ...
    def card_country(self, method: str) -> str | None: ...
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
    ) -> Charge: ...
    def lost_intent(self, payment_id: str, since: int) -> str | None: ...
    def retrieve(self, intent_id: str) -> Charge: ...
    def refund(
        self,
        intent_id: str,
        amount: int,
        key: str,
        reason: str | None = None,
        metadata: dict[str, str] | None = None,
        since: int | None = None,
    ) -> str: ...
    def cancel(self, intent_id: str, key: str) -> None: ...
    def refunds_of(self, intent_id: str) -> list[dict[str, Any]]: ...


class Workflows(Protocol):
    """The Express checkout and the Standard wait."""

    def start_checkout(self, order_id: str, payment_id: str, phase: str) -> None: ...
    def start_wait(self, order_id: str, payment_id: str, kind: str, timeout: int) -> None: ...
    def succeed(self, token: str, output: dict[str, Any]) -> None: ...
    def fail(self, token: str, error: str, cause: str) -> None: ...


class Bus(Protocol):
    """Domain events (the payment topic) and operator alerts (the alerts topic)."""

    def publish(self, kind: str, data: dict[str, Any]) -> None: ...
    def alert(self, kind: str, data: dict[str, Any]) -> None: ...


class RetryQueue(Protocol):
    """The failed-transactions queue: a charge or refund to try again later."""

    def send(self, message: dict[str, Any]) -> None: ...


class Orders(Protocol):
    """What payments need of the orders domain (chalicelib/orders/lifecycle.py)."""

    def get(self, order_id: str) -> dict[str, Any]: ...
    def paid_items(self, order: dict[str, Any], payment: dict[str, Any], actor: Actor, now: int) -> list[Tagged]: ...
    def refunded_items(
        self, order: dict[str, Any], refunded: int, actor: Actor, reason: str | None
    ) -> list[Tagged]: ...
    def expire(self, order: dict[str, Any], actor: Actor) -> dict[str, Any] | None: ...
    def hold_for_review(self, order: dict[str, Any], seconds: int) -> dict[str, Any]: ...


class OrderReads(Protocol):
    def order_read(self, order_id: str) -> Any: ...
    def placed_since(self, user_id: str, since: str) -> list[dict[str, Any]]: ...
    def ever_paid(self, user_id: str) -> bool: ...


class Users(Protocol):
    def get(self, user_id: str, consistent: bool = False) -> dict[str, Any] | None: ...
