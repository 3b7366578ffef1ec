"""The health monitor's last verdict, durable across Lambda containers: one small JSON object in the
archive bucket (``ops/health/state.json``), so a new container neither re-alerts nor forgets."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from chalicelib.core import aws, logs
from chalicelib.core.config import get_settings

log = logs.get_logger("freshcart.health")

STATE_KEY = "ops/health/state.json"
STATUSES = ("healthy", "unhealthy")


class HealthStateRepo:
    def __init__(self, bucket: str | None = None, key: str = STATE_KEY) -> None:
        self.bucket = bucket or get_settings().archive_bucket
        self.key = key

    def get(self) -> str | None:
        """The last verdict, or None when there is none yet or it cannot be understood (then the
        monitor speaks as on its first run: an alert only if it is unhealthy). Other S3 errors
        (no bucket, no permission) raise: a monitor that cannot keep its state must show it."""
        s3 = aws.client("s3")
        try:
            body = s3.get_object(Bucket=self.bucket, Key=self.key)["Body"].read()
        except s3.exceptions.NoSuchKey:
            return None
        try:
            status = json.loads(body).get("status")
        except (ValueError, AttributeError):
            status = None
        if status not in STATUSES:
            log.warning("health state unreadable; treated as none", extra={"key": self.key})
            return None
        return str(status)

    def put(self, status: str) -> None:
        body = json.dumps({"status": status, "at": datetime.now(UTC).isoformat()})
        aws.client("s3").put_object(
            Bucket=self.bucket, Key=self.key, Body=body.encode(), ContentType="application/json"
        )
