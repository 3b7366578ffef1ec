"""The async path: SNS -> SQS -> handler, batch failures, redrive to the DLQ, idempotent email,
SNS handlers through a subscribed queue, the health monitor's alert."""

from __future__ import annotations

import json
from typing import Any

import pytest
from chalice import Chalice
from moto.backends import get_backend

from chalicelib.core import aws, events
from chalicelib.core.config import get_settings
from freshcart_local.dispatcher import Dispatcher

pytestmark = pytest.mark.usefixtures("aws")


def mailbox() -> list[Any]:
    return list(get_backend("ses")["123456789012"]["us-east-1"].sent_messages)


def queue_url(name: str) -> str:
    return str(aws.client("sqs").get_queue_url(QueueName=name)["QueueUrl"])


def depth(name: str) -> int:
    attrs = aws.client("sqs").get_queue_attributes(
        QueueUrl=queue_url(name), AttributeNames=["ApproximateNumberOfMessages"]
    )
    return int(attrs["Attributes"]["ApproximateNumberOfMessages"])


def app_dispatcher() -> Dispatcher:
    from app import app

    d = Dispatcher(app, "us-east-1", "local", retry_backoff=0)
    d.discover()
    return d


def registered(user_id: str = "u-1", email: str = "a@example.com") -> dict[str, Any]:
    return events.publish(
        get_settings().user_events_topic_arn, "UserRegistered", {"userId": user_id, "email": email, "username": "a"}
    )


def test_poison_message_does_not_block_batch_and_lands_in_dlq() -> None:
    s = get_settings()
    registered("u-good", "good@example.com")
    aws.client("sqs").send_message(QueueUrl=queue_url(s.notifications_queue), MessageBody="{not json")
    d = app_dispatcher()
    d.drain()
    assert [m.destinations["ToAddresses"] for m in mailbox()] == [["good@example.com"]]
    assert depth(s.notifications_queue) == 0
    assert depth(f"{s.notifications_queue}-dlq") == 1
    dead = aws.client("sqs").receive_message(QueueUrl=queue_url(f"{s.notifications_queue}-dlq"))["Messages"]
    assert dead[0]["Body"] == "{not json"


def test_redelivered_event_sends_one_email() -> None:
    event = registered()
    sqs = aws.client("sqs")
    sqs.send_message(QueueUrl=queue_url(get_settings().notifications_queue), MessageBody=json.dumps(event))
    app_dispatcher().drain()
    assert len(mailbox()) == 1


def test_failed_send_is_retried_then_succeeds(monkeypatch: pytest.MonkeyPatch) -> None:
    from chalicelib.notifications import mailer

    real = mailer.send
    attempts = {"n": 0}

    def flaky(*args: Any) -> str:
        attempts["n"] += 1
        if attempts["n"] < 3:
            raise ConnectionError("SES hiccup")
        return real(*args)

    monkeypatch.setattr(mailer, "send", flaky)
    registered()
    app_dispatcher().drain()
    assert attempts["n"] == 3 and len(mailbox()) == 1
    assert depth(f"{get_settings().notifications_queue}-dlq") == 0


def test_sns_handlers_receive_sns_shaped_events() -> None:
    app = Chalice(app_name="sns-test")
    got: list[Any] = []

    @app.on_sns_message(topic="freshcart-local-user-events")
    def on_user_event(event: Any) -> None:
        got.append((event.subject, json.loads(event.message)["type"], event.to_dict()["Records"][0]["Sns"]["TopicArn"]))

    d = Dispatcher(app, "us-east-1", "local", retry_backoff=0)
    d.discover()
    registered()
    assert d.drain() == 1
    assert got and got[0][1] == "UserRegistered"
    assert got[0][2] == get_settings().user_events_topic_arn
