"""Local Stripe: localstripe's aiohttp app on 127.0.0.1, in its own thread and event loop.

Not localstripe's CLI: that binds every interface and pickles its store to /tmp on every write.
Here the store is saved, when it changed, to a file of the stack's own (``.freshcart/stripe.pickle``,
written atomically, owner-only, at most every ``save_seconds`` and on stop) and loaded on start; a
file that cannot be read is set aside with one line. The app is a fresh ``web.Application`` per
start, with localstripe's routes and middlewares behind our fault middleware (faults.py) and an
Idempotency-Key middleware (localstripe ignores the header; Stripe honours it).

localstripe keeps its store and its webhooks in module globals: one local Stripe per process.
Point the official SDK at ``api_base`` (``stripe.api_base = ...`` or
``StripeClient(key, base_addresses={"api": api_base})``); any ``sk_...`` key is accepted.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import pickle
import re
import secrets
import string
import threading
import time
import urllib.request
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from freshcart_local import faults

SECRET_NAME = "freshcart/{stage}/stripe"
WEBHOOK_ID = "freshcart"
WEBHOOK_PATH = "/webhooks/stripe"
# What the payments domain listens for; registered only where localstripe emits it (emitted()).
WANTED_EVENTS = (
    "payment_intent.succeeded",
    "payment_intent.payment_failed",
    "payment_intent.requires_action",
    "charge.refunded",
    "charge.dispute.created",
    "charge.dispute.funds_withdrawn",
    "charge.dispute.funds_reinstated",
    "charge.dispute.closed",
    "refund.failed",
)
TEST_CARDS = (
    "pm_card_visa (succeeds)",
    "pm_card_visa_chargeDeclined (declined: 402 card_declined)",
    "card 4000002760003184 (requires_action; finish with POST /v1/payment_intents/{id}/_authenticate)",
)
STATE_VERSION = 1
# localstripe says every card is from FR. Here: Stripe's country test cards are from their country
# and every other test card from the shop's own country, so the card-country fraud rule has
# something true to judge locally (on Stripe, 4242 4242 4242 4242 is a US card).
HOME_COUNTRY = "IN"
LOCAL_FEE_BPS = 200  # Stripe India's fee on a domestic card: 2 % (localstripe takes none)
CARD_COUNTRIES = {
    "4000003560000008": "IN",
    "4000008260000000": "GB",
    "4000000760000002": "BR",
    "4000001240000000": "CA",
    "4000000400000008": "AT",
    "4000000000000077": "US",
}
SAVE_SECONDS = 1.0
START_TIMEOUT = 10.0
# Cards whose charge localstripe declines, besides its own list (see patch()).
DECLINED_ON_CHARGE = ("4000000000000002",)

_changes = 0  # bumped on every store write (localstripe's dump_to_disk hook, patched)
_patched = False


@dataclass(frozen=True)
class Keys:
    """The local account's keys: kept with the stack's state so they survive restarts."""

    secret_key: str
    publishable_key: str
    webhook_secret: str

    @classmethod
    def new(cls) -> Keys:
        tail = secrets.token_hex(12)
        return cls(f"sk_test_local{tail}", f"pk_test_local{tail}", f"whsec_{secrets.token_urlsafe(24)}")

    @classmethod
    def from_dict(cls, data: Any) -> Keys | None:
        """Keys from a saved dict, or None if it is not one."""
        if not isinstance(data, dict):
            return None
        try:
            keys = cls(str(data["secret_key"]), str(data["publishable_key"]), str(data["webhook_secret"]))
        except KeyError:
            return None
        good = (
            keys.secret_key.startswith("sk_")
            and keys.publishable_key.startswith("pk_")
            and keys.webhook_secret.startswith("whsec_")
        )
        return keys if good else None

    def to_dict(self) -> dict[str, str]:
        return asdict(self)

    def secret_string(self) -> str:
        """The SecretString of ``freshcart/<stage>/stripe``, as the app reads it."""
        return json.dumps(
            {"secretKey": self.secret_key, "publishableKey": self.publishable_key, "webhookSecret": self.webhook_secret}
        )


def write_secret(secretsmanager: Any, stage: str, keys: Keys) -> str:
    """Put the local keys into the stage's Stripe secret, whether or not the template made it."""
    name = SECRET_NAME.format(stage=stage)
    try:
        secretsmanager.put_secret_value(SecretId=name, SecretString=keys.secret_string())
    except secretsmanager.exceptions.ResourceNotFoundException:
        secretsmanager.create_secret(Name=name, SecretString=keys.secret_string())
    return name


def emitted() -> set[str]:
    """The event types localstripe ever sends (read from its source: it has no list)."""
    import inspect

    from localstripe import resources

    return set(re.findall(r"Event\(\s*'([a-z_.]+)'", inspect.getsource(resources)))


def webhook_events() -> list[str]:
    have = emitted()
    return [e for e in WANTED_EVENTS if e in have]


def _changed() -> None:
    global _changes
    _changes += 1


def patch() -> None:
    """Once per process: the store no longer pickles itself to /tmp (it tells us it changed
    instead), and ``pm_card_visa_chargeDeclined`` (card 4000000000000002) is declined when
    charged, as on Stripe; localstripe 1.15.10 declines it only when attached to a customer; a
    succeeded SetupIntent attaches its method to its customer, as on Stripe.
    Relies on localstripe internals (pinned); tests/integration/test_stripe_local.py checks."""
    global _patched
    if _patched:
        return
    from localstripe import resources

    store = resources.store
    store.dump_to_disk = _changed  # type: ignore[method-assign]
    store.try_load_from_disk = lambda: None  # type: ignore[method-assign]
    declined = resources.PaymentMethod._charging_is_declined

    def charging_is_declined(self: Any) -> bool:
        if self.type == "card" and getattr(self, "_card_number", None) in DECLINED_ON_CHARGE:
            return True
        return bool(declined(self))

    resources.PaymentMethod._charging_is_declined = charging_is_declined  # type: ignore[method-assign]
    made = resources.PaymentMethod.__init__

    def init(self: Any, *args: Any, **kwargs: Any) -> None:
        made(self, *args, **kwargs)
        if getattr(self, "type", None) == "card" and isinstance(getattr(self, "card", None), dict):
            number = getattr(self, "_card_number", "")
            self.card["country"] = CARD_COUNTRIES.get(number, HOME_COUNTRY)

    resources.PaymentMethod.__init__ = init  # type: ignore[method-assign]
    recorded = resources.BalanceTransaction.__init__

    def fee_taken(self: Any, *args: Any, **kwargs: Any) -> None:
        recorded(self, *args, **kwargs)
        if self.type == "charge":  # localstripe charges no fee; Stripe does
            self.fee = int(self.amount) * LOCAL_FEE_BPS // 10_000
            self.fee_details = [{"amount": self.fee, "currency": self.currency, "type": "stripe_fee"}]

    resources.BalanceTransaction.__init__ = fee_taken  # type: ignore[method-assign]
    attach = resources.SetupIntent._attach_pm

    def attach_to_customer(self: Any, pm: Any) -> None:
        """Stripe attaches a SetupIntent's method to its customer when it succeeds; localstripe
        1.15.10 only records it on the intent (so the customer has no saved card to charge)."""
        attach(self, pm)
        if self.status == "succeeded" and self.customer and getattr(pm, "customer", None) != self.customer:
            resources.PaymentMethod._api_attach(pm.id, customer=self.customer)

    resources.SetupIntent._attach_pm = attach_to_customer  # type: ignore[method-assign]
    # Ids from the process's global ``random``: a program that seeds it (hypothesis does, in the
    # contract fuzz) makes localstripe mint the same id twice and answer 409. Stripe's never repeat.
    alphabet = string.ascii_letters + string.digits
    resources.random_id = lambda n: "".join(secrets.choice(alphabet) for _ in range(n))
    _patched = True


def load_state(path: Path) -> dict[str, Any]:
    """The saved store at ``path`` ({} if none). Raises ValueError if it cannot be read."""
    if not path.exists():
        return {}
    try:
        # Our own owner-only file in the stack's owner-only folder: trusted like the code itself.
        data = pickle.loads(path.read_bytes())  # noqa: S301
    except Exception as exc:  # a truncated or foreign pickle raises almost anything
        raise ValueError(f"not a saved Stripe store ({type(exc).__name__})") from None
    if not isinstance(data, dict) or data.get("version") != STATE_VERSION or not isinstance(data.get("store"), dict):
        raise ValueError(f"not a version-{STATE_VERSION} Stripe store")
    store: dict[str, Any] = data["store"]
    return store


def set_aside(path: Path) -> Path:
    aside = path.with_name(f"{path.name}.corrupt-{time.strftime('%Y%m%d-%H%M%S')}")
    os.replace(path, aside)
    return aside


def write_atomic(path: Path, data: bytes) -> None:
    """As snapshot.write_atomic: temp file, fsync, replace; owner-only."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def call(api_base: str, method: str, path: str, body: Any = None) -> bytes:
    """A JSON request to a local Stripe (its ``/_config/`` API needs no key)."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(  # noqa: S310 - our own server on 127.0.0.1
        api_base + path, data=data, method=method, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as resp:  # noqa: S310
        out: bytes = resp.read()
        return out


Handler = Callable[[Any], Awaitable[Any]]


async def fault_middleware(request: Any, handler: Handler) -> Any:
    """Apply an injected Stripe fault (faults.py) to this request, if one matches."""
    from aiohttp import web

    fault = faults.take_stripe(request.path)
    if fault is None:
        return await handler(request)
    if fault.mode == "error500":
        return web.json_response(
            {"error": {"type": "api_error", "message": f"Injected fault {fault.id}: internal error"}}, status=500
        )
    if fault.mode == "rate_limit":
        return web.json_response(
            {
                "error": {
                    "type": "invalid_request_error",
                    "code": "rate_limit",
                    "message": f"Injected fault {fault.id}: too many requests",
                }
            },
            status=429,
        )
    await request.read()  # kept by aiohttp: the handler still has the body if the caller hangs up
    await asyncio.sleep(fault.delay_seconds)  # timeout
    if fault.drop:
        if request.transport is not None:
            request.transport.abort()  # reset, no answer; the request is never handled
        raise asyncio.CancelledError
    return await handler(request)


IDEMPOTENCY_SECONDS = 24 * 3600  # as Stripe keeps a key's result
_replays: dict[tuple[str, str], tuple[float, str, int, bytes, str]] = {}  # (account, key) -> result
_running: set[tuple[str, str]] = set()


async def idempotency_middleware(request: Any, handler: Handler) -> Any:
    """What localstripe lacks and Stripe does: a POST with an ``Idempotency-Key`` seen before
    (same account, within 24 h) gets the first answer again without running twice; with other
    parameters, a 400 ``idempotency_error``; while the first is still running, a 409. Answers
    of 5xx, 409 and 429 are not kept (Stripe keeps only requests that started executing).
    Kept in memory: a restart forgets the keys, as the pickle keeps only Stripe's objects."""
    from aiohttp import web

    key = request.headers.get("Idempotency-Key")
    if request.method != "POST" or not key:
        return await handler(request)
    scope = (request.headers.get("Authorization", ""), key)
    body = await request.read()
    fingerprint = f"{request.path}?{request.query_string}\n".encode() + body
    digest = hashlib.sha256(fingerprint).hexdigest()
    now = time.time()
    for old in [k for k, v in _replays.items() if v[0] < now - IDEMPOTENCY_SECONDS]:
        del _replays[old]
    seen = _replays.get(scope)
    if seen is not None:
        if seen[1] != digest:
            return _stripe_error(
                400,
                "idempotency_error",
                f"Keys for idempotent requests can only be used with the same parameters they were first "
                f"used with. Try using a key other than '{key}'.",
            )
        return web.Response(status=seen[2], body=seen[3], content_type=seen[4], headers={"Idempotent-Replayed": "true"})
    if scope in _running:
        return _stripe_error(
            409, "idempotency_key_in_use", "There is currently another in-progress request using this Idempotent Key."
        )
    _running.add(scope)
    try:
        response = await handler(request)
    finally:
        _running.discard(scope)
    status = int(getattr(response, "status", 500))
    if status < 500 and status not in (409, 429) and isinstance(getattr(response, "body", None), bytes):
        _replays[scope] = (now, digest, status, response.body, response.content_type)
    return response


def _stripe_error(status: int, code: str, message: str) -> Any:
    from aiohttp import web

    return web.json_response(
        {"error": {"type": "invalid_request_error", "code": code, "message": message}}, status=status
    )


async def _balance_transactions(request: Any) -> Any:
    """GET /v1/balance_transactions: localstripe has the objects (with our fee, ``patch``) but
    its listing route calls the list without the url it needs."""
    from aiohttp import web
    from localstripe.resources import BalanceTransaction

    query = request.query
    listed = BalanceTransaction._api_list_all(
        request.path, limit=query.get("limit"), starting_after=query.get("starting_after")
    )
    return web.json_response(listed._export())


def build_app() -> Any:
    """A fresh aiohttp app with localstripe's routes (its module app can only be run once)."""
    from aiohttp import web
    from localstripe import server

    app = web.Application(
        middlewares=[
            web.middleware(fault_middleware),
            web.middleware(idempotency_middleware),
            *server.app.middlewares,
        ]
    )
    for route in server.app.router.routes():
        info = route.resource.get_info() if route.resource is not None else {}
        path = info.get("path") or info.get("formatter")
        if route.method == "HEAD" or path is None:
            continue  # aiohttp adds HEAD for each GET itself
        if path == "/v1/balance/history":
            continue  # localstripe's listing of it fails (no url given): ours below
        app.router.add_route(route.method, path, route.handler)
    for path in ("/v1/balance/history", "/v1/balance_transactions"):  # the SDK's name, and the old one
        app.router.add_route("GET", path, _balance_transactions)
    app.on_response_prepare.append(server.add_cors_headers)
    return app


class LocalStripe:
    """localstripe on ``host:port``; ``state`` is where its store is kept (None: not kept)."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 8420,
        state: Path | None = None,
        save_seconds: float = SAVE_SECONDS,
        say: Callable[[str], None] = print,
    ) -> None:
        self.host, self.port, self.state, self.save_seconds, self.say = host, port, state, save_seconds, say
        self.restored = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: Any = None
        self._thread: threading.Thread | None = None
        self._saved_at = -1
        self._autosave: asyncio.Task[None] | None = None

    @property
    def api_base(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> str:
        """Load the kept store, serve, return ``api_base``. Raises if the port cannot be bound."""
        from localstripe import resources, webhooks

        patch()
        store = resources.store
        kept: dict[str, Any] = {}
        if self.state is not None:
            try:
                kept = load_state(self.state)
            except ValueError as exc:
                aside = set_aside(self.state)
                self.say(f"Stripe store {self.state} is unreadable ({exc}); moved to {aside.name}; starting empty")
        dict.clear(store)
        dict.update(store, kept)
        self.restored = sum(1 for key in kept if key.startswith("payment_intent:"))
        webhooks._webhooks.clear()
        self._saved_at = _changes

        ready = threading.Event()
        failure: list[BaseException] = []
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._serve, args=(ready, failure), name="stripe", daemon=True)
        self._thread.start()
        if not ready.wait(START_TIMEOUT):
            raise RuntimeError(f"local Stripe did not start within {START_TIMEOUT:g}s")
        if failure:
            self._thread.join(timeout=2)
            raise failure[0]
        return self.api_base

    def _serve(self, ready: threading.Event, failure: list[BaseException]) -> None:
        from aiohttp import web

        loop = self._loop
        assert loop is not None
        asyncio.set_event_loop(loop)

        async def up() -> None:
            self._runner = web.AppRunner(build_app(), access_log=None, shutdown_timeout=1.0)
            await self._runner.setup()
            await web.TCPSite(self._runner, self.host, self.port, reuse_address=True).start()
            if self.state is not None:
                self._autosave = loop.create_task(self._autosave_loop())

        try:
            loop.run_until_complete(up())
        except BaseException as exc:
            failure.append(exc)
            with contextlib.suppress(Exception):
                if self._runner is not None:
                    loop.run_until_complete(self._runner.cleanup())
            loop.close()
            ready.set()
            return
        ready.set()
        try:
            loop.run_forever()
        finally:
            loop.close()

    async def _autosave_loop(self) -> None:
        while True:
            await asyncio.sleep(self.save_seconds)
            try:
                self._save_now()
            except Exception as exc:  # a full disk must not stop Stripe; try again next time
                self.say(f"saving the Stripe store failed: {type(exc).__name__}: {exc}")

    def _save_now(self, force: bool = False) -> bool:
        """In the loop's thread (nothing else writes the store): pickle and write if changed."""
        if self.state is None:
            return False
        from localstripe import resources

        seen = _changes
        if seen == self._saved_at and not force:
            return False
        data = pickle.dumps(
            {"version": STATE_VERSION, "store": dict(resources.store)}, protocol=pickle.HIGHEST_PROTOCOL
        )
        write_atomic(self.state, data)
        self._saved_at = seen
        return True

    def _in_loop(self, make: Callable[[], Awaitable[Any]], timeout: float = 10) -> Any:
        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(make(), self._loop).result(timeout)  # type: ignore[arg-type]

    def save(self, force: bool = False) -> bool:
        """Write the store now if it changed (from any thread)."""
        if self._loop is None or not self._loop.is_running():
            return False

        async def run() -> bool:
            return self._save_now(force)

        return bool(self._in_loop(run))

    def register_webhook(self, url: str, secret: str, events: list[str] | None = None) -> None:
        """Over its own API (``POST /_config/webhooks/freshcart``), as a developer would."""
        body = {"url": url, "secret": secret, "events": webhook_events() if events is None else events}
        self.call("POST", f"/_config/webhooks/{WEBHOOK_ID}", body)

    def wipe(self) -> None:
        """Forget every Stripe object (``DELETE /_config/data``)."""
        self.call("DELETE", "/_config/data")

    def call(self, method: str, path: str, body: Any = None) -> bytes:
        return call(self.api_base, method, path, body)

    def stop(self) -> None:
        """Save, stop serving (in-flight requests get a second), end the loop and its thread."""
        loop, self._loop = self._loop, None
        if loop is None:
            return
        if loop.is_running():

            async def down() -> None:
                if self._autosave is not None:
                    self._autosave.cancel()
                try:
                    self._save_now()
                finally:
                    if self._runner is not None:
                        await self._runner.cleanup()
                    me = asyncio.current_task()
                    for task in asyncio.all_tasks():  # webhooks still waiting to be sent
                        if task is not me:
                            task.cancel()

            try:
                asyncio.run_coroutine_threadsafe(down(), loop).result(10)
            finally:
                loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(timeout=5)
