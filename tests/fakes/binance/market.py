"""Deterministic market data: prices, klines as Binance serialises them, and trades."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from tests.fakes.binance.clock import next_open_ms, now_ms


def price_at(symbol: str, t: int) -> int:
    """Deterministic price in hundredths, wandering but always positive."""
    seed = sum(symbol.encode()) * 7919
    return 4_000_000 + (seed + t // 60_000 * 37) % 200_000


def fmt(hundredths: int, scale: int = 8) -> str:
    """Binance style decimal string with 8 places: 4200001 -> '42000.01000000'."""
    whole, frac = divmod(hundredths, 100)
    return f"{whole}.{frac:02d}" + "0" * (scale - 2)


def kline_json(symbol: str, interval: str, open_ms: int) -> str:
    """One kline as Binance serialises it; built as text because the benchmark serves 525,600 of them."""
    close_ms = next_open_ms(interval, open_ms) - 1
    o = price_at(symbol, open_ms)
    c = price_at(symbol, close_ms)
    h = max(o, c) + 150
    low = min(o, c) - 120
    trades = 10 + open_ms // 1000 % 90
    volume = trades * 3
    base = o // 100
    half = volume // 2
    return (
        f'[{open_ms},"{o // 100}.{o % 100:02d}000000","{h // 100}.{h % 100:02d}000000",'
        f'"{low // 100}.{low % 100:02d}000000","{c // 100}.{c % 100:02d}000000",'
        f'"{fmt(volume)}",{close_ms},"{fmt(volume * base)}",{trades},"{fmt(half)}","{fmt(half * base)}","0"]'
    )


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
