"""Which requests count as changes (the snapshotter writes only after one)."""

from __future__ import annotations

import io
from typing import Any

from freshcart_local.awsserver import ChangeCounter, changes_state


def env(method: str = "POST", path: str = "/", body: bytes = b"", **extra: Any) -> dict[str, Any]:
    return {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": io.BytesIO(body),
        **extra,
    }


def test_json_protocol_reads_are_not_changes() -> None:
    for target, writes in [
        ("DynamoDB_20120810.GetItem", False),
        ("DynamoDB_20120810.Query", False),
        ("DynamoDBStreams_20120810.GetRecords", False),
        ("AmazonSQS.ReceiveMessage", False),
        ("secretsmanager.GetSecretValue", False),
        ("DynamoDB_20120810.TransactWriteItems", True),
        ("AmazonSQS.DeleteMessage", True),
        ("AWSStepFunctions.StartExecution", True),
    ]:
        assert changes_state(env(HTTP_X_AMZ_TARGET=target)) is writes, target


def test_query_protocol_form_is_read_and_put_back() -> None:
    body = b"Action=Publish&TopicArn=arn%3Aaws%3Asns%3Aus-east-1%3A1%3At&Message=hi"
    e = env(body=body, CONTENT_TYPE="application/x-www-form-urlencoded; charset=utf-8")
    assert changes_state(e) is True
    assert e["wsgi.input"].read() == body  # moto still gets the whole body
    assert changes_state(env(body=b"Action=ListTopics", CONTENT_TYPE="application/x-www-form-urlencoded")) is False


def test_rest_writes_and_moto_api() -> None:
    assert changes_state(env("PUT", "/bucket/key")) is True
    assert changes_state(env("DELETE", "/bucket/key")) is True
    assert changes_state(env("GET", "/bucket/key")) is False
    assert changes_state(env("GET", "/moto-api/data.json")) is False
    assert changes_state(env("POST", "/moto-api/reset")) is True


def test_counter_moves_after_the_answer_only_for_writes() -> None:
    seen: list[int] = []
    counter: ChangeCounter

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        seen.append(counter.changes)
        return [b"ok"]

    counter = ChangeCounter(app)
    counter(env(HTTP_X_AMZ_TARGET="DynamoDB_20120810.PutItem"), lambda *a: None)
    counter(env(HTTP_X_AMZ_TARGET="DynamoDB_20120810.GetItem"), lambda *a: None)
    assert seen == [0, 1] and counter.changes == 1
