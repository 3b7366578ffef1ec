"""Health monitor: dead-letter queues must be empty; anything in one raises an alert."""

from __future__ import annotations

import time
from typing import Any

from chalicelib.core import aws, events, logs
from chalicelib.core.config import get_settings, resource_name

log = logs.get_logger("freshcart.health")

ALERT = "DeadLetterQueueNotEmpty"


def dead_letter_queues() -> list[str]:
    s = get_settings()
    return [
        f"{s.notifications_queue}-dlq",
        resource_name(s.stage, "stream-events-dlq"),
        f"{s.stripe_events_queue}-dlq",
        f"{s.failed_transactions_queue}-dlq",
        resource_name(s.stage, "refunds-dlq"),
    ]


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


def _timed(name: str, probe: Any) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        status, detail = probe()
    except Exception as exc:  # a check reports its dependency's failure; it never raises
        status, detail = "down", f"{type(exc).__name__}: {str(exc)[:200]}"
    check = {"name": name, "status": status, "latencyMs": int((time.perf_counter() - started) * 1000)}
    return {**check, "detail": detail} if detail is not None else check


def _dynamodb() -> tuple[str, Any]:
    aws.client("dynamodb").get_item(
        TableName=get_settings().orders_table, Key={"pk": {"S": "HEALTH"}, "sk": {"S": "-"}}
    )
    return "ok", None


def _queues() -> tuple[str, Any]:
    sqs = aws.client("sqs")
    depths = {}
    for name in dead_letter_queues():
        attrs = sqs.get_queue_attributes(QueueUrl=aws.queue_url(name), AttributeNames=["ApproximateNumberOfMessages"])
        depths[name] = int(attrs["Attributes"]["ApproximateNumberOfMessages"])
    return ("degraded" if any(depths.values()) else "ok"), {"deadLetters": depths}


def _stripe() -> tuple[str, Any]:
    from chalicelib.payments import gateway

    gateway.client().payment_intents.list(params={"limit": 1})
    return "ok", None


def _states() -> tuple[str, Any]:
    arn = get_settings().checkout_state_machine_arn
    if not arn:
        return "down", "CHECKOUT_STATE_MACHINE_ARN is not set"
    status = aws.client("stepfunctions").describe_state_machine(stateMachineArn=arn).get("status", "ACTIVE")
    return ("ok" if status == "ACTIVE" else "down"), None


def report(admin: bool) -> dict[str, Any]:
    """Public: liveness only (no dependency is called for anonymous callers). Admins: each check."""
    if not admin:
        return {"status": "ok"}
    checks = [
        _timed(n, p)
        for n, p in (("dynamodb", _dynamodb), ("queues", _queues), ("stripe", _stripe), ("stepfunctions", _states))
    ]
    worst = (
        "down"
        if any(c["status"] == "down" for c in checks)
        else "degraded"
        if any(c["status"] == "degraded" for c in checks)
        else "ok"
    )
    return {"status": worst, "checks": checks}
