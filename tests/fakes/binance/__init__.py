"""A fake Binance spot exchange on loopback: the documented REST API and WebSocket streams.

It speaks the wire protocol binance-connector expects (JSON bodies, `{"code", "msg"}` errors,
`X-MBX-USED-WEIGHT-<n><letter>` headers, `Retry-After` on 429/418, RFC 6455 frames with combined-stream
envelopes and server pings), so tests drive the real client library rather than a mock.

Market data is generated deterministically: klines from the symbol's listing time up to the bar that is
open *now* (Binance includes the in-progress bar), trades with contiguous ids produced on demand
(`emit`) or at a steady rate (`trade_rate`). Knobs for misbehaviour: a request-weight limit on a
configurable window, injected failures (429 with Retry-After, 5xx, connection resets), dropped or
silent sockets and a maximum connection age (Binance's 24-hour disconnect, shortened). Knobs for what
the documentation leaves open, so the adapter is not fitted to one server: streams named only in the URL
or only with SUBSCRIBE, which WebSocket paths exist, the weight header's spelling (or none),
historicalTrades behind an API key, and the exchange's clock (or a `serverTime` that is not a clock).

A request that arrives while a 429's Retry-After is running earns a 418 ban, as on Binance; tests assert
`fake.violations == 0`. Run it standalone with
`python -m tests.fakes.binance --port 8765`.

Modules by concern: `clock` (time, kline grid), `market` (prices, klines, trades), `rest` (weight,
injections, endpoints), `websocket` (frames, streams, SUBSCRIBE, pings), `http` (the one port both
share), `exchange` (`FakeBinance`: state, knobs, lifecycle).
"""

from tests.fakes.binance.clock import floor_open_ms, ms, next_open_ms, now_ms, prev_open_ms
from tests.fakes.binance.exchange import FakeBinance
from tests.fakes.binance.market import Trade, fmt, kline_json, kline_row, price_at

__all__ = [
    "FakeBinance",
    "Trade",
    "floor_open_ms",
    "fmt",
    "kline_json",
    "kline_row",
    "ms",
    "next_open_ms",
    "now_ms",
    "prev_open_ms",
    "price_at",
]
