"""Vendors in the vendors table.

- ``VENDOR#<id>`` / ``META``: the vendor (listed through the sparse GSI ``all``).
- ``PIN#<pincode>`` / ``VENDOR#<id>``: the service-area index, one summary per area the vendor
  serves (name, rating, active, products, capacity), rewritten in the vendor's own transaction.
  ``GET /vendors?pincode=`` and order placement read one partition with one Query.
- ``VENDOR#<id>`` / ``LOAD#<deliveryDate>``: orders the vendor delivers that date (``n``) and in
  each slot (``MORNING``, ``EVENING``); the order's transaction bumps both under the vendor's
  daily and slot limits, and a cancelled or expired order gives them back.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from chalicelib.core import aws, tx
from chalicelib.core.config import get_settings
from chalicelib.core.dynamo import Read, from_item, ping_read, put_new, query_page, strip, to_item, values
from chalicelib.core.errors import Conflict
from chalicelib.core.tx import Tagged
from chalicelib.vendors.capacity import limits

META = "META"
SUMMARY_FIELDS = ("vendorId", "name", "rating", "active", "products", "capacity")


def vendor_key(vendor_id: str) -> dict[str, Any]:
    return {"pk": {"S": f"VENDOR#{vendor_id}"}, "sk": {"S": META}}


def load_key(vendor_id: str, day: str) -> dict[str, Any]:
    return {"pk": {"S": f"VENDOR#{vendor_id}"}, "sk": {"S": f"LOAD#{day}"}}


def _area_key(pincode: str, vendor_id: str) -> dict[str, Any]:
    return {"pk": {"S": f"PIN#{pincode}"}, "sk": {"S": f"VENDOR#{vendor_id}"}}


class VendorsRepo:
    @property
    def table(self) -> str:
        return get_settings().vendors_table

    def ping(self) -> Read[None]:
        return ping_read(self.table)

    @property
    def ddb(self) -> Any:
        return aws.client("dynamodb")

    def get(self, vendor_id: str) -> dict[str, Any] | None:
        item = from_item(self.ddb.get_item(TableName=self.table, Key=vendor_key(vendor_id)).get("Item"))
        return strip(item)

    def by_pincode(self, pincode: str) -> list[dict[str, Any]]:
        return query_page(self.ddb, self.table, ("pk", f"PIN#{pincode}"), 1000, None)[0]

    def list_page(
        self, limit: int, cursor: dict[str, Any] | None
    ) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
        return query_page(self.ddb, self.table, ("gsi1pk", "VENDOR"), limit, cursor, index="all")

    def save_requests(self, vendor: dict[str, Any], previous: dict[str, Any] | None) -> list[Tagged]:
        """Transaction elements writing ``vendor`` (new, or replacing ``previous`` at its version)
        and its service-area summaries: areas it left are deleted, the rest rewritten."""
        item = {
            "pk": f"VENDOR#{vendor['vendorId']}",
            "sk": META,
            "gsi1pk": "VENDOR",
            "gsi1sk": f"{vendor['name'].lower()}#{vendor['vendorId']}",
            **vendor,
        }
        if previous is None:
            first = put_new(self.table, item)
        else:
            first = {
                "Put": {
                    "TableName": self.table,
                    "Item": to_item(item),
                    "ConditionExpression": "#v = :v",
                    "ExpressionAttributeNames": {"#v": "version"},
                    "ExpressionAttributeValues": values(v=int(previous["version"])),
                }
            }
        summary = {k: vendor.get(k) for k in SUMMARY_FIELDS}
        vendor_id = vendor["vendorId"]
        requests = [Tagged("vendor", first)]
        for pincode in vendor["serviceAreas"]:
            put = {"Put": {"TableName": self.table, "Item": {**_area_key(pincode, vendor_id), **to_item(summary)}}}
            requests.append(Tagged(f"vendor:area:{pincode}", put))
        for pincode in set((previous or {}).get("serviceAreas", [])) - set(vendor["serviceAreas"]):
            delete = {"Delete": {"TableName": self.table, "Key": _area_key(pincode, vendor_id)}}
            requests.append(Tagged(f"vendor:area:{pincode}", delete))
        return requests

    def write(self, requests: list[Tagged], operation: str) -> None:
        """Commit a vendor's save (with its owner link and audit row). Only the vendor's version
        and the owner's eligibility are conditions, so a failure is one of those two."""
        try:
            tx.commit(requests, operation)
        except tx.Cancelled as exc:
            if "vendor" in exc.failed:
                raise Conflict(
                    "vendor changed since you read it; reload and retry",
                    code="version_conflict",
                    fields={"version": "stale"},
                ) from None
            if "user:owner" in exc.failed:
                raise Conflict(
                    "the owner must be an active customer or vendor user", fields={"ownerUserId": "not eligible"}
                ) from None
            raise Conflict("the vendor is busy with another change; retry", code="contention") from None

    def load_requests(self, vendor_id: str, day: str, slot: str, limits: tuple[int, int], expires_at: int) -> Tagged:
        """Count one more order for a vendor's delivery date and slot, refused at its daily or
        slot capacity (``limits``: daily, slot; a slot limit of 0 is refused before this)."""
        return Tagged(
            f"vendor:load:{vendor_id}",
            {
                "Update": {
                    "TableName": self.table,
                    "Key": load_key(vendor_id, day),
                    "UpdateExpression": "ADD n :one, #s :one SET expiresAt = if_not_exists(expiresAt, :exp)",
                    "ConditionExpression": "(attribute_not_exists(n) OR n < :limit) AND "
                    "(attribute_not_exists(#s) OR #s < :slot)",
                    "ExpressionAttributeNames": {"#s": slot},
                    "ExpressionAttributeValues": values(one=1, limit=limits[0], slot=limits[1], exp=expires_at),
                }
            },
        )

    def hold(self, vendor_id: str, day: str, slot: str) -> Tagged:
        """One more order in a vendor's date and slot, under its current capacity (a reschedule)."""
        daily, in_slot = limits(self.get(vendor_id) or {}, slot)
        if in_slot <= 0 or daily <= 0:  # no room at all (the condition would pass an absent count)
            raise Conflict(
                f"the vendor does not deliver in the {slot} slot", code="slot_full", fields={"deliverySlot": "full"}
            )
        kept_until = int(datetime.fromisoformat(day).replace(tzinfo=UTC).timestamp()) + 3 * 86400
        return self.load_requests(vendor_id, day, slot, (daily, in_slot), kept_until)

    def load_release_request(self, vendor_id: str, day: str, slot: str, expires_at: int) -> Tagged:
        """Give back what ``load_requests`` took (a cancelled or expired order); never below zero."""
        return Tagged(
            f"vendor:load:{vendor_id}",
            {
                "Update": {
                    "TableName": self.table,
                    "Key": load_key(vendor_id, day),
                    "UpdateExpression": "SET n = if_not_exists(n, :one) - :one, #s = if_not_exists(#s, :one) - :one, "
                    "expiresAt = if_not_exists(expiresAt, :exp)",
                    "ExpressionAttributeNames": {"#s": slot},
                    "ExpressionAttributeValues": values(one=1, exp=expires_at),
                }
            },
        )

    def loads_read(self, vendor_ids: list[str], days: list[str]) -> Read[dict[tuple[str, str], dict[str, int]]]:
        """Orders each vendor delivers on each of ``days``: ``n`` in all and per slot (a pair
        absent: none yet)."""
        keys = [load_key(v, d) for v in dict.fromkeys(vendor_ids) for d in dict.fromkeys(days)]

        def parse(rows: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, int]]:
            return {
                (str(r["pk"]).removeprefix("VENDOR#"), str(r["sk"]).removeprefix("LOAD#")): {
                    k: int(v) for k, v in r.items() if k not in ("pk", "sk", "expiresAt")
                }
                for r in rows
            }

        return Read(self.table, keys, parse)
