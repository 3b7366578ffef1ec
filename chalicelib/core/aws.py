"""The only place that builds boto3 clients: created lazily, cached per service."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import EndpointConnectionError, NoCredentialsError, NoRegionError

from chalicelib.core import logs
from chalicelib.core.errors import ServiceUnavailable

log = logs.get_logger("freshcart.aws")
# The local stage names the local AWS here rather than in AWS_ENDPOINT_URL: chalice.test.Client
# applies the stage's variables too, and tests must stay on moto's in-process mock.
LOCAL_ENDPOINT_VAR = "FRESHCART_LOCAL_AWS"
START_HINT = "start the local AWS with `make aws` (or `make run`), then `chalice local --stage local`"

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
            try:
                new = _session.client(service, config=_CONFIG, endpoint_url=_endpoint())
            except NoRegionError:
                log.warning(
                    f"no AWS region configured (stage {os.environ.get('FRESHCART_STAGE', 'dev')}): {START_HINT}"
                )
                raise ServiceUnavailable("AWS is not configured for this stage") from None
            new.meta.events.register("after-call-error", _unavailable)
            for hook in _call_hooks:
                new.meta.events.register("before-call.*.*", hook)
            _clients[service] = new
        return _clients[service]


def _endpoint() -> str | None:
    """Under the Chalice CLI (`chalice local`, which sets AWS_CHALICE_CLI_MODE), the local
    stage's FRESHCART_LOCAL_AWS; otherwise boto3's own resolution (AWS_ENDPOINT_URL, or AWS)."""
    if os.environ.get("AWS_ENDPOINT_URL") or os.environ.get("AWS_CHALICE_CLI_MODE") != "true":
        return None
    return os.environ.get(LOCAL_ENDPOINT_VAR) or None


def _unavailable(exception: BaseException | None = None, **_: Any) -> None:
    """An unreachable endpoint or missing credentials is a 503 with a one-line hint, not a 500."""
    if isinstance(exception, EndpointConnectionError):
        log.warning(f"AWS endpoint unreachable ({exception.kwargs.get('endpoint_url')}): {START_HINT}")
        raise ServiceUnavailable("AWS is unreachable; try again shortly") from None
    if isinstance(exception, NoCredentialsError):
        log.warning(f"no AWS credentials: {START_HINT}")
        raise ServiceUnavailable("AWS is not configured for this stage") from None


def on_call(hook: Callable[..., None]) -> None:
    """Run ``hook(event_name=..., **kw)`` before every AWS call (benchmarks count calls with it)."""
    with _lock:
        _call_hooks.append(hook)
        for existing in _clients.values():
            existing.meta.events.register("before-call.*.*", hook)


_queue_urls: dict[tuple[int, str], str] = {}


def queue_url(name: str) -> str:
    """A queue's URL, asked once per client (a queue's URL never changes; each GetQueueUrl is a
    billed request on the path of every message sent)."""
    sqs = client("sqs")
    key = (id(sqs), name)
    url = _queue_urls.get(key)
    if url is None:
        url = str(sqs.get_queue_url(QueueName=name)["QueueUrl"])
        _queue_urls[key] = url
    return url


def reset() -> None:
    """Drop cached clients, queue URLs and hooks (tests switch endpoints and credentials)."""
    global _session
    with _lock:
        _session = None
        _clients.clear()
        _call_hooks.clear()
        _queue_urls.clear()
