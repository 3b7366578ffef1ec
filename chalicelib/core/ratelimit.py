"""Fixed-window counters in DynamoDB (atomic ADD), expiring through TTL and the window key."""

from __future__ import annotations

import time
from dataclasses import dataclass

from chalicelib.core import aws
from chalicelib.core.config import get_settings
from chalicelib.core.dynamo import Read, values


@dataclass(frozen=True)
class Window:
    key: str
    ends_at: int

    def retry_after(self) -> int:
        return max(1, self.ends_at - int(time.time()))


def window(name: str, window_seconds: int, now: float | None = None) -> Window:
    t = int(now if now is not None else time.time())
    start = t - t % window_seconds
    return Window(key=f"{name}:{start}", ends_at=start + window_seconds)


def hit(w: Window) -> int:
    """Count one event in the window; returns the count including this one."""
    resp = aws.client("dynamodb").update_item(
        TableName=get_settings().ratelimit_table,
        Key={"k": {"S": w.key}},
        UpdateExpression="ADD n :one SET expiresAt = if_not_exists(expiresAt, :exp)",
        ExpressionAttributeValues=values(one=1, exp=w.ends_at + 60),
        ReturnValues="UPDATED_NEW",
    )
    return int(resp["Attributes"]["n"]["N"])


def count_read(w: Window) -> Read[int]:
    """The window's count so far, for a caller batching it with other reads (``read_all``)."""
    return Read(get_settings().ratelimit_table, [{"k": {"S": w.key}}], lambda rows: int(rows[0]["n"]) if rows else 0)


def clear(w: Window) -> None:
    aws.client("dynamodb").delete_item(TableName=get_settings().ratelimit_table, Key={"k": {"S": w.key}})
