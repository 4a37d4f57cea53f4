"""binance-connector's blocking `Spot` client with Binance's rate-limit and retry rules around it.

Every call goes through one `RateGate` (so all threads share the weight budget and any 429's
`Retry-After`), retries 5xx answers and connection failures a bounded number of times with exponential
backoff and jitter, and turns the connector's exceptions into the project's errors: an unknown symbol
or interval is the user's mistake (`UsageError`), a 418 ban or exhausted retries is `ExchangeError`.

`Spot` holds a `requests.Session`, which is not documented as thread-safe, so concurrent calls each
borrow their own client from a small pool; they all share the gate.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import requests
from binance.error import ClientError, ServerError
from binance.spot import Spot

from mdtool.adapters.binance.ratelimit import RateGate, parse_rate_limits, parse_retry_after
from mdtool.errors import ExchangeError, UsageError

log = logging.getLogger(__name__)

# Request weights from Binance's REST API documentation (market data endpoints).
WEIGHT_EXCHANGE_INFO = 20
WEIGHT_KLINES = 2
WEIGHT_HISTORICAL_TRADES = 25

_INVALID_SYMBOL = -1121
_INVALID_INTERVAL = -1120
_API_KEY_CODES = (-2014, -2015)
# A `serverTime` further off than this is not a clock difference but a server that does not keep time.
_MAX_CLOCK_SKEW = 300.0


class BinanceBanned(ExchangeError):
    """HTTP 418: Binance banned this IP; any further request would lengthen the ban."""


class BinanceUnavailable(ExchangeError):
    """Binance could not be reached or kept failing (connection errors, 5xx, 429s): worth retrying later.

    A stream, being a daemon, waits and tries again; a backfill stops (cron runs it again)."""


class BinanceRefused(ExchangeError):
    """Binance refused a request for good (an API key it wants, an endpoint it does not serve)."""


class BinanceRest:
    """Paced, retrying access to the few public market-data endpoints mdtool needs."""

    def __init__(
        self,
        base_url: str,
        api_key: str | None = None,
        api_secret: str | None = None,
        *,
        timeout: float = 30.0,
        max_retries: int = 5,
        backoff: float = 0.5,
        backoff_cap: float = 30.0,
        max_429: int = 10,
        gate: RateGate | None = None,
    ) -> None:
        self.base_url = base_url
        self.gate = gate or RateGate()
        """The request-weight budget; clients given the same gate share one budget (one per process)."""
        self.request_count = 0
        self._api_key = api_key
        self._api_secret = api_secret
        self._timeout = timeout
        self._max_retries = max_retries
        self._backoff = backoff
        self._backoff_cap = backoff_cap
        self._max_429 = max_429
        self._idle: list[Spot] = []
        self._proxies, self._verify = _environment_settings(base_url)
        self._lock = threading.Lock()
        self._cancel = threading.Event()
        self.clock_offset = 0.0
        """Seconds Binance's clock is ahead of ours (negative: behind), from `exchangeInfo.serverTime`."""

    def cancel_waits_on(self, event: threading.Event) -> None:
        """Cut retry backoffs short once `event` is set (a stream's stop), raising `BinanceUnavailable`."""
        self._cancel = event

    def exchange_info(self, symbol: str | None = None) -> dict[str, Any]:
        """`GET /api/v3/exchangeInfo[?symbol=...]`; also adopts the REQUEST_WEIGHT limits it lists.

        Without a symbol the answer lists every symbol (same weight, 20): the listing a market-wide
        stream selects from."""
        params = {"symbol": symbol} if symbol is not None else {}
        info: dict[str, Any] = self._call(WEIGHT_EXCHANGE_INFO, "exchange_info", **params)
        self._learn_clock(info.get("serverTime"))
        windows = parse_rate_limits(info)
        if windows and windows != self.gate.limits:
            log.debug(
                "Binance request weight limits: %s",
                ", ".join(f"{w.limit} per {w.seconds:g}s" for w in windows),
            )
        self.gate.configure(windows)
        return info

    def server_now(self) -> datetime:
        """Binance's idea of now: which bars are closed is Binance's call, not our clock's."""
        return datetime.now(UTC) + timedelta(seconds=self.clock_offset)

    def _learn_clock(self, server_ms: Any) -> None:
        """Adopt the server clock's offset, measured against the arrival of the answer.

        Measured on arrival, the offset errs towards Binance being behind, so a bar is never taken for
        closed early. An offset beyond `_MAX_CLOCK_SKEW` (a server answering a fixed example time) is
        ignored rather than allowed to hide every recent bar.
        """
        if not isinstance(server_ms, int) or isinstance(server_ms, bool):
            return
        offset = server_ms / 1000 - time.time()
        if abs(offset) <= _MAX_CLOCK_SKEW:
            if abs(offset) > 1.0:
                log.info("Binance's clock is %+.1f s from ours; closed bars follow Binance's", offset)
            self.clock_offset = offset
        else:
            log.debug("ignoring Binance serverTime %s: %.0f s from our clock", server_ms, offset)

    def resolve_symbol(self, symbol: str) -> str:
        """Binance's spelling of `symbol` from `exchangeInfo`; `UsageError` when it does not exist."""
        wanted = symbol.strip().upper()
        if not wanted.isalnum():
            raise UsageError(f"unknown Binance symbol {symbol!r}")
        for entry in self.exchange_info(wanted).get("symbols", []):
            if str(entry.get("symbol", "")).upper() == wanted:
                return str(entry["symbol"])
        raise UsageError(f"unknown Binance symbol {symbol!r}")

    def klines(self, symbol: str, interval: str, start_ms: int, end_ms: int, limit: int) -> list[Any]:
        """`GET /api/v3/klines` for bars opening in [start_ms, end_ms] (Binance's end is inclusive)."""
        rows: list[Any] = self._call(
            WEIGHT_KLINES,
            "klines",
            symbol=symbol,
            interval=interval,
            startTime=start_ms,
            endTime=end_ms,
            limit=limit,
        )
        return rows

    def historical_trades(self, symbol: str, from_id: int, limit: int) -> list[Any]:
        """`GET /api/v3/historicalTrades?fromId=...`: raw trades with ids from `from_id` upward."""
        rows: list[Any] = self._call(
            WEIGHT_HISTORICAL_TRADES, "historical_trades", symbol=symbol, fromId=from_id, limit=limit
        )
        return rows

    # --- machinery -------------------------------------------------------------------------------

    def close(self) -> None:
        """Close the HTTP sessions (idempotent; a later call opens new ones)."""
        with self._lock:
            idle, self._idle = self._idle, []
        for spot in idle:
            spot.session.close()

    def _borrow(self) -> Spot:
        with self._lock:
            self.request_count += 1
            if self._idle:
                return self._idle.pop()
        spot = Spot(
            api_key=self._api_key,
            api_secret=self._api_secret,
            base_url=self.base_url,
            timeout=self._timeout,
            proxies=self._proxies,
            show_header=True,
        )
        spot.session.trust_env = False  # the environment was read once, by `_environment_settings`
        spot.session.verify = self._verify
        return spot

    def _give_back(self, spot: Spot) -> None:
        with self._lock:
            self._idle.append(spot)

    def _call(self, weight: int, method: str, **params: Any) -> Any:
        failures = 0
        rate_limited = 0
        while True:
            self.gate.acquire(weight)
            spot = self._borrow()
            try:
                answer = getattr(spot, method)(**params)
            except ClientError as exc:
                self.gate.settle(weight, exc.header)
                if exc.status_code == 429:
                    rate_limited += 1
                    self._after_429(exc, method, rate_limited)
                    continue
                raise _client_error(exc, method, params) from None
            except (ServerError, requests.RequestException) as exc:
                self.gate.settle(weight, None)
                failures += 1
                self._after_failure(exc, method, failures)
                continue
            except Exception:
                self.gate.settle(weight, None)
                raise
            finally:
                self._give_back(spot)
            self.gate.settle(weight, answer["header"])
            return answer["data"]

    def _after_429(self, exc: ClientError, method: str, count: int) -> None:
        wait = parse_retry_after(exc.header)
        if wait is None:
            wait = max((w.seconds for w in self.gate.limits), default=60.0)
        if count > self._max_429:
            raise BinanceUnavailable(
                f"Binance kept rate-limiting {method} (HTTP 429 {count} times); try later"
            )
        log.warning("Binance rate limit hit (HTTP 429) on %s; pausing all requests for %.0f s", method, wait)
        self.gate.block(wait)

    def _after_failure(self, exc: Exception, method: str, failures: int) -> None:
        reason = f"HTTP {exc.status_code}" if isinstance(exc, ServerError) else type(exc).__name__
        if failures > self._max_retries:
            raise BinanceUnavailable(
                f"Binance {method} failed {failures} times in a row ({reason}); giving up"
            ) from None
        ceiling = min(self._backoff_cap, self._backoff * 2 ** (failures - 1))
        delay = ceiling / 2 + random.uniform(0, ceiling / 2)
        log.warning(
            "Binance %s failed (%s); retry %d/%d in %.2f s",
            method,
            reason,
            failures,
            self._max_retries,
            delay,
        )
        if self._cancel.wait(delay):
            raise BinanceUnavailable(f"Binance {method} abandoned: stopping")


def _environment_settings(base_url: str) -> tuple[dict[str, str], str | bool]:
    """The proxies and CA bundle `requests` would take from the environment for `base_url`, read once.

    A session that trusts the environment reads it again on every request (every variable, twice, for
    proxies alone): a tenth of the klines thread's time. The clients get these settings instead, and a
    session that does not (netrc credentials, which no Binance endpoint uses, are not looked up).
    """
    with requests.Session() as session:
        settings = session.merge_environment_settings(base_url, {}, None, None, None)
    return dict(settings["proxies"]), settings["verify"]


def _client_error(exc: ClientError, method: str, params: Mapping[str, Any]) -> Exception:
    """The project error for a 4xx other than 429."""
    if exc.status_code == 418:
        wait = parse_retry_after(exc.header)
        until = f" for {wait:.0f} s" if wait is not None else ""
        return BinanceBanned(f"Binance has banned this IP{until} (HTTP 418: {exc.error_message})")
    if exc.error_code == _INVALID_SYMBOL:
        return UsageError(f"unknown Binance symbol {params.get('symbol')!r}")
    if exc.error_code == _INVALID_INTERVAL:
        return UsageError(f"Binance does not support interval {params.get('interval')!r}")
    if exc.status_code == 404:
        return BinanceRefused(f"Binance does not serve {method} here (HTTP 404 {exc.error_message})")
    if exc.error_code in _API_KEY_CODES or exc.status_code == 401:
        return BinanceRefused(
            f"Binance refused {method} (HTTP {exc.status_code}); it may need BINANCE_API_KEY "
            f"({exc.error_message})"
        )
    return ExchangeError(
        f"Binance rejected {method}: HTTP {exc.status_code} {exc.error_code} {exc.error_message}"
    )
