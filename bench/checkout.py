"""Payment/checkout figures for `make bench` (printed as `name: value`, never asserted).

Two runs, each against the real local stack (moto + localstripe + the event dispatcher + Chalice's
local API, over HTTP):

* ``python -m bench.checkout`` (started by :func:`run`) runs the stack in-process
  (``freshcart_local.stack.LocalStack``) with instruments on it, and counts:

  - ``aws_calls_pay_request``: AWS calls made by ONE ``POST /orders/{id}/pay`` handler (botocore
    hooks on the app's clients, as bench/__main__.py counts ``aws_calls_*``; the authorizer's
    GetItem is its own Lambda and is not included).
  - ``lambda_invocations_checkout``: Lambda invocations of one successful (frictionless) checkout:
    the Express execution's Lambda tasks (its history: ``TaskScheduled`` with resourceType
    lambda) plus the functions the checkout's writes and events trigger, counted where the local
    dispatcher invokes them (DynamoDB stream handlers, SQS consumers) and the API Lambda serving
    Stripe's webhook. The client's own requests (pay, polls) are not in it; they are in the cost.
    (SQS consumers get what one receive returns: 1 or 2 handle_notifications batches per order.)
  - ``sfn_transitions_checkout``: ``*StateEntered`` events in that Express execution's history;
    ``sfn_transitions_checkout_await``: the same for the Standard wait machine in a 3-D Secure
    checkout (card 4000002760003184, authenticated at local Stripe), the only machine billed per
    transition.
  - ``cost_per_1000_orders_usd``: AWS list prices (``PRICES``) x what one order really used, from
    placing it to the last event it caused: every API request (``CLIENT_POLLS`` polls of
    ``GET /orders/{id}/payment`` assumed, plus Stripe's webhook), every Lambda invocation with its
    duration measured here (billed per ms at the memory in .chalice/config.json), each Express
    execution's duration (history timestamps, billed per 100 ms at 64 MB), DynamoDB WRU/RRU
    computed from every call and the sizes of the items it touched (moto's ReturnConsumedCapacity
    is a constant, so: item size by DynamoDB's rules, 1 WRU per KB written, x2 in a transaction,
    GSI writes included, 1 RRU per 4 KB read strongly, 0.5 eventually), SNS publishes (the app's,
    and the state machine's from its history), SQS requests (sends, SNS deliveries, the event
    source mappings' receives and deletes), Firehose records (the archive; 5 KB each as billed),
    S3 PUTs, Secrets Manager calls and CloudWatch Logs ingestion (the app's log lines at INFO,
    counted, plus Lambda's START/END/REPORT lines).
    ``cost_breakdown_*`` lines show the model.

  Assumptions: the client polls ``GET /orders/{id}/payment`` once a second and needs CLIENT_POLLS
  (locally it is done in ~0.5 s; Stripe's real latency makes it ~2 s). Lambda durations are this
  machine's, against moto and localstripe (real Stripe calls take longer: the tasks that call it
  would cost more GB-s), less the time the instruments themselves took. An SNS delivery to a
  queue is counted as one SQS request; the event source mappings' idle long polls are a fixed
  cost, not a per-order one, and are left out (their receives that returned messages and their
  deletes are in). DynamoDB Streams reads by Lambda are free. Storage (DynamoDB, S3) and API
  Gateway data transfer are not per-request and are left out.

* :func:`seconds_local` starts ``python -m freshcart_local run`` in a subprocess, as a developer
  does, and times ``checkout_seconds_local``: POST pay -> GET /orders/{id} says PAID, over HTTP,
  median of ``CHECKOUTS`` checkouts (one fresh customer each: the fraud rules hold a 6th order in
  an hour).

Warm containers throughout: a first checkout warms every client and cache before anything is
counted, so per-container reads (the Stripe and JWT secrets) cost nothing per order.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parent.parent
ENV = dict(os.environ)  # before bench/__main__.py points this process at its own moto
CHECKOUTS = 10
CLIENT_POLLS = 3  # GET /orders/{id}/payment once a second after paying: ~2 s with Stripe's real latency
IDLE_SECONDS = 3.0  # nothing ran for this long: the checkout's last event has been handled
PINCODE = "411001"
PASSWORD = "correct-horse-42"
THREE_DS_CARD = "4000002760003184"  # localstripe: requires_action until POST .../_authenticate

# AWS list prices, us-east-1, USD, free tiers ignored.
PRICES = {
    # https://aws.amazon.com/api-gateway/pricing/ REST APIs, first 333 million requests a month
    "apigateway_request": 3.50 / 1e6,
    # https://aws.amazon.com/lambda/pricing/ requests, and duration x86 per GB-second
    "lambda_request": 0.20 / 1e6,
    "lambda_gb_second": 0.0000166667,
    # https://aws.amazon.com/step-functions/pricing/ Express: requests, and duration per GB-second
    # (first 1,000 GB-hours), billed in 64 MB chunks and 100 ms increments; Standard: transitions
    "sfn_express_request": 1.00 / 1e6,
    "sfn_express_gb_second": 0.00001667,
    "sfn_standard_transition": 0.025 / 1e3,
    # https://aws.amazon.com/dynamodb/pricing/on-demand/ on-demand write and read request units,
    # as cut by half on 2024-11-01 (before: 1.25 and 0.25)
    "dynamodb_wru": 0.625 / 1e6,
    "dynamodb_rru": 0.125 / 1e6,
    # https://aws.amazon.com/sns/pricing/ standard topic publishes (deliveries to SQS and Lambda: free)
    "sns_publish": 0.50 / 1e6,
    # https://aws.amazon.com/sqs/pricing/ standard queue requests (each 64 KB chunk is one)
    "sqs_request": 0.40 / 1e6,
    # https://aws.amazon.com/s3/pricing/ S3 Standard PUT, COPY, POST, LIST requests
    "s3_put": 0.005 / 1e3,
    # https://aws.amazon.com/firehose/pricing/ Direct PUT ingestion per GB, each record rounded up
    # to 5 KB; its S3 PUTs are one per buffer (15 min or 128 MB), not per order
    "firehose_gb": 0.029,
    # https://aws.amazon.com/secrets-manager/pricing/ API calls
    "secretsmanager_call": 0.05 / 1e4,
    # https://aws.amazon.com/ses/pricing/ outbound email
    "ses_email": 0.10 / 1e3,
    # https://aws.amazon.com/cloudwatch/pricing/ Logs, standard ingestion per GB
    "logs_gb": 0.50,
}
EXPRESS_MEMORY_GB = 64 / 1024
FIREHOSE_RECORD_KB = 5  # the archive record is ~0.4 KB; Firehose bills each record as 5 KB at least
EXPRESS_BILLING_MS = 100
# Lambda writes START, END and REPORT lines for every invocation (about 72 + 52 + 140 bytes,
# RequestId included); the app's own lines are counted.
LAMBDA_PLATFORM_LOG_BYTES = 264

SERVICES = ("dynamodb", "dynamodbstreams", "sqs", "sns", "s3", "firehose", "stepfunctions", "secretsmanager", "ses")
READS = {"GetItem", "BatchGetItem", "Query", "Scan", "TransactGetItems"}
WRITES = {"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"}


def emit(name: str, value: Any, note: str = "") -> None:
    print(f"{name}: {value}", flush=True)
    if note:
        print(f"#   {note}", flush=True)


# -- DynamoDB request units, from item sizes -----------------------------------------------------
def number_size(text: str) -> int:
    digits = text.lstrip("+-").replace(".", "").split("e")[0].split("E")[0].strip("0") or "0"
    return math.ceil(len(digits) / 2) + 1


def value_size(value: dict[str, Any]) -> int:
    """DynamoDB's size of one attribute value (developer guide, "Item sizes and formats")."""
    ((kind, v),) = value.items()
    if kind == "S":
        return len(v.encode())
    if kind == "N":
        return number_size(v)
    if kind == "B":
        return len(v)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "SS":
        return sum(len(s.encode()) for s in v)
    if kind == "NS":
        return sum(number_size(n) for n in v)
    if kind == "BS":
        return sum(len(b) for b in v)
    if kind == "L":
        return 3 + sum(1 + value_size(x) for x in v)
    if kind == "M":
        return 3 + sum(1 + len(k.encode()) + value_size(x) for k, x in v.items())
    raise ValueError(f"unknown attribute type {kind}")


def item_size(item: dict[str, Any] | None) -> int:
    return sum(len(k.encode()) + value_size(v) for k, v in (item or {}).items())


def write_units(size: int) -> int:
    return max(1, math.ceil(size / 1024))


def read_units(size: int, consistent: bool) -> float:
    return max(1, math.ceil(size / 4096)) * (1.0 if consistent else 0.5)


@dataclass
class Table:
    keys: list[str]
    indexes: list[tuple[list[str], str, list[str]]]  # (key attributes, projection type, included)


class Capacity:
    """WRU/RRU of each DynamoDB call, from the items it read or wrote. Items are looked up with a
    client of our own (not counted) before and after each write: a write costs the larger of the
    two images, and a secondary index costs a write where its projection changed (two when its
    key moved)."""

    def __init__(self, endpoint: str) -> None:
        import boto3

        self.ddb = boto3.session.Session().client(
            "dynamodb",
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id="local",
            aws_secret_access_key="local",
        )
        self.tables: dict[str, Table] = {}

    def table(self, name: str) -> Table:
        if name not in self.tables:
            t = self.ddb.describe_table(TableName=name)["Table"]
            indexes = [
                (
                    [k["AttributeName"] for k in ix["KeySchema"]],
                    ix["Projection"]["ProjectionType"],
                    list(ix["Projection"].get("NonKeyAttributes", [])),
                )
                for ix in t.get("GlobalSecondaryIndexes", []) + t.get("LocalSecondaryIndexes", [])
            ]
            self.tables[name] = Table([k["AttributeName"] for k in t["KeySchema"]], indexes)
        return self.tables[name]

    def fetch(self, table: str, key: dict[str, Any]) -> dict[str, Any] | None:
        item: dict[str, Any] | None = self.ddb.get_item(TableName=table, Key=key, ConsistentRead=True).get("Item")
        return item

    def key_of(self, table: str, item: dict[str, Any]) -> dict[str, Any]:
        return {k: item[k] for k in self.table(table).keys}

    def touched(self, op: str, params: dict[str, Any]) -> list[tuple[str, dict[str, Any], str]]:
        """(table, key, kind) of every item a write names; kind is put/update/delete/check."""
        if op == "PutItem":
            return [(params["TableName"], self.key_of(params["TableName"], params["Item"]), "put")]
        if op in ("UpdateItem", "DeleteItem"):
            return [(params["TableName"], params["Key"], "update" if op == "UpdateItem" else "delete")]
        out = []
        if op == "BatchWriteItem":
            for table, rows in params.get("RequestItems", {}).items():
                for row in rows:
                    if "PutRequest" in row:
                        out.append((table, self.key_of(table, row["PutRequest"]["Item"]), "put"))
                    else:
                        out.append((table, row["DeleteRequest"]["Key"], "delete"))
        if op == "TransactWriteItems":
            kinds = {"Put": "put", "Update": "update", "Delete": "delete", "ConditionCheck": "check"}
            for entry in params.get("TransactItems", []):
                ((what, body),) = entry.items()
                key = self.key_of(body["TableName"], body["Item"]) if what == "Put" else body["Key"]
                out.append((body["TableName"], key, kinds[what]))
        return out

    def before(self, op: str, params: dict[str, Any]) -> list[tuple[str, dict[str, Any], str, Any]]:
        if op not in WRITES:
            return []
        return [(t, k, kind, self.fetch(t, k)) for t, k, kind in self.touched(op, params)]

    def index_writes(self, table: str, old: dict[str, Any] | None, new: dict[str, Any] | None) -> int:
        units = 0
        keys = self.table(table).keys
        for index_keys, projection, included in self.table(table).indexes:

            def project(
                item: dict[str, Any] | None,
                index_keys: list[str] = index_keys,
                projection: str = projection,
                included: list[str] = included,
            ) -> dict[str, Any] | None:
                if item is None or any(k not in item for k in index_keys):
                    return None
                if projection == "ALL":
                    return item
                wanted = set(keys) | set(index_keys) | (set(included) if projection == "INCLUDE" else set())
                return {k: v for k, v in item.items() if k in wanted}

            a, b = project(old), project(new)
            if a == b:
                continue
            if a is not None and b is not None and all(a[k] == b[k] for k in index_keys):
                units += write_units(item_size(b))
            else:
                units += (write_units(item_size(a)) if a is not None else 0) + (
                    write_units(item_size(b)) if b is not None else 0
                )
        return units

    def units(self, op: str, params: dict[str, Any], parsed: dict[str, Any], before: list[Any]) -> tuple[float, float]:
        """(WRU, RRU) of one call."""
        if op in WRITES:
            factor = 2 if op == "TransactWriteItems" else 1
            failed = "Error" in parsed
            wru = 0.0
            for table, key, kind, old in before:
                new = old if failed or kind == "check" else (None if kind == "delete" else self.fetch(table, key))
                wru += factor * write_units(max(item_size(old), item_size(new)))
                if kind != "check":
                    wru += self.index_writes(table, old, new)
            return wru, 0.0
        if op == "GetItem":
            item = self.fetch(params["TableName"], params["Key"])
            return 0.0, read_units(item_size(item), bool(params.get("ConsistentRead")))
        if op == "BatchGetItem":
            rru = 0.0
            for table, spec in params.get("RequestItems", {}).items():
                for key in spec["Keys"]:
                    rru += read_units(item_size(self.fetch(table, key)), bool(spec.get("ConsistentRead")))
            return 0.0, rru
        if op == "TransactGetItems":
            rru = 0.0
            for entry in params.get("TransactItems", []):
                get = entry["Get"]
                rru += 2 * read_units(item_size(self.fetch(get["TableName"], get["Key"])), True)
            return 0.0, rru
        if op in ("Query", "Scan"):
            return 0.0, self.query_units(op, params)
        return 0.0, 0.0

    def query_units(self, op: str, params: dict[str, Any]) -> float:
        """A Query costs the items it reads (before any filter, projection or Select=COUNT), summed
        and rounded up to 4 KB: run it again without those to see them."""
        expression = str(params.get("KeyConditionExpression", ""))
        used = set(re.findall(r"[#:][A-Za-z0-9_]+", expression))
        again: dict[str, Any] = {
            k: params[k]
            for k in ("TableName", "IndexName", "ExclusiveStartKey", "Limit", "ScanIndexForward", "ConsistentRead")
            if k in params
        }
        if expression:
            again["KeyConditionExpression"] = expression
        names = {k: v for k, v in params.get("ExpressionAttributeNames", {}).items() if k in used}
        vals = {k: v for k, v in params.get("ExpressionAttributeValues", {}).items() if k in used}
        if names:
            again["ExpressionAttributeNames"] = names
        if vals:
            again["ExpressionAttributeValues"] = vals
        items = getattr(self.ddb, op.lower())(**again).get("Items", [])
        consistent = bool(params.get("ConsistentRead")) and "IndexName" not in params
        return read_units(sum(item_size(i) for i in items), consistent)


# -- the instruments ---------------------------------------------------------------------------------
@dataclass
class Call:
    op: str  # service.Operation
    wru: float = 0.0
    rru: float = 0.0
    queue: str = ""
    messages: int = 0


@dataclass
class Invocation:
    function: str  # the Lambda function (api_handler, jwt_auth, checkout_charge, order_stream, ...)
    trigger: str  # api | authorizer | task | event
    detail: str = ""  # the route, for the API
    ms: float = 0.0
    child_ms: float = 0.0  # in invocations it made (the API's authorizer)
    overhead_ms: float = 0.0  # in this bench's own instruments (looking items up for their size)
    started: float = 0.0  # epoch seconds
    log_bytes: int = 0
    calls: list[Call] = field(default_factory=list)


@dataclass
class Window:
    invocations: list[Invocation] = field(default_factory=list)
    esm: list[Call] = field(default_factory=list)  # the event source mappings' own SQS requests


def route_of(path: str) -> str:
    parts = path.split("?")[0].split("/")
    return "/".join("{id}" if re.fullmatch(r"[0-9a-f]{16,}|[0-9a-f-]{36}", p) else p for p in parts)


class Recorder:
    """Wraps the local stack's three ways into the app (the API gateway and its authorizer, the
    Step Functions Lambda hook, the dispatcher) so every AWS call, log line and millisecond is
    put down to the Lambda invocation that made it."""

    def __init__(self, capacity: Capacity) -> None:
        self.capacity = capacity
        self.local = threading.local()
        self.lock = threading.Lock()
        self.window: Window | None = None
        self.active = 0
        self.last = time.monotonic()

    def stack(self) -> list[Invocation]:
        if not hasattr(self.local, "stack"):
            self.local.stack = []
        stack: list[Invocation] = self.local.stack
        return stack

    def touch(self) -> None:
        self.last = time.monotonic()

    @contextlib.contextmanager
    def invocation(self, function: str, trigger: str, detail: str = "") -> Iterator[Invocation]:
        inv = Invocation(function, trigger, detail, started=time.time())
        stack = self.stack()
        stack.append(inv)
        with self.lock:
            self.active += 1
            self.touch()
        started = time.perf_counter()
        try:
            yield inv
        finally:
            elapsed = (time.perf_counter() - started) * 1000
            stack.pop()
            inv.ms = elapsed - inv.child_ms - inv.overhead_ms
            if stack:
                stack[-1].child_ms += elapsed
            with self.lock:
                self.active -= 1
                self.touch()
                if self.window is not None:
                    self.window.invocations.append(inv)

    def install(self, app: Any) -> None:
        from chalice.local import LocalGateway, LocalGatewayAuthorizer

        from chalicelib.core import aws
        from chalicelib.core.logs import JsonFormatter
        from freshcart_local import dispatcher, lambdas

        rec = self
        task_invoke, event_invoke = lambdas.invoke, dispatcher.invoke  # type: ignore[attr-defined]

        def as_task(app: Any, name: str, event: Any) -> Any:
            with rec.invocation(name, "task"):
                return task_invoke(app, name, event)

        def as_event(app: Any, name: str, event: Any) -> Any:
            with rec.invocation(name, "event"):
                return event_invoke(app, name, event)

        lambdas.invoke = as_task  # type: ignore[attr-defined]
        dispatcher.invoke = as_event  # type: ignore[attr-defined]

        handle_request = LocalGateway.handle_request
        authorize = LocalGatewayAuthorizer.authorize

        def handle(gw: Any, method: str, path: str, headers: Any, body: Any) -> Any:
            with rec.invocation("api_handler", "api", f"{method} {route_of(path)}"):
                return handle_request(gw, method, path, headers, body)

        def auth(gw: Any, raw_path: str, event: Any, context: Any) -> Any:
            entry = gw._route_for_event(event)
            if not entry or not entry.authorizer:
                return authorize(gw, raw_path, event, context)
            with rec.invocation(str(getattr(entry.authorizer, "name", "authorizer")), "authorizer"):
                return authorize(gw, raw_path, event, context)

        LocalGateway.handle_request = handle  # type: ignore[method-assign,assignment]
        LocalGatewayAuthorizer.authorize = auth  # type: ignore[method-assign,assignment]

        stream_emit = logging.StreamHandler.emit

        def counted_emit(handler: logging.StreamHandler[Any], record: logging.LogRecord) -> None:
            if isinstance(handler.formatter, JsonFormatter):  # the app's lines: counted, not shown
                stack = rec.stack()
                if stack:
                    stack[-1].log_bytes += len(handler.format(record).encode()) + 1
                return
            stream_emit(handler, record)

        logging.StreamHandler.emit = counted_emit  # type: ignore[method-assign,assignment]

        for service in SERVICES:
            events = aws.client(service).meta.events
            events.register("before-parameter-build", self.before, unique_id="bench-checkout-before")
            events.register("after-call", self.after, unique_id="bench-checkout-after")

    def before(self, params: dict[str, Any], event_name: str = "", **_: Any) -> None:
        service, op = event_name.split(".")[1:]
        service = service.replace("-", "")
        started = time.perf_counter()
        self.local.pending = (op, dict(params), self.capacity.before(op, params) if service == "dynamodb" else [])
        self.overhead(started)

    def overhead(self, started: float) -> None:
        stack = self.stack()
        if stack:
            stack[-1].overhead_ms += (time.perf_counter() - started) * 1000

    def after(self, parsed: dict[str, Any], event_name: str = "", **_: Any) -> None:
        service, op = event_name.split(".")[1:]
        service = service.replace("-", "")
        pending = getattr(self.local, "pending", None)
        self.local.pending = None
        if pending is None or pending[0] != op:
            return
        _, params, before = pending
        call = Call(f"{service}.{op}")
        if service == "dynamodb":
            started = time.perf_counter()
            call.wru, call.rru = self.capacity.units(op, params, parsed, before)
            self.overhead(started)
        if service == "sqs":
            call.queue = str(params.get("QueueUrl", "")).rsplit("/", 1)[-1]
            call.messages = len(parsed.get("Messages", []))
        stack = self.stack()
        thread = threading.current_thread().name
        if stack:
            stack[-1].calls.append(call)
            self.touch()
        elif (
            thread.startswith(("sqs-", "ddb-"))  # the dispatcher, standing in for event source mappings
            and service == "sqs"  # (their DynamoDB Streams reads are free)
            and (op != "ReceiveMessage" or call.messages)  # their idle long polls cost the same with no orders
            and self.window is not None
        ):
            self.window.esm.append(call)
            self.touch()

    @contextlib.contextmanager
    def counting(self) -> Iterator[Window]:
        window = Window()
        self.window = window
        try:
            yield window
        finally:
            self.window = None

    def settle(self, timeout: float = 60) -> None:
        """Wait until nothing has run for IDLE_SECONDS: every event the last request caused has
        been handled (stream pollers read every 0.5 s, queues are long-polled every second)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.active == 0 and time.monotonic() - self.last > IDLE_SECONDS:
                return
            time.sleep(0.1)
        raise RuntimeError("the local stack never went quiet")


# -- a shop over HTTP ---------------------------------------------------------------------------------
class Shop:
    """One product sold by one vendor delivering to PINCODE, set up through the API as the admin."""

    def __init__(self, api: str, admin: dict[str, str]) -> None:
        self.api = api
        self.http = requests.Session()
        token = self.call("POST", "/auth/login", {"email": admin["email"], "password": admin["password"]})
        self.admin = {"Authorization": f"Bearer {token['accessToken']}"}
        variants = [{"name": "1 l", "unit": "l", "sku": "BENCH-1L", "prices": {"INR": 6000}}]
        product = self.call(
            "POST", "/products", {"name": "Milk", "category": "dairy", "variants": variants}, self.admin, 201
        )
        address = {"line1": "1 Lane", "city": "Pune", "state": "MH", "pincode": PINCODE, "country": "IN"}
        vendor = self.call(
            "POST",
            "/vendors",
            {
                "name": "Bench Dairy",
                "contact": {"email": "d@example.com", "phone": "+91 80 1111 2222"},
                "address": {**address, "lat": 18.5, "lng": 73.8},
                "serviceAreas": [PINCODE],
                "products": [product["productId"]],
                "capacity": {"dailyOrderLimit": 100000},
            },
            self.admin,
            201,
        )
        variant = product["variants"][0]["variantId"]
        stock = {"productId": product["productId"], "variantId": variant, "vendorId": vendor["vendorId"]}
        self.call("POST", "/inventory/adjust", {**stock, "set": 100000, "reason": "bench"}, self.admin)
        self.line = {"productId": product["productId"], "variantId": variant, "quantity": 2}

    def call(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None, status: int = 200
    ) -> Any:
        resp = self.http.request(method, self.api + path, json=body, headers=headers or {}, timeout=30)
        if resp.status_code != status:
            raise RuntimeError(f"{method} {path}: {resp.status_code} {resp.text[:300]}")
        return resp.json() if resp.content else None

    def customer(self) -> dict[str, str]:
        """A logged-in customer with a complete profile and an address: auth headers + addressId."""
        name = f"b{uuid.uuid4().hex[:10]}"
        self.call(
            "POST", "/auth/register", {"username": name, "email": f"{name}@example.com", "password": PASSWORD}, {}, 201
        )
        token = self.call("POST", "/auth/login", {"username": name, "password": PASSWORD})["accessToken"]
        auth = {"Authorization": f"Bearer {token}"}
        self.call("PATCH", "/users/me", {"name": "Bench Buyer", "phone": "+91 98765 43210"}, auth)
        address = {
            "label": "home",
            "line1": "9 Road",
            "city": "Pune",
            "state": "MH",
            "pincode": PINCODE,
            "country": "IN",
        }
        made = self.call("POST", "/users/me/addresses", address, auth, 201)
        return {**auth, "addressId": made["addressId"]}

    @staticmethod
    def auth(who: dict[str, str]) -> dict[str, str]:
        return {"Authorization": who["Authorization"]}

    def order(self, who: dict[str, str]) -> str:
        body = {"items": [self.line], "addressId": who["addressId"]}
        headers = {**self.auth(who), "Idempotency-Key": uuid.uuid4().hex}
        return str(self.call("POST", "/orders", body, headers, 201)["orderId"])

    def pay(self, who: dict[str, str], order_id: str, method: str = "pm_card_visa") -> dict[str, Any]:
        headers = {**self.auth(who), "Idempotency-Key": uuid.uuid4().hex}
        paid: dict[str, Any] = self.call("POST", f"/orders/{order_id}/pay", {"paymentMethod": method}, headers, 202)
        return paid

    def payment(self, who: dict[str, str], order_id: str) -> dict[str, Any]:
        found: dict[str, Any] = self.call("GET", f"/orders/{order_id}/payment", None, self.auth(who))
        return found

    def status(self, who: dict[str, str], order_id: str) -> str:
        return str(self.call("GET", f"/orders/{order_id}", None, self.auth(who))["status"])

    def poll(self, who: dict[str, str], order_id: str, until: set[str], every: float, timeout: float = 60) -> int:
        """GET the payment every ``every`` seconds until its status is in ``until`` (at least
        CLIENT_POLLS times, as the cost model assumes); how many GETs it took."""
        deadline, polls = time.monotonic() + timeout, 0
        while True:
            time.sleep(every)
            polls += 1
            status = self.payment(who, order_id)["status"]
            if status in until and polls >= CLIENT_POLLS:
                return polls
            if time.monotonic() > deadline:
                raise RuntimeError(f"payment of {order_id} stuck at {status}")


# -- counting, in-process -----------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def lambda_memory_mb(function: str, stage: str = "prod") -> int:
    """As Chalice resolves it: stage + function, stage, function, top level."""
    config = json.loads((ROOT / ".chalice" / "config.json").read_text())
    st = config.get("stages", {}).get(stage, {})
    for scope in (
        st.get("lambda_functions", {}).get(function, {}),
        st,
        config.get("lambda_functions", {}).get(function, {}),
        config,
    ):
        if "lambda_memory_size" in scope:
            return int(scope["lambda_memory_size"])
    return 128


def sns_fed_queues(stage: str = "local") -> set[str]:
    """Queues subscribed to a topic in infra/resources.json (an SNS delivery puts a message in them)."""
    resources = json.loads((ROOT / "infra" / "resources.json").read_text())["Resources"]
    out = set()
    for r in resources.values():
        props = r.get("Properties", {})
        if r.get("Type") == "AWS::SNS::Subscription" and props.get("Protocol") == "sqs":
            queue = resources[props["Endpoint"]["Fn::GetAtt"][0]]["Properties"]["QueueName"]["Fn::Sub"]
            out.add(queue.replace("${Stage}", stage))
    return out


class Executions:
    """Step Functions executions of a payment, read with a client of our own (not counted)."""

    def __init__(self, endpoint: str) -> None:
        import boto3

        self.sfn = boto3.session.Session().client(
            "stepfunctions",
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id="local",
            aws_secret_access_key="local",
        )

    def of(self, payment_id: str) -> list[dict[str, Any]]:
        """Every execution of the payment: (name, machine type, status, history events)."""
        from chalicelib.core.config import get_settings

        out = []
        s = get_settings()
        for arn, kind in ((s.checkout_state_machine_arn, "EXPRESS"), (s.checkout_await_state_machine_arn, "STANDARD")):
            for ex in self.sfn.list_executions(stateMachineArn=arn)["executions"]:
                if ex["name"].startswith(payment_id):
                    events = self.sfn.get_execution_history(executionArn=ex["executionArn"], maxResults=1000)["events"]
                    out.append({"name": ex["name"], "type": kind, "status": ex["status"], "events": events})
        return sorted(out, key=lambda e: e["events"][0]["timestamp"])

    def finished(self, payment_id: str, timeout: float = 60) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.of(payment_id)
            if found and all(e["status"] != "RUNNING" for e in found):
                return found
            time.sleep(0.2)
        raise RuntimeError(f"the checkout of payment {payment_id} is still running")


def transitions(execution: dict[str, Any]) -> int:
    return sum(1 for e in execution["events"] if e["type"].endswith("StateEntered"))


def tasks(execution: dict[str, Any]) -> Counter[str]:
    """What the execution's Task states called: ``lambda``, ``sns.publish``, ``s3.putObject``..."""
    out: Counter[str] = Counter()
    for e in execution["events"]:
        if e["type"] in ("TaskScheduled", "LambdaFunctionScheduled"):
            d = e.get("taskScheduledEventDetails", {})
            kind = d.get("resourceType", "lambda").removeprefix("aws-sdk:")
            out["lambda" if kind == "lambda" else f"{kind}.{d.get('resource')}"] += 1
    return out


def duration_ms(execution: dict[str, Any], invocations: list[Invocation]) -> float:
    """From the history's first to last event, less the time this bench's instruments took in the
    Lambda tasks the execution ran (an overestimate of it where Parallel branches overlapped)."""
    stamps = [e["timestamp"] for e in execution["events"]]
    start, stop = float(min(stamps).timestamp()), float(max(stamps).timestamp())
    ours = sum(i.overhead_ms for i in invocations if i.trigger == "task" and start <= i.started <= stop)
    return max(0.0, (stop - start) * 1000 - ours)


@dataclass
class Usage:
    """What one order consumed, by billing unit."""

    api_requests: list[str] = field(default_factory=list)
    lambdas: list[Invocation] = field(default_factory=list)
    executions: list[dict[str, Any]] = field(default_factory=list)
    calls: Counter[str] = field(default_factory=Counter)  # the app's AWS calls by service.Operation
    esm: Counter[str] = field(default_factory=Counter)
    sns_deliveries: int = 0
    wru: float = 0.0
    rru: float = 0.0

    @classmethod
    def of(cls, windows: list[Window], executions: list[dict[str, Any]]) -> Usage:
        u = cls(executions=executions)
        fed = sns_fed_queues()
        for w in windows:
            for inv in w.invocations:
                u.lambdas.append(inv)
                if inv.trigger == "api":
                    u.api_requests.append(inv.detail)
                for c in inv.calls:
                    u.calls[c.op] += 1
                    u.wru += c.wru
                    u.rru += c.rru
            for c in w.esm:
                u.esm[c.op] += 1
                if c.op == "sqs.ReceiveMessage" and c.queue in fed:
                    u.sns_deliveries += c.messages
        return u

    def sfn_tasks(self) -> Counter[str]:
        total: Counter[str] = Counter()
        for e in self.executions:
            total.update(tasks(e))
        return total

    def costs(self) -> dict[str, float]:
        """USD per order, by service."""
        p = PRICES
        gb_s = sum(math.ceil(i.ms) / 1000 * lambda_memory_mb(i.function) / 1024 for i in self.lambdas)
        express = [e for e in self.executions if e["type"] == "EXPRESS"]
        express_gb_s = sum(
            math.ceil(duration_ms(e, self.lambdas) / EXPRESS_BILLING_MS) * EXPRESS_BILLING_MS / 1000 * EXPRESS_MEMORY_GB
            for e in express
        )
        standard = sum(transitions(e) for e in self.executions if e["type"] == "STANDARD")
        sfn = self.sfn_tasks()
        publishes = self.calls["sns.Publish"] + sfn["sns.publish"]
        sqs_app = sum(n for op, n in self.calls.items() if op.startswith("sqs."))
        sqs_esm = sum(self.esm.values())
        s3_puts = self.calls["s3.PutObject"] + sfn["s3.putObject"]
        firehose_gb = (self.calls["firehose.PutRecord"] + sfn["firehose.putRecord"]) * FIREHOSE_RECORD_KB / 1024**2
        log_bytes = sum(i.log_bytes + LAMBDA_PLATFORM_LOG_BYTES for i in self.lambdas)
        return {
            "apigateway": len(self.api_requests) * p["apigateway_request"],
            "lambda_requests": len(self.lambdas) * p["lambda_request"],
            "lambda_duration": gb_s * p["lambda_gb_second"],
            "stepfunctions_express": len(express) * p["sfn_express_request"]
            + express_gb_s * p["sfn_express_gb_second"],
            "stepfunctions_standard": standard * p["sfn_standard_transition"],
            "dynamodb_writes": self.wru * p["dynamodb_wru"],
            "dynamodb_reads": self.rru * p["dynamodb_rru"],
            "sns": publishes * p["sns_publish"],
            "sqs": (sqs_app + self.sns_deliveries + sqs_esm) * p["sqs_request"],
            "archive": s3_puts * p["s3_put"] + firehose_gb * p["firehose_gb"],
            "secretsmanager": self.calls["secretsmanager.GetSecretValue"] * p["secretsmanager_call"],
            "ses": self.calls["ses.SendEmail"] * p["ses_email"],
            "logs": log_bytes / 1024**3 * p["logs_gb"],
        }

    def describe(self) -> dict[str, str]:
        """The counts behind each cost line, for the comment under it."""
        sfn = self.sfn_tasks()
        by_fn = Counter(i.function for i in self.lambdas)
        gb_s = sum(math.ceil(i.ms) / 1000 * lambda_memory_mb(i.function) / 1024 for i in self.lambdas)
        express = [e for e in self.executions if e["type"] == "EXPRESS"]
        routes = Counter(self.api_requests)
        return {
            "apigateway": f"{len(self.api_requests)} requests: " + ", ".join(f"{n}x {r}" for r, n in routes.items()),
            "lambda_requests": f"{len(self.lambdas)} invocations: " + ", ".join(f"{n}x {f}" for f, n in by_fn.items()),
            "lambda_duration": f"{gb_s:.4f} GB-s: {sum(math.ceil(i.ms) for i in self.lambdas)} ms billed (measured "
            f"locally, per ms) at {lambda_memory_mb('api_handler')} MB",
            "stepfunctions_express": f"{len(express)} executions, "
            + ", ".join(f"{duration_ms(e, self.lambdas):.0f} ms" for e in express)
            + f" (history; billed per {EXPRESS_BILLING_MS} ms at 64 MB)",
            "stepfunctions_standard": f"{sum(transitions(e) for e in self.executions if e['type'] == 'STANDARD')} "
            "transitions (the wait machine runs only for 3-D Secure or a fraud review)",
            "dynamodb_writes": f"{self.wru:g} WRU ("
            + ", ".join(f"{n}x {op.split('.')[1]}" for op, n in self.calls.items() if op.split(".")[1] in WRITES)
            + ")",
            "dynamodb_reads": f"{self.rru:g} RRU ("
            + ", ".join(f"{n}x {op.split('.')[1]}" for op, n in self.calls.items() if op.split(".")[1] in READS)
            + ")",
            "sns": f"{self.calls['sns.Publish']} by the app + {sfn['sns.publish']} by the state machine",
            "sqs": ", ".join(f"{n}x {op.split('.')[1]}" for op, n in self.calls.items() if op.startswith("sqs."))
            + f" by the app; {self.sns_deliveries} SNS deliveries; event source mappings: "
            + ", ".join(f"{n}x {op.split('.')[1]}" for op, n in self.esm.items() if op.startswith("sqs.")),
            "archive": f"{self.calls['firehose.PutRecord'] + sfn['firehose.putRecord']} Firehose record "
            f"({FIREHOSE_RECORD_KB} KB billed), {self.calls['s3.PutObject'] + sfn['s3.putObject']} S3 PUT",
            "secretsmanager": f"{self.calls['secretsmanager.GetSecretValue']} calls (cached per container)",
            "ses": f"{self.calls['ses.SendEmail']} emails",
            "logs": f"{sum(i.log_bytes for i in self.lambdas)} bytes of app log lines at INFO + "
            f"{LAMBDA_PLATFORM_LOG_BYTES} per invocation",
        }


def authenticate_3ds(stripe: dict[str, Any], intent_id: str, client_secret: str) -> None:
    """The customer finishes 3-D Secure (localstripe's stand-in for the bank's page)."""
    requests.post(
        f"{stripe['api_base']}/v1/payment_intents/{intent_id}/_authenticate",
        data={"client_secret": client_secret, "success": "true"},
        headers={"Authorization": f"Bearer {stripe['secret_key']}"},
        timeout=10,
    ).raise_for_status()


def three_ds_method(stripe: dict[str, Any]) -> str:
    resp = requests.post(
        f"{stripe['api_base']}/v1/payment_methods",
        data={
            "type": "card",
            "card[number]": THREE_DS_CARD,
            "card[exp_month]": "12",
            "card[exp_year]": "2034",
            "card[cvc]": "123",
        },
        headers={"Authorization": f"Bearer {stripe['secret_key']}"},
        timeout=10,
    )
    resp.raise_for_status()
    return str(resp.json()["id"])


def counts() -> None:
    """The counted figures (run in a process of its own: moto and localstripe keep module state)."""
    os.environ["LOG_LEVEL"] = "INFO"  # what the deployed stages log at (counted, not shown)
    from freshcart_local.stack import Home, LocalStack

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    with tempfile.TemporaryDirectory(prefix="bench-checkout-") as tmp:
        stack = LocalStack(
            api_port=free_port(),
            aws_port=free_port(),
            stripe_port=free_port(),
            home=Home(Path(tmp)),
            fresh=True,
            watch=False,
            schedules=False,
            snapshot_seconds=3600,
        )
        with contextlib.redirect_stdout(sys.stderr):  # the stack's own lines are not figures
            facts = stack.start()
        try:
            measure(stack, facts)
        finally:
            with contextlib.redirect_stdout(sys.stderr):
                stack.stop()
    sys.stdout.flush()
    os._exit(0)  # as the CLI does: tearing down moto's in-memory state takes seconds


def measure(stack: Any, facts: dict[str, Any]) -> None:
    endpoint = facts["aws_endpoint"]
    rec = Recorder(Capacity(endpoint))
    rec.install(stack.app)
    executions = Executions(endpoint)
    shop = Shop(facts["api_url"], facts["admin"])
    who = shop.customer()

    # Warm every container and cache (clients, the Stripe and JWT secrets, lazy imports).
    warm = shop.order(who)
    paid = shop.pay(who, warm)
    shop.poll(who, warm, {"SUCCEEDED"}, every=0.3)
    executions.finished(paid["paymentId"])
    rec.settle()

    # One frictionless checkout: placing the order, then paying it and everything that follows.
    with rec.counting() as placing:
        order_id = shop.order(who)
        rec.settle()
    with rec.counting() as paying:
        payment = shop.pay(who, order_id)
        polls = shop.poll(who, order_id, {"SUCCEEDED"}, every=1.0)
        runs = executions.finished(payment["paymentId"])
        rec.settle()
    if shop.status(who, order_id) != "PAID":
        raise RuntimeError(f"order {order_id} was not PAID")
    (express,) = runs

    (pay,) = [i for i in paying.invocations if i.trigger == "api" and i.detail.endswith("/pay")]
    emit("aws_calls_pay_request", len(pay.calls), ", ".join(c.op.split(".")[1] for c in pay.calls))

    client_side = {
        id(i) for i in paying.invocations if i.trigger == "api" and not i.detail.startswith("POST /webhooks")
    }
    triggered = [i for i in paying.invocations if i.trigger in ("event", "api") and id(i) not in client_side]
    # The client's requests (pay, polls) and their authorizers are the client's, not the checkout's.
    task_count = tasks(express)["lambda"]
    recorded = sum(1 for i in paying.invocations if i.trigger == "task")
    if recorded != task_count:  # the instruments no longer see the stack's Lambda hook: fail, never undercount
        raise RuntimeError(f"the execution ran {task_count} Lambda tasks but {recorded} were recorded")
    by_fn = Counter(i.function + (f" ({i.detail})" if i.trigger == "api" else "") for i in triggered)
    emit(
        "lambda_invocations_checkout",
        task_count + len(triggered),
        f"{task_count} Step Functions tasks (execution history) + {len(triggered)} triggered (local dispatcher "
        "and API): " + ", ".join(f"{n}x {f}" for f, n in sorted(by_fn.items())),
    )
    states = [e["stateEnteredEventDetails"]["name"] for e in express["events"] if e["type"].endswith("StateEntered")]
    emit("sfn_transitions_checkout", transitions(express), " > ".join(states))

    # The checkout: from POST /pay to the last event it caused, in the services the issue names;
    # the email SES sends is listed apart, and so is placing the order (the orders domain's cost).
    usage = Usage.of([paying], runs)
    cost = usage.costs()
    email = cost.pop("ses")
    total = sum(cost.values()) * 1000
    emit(
        "cost_per_1000_orders_usd",
        f"{total:.4f}",
        f"one checkout = pay + {polls} polls of GET /orders/{{id}}/payment + all it triggers (Stripe's webhook, "
        "the Express run, stream and queue handlers); list prices us-east-1 (bench/checkout.py PRICES)",
    )
    notes = usage.describe()
    for name, usd in cost.items():
        emit(f"cost_breakdown_{name}_usd", f"{usd * 1000:.5f}", notes[name])
    emit("cost_email_per_1000_orders_usd", f"{email * 1000:.4f}", notes["ses"] + " (SES, the payment receipt)")
    whole = Usage.of([placing, paying], runs).costs()
    emit(
        "cost_per_1000_orders_with_placement_usd",
        f"{(sum(whole.values()) - whole['ses']) * 1000:.4f}",
        f"placing the order too: {(sum(whole.values()) - whole['ses'] - total / 1000) * 1000:.4f} of it, no email",
    )

    # Where the calls go, for the README: each Lambda of the pay window once, with its own AWS calls.
    seen = set()
    for inv in paying.invocations:
        name = inv.function + (f" {inv.detail}" if inv.detail else "")
        if name in seen:
            continue
        seen.add(name)
        ops = ", ".join(c.op.split(".")[1] + (f" ({c.wru:g} WRU)" if c.wru else "") for c in inv.calls) or "-"
        print(f"#   {name}: {len(inv.calls)} AWS calls, {inv.ms:.0f} ms: {ops}", flush=True)

    three_ds(shop, rec, executions, facts)


def three_ds(shop: Shop, rec: Recorder, executions: Executions, facts: dict[str, Any]) -> None:
    """A 3-D Secure checkout: the Express run parks the payment, the Standard wait machine holds
    the task token until Stripe's webhook says the customer authenticated, a second Express run
    marks it paid."""
    who = shop.customer()
    method = three_ds_method(facts["stripe"])
    with rec.counting():  # placing the order: not the checkout
        order_id = shop.order(who)
        rec.settle()
    with rec.counting() as paying:
        payment = shop.pay(who, order_id, method)
        deadline = time.monotonic() + 30
        while True:
            view = shop.payment(who, order_id)
            waiting = any(i.function == "checkout_wait" for i in list(paying.invocations))
            if view["status"] == "REQUIRES_ACTION" and waiting:
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"3-D Secure payment stuck at {view['status']}")
            time.sleep(1.0)
        authenticate_3ds(facts["stripe"], view["paymentIntentId"], view["clientSecret"])
        shop.poll(who, order_id, {"SUCCEEDED"}, every=1.0)
        runs = executions.finished(payment["paymentId"])
        rec.settle()
    if shop.status(who, order_id) != "PAID":
        raise RuntimeError(f"3-D Secure order {order_id} was not PAID")
    (standard,) = [e for e in runs if e["type"] == "STANDARD"]
    states = [e["stateEnteredEventDetails"]["name"] for e in standard["events"] if e["type"].endswith("StateEntered")]
    express = [transitions(e) for e in runs if e["type"] == "EXPRESS"]
    emit(
        "sfn_transitions_checkout_await",
        transitions(standard),
        " > ".join(states) + f"; the two Express runs around it: {' + '.join(map(str, express))} transitions",
    )
    usage = Usage.of([paying], runs)
    total = (sum(usage.costs().values()) - usage.costs()["ses"]) * 1000
    print(
        f"#   a 3-D Secure checkout costs {total:.4f} USD per 1000 ({len(usage.lambdas)} Lambda invocations, "
        f"{len(usage.api_requests)} API requests, {len(express)} Express + 1 Standard execution)",
        flush=True,
    )


# -- timing, against `python -m freshcart_local run` -------------------------------------------------
class StackProcess:
    """`python -m freshcart_local run` in a subprocess, as tests/e2e/harness.py starts it."""

    def __init__(self, home: Path) -> None:
        self.lines: list[str] = []
        self.ports = free_port(), free_port(), free_port()
        env = {k: v for k, v in ENV.items() if not k.startswith(("AWS_", "MOTO_"))}
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "freshcart_local",
                "run",
                "--api-port",
                str(self.ports[0]),
                "--aws-port",
                str(self.ports[1]),
                "--stripe-port",
                str(self.ports[2]),
                "--home",
                str(home),
                "--no-reload",
            ],
            cwd=ROOT,
            env={**env, "LOG_LEVEL": env.get("LOG_LEVEL", "WARNING")},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        threading.Thread(target=self._drain, daemon=True).start()
        facts, deadline = home / "local.json", time.monotonic() + 120
        while not (facts.exists() and any(line.startswith("Ctrl-C stops everything") for line in self.lines)):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("the local stack did not start:\n" + "\n".join(self.lines[-40:]))
            time.sleep(0.2)
        self.facts: dict[str, Any] = json.loads(facts.read_text())

    def _drain(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)


def seconds_local() -> list[float]:
    """Seconds from POST /orders/{id}/pay to GET /orders/{id} answering PAID (polled every 25 ms),
    for each of CHECKOUTS checkouts."""
    with tempfile.TemporaryDirectory(prefix="bench-stack-") as tmp:
        stack = StackProcess(Path(tmp))
        try:
            shop = Shop(stack.facts["api_url"], stack.facts["admin"])
            times = []
            for i in range(CHECKOUTS + 1):  # the first warms the stack
                who = shop.customer()
                order_id = shop.order(who)
                time.sleep(1.5)  # the order's own events are handled before the clock starts
                started = time.perf_counter()
                shop.pay(who, order_id)
                while shop.status(who, order_id) != "PAID":
                    if time.perf_counter() - started > 60:
                        raise RuntimeError(f"order {order_id} never PAID")
                    time.sleep(0.025)
                if i:
                    times.append(time.perf_counter() - started)
            return times
        finally:
            stack.stop()


FIGURE = re.compile(r"^([a-z0-9_]+: |#)")


def run() -> dict[str, str]:
    """From bench/__main__.py: the counted figures (a process of their own), then the timing.
    Returns the figures by name (the subscription bench prices its orders with them)."""
    env = {k: v for k, v in ENV.items() if not k.startswith(("AWS_", "MOTO_"))}
    done = subprocess.run(
        [sys.executable, "-m", "bench.checkout"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600
    )
    figures: dict[str, str] = {}
    for line in done.stdout.splitlines():
        if FIGURE.match(line):
            print(line, flush=True)
            name, _, value = line.partition(":")
            figures[name.strip()] = value.strip().split()[0] if value.strip() else ""
    if done.returncode != 0:
        raise RuntimeError(f"bench.checkout failed ({done.returncode}):\n{done.stderr[-4000:]}")
    times = seconds_local()
    emit(
        "checkout_seconds_local",
        f"{statistics.median(times):.3f}",
        f"POST /orders/{{id}}/pay -> GET /orders/{{id}} says PAID, over HTTP against `python -m freshcart_local run`; "
        f"median of {len(times)} (min {min(times):.3f}, max {max(times):.3f})",
    )
    return figures


if __name__ == "__main__":
    counts()
