"""Dead-letter queues: what is in them, and putting it back where it came from."""

from __future__ import annotations

from typing import Any

from chalicelib.core import aws

DLQ_SUFFIX = "-dlq"


def redrive(dlq: str, limit: int | None = None) -> int:
    """Move messages from ``<queue>-dlq`` back to ``<queue>``, bodies and attributes unchanged
    (the consumer retries with the same idempotency keys, so a redrive repeats no money effect).
    Each message is deleted from the DLQ only after its copy was accepted. Returns how many moved."""
    if not dlq.endswith(DLQ_SUFFIX):
        raise ValueError(f"{dlq} is not a dead-letter queue (its name ends in {DLQ_SUFFIX})")
    sqs = aws.client("sqs")
    source = sqs.get_queue_url(QueueName=dlq.removesuffix(DLQ_SUFFIX))["QueueUrl"]
    dead = sqs.get_queue_url(QueueName=dlq)["QueueUrl"]
    moved = 0
    while limit is None or moved < limit:
        want = 10 if limit is None else min(10, limit - moved)
        got: list[dict[str, Any]] = sqs.receive_message(
            QueueUrl=dead, MaxNumberOfMessages=want, MessageAttributeNames=["All"], WaitTimeSeconds=0
        ).get("Messages", [])
        if not got:
            break
        sent = sqs.send_message_batch(
            QueueUrl=source,
            Entries=[
                {
                    "Id": str(i),
                    "MessageBody": m["Body"],
                    **({"MessageAttributes": m["MessageAttributes"]} if m.get("MessageAttributes") else {}),
                }
                for i, m in enumerate(got)
            ],
        )
        ok = [got[int(s["Id"])] for s in sent.get("Successful", [])]
        if ok:
            sqs.delete_message_batch(
                QueueUrl=dead, Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(ok)]
            )
        moved += len(ok)
        if sent.get("Failed"):
            raise RuntimeError(f"{len(sent['Failed'])} messages could not be sent back; they stay in {dlq}")
    return moved
