"""Domain events: one envelope format, published to SNS with the type as a message attribute."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

from chalicelib.core import aws, logs

ENVELOPE_VERSION = 1


def envelope(event_type: str, data: dict[str, Any], version: int = ENVELOPE_VERSION) -> dict[str, Any]:
    return {
        "eventId": str(uuid.uuid4()),
        "type": event_type,
        "version": version,
        "time": datetime.now(UTC).isoformat(),
        "correlationId": logs.correlation_id.get(),
        "data": data,
    }


def publish(topic_arn: str, event_type: str, data: dict[str, Any], event_id: str | None = None) -> dict[str, Any]:
    """``event_id``: the same id for the same happening however often it is published (a retried
    handler), so consumers that dedupe by it act once."""
    event = envelope(event_type, data) | ({"eventId": event_id} if event_id else {})
    aws.client("sns").publish(
        TopicArn=topic_arn,
        Message=json.dumps(event),
        MessageAttributes={"type": {"DataType": "String", "StringValue": event_type}},
    )
    return event


def parse_envelope(body: str) -> dict[str, Any]:
    """Accept a raw envelope or one wrapped by SNS (when raw delivery is off)."""
    message = json.loads(body)
    if isinstance(message, dict) and message.get("Type") == "Notification" and "Message" in message:
        message = json.loads(message["Message"])
    if not isinstance(message, dict) or "type" not in message or "eventId" not in message:
        raise ValueError("not a freshcart event envelope")
    return message
