"""Deterministic market data: prices, klines as Binance serialises them, and trades."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from tests.fakes.binance.clock import FIXED_MS, next_open_ms, now_ms


def price_at(symbol: str, t: int) -> int:
    """Deterministic price in hundredths, wandering but always positive."""
    seed = sum(symbol.encode()) * 7919
    return 4_000_000 + (seed + t // 60_000 * 37) % 200_000


def fmt(hundredths: int, scale: int = 8) -> str:
    """Binance style decimal string with 8 places: 4200001 -> '42000.01000000'."""
    whole, frac = divmod(hundredths, 100)
    return f"{whole}.{frac:02d}" + "0" * (scale - 2)


_CENTS = tuple(f"{cents:02d}" for cents in range(100))
_KLINE = (
    '[%d,"%d.%s000000","%d.%s000000","%d.%s000000","%d.%s000000","%d.%s000000",%d,"%d.%s000000",%d,'
    '"%d.%s000000","%d.%s000000","0"]'
)
"""A kline row as Binance serialises it, with every decimal as whole part and two-digit cents."""


def klines_json(symbol: str, interval: str, opens: Iterable[int]) -> str:
    """The JSON array of the klines opening at `opens`, as Binance serialises them."""
    return "[" + ",".join(kline_texts(symbol, interval, opens)) + "]"


def kline_texts(symbol: str, interval: str, opens: Iterable[int]) -> list[str]:
    """The klines opening at `opens`, each as the JSON text of its row.

    Built with one printf-style format per row (the cents of each decimal looked up, not formatted):
    the benchmark serves 525,600 of them, and the fake's own CPU must stay small next to the client's
    it is there to measure.
    """
    seed = sum(symbol.encode()) * 7919
    length = FIXED_MS.get(interval)
    cents = _CENTS
    rows = []
    for open_ms in opens:
        close_ms = open_ms + length - 1 if length else next_open_ms(interval, open_ms) - 1
        o = 4_000_000 + (seed + open_ms // 60_000 * 37) % 200_000  # price_at, inlined
        c = 4_000_000 + (seed + close_ms // 60_000 * 37) % 200_000
        h, low = (c + 150, o - 120) if o < c else (o + 150, c - 120)
        trades = 10 + open_ms // 1000 % 90
        volume = trades * 3
        base = o // 100
        half = volume // 2
        quote, half_quote = volume * base, half * base
        rows.append(
            _KLINE
            % (
                open_ms, base, cents[o % 100], h // 100, cents[h % 100], low // 100, cents[low % 100],
                c // 100, cents[c % 100], volume // 100, cents[volume % 100], close_ms,
                quote // 100, cents[quote % 100], trades, half // 100, cents[half % 100],
                half_quote // 100, cents[half_quote % 100],
            )
        )  # fmt: skip
    return rows


def kline_json(symbol: str, interval: str, open_ms: int) -> str:
    """One kline as Binance serialises it (a row of `klines_json`)."""
    return klines_json(symbol, interval, (open_ms,))[1:-1]


def kline_row(symbol: str, interval: str, open_ms: int) -> list[Any]:
    """The same kline parsed, for assertions."""
    row: list[Any] = json.loads(kline_json(symbol, interval, open_ms))
    return row


@dataclass
class Trade:
    id: int
    time: int
    price: str
    qty: str
    buyer_maker: bool

    def event(self, symbol: str) -> dict[str, Any]:
        """Payload of `<symbol>@trade` as documented."""
        return {
            "e": "trade",
            "E": now_ms(),
            "s": symbol,
            "t": self.id,
            "p": self.price,
            "q": self.qty,
            "T": self.time,
            "m": self.buyer_maker,
            "M": True,
        }

    def rest(self) -> dict[str, Any]:
        """Row of GET /api/v3/historicalTrades as documented."""
        quote = f"{float(self.price) * float(self.qty):.8f}"
        return {
            "id": self.id,
            "price": self.price,
            "qty": self.qty,
            "quoteQty": quote,
            "time": self.time,
            "isBuyerMaker": self.buyer_maker,
            "isBestMatch": True,
        }
