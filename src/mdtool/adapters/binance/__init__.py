"""Binance spot: historical klines (`BinanceBarSource`) and the live trade stream (`BinanceTradeStream`).

The CLI builds both through the factories below from `Settings`, so the adapter is usable from Python
without Typer and the tests can point it at a fake exchange.
"""

from __future__ import annotations

from collections.abc import Callable

from mdtool.adapters.binance.history import BinanceBarSource
from mdtool.adapters.binance.rest import BinanceRest
from mdtool.adapters.binance.stream import BinanceTradeStream
from mdtool.config import Settings

__all__ = ["BinanceBarSource", "BinanceRest", "BinanceTradeStream", "make_bar_source", "make_tick_stream"]


def make_rest(settings: Settings) -> BinanceRest:
    """The paced REST client configured from `BINANCE_BASE_URL` and the optional credentials."""
    return BinanceRest(settings.binance_base_url, settings.binance_api_key, settings.binance_api_secret)


def make_bar_source(settings: Settings) -> BinanceBarSource:
    """`BarSource` for `mdtool backfill binance ...`."""
    return BinanceBarSource(make_rest(settings))


def make_tick_stream(settings: Settings, last_trade_id: Callable[[str], int | None]) -> BinanceTradeStream:
    """`TickStream` for `mdtool stream binance ...`; `last_trade_id(symbol)` is the newest stored id."""
    return BinanceTradeStream(make_rest(settings), settings.binance_stream_url, last_trade_id)
