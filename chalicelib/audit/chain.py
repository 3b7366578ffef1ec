"""Hash-chained audit rows: each row carries the previous row's hash, so an edited, deleted or
re-ordered row shows. The rows live in the audit table under a subject (``PAYMENT#<orderId>``),
one per change, written in the change's own transaction; the writer keeps the chain's head
(sequence number and hash) beside its state and advances it under a condition.

Pure parts (``chain_hash``, ``verify_rows``) and the rows' storage (``Chain``) are here; which
domain chains what is the caller's business.
"""

from __future__ import annotations

import hashlib
import json
import time
from datetime import UTC, datetime
from typing import Any

from chalicelib.audit.repo import Actor
from chalicelib.core import aws
from chalicelib.core.config import get_settings
from chalicelib.core.dynamo import from_item, put_new, values
from chalicelib.core.tx import Tagged

GENESIS = "0" * 64


def chain_hash(prev: str, row: dict[str, Any]) -> str:
    """sha256 over the previous hash and the row's canonical JSON (sorted keys)."""
    body = json.dumps(row, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256((prev + body).encode()).hexdigest()


def chained_fields(row: dict[str, Any]) -> dict[str, Any]:
    """What a chain row's hash covers: everything but the hash itself and storage keys."""
    return {k: v for k, v in row.items() if k not in ("hash", "pk", "sk", "expiresAt")}


def verify_rows(rows: list[dict[str, Any]]) -> list[str]:
    """Problems in one chain (rows sorted by ``seq``): gaps (a deleted row), a row whose hash
    does not match its content (an edit), a broken link. Empty means intact."""
    problems, prev, expected = [], GENESIS, 1
    for row in rows:
        seq = int(row["seq"])
        if seq != expected:
            problems.append(f"row {expected} is missing" if seq > expected else f"row {seq} is duplicated")
        if row.get("prevHash") != prev:
            problems.append(f"row {seq} does not link to the row before it")
        if chain_hash(str(row.get("prevHash")), chained_fields(row)) != row.get("hash"):
            problems.append(f"row {seq} was edited (hash mismatch)")
        prev, expected = str(row.get("hash")), seq + 1
    return problems


def verify_to_head(rows: list[dict[str, Any]], head_seq: int, head_hash: str | None) -> list[str]:
    """``verify_rows`` up to the head the writer recorded (rows appended after the head was read
    are not judged), plus the head's own agreement with the last row."""
    rows = [r for r in rows if int(r["seq"]) <= head_seq]
    if head_seq and not rows:
        return ["every row of the chain is missing"]
    problems = verify_rows(rows)
    if rows and int(rows[-1]["seq"]) != head_seq:
        problems.append(f"the chain ends at row {rows[-1]['seq']} but its head says {head_seq}")
    elif rows and head_hash != rows[-1].get("hash"):
        problems.append("the last row is not the chain's head")
    return problems


class Chain:
    """The rows of one kind of chain (``<prefix>#<id>`` in the audit table)."""

    def __init__(self, prefix: str = "PAYMENT") -> None:
        self.prefix = prefix

    def subject(self, subject_id: str) -> str:
        return f"{self.prefix}#{subject_id}"

    def row(
        self, subject_id: str, seq: int, prev: str, action: str, actor: Actor, details: dict[str, Any]
    ) -> tuple[Tagged, str]:
        """The next row as a transaction element (written once), and its hash for the head."""
        s = get_settings()
        row = {
            "orderId": subject_id,
            "seq": seq,
            "action": action,
            "at": datetime.now(UTC).isoformat(),
            "actorId": actor.user_id,
            "actorRole": actor.role,
            "ip": actor.ip,
            "details": details,
            "prevHash": prev,
        }
        digest = chain_hash(prev, chained_fields(row))
        item = {
            "pk": self.subject(subject_id),
            "sk": f"{seq:08d}",
            **row,
            "hash": digest,
            "expiresAt": int(time.time()) + s.audit_ttl_days * 86400,
        }
        return Tagged(f"{self.prefix.lower()}:audit", put_new(s.audit_table, item)), digest

    def rows(self, subject_id: str) -> list[dict[str, Any]]:
        ddb = aws.client("dynamodb")
        args: dict[str, Any] = {
            "TableName": get_settings().audit_table,
            "KeyConditionExpression": "pk = :p",
            "ExpressionAttributeValues": values(p=self.subject(subject_id)),
            "ConsistentRead": True,
        }
        out: list[dict[str, Any]] = []
        while True:
            resp = ddb.query(**args)
            out += [i for i in (from_item(x) for x in resp.get("Items", [])) if i]
            if "LastEvaluatedKey" not in resp:
                return sorted(out, key=lambda r: int(r["seq"]))
            args["ExclusiveStartKey"] = resp["LastEvaluatedKey"]
