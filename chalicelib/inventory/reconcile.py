"""Stock reconciliation: the counters on the stock rows against a recomputation from the orders
and the change log. Drift is reported and alerted; nothing is ever changed here."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from chalicelib.core import events, logs
from chalicelib.core.config import get_settings
from chalicelib.inventory import rules
from chalicelib.inventory.repo import InventoryRepo

log = logs.get_logger("freshcart.inventory")
ALERT = "StockDrift"
ALERT_ROWS = 100  # an SNS message holds 256 KB; the count says how many more there are


class StockUse(Protocol):
    """What the orders domain says each row holds (wired in bootstrap; orders imports inventory)."""

    def stock_use(self) -> dict[rules.Key, dict[str, int]]: ...


@dataclass
class StockReconciler:
    repo: InventoryRepo
    orders: StockUse

    def _pass(self) -> list[dict[str, Any]]:
        rows = list(self.repo.rows())
        use = self.orders.stock_use()
        vendors = sorted({r["vendorId"] for r in rows} | {k[2] for k in use})
        return rules.stock_drift(rows, self.repo.supplied(vendors), use)

    def drift(self) -> list[dict[str, Any]]:
        """Drift rows ``{productId, variantId, vendorId, counter, expected, actual}``, confirmed by
        a second pass (orders moving during the first one are not drift)."""
        first = self._pass()
        return rules.confirmed(first, self._pass()) if first else []

    def low_stock(self) -> list[dict[str, Any]]:
        return rules.low_stock(self.repo.rows())

    def run(self) -> dict[str, Any]:
        """The nightly job: drift alerted on the alerts topic (never fixed), low stock listed."""
        drift = self.drift()
        if drift:
            log.warning("stock drift", extra={"rows": len(drift)})
            topic = get_settings().alerts_topic_arn
            if topic:
                events.publish(topic, ALERT, {"count": len(drift), "rows": drift[:ALERT_ROWS]})
        return {"drift": drift, "lowStock": self.low_stock()}


def stock_drift() -> list[dict[str, Any]]:
    """For the daily report: the confirmed drift rows (no alert sent)."""
    from chalicelib import bootstrap

    return bootstrap.stock_reconciler().drift()


def low_stock() -> list[dict[str, Any]]:
    """For the daily report: ``{alertType, severity, productId, vendorId, variantId,
    currentStock, threshold}`` for every row under its threshold."""
    from chalicelib import bootstrap

    return bootstrap.stock_reconciler().low_stock()
