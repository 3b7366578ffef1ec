"""Subscriptions in the subscriptions table.

- ``SUB#<id>`` / ``META``: a subscription. Listed by the GSI ``byUser`` (``userId``,
  ``createdAt``), and, while it has a next date, by the sparse GSI ``byNextDate`` (``dueDate``,
  ``subscriptionId``): the job reads only what is due that date, never a scan of them all.
  ``byRetryDate`` (``retryDate``) lists those whose order of a date is to be tried again once.
- ``SUB#<id>`` / ``RUN#<date>``: what the job did for that date (the order, the outcome), written
  once per date.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from chalicelib.core import aws
from chalicelib.core.config import get_settings
from chalicelib.core.dynamo import (
    Read,
    from_item,
    is_conditional_failure,
    ping_read,
    put_new,
    query_page,
    strip,
    to_item,
    values,
)
from chalicelib.core.errors import Conflict

INDEX_KEYS = ("dueDate",)  # (retryDate is the subscription's own: it lists it in byRetryDate too)


def _key(subscription_id: str, sk: str = "META") -> dict[str, Any]:
    return to_item({"pk": f"SUB#{subscription_id}", "sk": sk})


def _plain(item: dict[str, Any] | None) -> dict[str, Any] | None:
    row = strip(item)
    return {k: v for k, v in row.items() if k not in INDEX_KEYS} if row else None


class SubscriptionsRepo:
    @property
    def table(self) -> str:
        return get_settings().subscriptions_table

    @property
    def ddb(self) -> Any:
        return aws.client("dynamodb")

    def ping(self) -> Read[None]:
        return ping_read(self.table)

    def get(self, subscription_id: str) -> dict[str, Any] | None:
        resp = self.ddb.get_item(TableName=self.table, Key=_key(subscription_id), ConsistentRead=True)
        return _plain(from_item(resp.get("Item")))

    def of_user(
        self, user_id: str, limit: int, cursor: dict[str, Any] | None
    ) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
        items, nxt = query_page(
            self.ddb, self.table, ("userId", user_id), limit, cursor, index="byUser", newest_first=True
        )
        return [r for r in (_plain(i) for i in items) if r], nxt

    def due(self, day: str, limit: int, cursor: dict[str, Any] | None) -> tuple[list[str], dict[str, Any] | None]:
        """One page of the ids of the subscriptions due on ``day`` (byNextDate, keys only)."""
        items, nxt = query_page(self.ddb, self.table, ("dueDate", day), limit, cursor, index="byNextDate")
        return [str(i["subscriptionId"]) for i in items], nxt

    def to_retry(self, day: str, limit: int, cursor: dict[str, Any] | None) -> tuple[list[str], dict[str, Any] | None]:
        """One page of the ids of the subscriptions whose order for ``day`` may need its payment
        tried again (the sparse byRetryDate, keys only)."""
        items, nxt = query_page(self.ddb, self.table, ("retryDate", day), limit, cursor, index="byRetryDate")
        return [str(i["subscriptionId"]) for i in items], nxt

    def create(self, sub: dict[str, Any]) -> None:
        item = {"pk": f"SUB#{sub['subscriptionId']}", "sk": "META", **sub, **_due(sub)}
        self.ddb.put_item(**put_new(self.table, item)["Put"])

    def save(self, sub: dict[str, Any], version: int) -> None:
        """Replace the subscription if nobody changed it since ``version`` was read."""
        item = {"pk": f"SUB#{sub['subscriptionId']}", "sk": "META", **sub, "version": version + 1, **_due(sub)}
        try:
            self.ddb.put_item(
                TableName=self.table,
                Item=to_item(item),
                ConditionExpression="version = :v",
                ExpressionAttributeValues=values(v=version),
            )
        except ClientError as exc:
            if is_conditional_failure(exc):
                raise Conflict("the subscription changed meanwhile; retry", code="contention") from None
            raise

    def run(self, subscription_id: str, day: str) -> dict[str, Any] | None:
        resp = self.ddb.get_item(TableName=self.table, Key=_key(subscription_id, f"RUN#{day}"), ConsistentRead=True)
        return _plain(from_item(resp.get("Item")))

    def record_run(self, subscription_id: str, day: str, run: dict[str, Any]) -> None:
        item = {
            "pk": f"SUB#{subscription_id}",
            "sk": f"RUN#{day}",
            "subscriptionId": subscription_id,
            "day": day,
            **run,
        }
        self.ddb.put_item(TableName=self.table, Item=to_item(item))


def _due(sub: dict[str, Any]) -> dict[str, Any]:
    """The index key that lists it under its next date (absent: not due, not listed)."""
    return {"dueDate": sub["nextDate"]} if sub.get("nextDate") else {}
