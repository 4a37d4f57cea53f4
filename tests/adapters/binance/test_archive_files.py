"""Archive downloads (checksums, re-fetch, 404, cleanup) and the CSVs inside (header, units)."""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from mdtool.adapters.binance.archive_csv import (
    epoch_micros,
    epoch_millis,
    is_header,
    read_klines,
    read_trades,
)
from mdtool.adapters.binance.archive_fetch import ArchiveClient, ArchiveError
from mdtool.adapters.binance.archive_layout import DAILY, MONTHLY, TRADES, file_for
from mdtool.adapters.binance.parse import parse_trade_event
from mdtool.errors import ExchangeError
from tests.fakes.binance_archive import FakeArchive, make_trades, ms, zip_bytes

DAY = date(2024, 3, 5)
T0 = datetime(2024, 3, 5, tzinfo=UTC)


@pytest.fixture
def archive() -> Iterator[FakeArchive]:
    with FakeArchive() as fake:
        yield fake


@pytest.fixture
def client(archive: FakeArchive) -> Iterator[ArchiveClient]:
    with ArchiveClient(archive.base_url, workers=3, backoff=0.01) as made:
        yield made


def test_a_verified_file_is_downloaded_to_a_temporary_file(
    archive: FakeArchive, client: ArchiveClient
) -> None:
    trades = make_trades(1, T0, T0 + timedelta(minutes=1), 1000)
    archive.publish_trades("BTCUSDT", trades, DAY)
    got = client.fetch(file_for(TRADES, "BTCUSDT", DAILY, DAY))
    assert got.path is not None and got.path.exists()
    assert got.size == got.path.stat().st_size and len(got.sha256) == 64
    assert client.downloads == 1 and client.bytes == got.size


def test_a_missing_file_is_reported_not_raised(archive: FakeArchive, client: ArchiveClient) -> None:
    got = client.fetch(file_for(TRADES, "BTCUSDT", MONTHLY, DAY))
    assert got.path is None
    assert archive.count(".CHECKSUM") == 1 and archive.count(".zip") == 0


def test_a_damaged_download_is_fetched_once_more(archive: FakeArchive, client: ArchiveClient) -> None:
    path = archive.publish_trades("BTCUSDT", make_trades(1, T0, T0 + timedelta(seconds=5), 100), DAY)
    archive.corrupt(path, times=1)
    got = client.fetch(file_for(TRADES, "BTCUSDT", DAILY, DAY))
    assert got.path is not None
    assert archive.count(".zip") == 2


def test_a_file_that_never_matches_its_checksum_fails_naming_it(
    archive: FakeArchive, client: ArchiveClient
) -> None:
    path = archive.publish_trades("BTCUSDT", make_trades(1, T0, T0 + timedelta(seconds=5), 100), DAY)
    archive.corrupt(path)
    with pytest.raises(ArchiveError, match=r"BTCUSDT-trades-2024-03-05\.zip"):
        client.fetch(file_for(TRADES, "BTCUSDT", DAILY, DAY))
    assert archive.count(".zip") == 2
    assert not any(client._dir.iterdir()), "nothing from the bad file is left behind"


def test_fetch_all_keeps_order_and_deletes_files_after_use(
    archive: FakeArchive, client: ArchiveClient
) -> None:
    days = [DAY + timedelta(days=i) for i in range(6)]
    for i, day in enumerate(days):
        if i != 2:
            start = datetime(day.year, day.month, day.day, tzinfo=UTC)
            archive.publish_trades(
                "BTCUSDT", make_trades(1 + 100 * i, start, start + timedelta(seconds=3), 1000), day
            )
    files = [file_for(TRADES, "BTCUSDT", DAILY, day) for day in days]
    seen = []
    for got in client.fetch_all(files):
        seen.append((got.file.label, got.path is not None))
        assert len(list(client._dir.iterdir())) <= client.workers + 1
    assert seen == [(f"{d:%Y-%m-%d}", i != 2) for i, d in enumerate(days)]
    assert not any(client._dir.iterdir())


def test_close_removes_the_temporary_directory(archive: FakeArchive) -> None:
    archive.publish_trades("BTCUSDT", make_trades(1, T0, T0 + timedelta(seconds=3), 1000), DAY)
    client = ArchiveClient(archive.base_url)
    files = iter(client.fetch_all([file_for(TRADES, "BTCUSDT", DAILY, DAY)]))
    got = next(files)
    assert got.path is not None and got.path.exists()
    client.close()
    assert not client._dir.exists()


def test_timestamps_in_either_unit() -> None:
    assert epoch_micros(1_704_067_200_123) == 1_704_067_200_123_000
    assert epoch_micros(1_735_689_600_123_456) == 1_735_689_600_123_456
    assert epoch_millis(1_735_689_600_123_456) == 1_735_689_600_123
    assert epoch_millis(1_704_067_200_123) == 1_704_067_200_123


def test_header_detection() -> None:
    assert is_header(b"id,price,qty,quote_qty,time,is_buyer_maker,is_best_match\n")
    assert is_header(b"\xef\xbb\xbfopen_time,open\n")
    assert not is_header(b"12345,42000.01,0.1,4200.001,1704067200000,True,True\n")


def write(tmp_path: Path, name: str, content: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(content)
    return path


@pytest.mark.parametrize(("header", "micros"), [(False, False), (True, False), (False, True), (True, True)])
def test_trades_are_the_rows_the_live_stream_writes(tmp_path: Path, header: bool, micros: bool) -> None:
    trades = make_trades(7, T0, T0 + timedelta(seconds=2), 50)
    lines = [t.csv(micros) for t in trades]
    path = write(tmp_path, "x.zip", zip_bytes("x.csv", lines, "id,price" if header else None))
    ticks = [tick for page in read_trades(path, "x.zip", "BTCUSDT") for tick in page]
    assert ticks == [parse_trade_event(t.event("BTCUSDT")) for t in trades]
    assert ticks[0].price == Decimal(trades[0].price) and ticks[0].trade_id == "7"


def test_klines_in_microseconds_land_on_the_grid(tmp_path: Path) -> None:
    from tests.fakes.binance_archive import kline_csv

    opens = [ms(T0) + i * 60_000 for i in range(3)]
    for micros in (False, True):
        path = write(tmp_path, "k.zip", zip_bytes("k.csv", [kline_csv(t, 60_000, micros) for t in opens]))
        bars = [bar for page in read_klines(path, "k.zip", "BTCUSDT", "1m") for bar in page]
        assert [b.timestamp for b in bars] == [T0 + timedelta(minutes=i) for i in range(3)]
        assert bars[0].trade_count is not None and bars[0].quote_volume is not None


def test_malformed_rows_and_files_are_one_line_errors(tmp_path: Path) -> None:
    bad = write(tmp_path, "bad.zip", zip_bytes("bad.csv", ["1,42000.0,0.1,1,1704067200000,maybe,True"]))
    with pytest.raises(ExchangeError, match=r"bad.zip: malformed trade row"):
        list(read_trades(bad, "bad.zip", "BTCUSDT"))
    junk = write(tmp_path, "junk.zip", b"not a zip at all")
    with pytest.raises(ExchangeError, match="not a valid zip"):
        list(read_trades(junk, "junk.zip", "BTCUSDT"))
    two = tmp_path / "two.zip"
    with zipfile.ZipFile(two, "w") as z:
        z.writestr("a.csv", "1\n")
        z.writestr("b.csv", "2\n")
    with pytest.raises(ExchangeError, match="2 CSV files"):
        list(read_trades(two, "two.zip", "BTCUSDT"))
