"""`mdtool run` as a real process: SIGHUP reloads (and refuses bad files), SIGTERM flushes and exits 0,
two processes with complementary shards split one market with nothing lost, and the real Prometheus
server scrapes it."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import urllib.parse
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from mdtool.selection import shard_bucket
from tests.fakes.binance import FakeBinance
from tests.pg_cluster import free_port
from tests.service.helpers import (
    ServiceProcess,
    listed_hours_ago,
    metric_value,
    process_environment,
    scalar,
    ticks_of,
)
from tests.waiting import wait_for

SYMBOLS = ("BTCUSDT", "ETHUSDT", "BNBUSDT", "SOLUSDT", "XRPUSDT", "ADAUSDT")


@pytest.fixture
def fake() -> Iterator[FakeBinance]:
    with FakeBinance(symbols=listed_hours_ago(2, *SYMBOLS)) as exchange:
        yield exchange


def stream_config(symbols: str, port: int, extra: str = "") -> str:
    return f'[[stream]]\nvenue = "binance"\n{symbols}\n\n[metrics]\nlisten = "127.0.0.1:{port}"\n{extra}'


def test_sighup_applies_changes_refuses_bad_files_and_sigterm_flushes(
    fake: FakeBinance, pg_url: str, tmp_path: Path
) -> None:
    port = free_port()
    path = tmp_path / "mdtool.toml"
    path.write_text(stream_config('symbols = ["BTCUSDT"]', port))
    service = ServiceProcess(path, process_environment(fake, pg_url), port)
    try:
        service.wait_ready()
        wait_for(lambda: fake.subscribed("btcusdt@trade"), what="the subscription")

        path.write_text(stream_config('symbols = ["BTCUSDT"]\nshard = "five"', port))
        service.signal(signal.SIGHUP)
        wait_for(lambda: "reload refused" in service.log(), what="the refusal line")
        assert "stream[1].shard" in service.log()
        fake.emit("BTCUSDT", 5)
        wait_for(lambda: ticks_of(pg_url, "BTCUSDT") == 5, what="the running config still streaming")

        path.write_text(stream_config('symbols = ["BTCUSDT", "ETHUSDT"]', port))
        service.signal(signal.SIGHUP)
        wait_for(lambda: fake.subscribed("ethusdt@trade"), what="the added symbol")
        assert "reloaded" in service.log()

        fake.emit("BTCUSDT", 20)
        fake.emit("ETHUSDT", 30)
        wait_for(
            lambda: (
                metric_value(service.metrics(), "mdtool_trades_received_total", mdtool_job="binance") == 55
            ),
            what="every trade received",
        )
    finally:
        code = service.stop()
    assert code == 0, service.log()
    assert ticks_of(pg_url, "BTCUSDT") == 25, "SIGTERM flushed what was buffered"
    assert ticks_of(pg_url, "ETHUSDT") == 30
    assert "Traceback" not in service.log()


def test_two_processes_with_complementary_shards_store_the_whole_market_once(
    fake: FakeBinance, pg_url: str, tmp_path: Path
) -> None:
    buckets = {shard_bucket(symbol, 2) for symbol in SYMBOLS}
    assert buckets == {0, 1}, "the test symbols must fall in both shards"
    since = datetime.fromtimestamp(min(fake.symbols.values()) / 1000, UTC).isoformat()
    backfill = (
        f'\n[[backfill]]\nvenue = "binance"\nsymbols = ["BTCUSDT"]\nintervals = ["1m"]\n'
        f'since = "{since}"\nevery = "1h"\njitter = 0\n'
    )
    services = []
    for index in (1, 2):
        port = free_port()
        path = tmp_path / f"host{index}.toml"
        selection = f'quote = "USDT"\nshard = "{index}/2"'
        path.write_text(stream_config(selection, port) + backfill)
        services.append(ServiceProcess(path, process_environment(fake, pg_url), port))
    try:
        for service in services:
            service.wait_ready()
        streams = [f"{symbol.lower()}@trade" for symbol in SYMBOLS]
        wait_for(lambda: all(fake.subscribed(stream) for stream in streams), what="every symbol subscribed")
        for symbol in SYMBOLS:
            fake.emit(symbol, 10)
        wait_for(lambda: scalar(pg_url, "SELECT count(*) FROM market_data_ticks") == 60, what="60 trades")
        counts = [metric_value(s.metrics(), "mdtool_stream_symbols", mdtool_job="binance") for s in services]
        assert sorted(counts) == sorted(
            [float(sum(shard_bucket(s, 2) == b for s in SYMBOLS)) for b in (0, 1)]
        )
        wait_for(
            lambda: all(
                metric_value(s.metrics(), "mdtool_backfill_runs_total", outcome="ok") == 1
                or metric_value(s.metrics(), "mdtool_backfill_runs_total", outcome="busy") == 1
                for s in services
            ),
            what="both hosts' backfill cycle",
        )
    finally:
        codes = [service.stop() for service in services]
    assert codes == [0, 0]
    for symbol in SYMBOLS:
        assert ticks_of(pg_url, symbol) == 10
    pages = [  # the archive path's one-bar probe (limit=1) aside; a range split at midnight is two pages
        params["startTime"]
        for _, path, params, _ in fake.requests
        if path == "/api/v3/klines" and params.get("limit") != "1"
    ]
    assert pages and len(pages) == len(set(pages)), "the second host did not fetch the same bars again"
    bars = scalar(pg_url, "SELECT count(*) FROM market_data_ohlcv WHERE symbol = 'BTCUSDT'")
    assert bars >= 120


@pytest.mark.skipif(
    shutil.which("prometheus") is None,
    reason="the Prometheus server is not installed (scripts/install-prometheus.sh installs Debian's package)",
)
def test_the_real_prometheus_server_scrapes_mdtool_run(
    fake: FakeBinance, pg_url: str, tmp_path: Path
) -> None:
    port, prometheus_port = free_port(), free_port()
    path = tmp_path / "mdtool.toml"
    path.write_text(stream_config('symbols = ["BTCUSDT"]', port))
    (tmp_path / "prometheus.yml").write_text(
        "global:\n  scrape_interval: 1s\n"
        f"scrape_configs:\n  - job_name: mdtool\n    static_configs:\n      - targets: ['127.0.0.1:{port}']\n"
    )
    service = ServiceProcess(path, process_environment(fake, pg_url), port)
    prometheus = subprocess.Popen(
        [
            "prometheus",
            f"--config.file={tmp_path / 'prometheus.yml'}",
            f"--storage.tsdb.path={tmp_path / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{prometheus_port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=(tmp_path / "prometheus.log").open("w"),
    )
    try:
        service.wait_ready()
        wait_for(lambda: fake.subscribed("btcusdt@trade"), what="the subscription")
        fake.emit("BTCUSDT", 12)

        def query(expression: str) -> list[dict[str, object]]:
            url = f"http://127.0.0.1:{prometheus_port}/api/v1/query?" + urllib.parse.urlencode(
                {"query": expression}
            )
            try:
                with urllib.request.urlopen(url, timeout=5) as answer:
                    result: list[dict[str, object]] = json.load(answer)["data"]["result"]
            except OSError:
                return []
            return result

        def scraped() -> bool:
            found = query('mdtool_trades_received_total{job="mdtool", mdtool_job="binance", venue="binance"}')
            return bool(found) and found[0]["value"][1] == "12"  # type: ignore[index]

        wait_for(scraped, timeout=60, what="Prometheus to scrape 12 received trades")
        assert query('up{job="mdtool"} == 1')
        assert query("mdtool_commit_lag_seconds_bucket")
        assert query("mdtool_writer_queue_depth")
    finally:
        prometheus.terminate()
        prometheus.wait(30)
        assert service.stop() == 0
