"""A transaction whose response is lost (the client times out after DynamoDB committed) is retried
by botocore with the same ClientRequestToken: one effect, and success, not a failed condition.
Over real HTTP against the local stack's moto server, with the real client timeout and retry."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.config import Config

from chalicelib.core import aws, tx
from chalicelib.core.dynamo import put_new
from freshcart_local import moto_patches

TABLE = "tx-retry"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def moto_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    # A short read timeout, so the injected slowness below is a client timeout; standard retries.
    monkeypatch.setattr(aws, "_CONFIG", Config(retries={"mode": "standard", "max_attempts": 3}, read_timeout=0.5))
    aws.reset()
    ddb = aws.client("dynamodb")
    ddb.create_table(
        TableName=TABLE,
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
    )
    try:
        yield endpoint
    finally:
        ddb.delete_table(TableName=TABLE)
        aws.reset()
        server.stop()


@pytest.fixture
def slow_first_commit(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The first transaction commits, then its answer takes longer than the client waits."""
    from moto.dynamodb.models import DynamoDBBackend

    calls: list[int] = []
    real = moto_patches.transact_write_items

    def slow(self: Any, items: list[dict[str, Any]]) -> None:
        real(self, items)
        calls.append(len(items))
        if len(calls) == 1:
            time.sleep(1.2)

    monkeypatch.setattr(DynamoDBBackend, "transact_write_items", slow)
    return calls


def test_a_retried_transaction_after_a_client_timeout_has_one_effect(
    moto_server: str, slow_first_commit: list[int]
) -> None:
    counter = {
        "Update": {
            "TableName": TABLE,
            "Key": {"pk": {"S": "counter"}},
            "UpdateExpression": "ADD n :one",
            "ExpressionAttributeValues": {":one": {"N": "1"}},
        }
    }
    claim = put_new(TABLE, {"pk": "claim#alice@example.com"})  # fails if written twice
    sent: list[str] = []
    aws.client("dynamodb").meta.events.register(
        "before-send.dynamodb.TransactWriteItems", lambda request, **_: sent.append(request.body.decode())
    )
    tx.commit([tx.Tagged("claim", claim), tx.Tagged("counter", counter)], "register:alice")  # no exception

    assert len(sent) >= 2, "the client did not retry: the test did not simulate a timeout"
    assert len(set(sent)) == 1  # the retry is the same request, token included
    assert slow_first_commit == [2]  # the backend applied it once; the retry was answered from the token
    item = aws.client("dynamodb").get_item(TableName=TABLE, Key={"pk": {"S": "counter"}})["Item"]
    assert item["n"] == {"N": "1"}


def test_concurrent_distinct_transactions_all_commit(moto_server: str) -> None:
    """Thirty writers, each its own claim: no false conflicts (the lock serialises moto, tokens
    differ)."""
    errors: list[BaseException] = []

    def write(i: int) -> None:
        try:
            tx.commit([tx.Tagged("claim", put_new(TABLE, {"pk": f"claim#{i}"}))], f"register:{i}")
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(i,)) for i in range(30)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    keys = [{"pk": {"S": f"claim#{i}"}} for i in range(30)]
    found = aws.client("dynamodb").batch_get_item(RequestItems={TABLE: {"Keys": keys}})["Responses"][TABLE]
    assert len(found) == 30
