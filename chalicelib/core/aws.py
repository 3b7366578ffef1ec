"""The only place that builds boto3 clients: created lazily, cached per service."""

from __future__ import annotations

import threading
from typing import Any

import boto3
from botocore.config import Config

_CONFIG = Config(retries={"mode": "standard", "max_attempts": 3}, connect_timeout=3, read_timeout=10)
_clients: dict[str, Any] = {}
_lock = threading.Lock()


def client(service: str) -> Any:
    """A cached client. boto3 honours AWS_ENDPOINT_URL, which the local stack sets."""
    cached = _clients.get(service)
    if cached is not None:
        return cached
    with _lock:
        if service not in _clients:
            _clients[service] = boto3.session.Session().client(service, config=_CONFIG)
        return _clients[service]


def reset() -> None:
    """Drop cached clients (tests switch endpoints and credentials)."""
    with _lock:
        _clients.clear()
