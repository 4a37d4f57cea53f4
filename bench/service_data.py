"""Generate a large market-data set with SQL `generate_series` (for `bench/service.py status`).

Ticks: `symbols` Binance trade series with sequential ids over `days` days; bars: 1m bars per symbol.
One hole is left in each tick series (ids missing) and each bar series (minutes missing), so `status`
has something to find. Runs in the database, so 25M rows take a minute or two, not an hour.
"""

from __future__ import annotations

import psycopg

T0 = "2025-01-01 00:00:00+00"


def generate(url: str, ticks: int, bars: int, symbols: int = 20, bar_symbols: int = 10) -> None:
    per_symbol = ticks // symbols
    per_bar_symbol = bars // bar_symbols
    with psycopg.connect(url.replace("postgresql+psycopg", "postgresql"), autocommit=True) as conn:
        for index in range(symbols):
            conn.execute(
                """
                INSERT INTO market_data_ticks (exchange, symbol, timestamp, source, trade_id, price, size, side)
                SELECT 'binance', %(symbol)s,
                       %(t0)s::timestamptz + (i * interval '2500 millisecond'), 'trade', i::text,
                       42000.01 + (i %% 100), 0.001, CASE WHEN i %% 2 = 0 THEN 'buy' ELSE 'sell' END
                FROM generate_series(1, %(n)s) AS i
                WHERE i NOT BETWEEN 1000 AND 1099
                """,
                {"symbol": f"SYM{index:03d}USDT", "t0": T0, "n": per_symbol},
            )
        for index in range(bar_symbols):
            conn.execute(
                """
                INSERT INTO market_data_ohlcv (exchange, symbol, interval, timestamp, open, high, low, close, volume)
                SELECT 'binance', %(symbol)s, '1m', %(t0)s::timestamptz + (i * interval '1 minute'),
                       100.5, 101.25, 99.75, 100.125, 12.5
                FROM generate_series(0, %(n)s - 1) AS i
                WHERE i NOT BETWEEN 500 AND 509
                """,
                {"symbol": f"SYM{index:03d}USDT", "t0": T0, "n": per_bar_symbol},
            )
        conn.execute("VACUUM ANALYZE market_data_ticks")
        conn.execute("VACUUM ANALYZE market_data_ohlcv")
