"""moto's server, run in-process, that also counts the requests that change state.

The count is what lets the snapshotter write only when something changed, whoever the caller is
(this process, `chalice local` in another one, the AWS CLI). It also serves the local fault switch
(``/_freshcart/faults``, faults.py). It is built like moto's own
``ThreadedMotoServer`` (werkzeug, one thread per request, daemon threads) with a WSGI wrapper.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qs

# Actions that only read. Anything else (including what we cannot classify) counts as a change:
# a needless snapshot is cheap, a missed one loses data.
READ_PREFIXES = ("Get", "List", "Describe", "Query", "Scan", "BatchGet", "Receive", "Head", "Check", "Validate")

Environ = dict[str, Any]
StartResponse = Callable[..., Any]
WsgiApp = Callable[[Environ, StartResponse], Iterable[bytes]]


def action_of(environ: Environ) -> str | None:
    """The AWS action a request names (JSON protocol header or query-protocol form), if any.
    A form body is read and put back so moto still sees it."""
    target = environ.get("HTTP_X_AMZ_TARGET")
    if target:
        return str(target).rsplit(".", 1)[-1]
    query = parse_qs(environ.get("QUERY_STRING", ""))
    if "Action" in query:
        return str(query["Action"][0])
    if str(environ.get("CONTENT_TYPE", "")).startswith("application/x-www-form-urlencoded"):
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(body)
        form = parse_qs(body.decode("utf-8", "replace"))
        if "Action" in form:
            return str(form["Action"][0])
    return None


def changes_state(environ: Environ) -> bool:
    method = str(environ.get("REQUEST_METHOD", "GET")).upper()
    action = action_of(environ)
    if action is not None:
        return not action.startswith(READ_PREFIXES)
    if str(environ.get("PATH_INFO", "")).startswith("/moto-api/"):
        return method != "GET"
    return method not in ("GET", "HEAD", "OPTIONS")  # REST services (S3): a write is PUT/POST/DELETE


class ChangeCounter:
    """WSGI middleware: ``changes`` goes up after each state-changing request has been answered
    (after, so a snapshot taken when it moves always contains the change)."""

    def __init__(self, app: WsgiApp) -> None:
        self.app = app
        self.changes = 0
        self._lock = threading.Lock()

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        writes = changes_state(environ)
        try:
            return self.app(environ, start_response)
        finally:
            if writes:
                with self._lock:
                    self.changes += 1


def with_fault_control(app: WsgiApp) -> WsgiApp:
    """``/_freshcart/faults`` (faults.py) beside moto: the local-only switch for fault tests."""
    from freshcart_local import faults

    def serve(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        if faults.is_control(environ):
            return faults.control(environ, start_response)
        return app(environ, start_response)

    return serve


class MotoServer:
    """moto on ``host:port`` in daemon threads; ``stop`` is bounded."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.counter: ChangeCounter | None = None
        self._server: Any = None
        self._thread: threading.Thread | None = None

    @property
    def changes(self) -> int:
        return self.counter.changes if self.counter else 0

    def start(self) -> None:
        from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
        from werkzeug.serving import make_server

        self.counter = ChangeCounter(DomainDispatcherApplication(create_backend_app))
        self._server = make_server(
            self.host, self.port, with_fault_control(self.counter), threaded=True, request_handler=MotoRequestHandler
        )
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True)
        self._thread.name = "moto"
        self._thread.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
