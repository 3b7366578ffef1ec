"""reports: the daily report of one UTC day, as JSON and as a page."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from chalicelib.core import patterns
from chalicelib.core.openapi import Op, Param
from chalicelib.core.schema import Instant, View

TAG = "reports"
C = "chalicelib.reports.contract"
STAFF = ("manager", "admin")
Money = dict[str, int]


class CurrencyFigures(View):
    orders: int
    chargedOrders: int
    gross: int = Field(description="what the day's charged orders were charged, minor units")
    discounts: int
    refunded: int = Field(description="refunded of those orders so far")
    refundPending: int
    revenue: int = Field(description="gross - refunded")
    averageOrderValue: int = Field(description="gross / charged orders, half up")


class VendorRow(View):
    vendorId: str
    orders: int
    units: int
    sales: Money


class ProductRow(View):
    productId: str
    variantId: str
    name: str
    variantName: str
    orders: int
    units: int
    sales: Money = Field(description="line totals of charged orders per currency, before order discounts")


class PromoRow(View):
    code: str
    orders: int
    chargedOrders: int
    discount: Money


class ShortLine(View):
    productId: str
    variantId: str
    name: str
    variantName: str
    lines: int
    requested: int
    available: int
    outOfStock: int


class FulfilmentFigures(View):
    partialOrders: int
    outOfStockLines: int
    partialLines: int
    unitsShort: int
    shortLines: list[ShortLine]


class CustomerFigures(View):
    customers: int
    new: int
    returning: int


class FraudFigures(View):
    rejectedBeforePayment: int
    note: str


class RefundRow(View):
    orders: int
    amount: int


class CancellationFigures(View):
    cancelled: int
    cancelledAfterPayment: int
    rejected: int
    rejectedAfterPayment: int
    expired: int


class LedgerRow(View):
    charged: int
    refunded: int
    net: int
    fees: int
    charges: int
    refunds: int
    entries: int


class DailyReport(View):
    """Amounts are integer minor units keyed by currency; never summed across currencies."""

    date: str = Field(json_schema_extra={"format": "date"})
    generatedAt: Instant
    definitions: dict[str, str]
    totalOrders: int
    chargedOrders: int
    ordersByStatus: dict[str, int]
    orderValueByStatus: dict[str, Money]
    currencies: dict[str, CurrencyFigures]
    totalRevenue: Money = Field(description="revenue per currency")
    averageOrderValue: Money
    revenueByHour: dict[str, list[int]] = Field(
        description="revenue (gross - refunded, as the headline) per UTC hour of ordering, 24 per currency"
    )
    customers: CustomerFigures
    byVendor: list[VendorRow]
    byProduct: list[ProductRow]
    topProducts: list[ProductRow]
    promos: list[PromoRow]
    fulfilment: FulfilmentFigures
    fraud: FraudFigures
    refunds: dict[str, RefundRow]
    cancellations: CancellationFigures
    ledger: dict[str, LedgerRow]
    lowStock: list[dict[str, Any]]
    paymentDrift: list[dict[str, Any]]
    paymentsReconciled: bool


DATE = Param(
    "date",
    {"type": "string", "format": "date", "pattern": patterns.DATE},
    required=True,
    description="the UTC day, YYYY-MM-DD",
)

ROUTES: dict[tuple[str, str], Op] = {
    ("GET", "/reports/daily"): Op(f"{C}:DailyReport", query=(DATE,), roles=STAFF, errors=(404,)),
    ("GET", "/reports/daily/{date}/page"): Op(None, media_type="text/html", roles=STAFF, errors=(400,)),
}
