"""Writes the checkout's state machines (``checkout.asl.json``, ``checkout_await.asl.json``) from
the outcomes the Python steps share (``chalicelib/payments/outcomes.py``), with the task Retry
written once. ``make asl`` runs it; ``tests/unit/test_asl.py`` fails when a committed file
differs from what this writes.

Each Express run names itself first (``Claim``: ``$.run.id``, a fresh UUID per execution, as AWS
does not dedupe Express executions by name); every step that writes passes it, and the payment
keeps the run that owns it, so a duplicate run changes nothing (``chalicelib/payments/steps.py``).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from chalicelib.payments.outcomes import ChargeOutcome, Finish, FraudDecision, Phase, WaitKind

HERE = Path(__file__).resolve().parent
RETRYABLE = [
    "Transient",
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
    "States.Timeout",
]


def retry(*extra: str, errors: list[str] | None = None) -> list[dict[str, Any]]:
    """The one Retry policy: 3 attempts, 2 s then 4 s then 8 s."""
    names = list(errors or RETRYABLE)
    return [{"ErrorEquals": [names[0], *extra, *names[1:]], "IntervalSeconds": 2, "MaxAttempts": 3, "BackoffRate": 2.0}]


# Every Lambda task is told the checkout's ids and the correlation id of the request that started
# it (POST /orders/{id}/pay), so its logs and the events it publishes carry that id.
IDS = {"orderId.$": "$.orderId", "paymentId.$": "$.paymentId", "correlationId.$": "$.correlationId"}
RUN = {**IDS, "run.$": "$.run.id"}


def catch(*routes: tuple[str, str]) -> list[dict[str, Any]]:
    return [{"ErrorEquals": [error], "ResultPath": "$.error", "Next": to} for error, to in routes]


def task(function: str, payload: dict[str, Any], **rest: Any) -> dict[str, Any]:
    """A Lambda task: the app's function, its payload, the one Retry, then ``rest``."""
    state: dict[str, Any] = {
        "Type": "Task",
        "Resource": "arn:aws:states:::lambda:invoke",
        "Parameters": {"FunctionName": "${" + function + "}", "Payload": payload},
        "ResultSelector": {"result.$": "$.Payload"},
        "TimeoutSeconds": 60,
        "Retry": retry(),
    }
    return {**state, **rest}


def finish(outcome: Finish, **payload: Any) -> dict[str, Any]:
    """Where a run ends when it does not end paid."""
    body = {**RUN, "outcome": outcome.value, "error.$": "$.error", **payload}
    return task("checkout_finish", body, OutputPath="$.result", End=True)


def refusal(error: str, cause: str) -> dict[str, Any]:
    return {"Type": "Pass", "Result": {"Error": error, "Cause": cause}, "ResultPath": "$.error", "Next": "Refused"}


def publish(message: str, kind: str) -> dict[str, Any]:
    return {
        "Type": "Task",
        "Resource": "arn:aws:states:::sns:publish",
        "TimeoutSeconds": 30,
        "Retry": retry(),
        "Parameters": {
            "TopicArn": "${PaymentEventsTopic}",
            "Message.$": message,
            "MessageAttributes": {"type": {"DataType": "String", "StringValue": kind}},
        },
        "End": True,
    }


def branch(name: str, state: dict[str, Any]) -> dict[str, Any]:
    return {"StartAt": name, "States": {name: state}}


def checkout() -> dict[str, Any]:
    email = "$.validated.email"
    states: dict[str, Any] = {
        "Claim": {
            "Type": "Pass",
            "Comment": "This run's own name: AWS may run an Express execution twice under one name.",
            "Parameters": {"id.$": "States.UUID()"},
            "ResultPath": "$.run",
            "Next": "Route",
        },
        "Route": {
            "Type": "Choice",
            "Choices": [
                {"Variable": "$.phase", "StringEquals": Phase.CHARGED.value, "Next": "MarkPaid"},
                {"Variable": "$.phase", "StringEquals": Phase.APPROVED.value, "Next": "Reviewed"},
            ],
            "Default": "Validate",
        },
        "Reviewed": {
            "Type": "Pass",
            "Comment": "A manager approved a held payment: its screening was recorded when it was held.",
            "Parameters": {
                "orderId.$": "$.orderId",
                "paymentId.$": "$.paymentId",
                "correlationId.$": "$.correlationId",
                "run.$": "$.run",
                "validated": {"email": None},
                "screen": {"reviewed": True},
            },
            "Next": "Charge",
        },
        "Validate": task(
            "checkout_validate",
            IDS,
            ResultSelector={"email.$": "$.Payload.email"},
            ResultPath="$.validated",
            Catch=catch(("Refused", "Refused"), ("States.ALL", "Broken")),
            Next="Screen",
        ),
        "Screen": {
            "Type": "Parallel",
            "ResultPath": "$.screen",
            "Next": "Decide",
            "Branches": [
                branch("CheckMethod", task("checkout_check_method", IDS, OutputPath="$.result", End=True)),
                branch("ScoreFraud", task("checkout_score_fraud", IDS, OutputPath="$.result", End=True)),
            ],
            "Catch": catch(("States.ALL", "Broken")),
            "ResultSelector": {"method.$": "$[0]", "fraud.$": "$[1]"},
        },
        "Decide": {
            "Type": "Choice",
            "Choices": [
                {"Variable": "$.screen.method.valid", "BooleanEquals": False, "Next": "MethodInvalid"},
                {"Variable": "$.screen.fraud.decision", "StringEquals": FraudDecision.BLOCK.value, "Next": "Blocked"},
                {
                    "Variable": "$.screen.fraud.decision",
                    "StringEquals": FraudDecision.HOLD.value,
                    "Next": "HoldForReview",
                },
            ],
            "Default": "Charge",
        },
        "Charge": task(
            "checkout_charge",
            {**RUN, "screen.$": "$.screen", "email.$": email},
            ResultPath="$.charge",
            Catch=catch(("Transient", "Defer"), ("Refused", "Refused"), ("States.ALL", "ChargeBroken")),
            Next="Charged",
        ),
        "Charged": {
            "Type": "Choice",
            "Choices": [
                {
                    "Variable": "$.charge.result.outcome",
                    "StringEquals": ChargeOutcome.SUCCEEDED.value,
                    "Next": "MarkPaid",
                },
                {
                    "Variable": "$.charge.result.outcome",
                    "StringEquals": ChargeOutcome.REQUIRES_ACTION.value,
                    "Next": "AwaitAction",
                },
            ],
            "Default": "Declined",
        },
        "AwaitAction": task(
            "checkout_park",
            {**RUN, "kind": WaitKind.ACTION.value},
            OutputPath="$.result",
            Catch=catch(("States.ALL", "Broken")),
            End=True,
        ),
        "HoldForReview": task(
            "checkout_park",
            {**RUN, "kind": WaitKind.REVIEW.value, "screen.$": "$.screen", "email.$": email},
            OutputPath="$.result",
            Catch=catch(("States.ALL", "Broken")),
            End=True,
        ),
        "MarkPaid": task(
            "checkout_mark_paid", RUN, ResultPath="$.paid", Catch=catch(("States.ALL", "Compensate")), Next="FanOut"
        ),
        "FanOut": {
            "Type": "Parallel",
            "ResultPath": None,
            "End": True,
            "Catch": catch(("States.ALL", "FanOutFailed")),
            "Branches": [
                branch("Notify", publish("$.paid.result.event", "PaymentSucceeded")),
                branch(
                    "Archive",
                    {
                        "Type": "Task",
                        "Resource": "arn:aws:states:::aws-sdk:firehose:putRecord",
                        "TimeoutSeconds": 30,
                        "Retry": retry("Firehose.ServiceUnavailableException"),
                        "Parameters": {
                            "DeliveryStreamName": "${ArchiveStream}",
                            "Record": {"Data.$": "$.paid.result.record"},
                        },
                        "End": True,
                    },
                ),
                branch("Analytics", publish("$.paid.result.analytics", "CheckoutCompleted")),
            ],
        },
        "MethodInvalid": refusal("MethodInvalid", "the payment method cannot be used"),
        "Blocked": refusal("FraudBlocked", "blocked by fraud rules"),
        "Declined": refusal("Declined", "the card was declined"),
        "Refused": finish(Finish.FAILED),
        "Defer": finish(Finish.DEFERRED, **{"screen.$": "$.screen", "email.$": email}),
        "Broken": finish(Finish.BROKEN),
        "ChargeBroken": finish(Finish.CHARGE_BROKEN),
        "Compensate": finish(Finish.COMPENSATE),
        "FanOutFailed": finish(Finish.FANOUT_FAILED),
    }
    return {
        "Comment": (
            "Checkout: validate, screen (payment method || fraud), charge, mark paid (with the settlement), "
            "fan out. Express: each step is idempotent (Stripe idempotency keys from our payment id, conditional "
            "ledger writes) and fenced by the run that owns the payment, so a re-run or a duplicate run has no "
            "second money effect. Waiting (3-D Secure, fraud review) happens in checkout-await (Standard, task "
            "token). Generated by stepfunctions/generate.py."
        ),
        "StartAt": "Claim",
        "States": states,
    }


def checkout_await() -> dict[str, Any]:
    payload = {**IDS, "kind.$": "$.kind"}
    return {
        "Comment": (
            "Waits (task token, no polling) for a 3-D Secure webhook or a manager's fraud decision, at most the "
            "reservation's remaining life; then resumes the Express checkout or abandons the payment. Generated "
            "by stepfunctions/generate.py."
        ),
        "StartAt": "Wait",
        "States": {
            "Wait": {
                "Type": "Task",
                "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken",
                "TimeoutSecondsPath": "$.timeoutSeconds",
                "Parameters": {
                    "FunctionName": "${checkout_wait}",
                    "Payload": {**payload, "token.$": "$$.Task.Token"},
                },
                "ResultPath": "$.decision",
                "Retry": retry(errors=["Lambda.ServiceException", "Lambda.TooManyRequestsException", "Transient"]),
                "Catch": catch(("States.ALL", "Abandon")),
                "Next": "Resume",
            },
            "Resume": task("checkout_resume", {**IDS, "decision.$": "$.decision"}, OutputPath="$.result", End=True),
            "Abandon": task("checkout_abandon", {**payload, "error.$": "$.error"}, OutputPath="$.result", End=True),
        },
    }


MACHINES = {"checkout.asl.json": checkout, "checkout_await.asl.json": checkout_await}


def render(name: str) -> str:
    return json.dumps(MACHINES[name](), indent=2) + "\n"


if __name__ == "__main__":
    for file in MACHINES:
        (HERE / file).write_text(render(file))
        print(f"wrote stepfunctions/{file}")
