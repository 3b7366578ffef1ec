"""What a paid checkout fans out (the Express run's FanOut publishes them with service
integrations, not Lambdas): the customer's PaymentSucceeded, the archive's record and the
analytics event."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from chalicelib.core import events
from chalicelib.payments import rules


def paid_messages(order: dict[str, Any], p: dict[str, Any]) -> dict[str, Any]:
    now = datetime.now(UTC)
    data = {
        "orderId": order["orderId"],
        "paymentId": p["paymentId"],
        "userId": p["userId"],
        "email": p.get("email"),
        "amount": int(p["amount"]),
        "currency": p["currency"],
        "vendorIds": sorted({x["vendorId"] for x in p.get("lines", [])}),
    }
    record = {**data, "intentId": p.get("intentId"), "status": rules.SUCCEEDED, "capturedAt": now.isoformat()}
    created = datetime.fromisoformat(p["createdAt"])
    analytics = {**data, "seconds": round((now - created).total_seconds(), 3), "fraud": p.get("fraud")}
    return {
        # the same event id however often the checkout runs: the customer is emailed once
        "event": json.dumps({**events.envelope("PaymentSucceeded", data), "eventId": f"paid-{p['paymentId']}"}),
        # one JSON line: Firehose batches the lines into objects under transactions/YYYY/MM/DD/HH/
        "record": json.dumps(record) + "\n",
        "analytics": json.dumps(events.envelope("CheckoutCompleted", analytics)),
    }
