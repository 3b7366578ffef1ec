"""DynamoDB stream records -> domain events on SNS. Each event's id is the stream record's id,
so a redelivered batch republishes the same ids and consumers deduplicate."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from boto3.dynamodb.types import TypeDeserializer

from chalicelib.core import aws, logs
from chalicelib.core.dynamo import plain
from chalicelib.core.events import envelope

log = logs.get_logger("freshcart.streams")
_de = TypeDeserializer()

# (eventName, old image, new image) -> [(event type, data)]
Deriver = Callable[[str, dict[str, Any] | None, dict[str, Any] | None], list[tuple[str, dict[str, Any]]]]


def image(record: dict[str, Any], which: str) -> dict[str, Any] | None:
    raw = record.get("dynamodb", {}).get(which)
    return {k: plain(_de.deserialize(v)) for k, v in raw.items()} if raw else None


def publish_changes(event: dict[str, Any], topic_arn: str, derive: Deriver) -> dict[str, Any]:
    """Publish what each record means; report failed records so only they are retried. The
    envelope carries the correlation id stored on the changed item by the request that changed it."""
    failures = []
    for record in event.get("Records", []):
        try:
            new = image(record, "NewImage")
            token = logs.correlation_id.set(str((new or {}).get("correlationId") or "-"))
            try:
                derived = derive(record["eventName"], image(record, "OldImage"), new)
                messages = [
                    {**envelope(t, d), "eventId": f"{record['eventID']}:{i}"} for i, (t, d) in enumerate(derived)
                ]
            finally:
                logs.correlation_id.reset(token)
            for message in messages:
                aws.client("sns").publish(
                    TopicArn=topic_arn,
                    Message=json.dumps(message, default=str),
                    MessageAttributes={"type": {"DataType": "String", "StringValue": message["type"]}},
                )
        except Exception:
            log.exception("stream record failed", extra={"eventID": record.get("eventID")})
            failures.append({"itemIdentifier": record.get("dynamodb", {}).get("SequenceNumber")})
            break  # stream order matters: retry from the first failure
    return {"batchItemFailures": failures}
