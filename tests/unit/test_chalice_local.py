"""`chalice local` beside a local stack on moved ports: it finds the stack's AWS and Stripe from
the facts file, names itself in links, and restarts on code edits only."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from freshcart_local import gateway


def test_the_port_is_read_from_the_command_line() -> None:
    assert gateway.cli_port(["chalice", "local", "--stage", "local"]) == 8000
    assert gateway.cli_port(["chalice", "local", "--port", "8100"]) == 8100
    assert gateway.cli_port(["chalice", "local", "--port=8200"]) == 8200


def test_only_code_edits_restart_the_server() -> None:
    assert gateway.is_code_edit("/p/chalicelib/orders/rules.py")
    assert gateway.is_code_edit("/p/.chalice/config.json") and gateway.is_code_edit("/p/app.py")
    assert not gateway.is_code_edit("/p/.freshcart/state.json")  # the running stack's own writes
    assert not gateway.is_code_edit("/p/.freshcart/events.jsonl")
    assert not gateway.is_code_edit("/p/chalicelib/__pycache__/x.cpython-311.pyc")
    assert not gateway.is_code_edit("/p/.venv/lib/site.py") and not gateway.is_code_edit("/p/README.md")


def test_the_reloader_sees_code_edits_and_not_the_stacks_own_writes(tmp_path: Path) -> None:
    from chalice.cli.filewatch.stat import StatFileWatcher

    gateway.reload_on_code_only()
    (tmp_path / "chalicelib").mkdir()
    (tmp_path / ".freshcart").mkdir()
    code, state = tmp_path / "chalicelib" / "rules.py", tmp_path / ".freshcart" / "state.json"
    code.write_text("x = 1\n")
    state.write_text("{}")
    watcher = StatFileWatcher()
    watcher._seed_mtime_cache(str(tmp_path))
    restarted: list[bool] = []
    state.write_text('{"written": "by the running stack"}')
    (tmp_path / ".freshcart" / "events.jsonl").write_text("{}\n")
    watcher._single_pass_poll(str(tmp_path), lambda: restarted.append(True))
    assert restarted == []
    import os

    os.utime(code, (code.stat().st_mtime + 5, code.stat().st_mtime + 5))
    watcher._single_pass_poll(str(tmp_path), lambda: restarted.append(True))
    assert restarted == [True]


def test_moved_ports_come_from_the_facts_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    with socket.socket() as listening:  # the facts are read only of a stack that answers
        listening.bind(("127.0.0.1", 0))
        listening.listen()
        port = listening.getsockname()[1]
        facts: dict[str, Any] = {
            "aws_endpoint": f"http://127.0.0.1:{port}",
            "stripe": {"api_base": "http://127.0.0.1:8620"},
        }
        (tmp_path / "local.json").write_text(json.dumps(facts))
        monkeypatch.setenv("FRESHCART_HOME", str(tmp_path))
        monkeypatch.setattr("sys.argv", ["chalice", "local", "--port", "8201"])
        for name in ("FRESHCART_LOCAL_AWS", "STRIPE_API_BASE", "PUBLIC_API_URL"):
            monkeypatch.delenv(name, raising=False)
        gateway.for_chalice_local()
        import os

        assert os.environ["FRESHCART_LOCAL_AWS"] == f"http://127.0.0.1:{port}"
        assert os.environ["STRIPE_API_BASE"] == "http://127.0.0.1:8620"
        assert os.environ["PUBLIC_API_URL"] == "http://127.0.0.1:8201"
