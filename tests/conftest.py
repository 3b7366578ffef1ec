"""Shared fixtures: moto with the template's resources, the Chalice test client, users."""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Iterator
from typing import Any

import pytest

# Before app.py is imported: names and cheap bcrypt for tests.
os.environ.update(
    {
        "FRESHCART_STAGE": "local",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "BCRYPT_ROUNDS": "4",
        # botocore's account-based DynamoDB endpoints ({account}.streams-ddb...) are not routed by
        # moto's in-process mock; the local stack sets AWS_ENDPOINT_URL, which sidesteps them.
        "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled",
    }
)
os.environ.pop("AWS_ENDPOINT_URL", None)

from moto import mock_aws
from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl

from chalicelib import bootstrap
from chalicelib.core import aws as aws_clients
from chalicelib.core import config
from chalicelib.users import tokens
from freshcart_local import gateway, moto_patches
from tests.moto_world import WORLD

moto_patches.apply()
gateway.apply()


class _QuickerRetries:
    """moto's Step Functions interpreter sleeps each Retry interval for real (the checkout's 2, 4
    and 8 s); in-process tests take them at a quarter of their length, same count and order."""

    SCALE = 0.25

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds * self.SCALE)


retrier_decl.time = _QuickerRetries()  # type: ignore[assignment]

pytest_plugins = ["tests.stripe_local"]  # stripe_server, stripe_env: local Stripe for in-process tests

MOTO_CONFIG: Any = {"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}}
PASSWORD = "correct-horse-42"


def reset_caches() -> None:
    """Everything, boto3 clients included (a test that points them at another endpoint)."""
    aws_clients.reset()
    reset_state_caches()


def reset_state_caches() -> None:
    """What depends on one test's AWS state (settings, the signing key, services); the boto3
    clients stay: moto intercepts them whatever mock is active, and building eight clients per
    test cost more than the whole provisioning."""
    config.reset()
    tokens.reset()
    bootstrap.reset()


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """moto with every resource of infra/resources.json, and no data: this worker's world
    (tests/moto_world.py), provisioned once and emptied after each test."""
    mock = mock_aws(config=MOTO_CONFIG)
    mock.start(reset=False)
    try:
        reset_state_caches()
        env = WORLD.ready()
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        config.reset()
        aws_clients.client("ses").verify_email_identity(EmailAddress=config.get_settings().mail_from)
        aws_clients.client("dynamodb").meta.events.register("before-call.dynamodb.Scan", _no_scan, unique_id="no-scan")
        session = aws_clients._session
        yield env
        if aws_clients._session is not session:  # the test rebuilt the clients (another endpoint)
            aws_clients.reset()
        reset_state_caches()
    finally:
        try:
            WORLD.clear()
        finally:
            mock.stop(remove_data=False)


@pytest.fixture
def own_clients(aws: dict[str, str]) -> None:
    """boto3 clients of this test's own, for a test that hooks events on them: the ``aws``
    fixture drops them afterwards, so the hooks do not reach later tests."""
    aws_clients.reset()
    aws_clients.client("dynamodb").meta.events.register("before-call.dynamodb.Scan", _no_scan, unique_id="no-scan")


def _no_scan(**kwargs: Any) -> None:
    raise AssertionError("Scan on a request path: use a Query or GetItem")


@pytest.fixture
def client(aws: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    from chalice.local import LocalChalice
    from chalice.test import BaseClient, Client

    from app import app

    # As `chalice local` does: the current request is per thread, so concurrent tests don't share it.
    app.__class__ = LocalChalice
    # chalice.test swaps ``os.environ`` for a dict copy around every call and swaps it back; two
    # calls on two threads (the race tests) restore each other's copies, leaving a stale dict
    # as os.environ (and a monkeypatched variable that never goes away). Apply the stage's
    # variables once instead, through monkeypatch.
    monkeypatch.setattr(BaseClient, "_patched_env_vars", lambda self, env: contextlib.nullcontext())
    with Client(app, stage_name="local") as c:
        stage = c.http._config.scope(c.http._config.chalice_stage, "api_handler")
        for key, value in stage.environment_variables.items():
            monkeypatch.setenv(key, value)
        config.reset()  # the stage's sender (MAIL_FROM) is verified too, as the local stack does
        aws_clients.client("ses").verify_email_identity(EmailAddress=config.get_settings().mail_from)
        yield c


class Api:
    """Small helpers over chalice.test.Client for JSON calls."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def call(
        self, method: str, path: str, body: Any = None, token: str | None = None, headers: dict[str, str] | None = None
    ) -> Any:
        h = {"content-type": "application/json", **(headers or {})}
        if token:
            h["authorization"] = f"Bearer {token}"
        payload = body if isinstance(body, (str, bytes)) else (json.dumps(body) if body is not None else None)
        return getattr(self.client.http, method.lower())(path, headers=h, body=payload)

    def register(self, username: str = "alice", email: str | None = None, password: str = PASSWORD) -> dict[str, Any]:
        resp = self.call(
            "POST",
            "/auth/register",
            {"username": username, "email": email or f"{username}@example.com", "password": password},
        )
        assert resp.status_code == 201, resp.body
        return json_body(resp)

    def login(self, username: str = "alice", password: str = PASSWORD, **extra: Any) -> dict[str, Any]:
        resp = self.call("POST", "/auth/login", {"username": username, "password": password, **extra})
        assert resp.status_code == 200, resp.body
        return json_body(resp)

    def user(self, username: str = "alice", role: str = "customer") -> dict[str, Any]:
        """A registered, logged-in user with the given role; returns its login response."""
        registered = self.register(username)
        if role != "customer":
            set_role(registered["userId"], role)
        return self.login(username)


def set_role(user_id: str, role: str) -> None:
    """Seed a role directly (as the local stack seeds the first admin)."""
    aws_clients.client("dynamodb").update_item(
        TableName=config.get_settings().users_table,
        Key={"pk": {"S": f"USER#{user_id}"}, "sk": {"S": "PROFILE"}},
        UpdateExpression="SET #r = :r",
        ExpressionAttributeNames={"#r": "role"},
        ExpressionAttributeValues={":r": {"S": role}},
    )


def json_body(resp: Any) -> Any:
    return json.loads(resp.body) if resp.body else None


@pytest.fixture
def api(client: Any) -> Api:
    return Api(client)


def race(*calls: Any) -> list[Any]:
    """Run the callables at the same moment on their own threads; their results, in order."""
    import threading

    results: list[Any] = [None] * len(calls)
    barrier = threading.Barrier(len(calls))

    def run(i: int) -> None:
        barrier.wait()
        results[i] = calls[i]()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results
