"""Deliveries in the deliveries table.

- ``DELIVERY#<deliveryId>`` / ``META``: one vendor's delivery of an order. Listed by the sparse
  GSIs ``byVendorDay`` (``vendorDay`` = ``<vendorId>#<date>``) and ``byDriverDay`` (``driverDay``
  = ``<driverId>#<date>``, once a driver is assigned), both sorted by ``runKey`` (slot, pincode):
  a vendor's date and a driver's run are one Query each.
- ``ORDER#<orderId>`` / ``DELIVERIES``: the order's deliveries (ids) and how many are still to
  deliver (``pending``), written with them and read consistently: the "by order" index, and the
  count whose last decrement moves the order to DELIVERED in the same transaction.
"""

from __future__ import annotations

from typing import Any

from chalicelib.core import aws
from chalicelib.core.config import get_settings
from chalicelib.core.dynamo import Read, batch_get, from_item, ping_read, put_new, query_page, strip, to_item, values
from chalicelib.core.tx import Tagged

META, SUMMARY = "META", "DELIVERIES"
INDEX_KEYS = ("vendorDay", "driverDay", "runKey")


def _key(delivery_id: str) -> dict[str, Any]:
    return to_item({"pk": f"DELIVERY#{delivery_id}", "sk": META})


def _summary_key(order_id: str) -> dict[str, Any]:
    return to_item({"pk": f"ORDER#{order_id}", "sk": SUMMARY})


def _plain(item: dict[str, Any] | None) -> dict[str, Any] | None:
    row = strip(item)
    return {k: v for k, v in row.items() if k not in INDEX_KEYS} if row else None


class DeliveriesRepo:
    @property
    def table(self) -> str:
        return get_settings().deliveries_table

    @property
    def ddb(self) -> Any:
        return aws.client("dynamodb")

    def ping(self) -> Read[None]:
        return ping_read(self.table)

    # -- reads --------------------------------------------------------------------------------
    def get(self, delivery_id: str) -> dict[str, Any] | None:
        resp = self.ddb.get_item(TableName=self.table, Key=_key(delivery_id), ConsistentRead=True)
        return _plain(from_item(resp.get("Item")))

    def of_order(self, order_id: str) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
        """The order's summary and its deliveries, read consistently (two calls)."""
        resp = self.ddb.get_item(TableName=self.table, Key=_summary_key(order_id), ConsistentRead=True)
        summary = strip(from_item(resp.get("Item")))
        if not summary:
            return None, []
        keys = [_key(d) for d in summary["deliveryIds"]]
        found = batch_get(self.ddb, {self.table: {"Keys": keys, "ConsistentRead": True}})[self.table]
        rows = [r for r in (_plain(x) for x in found) if r]
        return summary, sorted(rows, key=lambda d: str(d["vendorId"]))

    def vendor_day(
        self, vendor_id: str, day: str, slot_prefix: str | None, limit: int, cursor: dict[str, Any] | None
    ) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
        between = ("runKey", slot_prefix, slot_prefix + "~") if slot_prefix else None
        items, nxt = query_page(
            self.ddb,
            self.table,
            ("vendorDay", f"{vendor_id}#{day}"),
            limit,
            cursor,
            index="byVendorDay",
            sort_between=between,
        )
        return [r for r in (_plain(i) for i in items) if r], nxt

    def driver_day(
        self, driver_id: str, day: str, limit: int, cursor: dict[str, Any] | None
    ) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
        """A driver's run for ``day``: one Query of byDriverDay, in run order."""
        items, nxt = query_page(
            self.ddb, self.table, ("driverDay", f"{driver_id}#{day}"), limit, cursor, index="byDriverDay"
        )
        return [r for r in (_plain(i) for i in items) if r], nxt

    # -- writes (transaction elements) ---------------------------------------------------------
    def new_requests(self, order_id: str, deliveries: list[dict[str, Any]]) -> list[Tagged]:
        """The order's deliveries and their summary, each written once."""
        items = [
            Tagged(
                f"delivery:{d['deliveryId']}",
                put_new(
                    self.table,
                    {
                        "pk": f"DELIVERY#{d['deliveryId']}",
                        "sk": META,
                        **d,
                        "vendorDay": f"{d['vendorId']}#{d['deliveryDate']}",
                        "runKey": d["runKey"],
                    },
                ),
            )
            for d in deliveries
        ]
        summary = {
            "pk": f"ORDER#{order_id}",
            "sk": SUMMARY,
            "deliveryIds": [d["deliveryId"] for d in deliveries],
            "pending": len(deliveries),
        }
        return [Tagged("delivery:summary", put_new(self.table, summary)), *items]

    def update_request(
        self, delivery: dict[str, Any], expected: str, sets: dict[str, Any], remove: tuple[str, ...] = ()
    ) -> Tagged:
        """Change a delivery only if its status is still ``expected`` (and its driver the one read)."""
        names = {"#s": "status", "#d": "driverId"}
        vals: dict[str, Any] = values(expected=expected)
        assigns = []
        for i, (k, v) in enumerate(sets.items()):
            names[f"#x{i}"] = k
            vals.update(values(**{f"x{i}": v}))
            assigns.append(f"#x{i} = :x{i}")
        condition = "#s = :expected AND "
        if delivery.get("driverId"):
            vals.update(values(driver=delivery["driverId"]))
            condition += "#d = :driver"
        else:
            condition += "attribute_not_exists(#d)"
        expression = "SET " + ", ".join(assigns) + (" REMOVE " + ", ".join(remove) if remove else "")
        return Tagged(
            f"delivery:{delivery['deliveryId']}",
            {
                "Update": {
                    "TableName": self.table,
                    "Key": _key(delivery["deliveryId"]),
                    "UpdateExpression": expression,
                    "ConditionExpression": condition,
                    "ExpressionAttributeNames": names,
                    "ExpressionAttributeValues": vals,
                }
            },
        )

    def pending_request(self, order_id: str, was: int) -> Tagged:
        """One fewer delivery to make for the order (only from the count read)."""
        return Tagged(
            "delivery:summary",
            {
                "Update": {
                    "TableName": self.table,
                    "Key": _summary_key(order_id),
                    "UpdateExpression": "SET pending = :now",
                    "ConditionExpression": "pending = :was",
                    "ExpressionAttributeValues": values(was=was, now=was - 1),
                }
            },
        )
