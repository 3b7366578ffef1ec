"""moto's DynamoDB is not thread-safe (a TransactWriteItems deep-copies tables while another
thread writes: "dictionary changed size during iteration"). Real DynamoDB applies each request
atomically; serialising moto's DynamoDB request handling gives the same guarantee, so
concurrency tests exercise OUR conditions, not moto's races. Pinned moto; see constraints.txt.
"""

from __future__ import annotations

import threading
from typing import Any

_lock = threading.RLock()
_applied = False


def apply() -> None:
    global _applied
    if _applied:
        return
    from moto.dynamodb.responses import DynamoHandler

    original = DynamoHandler.call_action

    def call_action(self: Any) -> Any:
        with _lock:
            return original(self)

    DynamoHandler.call_action = call_action  # type: ignore[method-assign]
    _applied = True
