"""Venue tick streams wired to storage: what `mdtool stream` and the stream jobs of `mdtool run` start.

The adapters know nothing of the database; here each gets the few storage callbacks it needs (the newest
stored trade id to resume after, the ledger of holes that could not be filled), so the command line and
the supervisor build the same stream the same way.
"""

from __future__ import annotations

from sqlalchemy import Engine

from mdtool.adapters import binance
from mdtool.adapters.binance.rest import BinanceRest
from mdtool.config import Settings
from mdtool.storage.holes import DatabaseHoles
from mdtool.storage.queries import newest_numeric_trade_id


def binance_tick_stream(
    engine: Engine,
    settings: Settings,
    *,
    streams_per_connection: int = binance.DEFAULT_STREAMS_PER_CONNECTION,
    rest: BinanceRest | None = None,
) -> binance.BinanceTradeStream:
    """Binance's whole-market trade stream on `engine`: pass it to `run_stream` with a `Selection`.

    It resumes each symbol after its newest stored trade, records holes it cannot fill in
    `market_data_stream_holes` and retries the recorded ones. Give several jobs one `rest`
    (`binance.make_rest(settings)`) so they share the process's request-weight budget.
    """

    def last_trade_id(symbol: str) -> int | None:
        return newest_numeric_trade_id(engine, "binance", symbol, "trade")

    return binance.make_tick_stream(
        settings,
        last_trade_id,
        holes=DatabaseHoles(engine),
        streams_per_connection=streams_per_connection,
        rest=rest,
    )
