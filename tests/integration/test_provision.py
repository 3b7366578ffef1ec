"""The local stack builds exactly what the template declares."""

import json

import pytest

from chalicelib.core import aws
from chalicelib.core.config import get_settings

pytestmark = pytest.mark.usefixtures("aws")


def test_tables_indexes_and_ttl() -> None:
    ddb = aws.client("dynamodb")
    s = get_settings()
    users = ddb.describe_table(TableName=s.users_table)["Table"]
    gsi = users["GlobalSecondaryIndexes"][0]
    assert gsi["IndexName"] == "byCreated" and gsi["Projection"]["ProjectionType"] == "INCLUDE"
    assert "passwordHash" not in gsi["Projection"]["NonKeyAttributes"]
    ttl = ddb.describe_time_to_live(TableName=s.audit_table)["TimeToLiveDescription"]
    assert ttl == {"TimeToLiveStatus": "ENABLED", "AttributeName": "expiresAt"}


def test_queue_redrive_and_topic_subscription() -> None:
    s = get_settings()
    sqs, sns = aws.client("sqs"), aws.client("sns")
    url = sqs.get_queue_url(QueueName=s.notifications_queue)["QueueUrl"]
    redrive = json.loads(
        sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["RedrivePolicy"])["Attributes"]["RedrivePolicy"]
    )
    assert redrive["deadLetterTargetArn"].endswith(f"{s.notifications_queue}-dlq")
    assert int(redrive["maxReceiveCount"]) == 5
    subs = sns.list_subscriptions_by_topic(TopicArn=s.user_events_topic_arn)["Subscriptions"]
    assert [x["Endpoint"].split(":")[-1] for x in subs] == [s.notifications_queue]
    attrs = sns.get_subscription_attributes(SubscriptionArn=subs[0]["SubscriptionArn"])["Attributes"]
    assert attrs["RawMessageDelivery"] == "true"


def test_jwt_secret_is_generated() -> None:
    value = aws.client("secretsmanager").get_secret_value(SecretId=get_settings().jwt_secret_id)["SecretString"]
    assert len(value) >= 32
