"""The operations resources, derived from the template and the app's functions (never listed by
hand, so a queue, table, state machine or function someone adds is watched too): one alarm per
thing that can go wrong, each notifying the alerts topic, and a dashboard of the same.

- API: 5XX and 4XX as rates of all requests (metric math), p99 latency.
- Each Lambda function: Errors and Throttles.
- Each table: throttled reads and writes, and system errors (metric math over the operations).
- Each dead-letter queue: a message visible; the failed-transactions queue: its oldest message's age.
- Each state machine: failed and timed-out executions.

Used by infra/for_stage.py (`make package`) and infra/infra_template.py (`make infra`).
"""

from __future__ import annotations

import json
import re
from typing import Any

API_NAME = "freshcart"  # Chalice names the REST API after the app (both roads)
API_STAGE = "api"
PERIOD = 300
RATE_5XX_PERCENT = 1
RATE_4XX_PERCENT = 10
P99_MS = 2000
OLDEST_FAILED_SECONDS = 900
TABLE_OPERATIONS = ("GetItem", "PutItem", "UpdateItem", "DeleteItem", "Query", "BatchGetItem", "TransactWriteItems")
ACTIONS = [{"Ref": "AlertsTopic"}]


def _alarm(name: str, description: str, **props: Any) -> dict[str, Any]:
    return {
        "Type": "AWS::CloudWatch::Alarm",
        "Properties": {
            "AlarmName": {"Fn::Sub": f"freshcart-${{Stage}}-{name}"},
            "AlarmDescription": description,
            "EvaluationPeriods": 1,
            "TreatMissingData": "notBreaching",
            "AlarmActions": ACTIONS,
            "OKActions": ACTIONS,
            **props,
        },
    }


def _metric(id_: str, namespace: str, name: str, dims: dict[str, Any], stat: str = "Sum") -> dict[str, Any]:
    return {
        "Id": id_,
        "ReturnData": False,
        "MetricStat": {
            "Metric": {
                "Namespace": namespace,
                "MetricName": name,
                "Dimensions": [{"Name": k, "Value": v} for k, v in dims.items()],
            },
            "Period": PERIOD,
            "Stat": stat,
        },
    }


def _math(expression: str, label: str, *metrics: dict[str, Any]) -> list[dict[str, Any]]:
    return [*metrics, {"Id": "e", "Expression": expression, "Label": label, "ReturnData": True}]


def _simple(namespace: str, metric: str, dims: dict[str, Any], stat: str, threshold: float) -> dict[str, Any]:
    return {
        "Namespace": namespace,
        "MetricName": metric,
        "Dimensions": [{"Name": k, "Value": v} for k, v in dims.items()],
        "Statistic": stat,
        "Period": 60 if namespace == "AWS/SQS" else PERIOD,
        "Threshold": threshold,
        "ComparisonOperator": "GreaterThanThreshold",
    }


def _logical(text: str) -> str:
    return "".join(p[:1].upper() + p[1:] for p in re.split(r"[^A-Za-z0-9]", text) if p)


def alarms(resources: dict[str, Any], functions: dict[str, Any]) -> dict[str, Any]:
    """Alarm resources by logical id. ``functions``: logical id -> FunctionName (a Fn::Sub)."""
    out: dict[str, Any] = {}
    api = {"ApiName": API_NAME, "Stage": API_STAGE}
    for kind, pct in (("5XX", RATE_5XX_PERCENT), ("4XX", RATE_4XX_PERCENT)):
        out[f"Api{kind}RateAlarm"] = _alarm(
            f"api-{kind.lower()}-rate",
            f"More than {pct} % of API requests answered {kind} over {PERIOD // 60} minutes.",
            Metrics=_math(
                "100 * errors / MAX([errors, requests])",
                f"{kind} %",
                _metric("errors", "AWS/ApiGateway", f"{kind}Error", api),
                _metric("requests", "AWS/ApiGateway", "Count", api),
            ),
            Threshold=pct,
            ComparisonOperator="GreaterThanThreshold",
        )
    out["ApiLatencyP99Alarm"] = _alarm(
        "api-latency-p99",
        f"API p99 latency above {P99_MS} ms over {PERIOD // 60} minutes.",
        Namespace="AWS/ApiGateway",
        MetricName="Latency",
        Dimensions=[{"Name": k, "Value": v} for k, v in api.items()],
        ExtendedStatistic="p99",
        Period=PERIOD,
        Threshold=P99_MS,
        ComparisonOperator="GreaterThanThreshold",
    )
    for logical, name in sorted(functions.items()):
        for metric in ("Errors", "Throttles"):
            out[f"{logical}{metric}Alarm"] = _alarm(
                f"{logical.lower()}-{metric.lower()}",
                f"Lambda {metric.lower()} in {logical}.",
                **_simple("AWS/Lambda", metric, {"FunctionName": name}, "Sum", 0),
            )
    redrive_targets = {
        r["Properties"]["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][0]
        for r in resources.values()
        if r.get("Type") == "AWS::SQS::Queue" and "RedrivePolicy" in r.get("Properties", {})
    }
    watched = {  # queues a hand-written alarm already watches (with its own runbook text)
        d["Value"]["Fn::GetAtt"][0]
        for r in resources.values()
        if r.get("Type") == "AWS::CloudWatch::Alarm"
        for d in r["Properties"].get("Dimensions", [])
        if isinstance(d.get("Value"), dict) and "Fn::GetAtt" in d["Value"]
    }
    for logical, r in sorted(resources.items()):
        kind = r.get("Type")
        if kind == "AWS::DynamoDB::Table":
            table = {"TableName": {"Ref": logical}}
            out[f"{logical}ThrottleAlarm"] = _alarm(
                f"{_logical(logical).lower()}-throttles",
                f"{logical}: throttled reads or writes.",
                Metrics=_math(
                    "reads + writes",
                    "throttle events",
                    _metric("reads", "AWS/DynamoDB", "ReadThrottleEvents", table),
                    _metric("writes", "AWS/DynamoDB", "WriteThrottleEvents", table),
                ),
                Threshold=0,
                ComparisonOperator="GreaterThanThreshold",
            )
            ops = [
                _metric(f"m{i}", "AWS/DynamoDB", "SystemErrors", {**table, "Operation": op})
                for i, op in enumerate(TABLE_OPERATIONS)
            ]
            out[f"{logical}SystemErrorsAlarm"] = _alarm(
                f"{_logical(logical).lower()}-system-errors",
                f"{logical}: DynamoDB system errors (500s).",
                Metrics=_math(" + ".join(m["Id"] for m in ops), "system errors", *ops),
                Threshold=0,
                ComparisonOperator="GreaterThanThreshold",
            )
        elif (
            kind == "AWS::SQS::Queue"
            and (logical in redrive_targets or logical.endswith("DLQ"))
            and logical not in watched
        ):
            out[f"{logical}DepthAlarm"] = _alarm(
                f"{_logical(logical).lower()}-depth",
                f"A message is waiting in the dead-letter queue {logical}: read it, fix, redrive (README: Operations).",
                **_simple(
                    "AWS/SQS",
                    "ApproximateNumberOfMessagesVisible",
                    {"QueueName": {"Fn::GetAtt": [logical, "QueueName"]}},
                    "Maximum",
                    0,
                ),
            )
        elif kind == "AWS::StepFunctions::StateMachine":
            for metric in ("ExecutionsFailed", "ExecutionsTimedOut"):
                out[f"{logical}{metric}Alarm"] = _alarm(
                    f"{_logical(logical).lower()}-{metric.lower()}",
                    f"{logical}: {metric}.",
                    **_simple("AWS/States", metric, {"StateMachineArn": {"Ref": logical}}, "Sum", 0),
                )
    if "FailedTransactionsQueue" in resources:
        out["FailedTransactionsOldestAlarm"] = _alarm(
            "failed-transactions-oldest",
            f"A deferred payment has waited more than {OLDEST_FAILED_SECONDS} s for its retry.",
            **_simple(
                "AWS/SQS",
                "ApproximateAgeOfOldestMessage",
                {"QueueName": {"Fn::GetAtt": ["FailedTransactionsQueue", "QueueName"]}},
                "Maximum",
                OLDEST_FAILED_SECONDS,
            ),
        )
    return out


def dashboard(alarm_names: list[str]) -> dict[str, Any]:
    """One dashboard: the alarms' states, and the API's traffic, errors and latency. The alarms are
    named by ARN (their names are fixed), not by reference."""
    api = ["ApiName", API_NAME, "Stage", API_STAGE]
    widgets: list[dict[str, Any]] = [
        {
            "type": "alarm",
            "x": 0,
            "y": 0,
            "width": 24,
            "height": 6,
            "properties": {
                "title": "Alarms",
                "alarms": [
                    f"arn:${{AWS::Partition}}:cloudwatch:${{AWS::Region}}:${{AWS::AccountId}}:alarm:{n}"
                    for n in alarm_names
                ],
            },
        },
        {
            "type": "metric",
            "x": 0,
            "y": 6,
            "width": 12,
            "height": 6,
            "properties": {
                "title": "API requests and errors",
                "region": "${AWS::Region}",
                "stat": "Sum",
                "period": 60,
                "metrics": [["AWS/ApiGateway", m, *api] for m in ("Count", "4XXError", "5XXError")],
            },
        },
        {
            "type": "metric",
            "x": 12,
            "y": 6,
            "width": 12,
            "height": 6,
            "properties": {
                "title": "API latency",
                "region": "${AWS::Region}",
                "period": 60,
                "metrics": [["AWS/ApiGateway", "Latency", *api, {"stat": s}] for s in ("p50", "p99")],
            },
        },
    ]
    return {
        "Type": "AWS::CloudWatch::Dashboard",
        "Properties": {
            "DashboardName": {"Fn::Sub": "freshcart-${Stage}"},
            "DashboardBody": {"Fn::Sub": json.dumps({"widgets": widgets})},
        },
    }


def add(template: dict[str, Any], functions: dict[str, Any]) -> dict[str, Any]:
    """``template`` with the alarms and the dashboard added (in place; returned)."""
    resources = template["Resources"]
    generated = alarms(resources, functions)
    clash = set(generated) & set(resources)
    if clash:
        raise ValueError(f"infra/ops.py would overwrite {sorted(clash)}")
    resources.update(generated)
    resources["OperationsDashboard"] = dashboard(
        sorted(a["Properties"]["AlarmName"]["Fn::Sub"] for a in generated.values())
    )
    return template
