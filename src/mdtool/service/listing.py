"""Resolving a stream job's symbol selection against the venue's listing.

The seam between `mdtool run` and the venue: for Binance, one `exchangeInfo` call gives every symbol
with its quote asset and status, and `Selection.resolve` (shared with `mdtool stream`) picks and shards.
A selection of explicit symbols only needs no listing: the shard is applied locally and the adapter
checks the names when it starts, exactly as `mdtool stream` does.
"""

from __future__ import annotations

from typing import Any

from binance.error import ClientError, ServerError
from binance.spot import Spot
from requests import RequestException

from mdtool.config import Settings
from mdtool.errors import ExchangeError
from mdtool.selection import ListedSymbol, Selection

_TIMEOUT = 30


def resolve_symbols(settings: Settings, venue: str, selection: Selection) -> list[str]:
    """The symbols a stream job covers now; `UsageError` for an empty or unknown selection."""
    if not selection.selects_from_listing:
        chosen = [s for s in selection.symbols if selection.shard is None or selection.shard.owns(s)]
        return sorted(chosen)
    if venue != "binance":
        raise ExchangeError(f"{venue} has no symbol listing to select from")
    return selection.resolve(binance_listing(settings))


def binance_listing(settings: Settings) -> list[ListedSymbol]:
    """Every spot symbol from `GET /api/v3/exchangeInfo` (weight 20), with quote asset and status."""
    client = Spot(base_url=settings.binance_base_url, timeout=_TIMEOUT)
    try:
        info: dict[str, Any] = client.exchange_info()
    except (ClientError, ServerError, RequestException) as error:
        raise ExchangeError(f"cannot read the Binance listing: {error}") from None
    finally:
        client.session.close()
    return [
        ListedSymbol(
            symbol=str(entry["symbol"]).upper(),
            quote=str(entry.get("quoteAsset", "")).upper(),
            trading=entry.get("status") == "TRADING",
        )
        for entry in info.get("symbols", [])
    ]
