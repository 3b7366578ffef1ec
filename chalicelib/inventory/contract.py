"""inventory: stock per product variant at each vendor, and the log of every change."""

from __future__ import annotations

from chalicelib.core import patterns
from chalicelib.core.openapi import PAGE, Op, Param
from chalicelib.core.schema import Instant, Page, View

TAG = "inventory"
M = "chalicelib.inventory.models"
C = "chalicelib.inventory.contract"
STOCKISTS = ("admin", "vendor")


class Stock(View):
    productId: str
    variantId: str
    vendorId: str
    available: int
    reserved: int
    lowStockThreshold: int
    lowStock: bool
    updatedAt: Instant


class StockPage(Page):
    items: list[Stock]


class StockLogEntry(View):
    productId: str
    variantId: str
    vendorId: str
    delta: int
    reason: str
    by: str
    role: str
    at: Instant


class StockLog(View):
    items: list[StockLogEntry]


VENDOR_ID = Param(
    "vendorId",
    {"type": "string", "pattern": patterns.ID},
    description="admins: this vendor's (required for the log); vendors always see their own",
)

ROUTES: dict[tuple[str, str], Op] = {
    ("GET", "/inventory"): Op(f"{C}:StockPage", query=(VENDOR_ID, *PAGE), roles=STOCKISTS),
    ("POST", "/inventory/adjust"): Op(f"{C}:Stock", body=f"{M}:StockChange", roles=STOCKISTS, errors=(404, 409, 422)),
    ("GET", "/inventory/log"): Op(f"{C}:StockLog", query=(VENDOR_ID,), roles=STOCKISTS, errors=(404, 422)),
}
