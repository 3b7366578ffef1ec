"""Payments (mutable state) and the ledger (immutable money movements).

payments table, one partition per order (``ORDER#<orderId>``):
- ``CURRENT``: the order's payment lock (``paymentId``, ``open``) and the head of the order's
  payment audit chain (``chainSeq``, ``chainHash``). Every payment change updates it under
  ``chainSeq = :prev``, so the changes of one order are serialised and each is chained.
- ``PAY#<paymentId>``: one payment attempt (status, amount, intent, fraud, refundable...).
- ``REFUND#<refundId>``: one refund (PENDING, SUCCEEDED or FAILED).
``INTENT#<pi>`` / ``META`` maps a Stripe PaymentIntent back to its order and payment.

transactions table (the ledger; no TTL, point-in-time recovery): ``ORDER#<orderId>`` /
``<KIND>#<id>`` entries, written once (``attribute_not_exists``), GSIs ``byMerchant`` (vendor
settlements) and ``byDay``.

Payment audit rows live in the audit table as ``PAYMENT#<orderId>`` / ``<seq>``, each carrying
the previous row's hash.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any

from chalicelib.audit.repo import Actor
from chalicelib.core import aws
from chalicelib.core.config import get_settings
from chalicelib.core.dynamo import Read, from_item, put_new, strip, to_item, values
from chalicelib.core.tx import Tagged
from chalicelib.payments import rules

CURRENT = "CURRENT"


def _pk(order_id: str) -> str:
    return f"ORDER#{order_id}"


def now_iso() -> str:
    return datetime.now(UTC).isoformat()


class PaymentsRepo:
    @property
    def table(self) -> str:
        return get_settings().payments_table

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

    # -- reads ------------------------------------------------------------------------------
    def partition(self, order_id: str) -> dict[str, Any]:
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
        out: dict[str, Any] = {"current": None, "payments": [], "refunds": []}
        for item in items:
            sk = item["sk"]
            row = strip(item) or {}
            if sk == CURRENT:
                out["current"] = row
            elif sk.startswith("PAY#"):
                out["payments"].append(row)
            elif sk.startswith("REFUND#"):
                out["refunds"].append(row)
        out["payments"].sort(key=lambda p: p["createdAt"])
        out["refunds"].sort(key=lambda r: r["createdAt"])
        return out

    def start_read(self, order_id: str, payment_id: str) -> Read[dict[str, Any]]:
        """The lock and one payment, for batching with the order read."""
        keys = [
            to_item({"pk": _pk(order_id), "sk": CURRENT}),
            to_item({"pk": _pk(order_id), "sk": f"PAY#{payment_id}"}),
        ]

        def parse(rows: list[dict[str, Any]]) -> dict[str, Any]:
            by_sk = {r["sk"]: strip(r) for r in rows}
            return {"current": by_sk.get(CURRENT), "payment": by_sk.get(f"PAY#{payment_id}")}

        return Read(self.table, keys, parse, consistent=True)

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

    def new_payment_request(self, payment: dict[str, Any]) -> Tagged:
        item = {"pk": _pk(payment["orderId"]), "sk": f"PAY#{payment['paymentId']}", **payment}
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

    def new_refund_request(self, refund: dict[str, Any]) -> Tagged:
        item = {"pk": _pk(refund["orderId"]), "sk": f"REFUND#{refund['refundId']}", **refund}
        return Tagged("refund", put_new(self.table, item))

    def refund_request(self, order_id: str, refund_id: str, expected: str, sets: dict[str, Any]) -> Tagged:
        names = {"#s": "status"}
        vals = values(expected=expected)
        assigns = []
        for i, (k, v) in enumerate(sets.items()):
            names[f"#x{i}"] = k
            vals.update(values(**{f"x{i}": v}))
            assigns.append(f"#x{i} = :x{i}")
        return Tagged(
            "refund",
            {
                "Update": {
                    "TableName": self.table,
                    "Key": to_item({"pk": _pk(order_id), "sk": f"REFUND#{refund_id}"}),
                    "UpdateExpression": "SET " + ", ".join(assigns),
                    "ConditionExpression": "#s = :expected",
                    "ExpressionAttributeNames": names,
                    "ExpressionAttributeValues": vals,
                }
            },
        )


class Chain:
    """Rows of an order's payment audit chain (audit table, ``PAYMENT#<orderId>``)."""

    @staticmethod
    def subject(order_id: str) -> str:
        return f"PAYMENT#{order_id}"

    def row(
        self, order_id: str, seq: int, prev: str, action: str, actor: Actor, details: dict[str, Any]
    ) -> tuple[Tagged, str]:
        s = get_settings()
        row = {
            "orderId": order_id,
            "seq": seq,
            "action": action,
            "at": now_iso(),
            "actorId": actor.user_id,
            "actorRole": actor.role,
            "ip": actor.ip,
            "details": details,
            "prevHash": prev,
        }
        digest = rules.chain_hash(prev, rules.chained_fields(row))
        item = {
            "pk": self.subject(order_id),
            "sk": f"{seq:08d}",
            **row,
            "hash": digest,
            "expiresAt": int(time.time()) + s.audit_ttl_days * 86400,
        }
        return Tagged("payment:audit", put_new(s.audit_table, item)), digest

    def rows(self, order_id: str) -> list[dict[str, Any]]:
        ddb = aws.client("dynamodb")
        args: dict[str, Any] = {
            "TableName": get_settings().audit_table,
            "KeyConditionExpression": "pk = :p",
            "ExpressionAttributeValues": values(p=self.subject(order_id)),
            "ConsistentRead": True,
        }
        out: list[dict[str, Any]] = []
        while True:
            resp = ddb.query(**args)
            out += [i for i in (from_item(x) for x in resp.get("Items", [])) if i]
            if "LastEvaluatedKey" not in resp:
                return sorted(out, key=lambda r: int(r["seq"]))
            args["ExclusiveStartKey"] = resp["LastEvaluatedKey"]


class LedgerRepo:
    @property
    def table(self) -> str:
        return get_settings().transactions_table

    def entry_request(
        self,
        order_id: str,
        kind: str,
        entry_id: str,
        amount: int,
        currency: str,
        details: dict[str, Any],
        merchant_id: str | None = None,
    ) -> Tagged:
        """One immutable ledger entry; written once (a replay of the same step cannot add another)."""
        now = datetime.now(UTC)
        item = {
            "pk": _pk(order_id),
            "sk": f"{kind}#{entry_id}",
            "orderId": order_id,
            "kind": kind,
            "entryId": entry_id,
            "amount": amount,
            "currency": currency,
            "merchantId": merchant_id,
            "day": now.date().isoformat(),
            "createdKey": f"{now.isoformat()}#{order_id}#{kind}#{entry_id}",
            "createdAt": now.isoformat(),
            **details,
        }
        return Tagged(f"ledger:{kind}#{entry_id}", put_new(self.table, item))

    def entries(self, order_id: str) -> list[dict[str, Any]]:
        """An order's entries, every page."""
        return self._all(
            {
                "TableName": self.table,
                "KeyConditionExpression": "pk = :p",
                "ExpressionAttributeValues": values(p=_pk(order_id)),
                "ConsistentRead": True,
            }
        )

    def day_entries(self, day: str) -> list[dict[str, Any]]:
        """Every entry written on one UTC day (``YYYY-MM-DD``): the byDay index, every page."""
        return self._all(
            {
                "TableName": self.table,
                "IndexName": "byDay",
                "KeyConditionExpression": "#d = :d",
                "ExpressionAttributeNames": {"#d": "day"},
                "ExpressionAttributeValues": values(d=day),
            }
        )

    def _all(self, args: dict[str, Any]) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        while True:
            resp = aws.client("dynamodb").query(**args)
            out += [e for e in (strip(from_item(x)) for x in resp.get("Items", [])) if e]
            if "LastEvaluatedKey" not in resp:
                return out
            args = {**args, "ExclusiveStartKey": resp["LastEvaluatedKey"]}
