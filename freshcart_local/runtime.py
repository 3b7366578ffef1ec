"""Invoke the app's Lambda handlers in-process, as the Lambda runtime would."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from chalice import Chalice

ACCOUNT_ID = "123456789012"


@dataclass
class LambdaContext:
    function_name: str
    region: str = "us-east-1"
    timeout_seconds: int = 60
    memory_limit_in_mb: int = 512
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    started: float = field(default_factory=time.monotonic)

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:{self.region}:{ACCOUNT_ID}:function:{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.timeout_seconds - (time.monotonic() - self.started)) * 1000))


def handler_names(app: Chalice) -> set[str]:
    return set(app.handler_map)


def invoke(app: Chalice, name: str, event: Any) -> Any:
    """Call a handler registered by name (event sources, lambda_function, schedules)."""
    handler = app.handler_map.get(name)
    if handler is None:
        raise KeyError(f"no handler named {name!r}; known: {sorted(app.handler_map)}")
    from freshcart_local import metrics

    try:
        result = handler(event, LambdaContext(function_name=name))
    except BaseException:
        metrics.lambda_invoked(name, failed=True)
        raise
    metrics.lambda_invoked(name, failed=False)
    return result
