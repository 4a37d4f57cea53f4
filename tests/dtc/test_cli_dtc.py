"""`run_dtc_push`: listen-address parsing and a real process stopped by SIGTERM."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from mdtool.cli.dtc_push import parse_listen, run_dtc_push
from mdtool.errors import MdtoolError, UsageError
from tests.dtc import client as c


@pytest.mark.parametrize(
    ("listen", "expected"),
    [("127.0.0.1:11099", ("127.0.0.1", 11099)), ("localhost:1", ("localhost", 1)), ("[::1]:80", ("::1", 80))],
)
def test_parse_listen(listen: str, expected: tuple[str, int]) -> None:
    assert parse_listen(listen) == expected


@pytest.mark.parametrize("listen", ["11099", "host:", ":11099", "h:0", "h:65536", "h:x1", "::1:80", "[zz]:1"])
def test_bad_listen_is_a_usage_error(listen: str) -> None:
    with pytest.raises(UsageError, match="--listen"):
        parse_listen(listen)


def test_port_in_use_is_a_runtime_error(sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MARKET_DATA_DATABASE_URL", sqlite_url)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(MdtoolError, match=f"cannot listen on 127.0.0.1:{port}") as caught:
            run_dtc_push(f"127.0.0.1:{port}", None, None)
    assert caught.value.exit_code == 1


def test_username_without_password_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="go together"):
        run_dtc_push("127.0.0.1:1", "u", None)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_serves_until_sigterm_then_exits_0(sqlite_url: str) -> None:
    port = free_port()
    code = f"import sys; from mdtool.cli.dtc_push import run_dtc_push; sys.exit(run_dtc_push('127.0.0.1:{port}', 'u', 'p'))"
    env = {**os.environ, "MARKET_DATA_DATABASE_URL": sqlite_url}
    process = subprocess.Popen([sys.executable, "-c", code], env=env, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                conn = c.DtcClient("127.0.0.1", port)
                break
            except ConnectionRefusedError:
                assert time.monotonic() < deadline, "dtc-push did not start listening"
                assert process.poll() is None, process.stderr.read() if process.stderr else ""
                time.sleep(0.05)
        conn.send(c.logon_request("u", "p"))
        assert conn.expect(2)["Result"] == 1
        process.send_signal(signal.SIGTERM)
        assert conn.expect(5)["Reason"] == "server shutting down"
        conn.wait_closed(timeout=5)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
