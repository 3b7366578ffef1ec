"""Start the real local stack in a subprocess and drive it. Its output is drained by a thread
(a full pipe would block the stack), kept for failure messages."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import requests

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT = 120  # two cores shared with other suites: generous
T = TypeVar("T")
# The app's Stripe timeout in the stacks the tests start (10 s by default): the fault tests that
# hold a Stripe call past it wait for it, twice per test.
STRIPE_TIMEOUT_SECONDS = 4
CLEAN_ENV_DROP = ("FRESHCART_STAGE", "BCRYPT_ROUNDS", "USER_EVENTS_TOPIC_ARN", "ALERTS_TOPIC_ARN", "ARCHIVE_BUCKET")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_open(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def clean_env() -> dict[str, str]:
    """The caller's environment without what the test suite sets for moto's in-process mock."""
    return {k: v for k, v in os.environ.items() if not k.startswith("AWS_") and k not in CLEAN_ENV_DROP}


def cli(*args: str, home: Path, cwd: Path = ROOT, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "freshcart_local", *args, "--home", str(home)],
        cwd=cwd,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


class Stack:
    def __init__(self, home: Path, cwd: Path = ROOT, *extra: str) -> None:
        self.home, self.cwd = home, cwd
        self.api_port, self.aws_port, self.stripe_port = free_port(), free_port(), free_port()
        self.lines: list[str] = []
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "freshcart_local",
                "run",
                "--api-port",
                str(self.api_port),
                "--aws-port",
                str(self.aws_port),
                "--stripe-port",
                str(self.stripe_port),
                "--home",
                str(home),
                *extra,
            ],
            cwd=cwd,
            env={**clean_env(), "STRIPE_TIMEOUT_SECONDS": str(STRIPE_TIMEOUT_SECONDS)},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self._drain = threading.Thread(target=self._read, daemon=True)
        self._drain.start()
        self.facts = self._wait_up()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    @property
    def output(self) -> str:
        return "\n".join(self.lines[-200:])

    def _wait_up(self) -> dict[str, Any]:
        facts = self.home / "local.json"
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"local stack exited with {self.proc.returncode}:\n{self.output}")
            if facts.exists() and any(line.startswith("Ctrl-C stops everything") for line in self.lines):
                data: dict[str, Any] = json.loads(facts.read_text())
                return data
            time.sleep(0.2)
        self.proc.kill()
        raise AssertionError(f"local stack did not start within {START_TIMEOUT}s:\n{self.output}")

    @property
    def api(self) -> str:
        return str(self.facts["api_url"])

    @property
    def endpoint(self) -> str:
        return str(self.facts["aws_endpoint"])

    def wait_for_line(self, text: str, timeout: float = 30) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in self.lines:
                if text in line:
                    return line
            time.sleep(0.2)
        raise AssertionError(f"no line with {text!r} within {timeout}s:\n{self.output}")

    def interrupt(self, timeout: float = 30) -> float:
        """Ctrl-C; returns the seconds until the process had exited."""
        started = time.monotonic()
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.send_signal(signal.SIGUSR1)  # the stack dumps its threads' stacks
            time.sleep(1)
            self.kill()
            raise AssertionError(f"no exit within {timeout}s of Ctrl-C:\n{self.output}") from None
        return time.monotonic() - started

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=30)


def mailbox(endpoint: str, to: str, subject: str, timeout: float = 30) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for msg in messages(endpoint):
            if to in msg["destinations"]["ToAddresses"] and msg["subject"] == subject:
                return str(msg["body"])
        time.sleep(0.3)
    raise AssertionError(f"no '{subject}' mail to {to} within {timeout}s")


def messages(endpoint: str) -> list[dict[str, Any]]:
    """SES's sent mail, from moto's dump of every backend. The dump walks live models while the
    stack's threads (dispatcher, scheduler, executions) change them, and now and then answers 500
    ("dictionary changed size during iteration"): it is asked again."""
    for _ in range(10):
        r = requests.get(f"{endpoint}/moto-api/data.json", timeout=10)
        if r.status_code == 200:
            return list(r.json().get("ses", {}).get("Message", []))
        time.sleep(0.2)
    r.raise_for_status()
    return []


def login(api: str, email: str, password: str) -> dict[str, Any]:
    r = requests.post(f"{api}/auth/login", json={"email": email, "password": password}, timeout=30)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def stocked(api: str, admin: dict[str, str], name: str, pincode: str, units: int, price: int = 5000) -> dict[str, Any]:
    """Through the API as the admin: a product (one variant, priced in INR), a vendor serving
    ``pincode`` that offers it, and ``units`` in stock. Returns an order line for one unit, with
    the product and the vendor."""
    tag = name.upper().replace(" ", "-")
    variants = [{"name": "1 l", "unit": "l", "sku": f"{tag}-1L", "prices": {"INR": price}}]
    r = requests.post(
        f"{api}/products", headers=admin, json={"name": name, "category": "dairy", "variants": variants}, timeout=30
    )
    assert r.status_code == 201, r.text
    product = r.json()
    address = {
        "line1": "1 Lane",
        "city": "Pune",
        "state": "MH",
        "pincode": pincode,
        "country": "IN",
        "lat": 18.5,
        "lng": 73.8,
    }
    vendor_body = {
        "name": f"{name} Dairy",
        "contact": {"email": "d@example.com", "phone": "+91 80 1111 2222"},
        "address": address,
        "serviceAreas": [pincode],
        "products": [product["productId"]],
        "capacity": {"dailyOrderLimit": 1000},
    }
    r = requests.post(f"{api}/vendors", headers=admin, json=vendor_body, timeout=30)
    assert r.status_code == 201, r.text
    vendor = r.json()
    variant = product["variants"][0]["variantId"]
    stock = {"productId": product["productId"], "variantId": variant, "vendorId": vendor["vendorId"], "set": units}
    r = requests.post(f"{api}/inventory/adjust", headers=admin, json={**stock, "reason": "opening"}, timeout=30)
    assert r.status_code == 200, r.text
    line = {"productId": product["productId"], "variantId": variant, "quantity": 1}
    return {"line": line, "product": product, "vendor": vendor}


def poll(read: Callable[[], T], done: Callable[[T], bool], timeout: float = 30, what: str = "") -> T:
    """``read()`` until ``done`` holds of its value, within ``timeout`` seconds; the last value
    is in the failure message."""
    deadline = time.monotonic() + timeout
    while True:
        value = read()
        if done(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what or 'condition'} not reached within {timeout}s; last: {value!r}")
        time.sleep(0.2)


def shopper(api: str, name: str, pincode: str, password: str = "correct-horse-42") -> tuple[dict[str, str], str]:
    """A customer with a complete profile (name, phone, an address at ``pincode``), logged in:
    their bearer header and the address id. Checkout refuses incomplete profiles."""
    r = requests.post(
        f"{api}/auth/register",
        json={"username": name, "email": f"{name}@example.com", "password": password},
        timeout=30,
    )
    assert r.status_code == 201, r.text
    auth = bearer(login(api, f"{name}@example.com", password)["accessToken"])
    r = requests.patch(
        f"{api}/users/me", headers=auth, json={"name": name.title(), "phone": "+91 98450 00002"}, timeout=30
    )
    assert r.status_code == 200, r.text
    address = {"label": "home", "line1": "9 Road", "city": "Pune", "state": "MH", "pincode": pincode, "country": "IN"}
    r = requests.post(f"{api}/users/me/addresses", headers=auth, json={**address, "isDefault": True}, timeout=30)
    assert r.status_code == 201, r.text
    return auth, str(r.json()["addressId"])


class LocalStripeApi:
    """Local Stripe's own API with the stack's secret key (``facts["stripe"]``), for asserting on
    Stripe's records rather than on ours."""

    def __init__(self, stripe: dict[str, Any]) -> None:
        self.base, self.auth = str(stripe["api_base"]), (str(stripe["secret_key"]), "")

    def get(self, path: str, **params: Any) -> dict[str, Any]:
        r = requests.get(f"{self.base}{path}", params=params, auth=self.auth, timeout=30)
        assert r.status_code == 200, r.text
        body: dict[str, Any] = r.json()
        return body

    def post(self, path: str, data: dict[str, Any]) -> requests.Response:
        return requests.post(f"{self.base}{path}", data=data, auth=self.auth, timeout=30)


def fault(facts: dict[str, Any], spec: dict[str, Any]) -> dict[str, Any]:
    """Arm a local-only fault (freshcart_local/faults.py) on the running stack."""
    r = requests.post(str(facts["faults"]), json=spec, timeout=10)
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


def clear_faults(facts: dict[str, Any]) -> None:
    assert requests.delete(str(facts["faults"]), timeout=10).status_code == 200
