"""Fault injection for the local stack: make local Stripe time out or fail, or make a Step
Functions Lambda task fail with a chosen error, a given number of times.

It exists only here, in freshcart_local, which is never packaged (`chalice package` ships app.py
and chalicelib/): no deployed stage can reach it. One registry per process, thread-safe: the
local Stripe's aiohttp middleware (stripe_local.py) and the Lambda hook (lambdas.py) consult it;
it is driven over HTTP on the local AWS port (``/_freshcart/faults``, wired in awsserver.py), by
``python -m freshcart_local fault ...``, or in-process with ``inject()`` / ``clear()``.

A fault is a dict:

- ``{"target": "stripe", "mode": "timeout"|"error500"|"rate_limit", "times": N,
  "path": "/v1/payment_intents", "delaySeconds": 15, "drop": false}`` — the next N Stripe API
  requests whose path starts with ``path`` (any ``/v1/`` request without it). ``timeout`` holds the
  request ``delaySeconds`` and then handles it normally (so the work lands after the caller may
  have given up), or with ``drop`` closes the connection unanswered (the work never happens).
- ``{"target": "step", "step": "checkout_mark_paid", "error": "PaymentTimeout", "times": N}`` — the
  next N invocations of that ``@app.lambda_function`` by a state machine return a Lambda
  unhandled error of type ``error`` without running the handler, so Retry/Catch on that error
  name see it.

A fault that has fired ``times`` times stays listed with ``remaining: 0`` until cleared.
"""

from __future__ import annotations

import itertools
import json
import re
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

TARGETS = ("stripe", "step")
STRIPE_MODES = ("timeout", "error500", "rate_limit")
MAX_TIMES = 10_000
MAX_DELAY_SECONDS = 300.0
DEFAULT_DELAY_SECONDS = 15.0
CONTROL_PATH = "/_freshcart/faults"
MAX_BODY = 64 * 1024
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.:-]{0,127}$")


class FaultError(ValueError):
    """A fault spec that cannot be used (its message says why)."""


@dataclass
class Fault:
    id: str
    target: str
    times: int
    remaining: int
    mode: str | None = None
    path: str | None = None
    delay_seconds: float = 0.0
    drop: bool = False
    step: str | None = None
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "target": self.target, "times": self.times, "remaining": self.remaining}
        if self.target == "stripe":
            out["mode"] = self.mode
            out["path"] = self.path
            if self.mode == "timeout":
                out["delaySeconds"] = self.delay_seconds
                out["drop"] = self.drop
        else:
            out["step"] = self.step
            out["error"] = self.error
        return out


def parse(spec: Mapping[str, Any], fault_id: str) -> Fault:
    """Check a spec and build the fault; FaultError names the first problem."""
    if not isinstance(spec, Mapping):
        raise FaultError("a fault is a JSON object")
    target = spec.get("target")
    if target not in TARGETS:
        raise FaultError(f"target must be one of {', '.join(TARGETS)}")
    times = spec.get("times", 1)
    if isinstance(times, bool) or not isinstance(times, int) or not 1 <= times <= MAX_TIMES:
        raise FaultError(f"times must be a whole number from 1 to {MAX_TIMES}")
    if target == "stripe":
        allowed = {"target", "mode", "times", "path", "delaySeconds", "drop"}
        _no_extra(spec, allowed)
        mode = spec.get("mode")
        if mode not in STRIPE_MODES:
            raise FaultError(f"mode must be one of {', '.join(STRIPE_MODES)}")
        path = spec.get("path")
        if path is not None and (not isinstance(path, str) or not path.startswith("/") or len(path) > 200):
            raise FaultError("path must be a URL path prefix starting with '/', e.g. /v1/payment_intents")
        if mode != "timeout" and ("delaySeconds" in spec or "drop" in spec):
            raise FaultError("delaySeconds and drop apply to mode timeout only")
        delay = spec.get("delaySeconds", DEFAULT_DELAY_SECONDS if mode == "timeout" else 0.0)
        if isinstance(delay, bool) or not isinstance(delay, (int, float)) or not 0 <= delay <= MAX_DELAY_SECONDS:
            raise FaultError(f"delaySeconds must be a number from 0 to {MAX_DELAY_SECONDS:g}")
        drop = spec.get("drop", False)
        if not isinstance(drop, bool):
            raise FaultError("drop must be true or false")
        return Fault(fault_id, "stripe", times, times, mode=mode, path=path, delay_seconds=float(delay), drop=drop)
    _no_extra(spec, {"target", "step", "error", "times"})
    step, error = spec.get("step"), spec.get("error")
    if not isinstance(step, str) or not _NAME.match(step):
        raise FaultError("step must be a Lambda handler name, e.g. checkout_mark_paid")
    if not isinstance(error, str) or not _NAME.match(error):
        raise FaultError("error must be an error type name, e.g. PaymentTimeout")
    return Fault(fault_id, "step", times, times, step=step, error=error)


def _no_extra(spec: Mapping[str, Any], allowed: set[str]) -> None:
    extra = sorted(set(spec) - allowed)
    if extra:
        raise FaultError(f"unknown field(s) for target {spec['target']}: {', '.join(extra)}")


class Registry:
    """The faults of this process. Every method takes the lock: the aiohttp loop, moto's
    Step Functions threads and the control endpoint's request threads all reach it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self._ids = itertools.count(1)

    def add(self, spec: Mapping[str, Any]) -> dict[str, Any]:
        with self._lock:
            fault = parse(spec, f"f{next(self._ids)}")
            self._faults.append(fault)
            return fault.to_dict()

    def list(self) -> list[dict[str, Any]]:
        with self._lock:
            return [f.to_dict() for f in self._faults]

    def clear(self) -> int:
        with self._lock:
            count = len(self._faults)
            self._faults.clear()
            return count

    def _take(self, matches: Callable[[Fault], bool]) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.remaining > 0 and matches(fault):
                    fault.remaining -= 1
                    return Fault(**vars(fault))  # a copy: the caller reads it outside the lock
            return None

    def take_stripe(self, path: str) -> Fault | None:
        """The fault to apply to a Stripe API request on ``path`` (one use of it), if any."""
        if not path.startswith("/v1/"):
            return None  # /_config/ (our own set-up calls) and the JS shim are never faulted
        return self._take(lambda f: f.target == "stripe" and (f.path is None or path.startswith(f.path)))

    def take_step(self, step: str) -> Fault | None:
        """The fault to apply to this invocation of Lambda handler ``step`` (one use), if any."""
        return self._take(lambda f: f.target == "step" and f.step == step)


REGISTRY = Registry()


def inject(spec: Mapping[str, Any] | None = None, **fields: Any) -> dict[str, Any]:
    """Add a fault to this process (``inject(target="step", step="x", error="Boom")``)."""
    return REGISTRY.add({**(spec or {}), **fields})


def clear() -> int:
    """Forget every fault of this process; returns how many there were."""
    return REGISTRY.clear()


def active() -> list[dict[str, Any]]:
    return REGISTRY.list()


def take_stripe(path: str) -> Fault | None:
    return REGISTRY.take_stripe(path)


def take_step(step: str) -> Fault | None:
    return REGISTRY.take_step(step)


# --- the HTTP control, served on the local AWS port (awsserver.py) --------------------------

Environ = dict[str, Any]
StartResponse = Callable[..., Any]


def is_control(environ: Environ) -> bool:
    return str(environ.get("PATH_INFO", "")).rstrip("/") == CONTROL_PATH


def control(environ: Environ, start_response: StartResponse, registry: Registry = REGISTRY) -> Iterable[bytes]:
    """``POST`` adds a fault (201, the fault), ``GET`` lists them, ``DELETE`` clears them."""
    method = str(environ.get("REQUEST_METHOD", "GET")).upper()
    if method == "GET":
        return _json(start_response, 200, {"faults": registry.list()})
    if method == "DELETE":
        return _json(start_response, 200, {"cleared": registry.clear()})
    if method == "POST":
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = -1
        if not 0 < length <= MAX_BODY:
            return _json(start_response, 400, {"error": f"send a JSON fault of at most {MAX_BODY} bytes"})
        try:
            spec = json.loads(environ["wsgi.input"].read(length))
        except (ValueError, UnicodeDecodeError):
            return _json(start_response, 400, {"error": "the body is not JSON"})
        try:
            return _json(start_response, 201, registry.add(spec))
        except FaultError as exc:
            return _json(start_response, 400, {"error": str(exc)})
    return _json(start_response, 405, {"error": "use GET, POST or DELETE"}, [("Allow", "GET, POST, DELETE")])


def _json(
    start_response: StartResponse, status: int, body: Any, headers: list[tuple[str, str]] | None = None
) -> list[bytes]:
    data = json.dumps(body).encode()
    reason = {200: "OK", 201: "Created", 400: "Bad Request", 405: "Method Not Allowed"}[status]
    start_response(
        f"{status} {reason}",
        [("Content-Type", "application/json"), ("Content-Length", str(len(data))), *(headers or [])],
    )
    return [data]
