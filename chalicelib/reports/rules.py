"""Pure aggregation of one day's orders and ledger entries into the daily report. No I/O.

Money is integer minor units and is never summed across currencies: every amount sits under its
currency code. Definitions (also carried in the report as ``definitions``):

- an order is *charged* when its payment succeeded (the order carries ``payment.status =
  SUCCEEDED``, written with the ledger's CHARGE in one transaction), whatever happened next;
- ``gross``: what the day's charged orders were charged (their totals, after discounts);
- ``refunded``: what has been refunded of those orders so far (``refund.amount`` once a refund
  succeeded); ``refundPending``: a paid order cancelled or rejected whose refund is still running;
- ``revenue`` = gross - refunded; ``averageOrderValue`` = gross / charged orders (half up);
- ``ledger``: money recorded on the day for ANY order (a refund today of last week's order is
  here and not in ``revenue``), from the ledger's day index.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta
from typing import Any

SUCCEEDED = "SUCCEEDED"
STAFF = frozenset({"manager", "admin"})
TOP = 10

DEFINITIONS = {
    "day": "orders placed on this date (UTC, 00:00 to 24:00); statuses as they were when the report was built",
    "charged": "orders whose payment succeeded (payment.status SUCCEEDED), whatever happened next",
    "gross": "what the day's charged orders were charged: their totals after discounts, minor units",
    "refunded": "what has been refunded of the day's charged orders so far",
    "revenue": "gross - refunded, per currency (never summed across currencies)",
    "averageOrderValue": "gross / charged orders, rounded half up, per currency",
    "sales": "line totals (unit price x quantity) of charged orders, before order-level discounts",
    "newCustomer": "a customer whose first order ever was placed this day; the others are returning",
    "ledger": "money recorded in the ledger on this day for any order (charges, refunds, fees)",
}


def previous_day(today: date) -> str:
    return (today - timedelta(days=1)).isoformat()


def charged(order: dict[str, Any]) -> bool:
    return (order.get("payment") or {}).get("status") == SUCCEEDED


def charged_amount(order: dict[str, Any]) -> int:
    return int((order.get("payment") or {}).get("amount", order.get("total", 0))) if charged(order) else 0


def refunded_amount(order: dict[str, Any]) -> int:
    """What has come back of the order so far (its refund axis: ``refund.amount``)."""
    return int((order.get("refund") or {}).get("amount", 0))


def refund_pending(order: dict[str, Any]) -> int:
    """What a cancelled or rejected paid order still owes (``refund.owed``)."""
    refund = order.get("refund") or {}
    return int(refund.get("owed", 0)) if refund.get("status") == "REQUIRED" else 0


def undecided_customers(orders: list[dict[str, Any]]) -> set[str]:
    """Customers the orders alone cannot class as new or returning: none of their orders of the
    day carries ``firstOrder`` (placement writes it from the user's order count)."""
    flagged = {o["userId"] for o in orders if "firstOrder" in o}
    return {o["userId"] for o in orders} - flagged


def _half_up(total: int, n: int) -> int:
    return (2 * total + n) // (2 * n) if n else 0


def _money() -> defaultdict[str, int]:
    return defaultdict(int)


def _plain(d: dict[str, Any]) -> dict[str, Any]:
    return {k: (_plain(v) if isinstance(v, dict) else v) for k, v in sorted(d.items())}


def build(
    day: str,
    orders: list[dict[str, Any]],
    money: dict[str, Any],
    ordered_before: set[str],
    low_stock: list[dict[str, Any]],
    generated_at: str,
) -> dict[str, Any]:
    """The report of ``day``. ``money``: the payments domain's account of the day (``ledger``
    per currency, ``drift``, ``reconciled``). ``ordered_before``: of :func:`undecided_customers`,
    those who had an order before the day."""
    orders = sorted((o for o in orders if o.get("day") == day), key=lambda o: (o["createdAt"], o["orderId"]))
    by_status: dict[str, int] = defaultdict(int)
    value_by_status: dict[str, defaultdict[str, int]] = defaultdict(_money)
    cur: dict[str, dict[str, int]] = defaultdict(
        lambda: {
            "orders": 0,
            "chargedOrders": 0,
            "gross": 0,
            "discounts": 0,
            "refunded": 0,
            "refundPending": 0,
            "revenue": 0,
            "averageOrderValue": 0,
        }
    )
    by_hour: dict[str, list[int]] = defaultdict(lambda: [0] * 24)
    vendors: dict[str, dict[str, Any]] = {}
    products: dict[tuple[str, str], dict[str, Any]] = {}
    promos: dict[str, dict[str, Any]] = {}
    short: dict[tuple[str, str], dict[str, Any]] = {}
    first_order: dict[str, bool] = {}
    refunds: dict[str, dict[str, int]] = defaultdict(lambda: {"orders": 0, "amount": 0})
    cancellations = {"cancelled": 0, "cancelledAfterPayment": 0, "rejected": 0, "rejectedAfterPayment": 0, "expired": 0}
    fraud = {"rejectedBeforePayment": 0}
    fulfilment = {"partialOrders": 0, "outOfStockLines": 0, "partialLines": 0, "unitsShort": 0}

    for o in orders:
        c, status, paid = o["currency"], o["status"], charged(o)
        by_status[status] += 1
        value_by_status[status][c] += int(o["total"])
        cur[c]["orders"] += 1
        first_order[o["userId"]] = first_order.get(o["userId"], False) or bool(o.get("firstOrder"))
        if o.get("promoCode"):
            p = promos.setdefault(
                o["promoCode"], {"code": o["promoCode"], "orders": 0, "chargedOrders": 0, "discount": _money()}
            )
            p["orders"] += 1
            if paid:
                p["chargedOrders"] += 1
                p["discount"][c] += int(o.get("discount", 0))
        if o.get("partialFulfillment"):
            fulfilment["partialOrders"] += 1
        for u in o.get("unavailableLines") or []:
            key = (u["productId"], u["variantId"])
            s = short.setdefault(
                key,
                {"productId": key[0], "variantId": key[1], "lines": 0, "requested": 0, "available": 0, "outOfStock": 0},
            )
            s["lines"] += 1
            s["requested"] += int(u["requested"])
            s["available"] += int(u.get("available", 0))
            out = u.get("reason") == "out_of_stock"
            s["outOfStock"] += out
            fulfilment["outOfStockLines" if out else "partialLines"] += 1
            fulfilment["unitsShort"] += int(u["requested"]) - int(u.get("available", 0))
        if status == "CANCELLED" or any(h.get("status") == "CANCELLED" for h in o.get("history", [])):
            cancellations["cancelled"] += 1
            cancellations["cancelledAfterPayment"] += paid
        if status == "REJECTED" or any(h.get("status") == "REJECTED" for h in o.get("history", [])):
            cancellations["rejected"] += 1
            cancellations["rejectedAfterPayment"] += paid
            if not paid and any(h.get("status") == "REJECTED" and h.get("role") in STAFF for h in o.get("history", [])):
                fraud["rejectedBeforePayment"] += 1
        if status == "EXPIRED":
            cancellations["expired"] += 1
        pending = refund_pending(o)
        cur[c]["refundPending"] += pending
        if not paid:
            continue
        amount, back = charged_amount(o), refunded_amount(o)
        cur[c]["chargedOrders"] += 1
        cur[c]["gross"] += amount
        cur[c]["discounts"] += int(o.get("discount", 0))
        cur[c]["refunded"] += back
        if back:
            refunds[c]["orders"] += 1
            refunds[c]["amount"] += back
        by_hour[c][int(o["createdAt"][11:13])] += amount - back  # the headline's revenue, by hour
        if status in ("CANCELLED", "REJECTED"):  # paid, then cancelled: its units went back on sale
            continue
        seen_vendors: set[str] = set()
        for line in o.get("lines", []):
            qty, sale = (
                int(line["quantity"]),
                int(line.get("lineTotal", int(line["unitPrice"]) * int(line["quantity"]))),
            )
            v = vendors.setdefault(
                line["vendorId"], {"vendorId": line["vendorId"], "orders": 0, "units": 0, "sales": _money()}
            )
            if line["vendorId"] not in seen_vendors:
                v["orders"] += 1
                seen_vendors.add(line["vendorId"])
            v["units"] += qty
            v["sales"][c] += sale
            key = (line["productId"], line["variantId"])
            p = products.setdefault(
                key,
                {
                    "productId": key[0],
                    "variantId": key[1],
                    "name": line.get("name", ""),
                    "variantName": line.get("variantName", ""),
                    "orders": 0,
                    "units": 0,
                    "sales": _money(),
                },
            )
            p["orders"] += 1
            p["units"] += qty
            p["sales"][c] += sale

    for row in cur.values():
        row["revenue"] = row["gross"] - row["refunded"]
        row["averageOrderValue"] = _half_up(row["gross"], row["chargedOrders"])

    customers = set(first_order)
    new = {u for u in customers if first_order[u]}
    undecided = undecided_customers(orders)
    new |= {u for u in undecided if u not in ordered_before}
    product_rows = sorted(products.values(), key=lambda p: (-p["units"], -p["orders"], p["name"], p["variantId"]))
    names = {(p["productId"], p["variantId"]): (p["name"], p["variantName"]) for p in product_rows}
    for o in orders:  # names of short lines whose product sold nothing that day
        for line in o.get("lines", []):
            names.setdefault(
                (line["productId"], line["variantId"]), (line.get("name", ""), line.get("variantName", ""))
            )
    short_rows = []
    for key, s in sorted(short.items(), key=lambda kv: (-kv[1]["lines"], kv[0])):
        name, variant = names.get(key, ("", ""))
        short_rows.append({**s, "name": name, "variantName": variant})

    return {
        "date": day,
        "generatedAt": generated_at,
        "definitions": DEFINITIONS,
        "totalOrders": len(orders),
        "chargedOrders": sum(r["chargedOrders"] for r in cur.values()),
        "ordersByStatus": dict(sorted(by_status.items())),
        "orderValueByStatus": {s: dict(sorted(v.items())) for s, v in sorted(value_by_status.items())},
        "currencies": _plain(dict(cur)),
        "totalRevenue": {c: r["revenue"] for c, r in sorted(cur.items())},
        "averageOrderValue": {c: r["averageOrderValue"] for c, r in sorted(cur.items()) if r["chargedOrders"]},
        "revenueByHour": dict(sorted(by_hour.items())),
        "customers": {"customers": len(customers), "new": len(new), "returning": len(customers - new)},
        "byVendor": [
            {**v, "sales": dict(sorted(v["sales"].items()))}
            for v in sorted(vendors.values(), key=lambda v: (-v["orders"], -v["units"], v["vendorId"]))
        ],
        "byProduct": [{**p, "sales": dict(sorted(p["sales"].items()))} for p in product_rows],
        "topProducts": [{**p, "sales": dict(sorted(p["sales"].items()))} for p in product_rows[:TOP]],
        "promos": [
            {**p, "discount": dict(sorted(p["discount"].items()))}
            for p in sorted(promos.values(), key=lambda p: (-p["orders"], p["code"]))
        ],
        "fulfilment": {**fulfilment, "shortLines": short_rows},
        "fraud": {
            **fraud,
            "note": "orders a manager or admin rejected before they were paid (how a fraud hold is refused); "
            "holds that were approved or timed out are recorded only in the payments table, which has no "
            "day index",
        },
        "refunds": dict(sorted(refunds.items())),
        "cancellations": cancellations,
        "ledger": dict(sorted(money["ledger"].items())),
        "lowStock": low_stock,
        "paymentDrift": money["drift"],
        "paymentsReconciled": bool(money["reconciled"]),
    }
