"""Orders in the orders table (``ORDER#<id>`` / ``META``).

GSIs: ``byUser`` and ``byStatus`` and ``byDay`` (sorted by ``createdKey`` = time#id), and the
sparse ``byHold`` (``holdPk = HELD``, ``holdUntil``) that lists unpaid reservations by expiry for
the sweeper; leaving PENDING_PAYMENT removes those keys. The table's stream feeds the domain
events (chalicelib/orders/jobs.py), so every committed change is published, none twice.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from chalicelib.core import aws
from chalicelib.core.config import get_settings
from chalicelib.core.dynamo import Read, from_item, ping_read, put_new, query_page, strip, values
from chalicelib.core.tx import Tagged

META = "META"
HOLD_PK = "HELD"


def order_key(order_id: str) -> dict[str, Any]:
    return {"pk": {"S": f"ORDER#{order_id}"}, "sk": {"S": META}}


def refund_guard(was: dict[str, Any] | None, names: dict[str, str], vals: dict[str, Any]) -> str:
    """A condition: the order's refund state is still ``was`` (its refunded amount and status: a
    cancel that made it REQUIRED, or a refund that moved its amount, is not overwritten)."""
    if not was:
        return "attribute_not_exists(refund)"
    names["#ra"], names["#rs"] = "amount", "status"
    vals.update(values(ra=int(was.get("amount", 0)), rs=str(was.get("status"))))
    return "refund.#ra = :ra AND refund.#rs = :rs"


def hold_until(epoch: int) -> str:
    return f"{epoch:012d}"


class OrdersRepo:
    @property
    def table(self) -> str:
        return get_settings().orders_table

    def ping(self) -> Read[None]:
        return ping_read(self.table)

    @property
    def ddb(self) -> Any:
        return aws.client("dynamodb")

    def get(self, order_id: str) -> dict[str, Any] | None:
        resp = self.ddb.get_item(TableName=self.table, Key=order_key(order_id), ConsistentRead=True)
        return strip(from_item(resp.get("Item")))

    def order_read(self, order_id: str) -> Read[dict[str, Any] | None]:
        return Read(self.table, [order_key(order_id)], lambda rows: strip(rows[0]) if rows else None, consistent=True)

    def placed_since(self, user_id: str, since: str) -> list[dict[str, Any]]:
        """A user's orders placed since an instant, at most 100 (byUser): id, total, currency,
        status, and the subscription that placed it, if one did."""
        resp = self.ddb.query(
            TableName=self.table,
            IndexName="byUser",
            KeyConditionExpression="userId = :u AND createdKey > :s",
            ExpressionAttributeValues=values(u=user_id, s=since),
            ProjectionExpression="orderId, #t, currency, #st, subscriptionId",
            ExpressionAttributeNames={"#t": "total", "#st": "status"},
            Limit=100,
        )
        return [o for o in (from_item(x) for x in resp.get("Items", [])) if o]

    def ever_paid(self, user_id: str, pages: int = 10) -> bool:
        """Has any order of this user been paid (byUser, newest first, stopping at the first)?"""
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "IndexName": "byUser",
            "KeyConditionExpression": "userId = :u",
            "FilterExpression": "payment.#st = :ok",
            "ExpressionAttributeNames": {"#st": "status"},
            "ExpressionAttributeValues": values(u=user_id, ok="SUCCEEDED"),
            "ProjectionExpression": "orderId",
            "ScanIndexForward": False,
            "Limit": 100,
        }
        for _ in range(pages):
            resp = self.ddb.query(**kwargs)
            if resp.get("Items"):
                return True
            if "LastEvaluatedKey" not in resp:
                return False
            kwargs["ExclusiveStartKey"] = resp["LastEvaluatedKey"]
        return True  # a very long history: not a first order

    def put_request(self, order: dict[str, Any]) -> Tagged:
        item = {"pk": f"ORDER#{order['orderId']}", "sk": META, **order}
        return Tagged("order", put_new(self.table, item))

    def transition_request(
        self,
        order_id: str,
        current: str,
        target: str,
        history_entry: dict[str, Any],
        sets: dict[str, Any],
        release_hold: bool,
        expired_before: int | None = None,
        live_at: int | None = None,
        refund_was: dict[str, Any] | None = None,
    ) -> Tagged:
        """Move an order from ``current`` to ``target`` only if it is still ``current`` (and,
        when it sets ``refund``, its refund is still ``refund_was``)."""
        names = {"#s": "status"}
        vals = values(cur=current, to=target, h=[history_entry], now=history_entry["at"])
        assigns = ["#s = :to", "history = list_append(history, :h)", "updatedAt = :now"]
        for i, (k, v) in enumerate(sets.items()):
            names[f"#x{i}"] = k
            vals.update(values(**{f"x{i}": v}))
            assigns.append(f"#x{i} = :x{i}")
        expression = "SET " + ", ".join(assigns)
        if release_hold:
            expression += " REMOVE holdPk, holdUntil"
        condition = "#s = :cur"
        if "refund" in sets:  # a cancel's refund state: only over the one it was computed from
            condition += " AND " + refund_guard(refund_was, names, vals)
        if expired_before is not None:
            condition += " AND holdUntil < :exp"
            vals.update(values(exp=hold_until(expired_before)))
        if live_at is not None:  # the reservation has not expired
            condition += " AND holdUntil >= :live"
            vals.update(values(live=hold_until(live_at)))
        return Tagged(
            "order",
            {
                "Update": {
                    "TableName": self.table,
                    "Key": order_key(order_id),
                    "UpdateExpression": expression,
                    "ConditionExpression": condition,
                    "ExpressionAttributeNames": names,
                    "ExpressionAttributeValues": vals,
                }
            },
        )

    def extend_hold(self, order_id: str, until: int) -> dict[str, Any] | None:
        """Keep an unpaid order's reservation until ``until`` (epoch seconds), if it still holds
        one that ends sooner; the order as it is then, or None when it holds none (paid,
        expired or cancelled meanwhile)."""
        try:
            resp = self.ddb.update_item(
                TableName=self.table,
                Key=order_key(order_id),
                UpdateExpression="SET holdUntil = :h, reservation.expiresAt = :u",
                ConditionExpression="#s = :pending AND attribute_exists(holdUntil) AND holdUntil < :h",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues=values(h=hold_until(until), u=until, pending="PENDING_PAYMENT"),
                ReturnValues="ALL_NEW",
            )
        except self.ddb.exceptions.ConditionalCheckFailedException:
            return None
        return strip(from_item(resp["Attributes"]))

    def refund_request(self, order_id: str, was: dict[str, Any] | None, refund: dict[str, Any]) -> Tagged:
        """Set the order's refund state, only if it is still ``was`` (its refunded amount): two
        refunds, or a refund and a cancel, never overwrite each other's sums."""
        names: dict[str, str] = {}
        vals: dict[str, Any] = values(r=refund)
        return Tagged(
            "order",
            {
                "Update": {
                    "TableName": self.table,
                    "Key": order_key(order_id),
                    "UpdateExpression": "SET refund = :r",
                    "ConditionExpression": "attribute_exists(pk) AND " + refund_guard(was, names, vals),
                    **({"ExpressionAttributeNames": names} if names else {}),
                    "ExpressionAttributeValues": vals,
                }
            },
        )

    def legacy_refund_orders(self) -> Iterator[dict[str, Any]]:
        """Orders in the statuses that once held refunds, and cancelled or rejected ones (their
        ``refund`` may be of the old shape): byStatus, every page (``ops migrate-orders``)."""
        for status in ("REFUNDED", "PARTIALLY_REFUNDED", "CANCELLED", "REJECTED"):
            args: dict[str, Any] = {
                "TableName": self.table,
                "IndexName": "byStatus",
                "KeyConditionExpression": "#s = :s",
                "ExpressionAttributeNames": {"#s": "status"},
                "ExpressionAttributeValues": values(s=status),
            }
            while True:
                resp = self.ddb.query(**args)
                yield from (o for o in (strip(from_item(i)) for i in resp.get("Items", [])) if o)
                if "LastEvaluatedKey" not in resp:
                    break
                args["ExclusiveStartKey"] = resp["LastEvaluatedKey"]

    def migrate_request(self, order: dict[str, Any], sets: dict[str, Any]) -> dict[str, Any]:
        """An UpdateItem moving a stored order to ``sets`` only if it is still as read."""
        return {
            "TableName": self.table,
            "Key": order_key(order["orderId"]),
            "UpdateExpression": "SET #s = :to, refund = :r, migratedAt = :m",
            "ConditionExpression": "#s = :was AND updatedAt = :at",
            "ExpressionAttributeNames": {"#s": "status"},
            "ExpressionAttributeValues": values(
                to=sets["status"], r=sets["refund"], was=order["status"], at=order["updatedAt"], m=sets["migratedAt"]
            ),
        }

    def query(
        self,
        index: str,
        key: str,
        value: str,
        limit: int,
        cursor: dict[str, Any] | None,
        start: str | None = None,
        end: str | None = None,
    ) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
        between = ("createdKey", start, end + "~") if start and end else None
        return query_page(
            self.ddb, self.table, (key, value), limit, cursor, index=index, newest_first=True, sort_between=between
        )

    def expired_holds(self, now: int, limit: int = 100) -> list[dict[str, Any]]:
        resp = self.ddb.query(
            TableName=self.table,
            IndexName="byHold",
            Limit=limit,
            KeyConditionExpression="holdPk = :p AND holdUntil < :now",
            ExpressionAttributeValues=values(p=HOLD_PK, now=hold_until(now)),
        )
        return [o for o in (strip(from_item(i)) for i in resp.get("Items", [])) if o]

    # -- reports: one day, every page ---------------------------------------------------------
    def day_page(
        self, day: str, cursor: dict[str, Any] | None = None, limit: int | None = None
    ) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
        """One page of the orders placed on ``day`` (UTC), oldest first, from the ``byDay`` index
        (without ``limit``, DynamoDB's 1 MB pages)."""
        resp = self.ddb.query(
            TableName=self.table,
            IndexName="byDay",
            KeyConditionExpression="#d = :d",
            ExpressionAttributeNames={"#d": "day"},
            ExpressionAttributeValues=values(d=day),
            **({"Limit": limit} if limit else {}),
            **({"ExclusiveStartKey": cursor} if cursor else {}),
        )
        items = [o for o in (strip(from_item(i)) for i in resp.get("Items", [])) if o]
        return items, resp.get("LastEvaluatedKey")

    def day_orders(self, day: str) -> Iterator[dict[str, Any]]:
        """Every order placed on ``day``: each page of the day's partition, never a Scan."""
        cursor: dict[str, Any] | None = None
        while True:
            items, cursor = self.day_page(day, cursor)
            yield from items
            if not cursor:
                return

    def ordered_before(self, user_id: str, day: str) -> bool:
        """Did the user place any order before ``day`` (UTC)? One keys-only COUNT of at most one
        item on ``byUser``."""
        resp = self.ddb.query(
            TableName=self.table,
            IndexName="byUser",
            KeyConditionExpression="userId = :u AND createdKey < :d",
            ExpressionAttributeValues=values(u=user_id, d=day),
            Select="COUNT",
            Limit=1,
        )
        return int(resp.get("Count", 0)) > 0

    def with_status(self, status: str) -> Iterator[dict[str, Any]]:
        """Every order in ``status`` (byStatus, every page), with only what stock reconciliation
        needs: its id, status, lines and history."""
        args: dict[str, Any] = {
            "TableName": self.table,
            "IndexName": "byStatus",
            "KeyConditionExpression": "#s = :s",
            "ProjectionExpression": "orderId, #s, #l, history",
            "ExpressionAttributeNames": {"#s": "status", "#l": "lines"},
            "ExpressionAttributeValues": values(s=status),
        }
        while True:
            resp = self.ddb.query(**args)
            for item in resp.get("Items", []):
                order = strip(from_item(item))
                if order:
                    yield order
            if "LastEvaluatedKey" not in resp:
                return
            args["ExclusiveStartKey"] = resp["LastEvaluatedKey"]
