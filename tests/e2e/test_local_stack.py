"""The real local stack (`make run`'s entry point) in a subprocess, driven over HTTP with
requests: register -> verification email (SNS -> SQS -> handler -> SES) -> verify -> login ->
profile -> refresh -> logout; a job run from the CLI; Ctrl-C stops everything."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.e2e import harness
from tests.e2e.conftest import mailbox
from tests.e2e.harness import ROOT, bearer, cli, login, port_open

pytestmark = pytest.mark.e2e


def test_facts_file_says_where_things_are(stack: dict[str, Any]) -> None:
    assert stack["api_url"].startswith("http://127.0.0.1:")
    assert stack["aws_endpoint"].startswith("http://127.0.0.1:")
    assert {"email", "password"} <= set(stack["admin"])
    assert "health_monitor" in stack["jobs"]


def test_customer_journey_over_http(stack: dict[str, Any]) -> None:
    api = stack["api_url"]
    s = requests.Session()
    r = s.post(f"{api}/auth/check", json={"email": "eve@example.com"}, timeout=10)
    assert r.json() == {"next": "register"}
    r = s.post(
        f"{api}/auth/register",
        json={"username": "eve", "email": "eve@example.com", "password": "correct-horse-42"},
        timeout=10,
    )
    assert r.status_code == 201, r.text
    body = mailbox(stack, "eve@example.com", "Confirm your freshcart email")
    token = body.strip().splitlines()[-1]
    assert s.post(f"{api}/auth/verify-email", json={"token": token}, timeout=10).json() == {"emailVerified": True}
    r = s.post(f"{api}/auth/login", json={"email": "eve@example.com", "password": "correct-horse-42"}, timeout=10)
    assert r.status_code == 200, r.text
    tokens = r.json()
    auth = {"Authorization": f"Bearer {tokens['accessToken']}"}
    r = s.patch(f"{api}/users/me", json={"name": "Eve", "phone": "+44 20 7946 0000"}, headers=auth, timeout=10)
    assert r.status_code == 200 and r.json()["emailVerified"] is True
    r = s.post(f"{api}/auth/refresh", json={"refreshToken": tokens["refreshToken"]}, timeout=10)
    assert r.status_code == 200
    auth = {"Authorization": f"Bearer {r.json()['accessToken']}"}
    assert s.post(f"{api}/auth/logout", headers=auth, timeout=10).status_code == 204
    r = s.get(f"{api}/users/me", headers=auth, timeout=10)
    assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized"


def test_admin_login_and_listing(stack: dict[str, Any]) -> None:
    api = stack["api_url"]
    r = requests.post(
        f"{api}/auth/login", json={"email": stack["admin"]["email"], "password": stack["admin"]["password"]}, timeout=10
    )
    assert r.status_code == 200 and r.json()["role"] == "admin"
    r = requests.get(f"{api}/users?limit=5", headers={"Authorization": f"Bearer {r.json()['accessToken']}"}, timeout=10)
    assert r.status_code == 200 and any(u["role"] == "admin" for u in r.json()["items"])


def test_unknown_route_is_json_404(stack: dict[str, Any]) -> None:
    r = requests.get(f"{stack['api_url']}/nope", timeout=10)
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"


def test_order_journey_over_http(stack: dict[str, Any]) -> None:
    """Admin sets up a vendor, product and stock; a customer checks, orders (idempotently) and
    cancels; the order stream publishes OrderPlaced through the running dispatcher."""
    import boto3

    api = stack["api_url"]
    admin = requests.post(
        f"{api}/auth/login", json={"email": stack["admin"]["email"], "password": stack["admin"]["password"]}, timeout=10
    ).json()
    h = {"Authorization": f"Bearer {admin['accessToken']}"}
    made = harness.stocked(api, h, "Milk", "411001", units=3, price=6000)
    product, variant = made["product"], made["line"]["variantId"]

    endpoint = stack["aws_endpoint"]
    sqs = boto3.client(
        "sqs", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    sns = boto3.client(
        "sns", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    url = sqs.create_queue(QueueName="e2e-order-events")["QueueUrl"]
    sns.subscribe(
        TopicArn=stack["env"]["ORDER_EVENTS_TOPIC_ARN"],
        Protocol="sqs",
        Endpoint="arn:aws:sqs:us-east-1:123456789012:e2e-order-events",
        Attributes={"RawMessageDelivery": "true"},
    )

    requests.post(
        f"{api}/auth/register",
        json={"username": "olga", "email": "olga@example.com", "password": "correct-horse-42"},
        timeout=10,
    )
    tokens = requests.post(
        f"{api}/auth/login", json={"username": "olga", "password": "correct-horse-42"}, timeout=10
    ).json()
    c = {"Authorization": f"Bearer {tokens['accessToken']}"}
    address = requests.post(
        f"{api}/users/me/addresses",
        headers=c,
        timeout=10,
        json={"label": "home", "line1": "9 Road", "city": "Pune", "state": "MH", "pincode": "411001", "country": "IN"},
    ).json()
    items = [{"productId": product["productId"], "variantId": variant, "quantity": 2}]
    check = requests.post(
        f"{api}/orders/check", headers=c, json={"items": items, "pincode": "411001"}, timeout=10
    ).json()
    assert check["lines"][0]["status"] == "available" and check["quote"]["total"] == 12000
    body = {"items": items, "addressId": address["addressId"]}
    first = requests.post(f"{api}/orders", headers={**c, "Idempotency-Key": "o-1"}, json=body, timeout=10)
    again = requests.post(f"{api}/orders", headers={**c, "Idempotency-Key": "o-1"}, json=body, timeout=10)
    assert first.status_code == again.status_code == 201 and first.json() == again.json()
    order = first.json()
    short = requests.post(f"{api}/orders", headers={**c, "Idempotency-Key": "o-2"}, json=body, timeout=10)
    assert short.status_code == 409 and short.json()["error"]["code"] == "out_of_stock"

    deadline, seen = time.monotonic() + 20, []
    while time.monotonic() < deadline and not seen:
        for m in sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1).get("Messages", []):
            seen.append(json.loads(m["Body"]))
    assert seen and seen[0]["type"] == "OrderPlaced" and seen[0]["data"]["orderId"] == order["orderId"]
    r = requests.post(f"{api}/orders/{order['orderId']}/cancel", headers=c, json={}, timeout=10)
    assert r.status_code == 200 and r.json()["status"] == "CANCELLED"
    stock = requests.get(f"{api}/inventory", headers=h, timeout=10).json()["items"]
    assert [(s["available"], s["reserved"]) for s in stock] == [(3, 0)]


def test_cli_runs_a_job_against_the_stack(stack: dict[str, Any]) -> None:
    """The health monitor, run by the CLI, reads the API Gateway metrics the stack's requests made."""
    for _ in range(3):
        assert requests.get(f"{stack['api_url']}/health", timeout=10).status_code == 200

    def monitor() -> dict[str, Any]:
        out = subprocess.run(
            [sys.executable, "-m", "freshcart_local", "run-job", "health_monitor", "--home", str(stack["_home"])],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        ).stdout
        return dict(json.loads(out))

    deadline = time.monotonic() + 20
    while True:  # the forwarder puts metrics off the request path, batched
        report = monitor()
        latency = next(c for c in report["checks"] if c["name"] == "api_latency_avg_ms")
        if latency["value"] > 0 or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert report["healthy"] is True and report["overall_status"] == "healthy"
    assert 0 < latency["value"] < latency["threshold"]


def test_cli_errors_are_one_line(stack: dict[str, Any], tmp_path: Path) -> None:
    """Unknown job, no stack running, port in use: one clear line, exit 1, no traceback."""
    cases = [
        (cli("run-job", "nope", home=stack["_home"]), "no scheduled job 'nope'; known: "),
        (cli("jobs", home=tmp_path), "no local stack is running"),
        (cli("mailbox", home=tmp_path), "no local stack is running"),
        (cli("reset", home=stack["_home"]), "the local stack is running"),
    ]
    busy = subprocess.run(
        [
            sys.executable,
            "-m",
            "freshcart_local",
            "run",
            "--api-port",
            str(stack["_ports"][0]),
            "--aws-port",
            str(harness.free_port()),
            "--stripe-port",
            str(harness.free_port()),
            "--home",
            str(tmp_path),
        ],
        cwd=ROOT,
        env=harness.clean_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    cases.append((busy, f"port {stack['_ports'][0]} on 127.0.0.1 is in use"))
    for result, expected in cases:
        assert result.returncode == 1, (result.args, result.stdout, result.stderr)
        assert expected in result.stderr, result.stderr
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
        assert "Traceback" not in result.stdout + result.stderr


def test_api_takes_a_burst_of_30_connections(stack: dict[str, Any]) -> None:
    """Chalice's server listened with a backlog of 5: 30 concurrent connections got resets."""

    def get(_: int) -> int:
        return requests.get(f"{stack['api_url']}/products?limit=1", timeout=60).status_code

    with ThreadPoolExecutor(max_workers=30) as pool:
        statuses = list(pool.map(get, range(30)))
    assert statuses == [200] * 30


def test_events_show_published_events_and_handler_outcomes(stack: dict[str, Any]) -> None:
    """`make events`: the tap saw the domain events, the dispatcher logged each delivery."""
    deadline = time.monotonic() + 30
    entries: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        out = cli("events", "--no-follow", "-n", "1000", "--json", home=stack["_home"])
        assert out.returncode == 0, out.stderr
        entries = [json.loads(line) for line in out.stdout.splitlines()]
        kinds = {(e["kind"], e.get("type") or e.get("handler")) for e in entries}
        if {("event", "UserRegistered"), ("event", "OrderPlaced"), ("handler", "handle_notifications")} <= kinds:
            break
        time.sleep(0.5)
    placed = [e for e in entries if e.get("type") == "OrderPlaced"]
    assert placed and placed[0]["eventId"] and placed[0]["correlationId"] not in (None, "-")
    delivered = [e for e in entries if e.get("handler") == "handle_notifications"]
    assert delivered and all(e["ok"] for e in delivered) and delivered[0]["messageId"]
    human = cli("events", "--no-follow", home=stack["_home"]).stdout
    assert "OrderPlaced" in human and "handle_notifications" in human


def test_seed_loads_demo_data_once(stack: dict[str, Any]) -> None:
    first = cli("seed", home=stack["_home"], timeout=120)
    assert first.returncode == 0, first.stderr
    again = cli("seed", home=stack["_home"], timeout=120)
    assert again.returncode == 0, again.stderr
    assert "0 created" in again.stdout and "asha@freshcart.example.com / " in again.stdout

    api = stack["api_url"]
    admin = bearer(login(api, stack["admin"]["email"], stack["admin"]["password"])["accessToken"])
    products = requests.get(f"{api}/products?category=dairy&limit=100", timeout=30).json()["items"]
    seeded = [p for p in products if p["name"] in ("Toned Milk", "Curd", "Paneer", "Butter", "Ghee")]
    assert len(seeded) == 5
    assert all(set(v["prices"]) == {"INR", "USD"} for p in seeded for v in p["variants"])
    vendors = requests.get(f"{api}/vendors/all?limit=100", headers=admin, timeout=30).json()["items"]
    demo = [v for v in vendors if v["name"] in ("Pune Morning Dairy", "Bengaluru Fresh Farms", "Mumbai Milk Co-op")]
    assert len(demo) == 3
    variants = sum(len(p["variants"]) for p in seeded)
    for v in demo:
        stock = requests.get(f"{api}/inventory?vendorId={v['vendorId']}&limit=100", headers=admin, timeout=30).json()
        assert len(stock["items"]) == variants and all(s["available"] == 50 for s in stock["items"])
    assert [v["name"] for v in requests.get(f"{api}/vendors?pincode=411004", timeout=30).json()["items"]] == [
        "Pune Morning Dairy"
    ]

    customer = bearer(login(api, "asha@freshcart.example.com", "Milk-and-honey-7")["accessToken"])
    me = requests.get(f"{api}/users/me", headers=customer, timeout=30).json()
    assert me["isProfileComplete"] is True and me["emailVerified"] is True and len(me["addresses"]) == 1
    manager = login(api, "manoj@freshcart.example.com", "Approve-orders-7")
    assert manager["role"] == "manager"
    assert login(api, "dinesh@freshcart.example.com", "Deliver-milk-7")["role"] == "driver"
    vendor = bearer(login(api, "pune-dairy@freshcart.example.com", "Fresh-curd-77")["accessToken"])
    assert requests.get(f"{api}/vendors/me", headers=vendor, timeout=30).json()["name"] == "Pune Morning Dairy"


def test_mailbox_token_waits_for_the_email(stack: dict[str, Any]) -> None:
    """The README's journey reads the token right after registering: the email comes a moment
    later through the event path, so `mailbox --token` waits for it."""
    api = stack["api_url"]
    user = {"username": "quick", "email": "quick@example.com", "password": "correct-horse-42"}
    assert requests.post(f"{api}/auth/register", json=user, timeout=30).status_code == 201
    got = cli("mailbox", "--to", "quick@example.com", "--token", home=stack["_home"])
    assert got.returncode == 0, got.stderr
    r = requests.post(f"{api}/auth/verify-email", json={"token": got.stdout.strip()}, timeout=30)
    assert r.status_code == 200 and r.json() == {"emailVerified": True}
    none = cli("mailbox", "--to", "nobody@example.com", "--token", "--wait", "0.5", home=stack["_home"])
    assert none.returncode == 1 and none.stderr.strip().startswith("Error: no verification email to nobody")


def test_an_alert_reaches_the_notification_email_in_the_mailbox(stack: dict[str, Any]) -> None:
    """The alerts topic's email subscriber (NotificationEmail): moto sends no email, the local
    stack's relay puts each alert in the mailbox as SNS would send it."""
    import boto3

    sns = boto3.client(
        "sns",
        endpoint_url=stack["aws_endpoint"],
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )
    topic = stack["env"]["ALERTS_TOPIC_ARN"]
    event = {"eventId": "e-alert", "type": "RefundFailed", "version": 1, "data": {"orderId": "o-alert"}}
    sns.publish(TopicArn=topic, Message=json.dumps(event))
    body = mailbox(stack, "ops@freshcart.example.com", "AWS Notification: RefundFailed on freshcart-local-alerts")
    assert "o-alert" in body


def test_ctrl_c_stops_everything_within_seconds(stack: dict[str, Any]) -> None:  # the module's last: it stops the stack
    took = stack["_stack"].interrupt(timeout=30)
    assert stack["_stack"].proc.returncode == 0, stack["_stack"].output
    assert took < 10, f"exit took {took:.1f}s"
    assert not any(port_open(p) for p in stack["_ports"])
    assert not (stack["_home"] / "local.json").exists()
    assert (stack["_home"] / "state.json").exists()
