"""Lazy request models under concurrent first use (`chalice local` serves requests on threads)."""

from __future__ import annotations

import sys
import threading
from pathlib import Path

import pytest

from chalicelib.core.lazy import lazy_module


def test_concurrent_first_use_sees_a_complete_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "slow_models.py").write_text("import time\ntime.sleep(0.3)\nclass OrderBody:\n    pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "slow_models", raising=False)
    models = lazy_module("slow_models")
    assert "slow_models" not in sys.modules  # nothing imported yet
    barrier, found, errors = threading.Barrier(16), [], []

    def use() -> None:
        barrier.wait()
        try:
            found.append(models.OrderBody)
        except AttributeError as exc:
            errors.append(exc)

    threads = [threading.Thread(target=use) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and len(set(found)) == 1


def test_an_unknown_module_fails_at_declaration() -> None:
    with pytest.raises(ImportError):
        lazy_module("chalicelib.no_such_models")
