"""freshcart local CLI: `python -m freshcart_local --help`.

Every expected failure (port in use, no stack running, unknown job) is one line on stderr and
exit status 1, never a traceback (FRESHCART_DEBUG=1 shows tracebacks for the unexpected)."""

from __future__ import annotations

import contextlib
import faulthandler
import html
import json
import logging
import os
import re
import signal
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import click

from freshcart_local.stack import Home, StackError

STOP_SECONDS = 8


class OneLineErrors(click.Group):
    """Turn any error a command raises into one line."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException):
            raise
        except StackError as exc:
            raise click.ClickException(str(exc)) from None
        except KeyError as exc:
            raise click.ClickException(str(exc.args[0]) if exc.args else "not found") from None
        except KeyboardInterrupt:
            raise click.exceptions.Exit(130) from None
        except Exception as exc:
            if os.environ.get("FRESHCART_DEBUG"):
                raise
            line = f"{type(exc).__name__}: {exc}".splitlines()[0]
            raise click.ClickException(f"{line} (FRESHCART_DEBUG=1 shows the traceback)") from None


@click.group(cls=OneLineErrors)
def cli() -> None:
    """Run and poke the local freshcart stack."""


HOME = click.option(
    "--home",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    envvar="FRESHCART_HOME",
    help="The stack's folder: facts (local.json), data (state.json), events.jsonl. Default .freshcart/.",
)


def _home(path: Path | None) -> Home:
    return Home(path) if path else Home()


def _serve(stack: Any, seed_now: bool) -> None:
    """Start, print where things are, wait for Ctrl-C, stop; exit within seconds."""
    faulthandler.register(signal.SIGUSR1, all_threads=True)  # `kill -USR1 <pid>`: where is it stuck?
    facts = stack.start()
    api = facts["api_url"]
    lines = ["", "freshcart is up (all on 127.0.0.1)"]
    if api:
        lines.append(f"  API            {api}   (OpenAPI: {api}/openapi.json)")
    else:
        lines.append(
            "  API            not started: run `chalice local --stage local` (it serves :8000, reloads on edits)"
        )
    lines += [
        f"  AWS endpoint   {facts['aws_endpoint']}   (moto; region {facts['region']})",
        f"  Stripe         {facts['stripe']['api_base']}   (localstripe; keys in {stack.home.facts}; "
        f"webhooks to {facts['stripe']['webhook_url']})",
        f"  admin login    {facts['admin']['email']} / {facts['admin']['password']}",
        f"  mailbox        make mailbox   (or {facts['aws_endpoint']}/moto-api/data.json)",
        f"  events         make events    ({facts['events_file']})",
        f"  jobs           {', '.join(facts['jobs']) or '-'}   (run one now: make job NAME=...)",
        f"  data           {facts['state_file']}: "
        + (f"restored {facts['restored']}" if facts["restored"] else "a new, empty store")
        + "   (make reset empties it)",
    ]
    if stack.watch:
        lines.append("  code edits     picked up without a restart (app.py, chalicelib/, .chalice/config.json)")
    click.echo("\n".join(lines))
    if seed_now and api:
        from freshcart_local import seed

        click.echo(
            seed.describe(seed.seed(api, facts["aws_endpoint"], facts["admin"]["email"], facts["admin"]["password"]))
        )
    elif stack.is_empty():
        click.echo("  demo data      none yet: `make seed` loads vendors, products, stock and demo logins")
    click.echo("Ctrl-C stops everything.\n")

    # The handler only flips a flag: Event.set() from a signal handler can deadlock on the
    # event's own lock if the signal lands while the main thread holds it.
    signalled: list[int] = []
    signal.signal(signal.SIGINT, lambda n, _: signalled.append(n))
    signal.signal(signal.SIGTERM, lambda n, _: signalled.append(n))
    while not signalled:
        time.sleep(0.2)
    signal.signal(signal.SIGINT, lambda *_: os._exit(130))  # a second Ctrl-C does not wait
    # However stop goes, the process is gone within STOP_SECONDS (with every thread's stack
    # printed if it had to be cut short).
    faulthandler.dump_traceback_later(STOP_SECONDS, exit=True)
    click.echo("stopping...")
    started = time.monotonic()
    alive = stack.stop()
    click.echo(
        f"stopped in {time.monotonic() - started:.1f}s" + (f"; still running: {', '.join(alive)}" if alive else ".")
    )
    # Everything is stopped and the state saved. Skip interpreter finalization: tearing down
    # moto's in-memory state (it keeps every stream record forever) took seconds, and a stuck
    # thread must not hold the terminal.
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def _stack_options(f: Any) -> Any:
    for option in reversed(
        [
            click.option("--aws-port", default=4566, show_default=True, envvar="AWS_PORT"),
            click.option("--stripe-port", default=8420, show_default=True, envvar="STRIPE_PORT"),
            click.option("--no-schedules", is_flag=True, help="Do not fire @app.schedule jobs on their timers."),
            click.option("--fresh", is_flag=True, help="Start empty (the kept state is dropped)."),
            click.option("--no-reload", is_flag=True, help="Do not reload the app when code changes."),
            HOME,
        ]
    ):
        f = option(f)
    return f


@cli.command()
@click.option("--api-port", default=8000, show_default=True, envvar="API_PORT")
@_stack_options
@click.option("--seed", "seed_now", is_flag=True, help="Load the demo data once the stack is up (idempotent).")
def run(
    api_port: int,
    aws_port: int,
    stripe_port: int,
    no_schedules: bool,
    fresh: bool,
    no_reload: bool,
    home: Path | None,
    seed_now: bool,
) -> None:
    """Start everything (AWS emulator, local Stripe, event handlers, schedules, API) and wait for Ctrl-C."""
    from freshcart_local.stack import LocalStack

    stack = LocalStack(
        api_port=api_port,
        aws_port=aws_port,
        stripe_port=stripe_port,
        schedules=not no_schedules,
        home=_home(home),
        fresh=fresh,
        watch=not no_reload,
    )
    _serve(stack, seed_now)


@cli.command("aws")
@_stack_options
def aws_only(
    aws_port: int, stripe_port: int, no_schedules: bool, fresh: bool, no_reload: bool, home: Path | None
) -> None:
    """Everything but the API: serve that with `chalice local --stage local`."""
    from freshcart_local.stack import LocalStack

    stack = LocalStack(
        aws_port=aws_port,
        stripe_port=stripe_port,
        schedules=not no_schedules,
        home=_home(home),
        fresh=fresh,
        watch=not no_reload,
        api=False,
    )
    _serve(stack, False)


@cli.command()
@click.option("--api-url", default=None, help="Default: the running stack's API (or http://127.0.0.1:8000).")
@HOME
def seed(api_url: str | None, home: Path | None) -> None:
    """Load demo vendors, dairy products, stock and logins (idempotent)."""
    from freshcart_local import seed as demo
    from freshcart_local.stack import read_facts

    facts = read_facts(_home(home))
    url = api_url or facts["api_url"] or "http://127.0.0.1:8000"
    click.echo(
        demo.describe(demo.seed(url, facts["aws_endpoint"], facts["admin"]["email"], facts["admin"]["password"]))
    )


@cli.command()
@click.option("--follow/--no-follow", default=True, show_default=True, help="Keep printing new lines.")
@click.option("-n", "lines", default=20, show_default=True, help="How many past lines to show first.")
@click.option("--json", "as_json", is_flag=True, help="Raw JSON lines.")
@HOME
def events(follow: bool, lines: int, as_json: bool, home: Path | None) -> None:
    """Tail the domain events published and the handlers' outcomes."""
    from freshcart_local.eventlog import render

    path = _home(home).events
    if not path.exists() and not follow:
        raise StackError(f"no events yet ({path} does not exist): start the stack with `make run`")
    click.echo(f"events from {path} (Ctrl-C to stop)" if follow else f"events from {path}", err=True)
    show = (lambda e: json.dumps(e)) if as_json else render
    position = 0
    if path.exists():
        text = path.read_text(encoding="utf-8")
        position = len(text.encode())
        for line in text.splitlines()[-lines:] if lines else []:
            click.echo(show(json.loads(line)))
    while follow:
        time.sleep(0.5)
        if not path.exists():
            continue
        size = path.stat().st_size
        if size < position:  # rotated
            position = 0
        if size == position:
            continue
        with open(path, "rb") as fh:
            fh.seek(position)
            chunk = fh.read()
        complete = chunk[: chunk.rfind(b"\n") + 1]
        position += len(complete)
        for line in complete.decode().splitlines():
            click.echo(show(json.loads(line)))


@cli.command()
@HOME
def reset(home: Path | None) -> None:
    """Forget the kept data: the next start is empty."""
    from freshcart_local.stack import read_facts

    where = _home(home)
    try:
        facts = read_facts(where)
    except StackError:
        facts = None
    if facts is not None:
        raise StackError(f"the local stack is running (pid {facts.get('pid')}): stop it first, then `make reset`")
    removed = [p.name for p in where.kept() if p.exists()]
    # ...and a stale facts file a killed stack left (read_facts found it not answering)
    for p in [*where.kept(), where.facts]:
        p.unlink(missing_ok=True)
    click.echo(f"reset: removed {', '.join(removed)}" if removed else "reset: nothing kept; the next start is empty")


@cli.command("jobs")
@HOME
def list_jobs(home: Path | None) -> None:
    """List the scheduled jobs and their schedules."""
    from freshcart_local.scheduler import jobs
    from freshcart_local.stack import attach

    for name, expr in jobs(attach(_home(home))).items():
        click.echo(f"{name}\t{expr}")


@cli.command("run-job")
@click.argument("name")
@click.option("--date", default=None, help="The day a dated job works on (YYYY-MM-DD), e.g. daily_report's.")
@HOME
def run_job(name: str, date: str | None, home: Path | None) -> None:
    """Run one scheduled job now against the running stack."""
    from freshcart_local.scheduler import jobs
    from freshcart_local.scheduler import run_job as run
    from freshcart_local.stack import REGION, attach

    app = attach(_home(home))
    if name not in jobs(app):
        raise StackError(f"no scheduled job {name!r}; known: {', '.join(sorted(jobs(app)))}")
    click.echo(json.dumps(run(app, name, REGION, {"date": date} if date else None), indent=2, default=str))


@cli.command()
@click.option("--to", default=None, help="Only mail to this address.")
@click.option("--token", is_flag=True, help="Print only the token of the newest verification email.")
@click.option("--wait", default=15.0, show_default=True, help="With --token: seconds to wait for the email.")
@HOME
def mailbox(to: str | None, token: bool, wait: float, home: Path | None) -> None:
    """Show the emails SES 'sent', and the text messages and pushes SNS 'sent' (moto keeps them);
    TO= an address, a phone (+91...) or a user id (pushes)."""
    from freshcart_local.stack import read_facts

    endpoint = read_facts(_home(home))["aws_endpoint"]
    mail = read_mailbox(endpoint, to)
    if token:  # the email is sent by the event path, a moment after the request that caused it
        deadline = time.monotonic() + wait
        while not (confirm := [m for m in mail if str(m["subject"]).startswith("Confirm")]):
            if time.monotonic() > deadline:
                raise StackError(f"no verification email{' to ' + to if to else ''} within {wait:g}s")
            time.sleep(0.25)
            mail = read_mailbox(endpoint, to)
        click.echo(str(confirm[-1]["body"]).strip().splitlines()[-1])
        return
    if not mail:
        click.echo(f"(no mail{' to ' + to if to else ''} yet)")
    for msg in mail:
        click.echo(f"--- to {', '.join(msg['to'])} | {msg['subject']}\n{msg['body']}\n")


@cli.command()
@click.argument("spec", required=False)
@click.option("--clear", is_flag=True, help="Remove every injected fault.")
@HOME
def fault(spec: str | None, clear: bool, home: Path | None) -> None:
    """Inject a fault into the running local stack (local stage only), list or clear them.

    SPEC is JSON, e.g. '{"target": "stripe", "mode": "timeout", "times": 2}' or
    '{"target": "step", "step": "checkout_mark_paid", "error": "States.TaskFailed"}'.
    """
    from freshcart_local.faults import CONTROL_PATH
    from freshcart_local.stack import read_facts

    url = read_facts(_home(home))["aws_endpoint"] + CONTROL_PATH
    method, body = ("DELETE", None) if clear else ("POST", spec.encode()) if spec else ("GET", None)
    request = urllib.request.Request(url, data=body, method=method, headers={"Content-Type": "application/json"})  # noqa: S310 - local only
    try:
        with urllib.request.urlopen(request, timeout=5) as resp:  # noqa: S310 - local only
            click.echo(resp.read().decode())
    except urllib.error.HTTPError as exc:
        raise StackError(json.loads(exc.read() or b"{}").get("error") or str(exc)) from None


@cli.command(context_settings={"ignore_unknown_options": True, "help_option_names": []})
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
@HOME
def ops(args: tuple[str, ...], home: Path | None) -> None:
    """Operator commands (python -m chalicelib.ops) against the running local stack:
    `ops redrive freshcart-local-failed-transactions-dlq`, `ops verify-chain ORDER_ID`."""
    from freshcart_local.stack import attach

    attach(_home(home))
    from chalicelib.ops.__main__ import main

    sys.exit(main(list(args)))


@cli.command(context_settings={"ignore_unknown_options": True, "help_option_names": []})
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
@HOME
def reports(args: tuple[str, ...], home: Path | None) -> None:
    """Daily report commands (python -m chalicelib.reports) against the running local stack:
    `reports backfill --from 2030-01-01 --to 2030-01-31`."""
    from freshcart_local.stack import attach

    attach(_home(home))
    from chalicelib.reports.__main__ import main

    sys.exit(main(list(args)))


def readable(body: str) -> str:
    """An HTML email as its text (moto keeps only the HTML part when there is one)."""
    if not body.lstrip().lower().startswith("<!doctype html"):
        return body
    body = re.sub(r"<title>.*?</title>", "", body, flags=re.S)
    text = re.sub(r"<br>", "\n", re.sub(r"</p>", "\n\n", body))
    return html.unescape(re.sub(r"<[^>]+>", "", text)).strip()


def read_mailbox(endpoint: str, to: str | None = None) -> list[dict[str, Any]]:
    with urllib.request.urlopen(f"{endpoint}/moto-api/data.json", timeout=5) as resp:  # noqa: S310 - local only
        data = json.load(resp)
    out = []
    for msg in data.get("ses", {}).get("Message", []):
        dest = msg.get("destinations", {}).get("ToAddresses", []) or msg.get("destinations", [])
        if to and to not in dest:
            continue
        out.append({"to": dest, "subject": msg.get("subject"), "body": readable(str(msg.get("body") or ""))})
    for sms in data.get("sns", {}).get("SMS", []):  # text messages: SNS Publish to a phone number
        phone = str(sms.get("phone_number") or "")
        if to and to != phone:
            continue
        out.append({"to": [phone], "subject": "(SMS)", "body": sms.get("message")})
    for phone_endpoint in data.get("sns", {}).get("PlatformEndpoint", []):  # push: what each phone got
        user = str(phone_endpoint.get("custom_user_data") or "")
        if to and to != user:
            continue
        for message in (phone_endpoint.get("messages") or {}).values():
            text = str(message)
            with contextlib.suppress(ValueError, AttributeError):
                text = str(json.loads(text).get("default", text))  # the notice's text, not each platform's shape
            out.append({"to": [f"push:{user}"], "subject": "(push)", "body": text})
    return out


if __name__ == "__main__":
    cli()
