"""The local API server's error output."""

from __future__ import annotations

import pytest

from freshcart_local.stack import BurstServer


@pytest.mark.parametrize(("error", "printed"), [(ConnectionResetError(104, "reset"), False), (ValueError("x"), True)])
def test_a_dropped_connection_prints_no_traceback_other_errors_do(
    error: Exception, printed: bool, capsys: pytest.CaptureFixture[str]
) -> None:
    server = BurstServer.__new__(BurstServer)  # handle_error needs no socket
    try:
        raise error
    except Exception:
        server.handle_error(None, ("127.0.0.1", 1))
    assert bool(capsys.readouterr().err) is printed
