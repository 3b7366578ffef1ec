"""The local stack keeps its data across restarts and picks up code edits without one.

Runs from a temporary copy of the project (edits to it must not touch the working tree), one
stack at a time, in order: Ctrl-C and start again; edit code while running; kill -9 and start
again; start with a corrupt state file."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests

from tests.e2e.harness import ROOT, Stack, bearer, login, mailbox, messages, stocked

pytestmark = pytest.mark.e2e
COPY = ("app.py", "chalicelib", ".chalice", "freshcart_local", "infra", "stepfunctions")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Any:
    project = tmp_path_factory.mktemp("project")
    for name in COPY:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, project / name, ignore=shutil.ignore_patterns("__pycache__", "deployments", "venv"))
        elif src.exists():
            shutil.copy2(src, project / name)
    w: dict[str, Any] = {"project": project, "home": tmp_path_factory.mktemp("home")}
    yield w
    for key in ("a", "b", "c", "d"):
        if key in w:
            w[key].kill()


def aws(stack: Stack, service: str) -> Any:
    return boto3.client(
        service,  # type: ignore[call-overload]
        endpoint_url=stack.endpoint,
        region_name="us-east-1",
        aws_access_key_id="x",
        aws_secret_access_key="x",
    )


def new_product(api: str, admin: dict[str, str], name: str) -> dict[str, Any]:
    body = {
        "name": name,
        "category": "dairy",
        "variants": [{"name": "1 l", "unit": "l", "sku": name.upper().replace(" ", "-"), "prices": {"INR": 5000}}],
    }
    r = requests.post(f"{api}/products", headers=admin, json=body, timeout=30)
    assert r.status_code == 201, r.text
    out: dict[str, Any] = r.json()
    return out


def event_types(home: Path) -> list[str]:
    path = home / "events.jsonl"
    lines = path.read_text().splitlines() if path.exists() else []
    return [e.get("type", "") for e in map(json.loads, lines) if e["kind"] == "event"]


def test_ctrl_c_and_start_keeps_users_products_orders_tokens_messages_objects(world: Any) -> None:
    a = world["a"] = Stack(world["home"], world["project"])
    api = a.api
    admin = bearer(login(api, a.facts["admin"]["email"], a.facts["admin"]["password"])["accessToken"])
    made = stocked(api, admin, "Buffalo Milk", "411001", units=5)
    product, variant = made["product"], made["line"]["variantId"]

    user = {"username": "rita", "email": "rita@example.com", "password": "correct-horse-42"}
    assert requests.post(f"{api}/auth/register", json=user, timeout=30).status_code == 201
    token = mailbox(a.endpoint, "rita@example.com", "Confirm your freshcart email").strip().splitlines()[-1]
    assert requests.post(f"{api}/auth/verify-email", json={"token": token}, timeout=30).status_code == 200
    rita = bearer(login(api, user["email"], user["password"])["accessToken"])
    address = requests.post(
        f"{api}/users/me/addresses",
        headers=rita,
        timeout=30,
        json={"label": "home", "line1": "9 Road", "city": "Pune", "state": "MH", "pincode": "411001", "country": "IN"},
    ).json()
    order = requests.post(
        f"{api}/orders",
        headers={**rita, "Idempotency-Key": "kept-1"},
        timeout=30,
        json={
            "items": [{"productId": product["productId"], "variantId": variant, "quantity": 2}],
            "addressId": address["addressId"],
        },
    )
    assert order.status_code == 201, order.text
    dlq = aws(a, "sqs").get_queue_url(QueueName="freshcart-local-notifications-dlq")["QueueUrl"]
    aws(a, "sqs").send_message(QueueUrl=dlq, MessageBody='{"poison": true}')
    bucket = a.facts["env"]["ARCHIVE_BUCKET"]
    aws(a, "s3").put_object(Bucket=bucket, Key="reports/day.json", Body=b'{"orders": 1}')
    confirm = "Confirm your freshcart email"
    sent = [(m["destinations"]["ToAddresses"], m["subject"]) for m in messages(a.endpoint)]
    assert (["rita@example.com"], confirm) in sent and (["admin@freshcart.example.com"], confirm) not in sent

    took = a.interrupt()
    assert a.proc.returncode == 0 and took < 10, (took, a.output)

    before = len(event_types(world["home"]))
    b = world["b"] = Stack(world["home"], world["project"])
    assert b.facts["admin"] == a.facts["admin"]
    assert "restored" in b.wait_for_line("data ")
    r = requests.get(f"{b.api}/users/me", headers=rita, timeout=30)  # the SAME access token
    assert r.status_code == 200 and r.json()["email"] == "rita@example.com" and r.json()["emailVerified"] is True
    r = requests.get(f"{b.api}/orders/{order.json()['orderId']}", headers=rita, timeout=30)
    assert r.status_code == 200 and r.json()["status"] == order.json()["status"]
    assert requests.get(f"{b.api}/products/{product['productId']}", timeout=30).json()["name"] == "Buffalo Milk"
    left = requests.get(
        f"{b.api}/inventory",
        headers=bearer(login(b.api, b.facts["admin"]["email"], b.facts["admin"]["password"])["accessToken"]),
        timeout=30,
    )
    assert [(s["available"], s["reserved"]) for s in left.json()["items"]] == [(3, 2)]
    got = aws(b, "sqs").receive_message(QueueUrl=dlq, WaitTimeSeconds=1).get("Messages", [])
    assert [m["Body"] for m in got] == ['{"poison": true}']
    assert aws(b, "s3").get_object(Bucket=bucket, Key="reports/day.json")["Body"].read() == b'{"orders": 1}'
    time.sleep(2)  # the stream pollers (0.5 s) would by now have (wrongly) announced restored rows
    assert [m for m in messages(b.endpoint) if m["subject"] == confirm] == []  # not to rita, not to the admin
    again = event_types(world["home"])[before:]
    assert not {"UserRegistered", "VerificationRequested", "OrderPlaced"} & set(again), again


def test_code_edit_is_served_without_a_restart(world: Any) -> None:
    b, project = world["b"], world["project"]
    (project / "chalicelib" / "probe.py").write_text('VALUE = "one"\n')
    app_py = project / "app.py"
    app_py.write_text(
        app_py.read_text()
        + "\nfrom chalicelib import probe as probe_values  # noqa: E402\n\n\n"
        + '@app.route("/probe", methods=["GET"])\ndef probe() -> dict[str, str]:\n'
        + '    return {"value": probe_values.VALUE}\n'
    )

    def value() -> str | None:
        r = requests.get(f"{b.api}/probe", timeout=30)
        return str(r.json()["value"]) if r.status_code == 200 else None

    def eventually(expected: str) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and value() != expected:
            time.sleep(0.3)
        assert value() == expected, b.output

    eventually("one")
    (project / "chalicelib" / "probe.py").write_text("VALUE = (\n")  # does not import
    b.wait_for_line("reload failed, still serving the previous code: SyntaxError")
    assert value() == "one"
    r = requests.get(f"{b.api}/products?limit=1", timeout=30)  # the rest of the old app is intact
    assert r.status_code == 200
    (project / "chalicelib" / "probe.py").write_text('VALUE = "two"\n')
    eventually("two")


def test_kill_9_loses_at_most_the_last_seconds(world: Any) -> None:
    b = world["b"]
    admin = bearer(login(b.api, b.facts["admin"]["email"], b.facts["admin"]["password"])["accessToken"])
    product = new_product(b.api, admin, "Made Before Kill")
    time.sleep(3)  # more than one snapshot period (2 s)
    b.kill()
    c = world["c"] = Stack(world["home"], world["project"])
    assert requests.get(f"{c.api}/products/{product['productId']}", timeout=30).status_code == 200
    assert c.interrupt() < 10


def test_corrupt_state_file_is_set_aside_and_the_stack_starts_empty(world: Any) -> None:
    state = world["home"] / "state.json"
    state.write_text('{"version": 1, "dynamodb": [')
    d = world["d"] = Stack(world["home"], world["project"])
    line = d.wait_for_line("is unreadable")
    assert line.startswith(f"state file {state} is unreadable (not JSON")
    aside = list(world["home"].glob("state.json.corrupt-*"))
    assert len(aside) == 1 and aside[0].read_text() == '{"version": 1, "dynamodb": ['
    assert d.facts["restored"] is None and d.facts["admin"]["password"] != world["a"].facts["admin"]["password"]
    assert requests.get(f"{d.api}/products?limit=5", timeout=30).json()["items"] == []
    assert d.interrupt() < 10
