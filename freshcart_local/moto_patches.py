"""Make moto's DynamoDB behave like DynamoDB where our code depends on it. moto is pinned exactly
(constraints.txt) and tests/integration/test_moto_patches.py fails loudly if what we replace
changes upstream.

1. One request at a time. moto's DynamoDB is not thread-safe; real DynamoDB applies each request
   atomically. A lock around the DynamoDB and DynamoDB Streams handlers gives that guarantee, so
   concurrency tests exercise OUR conditions, not moto's races, and a stream reader never sees a
   transaction half-applied.
2. Transactions cost O(their own items). moto 5.2.5 deep-copies every table a TransactWriteItems
   touches and, when it is cancelled, puts the copies back in place of the tables: each
   transaction costs O(table size), and the replaced table's stream shard is no longer the one
   the stream pollers hold iterators on, so they hear nothing again. Ours keeps an undo log of
   the touched items instead and, on cancellation, restores them and drops the stream records
   the transaction appended: the tables (and their shards) stay the same objects, a cancelled
   transaction leaves no trace and emits no record.
3. One stream record for an Update that creates its item (moto appends two).
4. ``ClientRequestToken``, as DynamoDB honours it: the same token with the same items within 10
   minutes of a committed transaction succeeds again without effect; with other items (after a
   commit or a cancellation) it is an ``IdempotentParameterMismatchException``. A boto3 retry of
   a transaction that had committed (a read timeout) therefore succeeds instead of failing its own
   conditions.
5. ``/moto-api/data.json`` (the mailbox, ``make mailbox``) with Lambda functions present: moto asks
   each model for every attribute, and a function's ``docker_client`` raises a DockerException
   when no Docker daemon runs (ours run in-process, freshcart_local/lambdas.py). It raises an
   AttributeError instead, which that listing skips.
6. A state machine definition is validated once per process. moto parses the whole ASL with its
   ANTLR grammar on every CreateStateMachine (and throws the parse away): ~0.3 s of the 0.4 s a
   test's provisioning took. A definition that parsed once is remembered by its text; a new or
   invalid one is parsed (and refused) as before. Executions still parse their own copy.
"""

from __future__ import annotations

import copy
import hashlib
import json
import threading
import time
from collections import OrderedDict
from typing import Any

TOKEN_WINDOW_SECONDS = 600
# What we replace or wrap, as pinned: the canary test compares these with the installed moto.
PINNED_MOTO = "5.2.5"
REPLACED_SOURCES = {
    "moto.dynamodb.models.DynamoDBBackend.transact_write_items": (
        "81db2cb7d94e39c90b3a2077e1f4bb41a449c558ef9b1b1e2910fdaa39978ad4"
    ),
    "moto.dynamodb.responses.DynamoHandler.transact_write_items": (
        "61c163fff213f33a39317a17fda194a9c1e800992421575d2080f4500bf45372"
    ),
    "moto.stepfunctions.models.StateMachine._handle_name_input_idempotency": (
        "9a117fdd6df2c99b371e4bce8953c599f597309dd9bae0774456298c051dc6f2"
    ),
    "moto.stepfunctions.parser.models.StepFunctionsParserBackend._validate_definition": (
        "a5921e3d3b46dcd341ec3a64e61af486cd2f843751a1890e07e9ea0f0008569b"
    ),
}

LOCK = threading.RLock()  # held for each DynamoDB (and Streams) request; the snapshot reads under it
_applied = False
ORIGINALS: dict[str, Any] = {}  # what apply() replaced, for the canary test


def _serialised(original: Any) -> Any:
    def call_action(self: Any) -> Any:
        with LOCK:
            return original(self)

    return call_action


class _Undo:
    """The touched items as they were before a transaction, and each stream's length."""

    def __init__(self) -> None:
        self.items: list[tuple[Any, Any, Any, Any]] = []  # (table, hash, range, previous item or None)
        self.streams: dict[int, tuple[Any, int]] = {}

    def remember(self, table: Any, hash_value: Any, range_value: Any) -> None:
        previous = table.get_item(hash_value, range_value)
        self.items.append((table, hash_value, range_value, copy.deepcopy(previous)))
        shard = table.stream_shard
        if shard is not None and id(shard) not in self.streams:
            self.streams[id(shard)] = (shard, len(shard.items))

    def rollback(self) -> None:
        for table, hash_value, range_value, previous in reversed(self.items):
            if range_value is None:
                if previous is None:
                    table.items.pop(hash_value, None)
                else:
                    table.items[hash_value] = previous
                continue
            rows = table.items[hash_value]
            if previous is None:
                rows.pop(range_value, None)
                if not rows:
                    table.items.pop(hash_value, None)
            else:
                rows[range_value] = previous
        for shard, length in self.streams.values():
            del shard.items[length:]


def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
    """moto's own loop (same checks, same cancellation reasons) with an undo log instead of
    deep copies of whole tables."""
    from moto.dynamodb.comparisons import get_filter_expression
    from moto.dynamodb.exceptions import (
        ConditionalCheckFailed,
        MockValidationException,
        MultipleTransactionsException,
        TooManyTransactionsException,
        TransactionCanceledException,
        TransactWriteSingleOpException,
    )
    from moto.dynamodb.models.dynamo_type import DynamoType

    if len(transact_items) > 100:
        raise TooManyTransactionsException()
    undo = _Undo()
    target_items: set[tuple[str, str]] = set()
    errors: list[tuple[Any, Any, Any]] = []
    for item in transact_items:
        original_item: dict[str, Any] | None = None
        if len(list(item.keys())) > 1:
            raise TransactWriteSingleOpException
        try:
            op_type, op = next(iter(item.items()))
            if op_type not in {"ConditionCheck", "Put", "Delete", "Update"}:
                raise ValueError("Unsupported transaction operation")
            table_name = op["TableName"]
            condition_expression = op.get("ConditionExpression")
            names = op.get("ExpressionAttributeNames")
            vals = op.get("ExpressionAttributeValues")
            table = self.get_table(table_name)
            if op_type == "Put":
                attrs = op["Item"]
                key = {table.hash_key_attr: attrs[table.hash_key_attr]}
                if table.range_key_attr is not None:
                    key[table.range_key_attr] = attrs[table.range_key_attr]
            else:
                key = op["Key"]
            marker = (str(table_name), str(dict(sorted(key.items()))))
            if marker in target_items:
                raise MultipleTransactionsException()
            target_items.add(marker)

            current = self.get_item(table_name, key)
            if condition_expression is not None:
                condition_op = get_filter_expression(condition_expression, names, vals)
                if not condition_op.expr(current):
                    if op.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD" and current:
                        original_item = current.to_json()["Attributes"]
                    raise ConditionalCheckFailed(item=original_item)

            if op_type != "ConditionCheck":
                hash_value = DynamoType(key[table.hash_key_attr])
                range_value = DynamoType(key[table.range_key_attr]) if table.range_key_attr else None
                undo.remember(table, hash_value, range_value)
            if op_type == "Put":
                self.put_item(
                    table_name,
                    op["Item"],
                    condition_expression=condition_expression,
                    expression_attribute_names=names,
                    expression_attribute_values=vals,
                )
            elif op_type == "Delete":
                self.delete_item(
                    table_name,
                    key,
                    condition_expression=condition_expression,
                    expression_attribute_names=names,
                    expression_attribute_values=vals,
                )
            elif op_type == "Update":
                self.update_item(
                    table_name,
                    key,
                    update_expression=op["UpdateExpression"],
                    condition_expression=condition_expression,
                    expression_attribute_names=names,
                    expression_attribute_values=vals,
                )
            errors.append((None, None, None))
        except (MultipleTransactionsException, MockValidationException):
            undo.rollback()
            raise
        except ConditionalCheckFailed as e:
            errors.append(("ConditionalCheckFailed", str(e.message), original_item))
        except Exception as e:
            errors.append((type(e).__name__, str(e), original_item))

    if any(code is not None for code, _, _ in errors):
        undo.rollback()
        raise TransactionCanceledException(errors)


def _one_record_per_update(original: Any) -> Any:
    """moto creates a missing item for an Update by putting its bare key first, which appends a
    stream record of its own; DynamoDB sends one INSERT with the updated item."""

    def update_item(self: Any, table_name: str, key: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        shard = self.get_table(table_name).stream_shard
        before = len(shard.items) if shard is not None else 0
        item = original(self, table_name, key, *args, **kwargs)
        if shard is not None and len(shard.items) == before + 2:
            del shard.items[before:]
            shard.add(None, item)
        return item

    return update_item


def fingerprint(transact_items: list[dict[str, Any]]) -> str:
    return hashlib.sha256(json.dumps(transact_items, sort_keys=True).encode()).hexdigest()


def _honour_token(original: Any) -> Any:
    """A token names one request for 10 minutes: the same items again answer the committed
    result without effect; other items are a mismatch, whether the first attempt committed or
    was cancelled (so a caller reusing a name across attempts fails here, not first on AWS). A
    cancelled transaction's same items are evaluated again."""

    def handler(self: Any) -> Any:
        from moto.core.responses import ActionResult
        from moto.dynamodb.exceptions import DynamodbException, TransactionCanceledException

        token = self.body.get("ClientRequestToken")
        if not token:
            return original(self)
        backend = self.dynamodb_backend
        seen: OrderedDict[str, tuple[str, float, bool]] = backend.__dict__.setdefault(
            "_freshcart_tx_tokens", OrderedDict()
        )
        now = time.monotonic()
        while seen and now - next(iter(seen.values()))[1] > TOKEN_WINDOW_SECONDS:  # oldest first
            seen.popitem(last=False)
        mark = fingerprint(self.body["TransactItems"])
        if token in seen:
            first_mark, _, committed = seen[token]
            if first_mark != mark:
                raise DynamodbException(
                    "IdempotentParameterMismatchException",
                    "Request with the same ClientRequestToken has different parameters",
                )
            if committed:
                return ActionResult({"ConsumedCapacity": [], "ItemCollectionMetrics": {}})
        try:
            result = original(self)
        except TransactionCanceledException:
            seen.setdefault(token, (mark, now, False))
            raise
        seen[token] = (mark, seen.get(token, (mark, now, False))[1], True)
        return result

    return handler


def _no_docker_is_no_attribute(original: Any) -> property:
    def docker_client(self: Any) -> Any:
        from docker.errors import DockerException

        try:
            return original.fget(self)
        except DockerException as e:
            raise AttributeError(f"docker_client: {e}") from e

    return property(docker_client)


def _validated_once(original: Any) -> Any:
    valid: set[str] = set()

    def validate(definition: str) -> None:
        if definition not in valid:
            original(definition)  # raises InvalidDefinition: not remembered
            valid.add(definition)

    return staticmethod(validate)


def _express_runs_again(original: Any) -> Any:
    """AWS does not dedupe Express executions by name: a second start with a used name starts
    another run (moto applies the Standard rule to both). Standard machines keep moto's rule."""

    def handle(self: Any, name: str, execution_input: str) -> Any:
        if getattr(self, "type", "STANDARD") == "EXPRESS":
            return None
        return original(self, name, execution_input)

    return handle


def apply() -> None:
    global _applied
    if _applied:
        return
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.responses import DynamoHandler
    from moto.dynamodbstreams.responses import DynamoDBStreamsHandler

    ORIGINALS["DynamoDBBackend.transact_write_items"] = DynamoDBBackend.transact_write_items
    ORIGINALS["DynamoHandler.transact_write_items"] = DynamoHandler.transact_write_items
    ORIGINALS["DynamoDBBackend.update_item"] = DynamoDBBackend.update_item
    DynamoDBBackend.update_item = _one_record_per_update(DynamoDBBackend.update_item)  # type: ignore[method-assign]
    DynamoHandler.call_action = _serialised(DynamoHandler.call_action)  # type: ignore[method-assign]
    DynamoDBStreamsHandler.call_action = _serialised(DynamoDBStreamsHandler.call_action)  # type: ignore[method-assign]
    DynamoHandler.transact_write_items = _honour_token(DynamoHandler.transact_write_items)  # type: ignore[method-assign]
    DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]
    from moto.utilities.docker_utilities import DockerModel

    DockerModel.docker_client = _no_docker_is_no_attribute(DockerModel.docker_client)  # type: ignore[method-assign,assignment]
    from moto.stepfunctions.parser.models import StepFunctionsParserBackend

    original = StepFunctionsParserBackend._validate_definition
    ORIGINALS["StepFunctionsParserBackend._validate_definition"] = original
    StepFunctionsParserBackend._validate_definition = _validated_once(original)  # type: ignore[method-assign,assignment]
    from moto.stepfunctions.models import StateMachine

    ORIGINALS["StateMachine._handle_name_input_idempotency"] = StateMachine._handle_name_input_idempotency
    StateMachine._handle_name_input_idempotency = _express_runs_again(  # type: ignore[method-assign]
        StateMachine._handle_name_input_idempotency
    )
    _applied = True
