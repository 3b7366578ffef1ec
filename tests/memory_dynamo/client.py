"""``MemoryDynamo``: the client calls (see the package's docstring), one lock around each."""

from __future__ import annotations

import copy
import hashlib
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ParamValidationError

from tests.memory_dynamo.evaluate import apply_update, holds, key_condition
from tests.memory_dynamo.parser import Placeholders, parse_condition, parse_projection, parse_update
from tests.memory_dynamo.tables import Key, Table, canon, error, exceptions, model, tables_for_stage
from tests.memory_dynamo.values import Invalid, Item, equal, kind, normalised, project

TOKEN_WINDOW_SECONDS = 600
CONDITION_FAILED = "The conditional request failed"
UPDATE_RETURNS = ("ALL_NEW", "UPDATED_OLD", "UPDATED_NEW")
_EXPRESSION_KEYS = {"ExpressionAttributeNames", "ExpressionAttributeValues", "ReturnConsumedCapacity"}


class MemoryDynamo:
    def __init__(self, tables: list[Table], clock: Callable[[], float] = time.time) -> None:
        self.tables = {t.name: t for t in tables}
        self.clock = clock
        self.hooks: list[Callable[[str, dict[str, Any]], None]] = []  # (operation, params), before each call
        self.calls: list[str] = []
        self._tokens: dict[str, tuple[str, float, bool]] = {}  # token -> (items' digest, first seen, committed)
        self._lock = threading.RLock()
        self.exceptions = exceptions()

    @classmethod
    def for_stage(cls, stage: str = "local", clock: Callable[[], float] = time.time) -> MemoryDynamo:
        """Empty tables as infra/resources.json defines them, named for ``stage``."""
        return cls(tables_for_stage(stage), clock)

    # -- for tests ---------------------------------------------------------------------------
    def items(self, table: str) -> list[Item]:
        """Every item of a table, in key order (a copy)."""
        with self._lock:
            t = self.tables[table]
            return [copy.deepcopy(t.rows[k]) for k in sorted(t.rows, key=repr)]

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        raise NotImplementedError(f"MemoryDynamo does not implement {name}: add it (and its contract test)")

    # -- plumbing ----------------------------------------------------------------------------
    def _begin(self, operation: str, params: dict[str, Any], allowed: set[str]) -> None:
        """Check ``params`` as botocore would, refuse what is not implemented, run the hooks."""
        from botocore.validate import ParamValidator

        report = ParamValidator().validate(params, model().operation_model(operation).input_shape)
        if report.has_errors():
            raise ParamValidationError(report=report.generate_report())
        unknown = set(params) - allowed - _EXPRESSION_KEYS
        if unknown:
            raise NotImplementedError(f"MemoryDynamo {operation}: {sorted(unknown)} not implemented")
        self.calls.append(operation)
        for hook in list(self.hooks):
            hook(operation, params)

    def _table(self, name: str, operation: str) -> Table:
        if name not in self.tables:
            raise error("ResourceNotFoundException", "Requested resource not found", operation)
        return self.tables[name]

    @staticmethod
    def _placeholders(params: dict[str, Any]) -> Placeholders:
        for key in ("ExpressionAttributeNames", "ExpressionAttributeValues"):
            if key in params and not params[key]:
                raise Invalid(f"{key} must not be empty")
        values = {k: normalised(v) for k, v in params.get("ExpressionAttributeValues", {}).items()}
        return Placeholders(dict(params.get("ExpressionAttributeNames", {})), values)

    def _run(self, operation: str, body: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        with self._lock:
            try:
                return body()
            except Invalid as exc:
                raise error("ValidationException", str(exc), operation) from None

    # -- single items ------------------------------------------------------------------------
    def get_item(self, **params: Any) -> dict[str, Any]:
        self._begin("GetItem", params, {"TableName", "Key", "ConsistentRead", "ProjectionExpression"})

        def body() -> dict[str, Any]:
            table = self._table(params["TableName"], "GetItem")
            ph = self._placeholders(params)
            paths = parse_projection(params["ProjectionExpression"], ph) if "ProjectionExpression" in params else None
            ph.check_all_used()
            item = table.rows.get(table.key_of(params["Key"]))
            if item is None:
                return {}
            return {"Item": project(item, paths) if paths else copy.deepcopy(item)}

        return self._run("GetItem", body)

    def put_item(self, **params: Any) -> dict[str, Any]:
        self._begin("PutItem", params, {"TableName", "Item", "ConditionExpression", "ReturnValues"})
        return self._run("PutItem", lambda: self._write("PutItem", params))

    def update_item(self, **params: Any) -> dict[str, Any]:
        allowed = {"TableName", "Key", "UpdateExpression", "ConditionExpression", "ReturnValues"}
        self._begin("UpdateItem", params, allowed)
        return self._run("UpdateItem", lambda: self._write("UpdateItem", params))

    def delete_item(self, **params: Any) -> dict[str, Any]:
        self._begin("DeleteItem", params, {"TableName", "Key", "ConditionExpression", "ReturnValues"})
        return self._run("DeleteItem", lambda: self._write("DeleteItem", params))

    def _write(self, operation: str, params: dict[str, Any]) -> dict[str, Any]:
        table = self._table(params["TableName"], operation)
        plan = self._plan(operation, params, table)
        returns = params.get("ReturnValues", "NONE")
        if returns not in ("NONE", "ALL_OLD") and (operation != "UpdateItem" or returns not in UPDATE_RETURNS):
            raise Invalid(f"Return values set to invalid value: {returns}")
        old = table.rows.get(plan.key)
        if plan.condition is not None and not holds(plan.condition, old or {}):
            raise error("ConditionalCheckFailedException", CONDITION_FAILED, operation)
        new = plan.new_item(old)
        if new is None:
            table.rows.pop(plan.key, None)
        else:
            table.rows[plan.key] = new
        if returns == "NONE" or (returns.endswith("OLD") and old is None):
            return {}
        if returns in ("ALL_OLD", "ALL_NEW"):
            return {"Attributes": copy.deepcopy(old if returns == "ALL_OLD" else new)}
        u = plan.update
        changed = [p for p, _ in u.sets] + [p for p, _ in u.adds] + [p for p, _ in u.deletes]
        return {"Attributes": project((new if returns == "UPDATED_NEW" else old) or {}, changed)}

    def _plan(self, operation: str, params: dict[str, Any], table: Table) -> _Plan:
        """A write's key, condition and change, checked before anything is written."""
        ph = self._placeholders(params)
        condition = parse_condition(params["ConditionExpression"], ph) if "ConditionExpression" in params else None
        if operation in ("PutItem", "Put"):
            key, item = table.checked(params["Item"])
            plan = _Plan(table, key, condition, item=item)
        else:
            key = table.key_of(params["Key"])
            plan = _Plan(table, key, condition, key_item={n: normalised(v) for n, v in params["Key"].items()})
            if operation in ("UpdateItem", "Update"):
                if "UpdateExpression" not in params:
                    raise NotImplementedError("MemoryDynamo: an update without an UpdateExpression (AttributeUpdates)")
                plan.update = parse_update(params["UpdateExpression"], ph)
                for path in plan.update.paths():
                    if path[0] in table.key_names:
                        raise Invalid(f"Cannot update attribute {path[0]}. This attribute is part of the key")
            elif operation in ("DeleteItem", "Delete"):
                plan.delete = True
        ph.check_all_used()
        return plan

    # -- reads of many items -----------------------------------------------------------------
    def query(self, **params: Any) -> dict[str, Any]:
        allowed = {"TableName", "IndexName", "KeyConditionExpression", "FilterExpression", "ProjectionExpression"}
        allowed |= {"ScanIndexForward", "Limit", "ExclusiveStartKey", "ConsistentRead", "Select"}
        self._begin("Query", params, allowed)
        return self._run("Query", lambda: self._query(params))

    def _query(self, params: dict[str, Any]) -> dict[str, Any]:
        table = self._table(params["TableName"], "Query")
        index = None
        if "IndexName" in params:
            index = table.indexes.get(params["IndexName"])
            if index is None:
                raise Invalid(f"The table does not have the specified index: {params['IndexName']}")
            if params.get("ConsistentRead"):
                raise Invalid("Consistent reads are not supported on global secondary indexes")
        hash_name, range_name = (index.hash, index.range) if index else (table.hash, table.range)
        if "KeyConditionExpression" not in params:
            raise NotImplementedError("MemoryDynamo: a Query without a KeyConditionExpression (KeyConditions)")
        ph = self._placeholders(params)
        keys = parse_condition(params["KeyConditionExpression"], ph, "KeyConditionExpression")
        filt = (
            parse_condition(params["FilterExpression"], ph, "FilterExpression")
            if "FilterExpression" in params
            else None
        )
        paths = parse_projection(params["ProjectionExpression"], ph) if "ProjectionExpression" in params else None
        ph.check_all_used()
        hash_value, range_condition = key_condition(keys, hash_name, range_name)
        if kind(hash_value) != table.types[hash_name]:
            raise Invalid(
                "One or more parameter values were invalid: Condition parameter type does not match schema type"
            )

        def matches(item: Item) -> bool:
            in_index = range_name is None or range_name in item  # a GSI holds only items with its keys
            return (
                in_index
                and equal(item.get(hash_name), hash_value)
                and (range_condition is None or holds(range_condition, item))
            )

        def order(item: Item) -> tuple[Any, ...]:
            keys = [range_name] if range_name else []
            if index:
                keys += list(table.key_names)
            return tuple(canon(item[k]) for k in keys)

        forward = params.get("ScanIndexForward", True)
        found = sorted((i for i in table.rows.values() if matches(i)), key=order, reverse=not forward)
        start = params.get("ExclusiveStartKey")
        if start is not None:
            expected = set(table.key_names) | ({index.hash, index.range} - {None} if index else set())
            if set(start) != expected:
                raise Invalid(
                    "The provided starting key is invalid: The provided key element does not match the schema"
                )
            start = {n: normalised(v) for n, v in start.items()}
            if not matches(start):
                raise Invalid("The provided starting key is outside query boundaries based on provided conditions")
            mark = order(start)
            found = [i for i in found if (order(i) > mark if forward else order(i) < mark)]
        limit = params.get("Limit")
        page = found[:limit] if limit else found
        items = [i for i in page if filt is None or holds(filt, i)]
        out: dict[str, Any] = {"Count": len(items), "ScannedCount": len(page)}
        if params.get("Select") == "COUNT":
            if paths:
                raise Invalid("Cannot specify the ProjectionExpression when choosing to get only the Count")
        elif params.get("Select", "ALL_ATTRIBUTES") in (
            "ALL_ATTRIBUTES",
            "ALL_PROJECTED_ATTRIBUTES",
            "SPECIFIC_ATTRIBUTES",
        ):
            shown = [table.projected(i, index) for i in items]
            out["Items"] = [project(i, paths) for i in shown] if paths else shown
        if limit and len(page) == limit:  # as DynamoDB: the page reached its Limit, whatever follows
            out["LastEvaluatedKey"] = table.keys(page[-1], index)
        return out

    def batch_get_item(self, **params: Any) -> dict[str, Any]:
        self._begin("BatchGetItem", params, {"RequestItems"})

        def body() -> dict[str, Any]:
            requests = params["RequestItems"]
            if sum(len(spec["Keys"]) for spec in requests.values()) > 100:
                raise Invalid("Too many items requested for the BatchGetItem call")
            responses: dict[str, list[Item]] = {}
            for name, spec in requests.items():
                unknown = set(spec) - {"Keys", "ConsistentRead", "ProjectionExpression", "ExpressionAttributeNames"}
                if unknown:
                    raise NotImplementedError(f"MemoryDynamo BatchGetItem: {sorted(unknown)} not implemented")
                table = self._table(name, "BatchGetItem")
                ph = self._placeholders(spec)
                paths = parse_projection(spec["ProjectionExpression"], ph) if "ProjectionExpression" in spec else None
                ph.check_all_used()
                keys = [table.key_of(k) for k in spec["Keys"]]
                if len(set(keys)) != len(keys):
                    raise Invalid("Provided list of item keys contains duplicates")
                found = [table.rows[k] for k in sorted(keys, key=repr) if k in table.rows]
                responses[name] = [project(i, paths) if paths else copy.deepcopy(i) for i in found]
            return {"Responses": responses, "UnprocessedKeys": {}}

        return self._run("BatchGetItem", body)

    # -- transactions ------------------------------------------------------------------------
    def transact_write_items(self, **params: Any) -> dict[str, Any]:
        self._begin(
            "TransactWriteItems", params, {"TransactItems", "ClientRequestToken", "ReturnItemCollectionMetrics"}
        )
        return self._run("TransactWriteItems", lambda: self._transact(params))

    def _transact(self, params: dict[str, Any]) -> dict[str, Any]:
        op = "TransactWriteItems"
        entries = params["TransactItems"]
        if len(entries) > 100:
            raise Invalid("Member must have length less than or equal to 100")
        token, digest, now = params.get("ClientRequestToken"), _digest(entries), self.clock()
        self._tokens = {t: v for t, v in self._tokens.items() if now - v[1] <= TOKEN_WINDOW_SECONDS}
        if token in self._tokens:
            first, _, committed = self._tokens[token]
            if first != digest:
                message = "Request with the same ClientRequestToken has different parameters"
                raise error("IdempotentParameterMismatchException", message, op)
            if committed:
                return {}  # the same transaction again: success, and nothing written twice
        plans, targets = [], set()
        for entry in entries:
            if len(entry) != 1:
                raise Invalid("TransactItems can only contain one of Check, Put, Update or Delete")
            ((kind_, body),) = entry.items()
            plan = self._plan(kind_, body, self._table(body["TableName"], op))
            if (plan.table.name, plan.key) in targets:
                raise Invalid("Transaction request cannot include multiple operations on one item")
            targets.add((plan.table.name, plan.key))
            plan.check_only = kind_ == "ConditionCheck"
            plans.append(plan)
        reasons, writes = [], []
        for plan in plans:  # each item is judged against the state before the transaction
            old = plan.table.rows.get(plan.key)
            if plan.condition is not None and not holds(plan.condition, old or {}):
                reasons.append({"Code": "ConditionalCheckFailed", "Message": CONDITION_FAILED})
                continue
            try:
                writes.append((plan, None if plan.check_only else plan.new_item(old)))
            except Invalid as exc:
                reasons.append({"Code": "ValidationError", "Message": str(exc)})
                continue
            reasons.append({"Code": "None"})
        first_seen = self._tokens.get(token, (digest, now, False))[1] if token else now
        if any(r["Code"] != "None" for r in reasons):
            if token:
                self._tokens[token] = (digest, first_seen, False)
            codes = ", ".join(r["Code"] for r in reasons)
            message = f"Transaction cancelled, please refer cancellation reasons for specific reasons [{codes}]"
            raise error("TransactionCanceledException", message, op, CancellationReasons=reasons)
        for plan, new in writes:
            if plan.check_only:
                continue
            if new is None:
                plan.table.rows.pop(plan.key, None)
            else:
                plan.table.rows[plan.key] = new
        if token:
            self._tokens[token] = (digest, first_seen, True)
        return {}


@dataclass
class _Plan:
    table: Table
    key: Key
    condition: tuple[Any, ...] | None
    item: Item | None = None  # a Put's item
    key_item: Item | None = None
    update: Any = None
    delete: bool = False
    check_only: bool = False

    def new_item(self, old: Item | None) -> Item | None:
        """The item after this write (None: deleted), checked as a Put would be."""
        if self.delete:
            return None
        if self.update is not None:
            return self.table.checked(apply_update(self.update, old or dict(self.key_item or {})))[1]
        if self.item is not None:
            return copy.deepcopy(self.item)
        return old


def _digest(entries: list[dict[str, Any]]) -> str:
    return hashlib.sha256(json.dumps(entries, sort_keys=True, default=repr).encode()).hexdigest()
