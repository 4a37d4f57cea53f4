"""Serve the fake standalone: `python -m tests.fakes.binance --port 8765` (used by the benchmarks)."""

from __future__ import annotations

import argparse
import threading
from datetime import UTC, datetime

from tests.fakes.binance import FakeBinance


def main() -> None:
    """Serve the fake standalone (used by bench/binance.py in a separate process)."""
    parser = argparse.ArgumentParser(description="A fake Binance spot exchange on loopback.")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--weight-limit", type=int, default=10**9)
    parser.add_argument("--trade-rate", type=float, default=0.0, help="trades per second per symbol")
    parser.add_argument("--symbols", default="BTCUSDT")
    parser.add_argument("--symbol-count", type=int, default=0, help="serve N made-up USDT symbols instead")
    parser.add_argument("--no-history", action="store_true", help="keep no trade book (long benchmarks)")
    args = parser.parse_args()
    listed = datetime(2017, 8, 17, tzinfo=UTC)
    names = [f"S{i:04d}USDT" for i in range(args.symbol_count)] or args.symbols.split(",")
    fake = FakeBinance(
        symbols=dict.fromkeys(names, listed),
        keep_history=not args.no_history,
        weight_limit=args.weight_limit,
        trade_rate=args.trade_rate,
        port=args.port,
    ).start()
    print(f"fake binance on {fake.base_url}", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        fake.stop()


if __name__ == "__main__":
    main()
