"""Products and promo codes in the catalog table.

- ``PRODUCT#<id>`` / ``META``: the product with its variants. Active products carry the sparse
  index keys ``gsi1pk = ACTIVE`` (all) and ``gsi2pk = CAT#<category>`` (by category), sorted by name.
- ``PROMO#<code>`` / ``META``: a promo with its ``uses`` counter; ``PROMO#<code>`` / ``USER#<id>``:
  one user's uses. Both counters are bumped inside the order's transaction, conditionally.
"""

from __future__ import annotations

import uuid
from typing import Any

from botocore.exceptions import ClientError

from chalicelib.core import aws, tx
from chalicelib.core.config import get_settings
from chalicelib.core.dynamo import (
    Read,
    from_item,
    is_conditional_failure,
    ping_read,
    put_new,
    query_page,
    strip,
    to_attr,
    to_item,
    values,
)
from chalicelib.core.errors import Conflict, NotFound
from chalicelib.core.tx import Tagged

META = "META"


def product_key(product_id: str) -> dict[str, Any]:
    return {"pk": {"S": f"PRODUCT#{product_id}"}, "sk": {"S": META}}


def promo_key(code: str) -> dict[str, Any]:
    return {"pk": {"S": f"PROMO#{code}"}, "sk": {"S": META}}


def promo_user_key(code: str, user_id: str) -> dict[str, Any]:
    return {"pk": {"S": f"PROMO#{code}"}, "sk": {"S": f"USER#{user_id}"}}


def _index_keys(product: dict[str, Any]) -> dict[str, Any]:
    if not product.get("active"):
        return {}
    sort = f"{product['name'].lower()}#{product['productId']}"
    return {"gsi1pk": "ACTIVE", "gsi1sk": sort, "gsi2pk": f"CAT#{product['category']}", "gsi2sk": sort}


class CatalogRepo:
    @property
    def table(self) -> str:
        return get_settings().catalog_table

    def ping(self) -> Read[None]:
        return ping_read(self.table)

    @property
    def ddb(self) -> Any:
        return aws.client("dynamodb")

    # -- products ---------------------------------------------------------------------------
    def create_product(self, product: dict[str, Any], extra: list[Tagged]) -> None:
        """The product with ``extra`` items (its audit row; for a vendor, the vendor's new offer,
        conditional on the vendor's version: a concurrent vendor edit makes this a 409)."""
        item = {"pk": f"PRODUCT#{product['productId']}", "sk": META, **product, **_index_keys(product)}
        try:
            tx.commit([Tagged("product", put_new(self.table, item)), *extra], f"product:{product['productId']}")
        except tx.Cancelled:
            raise Conflict(
                "your vendor record changed meanwhile; retry", code="version_conflict", fields={"version": "stale"}
            ) from None

    def get_product(self, product_id: str) -> dict[str, Any] | None:
        item = from_item(self.ddb.get_item(TableName=self.table, Key=product_key(product_id)).get("Item"))
        return strip(item)

    def put_product(self, product: dict[str, Any], expected_version: int, extra: list[Tagged]) -> None:
        """Replace a product if nobody changed it since ``expected_version`` (optimistic lock)."""
        item = {"pk": f"PRODUCT#{product['productId']}", "sk": META, **product, **_index_keys(product)}
        put = {
            "Put": {
                "TableName": self.table,
                "Item": to_item(item),
                "ConditionExpression": "attribute_exists(pk) AND #v = :v",
                "ExpressionAttributeNames": {"#v": "version"},
                "ExpressionAttributeValues": values(v=expected_version),
            }
        }
        try:
            tx.commit([Tagged("product", put), *extra], f"product:{product['productId']}:{uuid.uuid4().hex}")
        except tx.Cancelled:
            raise Conflict(
                "product changed since you read it; reload and retry",
                code="version_conflict",
                fields={"version": "stale"},
            ) from None

    def list_products(
        self, category: str | None, limit: int, cursor: dict[str, Any] | None
    ) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
        if category:
            return query_page(self.ddb, self.table, ("gsi2pk", f"CAT#{category}"), limit, cursor, index="byCategory")
        return query_page(self.ddb, self.table, ("gsi1pk", "ACTIVE"), limit, cursor, index="active")

    def products_read(self, product_ids: list[str]) -> Read[dict[str, dict[str, Any]]]:
        """Products by id (active or not), for batching with other domains' reads (``read_all``)."""
        keys = [product_key(p) for p in dict.fromkeys(product_ids)]
        return Read(self.table, keys, lambda rows: {p["productId"]: p for p in (strip(r) for r in rows) if p})

    def promo_read(self, code: str | None) -> Read[dict[str, Any] | None]:
        keys = [promo_key(code)] if code else []
        return Read(self.table, keys, lambda rows: strip(rows[0]) if rows else None)

    # -- promos -----------------------------------------------------------------------------
    def create_promo(self, promo: dict[str, Any], extra: list[Tagged]) -> None:
        item = {
            "pk": f"PROMO#{promo['code']}",
            "sk": META,
            "gsi1pk": "PROMO",
            "gsi1sk": promo["code"],
            "uses": 0,
            **promo,
        }
        try:
            tx.commit([Tagged("promo", put_new(self.table, item)), *extra], f"promo:{promo['code']}:{uuid.uuid4()}")
        except tx.Cancelled:
            raise Conflict("promo code exists", fields={"code": "already exists"}) from None

    def get_promo(self, code: str) -> dict[str, Any] | None:
        return strip(from_item(self.ddb.get_item(TableName=self.table, Key=promo_key(code)).get("Item")))

    def update_promo(self, code: str, changes: dict[str, Any]) -> dict[str, Any]:
        names = {f"#f{i}": k for i, k in enumerate(changes)}
        vals = {f":f{i}": to_attr(v) for i, v in enumerate(changes.values())}
        try:
            resp = self.ddb.update_item(
                TableName=self.table,
                Key=promo_key(code),
                UpdateExpression="SET " + ", ".join(f"#f{i} = :f{i}" for i in range(len(changes))),
                ConditionExpression="attribute_exists(pk)",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=vals,
                ReturnValues="ALL_NEW",
            )
        except ClientError as exc:
            if is_conditional_failure(exc):
                raise NotFound("promo not found") from None
            raise
        promo = strip(from_item(resp["Attributes"]))
        assert promo is not None
        return promo

    def list_promos(
        self, limit: int, cursor: dict[str, Any] | None
    ) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
        return query_page(self.ddb, self.table, ("gsi1pk", "PROMO"), limit, cursor, index="active")

    def promo_use_requests(self, promo: dict[str, Any], user_id: str) -> list[Tagged]:
        """Transaction elements that spend one use of a promo, for everyone and for this user;
        the conditions make over-use impossible under any concurrency."""
        code = promo["code"]
        return [
            Tagged(
                "promo:all",
                {
                    "Update": {
                        "TableName": self.table,
                        "Key": promo_key(code),
                        "UpdateExpression": "ADD uses :one",
                        "ConditionExpression": "attribute_exists(pk) AND uses < maxUses AND active = :t",
                        "ExpressionAttributeValues": values(one=1, t=True),
                    }
                },
            ),
            Tagged(
                "promo:user",
                {
                    "Update": {
                        "TableName": self.table,
                        "Key": promo_user_key(code, user_id),
                        "UpdateExpression": "ADD uses :one",
                        "ConditionExpression": "attribute_not_exists(uses) OR uses < :per",
                        "ExpressionAttributeValues": values(one=1, per=int(promo["maxUsesPerUser"])),
                    }
                },
            ),
        ]

    def promo_release_requests(self, code: str, user_id: str) -> list[Tagged]:
        """Give a use back (the order was cancelled, rejected or expired before payment)."""
        return [
            Tagged(
                f"promo:{which}",
                {
                    "Update": {
                        "TableName": self.table,
                        "Key": key,
                        "UpdateExpression": "ADD uses :minus",
                        "ExpressionAttributeValues": values(minus=-1),
                    }
                },
            )
            for which, key in (("all", promo_key(code)), ("user", promo_user_key(code, user_id)))
        ]
