"""Stripe's webhook inbox: verify on the raw body, deduplicate by event id, queue, answer fast."""

from __future__ import annotations

import json
from typing import Any

from chalicelib.core import aws, idempotency
from chalicelib.core.config import get_settings
from chalicelib.core.errors import ServiceUnavailable
from chalicelib.payments.gateway import StripeGateway

DEDUPE_SECONDS = 30 * 86400  # Stripe retries a webhook for up to 3 days


class WebhookInbox:
    def __init__(self, stripe: StripeGateway) -> None:
        self.stripe = stripe

    def verify(self, raw: bytes, signature: str | None) -> dict[str, Any]:
        return self.stripe.verify_event(raw, signature)

    def enqueue(self, event: dict[str, Any]) -> bool:
        """Queue an event once; a duplicate is acknowledged and dropped. If queueing fails the
        claim is given back and Stripe is told to retry (a 503)."""
        key = f"stripe-event:{event['id']}"
        if not idempotency.claim(key, ttl_seconds=DEDUPE_SECONDS, lease_seconds=DEDUPE_SECONDS):
            return False
        try:
            sqs = aws.client("sqs")
            url = aws.queue_url(get_settings().stripe_events_queue)
            sqs.send_message(QueueUrl=url, MessageBody=json.dumps(event))
        except Exception:
            idempotency.release(key)
            raise ServiceUnavailable("could not queue the event; retry") from None
        return True  # the claim's lease lasts as long as its record: no completion write needed
