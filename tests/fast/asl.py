"""The checkout's state machine run in process: ``stepfunctions/checkout.asl.json`` itself (not a
copy of its logic), so the fast payment tests call the Lambda tasks with the payloads, retries and
catches the ASL declares, and cannot drift from it.

Enough of Step Functions for that file: Pass (Parameters, Result, ``States.UUID()``), Choice
(StringEquals, BooleanEquals), Task (a Lambda invoke; any other resource is handed to
``service``), Parallel; Parameters and ResultSelector with ``.$`` paths, ResultPath, OutputPath,
Retry (counted, not slept) and Catch. A Lambda's exception is an error named by its class, with
the JSON cause Lambda gives (or its ``asl_error``: ``States.Timeout`` for a task that ran out of
time). Anything else raises NotImplementedError.

An ``Execution`` is a generator of its states: ``step()`` runs one, so two executions can be
interleaved state by state (a duplicate run of one checkout).
"""

from __future__ import annotations

import copy
import json
import re
import uuid
from collections.abc import Callable, Generator
from pathlib import Path
from typing import Any

STEPFUNCTIONS = Path(__file__).resolve().parents[2] / "stepfunctions"
LAMBDA = "arn:aws:states:::lambda:invoke"
_STEP = re.compile(r"\.([A-Za-z_][A-Za-z0-9_]*)|\[(\d+)\]")


def machine(name: str = "checkout.asl.json") -> dict[str, Any]:
    return dict(json.loads((STEPFUNCTIONS / name).read_text()))


class Failed(Exception):
    """A state's error, as Step Functions names it (``Error``) and explains it (``Cause``)."""

    def __init__(self, error: str, cause: str) -> None:
        super().__init__(f"{error}: {cause}")
        self.error, self.cause = error, cause


def _path(data: Any, path: str) -> Any:
    if not path.startswith("$"):
        raise NotImplementedError(f"a path not starting at $: {path}")
    rest, node = path[1:], data
    while rest:
        m = _STEP.match(rest)
        if m is None:
            raise NotImplementedError(f"JSONPath {path}")
        name, index = m.groups()
        try:
            node = node[name] if name is not None else node[int(index)]
        except (KeyError, IndexError, TypeError):
            raise Failed("States.Runtime", f"the JSONPath {path} could not be found in the input") from None
        rest = rest[m.end() :]
    return node


def _resolve(template: Any, data: Any) -> Any:
    """Parameters / ResultSelector: keys ending in ``.$`` take a path's value (or an intrinsic)."""
    if isinstance(template, list):
        return [_resolve(x, data) for x in template]
    if not isinstance(template, dict):
        return template
    out = {}
    for key, value in template.items():
        if key.endswith(".$"):
            if value == "States.UUID()":
                out[key[:-2]] = str(uuid.uuid4())
            elif str(value).startswith("States."):
                raise NotImplementedError(f"intrinsic {value}")
            else:
                out[key[:-2]] = _path(data, value)
        else:
            out[key] = _resolve(value, data)
    return out


def _put(data: Any, path: str | None, result: Any) -> Any:
    """ResultPath: where a state's result goes in its input (None: dropped; ``$``: replaces it)."""
    if path is None:
        return data
    if path == "$":
        return result
    out = copy.deepcopy(data)
    steps = [m.group(1) for m in _STEP.finditer(path[1:])]
    node = out
    for step in steps[:-1]:
        node = node.setdefault(step, {})
    node[steps[-1]] = result
    return out


def _matches(names: list[str], error: str) -> bool:
    return error in names or "States.ALL" in names


class Execution:
    """One execution of ``definition`` on ``input``. ``invoke(function, payload)`` runs a Lambda
    task (the function's name as the ASL gives it, ``${...}`` removed); ``service(resource,
    parameters)`` any other task."""

    def __init__(
        self,
        definition: dict[str, Any],
        input: dict[str, Any],
        invoke: Callable[[str, dict[str, Any]], Any],
        service: Callable[[str, dict[str, Any]], Any],
    ) -> None:
        self.invoke, self.service = invoke, service
        self.path: list[str] = []
        self.retries: list[tuple[str, str]] = []  # (state, error) of each retry taken
        self.output: Any = None
        self.failed: Failed | None = None
        self.done = False
        self._states = self._machine(definition, copy.deepcopy(input))

    def step(self) -> bool:
        """Run the next state; False once the execution has ended."""
        if self.done:
            return False
        try:
            next(self._states)
            return True
        except StopIteration as stop:
            self.output, self.done = stop.value, True
        except Failed as exc:
            self.failed, self.done = exc, True
        return False

    def run(self) -> Execution:
        while self.step():
            pass
        return self

    def _machine(self, definition: dict[str, Any], data: Any) -> Generator[str, None, Any]:
        name = definition["StartAt"]
        while True:
            state = definition["States"][name]
            self.path.append(name)
            yield name
            data, following = yield from self._state(name, state, data)
            if following is None:
                return data
            name = following

    def _state(self, name: str, state: dict[str, Any], data: Any) -> Generator[str, None, tuple[Any, str | None]]:
        kind = state["Type"]
        known = {"Type", "Next", "End", "Comment", "Parameters", "Result", "ResultPath", "OutputPath"}
        known |= {"Choices", "Default", "Resource", "ResultSelector", "TimeoutSeconds", "Retry", "Catch", "Branches"}
        if set(state) - known:
            raise NotImplementedError(f"state {name}: {sorted(set(state) - known)}")
        if kind == "Choice":
            return data, self._choose(state, data)
        try:
            if kind == "Pass":
                result = _resolve(state["Parameters"], data) if "Parameters" in state else state.get("Result", data)
            elif kind == "Task":
                result = self._task(name, state, data)
            elif kind == "Parallel":
                result = []
                for branch in state["Branches"]:
                    result.append((yield from self._machine(branch, copy.deepcopy(data))))
            else:
                raise NotImplementedError(f"state type {kind}")
            if "ResultSelector" in state:
                result = _resolve(state["ResultSelector"], result)
            out = _put(data, state.get("ResultPath", "$"), result)
            if "OutputPath" in state:
                out = _path(out, state["OutputPath"])
        except Failed as exc:
            for catcher in state.get("Catch", []):
                if _matches(catcher["ErrorEquals"], exc.error):
                    return _put(
                        data, catcher.get("ResultPath", "$"), {"Error": exc.error, "Cause": exc.cause}
                    ), catcher["Next"]
            raise
        return out, None if state.get("End") else state["Next"]

    @staticmethod
    def _choose(state: dict[str, Any], data: Any) -> str:
        for choice in state["Choices"]:
            tests = {k: v for k, v in choice.items() if k not in ("Variable", "Next")}
            if set(tests) - {"StringEquals", "BooleanEquals"}:
                raise NotImplementedError(f"Choice rule {sorted(tests)}")
            try:
                value = _path(data, choice["Variable"])
            except Failed:
                continue
            if all(value == expected for expected in tests.values()):
                return str(choice["Next"])
        if "Default" not in state:
            raise Failed("States.NoChoiceMatched", "no choice rule matched")
        return str(state["Default"])

    def _task(self, name: str, state: dict[str, Any], data: Any) -> Any:
        params = _resolve(state.get("Parameters", {}), data)
        attempts: dict[int, int] = {}
        while True:
            try:
                if state["Resource"] == LAMBDA:
                    return {"Payload": self.invoke(str(params["FunctionName"]).strip("${}"), params["Payload"])}
                return self.service(state["Resource"], params)
            except Exception as exc:
                error = str(getattr(exc, "asl_error", type(exc).__name__))  # e.g. States.Timeout
                cause = json.dumps({"errorMessage": str(exc), "errorType": error})
                for i, retrier in enumerate(state.get("Retry", [])):
                    if _matches(retrier["ErrorEquals"], error):
                        attempts[i] = attempts.get(i, 0) + 1
                        if attempts[i] <= int(retrier.get("MaxAttempts", 3)):
                            self.retries.append((name, error))
                            break
                        raise Failed(error, cause) from None
                else:
                    raise Failed(error, cause) from None
