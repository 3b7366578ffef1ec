"""The checkout's Lambda tasks and the payment queues' consumers."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from chalice import Blueprint, Cron
from chalice.app import SQSEvent

from chalicelib import bootstrap
from chalicelib.core import logs, messages
from chalicelib.core.config import resource_name, stage_name
from chalicelib.core.events import parse_envelope

bp = Blueprint(__name__)
log = logs.get_logger("freshcart.payments")


def _correlated(
    step: Callable[[dict[str, Any], Any], dict[str, Any]],
) -> Callable[[dict[str, Any], Any], dict[str, Any]]:
    """A checkout task runs under the correlation id of the request that started the checkout."""

    @functools.wraps(step)
    def run(event: dict[str, Any], context: Any) -> dict[str, Any]:
        token = logs.correlation_id.set(str(event.get("correlationId") or "-"))
        try:
            return step(event, context)
        finally:
            logs.correlation_id.reset(token)

    return run


def _ids(event: dict[str, Any]) -> tuple[str, str]:
    return str(event["orderId"]), str(event["paymentId"])


@bp.lambda_function(name="checkout_validate")
@_correlated
def checkout_validate(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return bootstrap.payments().steps.validate(*_ids(event))


@bp.lambda_function(name="checkout_check_method")
@_correlated
def checkout_check_method(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return bootstrap.payments().steps.check_method(*_ids(event))


@bp.lambda_function(name="checkout_score_fraud")
@_correlated
def checkout_score_fraud(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return bootstrap.payments().steps.score_fraud(*_ids(event))


@bp.lambda_function(name="checkout_charge")
@_correlated
def checkout_charge(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return bootstrap.payments().steps.charge(*_ids(event), event.get("screen"), event.get("email"), event.get("run"))


@bp.lambda_function(name="checkout_park")
@_correlated
def checkout_park(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return bootstrap.payments().steps.park(
        *_ids(event), str(event["kind"]), event.get("screen"), event.get("email"), event.get("run")
    )


@bp.lambda_function(name="checkout_mark_paid")
@_correlated
def checkout_mark_paid(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return bootstrap.payments().steps.mark_paid(*_ids(event), event.get("run"))


@bp.lambda_function(name="checkout_finish")
@_correlated
def checkout_finish(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return bootstrap.payments().steps.finish(
        *_ids(event),
        str(event["outcome"]),
        event.get("error"),
        event.get("screen"),
        event.get("email"),
        event.get("run"),
    )


@bp.lambda_function(name="checkout_wait")
@_correlated
def checkout_wait(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return bootstrap.payments().steps.wait(*_ids(event), str(event["kind"]), str(event["token"]))


@bp.lambda_function(name="checkout_resume")
@_correlated
def checkout_resume(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return bootstrap.payments().steps.resume(*_ids(event), dict(event.get("decision") or {}))


@bp.lambda_function(name="checkout_abandon")
@_correlated
def checkout_abandon(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return bootstrap.payments().steps.abandon(*_ids(event), str(event["kind"]), event.get("error"))


def _each(event: SQSEvent, apply: Any) -> dict[str, Any]:
    return messages.each(event, apply, log, "payment message")


@bp.on_sqs_message(queue=resource_name(stage_name(), "stripe-events"), batch_size=10)
def payments_stripe_events(event: SQSEvent) -> dict[str, Any]:
    """Verified Stripe events queued by POST /webhooks/stripe."""
    return _each(event, bootstrap.payments().apply_event)


@bp.on_sqs_message(queue=resource_name(stage_name(), "failed-transactions"), batch_size=1)
def payments_retry_failed(event: SQSEvent) -> dict[str, Any]:
    """Charges and refunds that failed for a transient reason, retried with the same keys."""
    return _each(event, bootstrap.payments().retry_deferred)


@bp.on_sqs_message(queue=resource_name(stage_name(), "refunds"), batch_size=10)
def payments_refunds(event: SQSEvent) -> dict[str, Any]:
    """Order events: a paid order cancelled or rejected is refunded in full (OrderCancelled,
    OrderRejected); an expired one keeps no open payment (OrderExpired)."""

    def apply(body: dict[str, Any]) -> str:
        envelope = parse_envelope(json.dumps(body))
        data = envelope["data"]
        if envelope["type"] == "OrderExpired":
            return bootstrap.payments().settle_expired(data["orderId"])
        if not data.get("refundRequired"):
            return "no refund required"
        return bootstrap.payments().refund_cancelled(data["orderId"], f"order {data['status'].lower()}")

    return _each(event, apply)


def previous_day(event: Any) -> str:
    """The UTC day before the scheduled event's time, or ``detail.date`` when a run names one."""
    raw = event.to_dict() if hasattr(event, "to_dict") else dict(event or {})
    named = (raw.get("detail") or {}).get("date")
    if named:
        return str(datetime.fromisoformat(str(named)).date())
    at = str(raw.get("time") or "")
    when = datetime.fromisoformat(at.replace("Z", "+00:00")) if at else datetime.now(UTC)
    return str((when.astimezone(UTC) - timedelta(days=1)).date())


@bp.schedule(Cron(30, 0, "*", "*", "?", "*"), description="Yesterday's ledger against Stripe: alert on differences")
def payment_reconciliation(event: Any) -> dict[str, Any]:
    """Nightly at 00:30 UTC for the previous UTC day (``make job NAME=payment_reconciliation``
    runs it now for yesterday). Reports and alerts; never changes the ledger or Stripe."""
    return bootstrap.payment_reconciler().run(previous_day(event))
