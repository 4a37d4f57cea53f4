"""A fake Binance public data archive (data.binance.vision) on loopback: real zips, real CHECKSUM files.

Files live at the archive's paths (`data/spot/{monthly,daily}/{klines,trades}/...`), each served with
`<path>.CHECKSUM` in sha256sum format (`<hex>  <name>`), as S3 serves them: 200 with the bytes, 404
for what is not there. Builders make the CSVs as Binance publishes them: with or without a header row,
timestamps in milliseconds or microseconds. Knobs: `corrupt(path, times)` serves damaged bytes (the
CHECKSUM stays right) for the next `times` downloads; `republish` replaces a file (a re-upload).

Trades are `ArchiveTrade`s; the same objects can be handed to `FakeBinance.trades[symbol]`, whose
`historicalTrades` serves them by id, so archive and REST tell one consistent history.
"""

from __future__ import annotations

import argparse
import bisect
import contextlib
import hashlib
import io
import threading
import time
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from tests.fakes.binance import FakeBinance

TRADES_HEADER = "id,price,qty,quote_qty,time,is_buyer_maker,is_best_match"
KLINES_HEADER = (
    "open_time,open,high,low,close,volume,close_time,quote_volume,count,"
    "taker_buy_volume,taker_buy_quote_volume,ignore"
)
MICROS_FROM = datetime(2025, 1, 1, tzinfo=UTC)
"""Binance spot files use microseconds from 2025-01-01 on."""


def ms(moment: datetime) -> int:
    return int((moment - datetime(1970, 1, 1, tzinfo=UTC)).total_seconds() * 1000)


@dataclass(frozen=True)
class ArchiveTrade:
    """One trade; `micros` adds sub-millisecond digits to its archive time (as 2025+ files have)."""

    id: int
    time: int  # milliseconds, as the stream's `T` and REST's `time`
    price: str
    qty: str
    buyer_maker: bool
    micros: int = 0  # 0..999 extra microseconds, only visible in microsecond files

    def csv(self, in_micros: bool) -> str:
        stamp = self.time * 1000 + self.micros if in_micros else self.time
        quote = f"{float(self.price) * float(self.qty):.8f}"
        return f"{self.id},{self.price},{self.qty},{quote},{stamp},{self.buyer_maker},True"

    def rest(self) -> dict[str, Any]:
        """A `historicalTrades` row (what `FakeBinance` serves from its `trades`)."""
        return {
            "id": self.id, "price": self.price, "qty": self.qty,
            "quoteQty": f"{float(self.price) * float(self.qty):.8f}", "time": self.time,
            "isBuyerMaker": self.buyer_maker, "isBestMatch": True,
        }  # fmt: skip

    def event(self, symbol: str) -> dict[str, Any]:
        return {
            "e": "trade", "E": self.time, "s": symbol, "t": self.id, "p": self.price, "q": self.qty,
            "T": self.time, "m": self.buyer_maker, "M": True,
        }  # fmt: skip


def make_trades(first_id: int, start: datetime, end: datetime, every_ms: int) -> list[ArchiveTrade]:
    """Trades with contiguous ids every `every_ms` in [start, end); several share some milliseconds."""
    trades = []
    t, tid = ms(start), first_id
    while t < ms(end):
        for extra in range(1 + tid % 3):  # 1 to 3 trades in the same millisecond
            price = f"{40000 + tid % 997}.{tid % 100:02d}000000"
            qty = f"0.{(tid % 999) + 1:03d}00000"
            trades.append(ArchiveTrade(tid, t, price, qty, tid % 2 == 0, micros=(tid * 37 + extra) % 1000))
            tid += 1
        t += every_ms
    return trades


def kline_csv(open_ms: int, length_ms: int, in_micros: bool) -> str:
    """One kline row with deterministic values (open, high, low, close consistent)."""
    base = 30000 + open_ms // 60_000 % 5000
    o, c = base, base + open_ms // 1000 % 7
    h, low = max(o, c) + 3, min(o, c) - 2
    scale = 1000 if in_micros else 1
    close = (open_ms + length_ms - 1) * scale + (999 if in_micros else 0)
    trades = 5 + open_ms // 60_000 % 50
    return (
        f"{open_ms * scale},{o}.01000000,{h}.00000000,{low}.50000000,{c}.01000000,{trades}.25000000,"
        f"{close},{trades * o}.00000000,{trades},1.00000000,{o}.00000000,0"
    )


def zip_bytes(member: str, lines: Iterable[str], header: str | None = None) -> bytes:
    body = "\n".join(([header] if header else []) + list(lines)) + "\n"
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(member, body)
    return out.getvalue()


def trades_path(symbol: str, day: date, monthly: bool) -> str:
    label = f"{day:%Y-%m}" if monthly else f"{day:%Y-%m-%d}"
    period = "monthly" if monthly else "daily"
    return f"data/spot/{period}/trades/{symbol}/{symbol}-trades-{label}.zip"


def klines_path(symbol: str, interval: str, day: date, monthly: bool) -> str:
    name = "1mo" if interval == "1M" else interval
    label = f"{day:%Y-%m}" if monthly else f"{day:%Y-%m-%d}"
    period = "monthly" if monthly else "daily"
    return f"data/spot/{period}/klines/{symbol}/{name}/{symbol}-{name}-{label}.zip"


class FakeArchive:
    """The archive's files on a local HTTP server; `base_url` is what `BINANCE_ARCHIVE_URL` takes."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.checksums: dict[str, str] = {}
        self.damaged: dict[str, int] = {}
        self.requests: list[str] = []
        self.throttle = 0.0
        self.latency = 0.0
        """Seconds before every answer (a network round trip), for benchmarks."""
        """Seconds to pause after every 64 KiB sent: a slow network, to interrupt a download."""
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.server.daemon_threads = True
        self._thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> FakeArchive:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=5)

    # --- publishing ------------------------------------------------------------------------------

    def publish(self, path: str, content: bytes, checksum: str | None = None) -> None:
        """Serve `content` at `path` with its CHECKSUM (or a given, possibly wrong, digest)."""
        with self.lock:
            self.files[path] = content
            self.checksums[path] = checksum or hashlib.sha256(content).hexdigest()

    republish = publish

    def remove(self, path: str) -> None:
        with self.lock:
            self.files.pop(path, None)
            self.checksums.pop(path, None)

    def corrupt(self, path: str, times: int = 1_000_000) -> None:
        """Serve damaged bytes for the next `times` downloads of `path` (its CHECKSUM stays right)."""
        with self.lock:
            self.damaged[path] = times

    def publish_trades(
        self,
        symbol: str,
        trades: list[ArchiveTrade],
        day: date,
        monthly: bool = False,
        header: bool = False,
        micros: bool | None = None,
    ) -> str:
        """A trades zip of `trades` (microsecond times by default from 2025 on, as Binance does)."""
        in_micros = (
            micros
            if micros is not None
            else datetime(day.year, day.month, day.day, tzinfo=UTC) >= MICROS_FROM
        )
        path = trades_path(symbol, day, monthly)
        member = path.rsplit("/", 1)[-1].replace(".zip", ".csv")
        self.publish(
            path, zip_bytes(member, (t.csv(in_micros) for t in trades), TRADES_HEADER if header else None)
        )
        return path

    def publish_klines(
        self,
        symbol: str,
        interval: str,
        opens_ms: list[int],
        length_ms: int,
        day: date,
        monthly: bool = False,
        header: bool = False,
        micros: bool | None = None,
    ) -> str:
        in_micros = (
            micros
            if micros is not None
            else datetime(day.year, day.month, day.day, tzinfo=UTC) >= MICROS_FROM
        )
        path = klines_path(symbol, interval, day, monthly)
        member = path.rsplit("/", 1)[-1].replace(".zip", ".csv")
        lines = (kline_csv(t, length_ms, in_micros) for t in opens_ms)
        self.publish(path, zip_bytes(member, lines, KLINES_HEADER if header else None))
        return path

    def count(self, suffix: str = ".zip") -> int:
        """Requests whose path ends with `suffix` (`.zip`: downloads; `.CHECKSUM`: checksum fetches)."""
        with self.lock:
            return sum(1 for path in self.requests if path.endswith(suffix))

    # --- serving ---------------------------------------------------------------------------------

    def answer(self, path: str) -> tuple[int, bytes]:
        with self.lock:
            self.requests.append(path)
            if path.endswith(".CHECKSUM"):
                target = path[: -len(".CHECKSUM")]
                if target not in self.checksums:
                    return 404, _not_found(path)
                name = target.rsplit("/", 1)[-1]
                return 200, f"{self.checksums[target]}  {name}\n".encode()
            if path not in self.files:
                return 404, _not_found(path)
            content = self.files[path]
            if self.damaged.get(path, 0) > 0:
                self.damaged[path] -= 1
                middle = len(content) // 2
                content = content[:middle] + bytes([content[middle] ^ 0xFF]) + content[middle + 1 :]
            return 200, content


def _not_found(path: str) -> bytes:
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>NoSuchKey</Code>'
        f"<Message>The specified key does not exist.</Message><Key>{path}</Key></Error>"
    ).encode()


def _handler(archive: FakeArchive) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body are separate writes: no delayed-ACK stalls

        def log_message(self, format: str, *args: Any) -> None:
            return None

        def do_GET(self) -> None:
            if archive.latency:
                time.sleep(archive.latency)
            status, body = archive.answer(self.path.lstrip("/"))
            self.send_response(status)
            self.send_header("Content-Type", "application/zip" if status == 200 else "application/xml")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            try:
                for offset in range(0, len(body), 65_536):
                    self.wfile.write(body[offset : offset + 65_536])
                    if archive.throttle:
                        time.sleep(archive.throttle)
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True

    return Handler


class ArchiveBackedBinance(FakeBinance):
    """`FakeBinance` whose `historicalTrades` looks trades up by id, so its history may have holes
    (ids Binance never published), as the real venue's does; `latency` delays every REST answer."""

    latency = 0.0

    def route(self, path: str, params: dict[str, str], api_key: str | None = None) -> tuple[int, Any]:
        if self.latency:
            time.sleep(self.latency)
        return super().route(path, params, api_key)

    def historical_trades(self, params: dict[str, str]) -> tuple[int, Any]:
        symbol = params.get("symbol", "")
        if symbol not in self.symbols or "fromId" not in params:
            return super().historical_trades(params)
        limit = int(params.get("limit", 500))
        if not 1 <= limit <= 1000:
            return super().historical_trades(params)
        with self.lock:
            book = list(self.trades[symbol])
        first = bisect.bisect_left([t.id for t in book], int(params["fromId"]))
        return 200, [trade.rest() for trade in book[first : first + limit]]


def main() -> None:
    """Serve a directory as the archive and a fake exchange, each on its port (for bench/archive.py)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--directory", required=True, help="files below it are served at their relative path")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds before every answer, on both")
    parser.add_argument(
        "--weight-limit", type=int, default=6000, help="REST weight per minute (Binance: 6000)"
    )
    args = parser.parse_args()
    archive = FakeArchive()
    root = Path(args.directory)
    for file in root.rglob("*.zip"):
        archive.publish(str(file.relative_to(root)), file.read_bytes())
    archive.latency = args.latency
    listed = datetime(2017, 8, 17, tzinfo=UTC)
    exchange = ArchiveBackedBinance(symbols={"BTCUSDT": listed}, weight_limit=args.weight_limit)
    exchange.latency = args.latency
    with archive, exchange:
        print(f"{archive.base_url} {exchange.base_url}", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()


if __name__ == "__main__":
    main()
