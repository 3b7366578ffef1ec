"""The 5-minute health monitor over real (moto) CloudWatch metrics and the dead-letter queues: an
alert when the verdict changes, once, and once on recovery; the verdict survives a new container.
And the local stack's metrics path: EMF lines reach the local CloudWatch."""

from __future__ import annotations

import json
from typing import Any

import pytest

from chalicelib import bootstrap
from chalicelib.core import aws, metrics
from chalicelib.core.config import get_settings
from chalicelib.ops import health
from chalicelib.ops.repo import HealthStateRepo
from freshcart_local import metrics as local_metrics

pytestmark = pytest.mark.usefixtures("aws")


@pytest.fixture
def alerts() -> Any:
    sqs, sns = aws.client("sqs"), aws.client("sns")
    url = sqs.create_queue(QueueName="health-alerts-watch")["QueueUrl"]
    sns.subscribe(
        TopicArn=get_settings().alerts_topic_arn,
        Protocol="sqs",
        Endpoint="arn:aws:sqs:us-east-1:123456789012:health-alerts-watch",
        Attributes={"RawMessageDelivery": "true"},
    )

    def received() -> list[dict[str, Any]]:
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        for m in got:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
        return [json.loads(m["Body"]) for m in got]

    return received


def run() -> dict[str, Any]:
    from app import app
    from freshcart_local.scheduler import run_job

    report: dict[str, Any] = run_job(app, "health_monitor", "us-east-1")
    return report


def test_alerts_once_when_it_turns_bad_and_once_when_it_recovers(alerts: Any) -> None:
    s = get_settings()
    report = run()
    assert report["overall_status"] == "healthy" and report["deadLetters"] == dict.fromkeys(
        health.dead_letter_queues(), 0
    )
    assert alerts() == []  # healthy from the start: nothing to say
    dlq = aws.queue_url(f"{s.notifications_queue}-dlq")
    aws.client("sqs").send_message(QueueUrl=dlq, MessageBody="x")
    aws.client("cloudwatch").put_metric_data(
        Namespace="AWS/Lambda", MetricData=[{"MetricName": "Errors", "Value": 12, "Unit": "Count"}]
    )
    report = run()
    assert report["overall_status"] == "unhealthy"
    failing = {c["name"]: c["value"] for c in report["checks"] if not c["ok"]}
    assert failing == {"lambda_errors": 12, "dead_letters": 1}
    (alert,) = alerts()
    assert alert["type"] == health.DEGRADED and alert["data"]["deadLetters"][f"{s.notifications_queue}-dlq"] == 1
    bootstrap.reset()  # a new container: the verdict is read back from S3, not memory
    assert run()["overall_status"] == "unhealthy"
    assert alerts() == []  # still bad: no second alert
    aws.client("sqs").purge_queue(QueueUrl=dlq)
    health_now = health.check(metrics=_Fixed({"lambda_errors": 0.0}))  # the errors aged out of the window
    assert health_now["overall_status"] == "healthy"
    (recovered,) = alerts()
    assert recovered["type"] == health.RECOVERED


class _Fixed(health.Metrics):
    def __init__(self, values: dict[str, float]) -> None:
        self.fixed = values

    def values(self, window: int = health.WINDOW_SECONDS) -> dict[str, float]:
        return {name: self.fixed.get(name, 0.0) for name, *_ in health.METRIC_CHECKS}


def test_api_latency_is_the_average_of_the_window() -> None:
    cw = aws.client("cloudwatch")
    dims = [{"Name": k, "Value": v} for k, v in health.API_DIMENSIONS.items()]
    cw.put_metric_data(
        Namespace="AWS/ApiGateway",
        MetricData=[
            {"MetricName": "Latency", "Value": v, "Unit": "Milliseconds", "Dimensions": dims} for v in (900, 1500)
        ],
    )
    values = health.Metrics().values()
    assert values["api_latency_avg_ms"] == 1200
    assert {c["name"]: c["ok"] for c in health.check()["checks"]}["api_latency_avg_ms"] is False


def test_emf_lines_reach_the_local_cloudwatch_as_the_app_and_api_gateway_metrics() -> None:
    line = metrics.line({"Requests": (1, "Count"), "Latency": (42.0, "Milliseconds")}, {"Service": "api"})
    doc = json.loads(line)
    assert doc["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "freshcart" and doc["Latency"] == 42.0
    local_metrics.start("local")
    try:
        metrics.emit({"Requests": (1, "Count"), "Latency": (42.0, "Milliseconds")}, Service="api")
        local_metrics.lambda_invoked("checkout_charge", failed=True)
    finally:
        local_metrics.stop()
    cw = aws.client("cloudwatch")
    listed = {(m["Namespace"], m["MetricName"]) for m in cw.list_metrics()["Metrics"]}
    assert {("freshcart", "Requests"), ("AWS/ApiGateway", "Count"), ("AWS/ApiGateway", "Latency")} <= listed
    assert ("AWS/Lambda", "Errors") in listed
    assert health.Metrics().values()["lambda_errors"] == 1
    assert health.Metrics().values()["api_latency_avg_ms"] == 42.0


def test_an_emf_line_is_one_json_object_cloudwatch_logs_turns_into_metrics() -> None:
    doc = json.loads(metrics.line({"Latency": (12.5, "Milliseconds"), "Requests": (1, "Count")}, {"Service": "api"}))
    aws_block = doc.pop("_aws")
    assert isinstance(aws_block["Timestamp"], int)
    assert aws_block["CloudWatchMetrics"] == [
        {
            "Namespace": "freshcart",
            "Dimensions": [["Service"]],
            "Metrics": [{"Name": "Latency", "Unit": "Milliseconds"}, {"Name": "Requests", "Unit": "Count"}],
        }
    ]
    assert doc == {"Service": "api", "Latency": 12.5, "Requests": 1}
    assert metrics.parse("not json") is None and metrics.parse('{"a": 1}') is None


def test_a_metric_never_fails_the_work_it_measures(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(line: str) -> None:
        raise OSError("stdout closed")

    monkeypatch.setattr(metrics, "sink", broken)
    metrics.count("OrdersPlaced", Service="orders")  # no exception


def test_each_check_has_a_status_and_the_verdict_is_kept_in_the_archive() -> None:
    report = health.check(metrics=_Fixed({"dynamodb_user_errors": 10.0}))
    assert report["overall_status"] == "unhealthy"
    by_name = {c["name"]: c for c in report["checks"]}
    assert set(by_name) == {"api_latency_avg_ms", "lambda_errors", "dynamodb_user_errors", "dead_letters"}
    assert {k: by_name["dynamodb_user_errors"][k] for k in ("status", "value", "threshold")} == {
        "status": "failing",
        "value": 10.0,
        "threshold": 10.0,
    }
    assert by_name["lambda_errors"]["status"] == "ok"
    body = aws.client("s3").get_object(Bucket=get_settings().archive_bucket, Key="ops/health/state.json")["Body"]
    assert json.loads(body.read())["status"] == "unhealthy"


def test_an_unreadable_state_is_taken_as_a_first_run(alerts: Any) -> None:
    s3 = aws.client("s3")
    s3.put_object(Bucket=get_settings().archive_bucket, Key="ops/health/state.json", Body=b"{not json")
    assert health.check(metrics=_Fixed({}))["overall_status"] == "healthy"
    assert alerts() == []  # a first healthy run says nothing
    assert HealthStateRepo().get() == "healthy"  # and the object is whole again
