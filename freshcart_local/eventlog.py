"""What the event side did, as JSON lines in .freshcart/events.jsonl (`make events` tails it).

Two kinds of line:
- ``event``: a domain event published to any of the template's SNS topics, seen by a tap queue
  subscribed to every topic. Whoever published it (this process, `chalice local`, a test) is seen.
- ``handler``: one outcome per message (or stream batch) the dispatcher delivered: ok or failed.

The file is a ring of two: past ``MAX_BYTES`` it becomes events.jsonl.1 and a new one starts.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

from chalicelib.core import logs
from freshcart_local.runtime import ACCOUNT_ID

log = logs.get_logger("freshcart.local.events")
MAX_BYTES = 2_000_000


def now() -> str:
    t = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t % 1 * 1000):03d}Z"


class EventLog:
    def __init__(self, path: Path, max_bytes: int = MAX_BYTES) -> None:
        self.path = path
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        path.parent.mkdir(parents=True, exist_ok=True)

    def write(self, entry: dict[str, Any]) -> None:
        line = json.dumps({"time": now(), **entry}, default=str) + "\n"
        with self._lock:
            if self.path.exists() and self.path.stat().st_size + len(line) > self.max_bytes:
                self.path.replace(self.path.with_name(self.path.name + ".1"))
            with open(self.path, "a", encoding="utf-8") as fh:
                fh.write(line)

    def handler(self, handler: str, ok: bool, message_id: str, error: str | None = None) -> None:
        entry: dict[str, Any] = {"kind": "handler", "handler": handler, "ok": ok, "messageId": message_id}
        if error:
            entry["error"] = error
        self.write(entry)


class Polling:
    """A queue of the local stack's own, polled on a thread until stopped (``poll`` is the work)."""

    _stop: threading.Event
    _thread: threading.Thread | None

    def poll(self, sqs: Any, wait_seconds: int = 1) -> int:
        raise NotImplementedError

    def _run(self, sqs: Any, name: str) -> None:
        self._thread = threading.Thread(target=self._loop, args=(sqs,), name=name, daemon=True)
        self._thread.start()

    def _loop(self, sqs: Any) -> None:
        while not self._stop.is_set():
            try:
                self.poll(sqs)
            except Exception:
                if self._stop.is_set():
                    return
                log.exception(f"{type(self).__name__} poll failed")
                self._stop.wait(1)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=3)


class EventTap(Polling):
    """A queue subscribed (raw delivery) to every topic; each message becomes an ``event`` line."""

    def __init__(self, events: EventLog, topic_arns: list[str], stage: str, region: str) -> None:
        self.events = events
        self.topic_arns = topic_arns
        self.name = f"freshcart-{stage}-local-event-tap"
        self.region = region
        self.queue_url = ""
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        from chalicelib.core import aws

        sqs, sns = aws.client("sqs"), aws.client("sns")
        self.queue_url = sqs.create_queue(QueueName=self.name)["QueueUrl"]
        arn = f"arn:aws:sqs:{self.region}:{ACCOUNT_ID}:{self.name}"
        for topic in self.topic_arns:
            sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn, Attributes={"RawMessageDelivery": "true"})
        self._run(sqs, "event-tap")

    def poll(self, sqs: Any, wait_seconds: int = 1) -> int:
        resp = sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=wait_seconds)
        messages = resp.get("Messages", [])
        for m in messages:
            self.events.write(describe(m["Body"]))
        if messages:
            sqs.delete_message_batch(
                QueueUrl=self.queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)],
            )
        return len(messages)


def describe(body: str) -> dict[str, Any]:
    """The event envelope's facts ({eventId, type, version, time, correlationId, data})."""
    try:
        msg = json.loads(body)
    except ValueError:
        return {"kind": "event", "type": "?", "raw": body[:200]}
    if not isinstance(msg, dict):
        return {"kind": "event", "type": "?", "raw": body[:200]}
    return {
        "kind": "event",
        "type": msg.get("type", "?"),
        "eventId": msg.get("eventId"),
        "correlationId": msg.get("correlationId"),
        "at": msg.get("time"),
    }


def render(entry: dict[str, Any]) -> str:
    """One line for a human: time, what, ids."""
    t = str(entry.get("time", ""))[11:23]
    if entry.get("kind") == "handler":
        status = "ok" if entry.get("ok") else "FAILED"
        tail = f"  {entry['error']}" if entry.get("error") else ""
        return f"{t}  handler  {entry.get('handler', '?'):<24} {status:<6} msg={entry.get('messageId')}{tail}"
    return (
        f"{t}  event    {entry.get('type', '?'):<24} id={entry.get('eventId')}  "
        f"corr={entry.get('correlationId')}  at={entry.get('at')}"
    )
