"""Resolving a stream job's symbol selection against the venue's listing.

The seam between `mdtool run` and the venue: for Binance, one `exchangeInfo` call gives every symbol
with its quote asset and status, and `Selection.resolve` (shared with `mdtool stream`) picks and shards.
A selection of explicit symbols only needs no listing: the shard is applied locally and the adapter
checks the names when it starts, exactly as `mdtool stream` does.
"""

from __future__ import annotations

from mdtool.adapters.binance import RateGate, make_rest
from mdtool.adapters.binance.listing import parse_listing
from mdtool.config import Settings
from mdtool.errors import ExchangeError
from mdtool.selection import ListedSymbol, Selection


def resolve_symbols(
    settings: Settings, venue: str, selection: Selection, gate: RateGate | None = None
) -> list[str]:
    """The symbols a stream job covers now; `UsageError` for an empty or unknown selection.

    `gate` is the process's Binance request-weight budget (the listing costs 20 weight)."""
    if not selection.selects_from_listing:
        chosen = [s for s in selection.symbols if selection.shard is None or selection.shard.owns(s)]
        return sorted(chosen)
    if venue != "binance":
        raise ExchangeError(f"{venue} has no symbol listing to select from")
    return selection.resolve(binance_listing(settings, gate))


def binance_listing(settings: Settings, gate: RateGate | None = None) -> list[ListedSymbol]:
    """Every spot symbol from `GET /api/v3/exchangeInfo`, through the paced, retrying REST client the
    stream itself uses (`ExchangeError` when Binance stays unreachable or refuses)."""
    rest = make_rest(settings, gate)
    try:
        return parse_listing(rest.exchange_info())
    finally:
        rest.close()
