"""The whole system on one laptop: moto (with Step Functions executing and Lambda tasks routed
to the app), local Stripe (localstripe, its webhooks sent to our API), the template's resources,
the SQS/SNS dispatcher, the scheduler and Chalice's local HTTP server, all on 127.0.0.1 in one
process. Its data is kept in .freshcart/state.json across
restarts (freshcart_local/snapshot.py); code edits are picked up without a restart (reload.py)."""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
import secrets
import shutil
import socket
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chalice import Chalice
from chalice.local import ThreadedHTTPServer

ROOT = Path(__file__).resolve().parent.parent
HOME = ROOT / ".freshcart"
REGION = "us-east-1"
STAGE = "local"
ADMIN_EMAIL = "admin@freshcart.example.com"
ADMIN_USERNAME = "admin"


def aws_env(endpoint: str, port: int) -> dict[str, str]:
    return {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        "MOTO_PORT": str(port),  # moto's Step Functions executor calls back to localhost:$MOTO_PORT
    }


def load_app(environment: dict[str, str]) -> tuple[Chalice, Any]:
    """The app and its Chalice config for the local stage, with the stage's env applied."""
    from chalice.cli.factory import CLIFactory

    from chalicelib import bootstrap
    from chalicelib.core import aws, config
    from chalicelib.users import tokens

    os.environ.update(environment)
    factory = CLIFactory(str(ROOT))
    chalice_config = factory.create_config_obj(chalice_stage_name=STAGE)
    os.environ.update(chalice_config.environment_variables)
    os.environ.update(environment)
    for reset in (aws.reset, config.reset, tokens.reset, bootstrap.reset):
        reset()
    return chalice_config.chalice_app, chalice_config


class StackError(RuntimeError):
    """A one-line, expected failure (port in use, stack not running): printed, never a traceback."""


def say(line: str) -> None:
    print(line, flush=True)


@dataclass(frozen=True)
class Home:
    """Where a stack keeps its files: the running stack's facts, its data, its event log."""

    root: Path = HOME

    @property
    def facts(self) -> Path:
        return self.root / "local.json"

    @property
    def state(self) -> Path:
        return self.root / "state.json"

    @property
    def events(self) -> Path:
        return self.root / "events.jsonl"

    @property
    def stripe(self) -> Path:
        return self.root / "stripe.pickle"

    def kept(self) -> list[Path]:
        """What `make reset` and ``--fresh`` forget."""
        return [self.state, self.events, self.events.with_name(self.events.name + ".1"), self.stripe]


def ensure_free(host: str, port: int) -> None:
    """Fail before starting anything if a port is taken (moto's server would only log it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the servers do: TIME_WAIT is free
        try:
            sock.bind((host, port))
        except OSError:
            raise StackError(f"port {port} on {host} is in use: stop what holds it or pick another port") from None


def configure_moto() -> None:
    from moto.core.config import default_user_config

    from freshcart_local import moto_patches

    moto_patches.apply()

    default_user_config["stepfunctions"] = {"execute_state_machine": True}
    default_user_config["lambda"] = {"use_docker": False}


def make_local(app: Chalice) -> None:
    """As `chalice local` does: ``app.current_request`` per thread. Without it, concurrent
    requests on the threaded server read each other's request (body, headers, caller)."""
    from chalice.local import LocalChalice

    if not isinstance(app, LocalChalice):
        local = type("FreshcartLocalChalice", (LocalChalice, type(app)), {})
        app.__class__ = local


def seed_admin(password: str) -> str:
    """The admin, created once per store (its login is kept in the snapshot). The stream pollers
    start after this at LATEST, so the admin is never sent a verification email."""
    from chalicelib import bootstrap
    from chalicelib.audit import repo as audit
    from chalicelib.core.context import ClientInfo
    from chalicelib.users.models import RegisterBody
    from chalicelib.users.rules import subject

    svc = bootstrap.auth()
    body = RegisterBody(username=ADMIN_USERNAME, email=ADMIN_EMAIL, password=password)
    user_id = str(svc.register(body, ClientInfo("127.0.0.1", "freshcart-local", None))["userId"])
    system = audit.Actor("system", "system", "127.0.0.1", "freshcart-local")
    svc.repo.revoke_all(
        user_id,
        {"role": "admin", "emailVerified": True},
        [audit.put_request(subject(user_id), "role_change", system, {"to": "admin", "seed": True})],
    )
    return user_id


class BurstServer(ThreadedHTTPServer):
    """socketserver's listen backlog is 5: a burst of 30 connections got resets. API Gateway
    queues bursts; so does this."""

    request_queue_size = 128

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that drops its kept-alive connection (localstripe's webhook sender does) is
        not an error: no traceback for it. Anything else is printed as before."""
        if isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError)):
            return
        super().handle_error(request, client_address)


@dataclass
class LocalStack:
    api_port: int = 8000
    aws_port: int = 4566
    stripe_port: int = 8420
    host: str = "127.0.0.1"
    admin_password: str | None = None
    schedules: bool = True
    home: Home = field(default_factory=Home)
    api: bool = True  # False: `make aws`, the API comes from `chalice local --stage local`
    fresh: bool = False  # ignore (and drop) the kept state
    watch: bool = True  # reload the app on code changes
    snapshot_seconds: float = 2.0

    def __post_init__(self) -> None:
        self._stops: list[tuple[str, Callable[[], Any]]] = []
        self._env: dict[str, str] = {}
        self._server: Any = None
        self.moto: Any = None
        self.dispatcher: Any = None
        self.scheduler: Any = None
        self.snapshotter: Any = None
        self.watcher: Any = None
        self.app: Chalice | None = None
        self.stripe: Any = None
        self.stripe_keys: Any = None
        self.admin: dict[str, str] = {}
        self.restored: str | None = None
        self.facts: dict[str, Any] = {}

    @property
    def aws_endpoint(self) -> str:
        return f"http://{self.host}:{self.aws_port}"

    @property
    def api_url(self) -> str:
        return f"http://{self.host}:{self.api_port}"

    def start(self) -> dict[str, Any]:
        """Start every piece; if one fails, stop those already started and re-raise."""
        try:
            return self._start()
        except BaseException:
            self.stop()
            raise

    def _started(self, name: str, stop: Callable[[], Any]) -> None:
        self._stops.append((name, stop))

    def _start(self) -> dict[str, Any]:
        from chalicelib.core import aws
        from chalicelib.core.config import get_settings
        from freshcart_local import faults, gateway, lambdas, snapshot, stripe_local
        from freshcart_local.awsserver import MotoServer
        from freshcart_local.dispatcher import Dispatcher
        from freshcart_local.email_relay import EmailRelay, email_subscriptions
        from freshcart_local.eventlog import EventLog, EventTap
        from freshcart_local.provision import load_template, provision
        from freshcart_local.scheduler import Scheduler, jobs

        for port in (self.aws_port, self.stripe_port, *((self.api_port,) if self.api else ())):
            ensure_free(self.host, port)
        self.home.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        environment = aws_env(self.aws_endpoint, self.aws_port)
        os.environ.update(environment)
        configure_moto()
        self.moto = MotoServer(self.host, self.aws_port)
        self.moto.start()
        self._started("moto", self.moto.stop)

        gateway.apply()
        data = self._kept_state()
        self.stripe = stripe_local.LocalStripe(self.host, self.stripe_port, state=self.home.stripe, say=say)
        self.stripe.start()
        self._started("stripe", self.stripe.stop)
        resource_env = {
            **provision(STAGE, REGION),
            "STRIPE_API_BASE": self.stripe.api_base,
            # links in emails (the daily report's); `chalice local` serves on 8000 by default
            "PUBLIC_API_URL": self.api_url if self.api else f"http://{self.host}:8000",
        }
        self._env = {**environment, **resource_env}
        app, chalice_config = load_app(self._env)
        make_local(app)
        self.app = app
        lambdas.install(app)
        self._started("lambda hook", lambda: lambdas.uninstall(self.app) if self.app else None)
        aws.client("ses").verify_email_identity(EmailAddress=get_settings().mail_from)
        restored = snapshot.restore_data(data, self.aws_endpoint, REGION, queues=False) if data else None
        # The keys live with the data, so a kept PaymentIntent's webhooks still verify.
        self.stripe_keys = stripe_local.Keys.from_dict((data or {}).get("stripe")) or stripe_local.Keys.new()
        stripe_local.write_secret(aws.client("secretsmanager"), STAGE, self.stripe_keys)
        webhook_api = self.api_url if self.api else f"http://{self.host}:8000"  # `chalice local`'s default
        self.stripe.register_webhook(webhook_api + stripe_local.WEBHOOK_PATH, self.stripe_keys.webhook_secret)
        self.admin = dict((data or {}).get("admin") or {})
        if not self.admin:
            password = self.admin_password or os.environ.get("FRESHCART_ADMIN_PASSWORD") or _new_password()
            user_id = seed_admin(password)
            self.admin = {"email": ADMIN_EMAIL, "username": ADMIN_USERNAME, "password": password, "userId": user_id}

        from freshcart_local import metrics

        metrics.start(STAGE)  # the app's EMF lines and the API's and Lambdas' metrics reach moto
        self._started("metrics", metrics.stop)
        events = EventLog(self.home.events)
        self.dispatcher = Dispatcher(app, REGION, STAGE, on_outcome=events.handler)
        self.dispatcher.discover(stream_start="LATEST")  # restored rows and the admin are not news
        if data and restored is not None:
            snapshot.restore_queues(data, snapshot.clients(self.aws_endpoint, REGION)["sqs"], restored)
            self.restored = restored.summary()
            if restored.skipped and self.home.state.exists():  # the template changed: keep what it lacks
                kept = self.home.state.with_name(f"{self.home.state.name}.skipped-{time.strftime('%Y%m%d-%H%M%S')}")
                shutil.copy2(self.home.state, kept)
                say(f"kept data the template no longer has ({', '.join(restored.skipped)}) in {kept}")
        self.snapshotter = snapshot.Snapshotter(
            self.home.state,
            self.aws_endpoint,
            REGION,
            lambda: int(self.moto.changes),
            lambda: {"admin": self.admin, "stripe": self.stripe_keys.to_dict()},
            interval=self.snapshot_seconds,
        )
        self.snapshotter.save(force=True)
        self.snapshotter.start()
        self._started("snapshot", self.snapshotter.stop)
        self.dispatcher.start()
        self._started("dispatcher", self.dispatcher.stop)
        topics = [
            v for v in resource_env.values() if v.startswith("arn:aws:sns:") and ":app/" not in v
        ]  # not push apps
        tap = EventTap(events, topics, STAGE, REGION)
        tap.start()
        self._started("event tap", tap.stop)
        relay = EmailRelay(email_subscriptions(load_template(), STAGE, REGION), STAGE, REGION, get_settings().mail_from)
        relay.start()  # the alerts topic's email subscriber, into the mailbox
        self._started("email relay", relay.stop)
        if self.schedules:
            self.scheduler = Scheduler(app, REGION)
            self.scheduler.start()
            self._started("scheduler", self.scheduler.stop)

        if self.api:
            from chalice.local import LocalDevServer

            self._server = LocalDevServer(app, chalice_config, self.host, self.api_port, server_cls=BurstServer)
            api_thread = threading.Thread(
                target=self._server.server.serve_forever, kwargs={"poll_interval": 0.2}, name="api", daemon=True
            )
            api_thread.start()
            self._started("api", self._stop_api)
        if self.watch:
            from freshcart_local.reload import Watcher

            self.watcher = Watcher(ROOT, self.reload)
            self.watcher.start()
            self._started("reload watcher", self.watcher.stop)

        self.facts = {
            "pid": os.getpid(),
            "api_url": self.api_url if self.api else None,
            "aws_endpoint": self.aws_endpoint,
            "region": REGION,
            "stage": STAGE,
            "admin": self.admin,
            "mailbox": f"{self.aws_endpoint}/moto-api/data.json (ses.Message) or `make mailbox`",
            "queues": [s.queue_url for s in self.dispatcher.sources],
            "stripe": {
                "api_base": self.stripe.api_base,
                "publishable_key": self.stripe_keys.publishable_key,
                "secret_key": self.stripe_keys.secret_key,
                "webhook_secret": self.stripe_keys.webhook_secret,
                "webhook_url": webhook_api + stripe_local.WEBHOOK_PATH,
                "restored_payment_intents": self.stripe.restored,
            },
            "faults": self.aws_endpoint + faults.CONTROL_PATH,
            "jobs": jobs(app),
            "env": {
                **chalice_config.environment_variables,
                **resource_env,
                "FRESHCART_LOCAL_AWS": self.aws_endpoint,  # where `chalice local` finds this stack
            },
            "state_file": str(self.home.state),
            "events_file": str(self.home.events),
            "restored": self.restored,
        }
        snapshot.write_atomic(self.home.facts, self.facts)
        self._started("facts file", lambda: self.home.facts.unlink(missing_ok=True))
        return self.facts

    def is_empty(self) -> bool:
        """No products yet: the moment to offer `make seed`."""
        from chalicelib.core import aws
        from chalicelib.core.config import get_settings

        table = aws.client("dynamodb").describe_table(TableName=get_settings().catalog_table)["Table"]
        return int(table.get("ItemCount", 0)) == 0

    def _kept_state(self) -> dict[str, Any] | None:
        from freshcart_local import snapshot

        if self.fresh:
            for path in self.home.kept():
                path.unlink(missing_ok=True)
            return None
        try:
            return snapshot.read(self.home.state)
        except snapshot.CorruptState as exc:
            aside = snapshot.set_aside(self.home.state)
            say(f"state file {self.home.state} is unreadable ({exc}); moved to {aside.name}; starting empty")
            return None

    def _stop_api(self) -> None:
        self._server.server.shutdown()
        self._server.server.server_close()

    def reload(self) -> bool:
        """Import the app afresh and swap it in everywhere; on an import error keep the old one."""
        from freshcart_local import lambdas
        from freshcart_local.reload import APP_MODULES, forget_app_modules, refresh_log_formatters

        old = self.app
        kept = {n: m for n, m in sys.modules.items() if n.split(".")[0] in APP_MODULES}
        forget_app_modules()
        started = time.perf_counter()
        try:
            app, chalice_config = load_app(self._env)
        except Exception as exc:
            forget_app_modules()
            sys.modules.update(kept)  # the running app keeps its own modules, lazy imports included
            say(f"reload failed, still serving the previous code: {_one_line(exc)}")
            return False
        make_local(app)
        refresh_log_formatters()
        lambdas.install(app)
        if old is not None:
            lambdas.uninstall(old)
        if self.dispatcher is not None:
            self.dispatcher.swap(app)
        if self.scheduler is not None:
            self.scheduler.swap(app)
        if self._server is not None:
            from chalice.local import ChaliceRequestHandler

            self._server.server.RequestHandlerClass = functools.partial(
                ChaliceRequestHandler, app_object=app, config=chalice_config
            )
        self.app = app
        say(f"reloaded the app in {(time.perf_counter() - started) * 1000:.0f} ms")
        return True

    def stop(self, timeout: float = 8) -> list[str]:
        """Stop in reverse order of start, going on past a piece that fails to stop. Returns
        the names of threads still alive afterwards (reported by the caller)."""
        deadline = time.monotonic() + timeout
        alive: list[str] = []
        if self.snapshotter is not None:  # now, in case a slow piece below eats the deadline
            with contextlib.suppress(Exception):
                self.snapshotter.save()
        if self.stripe is not None:
            with contextlib.suppress(Exception):
                self.stripe.save()
        while self._stops:
            name, stop = self._stops.pop()
            try:
                left = stop()
                if isinstance(left, list):
                    alive += left
            except Exception as exc:
                say(f"stopping {name} failed: {type(exc).__name__}: {exc}")
            if time.monotonic() > deadline:
                say(f"stop took over {timeout:.0f}s; not waiting for: {', '.join(n for n, _ in reversed(self._stops))}")
                break
        mine = (threading.current_thread(), threading.main_thread())
        blocking = [t.name for t in threading.enumerate() if t not in mine and not t.daemon]
        return sorted(set(alive) | set(blocking))


def _one_line(exc: BaseException) -> str:
    """Chalice wraps an app.py SyntaxError in a many-line RuntimeError: name the real error."""
    inner = exc.__cause__ or exc.__context__
    if isinstance(exc, SyntaxError) or isinstance(inner, SyntaxError):
        err = exc if isinstance(exc, SyntaxError) else inner
        assert isinstance(err, SyntaxError)
        return f"SyntaxError: {err.msg} ({err.filename}:{err.lineno})"
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"


def _new_password() -> str:
    return "Fc-" + secrets.token_urlsafe(12) + "9"


def read_facts(home: Home | None = None) -> dict[str, Any]:
    """The running stack's facts, or a StackError saying how to start one."""
    home = home or Home()
    try:
        data: dict[str, Any] = json.loads(home.facts.read_text())
    except FileNotFoundError:
        raise StackError(
            f"no local stack is running (no {home.facts}): start it with `make run` or `make aws`"
        ) from None
    except ValueError:
        raise StackError(f"{home.facts} is unreadable: stop the stack, delete it, start again") from None
    host, port = data["aws_endpoint"].removeprefix("http://").rsplit(":", 1)
    with socket.socket() as sock:
        sock.settimeout(1)
        if sock.connect_ex((host, int(port))) != 0:
            raise StackError(
                f"the local stack in {home.facts} is not answering at {data['aws_endpoint']}: start it with `make run`"
            )
    return data


def attach(home: Home | None = None) -> Chalice:
    """Load the app against a running local stack (for CLI commands in another process)."""
    state = read_facts(home)
    port = int(state["aws_endpoint"].rsplit(":", 1)[1])
    app, _ = load_app({**aws_env(state["aws_endpoint"], port), **state["env"]})
    return app
