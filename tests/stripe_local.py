"""Local Stripe for in-process tests (a pytest plugin, registered in tests/conftest.py).

``stripe_server``: the same local Stripe as `make run` (freshcart_local/stripe_local.py), once per
test session (per xdist worker) on a free port, in a thread. ``stripe_env``: a test's own view of
it, wiped first, with ``STRIPE_API_BASE`` set and the ``freshcart/local/stripe`` secret written
into the test's moto. ``sign``: a valid ``Stripe-Signature`` for a webhook body.

moto's ``mock_aws`` does not get in the way: it intercepts botocore, and ``requests`` only for AWS
URLs (its ``responses`` mock passes every other http(s) URL through), so the Stripe SDK reaches
127.0.0.1 (tests/integration/test_stripe_local.py proves it).
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Iterator
from typing import Any

import pytest

from freshcart_local import faults
from freshcart_local.stripe_local import Keys, LocalStripe, call, write_secret

STAGE = "local"


def sign(payload: bytes, secret: str, timestamp: int | None = None) -> str:
    """The ``Stripe-Signature`` header Stripe sends with ``payload``: ``t=<ts>,v1=<hmac>``."""
    ts = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{ts}.".encode() + payload, hashlib.sha256).hexdigest()
    return f"t={ts},v1={mac}"


@pytest.fixture(scope="session")
def stripe_server() -> Iterator[str]:
    """The api_base of a local Stripe serving this worker's tests (not kept on disk)."""
    from tests.e2e.harness import free_port

    server = LocalStripe(port=free_port(), state=None, say=lambda line: None)
    server.start()
    yield server.api_base
    server.stop()


@pytest.fixture
def stripe_env(aws: dict[str, str], stripe_server: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """An empty local Stripe, ``STRIPE_API_BASE`` pointing at it and the stage's Stripe secret
    in this test's moto. Returns ``{api_base, secret_key, publishable_key, webhook_secret}``.
    Webhooks a test registered and faults it injected are gone afterwards."""
    from localstripe import webhooks

    from chalicelib.core import aws as aws_clients
    from tests.conftest import reset_state_caches

    call(stripe_server, "DELETE", "/_config/data")
    webhooks._webhooks.clear()
    keys = Keys.new()
    monkeypatch.setenv("STRIPE_API_BASE", stripe_server)
    write_secret(aws_clients.client("secretsmanager"), STAGE, keys)
    reset_state_caches()  # settings read STRIPE_API_BASE afresh
    yield {
        "api_base": stripe_server,
        "secret_key": keys.secret_key,
        "publishable_key": keys.publishable_key,
        "webhook_secret": keys.webhook_secret,
    }
    faults.clear()
    webhooks._webhooks.clear()
