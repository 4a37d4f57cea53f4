"""Interactive Brokers through IB Gateway/TWS with ib-async: historical bars and ticks, tick-by-tick
streams that fill reconnect holes.

The CLI builds a `ContractSpec` from its options and calls the two factories; everything else in this
package is an implementation detail.
"""

from __future__ import annotations

from mdtool.adapters.ibkr.connection import Endpoint
from mdtool.adapters.ibkr.contracts import ContractSpec
from mdtool.adapters.ibkr.history import HistoryOptions, IbkrBarSource
from mdtool.adapters.ibkr.stream import IbkrTickStream, StreamOptions
from mdtool.adapters.ibkr.tickhistory import IbkrTickSource
from mdtool.config import Settings


def endpoint(settings: Settings) -> Endpoint:
    """IBKR_HOST / IBKR_PORT / IBKR_CLIENT_ID."""
    return Endpoint(settings.ibkr_host, settings.ibkr_port, settings.ibkr_client_id)


def make_bar_source(settings: Settings, spec: ContractSpec) -> IbkrBarSource:
    """The `BarSource` for `mdtool backfill ibkr`; call its `close()` when the backfill is over."""
    return IbkrBarSource(endpoint(settings), spec)


def make_tick_source(settings: Settings, spec: ContractSpec) -> IbkrTickSource:
    """The `TickSource` for `mdtool backfill ibkr SYMBOL ticks` (`spec.what_to_show`: TRADES or BID_ASK)."""
    return IbkrTickSource(endpoint(settings), spec)


def make_tick_stream(settings: Settings, spec: ContractSpec, bid_ask: bool) -> IbkrTickStream:
    """The `TickStream` for `mdtool stream ibkr`: AllLast trades, plus BidAsk quotes when `bid_ask`."""
    return IbkrTickStream(endpoint(settings), spec, bid_ask=bid_ask)


__all__ = [
    "ContractSpec",
    "Endpoint",
    "HistoryOptions",
    "IbkrBarSource",
    "IbkrTickSource",
    "IbkrTickStream",
    "StreamOptions",
    "make_bar_source",
    "make_tick_source",
    "make_tick_stream",
]
