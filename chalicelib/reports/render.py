"""The report as CSV (one long table: section, key, detail, currency, metric, value) and as one
self-contained HTML page (inline CSS and SVG charts; no script, no font, no CDN). Every text
that came from data is escaped; CSV cells that a spreadsheet would run as a formula are quoted
with a leading apostrophe."""

from __future__ import annotations

import csv
import io
from html import escape
from typing import Any

MAX_ROWS = 100  # per table on the page; the CSV and JSON have every row
PALETTE = ("#2f6f4f", "#c2703d", "#3d6fc2", "#8a4fb0", "#b03d5c", "#5f8a2f")


# -- CSV ---------------------------------------------------------------------------------------
def _cell(value: Any) -> Any:
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def to_csv(report: dict[str, Any]) -> str:
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(["section", "key", "detail", "currency", "metric", "value"])

    def row(section: str, key: str, detail: str, currency: str, metric: str, value: Any) -> None:
        w.writerow([_cell(section), _cell(key), _cell(detail), currency, metric, value])

    row("summary", report["date"], "", "", "totalOrders", report["totalOrders"])
    row("summary", report["date"], "", "", "chargedOrders", report["chargedOrders"])
    for status, n in report["ordersByStatus"].items():
        row("status", status, "", "", "orders", n)
        for c, v in report["orderValueByStatus"].get(status, {}).items():
            row("status", status, "", c, "orderValue", v)
    for c, figures in report["currencies"].items():
        for metric, v in figures.items():
            row("currency", c, "", c, metric, v)
    for c, hours in report["revenueByHour"].items():
        for h, v in enumerate(hours):
            row("hour", f"{h:02d}:00", "", c, "revenue", v)
    for k, v in report["customers"].items():
        row("customers", k, "", "", "customers", v)
    for v in report["byVendor"]:
        row("vendor", v["vendorId"], "", "", "orders", v["orders"])
        row("vendor", v["vendorId"], "", "", "units", v["units"])
        for c, s in v["sales"].items():
            row("vendor", v["vendorId"], "", c, "sales", s)
    for p in report["byProduct"]:
        key, detail = f"{p['productId']}/{p['variantId']}", f"{p['name']} {p['variantName']}".strip()
        row("product", key, detail, "", "orders", p["orders"])
        row("product", key, detail, "", "units", p["units"])
        for c, s in p["sales"].items():
            row("product", key, detail, c, "sales", s)
    for p in report["promos"]:
        row("promo", p["code"], "", "", "orders", p["orders"])
        row("promo", p["code"], "", "", "chargedOrders", p["chargedOrders"])
        for c, d in p["discount"].items():
            row("promo", p["code"], "", c, "discount", d)
    f = report["fulfilment"]
    for metric in ("partialOrders", "outOfStockLines", "partialLines", "unitsShort"):
        row("fulfilment", "", "", "", metric, f[metric])
    for s in f["shortLines"]:
        key, detail = f"{s['productId']}/{s['variantId']}", f"{s['name']} {s['variantName']}".strip()
        for metric in ("lines", "requested", "available", "outOfStock"):
            row("short", key, detail, "", metric, s[metric])
    row("fraud", "", "", "", "rejectedBeforePayment", report["fraud"]["rejectedBeforePayment"])
    for c, r in report["refunds"].items():
        row("refunds", "", "", c, "orders", r["orders"])
        row("refunds", "", "", c, "amount", r["amount"])
    for metric, n in report["cancellations"].items():
        row("cancellations", "", "", "", metric, n)
    for c, r in report["ledger"].items():
        for metric, v in r.items():
            row("ledger", "", "", c, metric, v)
    for s in report["lowStock"]:
        key = "/".join(str(s.get(k, "")) for k in ("productId", "variantId", "vendorId"))
        row("lowStock", key, str(s.get("severity", "")), "", "currentStock", s.get("currentStock", ""))
    for d in report["paymentDrift"]:
        row("paymentDrift", str(d.get("orderId") or ""), str(d.get("difference", "")), "", "drift", 1)
    return out.getvalue()


# -- HTML --------------------------------------------------------------------------------------
def money(amount: int, currency: str) -> str:
    """Minor units shown with two decimals (every currency the shop prices in has them)."""
    sign = "-" if amount < 0 else ""
    major, minor = divmod(abs(int(amount)), 100)
    return f"{sign}{escape(currency)} {major:,}.{minor:02d}"


def _bars_vertical(values: list[int], labels: list[str], color: str, fmt: Any) -> str:
    """A column chart (24 hours) as inline SVG."""
    w, h, pad, top = 660, 170, 28, 14
    peak = max(values) or 1
    step = (w - pad) / len(values)
    parts = [f'<svg viewBox="0 0 {w} {h + 22}" role="img" class="chart">']
    parts.append(f'<line x1="{pad}" y1="{h}" x2="{w}" y2="{h}" class="axis"/>')
    for i, v in enumerate(values):
        bh = (h - top) * v / peak
        x = pad + i * step + 2
        title = escape(f"{labels[i]}: {fmt(v)}")
        parts.append(
            f'<rect x="{x:.1f}" y="{h - bh:.1f}" width="{step - 4:.1f}" height="{bh:.1f}" fill="{color}">'
            f"<title>{title}</title></rect>"
        )
        if i % 3 == 0:
            parts.append(f'<text x="{x + (step - 4) / 2:.1f}" y="{h + 15}" class="tick">{escape(labels[i])}</text>')
    parts.append(f'<text x="{pad}" y="10" class="tick start">peak {escape(fmt(peak))}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _bars_horizontal(rows: list[tuple[str, int, str]], color: str) -> str:
    """Labelled bars (label, value, value text) as inline SVG."""
    if not rows:
        return '<p class="empty">Nothing to show.</p>'
    w, bar, gap, label_w = 660, 18, 8, 250
    h = len(rows) * (bar + gap)
    peak = max(v for _, v, _ in rows) or 1
    parts = [f'<svg viewBox="0 0 {w} {h}" role="img" class="chart">']
    for i, (label, v, text) in enumerate(rows):
        y = i * (bar + gap)
        bw = (w - label_w - 90) * v / peak
        short = label if len(label) <= 34 else label[:33] + "…"
        parts.append(f'<text x="{label_w - 8}" y="{y + bar - 5}" class="label">{escape(short)}</text>')
        parts.append(
            f'<rect x="{label_w}" y="{y}" width="{max(bw, 1):.1f}" height="{bar}" rx="3" fill="{color}">'
            f"<title>{escape(label)}: {escape(text)}</title></rect>"
        )
        parts.append(f'<text x="{label_w + bw + 6:.1f}" y="{y + bar - 5}" class="value">{escape(text)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _table(head: list[str], rows: list[list[str]], numeric_from: int = 1) -> str:
    if not rows:
        return '<p class="empty">None.</p>'
    th = "".join(f'<th class="{"n" if i >= numeric_from else ""}">{escape(h)}</th>' for i, h in enumerate(head))
    body = []
    for r in rows[:MAX_ROWS]:
        body.append(
            "<tr>"
            + "".join(f'<td class="{"n" if i >= numeric_from else ""}">{c}</td>' for i, c in enumerate(r))
            + "</tr>"
        )
    more = (
        f'<p class="more">{len(rows) - MAX_ROWS} more rows in report.csv and report.json.</p>'
        if len(rows) > MAX_ROWS
        else ""
    )
    return f"<table><thead><tr>{th}</tr></thead><tbody>{''.join(body)}</tbody></table>{more}"


def _amounts(by_currency: dict[str, int]) -> str:
    return "<br>".join(money(v, c) for c, v in by_currency.items()) or "-"


CSS = """
*{box-sizing:border-box}body{margin:0;font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;
color:#1f2a24;background:#f4f6f3}main{max-width:1040px;margin:0 auto;padding:28px 24px 48px}
header{display:flex;justify-content:space-between;align-items:baseline;border-bottom:3px solid #2f6f4f;
margin-bottom:20px}h1{font-size:26px;margin:0 0 8px}h1 span{color:#2f6f4f}h2{font-size:17px;margin:0 0 12px}
.meta{color:#66736b;font-size:13px}.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(180px,1fr));
gap:14px;margin-bottom:18px}.card{background:#fff;border-radius:10px;padding:14px 16px;box-shadow:0 1px 3px #0001}
.card .k{color:#66736b;font-size:12px;text-transform:uppercase;letter-spacing:.04em}.card .v{font-size:22px;
font-weight:650;margin-top:4px}.card .s{font-size:13px;color:#66736b}section{background:#fff;border-radius:10px;
padding:18px 20px;margin-bottom:18px;box-shadow:0 1px 3px #0001}.grid{display:grid;margin-bottom:18px;
grid-template-columns:1fr 1fr;gap:18px}.grid section{margin:0}@media(max-width:820px){.grid{grid-template-columns:1fr}}
.chart{width:100%;height:auto}.axis{stroke:#b9c2bc}.tick{font-size:11px;fill:#66736b;text-anchor:middle}
.tick.start{text-anchor:start}.label{font-size:12px;fill:#1f2a24;text-anchor:end}.value{font-size:12px;fill:#44514a}
table{border-collapse:collapse;width:100%;font-size:13.5px}th{text-align:left;color:#66736b;font-weight:600;
border-bottom:1px solid #dfe5e0;padding:6px 8px}td{border-bottom:1px solid #eef1ee;padding:6px 8px;vertical-align:top}
.n{text-align:right;font-variant-numeric:tabular-nums}.empty,.more,.note{color:#66736b;font-size:13px}
.warn{color:#a4452c;font-weight:600}.cur{font-weight:600;color:#2f6f4f;margin:6px 0 2px}
"""


def to_html(report: dict[str, Any]) -> str:
    day = escape(report["date"])
    cur = report["currencies"]
    cards = [
        ("Orders placed", str(report["totalOrders"]), f"{report['chargedOrders']} charged"),
        ("Revenue", _amounts(report["totalRevenue"]), "gross - refunds"),
        ("Average order", _amounts(report["averageOrderValue"]), "per charged order"),
        (
            "Customers",
            str(report["customers"]["customers"]),
            f"{report['customers']['new']} new · {report['customers']['returning']} returning",
        ),
        (
            "Attention",
            str(len(report["lowStock"]) + len(report["paymentDrift"])),
            f"{len(report['lowStock'])} low stock · {len(report['paymentDrift'])} payment drift"
            + ("" if report["paymentsReconciled"] else " (not reconciled)"),
        ),
    ]
    html = [
        "<!doctype html><html lang=en><head><meta charset=utf-8>",
        '<meta name=viewport content="width=device-width,initial-scale=1">',
        f"<title>Daily Summary - {day}</title><style>{CSS}</style></head><body><main>",
        f"<header><h1>freshcart · <span>Daily Summary</span> {day}</h1>",
        f'<div class="meta">UTC day · built {escape(report["generatedAt"][:19].replace("T", " "))}</div></header>',
        '<div class="cards">',
        *(
            f'<div class="card"><div class="k">{escape(k)}</div><div class="v">{v}</div>'
            f'<div class="s">{escape(s)}</div></div>'
            for k, v, s in cards
        ),
        "</div>",
    ]
    # revenue by hour, one chart per currency
    html.append("<section><h2>Revenue by hour (gross - refunds, as the Revenue card; by time of order)</h2>")
    if not report["revenueByHour"]:
        html.append('<p class="empty">No charged orders this day.</p>')
    for i, (c, hours) in enumerate(report["revenueByHour"].items()):
        html.append(f'<div class="cur">{escape(c)}</div>')
        html.append(
            _bars_vertical(
                hours, [f"{h:02d}" for h in range(24)], PALETTE[i % len(PALETTE)], lambda v, c=c: money(v, c)
            )
        )
    html.append("</section>")
    # top products and status side by side
    top = [
        (f"{p['name']} {p['variantName']}".strip() or p["productId"], p["units"], f"{p['units']} units")
        for p in report["topProducts"]
    ]
    status = [(s, n, str(n)) for s, n in sorted(report["ordersByStatus"].items(), key=lambda kv: -kv[1])]
    html.append('<div class="grid">')
    html.append(f"<section><h2>Top products (units sold)</h2>{_bars_horizontal(top, PALETTE[0])}</section>")
    html.append(f"<section><h2>Orders by status</h2>{_bars_horizontal(status, PALETTE[2])}</section>")
    html.append("</div>")
    # money per currency
    rows = [
        [
            escape(c),
            str(r["orders"]),
            str(r["chargedOrders"]),
            money(r["gross"], c),
            money(r["discounts"], c),
            money(r["refunded"], c),
            money(r["revenue"], c),
            money(r["averageOrderValue"], c),
        ]
        for c, r in cur.items()
    ]
    html.append("<section><h2>Per currency</h2>")
    html.append(
        _table(["Currency", "Orders", "Charged", "Gross", "Discounts", "Refunded", "Revenue", "Avg order"], rows)
    )
    pending = {c: r["refundPending"] for c, r in cur.items() if r["refundPending"]}
    if pending:
        html.append(f'<p class="note">Refunds still running: {_amounts(pending)}</p>')
    html.append(
        f'<p class="note">{escape(report["definitions"]["revenue"])}; {escape(report["definitions"]["gross"])}.</p>'
    )
    html.append("</section>")
    # vendors, products
    vendor_rows = [
        [escape(v["vendorId"]), str(v["orders"]), str(v["units"]), _amounts(v["sales"])] for v in report["byVendor"]
    ]
    product_rows = [
        [escape(f"{p['name']} {p['variantName']}".strip()), str(p["orders"]), str(p["units"]), _amounts(p["sales"])]
        for p in report["byProduct"]
    ]
    html.append('<div class="grid">')
    html.append(f"<section><h2>By vendor</h2>{_table(['Vendor', 'Orders', 'Units', 'Sales'], vendor_rows)}</section>")
    html.append(
        f"<section><h2>By product</h2>{_table(['Product', 'Orders', 'Units', 'Sales'], product_rows)}</section>"
    )
    html.append("</div>")
    # promos, fulfilment
    promo_rows = [
        [escape(p["code"]), str(p["orders"]), str(p["chargedOrders"]), _amounts(p["discount"])]
        for p in report["promos"]
    ]
    f = report["fulfilment"]
    short_rows = [
        [
            escape(f"{s['name']} {s['variantName']}".strip() or s["productId"]),
            str(s["lines"]),
            str(s["requested"]),
            str(s["available"]),
            str(s["outOfStock"]),
        ]
        for s in f["shortLines"]
    ]
    html.append('<div class="grid">')
    html.append(
        f"<section><h2>Promo codes</h2>{_table(['Code', 'Orders', 'Charged', 'Discount'], promo_rows)}</section>"
    )
    html.append(
        f"<section><h2>Fulfilment</h2><p>{f['partialOrders']} partial orders · {f['outOfStockLines']} out-of-stock "
        f"lines · {f['partialLines']} partly filled lines · {f['unitsShort']} units short</p>"
        f"{_table(['Product', 'Lines', 'Wanted', 'Had', 'None left'], short_rows)}</section>"
    )
    html.append("</div>")
    # refunds, cancellations, fraud, ledger
    c = report["cancellations"]
    ledger_rows = [
        [
            escape(k),
            str(r["charges"]),
            money(r["charged"], k),
            str(r["refunds"]),
            money(r["refunded"], k),
            money(r["fees"], k),
            money(r["net"], k),
        ]
        for k, r in report["ledger"].items()
    ]
    refund_rows = [[escape(k), str(r["orders"]), money(r["amount"], k)] for k, r in report["refunds"].items()]
    html.append('<div class="grid">')
    html.append(
        "<section><h2>Cancellations, expiries, fraud</h2>"
        f"<p>{c['cancelled']} cancelled ({c['cancelledAfterPayment']} after payment) · {c['rejected']} rejected "
        f"({c['rejectedAfterPayment']} after payment) · {c['expired']} reservations expired</p>"
        f"<p>{report['fraud']['rejectedBeforePayment']} rejected before payment by a manager</p>"
        f'<p class="note">{escape(report["fraud"]["note"])}</p></section>'
    )
    html.append(
        f"<section><h2>Refunds of these orders</h2>{_table(['Currency', 'Orders', 'Refunded'], refund_rows)}</section>"
    )
    html.append("</div>")
    html.append(
        "<section><h2>Ledger: money recorded this day (any order)</h2>"
        f"{_table(['Currency', 'Charges', 'Charged', 'Refunds', 'Refunded', 'Fees', 'Net'], ledger_rows)}</section>"
    )
    # stock and drift
    low_rows = [
        [
            escape(str(s.get("productId", ""))),
            escape(str(s.get("variantId", ""))),
            escape(str(s.get("vendorId", ""))),
            escape(str(s.get("currentStock", ""))),
            escape(str(s.get("severity", ""))),
        ]
        for s in report["lowStock"]
    ]
    drift_rows = [
        [
            escape(str(d.get("orderId") or "")),
            escape(str(d.get("difference", ""))),
            escape(str(d.get("object", ""))),
            escape(str(d.get("stripeId") or "")),
        ]
        for d in report["paymentDrift"]
    ]
    html.append('<div class="grid">')
    low_table = _table(["Product", "Variant", "Vendor", "Stock", "Level"], low_rows, numeric_from=3)
    html.append(f"<section><h2>Low stock</h2>{low_table}</section>")
    drift_head = '<h2 class="warn">Payment drift</h2>' if drift_rows else "<h2>Payment drift</h2>"
    if not report["paymentsReconciled"]:
        drift_head += (
            '<p class="meta">Not reconciled with Stripe yet (payment_reconciliation has not run for this day).</p>'
        )
    drift_table = _table(["Order", "Difference", "Object", "Stripe id"], drift_rows, numeric_from=9)
    html.append(f"<section>{drift_head}{drift_table}</section>")
    html.append("</div>")
    html.append('<p class="meta">Amounts in each currency separately; report.json and report.csv hold every row.</p>')
    html.append("</main></body></html>")
    return "".join(html)
