"""The real local stack (`make run`'s entry point) in a subprocess, one per test module."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_open(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    state = tmp_path_factory.mktemp("stack") / "local.json"
    api_port, aws_port = free_port(), free_port()
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("AWS_")
        and k not in ("FRESHCART_STAGE", "BCRYPT_ROUNDS", "USER_EVENTS_TOPIC_ARN", "ALERTS_TOPIC_ARN", "ARCHIVE_BUCKET")
    }
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "freshcart_local",
            "run",
            "--api-port",
            str(api_port),
            "--aws-port",
            str(aws_port),
            "--state-file",
            str(state),
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    output: list[str] = []  # drained on a thread: a full pipe would block the stack's logging
    threading.Thread(target=lambda: output.extend(proc.stdout or []), daemon=True).start()
    deadline = time.monotonic() + 90
    while not state.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail("local stack did not start:\n" + "".join(output))
        time.sleep(0.2)
    facts = json.loads(state.read_text())
    facts["_proc"], facts["_state"], facts["_ports"] = proc, state, (api_port, aws_port)
    yield facts
    if proc.poll() is None:
        proc.kill()
    (state.parent / "stack.log").write_text("".join(output))  # kept for a failure's post-mortem


def mailbox(facts: dict[str, Any], to: str, subject: str, timeout: float = 20) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        data = requests.get(f"{facts['aws_endpoint']}/moto-api/data.json", timeout=5).json()
        for msg in data.get("ses", {}).get("Message", []):
            if to in msg["destinations"]["ToAddresses"] and msg["subject"] == subject:
                return str(msg["body"])
        time.sleep(0.3)
    raise AssertionError(f"no '{subject}' mail to {to} within {timeout}s")
