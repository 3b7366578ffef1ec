"""Stripe's webhook inbox: verify on the raw body, deduplicate by event id, queue, answer fast."""

from __future__ import annotations

import json
from typing import Any

from chalicelib.core import aws, idempotency
from chalicelib.core.config import get_settings
from chalicelib.core.errors import ServiceUnavailable
from chalicelib.payments.gateway import StripeGateway

DEDUPE_SECONDS = 30 * 86400  # a queued event is remembered for days (Stripe retries for up to 3)
LEASE_SECONDS = 30  # a claim whose holder died before queueing is free again this soon


class WebhookInbox:
    def __init__(self, stripe: StripeGateway) -> None:
        self.stripe = stripe

    def verify(self, raw: bytes, signature: str | None) -> dict[str, Any]:
        return self.stripe.verify_event(raw, signature)

    def enqueue(self, event: dict[str, Any]) -> bool:
        """Queue an event once; a duplicate is acknowledged and dropped. The claim is leased for
        seconds and marked done once the event is queued: a worker that died in between (its
        claim never given back) holds up Stripe's retry for at most ``LEASE_SECONDS``, never for
        the dedupe window. If queueing fails the claim is given back and Stripe retries (a 503)."""
        key = f"stripe-event:{event['id']}"
        if not idempotency.claim(key, ttl_seconds=DEDUPE_SECONDS, lease_seconds=LEASE_SECONDS):
            return False
        try:
            sqs = aws.client("sqs")
            url = aws.queue_url(get_settings().stripe_events_queue)
            sqs.send_message(QueueUrl=url, MessageBody=json.dumps(event))
        except Exception:
            idempotency.release(key)
            raise ServiceUnavailable("could not queue the event; retry") from None
        idempotency.complete(key)  # deduped for DEDUPE_SECONDS from now on
        return True
