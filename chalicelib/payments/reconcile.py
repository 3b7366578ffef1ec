"""Payment reconciliation: one UTC day of our ledger against Stripe's own records (PaymentIntents
and Refunds). Differences are reported and alerted; nothing is changed here."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from chalicelib.core import events, logs, tx
from chalicelib.core.config import get_settings
from chalicelib.payments import rules
from chalicelib.payments.ledger import LedgerRepo
from chalicelib.payments.records import LedgerEntry
from chalicelib.payments.repo import PaymentsRepo
from chalicelib.payments.stripe_records import StripeRecords

log = logs.get_logger("freshcart.payments")
ALERT = "PaymentDrift"
PENDING_REFUND_SECONDS = 3600  # a refund still PENDING an hour on has lost its answer and its retry
EVENT_WINDOW_DAYS = 3  # Stripe retries a webhook for up to 3 days
ALERT_ROWS = 100  # an SNS message holds 256 KB; the count says how many more there are


@dataclass
class PaymentReconciler:
    ledger: LedgerRepo
    payments: PaymentsRepo
    stripe: StripeRecords
    complete_refund: Callable[[str, str], str] | None = None  # refunds.py's, for refunds left PENDING

    def drift(self, day: str, entries: list[LedgerEntry] | None = None) -> list[dict[str, Any]]:
        """Difference rows for ``day`` (``YYYY-MM-DD``, UTC); empty when the books agree."""
        start, end = rules.day_window(day)
        entries = self.ledger.day_entries(day) if entries is None else entries
        stripe = {r["id"]: r for r in self.stripe.intents_created(start, end)}
        stripe.update({r["id"]: r for r in self.stripe.refunds_created(start, end)})
        in_window = set(stripe)
        for entry in rules.reconciled_entries(entries):  # created on another day: ask by id
            id_ = rules.stripe_id(entry)
            if id_ and id_ not in stripe:
                found = self.stripe.intent_record(id_) if entry.kind == "CHARGE" else self.stripe.refund_record(id_)
                if found:
                    stripe[id_] = found
        named = {rules.stripe_id(e) for e in entries}
        elsewhere = set()
        for id_ in sorted(in_window - named):
            record = stripe[id_] = {**stripe[id_], "orderId": self._order_of(stripe[id_])}
            if record["orderId"] and any(
                rules.stripe_id(e) == id_ for e in rules.reconciled_entries(self.ledger.entries(record["orderId"]))
            ):
                elsewhere.add(id_)  # recorded on another day (a charge confirmed after midnight)
        return rules.payment_differences(entries, stripe, in_window, elsewhere)

    def _order_of(self, record: dict[str, Any]) -> str | None:
        """The order a Stripe object belongs to: its metadata, else our intent mapping (refunds
        carry no order id; their PaymentIntent does). Only asked for the few objects of the
        day that the day's ledger does not name."""
        if record.get("orderId"):
            return str(record["orderId"])
        intent = record["id"] if record["object"] == "payment_intent" else record.get("paymentIntent")
        if not intent:
            return None
        mapped = self.payments.intent(str(intent))
        if mapped and mapped.get("orderId"):
            return str(mapped["orderId"])
        if record["object"] == "refund":
            found = self.stripe.intent_record(str(intent))
            return str(found["orderId"]) if found and found.get("orderId") else None
        return None

    def close(self, day: str) -> dict[str, Any]:
        """``day``'s close: the ledger's money per currency and the differences with Stripe, from
        one read of the day's ledger (stored by the nightly job, read by the daily report)."""
        entries = self.ledger.day_entries(day)
        return {"day": day, "ledger": rules.ledger_totals(entries, day), "drift": self.drift(day, entries)}

    def day_money(self, day: str) -> dict[str, Any]:
        """For the daily report: ``day``'s stored close (one read), ``reconciled``; or, when the
        nightly job has not run for the day, the ledger's money from the day's entries and no
        drift (``reconciled: False``; Stripe is not asked)."""
        stored = self.payments.close(day)
        if stored is not None:
            return {**stored, "reconciled": True}
        entries = self.ledger.day_entries(day)
        return {"day": day, "ledger": rules.ledger_totals(entries, day), "drift": [], "reconciled": False}

    def run(self, day: str) -> dict[str, Any]:
        """The nightly job: the day's close stored (a re-run replaces it), and the days before it
        within Stripe's event window closed again (a webhook Stripe retried for up to 3 days, a
        dispute or failed refund, may have moved their money since); differences alerted to the
        admins (alerts topic), never fixed."""
        first = date.fromisoformat(day)
        again = [(first - timedelta(days=n)).isoformat() for n in range(1, EVENT_WINDOW_DAYS + 1)]
        for earlier in again:
            if self.payments.close(earlier) is not None:  # only days closed before are closed again
                self._close_and_alert(earlier)
        close = self._close_and_alert(day)
        refunds = self.recheck_refunds()
        return {"day": day, "drift": close["drift"], "ledger": close["ledger"], "reclosed": again, "refunds": refunds}

    def recheck_refunds(self, older_than: int = PENDING_REFUND_SECONDS) -> list[dict[str, Any]]:
        """Refunds still PENDING an hour after they were asked for (Stripe's answer lost and the
        retry dead-lettered): each is completed again (Stripe is asked by our key, or by our
        refundId once the key may be gone: never a second refund); one still stuck is alerted."""
        if self.complete_refund is None:
            return []
        before = (datetime.now(UTC) - timedelta(seconds=older_than)).isoformat()
        out = []
        for order_id, refund_id in self.payments.pending_refunds(before):
            try:
                outcome = self.complete_refund(order_id, refund_id)
            except Exception as exc:  # Stripe still not answering: tomorrow night again, and a person told
                outcome = f"still pending: {type(exc).__name__}"
            out.append({"orderId": order_id, "refundId": refund_id, "outcome": outcome})
        stuck = [r for r in out if r["outcome"].startswith("still pending")]
        topic = get_settings().alerts_topic_arn
        if stuck and topic:
            events.publish(topic, "RefundStuck", {"count": len(stuck), "rows": stuck[:ALERT_ROWS]})
        return out

    def balance(self, day: str) -> list[dict[str, Any]]:
        """Stripe's balance transactions of ``day``'s charges against our CHARGE entries (what
        landed in the balance is what we recorded), and Stripe's fee on each recorded in the
        ledger as ``STRIPE_FEE`` (written once, keyed by the transaction: the platform's cost)."""
        start, end = rules.day_window(day)
        rows = []
        for txn in self.stripe.balance_transactions(start, end):
            intent = self.stripe.intent_of_charge(str(txn["source"])) if txn.get("source") else None
            mapped = self.payments.intent(intent) if intent else None
            if not mapped:
                rows.append(rules.balance_row(rules.MISSING_LEDGER, None, txn))
                continue
            order_id = str(mapped["orderId"])
            charges = [e for e in self.ledger.entries(order_id) if e.kind == "CHARGE" and e.intent_id == intent]
            if not charges:
                rows.append(rules.balance_row(rules.MISSING_LEDGER, None, txn))
            elif str(txn["currency"]).upper() != charges[0].currency.upper():
                pass  # settled in the account's own currency: the amounts differ by the exchange, not a drift
            elif charges[0].amount != int(txn["amount"]):
                rows.append(rules.balance_row(rules.AMOUNT, charges[0], txn))
            if int(txn.get("fee") or 0) > 0:
                fee = self.ledger.entry_request(
                    order_id,
                    "STRIPE_FEE",
                    str(txn["id"]),
                    int(txn["fee"]),
                    str(txn["currency"]).upper(),
                    {"paymentId": mapped.get("paymentId"), "intentId": intent},
                )
                with contextlib.suppress(tx.Cancelled):  # recorded by an earlier run
                    tx.commit([fee], f"stripe-fee:{txn['id']}")
        return rows

    def _close_and_alert(self, day: str) -> dict[str, Any]:
        close = self.close(day)
        close["drift"] += self.balance(day)
        self.payments.put_close(day, close)
        drift = close["drift"]
        if drift:
            log.warning("payment drift", extra={"day": day, "rows": len(drift)})
            topic = get_settings().alerts_topic_arn
            if topic:
                events.publish(topic, ALERT, {"day": day, "count": len(drift), "rows": drift[:ALERT_ROWS]})
        return close


def payment_drift(day: str) -> list[dict[str, Any]]:
    """For the daily report: ``day``'s difference rows (no alert sent)."""
    from chalicelib import bootstrap

    return bootstrap.payment_reconciler().drift(day)
