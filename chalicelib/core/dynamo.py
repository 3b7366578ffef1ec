"""DynamoDB wire-format helpers shared by every repository."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Generic, TypeVar

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from chalicelib.core import aws
from chalicelib.core.errors import ValidationError

T = TypeVar("T")
SMALLEST_NUMBER = Decimal("1e-130")
_ser = TypeSerializer()
_de = TypeDeserializer()


def plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, set):
        return {plain(v) for v in value}
    return value


def to_attr(value: Any) -> dict[str, Any]:
    attr: dict[str, Any] = _ser.serialize(_decimal(value))
    return attr


def _decimal(value: Any) -> Any:
    """Floats (coordinates, ratings; never money) as Decimals. DynamoDB stores no magnitude below
    1e-130: such a float is 0 to it, so it is written as 0 rather than failing the request."""
    if isinstance(value, float):
        number = Decimal(str(value))
        return number if abs(number) >= SMALLEST_NUMBER or number == 0 else Decimal(0)
    if isinstance(value, dict):
        return {k: _decimal(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_decimal(v) for v in value]
    return value


def to_item(data: dict[str, Any]) -> dict[str, Any]:
    return {k: to_attr(v) for k, v in data.items() if v is not None}


def from_item(item: dict[str, Any] | None) -> dict[str, Any] | None:
    if item is None:
        return None
    return {k: plain(_de.deserialize(v)) for k, v in item.items()}


def values(**kwargs: Any) -> dict[str, Any]:
    """ExpressionAttributeValues from keyword arguments: values(a=1) -> {":a": {"N": "1"}}."""
    return {f":{k}": to_attr(v) for k, v in kwargs.items()}


def error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def is_conditional_failure(exc: ClientError) -> bool:
    return error_code(exc) in {"ConditionalCheckFailedException", "TransactionCanceledException"}


def batch_get(ddb: Any, request: dict[str, Any], attempts: int = 5) -> dict[str, list[dict[str, Any]]]:
    """BatchGetItem over several tables: chunks of 100 keys, unprocessed keys retried."""
    found: dict[str, list[dict[str, Any]]] = {table: [] for table in request}
    pending = [(table, key, spec) for table, spec in request.items() for key in spec["Keys"]]
    for attempt in range(attempts):
        if not pending:
            return found
        chunk, pending = pending[:100], pending[100:]
        items: dict[str, Any] = {}
        for table, key, spec in chunk:
            entry = items.setdefault(table, {k: v for k, v in spec.items() if k != "Keys"} | {"Keys": []})
            entry["Keys"].append(key)
        resp = ddb.batch_get_item(RequestItems=items)
        for table, rows in resp.get("Responses", {}).items():
            found[table].extend(r for r in (from_item(x) for x in rows) if r)
        for table, spec in resp.get("UnprocessedKeys", {}).items():
            pending += [(table, key, spec) for key in spec["Keys"]]
        if resp.get("UnprocessedKeys"):
            time.sleep(min(0.05 * 2**attempt, 1))
    if pending:
        raise RuntimeError("BatchGetItem left keys unprocessed")
    return found


@dataclass(frozen=True)
class Read(Generic[T]):
    """A read intent a repository hands out: the keys it needs from its own table and how to turn
    what comes back into a value, so a caller can batch reads of several domains in one call
    (``read_all``) without knowing their tables or keys."""

    table: str
    keys: list[dict[str, Any]]
    parse: Callable[[list[dict[str, Any]]], T]
    consistent: bool = False


def read_all(*reads: Read[Any]) -> list[Any]:
    """One BatchGetItem (chunked, unprocessed keys retried) for every read; each read's value,
    in order. An item goes to each read that asked for its key."""
    wanted = [r for r in reads if r.keys]
    request: dict[str, dict[str, Any]] = {}
    for r in wanted:
        entry = request.setdefault(r.table, {"Keys": [], "ConsistentRead": False})
        entry["ConsistentRead"] = entry["ConsistentRead"] or r.consistent
        entry["Keys"] += [k for k in r.keys if k not in entry["Keys"]]
    found = batch_get(aws.client("dynamodb"), request) if request else {}
    out = []
    for r in reads:
        names = {name for key in r.keys for name in key}
        mine = {_key_of(k, names) for k in r.keys}
        rows = [item for item in found.get(r.table, []) if _key_of(to_item(item), names) in mine]
        out.append(r.parse(rows))
    return out


def ping_read(table: str) -> Read[None]:
    """A read of one key no item has: a repository's ``ping()`` (the health check batches every
    domain's into one BatchGetItem, so a missing table or a refused permission shows)."""
    return Read(table, [to_item({"pk": "PING", "sk": "-"})], lambda rows: None)


def _key_of(item: dict[str, Any], names: set[str]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((n, json.dumps(item.get(n), sort_keys=True)) for n in names))


INDEX_KEYS = ("pk", "sk", "gsi1pk", "gsi1sk", "gsi2pk", "gsi2sk")


def strip(item: dict[str, Any] | None, keep: tuple[str, ...] = ()) -> dict[str, Any] | None:
    """A stored item without its table and index keys (what services work with)."""
    if item is None:
        return None
    return {k: v for k, v in item.items() if k not in INDEX_KEYS or k in keep}


def query_page(
    ddb: Any,
    table: str,
    key: tuple[str, str],
    limit: int,
    cursor: dict[str, Any] | None,
    *,
    index: str | None = None,
    newest_first: bool = False,
    sort_between: tuple[str, str, str] | None = None,
    keep: tuple[str, ...] = (),
) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """One page of one partition (of the table or an index): the items and the cursor for the
    next page. ``sort_between`` = (sort key name, low, high)."""
    names = {"#k": key[0]}
    vals = values(v=key[1])
    condition = "#k = :v"
    if sort_between:
        names["#s"] = sort_between[0]
        vals.update(values(lo=sort_between[1], hi=sort_between[2]))
        condition += " AND #s BETWEEN :lo AND :hi"
    args: dict[str, Any] = {
        "TableName": table,
        "KeyConditionExpression": condition,
        "Limit": limit,
        "ExpressionAttributeNames": names,
        "ExpressionAttributeValues": vals,
        "ScanIndexForward": not newest_first,
    }
    if index:
        args["IndexName"] = index
    if cursor:
        args["ExclusiveStartKey"] = cursor
    try:
        resp = ddb.query(**args)
    except ClientError as exc:
        # A cursor of the right shape that is not a key of this listing (made up, or another
        # listing's): DynamoDB refuses the start key. The client's mistake, not ours.
        if cursor and error_code(exc) == "ValidationException":
            raise ValidationError("cursor is invalid", fields={"cursor": "not a cursor of this listing"}) from None
        raise
    items = [i for i in (strip(from_item(x), keep) for x in resp.get("Items", [])) if i]
    return items, resp.get("LastEvaluatedKey")


def put_new(table: str, item: dict[str, Any]) -> dict[str, Any]:
    """A TransactWriteItems Put of a plain ``item`` that fails if an item with its key exists."""
    return {"Put": {"TableName": table, "Item": to_item(item), "ConditionExpression": "attribute_not_exists(pk)"}}
