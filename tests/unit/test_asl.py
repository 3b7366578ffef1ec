"""The state machines are generated from the outcomes the Python steps use: the committed ASL is
what ``stepfunctions/generate.py`` writes, every Choice compares against a value of those enums,
and the task Retry is one policy."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

from chalicelib.payments.outcomes import ChargeOutcome, Finish, FraudDecision, Phase, WaitKind

HERE = Path(__file__).resolve().parents[2] / "stepfunctions"


def _generator() -> Any:
    spec = importlib.util.spec_from_file_location("generate", HERE / "generate.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _states(machine: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for name, state in machine["States"].items():
        out[name] = state
        for branch in state.get("Branches", []):
            out.update(_states(branch))
    return out


def test_the_committed_asl_is_the_generated_one() -> None:
    gen = _generator()
    for name in gen.MACHINES:
        assert (HERE / name).read_text() == gen.render(name), f"run `make asl`: {name} is stale"


def test_choices_and_outcomes_are_the_enums_values() -> None:
    machine = json.loads((HERE / "checkout.asl.json").read_text())
    states = _states(machine)
    allowed = {e.value for enum in (ChargeOutcome, FraudDecision, Phase) for e in enum}
    compared = [c["StringEquals"] for s in states.values() for c in s.get("Choices", []) if "StringEquals" in c]
    assert compared and set(compared) <= allowed
    payloads = [s["Parameters"]["Payload"] for s in states.values() if "Payload" in s.get("Parameters", {})]
    assert {p["outcome"] for p in payloads if "outcome" in p} == {f.value for f in Finish}  # every end is reachable
    assert {p["kind"] for p in payloads if "kind" in p} == {w.value for w in WaitKind}
    # every step that writes names its run (the fence); the run is named first
    writers = [p for p in payloads if "outcome" in p or "kind" in p or "screen.$" in p]
    assert all(p.get("run.$") == "$.run.id" for p in writers)
    assert all(p.get("correlationId.$") == "$.correlationId" for p in payloads)  # the pay request's id
    assert machine["StartAt"] == "Claim" and states["Claim"]["Parameters"] == {"id.$": "States.UUID()"}


def test_one_retry_policy() -> None:
    for name in ("checkout.asl.json", "checkout_await.asl.json"):
        states = _states(json.loads((HERE / name).read_text()))
        policies = {
            json.dumps({k: v for k, v in r.items() if k != "ErrorEquals"})
            for s in states.values()
            for r in s.get("Retry", [])
        }
        assert policies == {json.dumps({"IntervalSeconds": 2, "MaxAttempts": 3, "BackoffRate": 2.0})}
