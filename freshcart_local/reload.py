"""Pick up code edits without a restart: with state kept, a restart must never be the way to
see an edit. A watcher polls the mtimes of app.py, chalicelib/ and .chalice/config.json; on a
change the app is imported afresh and swapped into the API server, the dispatcher, the
scheduler and the Step Functions Lambda hook. moto and its data are untouched. An edit that
does not import (a syntax error) is reported in one line and the running app stays.
"""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Callable
from pathlib import Path

from chalicelib.core import logs

log = logs.get_logger("freshcart.local.reload")
APP_MODULES = ("app", "chalicelib")


def watched_files(root: Path) -> list[Path]:
    return [root / "app.py", root / ".chalice" / "config.json", *sorted((root / "chalicelib").rglob("*.py"))]


def fingerprint(root: Path) -> dict[Path, int]:
    out: dict[Path, int] = {}
    for path in watched_files(root):
        try:
            out[path] = path.stat().st_mtime_ns
        except FileNotFoundError:
            continue
    return out


def forget_app_modules() -> None:
    """Drop the app's modules so the next import reads the files again."""
    for name in list(sys.modules):
        if name in APP_MODULES or name.startswith(tuple(m + "." for m in APP_MODULES)):
            del sys.modules[name]


def refresh_log_formatters() -> None:
    """Loggers outlive a reload; their JSON formatter must read the NEW correlation-id context."""
    from chalicelib.core.logs import JsonFormatter

    for logger in [logging.getLogger(n) for n in list(logging.Logger.manager.loggerDict)]:
        for handler in logger.handlers:
            if type(handler.formatter).__name__ == "JsonFormatter":
                handler.setFormatter(JsonFormatter())


class Watcher:
    """Calls ``on_change()`` when a watched file changes (polling: no dependency, ~100 stats/s)."""

    def __init__(self, root: Path, on_change: Callable[[], object], interval: float = 1.0) -> None:
        self.root = root
        self.on_change = on_change
        self.interval = interval
        self.reloads = 0
        self._seen = fingerprint(root)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def check(self) -> bool:
        """Reload if anything changed since the last check; True if it did."""
        now = fingerprint(self.root)
        if now == self._seen:
            return False
        self._seen = now
        self.on_change()
        self.reloads += 1
        return True

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="reload-watcher", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.check()
            except Exception:
                log.exception("reload check failed")

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=3)
