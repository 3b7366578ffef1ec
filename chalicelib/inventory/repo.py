"""Stock per (product, variant, vendor) in the inventory table.

- ``STOCK#<product>#<variant>`` / ``VENDOR#<vendor>``: ``available`` (sellable now) and
  ``reserved`` (held by unpaid orders). Reserving moves units from available to reserved under
  ``available >= :q``; paying drops them from reserved; releasing moves them back. Every change
  is a conditional update inside the caller's transaction: no read-then-write.
- ``LOG#<vendor>`` / ``<time>#<id>``: the stock change log (who, delta, reason, when).
GSIs: ``byVendor`` (a vendor's stock) and ``all`` (admin listing).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from chalicelib.core import aws, tx
from chalicelib.core.config import get_settings
from chalicelib.core.dynamo import Read, from_item, ping_read, put_new, query_page, strip, to_item, values
from chalicelib.core.errors import Conflict
from chalicelib.core.tx import Tagged


def _stock_id(product_id: str, variant_id: str, vendor_id: str) -> dict[str, str]:
    return {"pk": f"STOCK#{product_id}#{variant_id}", "sk": f"VENDOR#{vendor_id}"}


def stock_key(product_id: str, variant_id: str, vendor_id: str) -> dict[str, Any]:
    return to_item(_stock_id(product_id, variant_id, vendor_id))


def stock_tag(product_id: str, variant_id: str, vendor_id: str) -> str:
    return f"stock:{product_id}#{variant_id}#{vendor_id}"


class InventoryRepo:
    @property
    def table(self) -> str:
        return get_settings().inventory_table

    @staticmethod
    def is_stock_row(item: dict[str, Any]) -> bool:
        """Is this stored item (a stream image) a stock row, not a log entry or another kind?"""
        return str(item.get("pk", "")).startswith("STOCK#")

    def ping(self) -> Read[None]:
        return ping_read(self.table)

    @property
    def ddb(self) -> Any:
        return aws.client("dynamodb")

    def get(self, product_id: str, variant_id: str, vendor_id: str) -> dict[str, Any] | None:
        resp = self.ddb.get_item(
            TableName=self.table, Key=stock_key(product_id, variant_id, vendor_id), ConsistentRead=True
        )
        item = strip(from_item(resp.get("Item")))
        return low_stock_flag(item) if item else None

    def available_read(self, triples: list[tuple[str, str, str]]) -> Read[dict[tuple[str, str, str], int]]:
        """Units available per (product, variant, vendor); rows that do not exist are absent."""
        keys = [stock_key(*t) for t in dict.fromkeys(triples)]
        return Read(
            self.table,
            keys,
            lambda rows: {(r["productId"], r["variantId"], r["vendorId"]): int(r["available"]) for r in rows},
        )

    def change(
        self,
        product_id: str,
        variant_id: str,
        vendor_id: str,
        old: int | None,
        new: int,
        threshold: int,
        log: dict[str, Any],
        extra: list[Tagged],
        delta: int | None = None,
    ) -> None:
        """Write the log row and, in the same transaction, either create the row (``old`` None),
        apply ``delta`` atomically (never below zero; concurrent reservations don't conflict), or
        set ``available`` to ``new`` if it is still ``old``."""
        now = log["at"]
        if old is None:
            stock = {
                "productId": product_id,
                "variantId": variant_id,
                "vendorId": vendor_id,
                "available": new,
                "reserved": 0,
                "lowStockThreshold": threshold,
                "updatedAt": now,
                "gsi1pk": f"VENDOR#{vendor_id}",
                "gsi1sk": f"{product_id}#{variant_id}",
                "gsi2pk": "STOCK",
                "gsi2sk": f"{product_id}#{variant_id}#{vendor_id}",
            }
            write = put_new(
                self.table, {"pk": f"STOCK#{product_id}#{variant_id}", "sk": f"VENDOR#{vendor_id}", **stock}
            )
        elif delta is not None:
            write = {
                "Update": {
                    "TableName": self.table,
                    "Key": stock_key(product_id, variant_id, vendor_id),
                    "UpdateExpression": "SET available = available + :d, lowStockThreshold = :t, updatedAt = :now",
                    "ConditionExpression": "available >= :need",
                    "ExpressionAttributeValues": values(d=delta, t=threshold, now=now, need=max(0, -delta)),
                }
            }
        else:
            write = {
                "Update": {
                    "TableName": self.table,
                    "Key": stock_key(product_id, variant_id, vendor_id),
                    "UpdateExpression": "SET available = :new, lowStockThreshold = :t, updatedAt = :now",
                    "ConditionExpression": "available = :old",
                    "ExpressionAttributeValues": values(new=new, t=threshold, now=now, old=old),
                }
            }
        log_id = uuid.uuid4().hex
        log_item = {"pk": f"LOG#{vendor_id}", "sk": f"{now}#{log_id[:8]}", **log}
        items = [
            Tagged("stock", write),
            Tagged("stock:log", {"Put": {"TableName": self.table, "Item": to_item(log_item)}}),
        ]
        try:
            tx.commit([*items, *extra], f"stock:{log_id}")
        except tx.Cancelled:
            raise Conflict("stock changed meanwhile; retry", code="stock_conflict") from None

    def _move(
        self, product_id: str, variant_id: str, vendor_id: str, update: str, condition: str | None, qty: int
    ) -> Tagged:
        request: dict[str, Any] = {
            "TableName": self.table,
            "Key": stock_key(product_id, variant_id, vendor_id),
            "UpdateExpression": update,
            "ExpressionAttributeValues": values(q=qty),
        }
        if condition:
            request["ConditionExpression"] = condition
        return Tagged(stock_tag(product_id, variant_id, vendor_id), {"Update": request})

    def reserve_request(self, product_id: str, variant_id: str, vendor_id: str, qty: int) -> Tagged:
        """Hold units for an unpaid order: available -> reserved, never below zero."""
        update = "SET available = available - :q, reserved = reserved + :q"
        return self._move(product_id, variant_id, vendor_id, update, "available >= :q", qty)

    def release_request(self, product_id: str, variant_id: str, vendor_id: str, qty: int) -> Tagged:
        """Give held units back (cancelled, rejected or expired before payment)."""
        update = "SET available = available + :q, reserved = reserved - :q"
        return self._move(product_id, variant_id, vendor_id, update, "reserved >= :q", qty)

    def commit_request(self, product_id: str, variant_id: str, vendor_id: str, qty: int) -> Tagged:
        """Held units are sold (the order was paid)."""
        return self._move(product_id, variant_id, vendor_id, "SET reserved = reserved - :q", "reserved >= :q", qty)

    def restock_request(self, product_id: str, variant_id: str, vendor_id: str, qty: int) -> Tagged:
        """Sold units come back (a paid order was cancelled or rejected before dispatch)."""
        return self._move(product_id, variant_id, vendor_id, "SET available = available + :q", None, qty)

    def list_page(
        self, vendor_id: str | None, limit: int, cursor: dict[str, Any] | None
    ) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
        if vendor_id:
            items, last = query_page(
                self.ddb, self.table, ("gsi1pk", f"VENDOR#{vendor_id}"), limit, cursor, index="byVendor"
            )
        else:
            items, last = query_page(self.ddb, self.table, ("gsi2pk", "STOCK"), limit, cursor, index="all")
        return [low_stock_flag(i) for i in items], last

    def log(self, vendor_id: str, limit: int = 50) -> list[dict[str, Any]]:
        return query_page(self.ddb, self.table, ("pk", f"LOG#{vendor_id}"), limit, None, newest_first=True)[0]

    def _every_page(self, args: dict[str, Any]) -> Iterator[dict[str, Any]]:
        while True:
            resp = self.ddb.query(**args)
            for item in resp.get("Items", []):
                row = strip(from_item(item))
                if row:
                    yield row
            if "LastEvaluatedKey" not in resp:
                return
            args = {**args, "ExclusiveStartKey": resp["LastEvaluatedKey"]}

    def rows(self) -> Iterator[dict[str, Any]]:
        """Every stock row (the ``all`` index, every page; never a Scan)."""
        return self._every_page(
            {
                "TableName": self.table,
                "IndexName": "all",
                "KeyConditionExpression": "gsi2pk = :p",
                "ExpressionAttributeValues": values(p="STOCK"),
            }
        )

    def supplied(self, vendor_ids: list[str]) -> dict[tuple[str, str, str], int]:
        """Net units vendors and admins put on each row: the sum of the change log's deltas (every
        change writes its log row in the same transaction), per (product, variant, vendor)."""
        out: dict[tuple[str, str, str], int] = {}
        for vendor_id in dict.fromkeys(vendor_ids):
            args = {
                "TableName": self.table,
                "KeyConditionExpression": "pk = :p",
                "ProjectionExpression": "productId, variantId, vendorId, delta",
                "ExpressionAttributeValues": values(p=f"LOG#{vendor_id}"),
            }
            for row in self._every_page(args):
                key = (row["productId"], row["variantId"], row["vendorId"])
                out[key] = out.get(key, 0) + int(row.get("delta", 0))
        return out


def now_iso() -> str:
    return datetime.now(UTC).isoformat()


def low_stock_flag(item: dict[str, Any]) -> dict[str, Any]:
    return {**item, "lowStock": int(item["available"]) < int(item.get("lowStockThreshold", 0))}
