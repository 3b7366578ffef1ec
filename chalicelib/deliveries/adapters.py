"""The deliveries domain's side effects: the driver's photo in S3, and its events on SNS."""

from __future__ import annotations

import uuid
from typing import Any

from botocore.exceptions import ClientError

from chalicelib.core import aws, events
from chalicelib.core.config import get_settings
from chalicelib.core.dynamo import error_code
from chalicelib.deliveries import rules

FORM_SECONDS = 900
EXTENSIONS = {"image/jpeg": "jpg", "image/png": "png"}


class S3Proofs:
    """A presigned POST limited to one key, one image type and 5 MB (S3 refuses anything else),
    and a look at what was uploaded (the check the emulator cannot make for S3 is made again)."""

    @property
    def bucket(self) -> str:
        return get_settings().archive_bucket

    def upload_form(self, delivery_id: str, content_type: str) -> dict[str, Any]:
        key = f"proofs/{delivery_id}/{uuid.uuid4().hex}.{EXTENSIONS[content_type]}"
        form = aws.client("s3").generate_presigned_post(
            Bucket=self.bucket,
            Key=key,
            Fields={"Content-Type": content_type},
            Conditions=[{"Content-Type": content_type}, ["content-length-range", 1, rules.PROOF_MAX_BYTES]],
            ExpiresIn=FORM_SECONDS,
        )
        return {"url": form["url"], "fields": form["fields"], "key": key, "expiresIn": FORM_SECONDS}

    def uploaded(self, key: str) -> tuple[int, str] | None:
        try:
            head = aws.client("s3").head_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if error_code(exc) in ("404", "NoSuchKey", "NotFound"):
                return None
            raise
        return int(head["ContentLength"]), str(head.get("ContentType", ""))


class SnsDeliveryEvents:
    def publish(self, kind: str, data: dict[str, Any], event_id: str) -> None:
        events.publish(get_settings().delivery_events_topic_arn, kind, data, event_id=event_id)
