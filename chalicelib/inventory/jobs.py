"""Inventory events (StockLow when a variant's stock at a vendor falls under its threshold) and
the nightly stock reconciliation."""

from __future__ import annotations

from typing import Any

from chalice import Blueprint, Cron

from chalicelib.core.config import get_settings
from chalicelib.core.streams import publish_changes
from chalicelib.inventory.repo import InventoryRepo

bp = Blueprint(__name__)


def stock_events(name: str, old: dict[str, Any] | None, new: dict[str, Any] | None) -> list[tuple[str, dict[str, Any]]]:
    if new is None or not InventoryRepo.is_stock_row(new):
        return []
    threshold = int(new.get("lowStockThreshold", 0))
    now_low = int(new["available"]) < threshold
    was_low = old is not None and int(old.get("available", 0)) < int(old.get("lowStockThreshold", 0))
    if now_low and not was_low:
        return [
            (
                "StockLow",
                {
                    k: new.get(k)
                    for k in ("productId", "variantId", "vendorId", "available", "reserved", "lowStockThreshold")
                },
            )
        ]
    return []


@bp.lambda_function(name="inventory_stream")
def inventory_stream(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Fed by the inventory table's stream (infra/resources.json: InventoryStreamMapping)."""
    return publish_changes(event, get_settings().inventory_events_topic_arn, stock_events)


@bp.schedule(Cron(30, 0, "*", "*", "?", "*"), description="Stock counters against the orders: alert on drift")
def stock_reconciliation(event: Any) -> dict[str, Any]:
    """Nightly at 00:30 UTC (``make job NAME=stock_reconciliation`` runs it now). Never fixes."""
    from chalicelib import bootstrap

    return bootstrap.stock_reconciler().run()
