"""The one way to commit a TransactWriteItems: items from several domains, each tagged by the
domain that wrote it, committed in one call under a ClientRequestToken derived from the
operation; a cancellation says which tags failed, never an index to count.

The token makes a retried transaction safe: DynamoDB answers a repeat of a committed transaction
(same token, same items, within 10 minutes) with success and no second effect, so a boto3 retry
after a read timeout cannot fail its own conditions ("email already registered").
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from chalicelib.core import aws
from chalicelib.core.dynamo import error_code

MAX_ITEMS = 100


@dataclass(frozen=True)
class Tagged:
    """One TransactWriteItems element and the name its owner gives it (``stock:2``, ``email``)."""

    tag: str
    request: dict[str, Any]


def tagged(tag: str, *requests: dict[str, Any]) -> list[Tagged]:
    return [Tagged(tag, r) for r in requests]


class Cancelled(Exception):
    """The transaction was cancelled and nothing was written. ``failed``: the tags whose condition
    failed; ``conflict``: another transaction held one of the items (a fresh attempt may pass)."""

    def __init__(self, failed: set[str], conflict: bool) -> None:
        super().__init__(f"transaction cancelled: failed={sorted(failed)} conflict={conflict}")
        self.failed = failed
        self.conflict = conflict

    def hit(self, *items: Tagged) -> bool:
        """Did the condition of any of these items fail?"""
        return any(item.tag in self.failed for item in items)


def token(operation: str) -> str:
    """A ClientRequestToken (at most 36 characters) for an operation's own id."""
    return hashlib.sha256(operation.encode()).hexdigest()[:36]


def commit(items: Iterable[Tagged], operation: str) -> None:
    """Commit ``items`` atomically. ``operation`` names this attempt uniquely (``register:<id>``,
    ``order:<id>``): another attempt with other items needs another name. Tags are unique within
    a transaction (DynamoDB refuses two operations on one item anyway)."""
    batch = list(items)
    if not batch:
        return
    if len(batch) > MAX_ITEMS:
        raise ValueError(f"a transaction holds at most {MAX_ITEMS} items, not {len(batch)}")
    if len({t.tag for t in batch}) != len(batch):
        raise ValueError(f"duplicate tags in one transaction: {[t.tag for t in batch]}")
    try:
        aws.client("dynamodb").transact_write_items(
            TransactItems=[t.request for t in batch], ClientRequestToken=token(operation)
        )
    except ClientError as exc:
        if error_code(exc) == "IdempotentParameterMismatchException":
            # This token already named another set of items: a concurrent copy of the request
            # committed first under the same name. Nothing of ours was written; a fresh read says why.
            raise Cancelled(set(), True) from None
        if error_code(exc) != "TransactionCanceledException":
            raise
        reasons = [str(r.get("Code") or "None") for r in exc.response.get("CancellationReasons", [])]
        if set(reasons) - {"None", "ConditionalCheckFailed", "TransactionConflict"}:
            raise  # a malformed item or a limit: a bug to see, not a state to explain
        failed = {t.tag for t, code in zip(batch, reasons, strict=False) if code == "ConditionalCheckFailed"}
        raise Cancelled(failed, "TransactionConflict" in reasons) from None
