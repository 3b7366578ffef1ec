"""Deferred imports for cold start: a module loads on first attribute access.

Every Lambda function of a Chalice app imports app.py, so the authorizer and a GET would pay for
pydantic and the request models they never use. (The recipe from the importlib docs.)
"""

from __future__ import annotations

import importlib.util
import sys
from types import ModuleType


def lazy_module(name: str) -> ModuleType:
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.find_spec(name)
    if spec is None or spec.loader is None:
        raise ImportError(name)
    loader = importlib.util.LazyLoader(spec.loader)
    spec.loader = loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    loader.exec_module(module)
    return module
