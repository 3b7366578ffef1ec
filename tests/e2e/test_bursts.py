"""Bursts of concurrent clients over HTTP against the real local stack: requests that must
succeed do (no false 409s from retried transactions or a small listen backlog), and the event
path keeps delivering after cancelled transactions."""

from __future__ import annotations

import json
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3
import pytest
import requests

from tests.e2e import harness
from tests.e2e.conftest import mailbox

pytestmark = pytest.mark.e2e
PASSWORD = "correct-horse-42"
PINCODE = "411002"


def burst(n: int, call: Any) -> list[Any]:
    with ThreadPoolExecutor(max_workers=n) as pool:
        return list(pool.map(call, range(n)))


def admin_headers(stack: dict[str, Any]) -> dict[str, str]:
    r = requests.post(
        f"{stack['api_url']}/auth/login",
        json={"email": stack["admin"]["email"], "password": stack["admin"]["password"]},
        timeout=30,
    )
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['accessToken']}"}


def register(api: str, name: str) -> requests.Response:
    return requests.post(
        f"{api}/auth/register",
        json={"username": name, "email": f"{name}@example.com", "password": PASSWORD},
        timeout=60,
    )


def customer(api: str, name: str) -> tuple[dict[str, str], str]:
    """Register, log in and add an address at once: the address write must not see a 409."""
    assert register(api, name).status_code == 201
    r = requests.post(f"{api}/auth/login", json={"username": name, "password": PASSWORD}, timeout=60)
    assert r.status_code == 200, r.text
    auth = {"Authorization": f"Bearer {r.json()['accessToken']}"}
    address = {"label": "home", "line1": "9 Road", "city": "Pune", "state": "MH", "pincode": PINCODE, "country": "IN"}
    r = requests.post(f"{api}/users/me/addresses", headers=auth, json=address, timeout=60)
    assert r.status_code == 201, r.text
    return auth, r.json()["addressId"]


def order_events_queue(stack: dict[str, Any]) -> tuple[Any, str]:
    endpoint = stack["aws_endpoint"]
    creds = {
        "endpoint_url": endpoint,
        "region_name": "us-east-1",
        "aws_access_key_id": "x",
        "aws_secret_access_key": "x",
    }
    sqs, sns = boto3.client("sqs", **creds), boto3.client("sns", **creds)
    name = f"e2e-bursts-{uuid.uuid4().hex[:8]}"
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    sns.subscribe(
        TopicArn=stack["env"]["ORDER_EVENTS_TOPIC_ARN"],
        Protocol="sqs",
        Endpoint=f"arn:aws:sqs:us-east-1:123456789012:{name}",
        Attributes={"RawMessageDelivery": "true"},
    )
    return sqs, url


def events(sqs: Any, url: str, want: Any, timeout: float = 30) -> list[dict[str, Any]]:
    deadline, seen = time.monotonic() + timeout, []
    while time.monotonic() < deadline:
        seen += [
            json.loads(m["Body"]) for m in sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1).get("Messages", [])
        ]
        if want(seen):
            break
    return seen


def shop(stack: dict[str, Any], units: int) -> tuple[dict[str, Any], str]:
    made = harness.stocked(stack["api_url"], admin_headers(stack), f"Ghee {uuid.uuid4().hex[:6]}", PINCODE, units)
    return made["line"], made["vendor"]["vendorId"]


def test_thirty_concurrent_registrations_of_distinct_users_all_succeed(stack: dict[str, Any]) -> None:
    api, run = stack["api_url"], uuid.uuid4().hex[:6]
    answers = burst(30, lambda i: register(api, f"burst{run}{i}").status_code)
    assert answers == [201] * 30


def test_thirty_customers_race_for_the_last_five_units(stack: dict[str, Any]) -> None:
    api, run = stack["api_url"], uuid.uuid4().hex[:6]
    line, vendor_id = shop(stack, units=5)
    buyers = burst(30, lambda i: customer(api, f"buyer{run}{i}"))

    def order(i: int) -> tuple[int, str]:
        auth, address = buyers[i]
        r = requests.post(
            f"{api}/orders",
            headers={**auth, "Idempotency-Key": f"last-five-{i}"},
            json={"items": [line], "addressId": address},
            timeout=60,
        )
        return r.status_code, (r.json().get("error") or {}).get("code", "") if r.status_code in (201, 409) else r.text

    answers = Counter(burst(30, order))
    assert answers == {(201, ""): 5, (409, "out_of_stock"): 25}
    stock = requests.get(f"{api}/inventory?vendorId={vendor_id}", headers=admin_headers(stack), timeout=30).json()
    assert [(s["available"], s["reserved"]) for s in stock["items"]] == [(0, 5)]


def test_a_refused_registration_does_not_silence_the_next_ones_email(stack: dict[str, Any]) -> None:
    api, run = stack["api_url"], uuid.uuid4().hex[:6]
    twice = sorted(burst(2, lambda _: register(api, f"twin{run}").status_code))
    assert twice == [201, 409]
    assert register(api, f"after{run}").status_code == 201
    assert mailbox(stack, f"after{run}@example.com", "Confirm your freshcart email", timeout=30)


def test_refused_orders_do_not_silence_the_next_orders_event(stack: dict[str, Any]) -> None:
    """An out-of-stock order, then one refused inside its transaction (the promo's per-user
    limit is only known to the transaction's condition), then a good order: its OrderPlaced
    event is published."""
    api, run = stack["api_url"], uuid.uuid4().hex[:6]
    line, _ = shop(stack, units=3)
    code = f"ONCE{run}".upper()
    promo = {
        "code": code,
        "kind": "percent",
        "value": 10,
        "validFrom": "2020-01-01T00:00:00Z",
        "validTo": "2099-01-01T00:00:00Z",
        "maxUses": 100,
        "maxUsesPerUser": 1,
    }
    r = requests.post(f"{api}/promos", headers=admin_headers(stack), json=promo, timeout=30)
    assert r.status_code == 201, r.text
    sqs, url = order_events_queue(stack)
    auth, address = customer(api, f"late{run}")

    def place(key: str, items: list[dict[str, Any]], **extra: Any) -> requests.Response:
        body = {"items": items, "addressId": address, **extra}
        return requests.post(f"{api}/orders", headers={**auth, "Idempotency-Key": key}, json=body, timeout=60)

    r = place("too-many", [{**line, "quantity": 4}])
    assert r.status_code == 409 and r.json()["error"]["code"] == "out_of_stock"
    assert place("promo-1", [line], promoCode=code).status_code == 201
    r = place("promo-2", [line], promoCode=code)
    assert r.status_code == 409 and r.json()["error"]["code"] == "promo_exhausted", r.text
    r = place("plain", [line])
    assert r.status_code == 201, r.text
    order_id = r.json()["orderId"]
    seen = events(sqs, url, lambda s: any(e["data"].get("orderId") == order_id for e in s))
    assert any(e["type"] == "OrderPlaced" and e["data"]["orderId"] == order_id for e in seen), seen


def test_concurrent_requests_never_see_each_others_request(stack: dict[str, Any]) -> None:
    """Each request is handled with its own caller and body (the local server's app is a
    LocalChalice, whose current request is per thread; under a shared one, concurrent requests
    answered with each other's users and bodies)."""
    api, run = stack["api_url"], uuid.uuid4().hex[:6]
    assert burst(10, lambda i: register(api, f"me{run}{i}").status_code) == [201] * 10

    def login(i: int) -> tuple[str, dict[str, str]]:
        r = requests.post(f"{api}/auth/login", json={"username": f"me{run}{i}", "password": PASSWORD}, timeout=60)
        return r.json()["userId"], {"Authorization": f"Bearer {r.json()['accessToken']}"}

    users = burst(10, login)

    def me(i: int) -> bool:
        user_id, auth = users[i % 10]
        r = requests.patch(f"{api}/users/me", headers=auth, json={"name": f"Name {user_id}"}, timeout=60)
        return r.status_code == 200 and r.json()["userId"] == user_id and r.json()["name"] == f"Name {user_id}"

    assert all(burst(30, me) + burst(30, me))


def test_an_unknown_verb_is_a_json_405_with_allow(stack: dict[str, Any]) -> None:
    r = requests.request("TRACE", f"{stack['api_url']}/products", timeout=30)
    assert r.status_code == 405 and r.json()["error"]["code"] == "method_not_allowed"
    assert r.headers["Allow"] == "GET, POST"


def test_a_junk_correlation_id_is_replaced(stack: dict[str, Any]) -> None:
    r = requests.get(f"{stack['api_url']}/nope", headers={"x-correlation-id": "a'b\"c d"}, timeout=30)
    assert r.status_code == 404 and r.json()["error"]["requestId"] != "a'b\"c d"
    r = requests.get(f"{stack['api_url']}/products?cursor=0", headers={"x-correlation-id": "trace-1.2:3"}, timeout=30)
    assert r.status_code == 400 and r.json()["error"]["requestId"] == "trace-1.2:3"
