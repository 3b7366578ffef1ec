"""Canary for the per-worker moto world (tests/moto_world.py): ``clear()`` empties every store a
test writes to, as seen through the AWS APIs, and keeps the infrastructure; a test that changes
the infrastructure gets the next test a freshly provisioned world. If a moto upgrade moves the
internals ``clear()`` touches, these fail loudly."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from chalicelib.core import config
from freshcart_local import faults
from tests.moto_world import WORLD, fingerprint

USERS = "freshcart-local-users"
STRIPE_SECRET = "freshcart/local/stripe"


def _client(service: str) -> Any:
    return boto3.client(service, region_name="us-east-1")  # type: ignore[call-overload]


def _write_everywhere() -> dict[str, Any]:
    ddb, sqs, s3, sns = _client("dynamodb"), _client("sqs"), _client("s3"), _client("sns")
    item = {"pk": {"S": "USER#1"}, "sk": {"S": "PROFILE"}}
    ddb.transact_write_items(TransactItems=[{"Put": {"TableName": USERS, "Item": item}}], ClientRequestToken="tok-1")
    for url in sqs.list_queues()["QueueUrls"]:
        sqs.send_message(QueueUrl=url, MessageBody="left over")
    sqs.receive_message(QueueUrl=url, VisibilityTimeout=300)  # one in flight
    for bucket in s3.list_buckets()["Buckets"]:
        s3.put_object(Bucket=bucket["Name"], Key="left/over.json", Body=b"{}")
    for topic in sns.list_topics()["Topics"]:
        sns.publish(TopicArn=topic["TopicArn"], Message="left over")
    _client("ses").send_email(
        Source=config.get_settings().mail_from,  # verified by the aws fixture
        Destination={"ToAddresses": ["a@example.com"]},
        Message={"Subject": {"Data": "s"}, "Body": {"Text": {"Data": "b"}}},
    )
    sfn = _client("stepfunctions")
    machine = sfn.list_state_machines()["stateMachines"][0]["stateMachineArn"]
    sfn.start_execution(stateMachineArn=machine, input=json.dumps({}))
    secrets = _client("secretsmanager")
    before = secrets.get_secret_value(SecretId=STRIPE_SECRET)["SecretString"]
    secrets.put_secret_value(SecretId=STRIPE_SECRET, SecretString="changed")
    secrets.create_secret(Name="freshcart/local/extra", SecretString="x")
    _client("cloudwatch").put_metric_data(Namespace="T", MetricData=[{"MetricName": "m", "Value": 1.0}])
    faults.REGISTRY.add({"target": "stripe", "mode": "error500"})
    return {"machine": machine, "stripe_secret": before}


def test_clear_empties_every_store_and_keeps_the_infrastructure(aws: dict[str, str]) -> None:
    shape = fingerprint()
    written = _write_everywhere()

    WORLD.clear()

    ddb = _client("dynamodb")
    for table in ddb.list_tables()["TableNames"]:
        assert ddb.scan(TableName=table)["Count"] == 0, table
        stream = ddb.describe_table(TableName=table)["Table"].get("LatestStreamArn")
        if stream:
            streams = _client("dynamodbstreams")
            shard = streams.describe_stream(StreamArn=stream)["StreamDescription"]["Shards"][0]["ShardId"]
            it = streams.get_shard_iterator(StreamArn=stream, ShardId=shard, ShardIteratorType="TRIM_HORIZON")
            assert streams.get_records(ShardIterator=it["ShardIterator"])["Records"] == [], table
    # The token is forgotten: the same token with other items is a new transaction, not a mismatch.
    other = {"pk": {"S": "USER#2"}, "sk": {"S": "PROFILE"}}
    ddb.transact_write_items(TransactItems=[{"Put": {"TableName": USERS, "Item": other}}], ClientRequestToken="tok-1")
    sqs = _client("sqs")
    for url in sqs.list_queues()["QueueUrls"]:
        attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        assert (attrs["ApproximateNumberOfMessages"], attrs["ApproximateNumberOfMessagesNotVisible"]) == ("0", "0")
    s3 = _client("s3")
    for bucket in s3.list_buckets()["Buckets"]:
        assert s3.list_objects_v2(Bucket=bucket["Name"])["KeyCount"] == 0, bucket["Name"]
    assert _client("ses").get_send_quota()["SentLast24Hours"] == 0
    assert _client("stepfunctions").list_executions(stateMachineArn=written["machine"])["executions"] == []
    secrets = _client("secretsmanager")
    assert secrets.get_secret_value(SecretId=STRIPE_SECRET)["SecretString"] == written["stripe_secret"]
    with pytest.raises(ClientError, match="ResourceNotFound"):
        secrets.get_secret_value(SecretId="freshcart/local/extra")
    assert _client("cloudwatch").list_metrics(Namespace="T")["Metrics"] == []
    assert faults.REGISTRY.list() == []
    assert fingerprint() == shape  # the infrastructure is untouched


def test_a_changed_infrastructure_is_provisioned_again(aws: dict[str, str]) -> None:
    builds = WORLD.builds
    sqs = _client("sqs")
    sqs.create_queue(QueueName="a-test-of-its-own")
    _client("dynamodb").delete_table(TableName=USERS)
    assert fingerprint() != WORLD.shape

    WORLD.ready()

    assert WORLD.builds == builds + 1 and fingerprint() == WORLD.shape
    assert "a-test-of-its-own" not in json.dumps(sqs.list_queues().get("QueueUrls", []))
    assert _client("dynamodb").describe_table(TableName=USERS)["Table"]["TableStatus"] == "ACTIVE"
