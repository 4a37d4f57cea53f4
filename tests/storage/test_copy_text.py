"""`bars_copy_text` stores in PostgreSQL exactly what psycopg's own row formatting stores."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import psycopg
import pytest

from mdtool.records import Bar
from mdtool.storage.copy_text import bars_copy_text
from mdtool.storage.schema import BAR_KEY, BAR_VALUES, OHLCV_TABLE

COLUMNS = ", ".join(f'"{c}"' for c in BAR_KEY + BAR_VALUES)
T0 = datetime(2025, 1, 1, tzinfo=UTC)


def bar(moment: datetime, symbol: str = "BTCUSDT", quote: Any = "525000.1", trades: Any = 17) -> Bar:
    return Bar(
        "binance", symbol, "1m", moment, "42000.01", "42010", "41990", "42000.5", "1E-8", quote, trades
    )


def stored(url: str, bars: Sequence[Bar], text: str | None) -> list[tuple[Any, ...]]:
    """The rows COPY stores from `text` (or from psycopg's `write_row` when None), read back."""
    with psycopg.connect(url.replace("postgresql+psycopg", "postgresql")) as conn:
        conn.execute(f'DELETE FROM "{OHLCV_TABLE}"')
        with conn.cursor().copy(f'COPY "{OHLCV_TABLE}" ({COLUMNS}) FROM STDIN') as copy:
            if text is None:
                for b in bars:
                    copy.write_row([getattr(b, c) for c in BAR_KEY + BAR_VALUES])
            else:
                copy.write(text)
        rows = conn.execute(f'SELECT {COLUMNS} FROM "{OHLCV_TABLE}" ORDER BY symbol, timestamp').fetchall()
        return [tuple(str(v) if isinstance(v, Decimal) else v for v in row) for row in rows]


BATCHES = {
    "one series, whole seconds": [bar(T0 + timedelta(minutes=i)) for i in range(3000)],
    "microseconds": [bar(T0 + timedelta(seconds=i, microseconds=7 * i)) for i in range(5)],
    "before 1970 and early years": [
        bar(datetime(1969, 12, 31, 23, 59, tzinfo=UTC)),
        bar(datetime(999, 3, 1, 12, 30, 15, tzinfo=UTC)),
        bar(datetime(1970, 1, 1, tzinfo=UTC)),
    ],
    "a zone other than UTC": [
        bar(datetime(2025, 1, 1, 5, 30, tzinfo=timezone(timedelta(hours=5, minutes=30))))
    ],
    "no quote volume or trade count": [bar(T0, quote=None), bar(T0 + timedelta(minutes=1), trades=None)],
    "two series": [bar(T0), bar(T0, symbol="ETHUSDT")],
    "a percent sign in a name": [
        bar(T0, symbol="BTC%sUSDT"),
        bar(T0 + timedelta(minutes=1), symbol="BTC%sUSDT"),
    ],
    "one bar": [bar(T0 + timedelta(hours=23, minutes=59, seconds=59))],
    "evenly spaced across 1970's midnight": [
        bar(datetime(1969, 12, 31, 23, 58, tzinfo=UTC) + timedelta(minutes=i)) for i in range(5)
    ],
    "weekly, gaps longer than a day": [bar(T0 + timedelta(weeks=i)) for i in range(60)],
    "uneven gaps": [bar(T0), bar(T0 + timedelta(minutes=1)), bar(T0 + timedelta(minutes=3))],
    "descending": [bar(T0 + timedelta(minutes=2 - i)) for i in range(3)],
    "one value missing mid-batch": [
        bar(T0 + timedelta(minutes=i), quote=None if i == 50 else "1.5") for i in range(100)
    ],
    "a symbol named None": [bar(T0 + timedelta(minutes=i), symbol="None") for i in range(3)],
}


@pytest.mark.parametrize("name", list(BATCHES))
def test_copy_text_stores_what_psycopg_stores(pg_url: str, name: str) -> None:
    bars = BATCHES[name]
    text = bars_copy_text(bars)
    assert text is not None
    assert stored(pg_url, bars, text) == stored(pg_url, bars, None)


@pytest.mark.parametrize("symbol", ["BTC\tUSDT", "BTC\\USDT", "BTC\nUSDT"])
def test_names_that_need_escaping_are_left_to_psycopg(symbol: str) -> None:
    assert bars_copy_text([bar(T0, symbol=symbol)]) is None
