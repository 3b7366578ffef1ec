"""Payments: the mutable state of an order's payment attempts and refunds.

payments table, one partition per order (``ORDER#<orderId>``):
- ``CURRENT``: the order's payment lock (``paymentId``, ``open``) and the head of the order's
  payment audit chain (``chainSeq``, ``chainHash``). Every payment change updates it under
  ``chainSeq = :prev``, so the changes of one order are serialised and each is chained.
- ``PAY#<paymentId>``: one payment attempt (status, amount, intent, fraud, refundable...).
- ``REFUND#<refundId>``: one refund (PENDING, SUCCEEDED or FAILED).
``INTENT#<pi>`` / ``META`` maps a Stripe PaymentIntent back to its order and payment.

The ledger is ``ledger.py``'s; the audit chain's rows are ``chalicelib/audit/chain.py``'s.
"""

from __future__ import annotations

import contextlib
import json
from datetime import UTC, datetime
from typing import Any

from chalicelib.core import aws
from chalicelib.core.config import get_settings
from chalicelib.core.dynamo import Read, from_item, ping_read, put_new, strip, to_item, values
from chalicelib.core.tx import Tagged
from chalicelib.payments.records import Head, OrderPayments, Payment, Refund

CURRENT = "CURRENT"
PENDING = "PENDING"


def _pk(order_id: str) -> str:
    return f"ORDER#{order_id}"


def now_iso() -> str:
    return datetime.now(UTC).isoformat()


class PaymentsRepo:
    @property
    def table(self) -> str:
        return get_settings().payments_table

    def ping(self) -> Read[None]:
        return ping_read(self.table)

    @property
    def ddb(self) -> Any:
        return aws.client("dynamodb")

    # -- a day's close (payment reconciliation's result): ``CLOSE#<day>`` / ``META`` -------------
    def close(self, day: str) -> dict[str, Any] | None:
        resp = self.ddb.get_item(TableName=self.table, Key={"pk": {"S": f"CLOSE#{day}"}, "sk": {"S": "META"}})
        item = resp.get("Item")
        return json.loads(item["close"]["S"]) if item else None

    def put_close(self, day: str, close: dict[str, Any]) -> None:
        """Replaces the day's close (a re-run of the reconciliation writes the same key)."""
        item = {"pk": {"S": f"CLOSE#{day}"}, "sk": {"S": "META"}, "close": {"S": json.dumps(close)}}
        self.ddb.put_item(TableName=self.table, Item=item)

    # -- a user's Stripe Customer and default card: ``CUSTOMER#<userId>`` / ``META`` -----------
    def customer(self, user_id: str) -> dict[str, Any] | None:
        resp = self.ddb.get_item(
            TableName=self.table, Key=to_item({"pk": f"CUSTOMER#{user_id}", "sk": "META"}), ConsistentRead=True
        )
        return strip(from_item(resp.get("Item")))

    def put_customer(self, user_id: str, customer_id: str) -> None:
        """Written once; a concurrent first save finds the same Customer (its key is the user's)."""
        item = {"pk": f"CUSTOMER#{user_id}", "sk": "META", "userId": user_id, "customerId": customer_id}
        with contextlib.suppress(self.ddb.exceptions.ConditionalCheckFailedException):
            self.ddb.put_item(**put_new(self.table, item)["Put"])

    def set_default_method(self, user_id: str, method: str | None) -> None:
        key = to_item({"pk": f"CUSTOMER#{user_id}", "sk": "META"})
        if method is None:
            self.ddb.update_item(TableName=self.table, Key=key, UpdateExpression="REMOVE defaultMethod")
            return
        self.ddb.update_item(
            TableName=self.table,
            Key=key,
            UpdateExpression="SET defaultMethod = :m",
            ConditionExpression="attribute_exists(pk)",
            ExpressionAttributeValues=values(m=method),
        )

    # -- reads ------------------------------------------------------------------------------
    def partition(self, order_id: str) -> OrderPayments:
        """Everything about an order's payments, read consistently in one query."""
        items: list[dict[str, Any]] = []
        args: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "pk = :p",
            "ExpressionAttributeValues": values(p=_pk(order_id)),
            "ConsistentRead": True,
        }
        while True:
            resp = self.ddb.query(**args)
            items += [i for i in (from_item(x) for x in resp.get("Items", [])) if i]
            if "LastEvaluatedKey" not in resp:
                break
            args["ExclusiveStartKey"] = resp["LastEvaluatedKey"]
        head, payments, refunds = Head(), [], []
        for item in items:
            sk = item["sk"]
            row = strip(item) or {}
            if sk == CURRENT:
                head = Head.of(row)
            elif sk.startswith("PAY#"):
                payments.append(Payment.of(row))
            elif sk.startswith("REFUND#"):
                refunds.append(Refund.of(row))
        payments.sort(key=lambda p: p.created_at)
        refunds.sort(key=lambda r: r.created_at)
        return OrderPayments(head, payments, refunds)

    def start_read(self, order_id: str, payment_id: str) -> Read[tuple[Head, Payment | None]]:
        """The lock and one payment, for batching with the order read."""
        keys = [
            to_item({"pk": _pk(order_id), "sk": CURRENT}),
            to_item({"pk": _pk(order_id), "sk": f"PAY#{payment_id}"}),
        ]

        def parse(rows: list[dict[str, Any]]) -> tuple[Head, Payment | None]:
            by_sk = {r["sk"]: strip(r) for r in rows}
            payment = by_sk.get(f"PAY#{payment_id}")
            return Head.of(by_sk.get(CURRENT)), Payment.of(payment) if payment else None

        return Read(self.table, keys, parse, consistent=True)

    def pending_refunds(self, before: str) -> list[tuple[str, str]]:
        """(orderId, refundId) of every refund still PENDING that was asked for before
        ``before`` (ISO time): the sparse byPending index, every page."""
        args: dict[str, Any] = {
            "TableName": self.table,
            "IndexName": "byPending",
            "KeyConditionExpression": "pendingPk = :p AND pendingSince < :b",
            "ExpressionAttributeValues": values(p=PENDING, b=before),
        }
        out = []
        while True:
            resp = self.ddb.query(**args)
            for item in resp.get("Items", []):
                keys = from_item(item) or {}
                out.append((str(keys["pk"]).removeprefix("ORDER#"), str(keys["sk"]).removeprefix("REFUND#")))
            if "LastEvaluatedKey" not in resp:
                return out
            args["ExclusiveStartKey"] = resp["LastEvaluatedKey"]

    def intent(self, intent_id: str) -> dict[str, Any] | None:
        resp = self.ddb.get_item(
            TableName=self.table, Key=to_item({"pk": f"INTENT#{intent_id}", "sk": "META"}), ConsistentRead=True
        )
        return strip(from_item(resp.get("Item")))

    # -- writes (transaction elements) ------------------------------------------------------
    def head_request(self, order_id: str, prev_seq: int, seq: int, digest: str, sets: dict[str, Any]) -> Tagged:
        """Advance the chain head (and set lock fields) only if nobody advanced it meanwhile."""
        names = {"#q": "chainSeq", "#h": "chainHash"}
        vals = values(n=seq, h=digest)
        assigns = ["#q = :n", "#h = :h"]
        for i, (k, v) in enumerate(sets.items()):
            names[f"#x{i}"] = k
            vals.update(values(**{f"x{i}": v}))
            assigns.append(f"#x{i} = :x{i}")
        if prev_seq == 0:
            condition = "attribute_not_exists(pk)"
        else:
            condition = "#q = :prev"
            vals.update(values(prev=prev_seq))
        return Tagged(
            "payment:head",
            {
                "Update": {
                    "TableName": self.table,
                    "Key": to_item({"pk": _pk(order_id), "sk": CURRENT}),
                    "UpdateExpression": "SET " + ", ".join(assigns),
                    "ConditionExpression": condition,
                    "ExpressionAttributeNames": names,
                    "ExpressionAttributeValues": vals,
                }
            },
        )

    def new_payment_request(self, payment: Payment) -> Tagged:
        item = {"pk": _pk(payment.order_id), "sk": f"PAY#{payment.payment_id}", **payment.row()}
        return Tagged("payment", put_new(self.table, item))

    def payment_request(
        self,
        order_id: str,
        payment_id: str,
        expected: str | None,
        sets: dict[str, Any],
        add: dict[str, int] | None = None,
    ) -> Tagged:
        """Update a payment (only if its status is still ``expected``); ``add`` adds to numbers
        and keeps ``refundable`` from going below zero."""
        names: dict[str, str] = {}
        vals: dict[str, Any] = {}
        assigns = []
        for i, (k, v) in enumerate(sets.items()):
            names[f"#x{i}"] = k
            vals.update(values(**{f"x{i}": v}))
            assigns.append(f"#x{i} = :x{i}")
        conditions = ["attribute_exists(pk)"]
        for i, (k, v) in enumerate((add or {}).items()):
            names[f"#a{i}"] = k
            vals.update(values(**{f"a{i}": v}))
            assigns.append(f"#a{i} = #a{i} + :a{i}")
            if k == "refundable" and v < 0:
                vals.update(values(need=-v))
                conditions.append(f"#a{i} >= :need")
        if expected is not None:
            names["#s"] = "status"
            vals.update(values(expected=expected))
            conditions.append("#s = :expected")
        request: dict[str, Any] = {
            "TableName": self.table,
            "Key": to_item({"pk": _pk(order_id), "sk": f"PAY#{payment_id}"}),
            "UpdateExpression": "SET " + ", ".join(assigns),
            "ConditionExpression": " AND ".join(conditions),
            "ExpressionAttributeNames": names,
        }
        if vals:
            request["ExpressionAttributeValues"] = vals
        return Tagged("payment", {"Update": request})

    def intent_request(self, intent_id: str, order_id: str, payment_id: str) -> Tagged:
        item = {"pk": f"INTENT#{intent_id}", "sk": "META", "orderId": order_id, "paymentId": payment_id}
        return Tagged("payment:intent", {"Put": {"TableName": self.table, "Item": to_item(item)}})

    def new_refund_request(self, refund: Refund) -> Tagged:
        item = {"pk": _pk(refund.order_id), "sk": f"REFUND#{refund.refund_id}", **refund.row()}
        if refund.status == "PENDING":  # listed by byPending until Stripe's answer is recorded
            item |= {"pendingPk": PENDING, "pendingSince": refund.created_at}
        return Tagged("refund", put_new(self.table, item))

    def refund_request(self, order_id: str, refund_id: str, expected: str, sets: dict[str, Any]) -> Tagged:
        names = {"#s": "status"}
        vals = values(expected=expected)
        assigns = []
        for i, (k, v) in enumerate(sets.items()):
            names[f"#x{i}"] = k
            vals.update(values(**{f"x{i}": v}))
            assigns.append(f"#x{i} = :x{i}")
        expression = "SET " + ", ".join(assigns)
        if sets.get("status", "PENDING") != "PENDING":
            expression += " REMOVE pendingPk, pendingSince"
        return Tagged(
            "refund",
            {
                "Update": {
                    "TableName": self.table,
                    "Key": to_item({"pk": _pk(order_id), "sk": f"REFUND#{refund_id}"}),
                    "UpdateExpression": expression,
                    "ConditionExpression": "#s = :expected",
                    "ExpressionAttributeNames": names,
                    "ExpressionAttributeValues": vals,
                }
            },
        )
