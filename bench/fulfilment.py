"""Deliveries, subscriptions and notifications figures for `make bench` (printed, never asserted).

In moto (in-process), with the template's tables; AWS calls and items counted with botocore hooks:

- ``subscription_job_items_read``: subscription-table items the daily job reads for 1,000 due
  among 20,000 subscriptions (its Query of the byNextDate index, every page, and each due one read
  consistently before its order); the orders, payments and notices it then causes are the
  checkout's and placement's (bench/checkout.py). Placement, payment and the bus are stand-ins here.
- ``subscription_job_writes``: the job's writes to the subscriptions table (its run record and
  the subscription advanced, per due subscription).
- ``driver_run_queries``: DynamoDB calls behind GET /drivers/me/deliveries for a day of 40
  deliveries among 2,000 of other drivers and days.
- ``subscription_job_cost_per_1000_usd``: those reads and writes priced (bench/checkout.py PRICES);
  ``cost_per_1000_subscription_orders_usd`` adds the checkout bench's placed-and-paid order
  (``make bench`` runs both; alone, this bench prints the job's part only). Emails on top.
- ``aws_calls_per_notification``: AWS calls per recipient per channel when one event is told by
  email (the once-only claim and the send), and ``aws_calls_per_recipient``: what each recipient
  costs once whatever the channels (their profile read, their feed item).

    python -m bench.fulfilment
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from typing import Any

DAY = "2030-03-14"
SUBSCRIPTIONS, DUE = 20_000, 1_000


class _Counter:
    def __init__(self, ddb: Any, tables: dict[str, str]) -> None:
        self.calls: dict[str, int] = defaultdict(int)
        self.read: dict[str, int] = defaultdict(int)
        self.writes: dict[str, int] = defaultdict(int)
        self.tables, self.last = tables, ["other"]

    def hook(self, client: Any) -> None:
        client.meta.events.register("before-parameter-build", self.before)
        client.meta.events.register("after-call", self.after)

    def before(self, params: Any = None, model: Any = None, **_: Any) -> None:
        self.last[0] = self.tables.get((params or {}).get("TableName", ""), "other")
        self.calls[model.name if model else "?"] += 1

    def after(self, parsed: Any = None, model: Any = None, **_: Any) -> None:
        name = model.name if model else ""
        if name == "Query":
            self.read[self.last[0]] += int(parsed.get("ScannedCount", parsed.get("Count", 0)))
        elif name == "GetItem":
            self.read[self.last[0]] += 1 if parsed.get("Item") else 0
        elif name in ("PutItem", "UpdateItem", "DeleteItem"):
            self.writes[self.last[0]] += 1

    def reset(self) -> None:
        self.calls.clear()
        self.read.clear()
        self.writes.clear()


class _Stand:
    """Placement, payment, cards and bus for the job: what they cost is the checkout bench's."""

    def place(self, who: Any, body: Any, key: str, client: Any, subscription_id: str | None = None) -> Any:
        return 201, {"orderId": uuid.uuid5(uuid.NAMESPACE_URL, key).hex}

    def status(self, order_id: str) -> str | None:
        return "PAID"

    def pay(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        return {"status": "PROCESSING"}

    def default(self, user_id: str) -> tuple[str, str] | None:
        return "cus_1", "pm_1"

    def publish(self, kind: str, data: dict[str, Any], event_id: str) -> None:
        pass

    def serves(self, pincode: str, product_id: str) -> bool:
        return True


def run(order_cost_per_1000: float | None = None) -> None:
    """``order_cost_per_1000``: what placing and paying an order costs (the checkout bench's
    ``cost_per_1000_orders_with_placement_usd``), to price a subscription's order with."""
    from bench.moto_world import in_moto, put_all

    with in_moto() as s:
        from chalicelib import bootstrap
        from chalicelib.catalog.repo import CatalogRepo
        from chalicelib.core import aws, events
        from chalicelib.subscriptions.repo import SubscriptionsRepo
        from chalicelib.subscriptions.service import SubscriptionService
        from chalicelib.users.repo import UsersRepo

        ddb = aws.client("dynamodb")
        tables = {s.subscriptions_table: "subscriptions", s.deliveries_table: "deliveries"}
        count = _Counter(ddb, tables)

        # -- the subscription job ---------------------------------------------------------------
        subs = []
        for i in range(SUBSCRIPTIONS):
            sid = f"{i:032x}"
            due = DAY if i < DUE else f"2030-03-{15 + i % 10:02d}"
            subs.append(
                {
                    "pk": f"SUB#{sid}",
                    "sk": "META",
                    "subscriptionId": sid,
                    "userId": f"user{i % 5000}",
                    "productId": "p1",
                    "variantId": "v1",
                    "quantity": 1,
                    "frequency": "DAILY",
                    "deliverySlot": "MORNING",
                    "startDate": "2030-03-01",
                    "addressId": "a1",
                    "status": "ACTIVE",
                    "pauses": [],
                    "skips": [],
                    "failedDates": 0,
                    "version": 0,
                    "nextDate": due,
                    "dueDate": due,
                    "createdAt": "2030-03-01T00:00:00+00:00",
                }
            )
        put_all(ddb, s.subscriptions_table, subs)
        stand = _Stand()
        job = SubscriptionService(SubscriptionsRepo(), CatalogRepo(), UsersRepo(), stand, stand, stand, stand, stand)
        count.hook(ddb)
        outcome = job.place_due(DAY)
        assert outcome == {"placed": DUE}, outcome
        print(f"subscription_job_items_read: {count.read['subscriptions']}")
        print(f"subscription_job_writes: {count.writes['subscriptions']}")
        from bench.checkout import PRICES

        # each write 1 WRU (items under 1 KB) plus the index entries it moves: byNextDate's key
        # changes (delete + put) and byUser's all-attribute copy is rewritten; a consistent read 1 RRU
        wru = count.writes["subscriptions"] + 3 * DUE
        job = (wru * PRICES["dynamodb_wru"] + count.read["subscriptions"] * PRICES["dynamodb_rru"]) / DUE * 1000
        print(f"subscription_job_cost_per_1000_usd: {job:.4f}")
        if order_cost_per_1000 is not None:
            print(f"cost_per_1000_subscription_orders_usd: {order_cost_per_1000 + job:.4f}")

        # -- a driver's run ---------------------------------------------------------------------
        deliveries = []
        for i in range(2_000):
            driver, day = ("d-bench", DAY) if i < 40 else (f"d{i % 50}", f"2030-03-{1 + i % 28:02d}")
            did = f"{i:032x}"
            deliveries.append(
                {
                    "pk": f"DELIVERY#{did}",
                    "sk": "META",
                    "deliveryId": did,
                    "orderId": f"o{i}",
                    "userId": "u1",
                    "vendorId": "v1",
                    "deliveryDate": day,
                    "deliverySlot": "MORNING" if i % 2 else "EVENING",
                    "status": "SCHEDULED",
                    "address": {"pincode": f"4110{i % 10:02d}"},
                    "lines": [],
                    "driverId": driver,
                    "driverDay": f"{driver}#{day}",
                    "vendorDay": f"v1#{day}",
                    "runKey": f"{1 + i % 2}#4110{i % 10:02d}#{did}",
                    "createdAt": "2030-03-01T00:00:00+00:00",
                    "updatedAt": "2030-03-01T00:00:00+00:00",
                }
            )
        put_all(ddb, s.deliveries_table, deliveries)
        from chalicelib.core.context import Caller

        count.reset()
        items, _ = bootstrap.deliveries().driver_day(Caller("d-bench", "driver", "-"), DAY, 200, None)
        assert len(items) == 40
        print(f"driver_run_queries: {count.calls['Query'] + count.calls['GetItem'] + count.calls['BatchGetItem']}")

        # -- a notification ---------------------------------------------------------------------
        from chalicelib.notifications import service as notifications

        put_all(
            ddb,
            s.users_table,
            [{"pk": "USER#u-n", "sk": "PROFILE", "userId": "u-n", "email": "n@example.com", "status": "active"}],
        )
        data = {"orderId": "o1", "userId": "u-n", "deliveryDate": DAY, "deliverySlot": "MORNING", "deliveryId": "d"}
        for client in (aws.client("ses"), aws.client("sns")):
            count.hook(client)
        count.reset()
        notifications.handle(events.envelope("DeliveryInTransit", data))
        email_only = sum(count.calls.values())
        ddb.put_item(
            TableName=s.users_table,
            Item={
                "pk": {"S": "USER#u-n"},
                "sk": {"S": "PROFILE"},
                "userId": {"S": "u-n"},
                "email": {"S": "n@example.com"},
                "phone": {"S": "+919876543210"},
                "preferences": {"M": {"notifications": {"M": {"deliveries": {"M": {"sms": {"BOOL": True}}}}}}},
            },
        )
        count.reset()
        notifications.handle(events.envelope("DeliveryInTransit", data))
        both = sum(count.calls.values())
        print(f"aws_calls_per_notification: {both - email_only}")
        print(f"aws_calls_per_recipient: {email_only - (both - email_only)}")


if __name__ == "__main__":
    run()
