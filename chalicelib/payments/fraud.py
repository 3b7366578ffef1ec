"""The fraud screen: the pure rules (``rules.score_fraud``) fed with the account's history."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from chalicelib.payments import rules
from chalicelib.payments.ports import OrderReads


@dataclass
class FraudScreen:
    order_reads: OrderReads

    def score(
        self, order: dict[str, Any], user: dict[str, Any], client: dict[str, Any], card_country: str | None = None
    ) -> rules.FraudScore:
        """The fraud rules over the account's history: its devices and IPs as they were before
        the login this payment comes from (the session's device is the one the client named at
        login, ``deviceId``), its paid orders, and the other orders of the last hour."""
        since = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
        session = (user.get("sessions") or {}).get(str(client.get("session") or "")) or {}
        before = rules.known_before(user.get("devices") or [], session.get("createdAt"))
        device_key = (
            session.get("device") or hashlib.sha256(str(client.get("userAgent") or "").encode()).hexdigest()[:16]
        )
        recent = [  # what the customer placed: a subscription's scheduled orders are no burst
            o
            for o in self.order_reads.placed_since(order["userId"], since)
            if o["orderId"] != order["orderId"] and o.get("status") != "EXPIRED" and not o.get("subscriptionId")
        ]
        return rules.score_fraud(
            rules.FraudInput(
                amount=int(order["total"]),
                currency=order["currency"],
                first_order=not self.order_reads.ever_paid(order["userId"]),
                orders_last_hour=len(recent) + 1,
                # off-session (a subscription's order): no device or IP, the saved card was set up by its owner
                known_device=bool(client.get("offSession"))
                or any(d.get("key") == device_key for d in before)
                or not before,
                known_ip=bool(client.get("offSession"))
                or any(d.get("ip") == client.get("ip") for d in before)
                or not before,
                address_country=(order.get("address") or {}).get("country"),
                request_country=client.get("country"),
                spent_last_hour=sum(int(o["total"]) for o in recent if o.get("currency") == order["currency"]),
                card_country=card_country,
            )
        )
