"""How a running stream reports itself: a live status line on a terminal, a periodic log line otherwise."""

from __future__ import annotations

import logging
import time

from rich.console import Console
from rich.live import Live

from mdtool.sources import StreamStatus
from mdtool.storage.batching import BatchingWriter

log = logging.getLogger(__name__)


def describe(status: StreamStatus, writer: BatchingWriter, rate: float) -> str:
    """One line: connection state, throughput, lag, reconnects, gap fills and what waits for the database.

    With more than one connection (a market-wide stream) the line aggregates over symbols: symbols,
    connections up/total, holes pending and recorded, and the REST weight used in the current window.
    """
    state = "connected" if status.connected else (status.message or "connecting")
    if status.connections_total > 1:
        state = (
            f"{status.symbols} symbols · {status.connections_up}/{status.connections_total} connections up"
        )
    line = (
        f"{state} · {status.trades} trades ({rate:,.0f}/s) · lag {status.last_lag_seconds:.2f} s · "
        f"{status.reconnects} reconnects · {status.gaps_filled} gap-filled · {writer.pending} buffered"
    )
    if status.holes_pending or status.holes_recorded or status.weight_used:
        line += (
            f" · {status.holes_pending} holes pending · {status.holes_recorded} recorded"
            f" · weight {status.weight_used}"
        )
    return line


class LiveStatusLine:
    """A transient rich line, refreshed on every call; `close()` removes it before the summary prints."""

    def __init__(self, console: Console) -> None:
        self._live = Live(console=console, refresh_per_second=4, transient=True)
        self._live.start()
        self._trades = 0
        self._time = time.monotonic()

    def __call__(self, status: StreamStatus, writer: BatchingWriter) -> None:
        now = time.monotonic()
        rate = (status.trades - self._trades) / max(now - self._time, 1e-9)
        self._trades, self._time = status.trades, now
        self._live.update(describe(status, writer, rate))

    def close(self) -> None:
        self._live.stop()


class LoggedStatus:
    """The same line as a log record every `every` seconds, for cron, systemd and log files."""

    def __init__(self, every: float = 30.0) -> None:
        self._every = every
        self._trades = 0
        self._time = time.monotonic()

    def __call__(self, status: StreamStatus, writer: BatchingWriter) -> None:
        now = time.monotonic()
        if now - self._time >= self._every:
            rate = (status.trades - self._trades) / (now - self._time)
            self._trades, self._time = status.trades, now
            log.info("%s", describe(status, writer, rate))

    def close(self) -> None:
        return None
