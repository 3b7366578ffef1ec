"""The in-app feed in the notifications table: every notice sent is also a feed item.

``USER#<userId>`` / ``DEVICE#<deviceId>``: a phone registered for push (its SNS endpoint).
``USER#<userId>`` / ``N#<notificationId>``: one notice. The id starts with the time its event happened
(milliseconds, zero-padded), so the partition read backwards is the feed newest first; it ends
with a hash of the event and the recipient, so a redelivered event (the same time, the same
hash) writes no second item: the put is conditional, the in-app channel's once-only claim. Items expire after a year.
"""

from __future__ import annotations

import hashlib
import time
from typing import Any

from botocore.exceptions import ClientError

from chalicelib.core import aws
from chalicelib.core.config import get_settings
from chalicelib.core.dynamo import Read, from_item, is_conditional_failure, ping_read, query_page, to_item, values
from chalicelib.core.errors import NotFound

KEEP_SECONDS = 365 * 86400


def notification_id(event_id: str, recipient: str, at_ms: int) -> str:
    return f"{at_ms:013d}{hashlib.sha256(f'{event_id}:{recipient}'.encode()).hexdigest()[:19]}"


class FeedRepo:
    @property
    def table(self) -> str:
        return get_settings().notifications_table

    @property
    def ddb(self) -> Any:
        return aws.client("dynamodb")

    def ping(self) -> Read[None]:
        return ping_read(self.table)

    def add(self, user_id: str, item: dict[str, Any]) -> bool:
        """Write a feed item once; False when this event already gave this user one (its id is
        the event's time and a hash of the event and the recipient: a redelivery has the same)."""
        row = {
            "pk": f"USER#{user_id}",
            "sk": f"N#{item['notificationId']}",
            **item,
            "read": False,
            "expiresAt": int(time.time()) + KEEP_SECONDS,
        }
        try:
            self.ddb.put_item(TableName=self.table, Item=to_item(row), ConditionExpression="attribute_not_exists(pk)")
        except ClientError as exc:
            if is_conditional_failure(exc):
                return False
            raise
        return True

    def page(
        self, user_id: str, limit: int, cursor: dict[str, Any] | None
    ) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
        """Newest first (``N#`` items only; the ``DEVICE#`` ones sort before them)."""
        items, nxt = query_page(
            self.ddb,
            self.table,
            ("pk", f"USER#{user_id}"),
            limit,
            cursor,
            newest_first=True,
            sort_between=("sk", "N#", "N#~"),
        )
        return [{k: v for k, v in i.items() if k != "expiresAt"} for i in items], nxt

    # -- devices ---------------------------------------------------------------------------------
    def put_device(self, user_id: str, device: dict[str, Any]) -> None:
        item = {"pk": f"USER#{user_id}", "sk": f"DEVICE#{device['deviceId']}", **device}
        self.ddb.put_item(TableName=self.table, Item=to_item(item))

    def devices(self, user_id: str) -> list[dict[str, Any]]:
        items, _ = query_page(
            self.ddb, self.table, ("pk", f"USER#{user_id}"), 20, None, sort_between=("sk", "DEVICE#", "DEVICE#~")
        )
        return items

    def remove_device(self, user_id: str, device_id: str) -> dict[str, Any] | None:
        resp = self.ddb.delete_item(
            TableName=self.table,
            Key=to_item({"pk": f"USER#{user_id}", "sk": f"DEVICE#{device_id}"}),
            ReturnValues="ALL_OLD",
        )
        return from_item(resp.get("Attributes"))

    def mark_read(self, user_id: str, notification_id_: str) -> None:
        try:
            self.ddb.update_item(
                TableName=self.table,
                Key=to_item({"pk": f"USER#{user_id}", "sk": f"N#{notification_id_}"}),
                UpdateExpression="SET #r = :t",
                ConditionExpression="attribute_exists(pk)",
                ExpressionAttributeNames={"#r": "read"},
                ExpressionAttributeValues=values(t=True),
            )
        except ClientError as exc:
            if is_conditional_failure(exc):
                raise NotFound("notification not found") from None
            raise
