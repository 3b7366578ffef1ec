"""The real adapters behind ``ports.py`` (Stripe's is ``gateway.py``): Step Functions, SNS, SQS."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from typing import Any

from chalicelib.core import aws, events, logs
from chalicelib.core.config import get_settings
from chalicelib.core.errors import Conflict

log = logs.get_logger("freshcart.payments")


class StepFunctions:
    """The Express checkout and the Standard wait for a webhook or a review."""

    def start_checkout(self, order_id: str, payment_id: str, phase: str) -> None:
        self._start(
            get_settings().checkout_state_machine_arn,
            f"{payment_id}-{phase}",
            {"orderId": order_id, "paymentId": payment_id, "phase": phase, "correlationId": logs.correlation_id.get()},
        )

    def start_wait(self, order_id: str, payment_id: str, kind: str, timeout: int) -> None:
        self._start(
            get_settings().checkout_await_state_machine_arn,
            f"{payment_id}-{kind}",
            {
                "orderId": order_id,
                "paymentId": payment_id,
                "kind": kind,
                "timeoutSeconds": max(1, timeout),
                "correlationId": logs.correlation_id.get(),
            },
        )

    @staticmethod
    def _start(arn: str, name: str, payload: dict[str, Any]) -> None:
        sfn = aws.client("stepfunctions")
        # A retried start: the first one runs (for Standard; see checkout.py for Express).
        with contextlib.suppress(sfn.exceptions.ExecutionAlreadyExists):
            sfn.start_execution(stateMachineArn=arn, name=name, input=json.dumps(payload))

    @staticmethod
    def succeed(token: str, output: dict[str, Any]) -> None:
        with _closed_wait():
            aws.client("stepfunctions").send_task_success(taskToken=token, output=json.dumps(output))

    @staticmethod
    def fail(token: str, error: str, cause: str) -> None:
        with _closed_wait():
            aws.client("stepfunctions").send_task_failure(taskToken=token, error=error, cause=cause[:256])


@contextlib.contextmanager
def _closed_wait() -> Iterator[None]:
    """A wait that already ended (answered twice, or timed out) is a 409, not a 500."""
    from botocore.exceptions import ClientError

    try:
        yield
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("TaskTimedOut", "InvalidToken", "TaskDoesNotExist"):
            raise Conflict(
                "this payment is no longer waiting (already resolved or timed out)", code="not_waiting"
            ) from None
        raise


class SnsBus:
    def publish(self, kind: str, data: dict[str, Any]) -> None:
        topic = get_settings().payment_events_topic_arn
        if topic:
            events.publish(topic, kind, data)

    def alert(self, kind: str, data: dict[str, Any]) -> None:
        log.warning("payment alert", extra={"alert": kind, **{k: str(v) for k, v in data.items()}})
        topic = get_settings().alerts_topic_arn
        if topic:
            events.publish(topic, kind, data)


class SqsRetryQueue:
    def send(self, message: dict[str, Any]) -> None:
        queue = aws.queue_url(get_settings().failed_transactions_queue)
        body = {**message, "correlationId": logs.correlation_id.get()}  # the pay request's, carried on
        aws.client("sqs").send_message(QueueUrl=queue, MessageBody=json.dumps(body))
