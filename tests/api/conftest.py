"""Fixtures shared by the API tests: a shop to build, and one whose orders can be paid."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import Api
from tests.factories import Shop


@pytest.fixture
def shop(api: Api) -> Shop:
    return Shop(api)


@pytest.fixture
def checkout(api: Api, stripe_env: dict[str, Any], client: Any) -> Iterator[Any]:
    """A shop whose orders can be paid: the app's Lambda tasks serve the state machines."""
    from app import app
    from freshcart_local import lambdas
    from tests.api.test_payments import Checkout

    lambdas.install(app)
    yield Checkout(api, stripe_env)
    lambdas.uninstall(app)
