"""Step Functions Lambda tasks, run in-process against the app.

moto executes state machines (``execute_state_machine``) and invokes Lambda tasks through its
Lambda backend. Without Docker that backend returns a canned result; we replace its ``invoke``
with one that calls the app's ``@app.lambda_function`` by name, so Retry/Catch see real results
and real errors. This touches moto internals (moto is pinned exactly); the canary test in
tests/integration/test_stepfunctions_hook.py fails loudly if the hook stops working.
A step fault (faults.py) makes an invocation fail with its errorType without running the handler.
"""

from __future__ import annotations

import json
import traceback
from typing import Any

from chalice import Chalice

from freshcart_local import faults
from freshcart_local.runtime import invoke

_apps: list[Chalice] = []
_installed = False


def function_name_to_handler(name: str) -> str:
    """Deployed names are ``<app>-<stage>-<handler>``; plain handler names work too."""
    for app in _apps:
        if name in app.handler_map:
            return name
        for handler in app.handler_map:
            if name.endswith("-" + handler):
                return handler
    return name


def _invoke(
    self: Any, function_name: str, qualifier: str | None, body: Any, headers: Any, response_headers: Any
) -> bytes:
    name = function_name.split(":")[-1] if function_name.startswith("arn:") else function_name
    handler = function_name_to_handler(name)
    injected = faults.take_step(handler)
    if injected is not None:
        response_headers["x-amz-function-error"] = "Unhandled"
        return json.dumps(
            {
                "errorType": injected.error,
                "errorMessage": f"injected fault {injected.id}: {injected.error} in {handler}",
                "stackTrace": [],
            }
        ).encode()
    event = json.loads(body) if body else {}
    app = next((a for a in _apps if handler in a.handler_map), None)
    if app is None:
        response_headers["x-amz-function-error"] = "Unhandled"
        return json.dumps(
            {"errorType": "ResourceNotFoundException", "errorMessage": f"no local handler for {name}"}
        ).encode()
    try:
        result = invoke(app, handler, event)
    except Exception as exc:  # the Lambda runtime's shape for an unhandled error
        response_headers["x-amz-function-error"] = "Unhandled"
        return json.dumps(
            {
                "errorType": type(exc).__name__,
                "errorMessage": str(exc),
                "stackTrace": traceback.format_tb(exc.__traceback__)[-3:],
            }
        ).encode()
    return json.dumps(result).encode()


def install(app: Chalice) -> None:
    """Route moto's Lambda invocations to ``app`` (idempotent; several apps may register)."""
    global _installed
    if app not in _apps:
        _apps.append(app)
    if not _installed:
        from moto.awslambda_simple.models import LambdaSimpleBackend

        LambdaSimpleBackend.invoke = _invoke  # type: ignore[method-assign]
        _installed = True


def uninstall(app: Chalice) -> None:
    if app in _apps:
        _apps.remove(app)
