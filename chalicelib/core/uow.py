"""The one retry loop for a read-modify-write: read, build, commit under a request token of the
attempt's own, and on contention (another writer got there first) read again and rebuild.

Each attempt gets a fresh ClientRequestToken (``attempt_token``): a token names ONE set of items,
so a rebuilt attempt under the first attempt's token would be refused by DynamoDB as an
``IdempotentParameterMismatch`` (a double-tapped pay answered 500 that way). Safety against a
repeat therefore rests on the items' own conditions (a chain head's sequence number, a row's
``attribute_not_exists``), which a repeat fails and the next read explains.
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Callable
from typing import TypeVar

from chalicelib.core.errors import Conflict

T = TypeVar("T")
ATTEMPTS = 6


class Contended(Exception):
    """Raised by an attempt whose read went stale before its write: read again and rebuild."""


def attempt_token(operation: str) -> str:
    """The name of one commit attempt (``tx.commit``'s ``operation``): never reused by a rebuild."""
    return f"{operation}:{uuid.uuid4().hex}"


def retrying(
    attempt: Callable[[], T],
    attempts: int = ATTEMPTS,
    message: str = "too much contention on this item; retry",
    code: str = "contention",
) -> T:
    """``attempt()`` until it returns; each ``Contended`` it raises is followed by a short jittered
    pause and a fresh attempt. After ``attempts`` the caller gets a 409 it can retry."""
    for n in range(attempts):
        try:
            return attempt()
        except Contended:
            if n + 1 < attempts:
                time.sleep(random.uniform(0.005, 0.03) * (n + 1))  # noqa: S311 - jitter, not crypto
    raise Conflict(message, code=code)
