"""API Gateway's own responses, locally. In AWS the template's AWS::ApiGateway::GatewayResponse
resources turn gateway errors (no token, authorizer deny, unknown route) into our JSON error
shape; Chalice's local gateway (chalice local and chalice.test.Client) answers them its own way.
This reads the SAME template resources and applies them locally, so both agree.

Locally the body's ``$context.requestId`` is the request's correlation id (the x-correlation-id
it was sent, else the gateway's request id), echoed in the x-correlation-id header as the app does.
A method the API does not serve answers the app's JSON 405 (Chalice's local gateway would answer an
OPTIONS with an empty 200, and its HTTP server an unknown verb with an HTML 501)."""

from __future__ import annotations

import contextlib
import json
import os
import re
import sys
import uuid
from collections.abc import Iterator
from http import HTTPStatus
from pathlib import Path
from typing import Any

from chalice.local import ChaliceRequestHandler, LocalGateway, LocalGatewayException

from chalicelib.core import patterns
from freshcart_local.provision import load_template

_applied = False


def _responses() -> dict[str, tuple[int, bytes]]:
    out = {}
    for res in load_template()["Resources"].values():
        if res.get("Type") == "AWS::ApiGateway::GatewayResponse":
            p = res["Properties"]
            out[p["ResponseType"]] = (int(p["StatusCode"]), p["ResponseTemplates"]["application/json"].encode())
    return out


def _kind(exc: LocalGatewayException) -> str:
    kind = str(exc.headers.get("x-amzn-ErrorType", ""))
    if kind == "AccessDeniedException":
        return "ACCESS_DENIED"
    if b"Missing Authentication Token" in (exc.body or b"") or b"Authorization header requires" in (exc.body or b""):
        return "MISSING_AUTHENTICATION_TOKEN"
    if kind == "UnauthorizedException":
        return "UNAUTHORIZED"
    return ""


def _correlation_id(headers: Any, fallback: str) -> str:
    """The request's x-correlation-id if it has the shape the app accepts, else ``fallback``."""
    sent = str({str(k).lower(): v for k, v in (headers or {}).items()}.get("x-correlation-id") or "")
    return sent if re.fullmatch(patterns.CORRELATION_ID, sent) else fallback


def apply() -> None:
    global _applied
    if _applied:
        return
    responses = _responses()
    original = LocalGateway.handle_request

    def handle_request(self: LocalGateway, method: str, path: str, headers: Any, body: Any) -> Any:
        try:
            return original(self, method, path, headers, body)
        except LocalGatewayException as exc:
            mapped = responses.get(_kind(exc))
            if mapped is None:
                raise
            cid = _correlation_id(headers, str(exc.headers.get("x-amzn-RequestId") or uuid.uuid4()))
            payload = mapped[1].replace(b"$context.requestId", json.dumps(cid)[1:-1].encode())
            out = {**exc.headers, "Content-Type": "application/json", "x-correlation-id": cid}
            err = LocalGatewayException(out, payload)
            err.CODE = mapped[0]
            raise err from None
        except Exception as exc:
            # The authorizer could not reach AWS (ServiceUnavailable): the JSON 503 a route gives,
            # not a dropped connection and a traceback.
            if getattr(exc, "status", None) != 503:
                raise
            cid = _correlation_id(headers, str(uuid.uuid4()))
            error = {"code": "service_unavailable", "message": str(exc), "requestId": cid}
            body = json.dumps({"error": error}, separators=(",", ":")).encode()
            err = LocalGatewayException({"Content-Type": "application/json", "x-correlation-id": cid}, body)
            err.CODE = 503
            raise err from None

    def has_options_route(self: LocalGateway, lambda_event: Any) -> bool:
        """No CORS on a path: its OPTIONS goes to the app, which answers 405 like any other method."""
        route = self._app_object.routes[lambda_event["requestContext"]["resourcePath"]]
        return "OPTIONS" in route or all(entry.cors is None for entry in route.values())

    LocalGateway.handle_request = handle_request  # type: ignore[method-assign]
    LocalGateway._has_user_defined_options_method = has_options_route  # type: ignore[method-assign]
    ChaliceRequestHandler.send_error = _send_json_error  # type: ignore[method-assign]
    _applied = True


def for_chalice_local() -> None:
    """What `make run` gives its API server, for `chalice local` too (app.py calls this under
    the Chalice CLI, after Chalice applied the stage's variables): API Gateway's responses from
    the template, a listen backlog that takes bursts, and the running local AWS wherever it
    listens (`make aws AWS_PORT=...`): its facts file names the endpoint, over the stage's default
    port. Chalice's own local server already keeps ``current_request`` per thread."""
    import os

    from chalice.local import ThreadedHTTPServer

    from freshcart_local.stack import Home, StackError, read_facts

    apply()
    ThreadedHTTPServer.request_queue_size = 128
    reload_on_code_only()
    home = Home(Path(os.environ["FRESHCART_HOME"])) if os.environ.get("FRESHCART_HOME") else Home()
    os.environ["PUBLIC_API_URL"] = f"http://127.0.0.1:{cli_port(sys.argv)}"  # links in emails: this server
    # No stack running: the stage's defaults stay, and the first request gets a one-line hint.
    with contextlib.suppress(StackError, KeyError, ValueError):
        facts = read_facts(home)
        os.environ["FRESHCART_LOCAL_AWS"] = str(facts["aws_endpoint"])
        os.environ["STRIPE_API_BASE"] = str(facts["stripe"]["api_base"])  # wherever `make aws` put it


def cli_port(argv: list[str]) -> int:
    """The port `chalice local` serves on (``--port N`` or ``--port=N``; its default 8000)."""
    for i, arg in enumerate(argv):
        if arg == "--port" and i + 1 < len(argv) and argv[i + 1].isdigit():
            return int(argv[i + 1])
        if arg.startswith("--port=") and arg[7:].isdigit():
            return int(arg[7:])
    return 8000


CODE_SUFFIXES = (".py", ".json")
NOT_CODE = (".freshcart", ".venv", "__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache", "build", ".git")


def is_code_edit(path: str) -> bool:
    """Does a change of ``path`` mean the app changed (not the local stack writing its state)?"""
    parts = Path(path).parts
    return path.endswith(CODE_SUFFIXES) and not any(p in NOT_CODE for p in parts)


def code_files(root_dir: str) -> Iterator[str]:
    """The files below ``root_dir`` whose edit changes the app (state, caches and the venv pruned)."""
    for folder, dirs, files in os.walk(root_dir):
        dirs[:] = [d for d in dirs if d not in NOT_CODE]
        for name in files:
            path = os.path.join(folder, name)
            if is_code_edit(path):
                yield path


def reload_on_code_only() -> None:
    """`chalice local`'s reloader restarts the server on any change below the project, the
    running stack's own files (.freshcart/) included, every few seconds: only code edits now
    (its stat() watcher, used without watchdog, walks the code files alone; with watchdog, its
    restarter ignores other paths). Relies on chalice 1.32's filewatch (pinned)."""
    from chalice.cli.filewatch import stat

    watcher = stat.StatFileWatcher
    if not getattr(watcher, "_freshcart", False):

        def seed(self: Any, root_dir: str) -> None:
            for path in code_files(root_dir):
                self._mtime_cache[path] = self._osutils.mtime(path)

        watcher._seed_mtime_cache = seed  # type: ignore[method-assign]
        watcher._recursive_walk_files = lambda self, root_dir: code_files(root_dir)  # type: ignore[method-assign]
        watcher._freshcart = True  # type: ignore[attr-defined]
    with contextlib.suppress(ImportError):  # watchdog is optional for chalice
        from chalice.cli.filewatch import eventbased

        restarter = eventbased.WatchdogRestarter
        if getattr(restarter, "_freshcart", False):
            return
        original = restarter.on_any_event

        def on_any_event(self: Any, event: Any) -> None:
            if is_code_edit(str(getattr(event, "src_path", ""))):
                original(self, event)

        restarter.on_any_event = on_any_event  # type: ignore[method-assign]
        restarter._freshcart = True  # type: ignore[attr-defined]


def _allowed_methods(handler: ChaliceRequestHandler) -> str:
    """The methods the API serves on the request's path (for a 405's Allow header), or ''."""
    gateway = getattr(handler, "local_gateway", None)
    path = getattr(handler, "path", None)
    if gateway is None or not path:
        return ""
    try:
        route = gateway.event_converter._route_matcher.match_route(path).route
    except ValueError:  # no route: a 404 path
        return ""
    return ", ".join(sorted(gateway._app_object.routes[route]))


def _send_json_error(
    self: ChaliceRequestHandler, code: int, message: str | None = None, explain: str | None = None
) -> None:
    """The local HTTP server's own errors (an unknown verb, a malformed request line) as our JSON."""
    status, kind = (405, "method_not_allowed") if code == HTTPStatus.NOT_IMPLEMENTED else (code, "bad_request")
    body = json.dumps(
        {"error": {"code": kind, "message": message or HTTPStatus(status).phrase, "requestId": str(uuid.uuid4())}}
    )
    self.send_response(status)
    self.send_header("Content-Type", "application/json")
    allowed = _allowed_methods(self) if status == 405 else ""
    if allowed:
        self.send_header("Allow", allowed)
    self.send_header("Content-Length", str(len(body)))
    self.send_header("Connection", "close")
    self.end_headers()
    if self.command != "HEAD" and code >= 200 and code not in (204, 304):
        self.wfile.write(body.encode())
