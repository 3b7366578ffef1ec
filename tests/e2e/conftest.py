"""The real local stack (`make run`'s entry point) in a subprocess, one per test module that
asks for ``stack``; see harness.py."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e import harness
from tests.e2e.harness import Stack


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    home = tmp_path_factory.mktemp("stack")
    running = Stack(home)
    facts = dict(running.facts)
    facts["_stack"], facts["_home"] = running, home
    facts["_ports"] = (running.api_port, running.aws_port)
    yield facts
    running.kill()


def mailbox(facts: dict[str, Any], to: str, subject: str, timeout: float = 30) -> str:
    return harness.mailbox(facts["aws_endpoint"], to, subject, timeout)
