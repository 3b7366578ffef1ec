"""Property-based contract test: schemathesis generates requests from GET /openapi.json (valid and
invalid ones) and every answer must match the document, with every schemathesis check on.

The app runs in-process behind Chalice's local gateway (authorizer and gateway responses included)
through a small WSGI adapter, against moto with the template's resources and a seeded shop: a
customer with an address and an order, an admin, a vendor user linked to a vendor that offers a
stocked product, and a promo. Each operation is called with a token of a role it names in
``x-roles``; path parameters are often a seeded id, so routes are exercised past the 404.
"""

from __future__ import annotations

import contextlib
import os
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any
from urllib.parse import quote

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.config import SchemathesisConfig

from app import app
from chalicelib.core import openapi
from tests.conftest import MOTO_CONFIG, Api, json_body, reset_caches, set_role
from tests.factories import Shop, line

CONFIG = SchemathesisConfig.from_dict(
    {
        "generation": {"max-examples": 5, "deterministic": True},
        "checks": {
            # 422 is this API's answer to a well-formed request that a rule JSON Schema cannot
            # state refuses (an unknown product, a weak password, from after to): not a 400.
            "positive_data_acceptance": {"expected-statuses": ["2xx", "401", "403", "404", "409", "422", "429"]},
        },
    }
)
CHECKS = schemathesis.checks.CHECKS.get_all()


def application(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    """WSGI over chalice.test.Client's HTTP client (Chalice's local gateway: routing, the
    authorizer, the stage's environment), as `chalice local`'s HTTP handler drives it."""
    raw = environ.get("RAW_URI") or quote(environ.get("PATH_INFO", "/"))
    if environ.get("QUERY_STRING") and "?" not in raw:
        raw += "?" + environ["QUERY_STRING"]
    headers = {k[5:].replace("_", "-").lower(): v for k, v in environ.items() if k.startswith("HTTP_")}
    if environ.get("CONTENT_TYPE"):
        headers["content-type"] = environ["CONTENT_TYPE"]
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length) if length else b""
    resp = STATE["seeded"].client.http.request(environ["REQUEST_METHOD"], raw, headers=headers, body=body)
    out = {k: ", ".join(v) if isinstance(v, list) else str(v) for k, v in resp.headers.items()}
    out.setdefault("Content-Type", "application/json")
    start_response(f"{resp.status_code} -", list(out.items()))
    return [resp.body]


@dataclass
class Seeded:
    tokens: dict[str, str]
    ids: dict[str, list[str]]
    client: Any
    api: Api
    fresh_login: tuple[str, str] = ("", "")


STATE: dict[str, Seeded] = {}
OPERATIONS = {f"{m.upper()} {p}" for p, methods in openapi.build(app)["paths"].items() for m in methods}
STATUSES: dict[str, set[int]] = {}
# Operations on a seeded id, by each id kind: a 2xx there proves the seeding reaches the routes.
SEEDED_PATHS_REACHED = {
    "GET /orders/{order_id}",
    "GET /users/{user_id}",
    "GET /vendors/{vendor_id}",
    "GET /promos/{code}",
    "DELETE /products/{product_id}",
    "DELETE /users/me/addresses/{address_id}",
}


def _seed_more(
    api: Api, shop: Shop, product: dict[str, Any], address: str, customer: str, driver_id: str
) -> dict[str, list[str]]:
    """An approved order's delivery assigned to the driver, a subscription, a saved card and a
    notice in the customer's feed: the ids the newer routes take."""
    import time

    from chalicelib import bootstrap
    from chalicelib.audit.repo import Actor
    from chalicelib.core import events, tx
    from chalicelib.notifications import service as notifications
    from chalicelib.payments import gateway

    body = {"items": [line(product, 1)], "addressId": address}
    resp = api.call("POST", "/orders", body, token=customer, headers={"Idempotency-Key": "seed-2"})
    order = json_body(resp)
    lifecycle = bootstrap.order_lifecycle()
    actor = Actor("system", "system", "-", "seed")
    paid = {"paymentId": "p-seed", "amount": order["total"], "status": "SUCCEEDED"}
    tx.commit(lifecycle.paid_items(lifecycle.get(order["orderId"]), paid, actor, int(time.time())), "seed-paid")
    manager = api.user("mandy", role="manager")["accessToken"]
    assert api.call("POST", f"/orders/{order['orderId']}/approve", token=manager).status_code == 200
    bootstrap.deliveries().schedule(order["orderId"])
    (delivery,) = bootstrap.deliveries().of_order(order["orderId"])
    shop.ok("POST", f"/deliveries/{delivery['deliveryId']}/assign", {"driverId": driver_id})
    sub = {
        "productId": product["productId"],
        "variantId": product["variants"][0]["variantId"],
        "quantity": 1,
        "frequency": "DAILY",
        "deliverySlot": "MORNING",
        "startDate": (date.today() + timedelta(days=2)).isoformat(),
        "addressId": address,
    }
    subscription = json_body(api.call("POST", "/subscriptions", sub, token=customer))
    started = json_body(api.call("POST", "/users/me/payment-methods", {}, token=customer))
    gateway.client().setup_intents.confirm(started["setupIntentId"], params={"payment_method": "pm_card_visa"})
    (card,) = json_body(api.call("GET", "/users/me/payment-methods", token=customer))["items"]
    me = json_body(api.call("GET", "/users/me", token=customer))
    notifications.handle(events.envelope("OrderPlaced", {"orderId": order["orderId"], "userId": me["userId"]}))
    (notice,) = json_body(api.call("GET", "/users/me/notifications", token=customer))["items"]
    return {
        "delivery_id": [delivery["deliveryId"]],
        "subscription_id": [subscription["subscriptionId"]],
        "payment_method_id": [card["paymentMethodId"]],
        "notification_id": [notice["notificationId"]],
    }


@pytest.fixture
def seeded(stripe_server: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Seeded]:
    from chalice.local import LocalChalice
    from chalice.test import BaseClient, Client
    from moto import mock_aws

    from chalicelib.core import aws as aws_clients
    from chalicelib.core import config
    from freshcart_local.provision import provision

    saved = dict(os.environ)
    with mock_aws(config=MOTO_CONFIG):
        reset_caches()
        os.environ.update(provision("local", "us-east-1"))
        config.reset()
        aws_clients.client("ses").verify_email_identity(EmailAddress=config.get_settings().mail_from)
        from freshcart_local.stripe_local import Keys, write_secret

        write_secret(aws_clients.client("secretsmanager"), "local", Keys.new())
        app.__class__ = LocalChalice
        # the stage's variables once (as tests/conftest.py's client does), with a local Stripe
        monkeypatch.setattr(BaseClient, "_patched_env_vars", lambda self, env: contextlib.nullcontext())
        with Client(app, stage_name="local") as client:
            stage = client.http._config.scope(client.http._config.chalice_stage, "api_handler")
            os.environ.update(stage.environment_variables)
            os.environ["STRIPE_API_BASE"] = stripe_server  # the saved-card routes reach it
            config.reset()
            aws_clients.client("ses").verify_email_identity(EmailAddress=config.get_settings().mail_from)
            api = Api(client)
            shop = Shop(api)
            product = shop.product("Milk", variants=2)
            vendor_user = api.register("vendy")
            vendor = shop.vendor([product["productId"]], owner=vendor_user["userId"])
            shop.stock(product, vendor, 50)
            shop.promo("SAVE10")
            customer, address = shop.customer("cathy")
            body = {"items": [line(product, 1)], "addressId": address}
            resp = api.call("POST", "/orders", body, token=customer, headers={"Idempotency-Key": "seed-1"})
            assert resp.status_code == 201, resp.body
            order = json_body(resp)
            api.register("leaver")  # logs in afresh for each logout (sessions are capped per user)
            victim = api.register("victim")
            set_role(victim["userId"], "customer")
            driver = api.user("drivy", role="driver")
            extra_ids = _seed_more(api, shop, product, address, customer, driver["userId"])
            seeded = Seeded(
                tokens={
                    "customer": customer,
                    "admin": shop.admin,
                    "vendor": api.login("vendy")["accessToken"],
                    "driver": driver["accessToken"],
                },
                ids={
                    "product_id": [product["productId"]],
                    "vendor_id": [vendor["vendorId"]],
                    "order_id": [order["orderId"]],
                    "address_id": [address],
                    "user_id": [victim["userId"]],
                    "code": ["SAVE10"],
                    **extra_ids,
                },
                client=client,
                api=api,
                fresh_login=("leaver", "correct-horse-42"),
            )
            STATE["seeded"] = seeded
            STATUSES.clear()
            try:
                yield seeded
            finally:
                STATE.pop("seeded")
                reset_caches()
                os.environ.clear()
                os.environ.update(saved)


def _token(case: Any, seeded: Seeded) -> str | None:
    roles = case.operation.definition.raw.get("x-roles") or []
    if not case.operation.definition.raw.get("security"):
        return None
    if case.operation.path == "/auth/logout":  # a session of its own: logging out must not end the others
        return str(seeded.api.login(seeded.fresh_login[0])["accessToken"])
    for role in ("customer", "admin", "vendor", "driver"):
        if role in roles:
            return seeded.tokens[role]
    return seeded.tokens["admin"]


@schemathesis.hook
def before_call(ctx: Any, case: Any, kwargs: dict[str, Any]) -> None:
    """Point path parameters at seeded ids two times in three, and drop a generated cursor from
    positive cases (a cursor is opaque: only a nextCursor from this API is one)."""
    seeded = STATE.get("seeded")
    if seeded is None:
        return
    for name in list(case.path_parameters or {}):
        pick = zlib.crc32(repr(sorted((case.path_parameters or {}).items())).encode()) % 3
        if name in seeded.ids and pick:
            case.path_parameters[name] = seeded.ids[name][0]
    meta = case.meta
    if case.query and "cursor" in case.query and meta is not None and meta.generation.mode.is_positive:
        del case.query["cursor"]


@schemathesis.hook
def after_call(ctx: Any, case: Any, response: Any) -> None:
    if STATE.get("seeded") is not None:
        STATUSES.setdefault(f"{case.method} {case.operation.path}", set()).add(response.status_code)


@pytest.fixture
def served(seeded: Seeded, request: pytest.FixtureRequest) -> Any:
    """The document as the app serves it, called through the app (WSGI), with role tokens."""
    # schemathesis 4.32 relabels the running item through ``_nodeid``, which pytest 9.2 renamed.
    if not hasattr(request.node, "_nodeid"):
        request.node._nodeid = request.node.nodeid
    resp = seeded.client.http.get("/openapi.json")
    assert resp.status_code == 200
    schema = schemathesis.openapi.from_dict(json_body(resp), config=CONFIG)
    schema.app = application
    schema.auth(refresh_interval=None, retry_on=[])(RoleToken)
    return schema


class RoleToken:
    """A bearer token of a role the operation names in ``x-roles`` (customer first)."""

    def get(self, case: Any, ctx: Any) -> str | None:
        seeded = STATE.get("seeded")
        return _token(case, seeded) if seeded else None

    def set(self, case: Any, data: str | None, ctx: Any) -> None:
        if data:
            case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}


LAZY = schemathesis.pytest.from_fixture("served")


@LAZY.parametrize()
@settings(
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.filter_too_much],
    database=None,
)
def test_every_answer_matches_the_document(case: Any) -> None:
    case.call_and_validate(checks=CHECKS)


@pytest.fixture(autouse=True)
def _got_past_the_guards(request: pytest.FixtureRequest) -> Iterator[None]:
    """After the fuzzing (a failure is an error at teardown): most operations answered a 2xx at
    least once, each seeded id kind was reached, no protected operation was only ever refused at the
    door (401), and every other verb probed got the JSON 405."""
    yield
    if request.node.name != "test_every_answer_matches_the_document" or request.session.testsfailed:
        return
    seen = {op: STATUSES.get(op, set()) for op in OPERATIONS}
    succeeded = {op for op, codes in seen.items() if any(200 <= c < 300 for c in codes)}
    # Random credentials and tokens never log in; the rest mostly gets through somewhere.
    assert len(succeeded) >= 0.6 * len(OPERATIONS), sorted(OPERATIONS - succeeded)
    assert succeeded >= SEEDED_PATHS_REACHED, {op: seen[op] for op in SEEDED_PATHS_REACHED - succeeded}
    assert not [op for op, codes in seen.items() if codes <= {401}]
    assert all(codes == {405} for op, codes in STATUSES.items() if op not in OPERATIONS)
