"""Claims in the idempotency table: a key is processed once even when a message is redelivered."""

from __future__ import annotations

import json
import time
from typing import Any

from botocore.exceptions import ClientError

from chalicelib.core import aws
from chalicelib.core.config import get_settings
from chalicelib.core.dynamo import Read, is_conditional_failure, to_item, values
from chalicelib.core.tx import Tagged

IN_PROGRESS, DONE = "in_progress", "done"


def claim(key: str, ttl_seconds: int = 7 * 86400, lease_seconds: int = 300) -> bool:
    """True if this caller now owns ``key``. A stale in-progress claim (a crashed worker) can be
    taken over after its lease; a done one never."""
    now = int(time.time())
    try:
        aws.client("dynamodb").put_item(
            TableName=get_settings().idempotency_table,
            Item={
                "k": {"S": key},
                "state": {"S": IN_PROGRESS},
                "leaseUntil": {"N": str(now + lease_seconds)},
                "expiresAt": {"N": str(now + ttl_seconds)},
            },
            ConditionExpression="attribute_not_exists(k) OR (#s = :p AND leaseUntil < :now)",
            ExpressionAttributeNames={"#s": "state"},
            ExpressionAttributeValues=values(p=IN_PROGRESS, now=now),
        )
    except ClientError as exc:
        if is_conditional_failure(exc):
            return False
        raise
    return True


def request_read(key: str | None) -> Read[dict[str, Any] | None]:
    """A stored request record, read (consistently) with other items in one call."""
    keys = [{"k": {"S": key}}] if key else []
    return Read(get_settings().idempotency_table, keys, lambda rows: rows[0] if rows else None, consistent=True)


def record_request(key: str, body_hash: str, status: int, response: dict[str, Any], ttl_seconds: int) -> Tagged:
    """Transaction element (tagged ``idempotency``) storing a request's response under its key; it fails if the
    key is taken, which is how a concurrent duplicate is caught inside the same transaction."""
    now = int(time.time())
    item = {
        "k": key,
        "bodyHash": body_hash,
        "statusCode": status,
        "response": json.dumps(response),
        "expiresAt": now + ttl_seconds,
    }
    return Tagged(
        "idempotency",
        {
            "Put": {
                "TableName": get_settings().idempotency_table,
                "Item": to_item(item),
                "ConditionExpression": "attribute_not_exists(k)",
            }
        },
    )


def complete(key: str) -> None:
    aws.client("dynamodb").update_item(
        TableName=get_settings().idempotency_table,
        Key={"k": {"S": key}},
        UpdateExpression="SET #s = :d",
        ExpressionAttributeNames={"#s": "state"},
        ExpressionAttributeValues=values(d=DONE),
    )


def release(key: str) -> None:
    """Give a claim back after a failure so the redelivered message can try again."""
    aws.client("dynamodb").delete_item(TableName=get_settings().idempotency_table, Key={"k": {"S": key}})
