"""Keep the local stack's data across restarts: one JSON file, written atomically.

What is kept: every DynamoDB item, every queued SQS message (DLQs too), S3 objects and Secrets
Manager secrets, plus the seeded admin's login. What is not: Step Functions executions in flight,
SES's sent mail, receive counts of queued messages (a restored message starts again at 0).

Why this way: moto keeps state in memory only, and its recorder replays side effects (a replayed
Publish delivers again). Restoring goes through the AWS APIs (BatchWriteItem, SendMessageBatch,
PutObject, PutSecretValue), so moto stays consistent. Dumping DynamoDB items and SQS messages
reads moto's in-process backends: a Scan would cost a request per page and reading a queue
through the API changes it (receive counts, visibility). Those two reads rely on moto
internals (pinned, 5.2.5); tests/integration/test_snapshot.py is the canary.
Restoring emits stream records; the stack starts its stream pollers at LATEST afterwards, so
restored rows are never announced again (no repeated verification emails).
"""

from __future__ import annotations

import base64
import json
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chalicelib.core import logs
from freshcart_local.runtime import ACCOUNT_ID

log = logs.get_logger("freshcart.local.snapshot")
VERSION = 1
SNAPSHOT_SECONDS = 2.0
SKIP_QUEUES = ("-local-event-tap",)  # the events tap is drained as it fills; never worth keeping


class CorruptState(ValueError):
    """The state file cannot be read as a snapshot."""


def _retrying(read: Callable[[], Any], attempts: int = 5) -> Any:
    """moto's dicts may change under us while other threads write; read again."""
    for attempt in range(attempts):
        try:
            return read()
        except RuntimeError:  # "dictionary changed size during iteration"
            if attempt == attempts - 1:
                raise
            time.sleep(0.01)
    return None


def dump_tables(region: str) -> dict[str, list[dict[str, Any]]]:
    from moto.dynamodb.models import dynamodb_backends

    from freshcart_local import moto_patches

    backend = dynamodb_backends[ACCOUNT_ID][region]

    def read() -> dict[str, list[dict[str, Any]]]:
        with moto_patches.LOCK:  # between requests: never half a transaction
            return {
                name: [{k: _text(v) for k, v in item.to_json()["Attributes"].items()} for item in table.all_items()]
                for name, table in list(backend.tables.items())
            }

    out: dict[str, list[dict[str, Any]]] = _retrying(read)
    return out


def _b64(value: bytes | str) -> str:
    return base64.b64encode(value).decode() if isinstance(value, bytes) else value


def _text(value: dict[str, Any]) -> dict[str, Any]:
    """Binary attributes as base64 text (moto hands out bytes or base64 text, by depth)."""
    ((kind, inner),) = value.items()
    if kind == "B":
        return {"B": _b64(inner)}
    if kind == "BS":
        return {"BS": [_b64(v) for v in inner]}
    if kind == "M":
        return {"M": {k: _text(v) for k, v in inner.items()}}
    if kind == "L":
        return {"L": [_text(v) for v in inner]}
    return value


def dump_queues(region: str) -> dict[str, list[dict[str, Any]]]:
    from moto.sqs.models import sqs_backends

    backend = sqs_backends[ACCOUNT_ID][region]

    def read() -> dict[str, list[dict[str, Any]]]:
        out: dict[str, list[dict[str, Any]]] = {}
        for name, queue in list(backend.queues.items()):
            if name.endswith(SKIP_QUEUES):
                continue
            out[name] = [
                {
                    "body": m.body,
                    "attributes": dict(m.message_attributes),
                    "groupId": m.group_id,
                    "deduplicationId": m.deduplication_id,
                }
                for m in list(queue._messages)
            ]
        return out

    out: dict[str, list[dict[str, Any]]] = _retrying(read)
    return out


def dump_objects(s3: Any) -> dict[str, dict[str, dict[str, str]]]:
    out: dict[str, dict[str, dict[str, str]]] = {}
    for bucket in s3.list_buckets().get("Buckets", []):
        name = bucket["Name"]
        objects: dict[str, dict[str, str]] = {}
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=name):
            for obj in page.get("Contents", []):
                got = s3.get_object(Bucket=name, Key=obj["Key"])
                objects[obj["Key"]] = {
                    "body": base64.b64encode(got["Body"].read()).decode(),
                    "contentType": got.get("ContentType", "binary/octet-stream"),
                }
        out[name] = objects
    return out


def dump_secrets(sm: Any) -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {}
    for page in sm.get_paginator("list_secrets").paginate():
        for secret in page.get("SecretList", []):
            value = sm.get_secret_value(SecretId=secret["ARN"])
            if "SecretString" in value:
                out[secret["Name"]] = {"string": value["SecretString"]}
            else:
                out[secret["Name"]] = {"binary": base64.b64encode(value["SecretBinary"]).decode()}
    return out


def clients(endpoint: str | None, region: str) -> dict[str, Any]:
    """Own clients (not chalicelib's): the app's modules are swapped on reload. ``endpoint``
    None: boto3's default (moto's in-process mock in tests)."""
    import boto3
    from botocore.config import Config

    kw = {
        "config": Config(connect_timeout=2, read_timeout=10, retries={"mode": "standard", "max_attempts": 2}),
        "endpoint_url": endpoint,
        "region_name": region,
        "aws_access_key_id": "local",
        "aws_secret_access_key": "local",
    }
    return {name: boto3.client(name, **kw) for name in ("dynamodb", "sqs", "s3", "secretsmanager")}  # type: ignore[call-overload]


def dump(endpoint: str | None, region: str, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    c = clients(endpoint, region)
    return {
        "version": VERSION,
        "savedAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "dynamodb": dump_tables(region),
        "sqs": dump_queues(region),
        "s3": dump_objects(c["s3"]),
        "secrets": dump_secrets(c["secretsmanager"]),
        **(extra or {}),
    }


def write_atomic(path: Path, data: dict[str, Any]) -> int:
    """Temp file, fsync, os.replace: a kill at any moment leaves the old file or the new one."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    text = json.dumps(data, separators=(",", ":"))
    tmp = path.with_name(path.name + ".tmp")
    # Owner only: the store holds the JWT signing key, the facts file the admin password.
    with open(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    return len(text)


def read(path: Path) -> dict[str, Any] | None:
    """The snapshot at ``path``, or None if there is none. Raises CorruptState if unreadable."""
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise CorruptState(f"not JSON ({exc})") from None
    if not isinstance(data, dict) or data.get("version") != VERSION:
        raise CorruptState(f"not a version-{VERSION} snapshot")
    for key in ("dynamodb", "sqs", "s3", "secrets"):
        if not isinstance(data.get(key), dict):
            raise CorruptState(f"'{key}' missing or not an object")
    if not all(isinstance(items, list) for items in data["dynamodb"].values()):
        raise CorruptState("'dynamodb' tables must be lists of items")
    if not all(isinstance(msgs, list) for msgs in data["sqs"].values()):
        raise CorruptState("'sqs' queues must be lists of messages")
    return data


def set_aside(path: Path) -> Path:
    aside = path.with_name(f"{path.name}.corrupt-{time.strftime('%Y%m%d-%H%M%S')}")
    os.replace(path, aside)
    return aside


def _binary(value: dict[str, Any]) -> dict[str, Any]:
    """moto renders binary attributes as base64 text; the client wants bytes back."""
    ((kind, inner),) = value.items()
    if kind == "B":
        return {"B": base64.b64decode(inner)}
    if kind == "BS":
        return {"BS": [base64.b64decode(v) for v in inner]}
    if kind == "M":
        return {"M": {k: _binary(v) for k, v in inner.items()}}
    if kind == "L":
        return {"L": [_binary(v) for v in inner]}
    return value


@dataclass
class Restored:
    items: int = 0
    messages: int = 0
    objects: int = 0
    secrets: int = 0
    skipped: list[str] = field(default_factory=list)

    def summary(self) -> str:
        text = f"{self.items} items, {self.messages} messages, {self.objects} objects, {self.secrets} secrets"
        return text + (f" (skipped: {', '.join(self.skipped)})" if self.skipped else "")


def restore_data(data: dict[str, Any], endpoint: str | None, region: str, queues: bool = True) -> Restored:
    """Put a snapshot back into a freshly provisioned moto. Only resources that exist are
    filled (the template's and the dispatcher's); others are named in ``skipped``."""
    c = clients(endpoint, region)
    done = Restored()
    tables = set(c["dynamodb"].list_tables()["TableNames"])
    for table, items in data["dynamodb"].items():
        if table not in tables:
            done.skipped.append(f"table {table}")
            continue
        for i in range(0, len(items), 25):
            batch = [{"PutRequest": {"Item": {k: _binary(v) for k, v in it.items()}}} for it in items[i : i + 25]]
            pending: dict[str, Any] = {table: batch}
            while pending:
                pending = c["dynamodb"].batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}
        done.items += len(items)
    for name, value in data["secrets"].items():
        args = (
            {"SecretString": value["string"]}
            if "string" in value
            else {"SecretBinary": base64.b64decode(value["binary"])}
        )
        try:
            c["secretsmanager"].put_secret_value(SecretId=name, **args)
        except c["secretsmanager"].exceptions.ResourceNotFoundException:
            c["secretsmanager"].create_secret(Name=name, **args)
        done.secrets += 1
    buckets = {b["Name"] for b in c["s3"].list_buckets().get("Buckets", [])}
    for bucket, objects in data["s3"].items():
        if bucket not in buckets:
            done.skipped.append(f"bucket {bucket}")
            continue
        for key, obj in objects.items():
            c["s3"].put_object(
                Bucket=bucket, Key=key, Body=base64.b64decode(obj["body"]), ContentType=obj["contentType"]
            )
            done.objects += 1
    if queues:
        restore_queues(data, c["sqs"], done)
    return done


def restore_queues(data: dict[str, Any], sqs: Any, done: Restored) -> None:
    for name, messages in data["sqs"].items():
        try:
            url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
        except sqs.exceptions.QueueDoesNotExist:
            if messages:
                done.skipped.append(f"queue {name}")
            continue
        for i in range(0, len(messages), 10):
            entries = []
            for n, m in enumerate(messages[i : i + 10]):
                entry: dict[str, Any] = {"Id": str(n), "MessageBody": m["body"]}
                if m.get("attributes"):
                    entry["MessageAttributes"] = m["attributes"]
                if m.get("groupId"):
                    entry["MessageGroupId"] = m["groupId"]
                if m.get("deduplicationId"):
                    entry["MessageDeduplicationId"] = m["deduplicationId"]
                entries.append(entry)
            sqs.send_message_batch(QueueUrl=url, Entries=entries)
        done.messages += len(messages)


class Snapshotter:
    """Every ``interval`` seconds, if moto saw a state-changing request, dump and write."""

    def __init__(
        self,
        path: Path,
        endpoint: str,
        region: str,
        changes: Callable[[], int],
        extra: Callable[[], dict[str, Any]],
        interval: float = SNAPSHOT_SECONDS,
    ) -> None:
        self.path, self.endpoint, self.region = path, endpoint, region
        self.changes, self.extra, self.interval = changes, extra, interval
        self.saved_at_change = -1
        self.last_ms = 0.0
        self.last_bytes = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def save(self, force: bool = False) -> bool:
        """Write a snapshot if anything changed since the last one (or ``force``)."""
        with self._lock:
            seen = self.changes()
            if seen == self.saved_at_change and not force:
                return False
            started = time.perf_counter()
            self.last_bytes = write_atomic(self.path, dump(self.endpoint, self.region, self.extra()))
            self.last_ms = (time.perf_counter() - started) * 1000
            self.saved_at_change = seen
            return True

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="snapshot", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.save()
            except Exception:
                log.exception("snapshot failed; will try again")

    def stop(self) -> None:
        """Stop the timer and write a last snapshot."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.save()
