"""What a paid checkout fans out (the Express run's FanOut publishes them with service
integrations, not Lambdas): the customer's PaymentSucceeded, the archive's record and the
analytics event."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from chalicelib.core import events
from chalicelib.payments import rules
from chalicelib.payments.records import Payment


def paid_messages(order: dict[str, Any], p: Payment) -> dict[str, Any]:
    now = datetime.now(UTC)
    data = {
        "orderId": order["orderId"],
        "paymentId": p.payment_id,
        "userId": p.user_id,
        "email": p.email,
        "amount": p.amount,
        "currency": p.currency,
        "vendorIds": p.vendor_ids,
    }
    record = {**data, "intentId": p.intent_id, "status": rules.SUCCEEDED, "capturedAt": now.isoformat()}
    created = datetime.fromisoformat(p.created_at)
    analytics = {**data, "seconds": round((now - created).total_seconds(), 3), "fraud": p.fraud}
    return {
        # the same event id however often the checkout runs: the customer is emailed once
        "event": json.dumps({**events.envelope("PaymentSucceeded", data), "eventId": f"paid-{p.payment_id}"}),
        # one JSON line: Firehose batches the lines into objects under transactions/YYYY/MM/DD/HH/
        "record": json.dumps(record) + "\n",
        "analytics": json.dumps(events.envelope("CheckoutCompleted", analytics)),
    }
