"""Deliver SQS messages (and SNS notifications, through a subscribed queue) to the app's
handlers with real-shaped Lambda events, as the Lambda event source mapping would.

- ``batchItemFailures`` is honoured: succeeded messages are deleted, failed ones stay and come
  back after a short backoff; the queue's redrive policy moves them to its DLQ after
  ``maxReceiveCount`` receives (moto implements the redrive).
- A handler that raises fails its whole batch, as on Lambda.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from chalice import Chalice
from chalice.app import SNSEventConfig, SQSEventConfig

from chalicelib.core import aws, logs
from freshcart_local.runtime import ACCOUNT_ID, invoke

log = logs.get_logger("freshcart.local.dispatcher")
RETRY_BACKOFF_SECONDS = 2
SNS_ASYNC_ATTEMPTS = 3  # Lambda's async invocation: the first try plus two retries

# (handler, ok, message id, error) for each delivery: the local stack writes them to events.jsonl
Outcome = Callable[[str, bool, str, "str | None"], None]


@dataclass
class StreamSource:
    """A DynamoDB stream feeding a handler, as an AWS::Lambda::EventSourceMapping would."""

    handler: str
    stream_arn: str
    batch_size: int
    retries: int
    iterators: dict[str, str]
    pending: list[dict[str, Any]] = field(default_factory=list)
    attempts: int = 0


@dataclass
class Source:
    handler: str
    queue_url: str
    queue_arn: str
    batch_size: int
    sns: bool  # deliver as SNS events (one record per invocation)


def sqs_record(msg: dict[str, Any], queue_arn: str, region: str) -> dict[str, Any]:
    attrs = msg.get("Attributes", {})
    return {
        "messageId": msg["MessageId"],
        "receiptHandle": msg["ReceiptHandle"],
        "body": msg["Body"],
        "attributes": {
            "ApproximateReceiveCount": attrs.get("ApproximateReceiveCount", "1"),
            "SentTimestamp": attrs.get("SentTimestamp", "0"),
            "SenderId": attrs.get("SenderId", ACCOUNT_ID),
            "ApproximateFirstReceiveTimestamp": attrs.get("ApproximateFirstReceiveTimestamp", "0"),
        },
        "messageAttributes": {
            k: {"stringValue": v.get("StringValue"), "dataType": v.get("DataType", "String")}
            for k, v in msg.get("MessageAttributes", {}).items()
        },
        "md5OfBody": hashlib.md5(msg["Body"].encode()).hexdigest(),  # noqa: S324 - the wire format's own checksum
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    }


def sns_record(msg: dict[str, Any], subscription_arn: str) -> dict[str, Any]:
    note = json.loads(msg["Body"])
    return {
        "EventSource": "aws:sns",
        "EventVersion": "1.0",
        "EventSubscriptionArn": subscription_arn,
        "Sns": {
            "Type": note.get("Type", "Notification"),
            "MessageId": note.get("MessageId"),
            "TopicArn": note.get("TopicArn"),
            "Subject": note.get("Subject"),
            "Message": note.get("Message"),
            "Timestamp": note.get("Timestamp"),
            "SignatureVersion": note.get("SignatureVersion", "1"),
            "Signature": note.get("Signature", ""),
            "SigningCertUrl": note.get("SigningCertURL", ""),
            "UnsubscribeUrl": note.get("UnsubscribeURL", ""),
            "MessageAttributes": {
                k: {"Type": v.get("Type"), "Value": v.get("Value")}
                for k, v in (note.get("MessageAttributes") or {}).items()
            },
        },
    }


class Dispatcher:
    def __init__(
        self,
        app: Chalice,
        region: str,
        stage: str,
        retry_backoff: int = RETRY_BACKOFF_SECONDS,
        on_outcome: Outcome | None = None,
    ) -> None:
        self.app = app
        self.on_outcome = on_outcome
        self.retry_backoff = retry_backoff
        self.region = region
        self.stage = stage
        self.sources: list[Source] = []
        self.streams: list[StreamSource] = []
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def discover(self, stream_start: str = "TRIM_HORIZON") -> list[Source]:
        """One source per SQS handler; SNS handlers get a queue subscribed to their topic.
        ``stream_start="LATEST"`` skips stream records already written (the local stack's
        restore writes every row again; those must not be announced twice)."""
        self._discover_queues()
        self._discover_streams(stream_start, {})
        return self.sources

    def signature(self, app: Chalice) -> list[tuple[str, str]]:
        """What the dispatcher was built from: event sources and stream handlers."""
        from freshcart_local.provision import stream_sources

        fields = ("name", "queue", "queue_arn", "topic", "batch_size")
        out = [(type(c).__name__, repr([getattr(c, f, None) for f in fields])) for c in app.event_sources]
        out += [
            ("stream", s["handler"]) for s in stream_sources(self.stage, self.region) if s["handler"] in app.handler_map
        ]
        return sorted(out)

    def swap(self, app: Chalice) -> None:
        """Use a reloaded app. If its event sources changed, re-discover: queues afresh, streams
        keep their position (a new stream handler starts at LATEST)."""
        changed = self.signature(app) != self.signature(self.app)
        self.app = app
        if not changed:
            return
        running = bool(self._threads)
        if running:
            self.stop()
            self._threads, self._stop = [], threading.Event()
        kept = {s.handler: s for s in self.streams}
        self.sources, self.streams = [], []
        self._discover_queues()
        self._discover_streams("LATEST", kept)
        if running:
            self.start()
        log.info("event sources re-discovered", extra={"handlers": [s.handler for s in self.sources + self.streams]})

    def _discover_queues(self) -> None:
        sqs, sns = aws.client("sqs"), aws.client("sns")
        for cfg in self.app.event_sources:
            if isinstance(cfg, SQSEventConfig):
                name = cfg.queue or (cfg.queue_arn or "").split(":")[-1]
                url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
                arn = f"arn:aws:sqs:{self.region}:{ACCOUNT_ID}:{name}"
                self.sources.append(Source(cfg.name, url, arn, cfg.batch_size, sns=False))
            elif isinstance(cfg, SNSEventConfig):
                topic_arn = cfg.topic if cfg.topic.startswith("arn:") else sns.create_topic(Name=cfg.topic)["TopicArn"]
                qname = f"freshcart-{self.stage}-local-sns-{cfg.name}"[:80]
                url = sqs.create_queue(QueueName=qname)["QueueUrl"]
                arn = f"arn:aws:sqs:{self.region}:{ACCOUNT_ID}:{qname}"
                sub = sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=arn)["SubscriptionArn"]
                self.sources.append(Source(cfg.name, url, sub, 1, sns=True))

    def _discover_streams(self, stream_start: str, keep: dict[str, StreamSource]) -> None:
        from freshcart_local.provision import stream_sources

        ddb, streams = aws.client("dynamodb"), aws.client("dynamodbstreams")
        for spec in stream_sources(self.stage, self.region):
            if spec["handler"] not in self.app.handler_map:
                continue
            if spec["handler"] in keep:
                self.streams.append(keep[spec["handler"]])
                continue
            arn = ddb.describe_table(TableName=spec["table"])["Table"]["LatestStreamArn"]
            shards = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]
            iterators = {
                sh["ShardId"]: streams.get_shard_iterator(
                    StreamArn=arn, ShardId=sh["ShardId"], ShardIteratorType=stream_start
                )["ShardIterator"]
                for sh in shards
            }
            self.streams.append(StreamSource(spec["handler"], arn, spec["batch_size"], spec["retries"], iterators))

    def poll_stream(self, src: StreamSource) -> int:
        """One batch from a stream to its handler. A failed record is retried (with what follows
        it, preserving order) up to the mapping's MaximumRetryAttempts, then sent to the DLQ."""
        streams = aws.client("dynamodbstreams")
        records = src.pending
        if not records:
            for shard, iterator in list(src.iterators.items()):
                resp = streams.get_records(ShardIterator=iterator, Limit=src.batch_size)
                src.iterators[shard] = resp.get("NextShardIterator") or iterator
                records += resp.get("Records", [])
        if not records:
            return 0
        event = {"Records": [{**r, "eventSourceARN": src.stream_arn} for r in records]}
        error = None
        try:
            result = invoke(self.app, src.handler, event) or {}
            failed = [f["itemIdentifier"] for f in result.get("batchItemFailures", [])]
        except Exception as exc:
            log.exception("stream handler failed", extra={"handler": src.handler})
            failed, error = [records[0]["dynamodb"]["SequenceNumber"]], f"{type(exc).__name__}: {exc}"
        self._outcome(src.handler, not failed, f"{records[0].get('eventID')} (+{len(records) - 1})", error)
        if not failed:
            src.pending, src.attempts = [], 0
            return len(records)
        first = next((i for i, r in enumerate(records) if r["dynamodb"]["SequenceNumber"] in failed), 0)
        src.attempts += 1
        if src.attempts > src.retries:
            self._dead_letter(src, records[first])
            src.pending, src.attempts = records[first + 1 :], 0
        else:
            src.pending = records[first:]
        return len(records)

    def _dead_letter(self, src: StreamSource, record: dict[str, Any]) -> None:
        sqs = aws.client("sqs")
        url = sqs.get_queue_url(QueueName=f"freshcart-{self.stage}-stream-events-dlq")["QueueUrl"]
        sqs.send_message(
            QueueUrl=url,
            MessageBody=json.dumps(
                {"handler": src.handler, "streamArn": src.stream_arn, "record": record}, default=str
            ),
        )
        log.error("stream record dead-lettered", extra={"handler": src.handler})

    def poll_once(self, source: Source, wait_seconds: int = 0) -> int:
        """Receive one batch and deliver it. Returns how many messages were received."""
        sqs = aws.client("sqs")
        resp = sqs.receive_message(
            QueueUrl=source.queue_url,
            MaxNumberOfMessages=min(max(source.batch_size, 1), 10),
            WaitTimeSeconds=wait_seconds,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        messages = resp.get("Messages", [])
        if not messages:
            return 0
        if source.sns:
            for msg in messages:
                self._deliver(source, [msg], {"Records": [sns_record(msg, source.queue_arn)]})
        else:
            records = [sqs_record(m, source.queue_arn, self.region) for m in messages]
            self._deliver(source, messages, {"Records": records})
        return len(messages)

    def _deliver(self, source: Source, messages: list[dict[str, Any]], event: dict[str, Any]) -> None:
        sqs = aws.client("sqs")
        error = None
        try:
            result = invoke(self.app, source.handler, event)
            failed = (
                {f["itemIdentifier"] for f in (result or {}).get("batchItemFailures", [])}
                if isinstance(result, dict)
                else set()
            )
        except Exception as exc:
            log.exception("handler failed; batch will be retried", extra={"handler": source.handler})
            failed, error = {m["MessageId"] for m in messages}, f"{type(exc).__name__}: {exc}"
        for msg in messages:
            shown = event["Records"][0]["Sns"]["MessageId"] if source.sns else msg["MessageId"]
            self._outcome(source.handler, msg["MessageId"] not in failed, str(shown), error)
            receives = int(msg.get("Attributes", {}).get("ApproximateReceiveCount", "1"))
            if msg["MessageId"] in failed and source.sns and receives >= SNS_ASYNC_ATTEMPTS:
                log.error("SNS event dropped after async retries", extra={"handler": source.handler})
                sqs.delete_message(QueueUrl=source.queue_url, ReceiptHandle=msg["ReceiptHandle"])
            elif msg["MessageId"] in failed:
                sqs.change_message_visibility(
                    QueueUrl=source.queue_url,
                    ReceiptHandle=msg["ReceiptHandle"],
                    VisibilityTimeout=self.retry_backoff * receives,
                )
            else:
                sqs.delete_message(QueueUrl=source.queue_url, ReceiptHandle=msg["ReceiptHandle"])

    def _outcome(self, handler: str, ok: bool, message_id: str, error: str | None) -> None:
        if self.on_outcome is not None:
            try:
                self.on_outcome(handler, ok, message_id, error)
            except Exception:
                log.exception("recording a delivery outcome failed")

    def drain(self, max_rounds: int = 50) -> int:
        """Deliver until every queue is empty of visible messages (tests, CLI)."""
        total = 0
        for _ in range(max_rounds):
            got = sum(self.poll_once(s) for s in self.sources) + sum(self.poll_stream(s) for s in self.streams)
            total += got
            if not got:
                break
        return total

    def start(self) -> None:
        for source in self.sources:
            t = threading.Thread(target=self._loop, args=(source,), name=f"sqs-{source.handler}", daemon=True)
            t.start()
            self._threads.append(t)
        for stream in self.streams:
            t = threading.Thread(target=self._stream_loop, args=(stream,), name=f"ddb-{stream.handler}", daemon=True)
            t.start()
            self._threads.append(t)

    def _stream_loop(self, src: StreamSource) -> None:
        while not self._stop.is_set():
            try:
                if not self.poll_stream(src):
                    self._stop.wait(0.5)
                elif src.attempts:  # a failing record: back off before its retry, as Lambda does
                    self._stop.wait(min(0.25 * 2**src.attempts, 5))
            except Exception:
                if self._stop.is_set():
                    return
                log.exception("stream poll failed", extra={"handler": src.handler})
                self._stop.wait(1)

    def _loop(self, source: Source) -> None:
        while not self._stop.is_set():
            try:
                self.poll_once(source, wait_seconds=1)
            except Exception:
                if self._stop.is_set():
                    return
                log.exception("poll failed", extra={"handler": source.handler})
                self._stop.wait(1)

    def stop(self, timeout: float = 5) -> list[str]:
        """Stop every poller; wait at most ``timeout`` in all. Returns the threads still alive.
        The stream pollers first announce what was committed and not read yet (the next start
        reads from LATEST, so an unread record would never be announced); what they publish
        waits in its queue, which the snapshot keeps."""
        self._stop.set()
        deadline = time.monotonic() + timeout
        for t in self._threads:
            t.join(timeout=max(0.0, deadline - time.monotonic()))
        for src in self.streams:
            while time.monotonic() < deadline:
                try:
                    if not self.poll_stream(src) or src.attempts:
                        break  # read to the end, or failing: the record stays for its retries
                except Exception:
                    log.exception("final stream poll failed", extra={"handler": src.handler})
                    break
        return [t.name for t in self._threads if t.is_alive()]
