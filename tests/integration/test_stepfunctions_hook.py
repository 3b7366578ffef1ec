"""Canary for the moto Lambda hook (freshcart_local/lambdas.py): if a moto upgrade breaks it,
this fails loudly. State machines really execute, and Retry/Catch see real handler errors."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from chalice import Chalice

from chalicelib.core import aws
from freshcart_local import lambdas
from freshcart_local.provision import PLACEHOLDER_ROLE, ensure_lambda_functions, lambda_names_in

DEFINITION = (Path(__file__).parent.parent / "stepfunctions" / "canary.asl.json").read_text()


class TransientError(Exception):
    pass


class OutOfStock(Exception):
    pass


def canary_app() -> tuple[Chalice, dict[str, int]]:
    app = Chalice(app_name="canary")
    calls = {"flaky": 0}

    @app.lambda_function(name="canary_flaky")
    def flaky(event: dict[str, Any], context: Any) -> dict[str, Any]:
        calls["flaky"] += 1
        if calls["flaky"] < 3:
            raise TransientError("try again")
        return {"attempts": calls["flaky"], "orderId": event["orderId"]}

    @app.lambda_function(name="canary_reject")
    def reject(event: dict[str, Any], context: Any) -> dict[str, Any]:
        raise OutOfStock(f"no stock for {event['orderId']}")

    return app, calls


def run(definition: str, payload: dict[str, Any]) -> dict[str, Any]:
    sfn = aws.client("stepfunctions")
    ensure_lambda_functions(lambda_names_in(definition))
    arn = sfn.create_state_machine(
        name=f"canary-{uuid.uuid4().hex[:6]}", definition=definition, roleArn=PLACEHOLDER_ROLE
    )["stateMachineArn"]
    exe = sfn.start_execution(stateMachineArn=arn, name=uuid.uuid4().hex, input=json.dumps(payload))
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        desc = sfn.describe_execution(executionArn=exe["executionArn"])
        if desc["status"] != "RUNNING":
            return dict(desc)
        time.sleep(0.2)
    pytest.fail("state machine did not finish in 30 s")


@pytest.mark.usefixtures("aws")
def test_lambda_tasks_run_the_app_with_retry_and_catch() -> None:
    app, calls = canary_app()
    lambdas.install(app)
    try:
        desc = run(DEFINITION, {"orderId": "o-1"})
    finally:
        lambdas.uninstall(app)
    assert desc["status"] == "SUCCEEDED", desc
    out = json.loads(desc["output"])
    assert calls["flaky"] == 3  # two real failures retried, then success
    assert out["attempts"] == 3 and out["orderId"] == "o-1"
    assert out["error"]["Error"] == "OutOfStock"
    assert "no stock for o-1" in out["error"]["Cause"]


@pytest.mark.usefixtures("aws")
def test_unknown_function_fails_the_execution() -> None:
    definition = DEFINITION.replace("freshcart-local-canary_flaky", "freshcart-local-missing")
    desc = run(definition, {"orderId": "o-2"})
    assert desc["status"] == "FAILED"
