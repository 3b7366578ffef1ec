"""The daily report: its figures against an independent computation over the same orders, its
objects in S3 (replaced on a re-run), its routes and its email.

Orders are written straight into the orders table in the shape placement and the payments
domain write (tests/api/test_orders.py and test_payments.py cover how they get there), because
the report is about a day in the past and times just either side of midnight UTC."""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from moto.backends import get_backend

from chalicelib.core import aws
from chalicelib.core.config import get_settings
from chalicelib.core.dynamo import to_item
from tests.conftest import Api, json_body

DAY = "2030-03-14"


def _order(
    at: datetime,
    user: str,
    currency: str,
    lines: list[tuple[str, str, str, int, int]],
    status: str,
    paid: bool,
    refund: dict[str, Any] | None = None,
    discount: int = 0,
    promo: str | None = None,
    first: bool | None = False,
    unavailable: list[dict[str, Any]] | None = None,
    history: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    order_id = uuid.uuid4().hex
    built = [
        {
            "productId": p,
            "variantId": v,
            "vendorId": vendor,
            "quantity": q,
            "requested": q,
            "unitPrice": price,
            "lineTotal": q * price,
            "name": f"Product {p}",
            "variantName": f"Var {v}",
        }
        for p, v, vendor, q, price in lines
    ]
    subtotal = sum(x["lineTotal"] for x in built)
    total = subtotal - discount
    iso = at.isoformat()
    order: dict[str, Any] = {
        "pk": f"ORDER#{order_id}",
        "sk": "META",
        "orderId": order_id,
        "userId": user,
        "status": status,
        "lines": built,
        "unavailableLines": unavailable or [],
        "partialFulfillment": bool(unavailable),
        "vendorIds": sorted({x["vendorId"] for x in built}),
        "currency": currency,
        "subtotal": subtotal,
        "discount": discount,
        "total": total,
        "address": {"pincode": "560001", "country": "IN"},
        "reservation": {"status": "committed" if paid else "held", "expiresAt": int(at.timestamp()) + 900},
        "history": history or [{"status": "PENDING_PAYMENT", "at": iso, "by": user, "role": "customer"}],
        "createdAt": iso,
        "updatedAt": iso,
        "createdKey": f"{iso}#{order_id}",
        "day": at.date().isoformat(),
    }
    if first is not None:
        order["firstOrder"] = first
    if promo:
        order["promoCode"] = promo
    if paid:
        order["payment"] = {"paymentId": "p" + order_id, "intentId": "pi_x", "amount": total, "status": "SUCCEEDED"}
    if refund:
        order["refund"] = {**refund, "currency": currency}
    return order


def _write(items: list[dict[str, Any]], table: str) -> None:
    ddb = aws.client("dynamodb")
    for i in range(0, len(items), 25):
        ddb.batch_write_item(RequestItems={table: [{"PutRequest": {"Item": to_item(x)}} for x in items[i : i + 25]]})


def _ledger(order: dict[str, Any], kind: str, amount: int, at: datetime) -> dict[str, Any]:
    entry_id = uuid.uuid4().hex[:8]
    return {
        "pk": f"ORDER#{order['orderId']}",
        "sk": f"{kind}#{entry_id}",
        "orderId": order["orderId"],
        "kind": kind,
        "entryId": entry_id,
        "amount": amount,
        "currency": order["currency"],
        "day": at.date().isoformat(),
        "createdKey": f"{at.isoformat()}#{order['orderId']}#{kind}#{entry_id}",
        "createdAt": at.isoformat(),
    }


def _at(day: str, hms: str) -> datetime:
    return datetime.fromisoformat(f"{day}T{hms}+00:00")


def seed_day() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The day's orders and the orders either side of it, with ledger entries."""
    before = (datetime.fromisoformat(DAY) - timedelta(days=1)).date().isoformat()
    after = (datetime.fromisoformat(DAY) + timedelta(days=1)).date().isoformat()
    old = _order(_at(before, "23:59:59.999999"), "u-ret", "INR", [("p1", "v1", "vA", 1, 1000)], "DELIVERED", True)
    nxt = _order(_at(after, "00:00:00"), "u-new", "INR", [("p1", "v1", "vA", 9, 1000)], "PAID", True)
    day = [
        # just after midnight: a returning customer (ordered yesterday), INR, with a promo
        _order(
            _at(DAY, "00:00:00"),
            "u-ret",
            "INR",
            [("p1", "v1", "vA", 2, 1000), ("p2", "v1", "vB", 1, 2500)],
            "DELIVERED",
            True,
            discount=450,
            promo="SAVE10",
        ),
        # a new customer's first order, partly refunded
        _order(
            _at(DAY, "09:15:00"),
            "u-new",
            "INR",
            [("p1", "v1", "vA", 3, 1000)],
            "APPROVED",
            True,
            refund={"status": "PARTIAL", "amount": 1000, "owed": 0},
            first=True,
        ),
        # the same customer again, USD, refunded in full
        _order(
            _at(DAY, "09:30:00"),
            "u-new",
            "USD",
            [("p1", "v2", "vA", 1, 50)],
            "DELIVERED",
            True,
            refund={"status": "DONE", "amount": 50, "owed": 0},
        ),
        # partial fulfilment: one line short, one out of stock; USD
        _order(
            _at(DAY, "14:00:00"),
            "u-usd",
            "USD",
            [("p2", "v1", "vB", 2, 80)],
            "APPROVED",
            True,
            unavailable=[
                {"productId": "p2", "variantId": "v1", "requested": 5, "available": 2, "reason": "partial"},
                {"productId": "p3", "variantId": "v1", "requested": 1, "available": 0, "reason": "out_of_stock"},
            ],
            first=True,
        ),
        # unpaid: expired, cancelled before payment, rejected by a manager before payment
        _order(_at(DAY, "15:00:00"), "u-usd", "USD", [("p1", "v2", "vA", 1, 50)], "EXPIRED", False),
        _order(_at(DAY, "16:00:00"), "u-ret", "INR", [("p1", "v1", "vA", 1, 1000)], "CANCELLED", False, promo="SAVE10"),
        _order(
            _at(DAY, "17:00:00"),
            "u-old",
            "INR",
            [("p2", "v1", "vB", 1, 2500)],
            "REJECTED",
            False,
            first=None,  # an older order without the flag: decided through byUser
            history=[
                {"status": "PENDING_PAYMENT", "at": DAY + "T17:00:00+00:00", "by": "u-old", "role": "customer"},
                {"status": "REJECTED", "at": DAY + "T17:05:00+00:00", "by": "m1", "role": "manager"},
            ],
        ),
        # paid then cancelled: refund still running
        _order(
            _at(DAY, "22:00:00"),
            "u-ret",
            "INR",
            [("p1", "v1", "vA", 1, 1000)],
            "CANCELLED",
            True,
            refund={"status": "REQUIRED", "amount": 0, "owed": 1000},
        ),
        # the last instant of the day
        _order(_at(DAY, "23:59:59.999999"), "u-usd", "USD", [("p1", "v2", "vB", 4, 50)], "PAID", True),
    ]
    # u-old ordered long ago (no flag on that order either)
    ancient = _order(_at("2029-01-01", "10:00:00"), "u-old", "INR", [("p2", "v1", "vB", 1, 2500)], "DELIVERED", True)
    ancient.pop("firstOrder")
    s = get_settings()
    _write([old, nxt, ancient, *day], s.orders_table)
    ledger = []
    for o in day:
        if "payment" in o:
            ledger.append(_ledger(o, "CHARGE", o["total"], datetime.fromisoformat(o["createdAt"])))
            ledger.append(_ledger(o, "FEE", o["total"] * 5 // 100, datetime.fromisoformat(o["createdAt"])))
    ledger.append(_ledger(old, "REFUND", 300, _at(DAY, "08:00:00")))  # a refund today of yesterday's order
    ledger.append(_ledger(nxt, "CHARGE", nxt["total"], _at(after, "00:00:01")))
    _write(ledger, s.transactions_table)
    return day, ledger


def expected(day_orders: list[dict[str, Any]], ledger: list[dict[str, Any]]) -> dict[str, Any]:
    """The figures, computed here independently of chalicelib.reports."""
    charged = [o for o in day_orders if o.get("payment", {}).get("status") == "SUCCEEDED"]
    gross: dict[str, int] = defaultdict(int)
    refunded: dict[str, int] = defaultdict(int)
    count: dict[str, int] = defaultdict(int)
    hours: dict[str, list[int]] = defaultdict(lambda: [0] * 24)
    units: dict[tuple[str, str], int] = defaultdict(int)
    vendor_sales: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for o in charged:
        c = o["currency"]
        gross[c] += o["total"]
        count[c] += 1
        back = o.get("refund", {}).get("amount", 0)
        refunded[c] += back
        hours[c][datetime.fromisoformat(o["createdAt"]).hour] += o["total"] - back  # revenue, as the card
        if o["status"] in ("CANCELLED", "REJECTED"):  # restocked: no units sold
            continue
        for line in o["lines"]:
            units[(line["productId"], line["variantId"])] += line["quantity"]
            vendor_sales[line["vendorId"]][c] += line["quantity"] * line["unitPrice"]
    statuses: dict[str, int] = defaultdict(int)
    for o in day_orders:
        statuses[o["status"]] += 1
    cash: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for e in ledger:
        if e["day"] == DAY:
            cash[e["currency"]][e["kind"]] += e["amount"]
    return {
        "revenue": {c: gross[c] - refunded[c] for c in gross},
        "gross": dict(gross),
        "aov": {c: round(gross[c] / count[c] + 1e-9) for c in gross},
        "hours": dict(hours),
        "units": dict(units),
        "vendors": {v: dict(s) for v, s in vendor_sales.items()},
        "statuses": dict(statuses),
        "cash": {c: dict(k) for c, k in cash.items()},
    }


def staff(api: Api) -> tuple[str, str]:
    return api.user("mgr", role="manager")["accessToken"], api.user("boss", role="admin")["accessToken"]


def run_job(api: Api, date: str | None = None, at: datetime | None = None) -> dict[str, Any]:
    event = api.client.events.generate_cw_event(
        source="aws.events", detail_type="Scheduled Event", detail={"date": date} if date else {}, resources=[]
    )
    event["time"] = (at or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return dict(api.client.lambda_.invoke("daily_report", event).payload)


def keys(date: str) -> list[str]:
    resp = aws.client("s3").list_objects_v2(Bucket=get_settings().archive_bucket, Prefix=f"reports/daily/{date}/")
    return sorted(o["Key"] for o in resp.get("Contents", []))


def test_the_figures_equal_an_independent_computation(api: Api) -> None:
    manager, _ = staff(api)
    day_orders, ledger = seed_day()
    want = expected(day_orders, ledger)
    result = run_job(api, DAY)
    assert result["orders"] == len(day_orders) == 9
    resp = api.call("GET", f"/reports/daily?date={DAY}", token=manager)
    assert resp.status_code == 200, resp.body
    r = json_body(resp)
    assert r["date"] == DAY and r["totalOrders"] == 9 and r["chargedOrders"] == 6
    assert r["totalRevenue"] == want["revenue"] == {"INR": 4050 + 2000 + 1000, "USD": 160 + 200}
    assert {c: v["gross"] for c, v in r["currencies"].items()} == want["gross"]
    assert r["averageOrderValue"] == want["aov"]
    assert r["ordersByStatus"] == want["statuses"]
    assert r["revenueByHour"] == want["hours"]
    # §4: the chart is the headline's revenue, hour by hour (it plotted gross beside a net card)
    assert {c: sum(h) for c, h in r["revenueByHour"].items()} == {c: v["revenue"] for c, v in r["currencies"].items()}
    assert {(p["productId"], p["variantId"]): p["units"] for p in r["byProduct"]} == want["units"]
    assert {v["vendorId"]: v["sales"] for v in r["byVendor"]} == want["vendors"]
    assert r["topProducts"][0]["productId"] == "p1" and r["topProducts"][0]["variantId"] == "v1"
    # customers: u-new and u-usd ordered first today; u-ret ordered yesterday; u-old long ago
    assert r["customers"] == {"customers": 4, "new": 2, "returning": 2}
    assert r["promos"] == [{"code": "SAVE10", "orders": 2, "chargedOrders": 1, "discount": {"INR": 450}}]
    assert r["currencies"]["INR"]["discounts"] == 450
    assert r["currencies"]["INR"]["refundPending"] == 1000
    f = r["fulfilment"]
    assert (f["partialOrders"], f["outOfStockLines"], f["partialLines"], f["unitsShort"]) == (1, 1, 1, 4)
    assert {(s["productId"], s["outOfStock"]) for s in f["shortLines"]} == {("p2", 0), ("p3", 1)}
    assert r["refunds"] == {"INR": {"orders": 1, "amount": 1000}, "USD": {"orders": 1, "amount": 50}}
    assert r["cancellations"] == {
        "cancelled": 2,
        "cancelledAfterPayment": 1,
        "rejected": 1,
        "rejectedAfterPayment": 0,
        "expired": 1,
    }
    assert r["fraud"]["rejectedBeforePayment"] == 1
    # the ledger: today's entries of any order (yesterday's order refunded today), not tomorrow's charge
    assert {c: row["charged"] for c, row in r["ledger"].items()} == {
        c: k.get("CHARGE", 0) for c, k in want["cash"].items()
    }
    assert r["ledger"]["INR"]["refunded"] == 300
    assert r["lowStock"] == [] and r["paymentDrift"] == []
    csv = aws.client("s3").get_object(Bucket=get_settings().archive_bucket, Key=f"reports/daily/{DAY}/report.csv")
    text = csv["Body"].read().decode()
    assert f"currency,INR,,INR,revenue,{want['revenue']['INR']}" in text


def test_a_rerun_replaces_the_objects(api: Api) -> None:
    manager, _ = staff(api)
    seed_day()
    run_job(api, DAY)
    first = keys(DAY)
    assert first == [f"reports/daily/{DAY}/{n}" for n in ("index.html", "report.csv", "report.json")]
    _write(
        [_order(_at(DAY, "12:00:00"), "u-late", "INR", [("p9", "v1", "vA", 1, 700)], "PAID", True, first=True)],
        get_settings().orders_table,
    )
    run_job(api, DAY)
    assert keys(DAY) == first
    r = json_body(api.call("GET", f"/reports/daily?date={DAY}", token=manager))
    assert r["totalOrders"] == 10


def test_an_empty_day_is_an_empty_report(api: Api) -> None:
    _, admin = staff(api)
    assert run_job(api, "2031-01-01")["orders"] == 0
    r = json_body(api.call("GET", "/reports/daily?date=2031-01-01", token=admin))
    assert r["totalOrders"] == 0 and r["totalRevenue"] == {} and r["byProduct"] == [] and r["revenueByHour"] == {}
    page = api.call("GET", "/reports/daily/2031-01-01/page", token=admin)
    assert page.status_code == 200 and "No charged orders" in page.body.decode()


def test_the_scheduled_run_reports_the_day_before(api: Api) -> None:
    staff(api)
    result = run_job(api, at=_at("2030-03-15", "01:00:00"))  # as EventBridge fires it: 01:00 UTC
    assert result["date"] == DAY and keys(DAY)


def test_routes_are_for_managers_and_admins(api: Api) -> None:
    staff(api)
    customer = api.user("cust")["accessToken"]
    run_job(api, DAY)
    assert api.call("GET", f"/reports/daily?date={DAY}", token=customer).status_code == 403
    assert api.call("GET", f"/reports/daily/{DAY}/page", token=customer).status_code == 403
    assert api.call("GET", f"/reports/daily?date={DAY}").status_code == 401


@pytest.mark.parametrize("bad", ["2030-02-30", "2030-13-01", "14-03-2030", "yesterday", ""])
def test_a_bad_date_is_a_400_naming_it(api: Api, bad: str) -> None:
    manager, _ = staff(api)
    resp = api.call("GET", f"/reports/daily?date={bad}", token=manager)
    assert resp.status_code == 400 and "date" in json_body(resp)["error"]["fields"]
    if bad:
        resp = api.call("GET", f"/reports/daily/{bad}/page", token=manager)
        assert resp.status_code == 400 and "date" in json_body(resp)["error"]["fields"]
    resp = api.call("GET", "/reports/daily", token=manager)
    assert resp.status_code == 400 and "date" in json_body(resp)["error"]["fields"]


def test_a_report_not_built_is_a_404_naming_the_date(api: Api) -> None:
    manager, _ = staff(api)
    for path in ("/reports/daily?date=2029-12-31", "/reports/daily/2029-12-31/page"):
        resp = api.call("GET", path, token=manager)
        error = json_body(resp)["error"]
        assert resp.status_code == 404 and error["code"] == "report_not_found", resp.body
        assert "2029-12-31" in error["fields"]["date"]


def test_the_page_is_self_contained_escaped_and_small(api: Api) -> None:
    manager, _ = staff(api)
    evil = _order(_at(DAY, "10:00:00"), "u-x", "INR", [("p1", "v1", "vA", 1, 100)], "PAID", True)
    evil["lines"][0]["name"] = '<script>alert("x")</script>'
    _write([evil], get_settings().orders_table)
    run_job(api, DAY)
    resp = api.call("GET", f"/reports/daily/{DAY}/page", token=manager)
    assert resp.status_code == 200 and resp.headers["Content-Type"].startswith("text/html")
    page = resp.body.decode()
    assert "<script" not in page and "&lt;script&gt;" in page
    assert "<svg" in page and "http://" not in page and "https://" not in page
    assert len(resp.body) < 200_000


def test_managers_and_admins_get_the_summary_email(api: Api) -> None:
    staff(api)
    api.user("cust")
    seed_day()
    assert run_job(api, DAY)["emailed"] == 2
    sent = get_backend("ses")["123456789012"]["us-east-1"].sent_messages
    mails = [m for m in sent if m.subject == f"Daily Summary - {DAY}"]
    assert sorted(m.destinations["ToAddresses"][0] for m in mails) == ["boss@example.com", "mgr@example.com"]
    body = mails[0].body
    assert "Top products:" in body and "1. Product p1 Var v1" in body
    assert f"/reports/daily/{DAY}/page" in body
    assert len([line for line in body.splitlines() if line.startswith("  ") and ". " in line]) <= 5


def test_the_report_reads_only_its_day(api: Api, own_clients: None) -> None:
    """Items read (Query ScannedCount, BatchGetItem items) stay those of the day, not the table."""
    staff(api)
    day_orders, _ = seed_day()
    read: list[int] = []

    def count(parsed: Any = None, model: Any = None, **_: Any) -> None:
        if model is not None and model.name == "Query":
            read.append(int(parsed.get("ScannedCount", parsed.get("Count", 0))))

    aws.client("dynamodb").meta.events.register("after-call.dynamodb.Query", count)
    from chalicelib import bootstrap

    bootstrap.reports().build(DAY)
    assert sum(read) <= len(day_orders) + 20 + 3  # the day's orders, its ledger entries, u-old's COUNT, staff
