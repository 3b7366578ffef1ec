"""Phones registered for push: each an SNS platform endpoint (FCM for Android, APNs for iOS) of
the stage's platform application, kept with its owner; a notice's push goes to each of them."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

from chalicelib.core import aws
from chalicelib.core.config import get_settings
from chalicelib.core.errors import NotFound, ServiceUnavailable
from chalicelib.notifications.repo import FeedRepo


class Devices:
    def __init__(self, repo: FeedRepo) -> None:
        self.repo = repo

    def register(self, user_id: str, platform: str, token: str) -> dict[str, Any]:
        application = get_settings().push_applications.get(platform)
        if not application:
            raise ServiceUnavailable(f"push to {platform} is not set up on this stage")
        # CreatePlatformEndpoint is idempotent on the token: the same phone, the same endpoint
        endpoint = aws.client("sns").create_platform_endpoint(
            PlatformApplicationArn=application, Token=token, CustomUserData=user_id
        )["EndpointArn"]
        device = {
            "deviceId": hashlib.sha256(f"{platform}:{token}".encode()).hexdigest()[:24],
            "platform": platform,
            "endpointArn": str(endpoint),
            "createdAt": datetime.now(UTC).isoformat(),
        }
        self.repo.put_device(user_id, device)
        return view(device)

    def list(self, user_id: str) -> dict[str, Any]:
        return {"items": [view(d) for d in self.repo.devices(user_id)]}

    def remove(self, user_id: str, device_id: str) -> None:
        gone = self.repo.remove_device(user_id, device_id)
        if gone is None:
            raise NotFound("device not found")
        aws.client("sns").delete_endpoint(EndpointArn=gone["endpointArn"])


def push(endpoint_arn: str, title: str, text: str) -> None:
    """One notice to one phone, in each platform's own shape."""
    payload = {
        "default": text,
        "GCM": json.dumps({"notification": {"title": title, "body": text}}),
        "APNS": json.dumps({"aps": {"alert": {"title": title, "body": text}}}),
        "APNS_SANDBOX": json.dumps({"aps": {"alert": {"title": title, "body": text}}}),
    }
    aws.client("sns").publish(TargetArn=endpoint_arn, Message=json.dumps(payload), MessageStructure="json")


def view(device: dict[str, Any]) -> dict[str, Any]:
    return {k: device[k] for k in ("deviceId", "platform", "createdAt") if k in device}
