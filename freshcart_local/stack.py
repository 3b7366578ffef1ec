"""The whole system on one laptop: moto (with Step Functions executing and Lambda tasks routed
to the app), the template's resources, the SQS/SNS dispatcher, the scheduler and Chalice's local
HTTP server, all on 127.0.0.1 in one process."""

from __future__ import annotations

import json
import logging
import os
import secrets
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chalice import Chalice

ROOT = Path(__file__).resolve().parent.parent
STATE_FILE = ROOT / ".freshcart" / "local.json"
REGION = "us-east-1"
STAGE = "local"
ADMIN_EMAIL = "admin@freshcart.example.com"
ADMIN_USERNAME = "admin"
LISTEN_BACKLOG = 128


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


def ensure_free(host: str, port: int) -> None:
    """Fail before starting anything if a port is taken (moto's server would only log it)."""
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the servers do: TIME_WAIT is free
        try:
            sock.bind((host, port))
        except OSError:
            raise RuntimeError(f"port {port} on {host} is in use; stop what holds it or pick another port") from None


def configure_moto() -> None:
    from moto.core.config import default_user_config

    from freshcart_local import moto_patches

    moto_patches.apply()

    default_user_config["stepfunctions"] = {"execute_state_machine": True}
    default_user_config["lambda"] = {"use_docker": False}


def seed_admin(password: str) -> str:
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


@dataclass
class LocalStack:
    api_port: int = 8000
    aws_port: int = 4566
    host: str = "127.0.0.1"
    admin_password: str = field(
        default_factory=lambda: os.environ.get("FRESHCART_ADMIN_PASSWORD") or "Fc-" + secrets.token_urlsafe(12) + "9"
    )
    schedules: bool = True
    state_file: Path = STATE_FILE

    def __post_init__(self) -> None:
        self._moto: Any = None
        self._server: Any = None
        self._server_thread: threading.Thread | None = None
        self.dispatcher: Any = None
        self.scheduler: Any = None
        self.app: Chalice | None = None
        self.facts: dict[str, Any] = {}

    @property
    def aws_endpoint(self) -> str:
        return f"http://{self.host}:{self.aws_port}"

    @property
    def api_url(self) -> str:
        return f"http://{self.host}:{self.api_port}"

    def start(self) -> dict[str, Any]:
        from chalice.local import create_local_server
        from moto.server import ThreadedMotoServer

        from chalicelib.core import aws
        from chalicelib.core.config import get_settings
        from freshcart_local import gateway, lambdas
        from freshcart_local.dispatcher import Dispatcher
        from freshcart_local.provision import provision
        from freshcart_local.scheduler import Scheduler, jobs

        for port in (self.aws_port, self.api_port):
            ensure_free(self.host, port)
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        environment = aws_env(self.aws_endpoint, self.aws_port)
        os.environ.update(environment)
        configure_moto()
        self._moto = ThreadedMotoServer(ip_address=self.host, port=self.aws_port, verbose=False)
        self._moto.start()

        gateway.apply()
        resource_env = provision(STAGE, REGION)
        app, chalice_config = load_app({**environment, **resource_env})
        self.app = app
        lambdas.install(app)
        aws.client("ses").verify_email_identity(EmailAddress=get_settings().mail_from)
        admin_id = seed_admin(self.admin_password)

        self.dispatcher = Dispatcher(app, REGION, STAGE)
        self.dispatcher.discover()
        self.dispatcher.start()
        if self.schedules:
            self.scheduler = Scheduler(app, REGION)
            self.scheduler.start()

        # create_local_server makes the app a LocalChalice: the current request is per thread.
        # (LocalDevServer alone shares one current_request between concurrent requests.)
        self._server = create_local_server(app, chalice_config, self.host, self.api_port)
        self._server.server.socket.listen(LISTEN_BACKLOG)  # socketserver's default of 5 resets bursts
        self._server_thread = threading.Thread(target=self._server.server.serve_forever, name="api", daemon=True)
        self._server_thread.start()

        self.facts = {
            "api_url": self.api_url,
            "aws_endpoint": self.aws_endpoint,
            "region": REGION,
            "stage": STAGE,
            "admin": {
                "email": ADMIN_EMAIL,
                "username": ADMIN_USERNAME,
                "password": self.admin_password,
                "userId": admin_id,
            },
            "mailbox": f"{self.aws_endpoint}/moto-api/data.json (ses.Message) or `make mailbox`",
            "queues": [s.queue_url for s in self.dispatcher.sources],
            "jobs": jobs(app),
            "env": {**chalice_config.environment_variables, **resource_env},
        }
        self.state_file.parent.mkdir(parents=True, exist_ok=True)
        self.state_file.write_text(json.dumps(self.facts, indent=2))
        return self.facts

    def stop(self) -> None:
        if self._server is not None:
            self._server.server.shutdown()
            self._server.server.server_close()
        if self.scheduler is not None:
            self.scheduler.stop()
        if self.dispatcher is not None:
            self.dispatcher.stop()
        if self._moto is not None:
            self._moto.stop()
        if self.state_file.exists():
            self.state_file.unlink()


def read_state(path: Path = STATE_FILE) -> dict[str, Any]:
    if not path.exists():
        raise FileNotFoundError(f"{path} not found: is `make run` running?")
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def attach(path: Path = STATE_FILE) -> Chalice:
    """Load the app against a running local stack (for CLI commands in another process)."""
    state = read_state(path)
    port = int(state["aws_endpoint"].rsplit(":", 1)[1])
    app, _ = load_app({**aws_env(state["aws_endpoint"], port), **state["env"]})
    return app
