"""The only place that builds boto3 clients: created lazily, cached per service."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import boto3
from botocore.config import Config

_CONFIG = Config(retries={"mode": "standard", "max_attempts": 3}, connect_timeout=3, read_timeout=10)
_session: Any = None
_clients: dict[str, Any] = {}
_lock = threading.Lock()
_call_hooks: list[Callable[..., None]] = []


def client(service: str) -> Any:
    """A cached client. boto3 honours AWS_ENDPOINT_URL, which the local stack sets."""
    cached = _clients.get(service)
    if cached is not None:
        return cached
    with _lock:
        if service not in _clients:
            global _session
            if _session is None:
                # One session: its loaders and caches are shared, so each further client is cheap.
                _session = boto3.session.Session()
            new = _session.client(service, config=_CONFIG)
            for hook in _call_hooks:
                new.meta.events.register("before-call.*.*", hook)
            _clients[service] = new
        return _clients[service]


def on_call(hook: Callable[..., None]) -> None:
    """Run ``hook(event_name=..., **kw)`` before every AWS call (benchmarks count calls with it)."""
    with _lock:
        _call_hooks.append(hook)
        for existing in _clients.values():
            existing.meta.events.register("before-call.*.*", hook)


def reset() -> None:
    """Drop cached clients and hooks (tests switch endpoints and credentials)."""
    global _session
    with _lock:
        _session = None
        _clients.clear()
        _call_hooks.clear()
