"""`make bench`: figures as `name: value` lines. Timings are printed, never asserted.

- cold_first_request_ratio: a fresh process imports the app, runs the authorizer and serves one
  GET /users/me against moto; divided by the same for a ~20-line Chalice app doing one GetItem
  (bench/cold_baseline.py). Median of runs, alternating the two.
- aws_calls_*: AWS API calls one request makes (counted with botocore hooks), warm container.
- handler_cpu_ms_me: CPU per authenticated GET /users/me (authorizer + handler) with AWS stubbed.
- local_tx_ms_ratio_10k_vs_100: the local stack's DynamoDB (moto + freshcart_local/moto_patches.py):
  one conditional TransactWriteItems against a table of 10,000 items over one against 100 items
  (median of runs each); ``..._moto_original`` is the same with moto's own transaction code.
- aws_calls_pay_request, lambda_invocations_checkout, sfn_transitions_checkout(_await),
  cost_per_1000_orders_usd (+ cost_breakdown_*), checkout_seconds_local: payments and checkout
  against the real local stack (bench/checkout.py says how each is counted).
- report_items_read (+ its split), report_seconds_1k_orders, report_html_kb: the daily report of
  a day of 1,000 orders among 50,000 older ones, in moto (bench/report.py).
- subscription_job_items_read, driver_run_queries, aws_calls_per_notification: deliveries,
  subscriptions and notifications, in moto (bench/fulfilment.py).
"""

from __future__ import annotations

import json
import os
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import checkout, fulfilment
from bench import report as daily_report

ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault("LOG_LEVEL", "WARNING")  # figures only on stdout
COLD_RUNS = int(os.environ.get("BENCH_COLD_RUNS", "15"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_aws() -> tuple[Any, dict[str, str]]:
    from moto.server import ThreadedMotoServer

    from freshcart_local.provision import provision
    from freshcart_local.stack import REGION, STAGE, aws_env, configure_moto, load_app

    port = free_port()
    env = aws_env(f"http://127.0.0.1:{port}", port)
    configure_moto()
    import logging

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    os.environ["BCRYPT_ROUNDS"] = "4"
    load_app({**env, "BCRYPT_ROUNDS": "4"})
    resources = provision(STAGE, REGION)
    _, chalice_config = load_app({**env, **resources, "BCRYPT_ROUNDS": "4"})
    from chalicelib.core import aws
    from chalicelib.core.config import get_settings

    aws.client("ses").verify_email_identity(EmailAddress=get_settings().mail_from)
    return server, {**chalice_config.environment_variables, **env, **resources, "BCRYPT_ROUNDS": "4"}


def report(name: str, n: int, names: list[str], note: str = "") -> None:
    """`name: value`, then the calls themselves on a comment line."""
    print(f"{name}: {n}")
    print(f"#   {', '.join(names)} {note}".rstrip())


class Counter:
    def __init__(self) -> None:
        self.calls: list[str] = []

    def __call__(self, event_name: str = "", **_: Any) -> None:
        self.calls.append(event_name.removeprefix("before-call."))

    def measure(self, fn: Callable[[], Any]) -> tuple[int, list[str]]:
        self.calls.clear()
        fn()
        return len(self.calls), list(self.calls)


LAMBDA_VENV = ROOT / "build" / "lambda-venv"


def lambda_python() -> str:
    """An interpreter with only what the deployed function has: requirements.txt, plus boto3 (the
    Lambda runtime's) and chalice (which `chalice package` bundles). The dev venv also holds moto,
    cryptography and friends, whose presence changes import costs (PyJWT loads cryptography)."""
    stamp = LAMBDA_VENV / ".requirements"
    wanted = (ROOT / "requirements.txt").read_text() + (ROOT / "requirements-dev.txt").read_text()
    if not stamp.exists() or stamp.read_text() != wanted:
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(LAMBDA_VENV)], check=True)
        pins = [
            line
            for line in (ROOT / "requirements-dev.txt").read_text().splitlines()
            if line.startswith(("boto3==", "botocore==", "chalice=="))
        ]
        subprocess.run(
            [
                str(LAMBDA_VENV / "bin" / "python"),
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "-r",
                str(ROOT / "requirements.txt"),
                *pins,
                "-c",
                str(ROOT / "constraints.txt"),
            ],
            check=True,
        )
        stamp.write_text(wanted)
    return str(LAMBDA_VENV / "bin" / "python")


def cold(env: dict[str, str], token: str, user_id: str) -> float:
    """Both apps run from bytecode, as the deployed package does (`make package` adds .pyc files
    to the zip: infra/precompile_zip.py). Here they are compiled in checked-hash mode, so an
    edited source is never run stale."""
    python = lambda_python()
    run_env = {**os.environ, **env, "BENCH_TOKEN": token, "BENCH_USER_ID": user_id, "PYTHONPATH": str(ROOT)}
    subprocess.run(
        [python, "-m", "compileall", "-q", "--invalidation-mode", "checked-hash", "app.py", "chalicelib", "bench"],
        cwd=ROOT,
        env=run_env,
        check=True,
    )

    def once(script: str) -> dict[str, float]:
        out = subprocess.run(
            [python, f"bench/{script}.py"],
            cwd=ROOT,
            env=run_env,
            capture_output=True,
            text=True,
            check=True,
            timeout=120,
        ).stdout
        return {k: float(v) for k, v in json.loads(out.strip().splitlines()[-1]).items()}

    ours, base = [], []
    for _ in range(COLD_RUNS):
        ours.append(once("cold_ours"))
        base.append(once("cold_baseline"))
    med = {
        (who, k): statistics.median(r[k] for r in runs)
        for who, runs in (("ours", ours), ("baseline", base))
        for k in ("ms", "cpu_ms")
    }
    print(f"cold_first_request_ms_ours: {med['ours', 'ms']:.1f}")
    print(f"cold_first_request_ms_baseline: {med['baseline', 'ms']:.1f}")
    # Each pair ran back to back under the same machine load: the median of the pairs' ratios is
    # steadier than a ratio of medians on a shared 2-core machine.
    cpu = statistics.median(o["cpu_ms"] / b["cpu_ms"] for o, b in zip(ours, base, strict=True))
    print(f"cold_first_request_cpu_ratio: {cpu:.2f}")
    return statistics.median(o["ms"] / b["ms"] for o, b in zip(ours, base, strict=True))


def commerce(app: Any, counter: Counter, client: Any) -> None:
    """Calls made by the order and listing handlers themselves (the authorizer, a separate Lambda
    in AWS, adds its one GetItem to every authenticated request; see aws_calls_me)."""
    from bench.events import api_event
    from chalicelib.core import aws
    from chalicelib.core.config import get_settings

    def call(method: str, path: str, body: Any = None, token: str | None = None) -> Any:
        headers = {"content-type": "application/json", **({"authorization": f"Bearer {token}"} if token else {})}
        resp = getattr(client.http, method.lower())(path, headers=headers, body=json.dumps(body) if body else None)
        assert resp.status_code < 300, resp.body
        return json.loads(resp.body)

    password = "correct-horse-42"
    call("POST", "/auth/register", {"username": "shopadmin", "email": "shopadmin@example.com", "password": password})
    admin_id = call("POST", "/auth/login", {"username": "shopadmin", "password": password})["userId"]
    aws.client("dynamodb").update_item(
        TableName=get_settings().users_table,
        Key={"pk": {"S": f"USER#{admin_id}"}, "sk": {"S": "PROFILE"}},
        UpdateExpression="SET #r = :a",
        ExpressionAttributeNames={"#r": "role"},
        ExpressionAttributeValues={":a": {"S": "admin"}},
    )
    admin = call("POST", "/auth/login", {"username": "shopadmin", "password": password})["accessToken"]
    products = [
        call(
            "POST",
            "/products",
            {
                "name": f"Item {i:02d}",
                "category": "dairy",
                "variants": [{"name": "1L", "unit": "l", "sku": f"SKU{i}", "prices": {"INR": 1000 + i}}],
            },
            admin,
        )
        for i in range(25)
    ]
    vendors = [
        call(
            "POST",
            "/vendors",
            {
                "name": f"Vendor {v}",
                "contact": {"email": "v@example.com", "phone": "+91 80 1234 5678"},
                "address": {
                    "line1": "1 Lane",
                    "city": "Pune",
                    "state": "MH",
                    "pincode": "411001",
                    "country": "IN",
                    "lat": 18.5,
                    "lng": 73.8,
                },
                "serviceAreas": ["411001"],
                "products": [p["productId"] for p in products],
                "capacity": {"dailyOrderLimit": 100000},
                "rating": 4 + v / 10,
            },
            admin,
        )
        for v in range(3)
    ]
    for p in products:
        for v in vendors:
            call(
                "POST",
                "/inventory/adjust",
                {
                    "productId": p["productId"],
                    "variantId": p["variants"][0]["variantId"],
                    "vendorId": v["vendorId"],
                    "set": 100000,
                    "reason": "bench",
                },
                admin,
            )
    call("POST", "/auth/register", {"username": "buyer", "email": "buyer@example.com", "password": password})
    buyer = call("POST", "/auth/login", {"username": "buyer", "password": password})
    address = call(
        "POST",
        "/users/me/addresses",
        {"label": "home", "line1": "2 Road", "city": "Pune", "state": "MH", "pincode": "411001", "country": "IN"},
        buyer["accessToken"],
    )
    ctx = {"role": "customer", "sid": "bench", "vendorId": ""}

    def handler(
        method: str,
        path: str,
        body: Any = None,
        headers: dict[str, str] | None = None,
        query: dict[str, str] | None = None,
    ) -> Any:
        resp = app(
            api_event(path, buyer["userId"], ctx, method, json.dumps(body) if body else None, headers, query), None
        )
        assert resp["statusCode"] < 300, resp
        return resp

    for k in (1, 5, 25):
        items = [
            {"productId": p["productId"], "variantId": p["variants"][0]["variantId"], "quantity": 1}
            for p in products[:k]
        ]
        handler(
            "POST", "/orders", {"items": items, "addressId": address["addressId"]}, {"idempotency-key": f"warm-{k}"}
        )
        n, names = counter.measure(
            lambda items=items, k=k: handler(
                "POST",
                "/orders",
                {"items": items, "addressId": address["addressId"]},
                {"idempotency-key": f"bench-{k}"},
            )
        )
        report(f"aws_calls_place_order_k{k}", n, names)
    n, names = counter.measure(lambda: handler("GET", "/orders", query={"limit": "20"}))
    report("aws_calls_list_orders", n, names)
    n, names = counter.measure(lambda: handler("GET", "/products", query={"limit": "20"}))
    report("aws_calls_list_products", n, names)


def local_transactions(runs: int = 60) -> None:
    """Cost of one transaction as the touched table grows, over HTTP against the local moto."""
    from moto.dynamodb.models import DynamoDBBackend

    from chalicelib.core import aws
    from freshcart_local import moto_patches

    ddb = aws.client("dynamodb")

    def table(name: str, size: int) -> str:
        ddb.create_table(
            TableName=name,
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            BillingMode="PAY_PER_REQUEST",
            StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
        )
        for start in range(0, size, 25):
            rows = [
                {"PutRequest": {"Item": {"pk": {"S": f"row{i}"}, "n": {"N": "0"}, "pad": {"S": "x" * 100}}}}
                for i in range(start, min(size, start + 25))
            ]
            ddb.batch_write_item(RequestItems={name: rows})
        return name

    def median_ms(name: str, n: int, tag: str) -> float:
        times = []
        for i in range(n):
            items = [
                {
                    "Put": {
                        "TableName": name,
                        "Item": {"pk": {"S": f"{tag}-new{i}"}},
                        "ConditionExpression": "attribute_not_exists(pk)",
                    }
                },
                {
                    "Update": {
                        "TableName": name,
                        "Key": {"pk": {"S": "row1"}},
                        "UpdateExpression": "ADD n :one",
                        "ConditionExpression": "n >= :zero",
                        "ExpressionAttributeValues": {":one": {"N": "1"}, ":zero": {"N": "0"}},
                    }
                },
            ]
            t0 = time.perf_counter()
            ddb.transact_write_items(TransactItems=items)
            times.append((time.perf_counter() - t0) * 1000)
        return statistics.median(times)

    small, large = table("bench-tx-100", 100), table("bench-tx-10k", 10_000)
    median_ms(small, 5, "warm")
    ms_small, ms_large = median_ms(small, runs, "ours"), median_ms(large, runs, "ours")
    print(f"local_tx_ms_100: {ms_small:.2f}")
    print(f"local_tx_ms_10k: {ms_large:.2f}")
    print(f"local_tx_ms_ratio_10k_vs_100: {ms_large / ms_small:.2f}")
    patched = DynamoDBBackend.transact_write_items
    DynamoDBBackend.transact_write_items = moto_patches.ORIGINALS["DynamoDBBackend.transact_write_items"]  # type: ignore[method-assign]
    try:
        base_small, base_large = median_ms(small, 9, "moto"), median_ms(large, 9, "moto")
    finally:
        DynamoDBBackend.transact_write_items = patched  # type: ignore[method-assign]
    print(f"local_tx_ms_ratio_10k_vs_100_moto_original: {base_large / base_small:.2f}  # {base_large:.1f} ms at 10k")


def quiet_metrics() -> None:
    """The app's EMF lines are built as in Lambda, then dropped: figures only on stdout."""
    from chalicelib.core import metrics

    metrics.sink = lambda line: None


def main() -> None:
    server, env = start_aws()
    try:
        from chalice.test import Client

        from app import app
        from bench.events import api_event, auth_event
        from chalicelib.core import aws
        from freshcart_local import gateway

        gateway.apply()
        quiet_metrics()
        counter = Counter()
        aws.on_call(counter)
        password = "correct-horse-42"
        with Client(app, stage_name="local") as client:

            def post(path: str, body: dict[str, Any]) -> Any:
                resp = client.http.post(path, headers={"content-type": "application/json"}, body=json.dumps(body))
                assert resp.status_code < 300, resp.body
                return json.loads(resp.body)

            post("/auth/register", {"username": "warmup", "email": "warm@example.com", "password": password})
            post("/auth/login", {"username": "warmup", "password": password})  # warms clients and the key
            n, names = counter.measure(
                lambda: post(
                    "/auth/register", {"username": "bench", "email": "bench@example.com", "password": password}
                )
            )
            report("aws_calls_register", n, names)
            post("/auth/login", {"username": "bench", "password": password})  # first login: device recorded
            result: dict[str, Any] = {}
            n, names = counter.measure(
                lambda: result.update(post("/auth/login", {"username": "bench", "password": password}))
            )
            report("aws_calls_login", n, names)
            headers = {"authorization": f"Bearer {result['accessToken']}"}
            n, names = counter.measure(lambda: client.http.get("/users/me", headers=headers))
            report("aws_calls_me", n, names, "(authorizer + handler)")

        commerce(app, counter, client)
        local_transactions()

        # CPU per request with AWS stubbed out: the two repository reads answer from memory.
        from chalicelib.users.repo import UsersRepo

        user = UsersRepo().get(result["userId"])
        assert user is not None
        UsersRepo.get = lambda self, user_id, consistent=False: user  # type: ignore[method-assign]
        UsersRepo.auth_view = lambda self, user_id, sid: user  # type: ignore[method-assign]
        authorizer = app.handler_map["jwt_auth"]
        token = result["accessToken"]
        counter.calls.clear()

        def request() -> None:
            policy = authorizer(auth_event(token), None)
            resp = app(api_event("/users/me", policy["principalId"], policy["context"]), None)
            assert resp["statusCode"] == 200

        for _ in range(200):
            request()
        n_req = 3000
        t0 = time.process_time()
        for _ in range(n_req):
            request()
        cpu_ms = (time.process_time() - t0) * 1000 / n_req
        assert not counter.calls, "stubbed run made AWS calls"
        print(f"handler_cpu_ms_me: {cpu_ms:.3f}")

        ratio = cold(env, token, result["userId"])
        print(f"cold_first_request_ratio: {ratio:.2f}")
    finally:
        server.stop()
    figures = checkout.run()  # its own local stacks, after this moto has stopped
    quiet_metrics()  # a stopped local stack gives the sink back to stdout
    daily_report.run()  # in-process moto of its own
    placed = figures.get("cost_per_1000_orders_with_placement_usd")
    fulfilment.run(float(placed) if placed else None)  # deliveries, subscriptions, notifications: its own moto


if __name__ == "__main__":
    main()
