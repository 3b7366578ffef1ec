"""The real local stack (`make run`'s entry point) in a subprocess, driven over HTTP with
requests: register -> verification email (SNS -> SQS -> handler -> SES) -> verify -> login ->
profile -> refresh -> logout; a job run from the CLI; Ctrl-C stops everything."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from typing import Any

import pytest
import requests

from tests.e2e.conftest import ROOT, mailbox, port_open

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
    product = requests.post(
        f"{api}/products",
        headers=h,
        timeout=10,
        json={
            "name": "Milk",
            "category": "dairy",
            "variants": [{"name": "1L", "unit": "l", "sku": "MILK-1L", "prices": {"INR": 6000}}],
        },
    ).json()
    vendor = requests.post(
        f"{api}/vendors",
        headers=h,
        timeout=10,
        json={
            "name": "Dairy",
            "contact": {"email": "d@example.com", "phone": "+91 80 1111 2222"},
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
            "products": [product["productId"]],
            "capacity": {"dailyOrderLimit": 50},
        },
    ).json()
    variant = product["variants"][0]["variantId"]
    r = requests.post(
        f"{api}/inventory/adjust",
        headers=h,
        timeout=10,
        json={
            "productId": product["productId"],
            "variantId": variant,
            "vendorId": vendor["vendorId"],
            "set": 3,
            "reason": "opening",
        },
    )
    assert r.status_code == 200, r.text

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
    out = subprocess.run(
        [sys.executable, "-m", "freshcart_local", "run-job", "health_monitor", "--state-file", str(stack["_state"])],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    assert json.loads(out)["healthy"] is True


def test_ctrl_c_stops_everything(stack: dict[str, Any]) -> None:
    proc = stack["_proc"]
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=20) == 0
    assert not any(port_open(p) for p in stack["_ports"])
    assert not stack["_state"].exists()
