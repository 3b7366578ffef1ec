"""Deferred imports for cold start: a module loads on first attribute access.

Every Lambda function of a Chalice app imports app.py, so the authorizer and a GET would pay for
pydantic and the request models they never use. The proxy imports with ``importlib.import_module``
(which holds the module's import lock) under a lock of its own: concurrent first uses (threads of
`chalice local`) all wait for one complete import. ``importlib.util.LazyLoader`` is not
thread-safe before Python 3.12 (a second thread sees a half-executed module).
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import threading
from types import ModuleType
from typing import Any


class _LazyModule(ModuleType):
    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.__dict__["_lock"] = threading.Lock()
        self.__dict__["_module"] = None

    def __getattr__(self, attr: str) -> Any:
        module = self.__dict__["_module"]
        if module is None:
            with self.__dict__["_lock"]:
                module = self.__dict__["_module"]
                if module is None:
                    module = importlib.import_module(self.__name__)
                    self.__dict__["_module"] = module
        return getattr(module, attr)


def lazy_module(name: str) -> ModuleType:
    """``name`` itself if already imported, else a proxy that imports it on first use."""
    if importlib.util.find_spec(name) is None:
        raise ImportError(name)
    return sys.modules.get(name) or _LazyModule(name)
