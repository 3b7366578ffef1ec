"""One contract for DynamoDB as the code under chalicelib uses it, run against the in-memory client
(``tests/memory_dynamo``, in ``make test-fast``) and moto (with this project's patches, in ``make
test``): the fake the fast payment tests run on cannot drift from what the repositories meet for
real. Driven through the project's own repositories where they do the calls (PaymentsRepo,
LedgerRepo, Chain, OrdersRepo, ``core.tx.commit``, ``core.dynamo.read_all``), plus raw calls."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from chalicelib.audit.chain import GENESIS, Chain, verify_rows
from chalicelib.audit.repo import Actor
from chalicelib.core import aws, tx
from chalicelib.core.config import get_settings
from chalicelib.core.dynamo import Read, error_code, from_item, read_all, to_item, values
from chalicelib.payments.ledger import LedgerRepo
from chalicelib.payments.records import Payment, Refund
from chalicelib.payments.repo import PaymentsRepo
from tests.memory_dynamo import installed

ACTOR = Actor("u-1", "customer", "10.0.0.1", "pytest")


@pytest.fixture(params=["memory", pytest.param("moto", marks=pytest.mark.adapter)])
def ddb(request: pytest.FixtureRequest) -> Iterator[Any]:
    """The DynamoDB client the repositories get from ``aws.client("dynamodb")``."""
    if request.param == "memory":
        with installed() as dynamo:
            yield dynamo
        return
    request.getfixturevalue("aws")
    yield aws.client("dynamodb")


def _table() -> str:
    return get_settings().payments_table


def _key(pk: str, sk: str = "META") -> dict[str, Any]:
    return to_item({"pk": pk, "sk": sk})


def _get(ddb: Any, pk: str, sk: str = "META") -> dict[str, Any] | None:
    return from_item(ddb.get_item(TableName=_table(), Key=_key(pk, sk), ConsistentRead=True).get("Item"))


def _fails(call: Any, code: str) -> ClientError:
    with pytest.raises(ClientError) as info:
        call()
    assert error_code(info.value) == code, info.value.response
    return info.value


# -- single items: conditions, arithmetic, nested paths -------------------------------------------
def test_a_conditional_put_fails_and_changes_nothing(ddb: Any) -> None:
    item = to_item({"pk": "P#1", "sk": "META", "n": 1})
    ddb.put_item(TableName=_table(), Item=item, ConditionExpression="attribute_not_exists(pk)")
    again = {**item, "n": {"N": "2"}}
    exc = _fails(
        lambda: ddb.put_item(TableName=_table(), Item=again, ConditionExpression="attribute_not_exists(pk)"),
        "ConditionalCheckFailedException",
    )
    assert isinstance(exc, ddb.exceptions.ConditionalCheckFailedException)
    assert _get(ddb, "P#1") == {"pk": "P#1", "sk": "META", "n": 1}
    old = ddb.put_item(TableName=_table(), Item=again, ReturnValues="ALL_OLD")["Attributes"]
    assert from_item(old) == {"pk": "P#1", "sk": "META", "n": 1}
    ddb.delete_item(
        TableName=_table(), Key=_key("P#1"), ConditionExpression="n = :two", ExpressionAttributeValues=values(two=2)
    )
    assert _get(ddb, "P#1") is None
    _fails(
        lambda: ddb.delete_item(TableName=_table(), Key=_key("P#1"), ConditionExpression="attribute_exists(pk)"),
        "ConditionalCheckFailedException",
    )


def test_arithmetic_and_list_updates_read_the_item_as_it_was(ddb: Any) -> None:
    ddb.put_item(
        TableName=_table(), Item=to_item({"pk": "P#2", "sk": "META", "available": 5, "reserved": 0, "history": ["a"]})
    )

    def move(q: int) -> Any:
        return ddb.update_item(  # as InventoryRepo.reserve_request, with history as OrdersRepo keeps it
            TableName=_table(),
            Key=_key("P#2"),
            UpdateExpression="SET available = available - :q, reserved = reserved + :q, "
            "history = list_append(history, :h)",
            ConditionExpression="available >= :q",
            ExpressionAttributeValues=values(q=q, h=[f"q{q}"]),
            ReturnValues="ALL_NEW",
        )["Attributes"]

    assert from_item(move(3)) == {"pk": "P#2", "sk": "META", "available": 2, "reserved": 3, "history": ["a", "q3"]}
    _fails(lambda: move(3), "ConditionalCheckFailedException")
    resp = ddb.update_item(  # as VendorsRepo.load_requests and ratelimit.hit
        TableName=_table(),
        Key=_key("P#3"),
        UpdateExpression="ADD n :one, tags :t SET expiresAt = if_not_exists(expiresAt, :exp)",
        ConditionExpression="attribute_not_exists(n) OR n < :limit",
        ExpressionAttributeValues={**values(one=1, limit=2, exp=100), ":t": {"SS": ["x"]}},
        ReturnValues="UPDATED_NEW",
    )
    updated = from_item(resp["Attributes"]) or {}  # (moto adds the key of an item the update created)
    assert {k: updated[k] for k in ("n", "tags", "expiresAt")} == {"n": 1, "tags": {"x"}, "expiresAt": 100}
    ddb.update_item(
        TableName=_table(),
        Key=_key("P#3"),
        UpdateExpression="ADD n :one, tags :t SET expiresAt = if_not_exists(expiresAt, :exp)",
        ConditionExpression="attribute_not_exists(n) OR n < :limit",
        ExpressionAttributeValues={**values(one=1, limit=2, exp=999), ":t": {"SS": ["y"]}},
    )
    assert _get(ddb, "P#3") == {"pk": "P#3", "sk": "META", "n": 2, "tags": {"x", "y"}, "expiresAt": 100}
    ddb.update_item(
        TableName=_table(),
        Key=_key("P#3"),
        UpdateExpression="DELETE tags :t",
        ExpressionAttributeValues={":t": {"SS": ["x", "y"]}},
    )
    assert "tags" not in (_get(ddb, "P#3") or {})  # an emptied set is removed
    _fails(
        lambda: ddb.update_item(
            TableName=_table(),
            Key=_key("P#3"),
            UpdateExpression="SET m = missing + :one",
            ExpressionAttributeValues=values(one=1),
        ),
        "ValidationException",
    )


def test_nested_paths_set_and_remove_inside_maps(ddb: Any) -> None:
    session = {"jti": "j1", "exp": 10}
    ddb.put_item(TableName=_table(), Item=to_item({"pk": "U#1", "sk": "META", "status": "active", "sessions": {}}))
    names = {"#sid": "s-1", "#st": "status"}
    ddb.update_item(  # as UsersRepo.record_login
        TableName=_table(),
        Key=_key("U#1"),
        UpdateExpression="SET sessions.#sid = :session",
        ConditionExpression="#st = :active",
        ExpressionAttributeNames=names,
        ExpressionAttributeValues=values(session=session, active="active"),
    )

    def rotate(old: str, new: str) -> Any:  # as UsersRepo.rotate_session
        return ddb.update_item(
            TableName=_table(),
            Key=_key("U#1"),
            UpdateExpression="SET sessions.#sid.jti = :new, sessions.#sid.exp = :exp",
            ConditionExpression="sessions.#sid.jti = :old AND #st = :active",
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values(new=new, exp=20, old=old, active="active"),
        )

    rotate("j1", "j2")
    _fails(lambda: rotate("j1", "j3"), "ConditionalCheckFailedException")
    assert (_get(ddb, "U#1") or {})["sessions"] == {"s-1": {"jti": "j2", "exp": 20}}
    got = ddb.get_item(  # as UsersRepo.auth_view
        TableName=_table(),
        Key=_key("U#1"),
        ProjectionExpression="#st, sessions.#sid",
        ExpressionAttributeNames=names,
    )
    assert from_item(got["Item"]) == {"status": "active", "sessions": {"s-1": {"jti": "j2", "exp": 20}}}
    ddb.update_item(
        TableName=_table(),
        Key=_key("U#1"),
        UpdateExpression="REMOVE sessions.#sid",
        ExpressionAttributeNames={"#sid": "s-1"},
    )
    assert (_get(ddb, "U#1") or {})["sessions"] == {}
    _fails(  # a path through a map that is not there
        lambda: ddb.update_item(
            TableName=_table(),
            Key=_key("U#1"),
            UpdateExpression="SET nowhere.#sid = :v",
            ExpressionAttributeNames={"#sid": "s-1"},
            ExpressionAttributeValues=values(v=1),
        ),
        "ValidationException",
    )


CONDITIONS = [
    ("n = :one", True),
    ("n <> :one", False),
    ("absent <> :one", True),  # a missing attribute is not equal to anything
    ("absent = :one", False),
    ("n < :two AND n <= :one AND n > :zero AND n >= :one", True),
    ("n BETWEEN :zero AND :one", True),
    ("n BETWEEN :two AND :three", False),
    ("s IN (:b, :a)", True),
    ("s IN (:b, :three)", False),
    ("begins_with(s, :pre)", True),
    ("begins_with(n, :pre)", False),
    ("NOT n = :one OR s = :a", True),
    ("NOT (n = :one OR s = :a)", False),
    ("n = :two OR s = :a AND n = :zero", False),  # AND binds tighter than OR
    ("(n = :two OR s = :a) AND n = :one", True),
    ("attribute_exists(m.deeper) AND attribute_not_exists(m.nope)", True),
    ("m.deeper = :one AND m.#deep.x = :a", True),
    ("contains(s, :pre) AND contains(l, :a) AND size(l) = :two", True),
    ("s < :b", True),  # strings by code point
]


@pytest.mark.parametrize(("condition", "holds"), CONDITIONS)
def test_condition_expressions(ddb: Any, condition: str, holds: bool) -> None:
    item = {
        "pk": "C#1",
        "sk": "META",
        "n": 1,
        "s": "apple",
        "l": ["apple", "b"],
        "m": {"deeper": 1, "deep": {"x": "apple"}},
    }
    ddb.put_item(TableName=_table(), Item=to_item(item))
    used = {
        k: v
        for k, v in {"one": 1, "two": 2, "three": 3, "zero": 0, "a": "apple", "b": "banana", "pre": "ap"}.items()
        if f":{k}" in condition
    }
    args: dict[str, Any] = {
        "TableName": _table(),
        "Key": _key("C#1"),
        "UpdateExpression": "SET probe = :probe",
        "ConditionExpression": condition,
        "ExpressionAttributeValues": values(probe=True, **used),
    }
    if "#deep" in condition:
        args["ExpressionAttributeNames"] = {"#deep": "deep"}
    if holds:
        ddb.update_item(**args)
        assert (_get(ddb, "C#1") or {}).get("probe") is True
    else:
        _fails(lambda: ddb.update_item(**args), "ConditionalCheckFailedException")


def test_placeholders_keys_and_paths_are_checked(ddb: Any) -> None:
    v = values(v=1)
    for bad in (
        {"UpdateExpression": "SET a = :undefined"},
        {"UpdateExpression": "SET a = :v", "ExpressionAttributeValues": values(v=1, w=2)},  # :w unused
        {"UpdateExpression": "SET a = :v", "ExpressionAttributeNames": {"#n": "x"}, "ExpressionAttributeValues": v},
        {"UpdateExpression": "SET status = :v", "ExpressionAttributeValues": v},  # a reserved word
        {"UpdateExpression": "SET a = :v, a = :v", "ExpressionAttributeValues": v},  # overlapping paths
        {"UpdateExpression": "SET sk = :v", "ExpressionAttributeValues": values(v="x")},  # a key
        {"UpdateExpression": "SET a = :v REMOVE nope.x", "ExpressionAttributeValues": v},  # no map there
        {"UpdateExpression": "SET pendingSince = :v", "ExpressionAttributeValues": v},  # an index key is a string
        {"Key": {**_key("X#1"), "extra": {"S": "x"}}, "UpdateExpression": "SET a = :v", "ExpressionAttributeValues": v},
    ):
        _fails(
            lambda bad=bad: ddb.update_item(**{"TableName": _table(), "Key": _key("X#1"), **bad}), "ValidationException"
        )
    assert _get(ddb, "X#1") is None
    _fails(lambda: ddb.get_item(TableName="freshcart-local-nothing", Key=_key("X#1")), "ResourceNotFoundException")


# -- transactions ---------------------------------------------------------------------------------
def test_a_cancelled_transaction_names_each_item_and_writes_nothing(ddb: Any) -> None:
    repo = PaymentsRepo()
    payment = Payment("p-1", "o-1", "u-1", 100, "INR", "pm_card_visa", "PROCESSING", "t0", "t0")
    row, digest = Chain().row("o-1", 1, GENESIS, "payment_started", ACTOR, {"paymentId": "p-1"})
    head = repo.head_request("o-1", 0, 1, digest, {"paymentId": "p-1", "open": True})
    tx.commit([head, row, repo.new_payment_request(payment)], "contract:first")
    ledger = LedgerRepo().entry_request("o-1", "CHARGE", "p-1", 100, "INR", {"paymentId": "p-1"})
    stale = repo.head_request("o-1", 0, 1, digest, {})  # the head is at 1 now
    with pytest.raises(tx.Cancelled) as info:
        tx.commit([ledger, stale, repo.payment_request("o-1", "p-1", "SUCCEEDED", {"x": 1})], "contract:second")
    assert info.value.failed == {"payment:head", "payment"} and not info.value.conflict
    assert LedgerRepo().entries("o-1") == []  # the ledger entry, whose condition held, was not written either

    raw = [
        ledger.request,
        stale.request,
        {
            "ConditionCheck": {
                "TableName": _table(),
                "Key": _key("ORDER#o-1", "PAY#p-1"),
                "ConditionExpression": "attribute_exists(pk)",
            }
        },
    ]
    exc = _fails(lambda: ddb.transact_write_items(TransactItems=raw), "TransactionCanceledException")
    assert exc.response["CancellationReasons"] == [
        {"Code": "None"},
        {"Code": "ConditionalCheckFailed", "Message": "The conditional request failed"},
        {"Code": "None"},
    ]
    twice = [
        ledger.request,
        {
            "ConditionCheck": {
                "TableName": get_settings().transactions_table,
                "Key": to_item({"pk": "ORDER#o-1", "sk": "CHARGE#p-1"}),
                "ConditionExpression": "attribute_not_exists(pk)",
            }
        },
    ]
    _fails(lambda: ddb.transact_write_items(TransactItems=twice), "ValidationException")  # two operations on one item
    assert LedgerRepo().entries("o-1") == []
    assert verify_rows(Chain().rows("o-1")) == []


def test_a_request_token_commits_once_and_names_one_set_of_items(ddb: Any) -> None:
    token = uuid.uuid4().hex
    bump = {
        "Update": {
            "TableName": _table(),
            "Key": _key("T#1"),
            "UpdateExpression": "ADD n :one",
            "ExpressionAttributeValues": values(one=1),
        }
    }
    ddb.transact_write_items(TransactItems=[bump], ClientRequestToken=token)
    ddb.transact_write_items(TransactItems=[bump], ClientRequestToken=token)  # a retry after a lost answer
    assert (_get(ddb, "T#1") or {})["n"] == 1
    other = {"Update": {**bump["Update"], "ExpressionAttributeValues": values(one=5)}}
    _fails(
        lambda: ddb.transact_write_items(TransactItems=[other], ClientRequestToken=token),
        "IdempotentParameterMismatchException",
    )
    ddb.transact_write_items(TransactItems=[bump], ClientRequestToken=uuid.uuid4().hex)
    assert (_get(ddb, "T#1") or {})["n"] == 2

    guarded = {
        "Put": {
            "TableName": _table(),
            "Item": to_item({"pk": "T#2", "sk": "META"}),
            "ConditionExpression": "attribute_exists(pk)",
        }
    }
    _fails(
        lambda: ddb.transact_write_items(TransactItems=[guarded], ClientRequestToken="t-cancelled"),
        "TransactionCanceledException",
    )
    _fails(  # a cancelled token's same items are judged again, other items are a mismatch
        lambda: ddb.transact_write_items(TransactItems=[guarded], ClientRequestToken="t-cancelled"),
        "TransactionCanceledException",
    )
    _fails(
        lambda: ddb.transact_write_items(TransactItems=[bump], ClientRequestToken="t-cancelled"),
        "IdempotentParameterMismatchException",
    )
    with pytest.raises(tx.Cancelled) as info:  # what tx.commit makes of a mismatch: a conflict, nothing failed
        tx.commit([tx.Tagged("t", other)], "contract:reused")
        tx.commit([tx.Tagged("t", bump)], "contract:reused")
    assert info.value.failed == set() and info.value.conflict


# -- queries: indexes, paging ---------------------------------------------------------------------
def test_the_pending_index_is_sparse_and_keys_only(ddb: Any) -> None:
    repo = PaymentsRepo()
    for i, status in enumerate(["PENDING", "PENDING", "SUCCEEDED"]):
        refund = Refund(f"r{i}", f"o-{i}", "p-1", 10, "INR", status, f"2030-01-0{i + 1}T00:00:00")
        tx.commit([repo.new_refund_request(refund)], f"contract:refund:{i}")
    assert sorted(repo.pending_refunds("2031")) == [("o-0", "r0"), ("o-1", "r1")]
    assert repo.pending_refunds("2030-01-02") == [("o-0", "r0")]
    tx.commit([repo.refund_request("o-0", "r0", "PENDING", {"status": "SUCCEEDED"})], "contract:done")
    assert repo.pending_refunds("2031") == [("o-1", "r1")]
    resp = ddb.query(
        TableName=_table(),
        IndexName="byPending",
        KeyConditionExpression="pendingPk = :p",
        ExpressionAttributeValues=values(p="PENDING"),
    )
    assert [sorted(i) for i in resp["Items"]] == [["pendingPk", "pendingSince", "pk", "sk"]]  # KEYS_ONLY
    _fails(
        lambda: ddb.query(
            TableName=_table(),
            IndexName="byPending",
            KeyConditionExpression="pendingPk = :p",
            ExpressionAttributeValues=values(p="PENDING"),
            ConsistentRead=True,
        ),
        "ValidationException",
    )


def test_pages_follow_each_other_both_ways(ddb: Any) -> None:
    ledger = LedgerRepo()
    entries = [ledger.entry_request("o-9", "SETTLEMENT", f"p{i}", i, "INR", {}, merchant_id="v-1") for i in range(5)]
    entries.append(ledger.entry_request("o-9", "FEE", "p0", 7, "INR", {}))  # no merchant: not in byMerchant
    tx.commit(entries, "contract:ledger")
    day = ledger.entries("o-9")[0].day
    seen, cursor, pages = [], None, 0
    while True:
        items, cursor = ledger.merchant_page("v-1", day, day, 2, cursor)
        seen += [e.entry_id for e in items]
        pages += 1
        if not cursor:
            break
    assert seen == [f"p{i}" for i in range(5)] and pages == 3
    args: dict[str, Any] = {
        "TableName": get_settings().transactions_table,
        "KeyConditionExpression": "pk = :p AND begins_with(sk, :k)",
        "ExpressionAttributeValues": values(p="ORDER#o-9", k="SETTLEMENT#"),
        "ScanIndexForward": False,
        "Limit": 2,
    }
    first = ddb.query(**args)
    assert [(from_item(i) or {})["entryId"] for i in first["Items"]] == ["p4", "p3"]
    assert set(first["LastEvaluatedKey"]) == {"pk", "sk"}
    rest = ddb.query(**args, ExclusiveStartKey=first["LastEvaluatedKey"])
    assert [(from_item(i) or {})["entryId"] for i in rest["Items"]] == ["p2", "p1"]
    filtered = {
        "Limit": 10,
        "FilterExpression": "amount > :one",
        "ExpressionAttributeValues": values(p="ORDER#o-9", k="SETTLEMENT#", one=1),
    }
    counted = ddb.query(**{**args, **filtered}, Select="COUNT")
    assert (counted["Count"], counted["ScannedCount"], "Items" in counted) == (3, 5, False)


def test_batch_reads_across_tables(ddb: Any) -> None:
    repo = PaymentsRepo()
    tx.commit(
        [repo.intent_request("pi_1", "o-1", "p-1"), LedgerRepo().entry_request("o-1", "CHARGE", "p-1", 5, "INR", {})],
        "contract:batch",
    )
    payments = Read(
        _table(), [_key("INTENT#pi_1"), _key("INTENT#pi_none")], lambda rows: [r["paymentId"] for r in rows]
    )
    ledger = Read(
        get_settings().transactions_table,
        [to_item({"pk": "ORDER#o-1", "sk": "CHARGE#p-1"})],
        lambda rows: [r["amount"] for r in rows],
        consistent=True,
    )
    assert read_all(payments, ledger) == [["p-1"], [5]]
    _fails(
        lambda: ddb.batch_get_item(RequestItems={_table(): {"Keys": [_key("INTENT#pi_1"), _key("INTENT#pi_1")]}}),
        "ValidationException",
    )
    got = ddb.batch_get_item(
        RequestItems={_table(): {"Keys": [_key("INTENT#pi_1")], "ProjectionExpression": "orderId"}}
    )
    assert got["Responses"][_table()] == [{"orderId": {"S": "o-1"}}]
