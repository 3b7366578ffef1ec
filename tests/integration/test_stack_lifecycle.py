"""The local stack fails safely: a start that fails half-way stops what started; stop goes on
past a piece that fails to stop and reports threads still alive."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from freshcart_local.stack import Home, LocalStack, ensure_free
from tests.conftest import reset_caches
from tests.e2e.harness import free_port, port_open


@pytest.fixture
def kept_environ() -> Iterator[None]:
    """The stack exports AWS_ENDPOINT_URL and friends into os.environ: put them back."""
    saved = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(saved)
    reset_caches()


def test_a_start_failing_half_way_stops_what_started(
    kept_environ: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(stage: str, region: str) -> dict[str, str]:
        raise RuntimeError("template broken")

    monkeypatch.setattr("freshcart_local.provision.provision", broken)
    stack = LocalStack(
        api_port=free_port(), aws_port=free_port(), stripe_port=free_port(), home=Home(tmp_path), watch=False
    )
    with pytest.raises(RuntimeError, match="template broken"):
        stack.start()
    assert stack.moto is not None and stack.stripe is not None  # moto and Stripe had started...
    assert not port_open(stack.aws_port) and not port_open(stack.stripe_port)  # ...and were stopped
    ensure_free("127.0.0.1", stack.aws_port)
    ensure_free("127.0.0.1", stack.stripe_port)
    assert stack._stops == [] and not (tmp_path / "local.json").exists()


def test_stop_goes_on_past_a_failure_and_reports_live_threads(capsys: pytest.CaptureFixture[str]) -> None:
    stack = LocalStack()
    stopped: list[str] = []
    hold = threading.Event()
    stuck = threading.Thread(target=hold.wait, name="stuck-worker")  # not a daemon: would block exit
    stuck.start()

    def fail() -> Any:
        raise OSError("socket already closed")

    stack._started("first", lambda: stopped.append("first"))
    stack._started("broken", fail)
    stack._started("last", lambda: ["poller-x"])
    try:
        alive = stack.stop()
    finally:
        hold.set()
        stuck.join(5)
    assert stopped == ["first"]
    assert "stopping broken failed: OSError: socket already closed" in capsys.readouterr().out
    assert {"poller-x", "stuck-worker"} <= set(alive)
