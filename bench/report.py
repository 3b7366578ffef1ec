"""Daily report figures for `make bench` (printed as `name: value`, never asserted).

In moto (in-process), with the template's tables: 50,000 orders on the 50 days before the
report's day and 1,000 on it (two currencies, 80 % paid, some refunded, cancelled, expired or
partial), the ledger entries the checkout writes for the day's paid ones (CHARGE, FEE, one
SETTLEMENT per vendor, REFUND), a manager and an admin. Seeded with BatchWriteItem, not the API.

- ``report_items_read``: items DynamoDB read for the report as it runs at 01:00, after the
  payment reconciliation (00:30) stored the day's close (every Query's ScannedCount, every
  BatchGetItem's and GetItem's items), counted with botocore hooks; ``..._orders`` /
  ``..._payments`` (the close) / ``..._ledger`` / ``..._other`` split it by table (other: the
  COUNT of returning customers, the staff listing, the low-stock rows).
  ``report_items_read_unreconciled``: the same report of a day the reconciliation has not closed
  (it reads the day's ledger entries itself). The close stored here is what the nightly job
  computes from the ledger, without its Stripe drift (no Stripe in this bench).
- ``report_seconds_1k_orders``: building, rendering, storing and mailing that report.
- ``report_html_kb``: the page's size.

    python -m bench.report
"""

from __future__ import annotations

import random
import time
import uuid
from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

DAY = "2030-03-14"
OLDER, TODAY = 50_000, 1_000


def _order(rng: random.Random, at: datetime, user: str, products: list[tuple[str, str, str]]) -> dict[str, Any]:
    currency = "INR" if rng.random() < 0.8 else "USD"
    lines = []
    for p, v, name in rng.sample(products, rng.randint(1, 3)):
        qty, price = rng.randint(1, 4), rng.choice((3000, 4500, 6000)) if currency == "INR" else rng.choice((50, 90))
        lines.append(
            {
                "productId": p,
                "variantId": v,
                "vendorId": f"vendor{int(p[1:]) % 7}",
                "quantity": qty,
                "requested": qty,
                "unitPrice": price,
                "lineTotal": qty * price,
                "name": name,
                "variantName": "1L",
            }
        )
    subtotal = sum(x["lineTotal"] for x in lines)
    discount = subtotal // 10 if rng.random() < 0.1 else 0
    total, roll = subtotal - discount, rng.random()
    status = (
        "DELIVERED"
        if roll < 0.55
        else "PAID"
        if roll < 0.7
        else "PARTIALLY_REFUNDED"
        if roll < 0.75
        else "EXPIRED"
        if roll < 0.9
        else "CANCELLED"
    )
    order_id, iso = uuid.uuid4().hex, at.isoformat()
    order: dict[str, Any] = {
        "pk": f"ORDER#{order_id}",
        "sk": "META",
        "orderId": order_id,
        "userId": user,
        "status": status,
        "lines": lines,
        "unavailableLines": [],
        "partialFulfillment": False,
        "vendorIds": sorted({x["vendorId"] for x in lines}),
        "currency": currency,
        "subtotal": subtotal,
        "discount": discount,
        "total": total,
        "address": {"label": "home", "line1": "1 MG Road", "city": "Pune", "pincode": "411001", "country": "IN"},
        "firstOrder": rng.random() < 0.2,
        "reservation": {"status": "committed", "expiresAt": int(at.timestamp()) + 900},
        "history": [{"status": "PENDING_PAYMENT", "at": iso, "by": user, "role": "customer"}],
        "createdAt": iso,
        "updatedAt": iso,
        "createdKey": f"{iso}#{order_id}",
        "day": at.date().isoformat(),
    }
    if discount:
        order["promoCode"] = "SPRING10"
    if status in ("DELIVERED", "PAID", "PARTIALLY_REFUNDED"):
        order["payment"] = {"paymentId": "p" + order_id, "intentId": "pi_" + order_id, "amount": total}
        order["payment"]["status"] = "SUCCEEDED"
    if status == "PARTIALLY_REFUNDED":
        order["refund"] = {"status": "PARTIAL", "amount": total // 3, "currency": currency}
    if rng.random() < 0.05:
        order["partialFulfillment"] = True
        order["unavailableLines"] = [
            {"productId": "p99", "variantId": "v1", "requested": 2, "available": 0, "reason": "out_of_stock"}
        ]
    return order


def _ledger(order: dict[str, Any]) -> list[dict[str, Any]]:
    at = datetime.fromisoformat(order["createdAt"]) + timedelta(seconds=5)
    out = []

    def entry(kind: str, entry_id: str, amount: int) -> None:
        out.append(
            {
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
        )

    total, pid = order["total"], order["payment"]["paymentId"]
    entry("CHARGE", pid, total)
    entry("FEE", pid, total * 5 // 100)
    for vendor in order["vendorIds"]:
        entry("SETTLEMENT", f"{pid}#{vendor}", total // len(order["vendorIds"]))
    if order.get("refund"):
        entry("REFUND", f"r{pid}", order["refund"]["amount"])
    return out


def run() -> None:
    from bench.moto_world import in_moto, put_all

    with in_moto() as s:
        from chalicelib import bootstrap
        from chalicelib.core import aws

        ddb = aws.client("dynamodb")
        rng = random.Random(7)
        products = [(f"p{i}", "v1", f"Product {i:02d}") for i in range(40)]
        users = [f"user{i}" for i in range(5_000)]
        start = datetime.fromisoformat(DAY + "T00:00:00+00:00")
        older = [
            _order(rng, start - timedelta(seconds=rng.randint(1, 50 * 86400)), rng.choice(users), products)
            for _ in range(OLDER)
        ]
        today = [
            _order(rng, start + timedelta(seconds=rng.randint(0, 86399)), rng.choice(users), products)
            for _ in range(TODAY)
        ]
        put_all(ddb, s.orders_table, older + today)
        put_all(ddb, s.transactions_table, [e for o in today if o.get("payment") for e in _ledger(o)])
        for role in ("manager", "admin"):
            uid = uuid.uuid4().hex
            put_all(
                ddb,
                s.users_table,
                [
                    {
                        "pk": f"USER#{uid}",
                        "sk": "PROFILE",
                        "gsi1pk": "USER",
                        "gsi1sk": f"2030-01-01T00:00:00+00:00#{uid}",
                        "userId": uid,
                        "email": f"{role}@example.com",
                        "role": role,
                        "status": "active",
                    }
                ],
            )

        read: dict[str, int] = defaultdict(int)
        tables = {s.orders_table: "orders", s.transactions_table: "ledger", s.payments_table: "payments"}

        last = ["other"]  # the report runs on one thread: the table of the call in flight

        def before(params: Any = None, **_: Any) -> None:
            last[0] = tables.get(params.get("TableName", ""), "other")

        def after(parsed: Any = None, model: Any = None, **_: Any) -> None:
            if model.name == "Query":
                read[last[0]] += int(parsed.get("ScannedCount", parsed.get("Count", 0)))
            elif model.name == "GetItem":
                read[last[0]] += 1 if parsed.get("Item") else 0
            elif model.name == "BatchGetItem":
                for table, items in (parsed.get("Responses") or {}).items():
                    read[tables.get(table, "other")] += len(items)

        ddb.meta.events.register("before-parameter-build.dynamodb", before)
        ddb.meta.events.register("after-call.dynamodb", after)
        bootstrap.reports().build(DAY)
        unreconciled = sum(read.values())
        reconciler = bootstrap.payment_reconciler()  # what the 00:30 job stores (drift: no Stripe here)
        close = reconciler.day_money(DAY)
        reconciler.payments.put_close(DAY, {"day": DAY, "ledger": close["ledger"], "drift": []})
        read.clear()
        t0 = time.perf_counter()
        result = bootstrap.reports().run(DAY)
        seconds = time.perf_counter() - t0
        page = bootstrap.reports().page(DAY)
        assert result["orders"] == TODAY, result
        print(f"report_items_read: {sum(read.values())}")
        for part in ("orders", "payments", "ledger", "other"):
            print(f"report_items_read_{part}: {read[part]}")
        print(f"report_items_read_unreconciled: {unreconciled}")
        print(f"report_seconds_1k_orders: {seconds:.2f}")
        print(f"report_html_kb: {len(page.encode()) / 1024:.1f}")


if __name__ == "__main__":
    run()
