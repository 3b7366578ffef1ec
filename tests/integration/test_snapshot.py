"""Canary for the state kept across restarts (freshcart_local/snapshot.py). Dumping reads
moto's in-process DynamoDB and SQS backends (pinned moto 5.2.5): if an upgrade changes them,
these tests fail loudly. A dump restored into a fresh moto gives the same dump back, and the
restore's stream records are skipped by pollers that start at LATEST."""

from __future__ import annotations

from typing import Any

from moto import mock_aws

from chalicelib.core import aws as clients
from freshcart_local import snapshot
from freshcart_local.provision import provision
from tests.conftest import MOTO_CONFIG, reset_caches

REGION = "us-east-1"
ITEM = {
    "pk": {"S": "USER#1"},
    "sk": {"S": "PROFILE"},
    "n": {"N": "42"},
    "blob": {"B": b"\x00\x01binary"},
    "tags": {"SS": ["a", "b"]},
    "nested": {"M": {"list": {"L": [{"N": "1"}, {"S": "x"}, {"B": b"\xff"}]}, "ok": {"BOOL": True}}},
    "none": {"NULL": True},
}


def _fill() -> dict[str, Any]:
    ddb, sqs = clients.client("dynamodb"), clients.client("sqs")
    ddb.put_item(TableName="freshcart-local-users", Item=ITEM)
    url = sqs.get_queue_url(QueueName="freshcart-local-notifications-dlq")["QueueUrl"]
    sqs.send_message(
        QueueUrl=url, MessageBody="poison", MessageAttributes={"type": {"DataType": "String", "StringValue": "X"}}
    )
    sqs.send_message(QueueUrl=url, MessageBody="in flight")
    sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1, VisibilityTimeout=300)  # invisible, still queued
    clients.client("s3").put_object(Bucket="freshcart-local-archive-123456789012", Key="k/1.json", Body=b"{}")
    return snapshot.dump(None, REGION, {"admin": {"email": "a@x"}})


def _normalised(data: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in data.items() if k != "savedAt"}
    out["sqs"] = {q: sorted(m["body"] for m in msgs) for q, msgs in data["sqs"].items()}
    return out


def test_dump_reads_moto_backends_exactly(aws: dict[str, str]) -> None:
    data = _fill()
    (item,) = data["dynamodb"]["freshcart-local-users"]
    assert item["blob"] == {"B": "AAFiaW5hcnk="} and item["n"] == {"N": "42"} and item["none"] == {"NULL": True}
    assert sorted(item["tags"]["SS"]) == ["a", "b"]
    dlq = data["sqs"]["freshcart-local-notifications-dlq"]
    assert sorted(m["body"] for m in dlq) == ["in flight", "poison"]  # invisible messages are kept too
    poison = next(m for m in dlq if m["body"] == "poison")
    assert poison["attributes"] == {"type": {"DataType": "String", "StringValue": "X"}}
    assert data["s3"]["freshcart-local-archive-123456789012"]["k/1.json"]["body"] == "e30="
    assert set(data["secrets"]) == {"freshcart/local/jwt", "freshcart/local/stripe"}
    assert data["admin"] == {"email": "a@x"}


def test_restore_round_trips_and_latest_pollers_hear_nothing(tmp_path: Any) -> None:
    with mock_aws(config=MOTO_CONFIG):  # today
        reset_caches()
        provision("local", REGION)
        data = _fill()
    path = tmp_path / "state.json"
    snapshot.write_atomic(path, data)
    kept = snapshot.read(path)
    assert kept is not None
    with mock_aws(config=MOTO_CONFIG):  # a fresh, empty moto: tomorrow's start
        reset_caches()
        provision("local", REGION)
        done = snapshot.restore_data(kept, None, REGION)
        assert (done.items, done.messages, done.objects, done.secrets, done.skipped) == (1, 2, 1, 2, [])
        assert _normalised(snapshot.dump(None, REGION, {"admin": kept["admin"]})) == _normalised(data)

        ddb, streams = clients.client("dynamodb"), clients.client("dynamodbstreams")
        arn = ddb.describe_table(TableName="freshcart-local-users")["Table"]["LatestStreamArn"]
        shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]

        def records(kind: str) -> list[Any]:
            it = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType=kind)["ShardIterator"]
            return list(streams.get_records(ShardIterator=it)["Records"])

        assert len(records("TRIM_HORIZON")) == 1  # the restore wrote the row again...
        assert records("LATEST") == []  # ...and a poller started after it does not see that
    reset_caches()


def test_unreadable_state_is_named_and_set_aside(tmp_path: Any) -> None:
    path = tmp_path / "state.json"
    for text, reason in [
        ("{nope", "not JSON"),
        ('{"version": 9}', "not a version-1 snapshot"),
        ('{"version": 1, "dynamodb": {}, "sqs": {}, "s3": {}}', "'secrets' missing"),
        ('{"version": 1, "dynamodb": {"t": 1}, "sqs": {}, "s3": {}, "secrets": {}}', "lists of items"),
    ]:
        path.write_text(text)
        try:
            snapshot.read(path)
        except snapshot.CorruptState as exc:
            assert reason in str(exc)
        else:
            raise AssertionError(f"{text!r} was accepted")
    aside = snapshot.set_aside(path)
    assert not path.exists() and aside.read_text() == text and aside.name.startswith("state.json.corrupt-")
    assert snapshot.read(path) is None
