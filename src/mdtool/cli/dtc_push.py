"""`mdtool dtc-push`: serve stored market data to DTC clients (Sierra Chart) until SIGINT/SIGTERM.

Heavy modules (database, DTC server) are imported when the command runs, so `--help` stays instant.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import signal
from typing import TYPE_CHECKING, Annotated

import typer

from mdtool.config import load_settings
from mdtool.errors import MdtoolError, UsageError

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from mdtool.dtc.session import ServerConfig

log = logging.getLogger(__name__)
DEFAULT_LISTEN = "127.0.0.1:11099"


def parse_listen(listen: str) -> tuple[str, int]:
    """`HOST:PORT` (IPv6 as `[::1]:PORT`) to a host and port, with a usage error naming the problem."""
    host, sep, port_text = listen.strip().rpartition(":")
    if not sep or not host or not port_text:
        raise UsageError(f"--listen must be HOST:PORT, e.g. {DEFAULT_LISTEN}; got {listen!r}")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise UsageError(f"--listen has a malformed IPv6 address: {listen!r}") from None
    elif ":" in host or any(ch.isspace() for ch in host):
        raise UsageError(f"--listen must be HOST:PORT (IPv6 in brackets); got {listen!r}")
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise UsageError(f"--listen port must be 1-65535, got {port_text!r}")
    return host, int(port_text)


def run_dtc_push(listen: str, username: str | None, password: str | None) -> int:
    """Parse, connect, serve until SIGINT/SIGTERM; returns the exit code."""
    from mdtool.dtc.session import ServerConfig
    from mdtool.storage.engine import check_connection, create_engine, warn_if_plain_postgres

    host, port = parse_listen(listen)
    if (username is None) != (password is None):
        raise UsageError("--username and --password go together")
    settings = load_settings()
    engine = create_engine(settings.database_url)
    try:
        check_connection(engine)
        warn_if_plain_postgres(engine)
        asyncio.run(_serve_until_signal(engine, host, port, ServerConfig(username, password)))
    finally:
        engine.dispose()
    return 0


async def _serve_until_signal(engine: Engine, host: str, port: int, config: ServerConfig) -> None:
    from mdtool.dtc.server import serve

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        await serve(engine, host, port, config, stop)
    except OSError as exc:
        raise MdtoolError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    log.info("DTC server stopped")


def dtc_push(
    listen: Annotated[str, typer.Option(help="HOST:PORT to accept DTC clients on.")] = "127.0.0.1:11099",
    username: Annotated[str | None, typer.Option(help="Require this logon username.")] = None,
    password: Annotated[str | None, typer.Option(help="Require this logon password.")] = None,
) -> None:
    """Serve stored bars and live ticks to Sierra Chart (or any DTC client) over the DTC protocol.

    Encodings: binary, JSON, compact JSON. Address a series as Symbol BTCUSDT with Exchange binance.
    Subscriptions get a snapshot, then every newly stored trade (and bid/ask quote) within 250 ms of its
    commit. History at any chart interval, aggregated from finer stored bars or ticks; zlib on request.

    Example: mdtool dtc-push --listen 0.0.0.0:11099 --username me --password secret
    """
    raise typer.Exit(run_dtc_push(listen, username, password))
