"""Binance spot: historical klines (`BinanceBarSource`) and the live trade stream (`BinanceTradeStream`).

The CLI builds both through the factories below from `Settings`, so the adapter is usable from Python
without Typer and the tests can point it at a fake exchange.
"""

from __future__ import annotations

from collections.abc import Callable

from mdtool.adapters.binance.archive import ArchiveBarSource, Via
from mdtool.adapters.binance.archive_fetch import ArchiveClient
from mdtool.adapters.binance.archive_trades import BinanceTradeHistory
from mdtool.adapters.binance.history import BinanceBarSource
from mdtool.adapters.binance.pacing import DEFAULT_STREAMS_PER_CONNECTION
from mdtool.adapters.binance.ratelimit import RateGate
from mdtool.adapters.binance.rest import BinanceRest
from mdtool.adapters.binance.stream import BinanceTradeStream
from mdtool.config import Settings
from mdtool.sources import HoleLedger

__all__ = [
    "DEFAULT_STREAMS_PER_CONNECTION",
    "ArchiveBarSource",
    "ArchiveClient",
    "BinanceBarSource",
    "BinanceRest",
    "BinanceTradeHistory",
    "BinanceTradeStream",
    "RateGate",
    "Via",
    "make_bar_source",
    "make_rest",
    "make_tick_stream",
    "make_trade_history",
]


def make_rest(settings: Settings, gate: RateGate | None = None) -> BinanceRest:
    """The paced REST client configured from `BINANCE_BASE_URL` and the optional credentials.

    Clients made with the same `gate` share its request-weight budget: what a process running several
    jobs (`mdtool run`) must do, since Binance counts weight per IP."""
    return BinanceRest(
        settings.binance_base_url, settings.binance_api_key, settings.binance_api_secret, gate=gate
    )


def make_bar_source(
    settings: Settings, via: Via = Via.rest, gate: RateGate | None = None
) -> BinanceBarSource | ArchiveBarSource:
    """`BarSource` for `mdtool backfill binance ...`: REST only, or the archive stitched to REST
    (`gate`: a request-weight budget shared with other work of the process, see `make_rest`)."""
    rest = BinanceBarSource(make_rest(settings, gate))
    if via is Via.rest:
        return rest
    return ArchiveBarSource(rest, ArchiveClient(settings.binance_archive_url), via)


def make_trade_history(settings: Settings) -> BinanceTradeHistory:
    """Trade history for `mdtool backfill binance SYMBOL trades`: archive files and REST by id."""
    return BinanceTradeHistory(make_rest(settings), ArchiveClient(settings.binance_archive_url))


def make_tick_stream(
    settings: Settings,
    last_trade_id: Callable[[str], int | None],
    *,
    holes: HoleLedger | None = None,
    streams_per_connection: int = DEFAULT_STREAMS_PER_CONNECTION,
    rest: BinanceRest | None = None,
) -> BinanceTradeStream:
    """`TickStream` for `mdtool stream binance ...`; `last_trade_id(symbol)` is the newest stored id.

    `holes` records what cannot be filled; pass a shared `rest` to share one request-weight budget
    with other Binance work in the same process."""
    return BinanceTradeStream(
        rest or make_rest(settings),
        settings.binance_stream_url,
        last_trade_id,
        holes=holes,
        streams_per_connection=streams_per_connection,
    )
