"""SQS handler for the notifications queue (subscribed to the user-events topic, and filtered to
what customers and vendors are told from the payment and inventory events topics)."""

from __future__ import annotations

from typing import Any

from chalice import Blueprint
from chalice.app import SQSEvent

from chalicelib.core import logs
from chalicelib.core.config import resource_name, stage_name
from chalicelib.core.events import parse_envelope

bp = Blueprint(__name__)
log = logs.get_logger("freshcart.notifications")


@bp.on_sqs_message(queue=resource_name(stage_name(), "notifications"), batch_size=10)
def handle_notifications(event: SQSEvent) -> dict[str, Any]:
    """Each record stands alone: a failing one is reported back (ReportBatchItemFailures) and is
    retried, then dead-lettered after maxReceiveCount; the rest of the batch is not redone."""
    from chalicelib.notifications import service  # here, not at import: API cold starts skip it

    failures = []
    for record in event:
        try:
            envelope = parse_envelope(record.body)
            token = logs.correlation_id.set(str(envelope.get("correlationId") or "-"))
            try:
                service.handle(envelope)
            finally:
                logs.correlation_id.reset(token)
        except Exception:
            log.exception("notification failed", extra={"messageId": record.to_dict()["messageId"]})
            failures.append({"itemIdentifier": record.to_dict()["messageId"]})
    return {"batchItemFailures": failures}
