"""Deliveries end to end over HTTP on the real local stack: an order for tomorrow morning, paid,
approved; its delivery scheduled by the real event chain (the orders stream, the order-events
topic, the deliveries queue and its consumer); a driver assigned who takes it on the road and
delivers it with a photo uploaded straight to the local S3 with the presigned POST."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests

from tests.e2e.harness import bearer, login, poll
from tests.e2e.test_payments import Payments, assert_paid, payments_env

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def env(stack: dict[str, Any]) -> Payments:
    return payments_env(stack, first_pincode=560301)


def _tomorrow() -> str:
    india = datetime.now(UTC) + timedelta(minutes=330)  # the stage's shop time (SHOP_UTC_OFFSET_MINUTES)
    return (india.date() + timedelta(days=1)).isoformat()


def _driver(env: Payments) -> tuple[str, dict[str, str]]:
    name = f"drv{uuid.uuid4().hex[:6]}"
    r = requests.post(
        f"{env.api}/auth/register",
        json={"username": name, "email": f"{name}@example.com", "password": "correct-horse-42"},
        timeout=30,
    )
    assert r.status_code == 201, r.text
    user_id = r.json()["userId"]
    r = requests.patch(f"{env.api}/users/{user_id}/role", headers=env.admin, json={"role": "driver"}, timeout=30)
    assert r.status_code == 200, r.text
    return user_id, bearer(login(env.api, f"{name}@example.com", "correct-horse-42")["accessToken"])


def _upload(form: dict[str, Any], body: bytes, content_type: str) -> int:
    files = {"file": ("proof.jpg", body, content_type)}
    return requests.post(form["url"], data=form["fields"], files=files, timeout=30).status_code


def test_an_order_for_tomorrow_morning_is_delivered_by_its_driver_with_a_photo(env: Payments) -> None:
    shop = env.shop("Morning Milk")
    body = {
        "items": [{**shop.line, "quantity": 2}],
        "addressId": shop.address,
        "deliveryDate": _tomorrow(),
        "deliverySlot": "MORNING",
        "specialInstructions": "leave at the door",
    }
    r = requests.post(
        f"{env.api}/orders", headers={**shop.customer, "Idempotency-Key": uuid.uuid4().hex}, json=body, timeout=30
    )
    assert r.status_code == 201, r.text
    order = r.json()
    assert (order["deliveryDate"], order["deliverySlot"]) == (_tomorrow(), "MORNING")
    assert shop.pay(order["orderId"]).status_code == 202
    assert_paid(shop, order, 2)
    r = requests.post(f"{env.api}/orders/{order['orderId']}/approve", headers=env.manager, timeout=30)
    assert r.status_code == 200, r.text

    def deliveries() -> list[dict[str, Any]]:
        r = requests.get(f"{env.api}/orders/{order['orderId']}/delivery", headers=shop.customer, timeout=30)
        assert r.status_code == 200, r.text
        return list(r.json()["items"])

    (d,) = poll(deliveries, bool, 30, "the delivery scheduled by the OrderApproved consumer")
    assert (d["status"], d["deliverySlot"], d["specialInstructions"]) == ("SCHEDULED", "MORNING", "leave at the door")
    driver_id, driver = _driver(env)
    did = d["deliveryId"]
    r = requests.post(f"{env.api}/deliveries/{did}/assign", headers=env.admin, json={"driverId": driver_id}, timeout=30)
    assert r.status_code == 200, r.text
    r = requests.get(f"{env.api}/drivers/me/deliveries", params={"date": _tomorrow()}, headers=driver, timeout=30)
    assert [x["deliveryId"] for x in r.json()["items"]] == [did]
    status = f"{env.api}/deliveries/{did}/status"
    assert requests.post(status, headers=driver, json={"status": "IN_TRANSIT"}, timeout=30).status_code == 200
    assert shop.get_order(order["orderId"])["status"] == "DISPATCHED"

    form = requests.post(f"{env.api}/deliveries/{did}/proof", headers=driver, json={}, timeout=30).json()
    big = requests.post(f"{env.api}/deliveries/{did}/proof", headers=driver, json={}, timeout=30).json()
    _upload(big, b"x" * (5 * 1024 * 1024 + 1), "image/jpeg")  # S3 refuses it; if the emulator does not, we do
    r = requests.post(status, headers=driver, json={"status": "DELIVERED", "proofKey": big["key"]}, timeout=30)
    assert r.status_code == 422 and "proofKey" in r.json()["error"]["fields"], r.text
    assert _upload(form, b"\xff\xd8\xff" + b"0" * 4096, "image/jpeg") in (200, 201, 204)
    r = requests.post(status, headers=driver, json={"status": "DELIVERED", "proofKey": form["key"]}, timeout=30)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "DELIVERED" and r.json()["proofKey"] == form["key"]
    assert requests.post(status, headers=driver, json={"status": "IN_TRANSIT"}, timeout=30).status_code == 409
    assert shop.get_order(order["orderId"])["status"] == "DELIVERED"
