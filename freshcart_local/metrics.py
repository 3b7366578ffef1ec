"""The local stack's CloudWatch side: what Lambda and API Gateway do with metrics on AWS.

- The app's EMF lines (chalicelib/core/metrics.py) are printed as in Lambda and also put into the
  local CloudWatch (moto) by a background thread, batched, never on or failing a request.
- API Gateway's own metrics (``AWS/ApiGateway`` Count, 4XXError, 5XXError, Latency by ApiName and
  Stage) are derived from the API handler's per-request line, as the local API stands in for API
  Gateway; Lambda's (``AWS/Lambda`` Invocations and Errors per FunctionName) come
  from the local runtime's invocations (freshcart_local/runtime.py).

So the health monitor's queries of the real metric names see local traffic.
"""

from __future__ import annotations

import queue
import threading
from typing import Any

from chalicelib.core import metrics

API = [{"Name": "ApiName", "Value": "freshcart"}, {"Name": "Stage", "Value": "api"}]
GATEWAY = {"Requests": "Count", "Errors4xx": "4XXError", "Errors5xx": "5XXError", "Latency": "Latency"}
BATCH = 500  # PutMetricData takes up to 1,000 entries per call

_queue: queue.Queue[dict[str, Any] | None] = queue.Queue()
_thread: threading.Thread | None = None
_stage = "local"


def _gateway(data: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for d in data:
        dims = {x["Name"]: x["Value"] for x in d["Dimensions"]}
        if d["Namespace"] == metrics.NAMESPACE and dims.get("Service") == "api" and d["MetricName"] in GATEWAY:
            out.append({**d, "Namespace": "AWS/ApiGateway", "MetricName": GATEWAY[d["MetricName"]], "Dimensions": API})
    return out


def forward(line: str) -> None:
    """The sink the local stack installs: to the local CloudWatch, as Lambda's log would take it
    there (not printed: the stack's console has the request lines already)."""
    data = metrics.parse(line)
    if data:
        for d in data + _gateway(data):
            _queue.put(d)


def lambda_invoked(name: str, failed: bool) -> None:
    if _thread is None:  # no local stack forwarding (an in-process test)
        return
    dims = [{"Name": "FunctionName", "Value": f"freshcart-{_stage}-{name}"}]
    for metric, value in (("Invocations", 1.0), ("Errors", float(failed))):
        # Per function only: Lambda also publishes an account-wide series, but moto answers a query
        # without dimensions with every series of the name (their sum), which is that total.
        _queue.put(
            {"Namespace": "AWS/Lambda", "MetricName": metric, "Value": value, "Unit": "Count", "Dimensions": dims}
        )


def _run() -> None:
    from chalicelib.core import aws, logs

    log = logs.get_logger("freshcart.local.metrics")
    stop = False
    while not stop:
        first = _queue.get()
        batch = [] if first is None else [first]
        stop = first is None
        while len(batch) < BATCH:
            try:
                item = _queue.get_nowait()
            except queue.Empty:
                break
            if item is None:
                stop = True
                break
            batch.append(item)
        by_namespace: dict[str, list[dict[str, Any]]] = {}
        for d in batch:
            by_namespace.setdefault(d["Namespace"], []).append({k: v for k, v in d.items() if k != "Namespace"})
        for namespace, data in by_namespace.items():
            try:
                aws.client("cloudwatch").put_metric_data(Namespace=namespace, MetricData=data)
            except Exception as exc:
                log.warning("metrics not forwarded", extra={"error": str(exc)[:200], "count": len(data)})


def start(stage: str = "local") -> None:
    global _thread, _stage
    _stage = stage
    metrics.sink = forward
    if _thread is None or not _thread.is_alive():
        while not _queue.empty():  # nothing from before this stack
            _queue.get_nowait()
        _thread = threading.Thread(target=_run, name="metrics-forwarder", daemon=True)
        _thread.start()


def stop(timeout: float = 2.0) -> None:
    """Flush what is queued, then stop."""
    global _thread
    metrics.sink = metrics._stdout
    if _thread is not None:
        _queue.put(None)
        _thread.join(timeout)
        _thread = None
