"""MemoryDynamo where it is stricter than moto, as DynamoDB is (the shared behaviour is held to
moto by tests/integration/test_memory_dynamo_contract.py), and where it refuses loudly."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError, ParamValidationError

from chalicelib.core import tx
from chalicelib.core.config import get_settings
from chalicelib.core.dynamo import error_code, from_item, to_item, values
from tests.fast.world import Clock
from tests.memory_dynamo import MemoryDynamo, installed


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def ddb(clock: Clock) -> Iterator[MemoryDynamo]:
    with installed(clock) as dynamo:
        yield dynamo


def _table() -> str:
    return get_settings().payments_table


def _put(ddb: MemoryDynamo, pk: str, sk: str, **attrs: Any) -> None:
    ddb.put_item(TableName=_table(), Item=to_item({"pk": pk, "sk": sk, **attrs}))


def test_a_page_that_reaches_its_limit_has_a_next_page_even_when_it_is_empty(ddb: MemoryDynamo) -> None:
    for i in range(4):
        _put(ddb, "P", f"s{i}")
    args = {
        "TableName": _table(),
        "KeyConditionExpression": "pk = :p",
        "ExpressionAttributeValues": values(p="P"),
        "Limit": 2,
    }
    first = ddb.query(**args)
    second = ddb.query(**args, ExclusiveStartKey=first["LastEvaluatedKey"])
    assert [from_item(i)["sk"] for i in second["Items"]] == ["s2", "s3"]  # type: ignore[index]
    last = ddb.query(**args, ExclusiveStartKey=second["LastEvaluatedKey"])  # as DynamoDB: it cannot know
    assert (last["Items"], "LastEvaluatedKey" in last) == ([], False)


def test_batch_get_answers_in_no_particular_order(ddb: MemoryDynamo) -> None:
    for sk in ("a", "b", "c"):
        _put(ddb, "B", sk)
    keys = [to_item({"pk": "B", "sk": sk}) for sk in ("c", "a", "b")]
    got = ddb.batch_get_item(RequestItems={_table(): {"Keys": keys}})["Responses"][_table()]
    assert [i["sk"]["S"] for i in got] == ["a", "b", "c"]  # not the order asked in: callers must match keys


def test_what_it_does_not_implement_is_refused_loudly(ddb: MemoryDynamo) -> None:
    with pytest.raises(NotImplementedError):
        ddb.scan(TableName=_table())
    with pytest.raises(NotImplementedError):
        ddb.query(
            TableName=_table(), KeyConditions={"pk": {"ComparisonOperator": "EQ", "AttributeValueList": [{"S": "x"}]}}
        )
    with pytest.raises(NotImplementedError):  # syntax it cannot parse
        ddb.update_item(
            TableName=_table(),
            Key=to_item({"pk": "x", "sk": "y"}),
            UpdateExpression="SET a = :v +",
            ExpressionAttributeValues=values(v=1),
        )
    with pytest.raises(ParamValidationError):  # as botocore checks before sending
        ddb.get_item(TableName=_table(), Key={"pk": "not an attribute value"})


def test_an_item_that_cannot_be_applied_cancels_its_transaction(ddb: MemoryDynamo) -> None:
    good = {"Put": {"TableName": _table(), "Item": to_item({"pk": "V", "sk": "1"})}}
    bad = {
        "Update": {
            "TableName": _table(),
            "Key": to_item({"pk": "V", "sk": "2"}),
            "UpdateExpression": "SET n = n + :one",
            "ExpressionAttributeValues": values(one=1),
        }
    }
    with pytest.raises(ClientError) as info:  # not a state to explain: tx.commit lets it through
        tx.commit([tx.Tagged("good", good), tx.Tagged("bad", bad)], "memory:invalid")
    assert error_code(info.value) == "TransactionCanceledException"
    assert [r["Code"] for r in info.value.response["CancellationReasons"]] == ["None", "ValidationError"]
    assert ddb.items(_table()) == []
    with pytest.raises(ClientError) as between:
        ddb.update_item(
            TableName=_table(),
            Key=to_item({"pk": "V", "sk": "1"}),
            UpdateExpression="SET a = :lo",
            ConditionExpression="a BETWEEN :hi AND :lo",
            ExpressionAttributeValues=values(lo=1, hi=2),
        )
    assert error_code(between.value) == "ValidationException"


def test_a_request_token_is_remembered_for_ten_minutes(ddb: MemoryDynamo, clock: Clock) -> None:
    def bump(by: int) -> None:
        update = {
            "TableName": _table(),
            "Key": to_item({"pk": "T", "sk": "1"}),
            "UpdateExpression": "ADD n :by",
            "ExpressionAttributeValues": values(by=by),
        }
        ddb.transact_write_items(TransactItems=[{"Update": update}], ClientRequestToken="token-1")

    bump(1)
    with pytest.raises(ClientError):
        bump(2)
    clock.advance(601)
    bump(2)  # a new request now
    assert from_item(ddb.get_item(TableName=_table(), Key=to_item({"pk": "T", "sk": "1"}))["Item"])["n"] == 3  # type: ignore[index]


def test_calls_from_threads_are_applied_one_at_a_time(ddb: MemoryDynamo) -> None:
    def bumps() -> None:
        for _ in range(50):
            ddb.update_item(
                TableName=_table(),
                Key=to_item({"pk": "C", "sk": "1"}),
                UpdateExpression="ADD n :one",
                ExpressionAttributeValues=values(one=1),
            )

    threads = [threading.Thread(target=bumps) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert from_item(ddb.get_item(TableName=_table(), Key=to_item({"pk": "C", "sk": "1"}))["Item"])["n"] == 400  # type: ignore[index]
