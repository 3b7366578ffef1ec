"""Health: the 5-minute monitor over real metrics and the dead-letter queues (alerting on a change
of verdict), and ``GET /health``."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

from chalicelib.core import aws, events, logs
from chalicelib.core.config import get_settings, resource_name
from chalicelib.ops.repo import HealthStateRepo

log = logs.get_logger("freshcart.health")

DEGRADED, RECOVERED = "HealthDegraded", "HealthRecovered"
WINDOW_SECONDS = 300
API_DIMENSIONS: dict[str, str] = {"ApiName": "freshcart", "Stage": "api"}
# (check, namespace, metric, dimensions, threshold): seed 004's health monitor, over real metrics.
METRIC_CHECKS: tuple[tuple[str, str, str, dict[str, str], float], ...] = (
    ("api_latency_avg_ms", "AWS/ApiGateway", "Latency", API_DIMENSIONS, 1000.0),
    ("lambda_errors", "AWS/Lambda", "Errors", {}, 10.0),
    ("dynamodb_user_errors", "AWS/DynamoDB", "UserErrors", {}, 10.0),
)


def dead_letter_queues() -> list[str]:
    s = get_settings()
    return [
        f"{s.notifications_queue}-dlq",
        resource_name(s.stage, "stream-events-dlq"),
        f"{s.stripe_events_queue}-dlq",
        f"{s.failed_transactions_queue}-dlq",
        resource_name(s.stage, "refunds-dlq"),
    ]


class Metrics:
    """CloudWatch, read: one GetMetricData over the last window for every check."""

    def values(self, window: int = WINDOW_SECONDS) -> dict[str, float]:
        end = datetime.now(UTC)
        queries = []
        for i, (_, namespace, metric, dims, _) in enumerate(METRIC_CHECKS):
            for stat in ("Sum", "SampleCount"):
                queries.append(
                    {
                        "Id": f"q{i}{stat.lower()}",
                        "MetricStat": {
                            "Metric": {
                                "Namespace": namespace,
                                "MetricName": metric,
                                "Dimensions": [{"Name": k, "Value": v} for k, v in dims.items()],
                            },
                            "Period": 60,
                            "Stat": stat,
                        },
                    }
                )
        resp = aws.client("cloudwatch").get_metric_data(
            MetricDataQueries=queries, StartTime=end - timedelta(seconds=window), EndTime=end + timedelta(seconds=60)
        )  # to the end of the current minute, whose points are still coming in
        got = {r["Id"]: sum(r.get("Values", [])) for r in resp.get("MetricDataResults", [])}
        out = {}
        for i, (name, _, metric, _, _) in enumerate(METRIC_CHECKS):
            total, samples = got.get(f"q{i}sum", 0.0), got.get(f"q{i}samplecount", 0.0)
            out[name] = (total / samples if samples else 0.0) if metric == "Latency" else total
        return out


def _check(name: str, value: float, threshold: float) -> dict[str, Any]:
    """One check: healthy while ``value`` stays under ``threshold``."""
    ok = value < threshold
    return {"name": name, "status": "ok" if ok else "failing", "value": value, "threshold": threshold, "ok": ok}


def check(metrics: Metrics | None = None, state: HealthStateRepo | None = None) -> dict[str, Any]:
    """The 5-minute monitor: dead-letter depths and the metric checks -> ``overall_status``; an
    alert only when the verdict changes (degraded, or recovered), never every run while it stays."""
    sqs = aws.client("sqs")
    depths: dict[str, int] = {}
    for name in dead_letter_queues():
        attrs = sqs.get_queue_attributes(QueueUrl=aws.queue_url(name), AttributeNames=["ApproximateNumberOfMessages"])
        depths[name] = int(attrs["Attributes"]["ApproximateNumberOfMessages"])
    values = (metrics or Metrics()).values()
    checks = [_check(name, round(values[name], 3), limit) for name, _, _, _, limit in METRIC_CHECKS]
    checks.append(_check("dead_letters", sum(depths.values()), 1))
    healthy = all(c["ok"] for c in checks)
    status = "healthy" if healthy else "unhealthy"
    report = {"overall_status": status, "healthy": healthy, "checks": checks, "deadLetters": depths}
    store = state or HealthStateRepo()
    previous = store.get()
    if previous != status and not (previous is None and healthy):
        failing = [c for c in checks if not c["ok"]]
        kind = RECOVERED if healthy else DEGRADED
        log.warning("health changed", extra={"status": status, "failing": failing})
        topic = get_settings().alerts_topic_arn
        if topic:
            events.publish(
                topic, kind, {"status": status, "previous": previous, "failing": failing, "deadLetters": depths}
            )
    if previous != status:
        store.put(status)
    return report


def _timed(name: str, probe: Any) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        status, detail = probe()
    except Exception as exc:  # a check reports its dependency's failure; it never raises
        status, detail = "down", f"{type(exc).__name__}: {str(exc)[:200]}"
    check = {"name": name, "status": status, "latencyMs": int((time.perf_counter() - started) * 1000)}
    return {**check, "detail": detail} if detail is not None else check


def _dynamodb() -> tuple[str, Any]:
    """Every domain's table, asked by its own repository (``ping()``), in one BatchGetItem."""
    from chalicelib import bootstrap
    from chalicelib.core.dynamo import read_all

    repos = bootstrap.repositories()
    read_all(*(repo.ping() for repo in repos.values()))
    return "ok", {"tables": sorted(repos)}


def _queues() -> tuple[str, Any]:
    sqs = aws.client("sqs")
    depths = {}
    for name in dead_letter_queues():
        attrs = sqs.get_queue_attributes(QueueUrl=aws.queue_url(name), AttributeNames=["ApproximateNumberOfMessages"])
        depths[name] = int(attrs["Attributes"]["ApproximateNumberOfMessages"])
    return ("degraded" if any(depths.values()) else "ok"), {"deadLetters": depths}


def _stripe() -> tuple[str, Any]:
    from chalicelib.payments import gateway

    gateway.client().payment_intents.list(params={"limit": 1})
    return "ok", None


def _states() -> tuple[str, Any]:
    arn = get_settings().checkout_state_machine_arn
    if not arn:
        return "down", "CHECKOUT_STATE_MACHINE_ARN is not set"
    status = aws.client("stepfunctions").describe_state_machine(stateMachineArn=arn).get("status", "ACTIVE")
    return ("ok" if status == "ACTIVE" else "down"), None


def report(admin: bool) -> dict[str, Any]:
    """Public: liveness only (no dependency is called for anonymous callers). Admins: each check."""
    if not admin:
        return {"status": "ok"}
    checks = [
        _timed(n, p)
        for n, p in (("dynamodb", _dynamodb), ("queues", _queues), ("stripe", _stripe), ("stepfunctions", _states))
    ]
    worst = (
        "down"
        if any(c["status"] == "down" for c in checks)
        else "degraded"
        if any(c["status"] == "degraded" for c in checks)
        else "ok"
    )
    return {"status": worst, "checks": checks}
