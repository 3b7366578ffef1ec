"""freshcart local CLI: `python -m freshcart_local --help`."""

from __future__ import annotations

import json
import signal
import threading
import urllib.request
from pathlib import Path
from typing import Any

import click


@click.group()
def cli() -> None:
    """Run and poke the local freshcart stack."""


@cli.command()
@click.option("--api-port", default=8000, show_default=True)
@click.option("--aws-port", default=4566, show_default=True)
@click.option("--no-schedules", is_flag=True, help="Do not fire @app.schedule jobs on their timers.")
@click.option(
    "--state-file",
    type=click.Path(path_type=Path),
    default=None,
    help="Where to write the facts for tools (default .freshcart/local.json).",
)
def run(api_port: int, aws_port: int, no_schedules: bool, state_file: Path | None) -> None:
    """Start everything and wait for Ctrl-C."""
    from freshcart_local.stack import STATE_FILE, LocalStack

    stack = LocalStack(
        api_port=api_port, aws_port=aws_port, schedules=not no_schedules, state_file=state_file or STATE_FILE
    )
    facts = stack.start()
    click.echo(
        "\nfreshcart is up (all on 127.0.0.1)\n"
        f"  API            {facts['api_url']}   (OpenAPI: {facts['api_url']}/openapi.json)\n"
        f"  AWS endpoint   {facts['aws_endpoint']}   (moto; region {facts['region']})\n"
        f"  admin login    {facts['admin']['email']} / {facts['admin']['password']}\n"
        f"  mailbox        make mailbox   (or {facts['aws_endpoint']}/moto-api/data.json)\n"
        f"  jobs           {', '.join(facts['jobs']) or '-'}   (run one now: make job NAME=...)\n"
        f"  facts for tools: {stack.state_file}\n"
        "Ctrl-C stops everything.\n"
    )
    done = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: done.set())
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    done.wait()
    click.echo("stopping...")
    stack.stop()
    click.echo("stopped.")


STATE = click.option(
    "--state-file",
    type=click.Path(path_type=Path),
    default=None,
    help="The running stack's facts file (default .freshcart/local.json).",
)


@cli.command("jobs")
@STATE
def list_jobs(state_file: Path | None) -> None:
    """List the scheduled jobs and their schedules."""
    from freshcart_local.scheduler import jobs
    from freshcart_local.stack import STATE_FILE, attach

    for name, expr in jobs(attach(state_file or STATE_FILE)).items():
        click.echo(f"{name}\t{expr}")


@cli.command("run-job")
@click.argument("name")
@STATE
def run_job(name: str, state_file: Path | None) -> None:
    """Run one scheduled job now against the running stack."""
    from freshcart_local.scheduler import run_job as run
    from freshcart_local.stack import REGION, STATE_FILE, attach

    click.echo(json.dumps(run(attach(state_file or STATE_FILE), name, REGION), indent=2, default=str))


@cli.command()
@click.option("--to", default=None, help="Only mail to this address.")
@STATE
def mailbox(to: str | None, state_file: Path | None) -> None:
    """Show the emails SES 'sent' (moto keeps them)."""
    from freshcart_local.stack import STATE_FILE, read_state

    for msg in read_mailbox(read_state(state_file or STATE_FILE)["aws_endpoint"], to):
        click.echo(f"--- to {', '.join(msg['to'])} | {msg['subject']}\n{msg['body']}\n")


def read_mailbox(endpoint: str, to: str | None = None) -> list[dict[str, Any]]:
    with urllib.request.urlopen(f"{endpoint}/moto-api/data.json", timeout=5) as resp:  # noqa: S310 - local only
        data = json.load(resp)
    out = []
    for msg in data.get("ses", {}).get("Message", []):
        dest = msg.get("destinations", {}).get("ToAddresses", []) or msg.get("destinations", [])
        if to and to not in dest:
            continue
        out.append({"to": dest, "subject": msg.get("subject"), "body": msg.get("body")})
    return out


if __name__ == "__main__":
    cli()
