"""Health monitor: dead-letter queues must be empty; anything in one raises an alert."""

from __future__ import annotations

from typing import Any

from chalicelib.core import aws, events, logs
from chalicelib.core.config import get_settings, resource_name

log = logs.get_logger("freshcart.health")

ALERT = "DeadLetterQueueNotEmpty"


def dead_letter_queues() -> list[str]:
    s = get_settings()
    return [f"{s.notifications_queue}-dlq", resource_name(s.stage, "stream-events-dlq")]


def check() -> dict[str, Any]:
    sqs = aws.client("sqs")
    depths: dict[str, int] = {}
    for name in dead_letter_queues():
        url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
        attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
        depths[name] = int(attrs["Attributes"]["ApproximateNumberOfMessages"])
    unhealthy = {k: v for k, v in depths.items() if v}
    report = {"healthy": not unhealthy, "deadLetters": depths}
    if unhealthy:
        log.warning("dead letters waiting", extra={"deadLetters": unhealthy})
        topic = get_settings().alerts_topic_arn
        if topic:
            events.publish(topic, ALERT, {"deadLetters": unhealthy})
    return report
