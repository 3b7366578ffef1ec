"""The ``world`` fixture: the payment services over MemoryDynamo and fakes (tests/fast/world.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fast.world import Clock, World
from tests.memory_dynamo import installed


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    """A shop with one product (3000 INR) and 10 in stock at one vendor; the Lambda handlers'
    ``bootstrap.payments()`` is this world's service; the orders domain reads the world's clock."""
    from chalicelib import bootstrap
    from chalicelib.orders import lifecycle, placement

    clock = Clock()
    with installed(clock) as dynamo:
        w = World(dynamo, clock)
        monkeypatch.setattr(bootstrap, "payments", lambda: w.svc)
        monkeypatch.setattr(lifecycle, "time", clock)  # lifecycle calls time.time()
        monkeypatch.setattr(placement, "_now", clock.now)
        w.shop()
        yield w
