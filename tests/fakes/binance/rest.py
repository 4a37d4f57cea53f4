"""The REST half of the fake: request weight, injected failures, and the market-data endpoints.

`RestApi` is mixed into `FakeBinance`, which owns the state it reads (`symbols`, `trades`, `lock`, ...).
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from itertools import islice
from typing import Any

from tests.fakes.binance.clock import (
    FIXED_MS,
    WEEK_MS,
    floor_open_ms,
    ms,
    next_open_ms,
    now_ms,
    prev_open_ms,
)
from tests.fakes.binance.market import kline_texts

log = logging.getLogger("tests.fakes.binance")

INTERVAL_LETTERS = {"SECOND": "S", "MINUTE": "M", "HOUR": "H", "DAY": "D"}
INTERVAL_SECONDS = {"SECOND": 1, "MINUTE": 60, "HOUR": 3600, "DAY": 86400}
RENDERED_ROWS = 600_000
"""Rendered kline rows the fake keeps per symbol and interval (a year of 1m bars; about 120 MB)."""
WEIGHTS = {
    "/api/v3/ping": 1,
    "/api/v3/time": 1,
    "/api/v3/exchangeInfo": 20,
    "/api/v3/klines": 2,
    "/api/v3/historicalTrades": 25,
    "/api/v3/trades": 25,
}


@dataclass
class Injection:
    status: int  # HTTP status, or 0 for a reset connection (no response at all)
    path: str
    retry_after: int | None
    skip: int = 0  # let this many matching requests through first


class RestApi:
    """Weight accounting, injections and the REST endpoints (mixed into `FakeBinance`)."""

    # --- knobs for tests -------------------------------------------------------------------------

    def inject(
        self,
        status: int,
        count: int = 1,
        path: str = "/api/v3/klines",
        retry_after: int | None = None,
        skip: int = 0,
    ) -> None:
        """Answer `count` requests to `path` with `status` (0: reset the connection), after `skip`."""
        with self.lock:
            self.injections.extend(Injection(status, path, retry_after, skip) for _ in range(count))

    def add_outage(self, start: datetime, end: datetime) -> None:
        """No klines open in [start, end), as after a real exchange outage."""
        self.outages.append((ms(start), ms(end)))

    def request_count(self, path: str | None = None) -> int:
        return sum(1 for r in self.requests if path is None or r[1] == path)

    # --- clock and weight ------------------------------------------------------------------------

    def now_ms(self) -> int:
        """The exchange's clock."""
        return now_ms() + self.clock_skew_ms

    def server_time(self) -> int:
        """`serverTime` as answered."""
        return self.now_ms() if self.fixed_server_time is None else self.fixed_server_time

    def window(self, now: float) -> tuple[int, float]:
        """Current weight window id and the seconds until it ends."""
        length = INTERVAL_SECONDS[self.weight_interval[0]] * self.weight_interval[1]
        wid = int(now // length)
        return wid, (wid + 1) * length - now

    def weight_headers(self, used: int) -> dict[str, str]:
        """The used-weight header as configured (`X-MBX-USED-WEIGHT-1M` by default), or none."""
        if self.weight_header is None:
            return {}
        unit, num = self.weight_interval
        return {self.weight_header.format(num=num, letter=INTERVAL_LETTERS[unit]): str(used)}

    def admit(self, path: str) -> tuple[int, dict[str, str], Any]:
        """Rate limiting and injected failures: (status, headers, error body) or status 200."""
        now = time.time()
        weight = WEIGHTS.get(path, 1)
        with self.lock:
            if now < self.banned_until:
                wait = math.ceil(self.banned_until - now)
                return 418, {"Retry-After": str(wait)}, _err(-1003, "IP banned.")
            if now < self.retry_after_until:
                self.violations += 1
                self.banned_until = now + 120
                log.error("fake binance: request during Retry-After; banning")
                return (
                    418,
                    {"Retry-After": "120"},
                    _err(-1003, "Way too much request weight used; IP banned."),
                )
            for i, inj in enumerate(self.injections):
                if inj.path == path and inj.skip:
                    inj.skip -= 1
                    break
                if inj.path == path:
                    del self.injections[i]
                    headers = {}
                    if inj.retry_after is not None:
                        headers["Retry-After"] = str(inj.retry_after)
                        if inj.status == 429:
                            self.retry_after_until = now + inj.retry_after
                    if inj.status >= 500:
                        return inj.status, headers, "<html>upstream failure</html>"
                    return inj.status, headers, _err(-1003, "Too many requests; injected.")
            wid, remaining = self.window(now)
            used = self.used.get(wid, 0)
            if used + weight > self.weight_limit:
                wait = max(1, math.ceil(remaining))
                self.retry_after_until = now + wait
                return 429, {"Retry-After": str(wait)}, _err(-1003, "Too much request weight used.")
            self.used = {wid: used + weight}
            return 200, self.weight_headers(used + weight), None

    # --- REST endpoints --------------------------------------------------------------------------

    def route(self, path: str, params: dict[str, str], api_key: str | None = None) -> tuple[int, Any]:
        if path == "/api/v3/ping":
            return 200, {}
        if path == "/fake/stats":  # not Binance: the benchmark reads the fake's own send rate here
            return 200, {"sent": self.sent, "connections": len(self.connections)}
        if path == "/api/v3/time":
            return 200, {"serverTime": self.server_time()}
        if path == "/api/v3/exchangeInfo":
            return self.exchange_info(params)
        if path == "/api/v3/klines":
            return self.klines(params)
        if path == "/api/v3/historicalTrades":
            if self.trades_need_key and not api_key:
                return 401, _err(-2014, "API-key format invalid.")
            return self.historical_trades(params)
        return 404, _err(-1000, f"Unknown path {path}.")

    def exchange_info(self, params: dict[str, str]) -> tuple[int, Any]:
        if "symbol" in params:
            names = [params["symbol"]]
        elif "symbols" in params:
            names = json.loads(params["symbols"])
        else:
            names = list(self.symbols)
        for name in names:
            if name not in self.symbols:
                return 400, _err(-1121, "Invalid symbol.")
        unit, num = self.weight_interval
        return 200, {
            "timezone": "UTC",
            "serverTime": self.server_time(),
            "rateLimits": [
                {
                    "rateLimitType": "REQUEST_WEIGHT",
                    "interval": unit,
                    "intervalNum": num,
                    "limit": self.weight_limit,
                },
                {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 100},
                {"rateLimitType": "RAW_REQUESTS", "interval": "MINUTE", "intervalNum": 5, "limit": 61000},
            ],
            "exchangeFilters": [],
            "symbols": [
                {
                    "symbol": name,
                    "status": self.statuses.get(name, "TRADING"),
                    "baseAsset": name[: -len(quote_of(name))],
                    "quoteAsset": quote_of(name),
                    "baseAssetPrecision": 8,
                    "quoteAssetPrecision": 8,
                    "orderTypes": ["LIMIT", "MARKET"],
                    "isSpotTradingAllowed": True,
                    "filters": [],
                    "permissions": [],
                    "permissionSets": [["SPOT"]],
                }
                for name in names
            ],
        }

    def klines(self, params: dict[str, str]) -> tuple[int, Any]:
        symbol, interval = params.get("symbol", ""), params.get("interval", "")
        if symbol not in self.symbols:
            return 400, _err(-1121, "Invalid symbol.")
        if interval not in FIXED_MS and interval not in ("1w", "1M"):
            return 400, _err(-1120, "Invalid interval.")
        limit = int(params.get("limit", 500))
        if not 1 <= limit <= 1000:
            return 400, _err(-1130, "Data sent for parameter 'limit' is not valid.")
        first = floor_open_ms(interval, self.symbols[symbol])
        last = floor_open_ms(interval, self.now_ms())  # the bar open now: Binance includes it
        start, end = params.get("startTime"), params.get("endTime")
        if start is not None:
            t = max(first, floor_open_ms(interval, int(start)))
            if t < int(start):
                t = next_open_ms(interval, t)
            stop = min(last, int(end)) if end is not None else last
            opens = list(islice(self._opens(interval, t, stop), limit))
        else:
            opens = []
            t = min(last, floor_open_ms(interval, int(end))) if end is not None else last
            while t >= first and len(opens) < limit:
                if not self._in_outage(t):
                    opens.append(t)
                t = prev_open_ms(interval, t)
            opens.reverse()
        return 200, self.klines_text(symbol, interval, opens)

    def klines_text(self, symbol: str, interval: str, opens: list[int]) -> str:
        """`klines_json`, remembering up to `RENDERED_ROWS` rendered rows (they never change).

        A benchmark that fetches the same year twice (its ceiling, then the backfill) then costs the
        fake a lookup per row the second time: the CPU it would spend rendering belongs, on the real
        exchange, to Binance's servers, not to the machine the client is measured on.
        """
        with self.lock:
            rendered = self.rendered.setdefault((symbol, interval), {})
            if len(rendered) > RENDERED_ROWS:
                rendered.clear()
            missing = [t for t in opens if t not in rendered]
            if missing:
                rendered.update(zip(missing, kline_texts(symbol, interval, missing), strict=True))
            return "[" + ",".join(map(rendered.__getitem__, opens)) + "]"

    def _opens(self, interval: str, t: int, stop: int) -> Iterable[int]:
        """Bar opens in [t, stop] outside outages; a `range` for fixed intervals (pages are 1000 long)."""
        length = FIXED_MS.get(interval, WEEK_MS if interval == "1w" else None)
        opens: Iterable[int] = range(t, stop + 1, length) if length else _calendar_opens(interval, t, stop)
        return filter(self._not_in_outage, opens) if self.outages else opens

    def _in_outage(self, t: int) -> bool:
        return any(a <= t < b for a, b in self.outages)

    def _not_in_outage(self, t: int) -> bool:
        return not self._in_outage(t)

    def historical_trades(self, params: dict[str, str]) -> tuple[int, Any]:
        symbol = params.get("symbol", "")
        if symbol not in self.symbols:
            return 400, _err(-1121, "Invalid symbol.")
        limit = int(params.get("limit", 500))
        if not 1 <= limit <= 1000:
            return 400, _err(-1130, "Data sent for parameter 'limit' is not valid.")
        with self.lock:
            book = list(self.trades[symbol])
        if "fromId" in params:
            offset = max(0, int(params["fromId"]) - self.first_trade_id)
            rows = book[offset : offset + limit]
        else:
            rows = book[-limit:]
        return 200, [trade.rest() for trade in rows]


QUOTES = ("FDUSD", "USDT", "USDC", "TUSD", "BTC", "ETH", "BNB", "EUR", "TRY")


def _calendar_opens(interval: str, t: int, stop: int) -> Iterator[int]:
    while t <= stop:
        yield t
        t = next_open_ms(interval, t)


def quote_of(symbol: str) -> str:
    """The quote asset of a symbol name (the fake's symbols end with a well-known quote)."""
    return next((q for q in QUOTES if symbol.endswith(q) and len(symbol) > len(q)), symbol[-4:])


def _err(code: int, msg: str) -> dict[str, Any]:
    return {"code": code, "msg": msg}
