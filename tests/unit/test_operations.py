"""Operations, proved over the packaged template (Chalice's SAM with the merge template merged, as
`make package` builds it, without the zip): queues and their DLQs, alarms and their actions, log
retention and tracing on every function, no TTL on money."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from infra import ops
from infra.for_stage import packaged_template

FINANCIAL_TABLES = ("OrdersTable", "PaymentsTable", "TransactionsTable")


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return packaged_template("dev")


def of_type(template: dict[str, Any], kind: str) -> dict[str, Any]:
    return {k: v for k, v in template["Resources"].items() if v.get("Type") == kind}


def dead_letter_queues(template: dict[str, Any]) -> set[str]:
    queues = of_type(template, "AWS::SQS::Queue")
    targets = {
        q["Properties"]["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][0]
        for q in queues.values()
        if "RedrivePolicy" in q["Properties"]
    }
    destinations = {  # the stream mappings' on-failure destination
        m["Properties"]["DestinationConfig"]["OnFailure"]["Destination"]["Fn::GetAtt"][0]
        for m in of_type(template, "AWS::Lambda::EventSourceMapping").values()
        if "DestinationConfig" in m["Properties"]
    }
    return targets | destinations


def alarmed_queues(template: dict[str, Any]) -> set[str]:
    return {
        d["Value"]["Fn::GetAtt"][0]
        for a in of_type(template, "AWS::CloudWatch::Alarm").values()
        if a["Properties"].get("MetricName") == "ApproximateNumberOfMessagesVisible"
        for d in a["Properties"]["Dimensions"]
        if isinstance(d["Value"], dict)
    }


def problems(template: dict[str, Any]) -> list[str]:
    found = []
    queues = of_type(template, "AWS::SQS::Queue")
    dlqs = dead_letter_queues(template)
    for name, q in queues.items():
        if "RedrivePolicy" not in q["Properties"] and name not in dlqs:
            found.append(f"queue {name} has no DLQ and is none")
    for name in sorted(dlqs - alarmed_queues(template)):
        found.append(f"DLQ {name} has no alarm")
    for name, a in of_type(template, "AWS::CloudWatch::Alarm").items():
        if not a["Properties"].get("AlarmActions"):
            found.append(f"alarm {name} has no action")
    groups = {
        json.dumps(g["Properties"]["LogGroupName"]): g["Properties"].get("RetentionInDays")
        for g in of_type(template, "AWS::Logs::LogGroup").values()
    }
    for name, f in of_type(template, "AWS::Serverless::Function").items():
        if not groups.get(json.dumps({"Fn::Sub": f"/aws/lambda/${{{name}}}"})):
            found.append(f"function {name} has no log group with a retention")
        if f["Properties"].get("Tracing") != "Active":
            found.append(f"function {name} is not traced")
    for name in FINANCIAL_TABLES:
        if "TimeToLiveSpecification" in template["Resources"][name]["Properties"]:
            found.append(f"table {name} holds money and has a TTL")
    return found


def test_the_packaged_template_is_operable(template: dict[str, Any]) -> None:
    assert problems(template) == []
    alarms = of_type(template, "AWS::CloudWatch::Alarm")
    # what the issue names, each present
    names = set(alarms)
    assert {"Api5XXRateAlarm", "Api4XXRateAlarm", "ApiLatencyP99Alarm", "FailedTransactionsOldestAlarm"} <= names
    functions = of_type(template, "AWS::Serverless::Function")
    assert all(f"{f}ErrorsAlarm" in names and f"{f}ThrottlesAlarm" in names for f in functions)
    for table in of_type(template, "AWS::DynamoDB::Table"):
        assert {f"{table}ThrottleAlarm", f"{table}SystemErrorsAlarm"} <= names
    for machine in of_type(template, "AWS::StepFunctions::StateMachine"):
        assert {f"{machine}ExecutionsFailedAlarm", f"{machine}ExecutionsTimedOutAlarm"} <= names
    rate = alarms["Api5XXRateAlarm"]["Properties"]
    assert "Expression" in rate["Metrics"][-1] and rate["Threshold"] == ops.RATE_5XX_PERCENT  # a rate, not a sum
    body = json.loads(template["Resources"]["OperationsDashboard"]["Properties"]["DashboardBody"]["Fn::Sub"])
    assert len(body["widgets"][0]["properties"]["alarms"]) == len(alarms) - 1  # all but the hand-written one
    assert template["Resources"]["RestAPI"]["Properties"]["TracingEnabled"] is True


@pytest.mark.parametrize(
    "breakage, expected",
    [
        ("queue_without_dlq", "queue Orphan has no DLQ and is none"),
        ("dlq_without_alarm", "DLQ RefundsQueueDLQ has no alarm"),
        ("alarm_without_action", "alarm Api5XXRateAlarm has no action"),
        ("function_without_retention", "function CheckoutCharge has no log group with a retention"),
        ("ttl_on_money", "table TransactionsTable holds money and has a TTL"),
    ],
)
def test_each_check_catches_its_breakage(template: dict[str, Any], breakage: str, expected: str) -> None:
    broken = copy.deepcopy(template)
    r = broken["Resources"]
    if breakage == "queue_without_dlq":
        r["Orphan"] = {"Type": "AWS::SQS::Queue", "Properties": {}}
    elif breakage == "dlq_without_alarm":
        del r["RefundsQueueDLQDepthAlarm"]
    elif breakage == "alarm_without_action":
        r["Api5XXRateAlarm"]["Properties"]["AlarmActions"] = []
    elif breakage == "function_without_retention":
        del r["CheckoutChargeLogGroup"]["Properties"]["RetentionInDays"]
    else:
        r["TransactionsTable"]["Properties"]["TimeToLiveSpecification"] = {"AttributeName": "x", "Enabled": True}
    assert expected in problems(broken)
