"""The `mdtool run` file: what is accepted, and one precise line for each kind of mistake."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from mdtool.errors import ConfigError
from mdtool.selection import Shard
from mdtool.service.config import load_config
from mdtool.service.locate import KeyLocator

FULL = """
[[stream]]
venue = "binance"
quote = "USDT"
patterns = ["BTC*"]
shard = "2/3"

[[stream]]
name = "stocks"
venue = "ibkr"
symbols = ["aapl", "MSFT"]
bid_ask = true

[[backfill]]
venue = "binance"
symbols = ["BTCUSDT", "ETHUSDT"]
intervals = ["1m", "1h"]
since = 2024-01-01
every = "5m"

[[backfill]]
name = "daily"
venue = "ibkr"
symbols = ["AAPL"]
intervals = ["1d"]
since = "2024-01-01T12:00:00+02:00"
every = "1h"
jitter = 0.2
rth = false

[dtc]
listen = "127.0.0.1:11099"

[metrics]
listen = "127.0.0.1:9999"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "mdtool.toml"
    path.write_text(text)
    return path


def test_a_full_file_becomes_frozen_jobs(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, FULL))
    binance, stocks = config.streams
    assert binance.name == "binance"
    assert binance.selection.quote == "USDT"
    assert binance.selection.patterns == ("BTC*",)
    assert binance.selection.shard == Shard(2, 3)
    assert stocks.selection.symbols == ("AAPL", "MSFT")
    assert stocks.bid_ask
    first, daily = config.backfills
    assert first.name == "binance:BTCUSDT,ETHUSDT:1m,1h"
    assert first.intervals == ("1m", "1h")
    assert first.since == datetime(2024, 1, 1, tzinfo=UTC)
    assert first.every == 300.0
    assert daily.since == datetime(2024, 1, 1, 10, tzinfo=UTC)
    assert daily.jitter == 0.2
    assert not daily.contract.use_rth
    assert config.dtc is not None and config.dtc.port == 11099
    assert config.metrics is not None and (config.metrics.host, config.metrics.port) == ("127.0.0.1", 9999)
    assert config.webhook is None


def test_a_default_job_name_stays_short_with_many_symbols(tmp_path: Path) -> None:
    symbols = [f"S{i:04d}USDT" for i in range(2000)]
    text = f'[[backfill]]\nvenue = "binance"\nsymbols = {symbols}\nintervals = ["1m"]\nsince = 2024-01-01\n'
    (job,) = load_config(write(tmp_path, text.replace("'", '"'))).backfills
    assert job.name == "binance:S0000USDT+1999:1m"


def test_metrics_listen_defaults(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, '[[stream]]\nvenue = "binance"\nsymbols = ["BTCUSDT"]\n'))
    assert config.metrics is not None and config.metrics.port == 9464


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            '[[stream]]\nvenue = "kraken"\nsymbols = ["X"]\n',
            ":2: stream[1].venue: must be one of binance, ibkr",
        ),
        ('[[stream]]\nvenue = "binance"\n', ":1: stream[1].symbols: name at least one symbol"),
        ('[[stream]]\nvenue = "binance"\nsymbols = ["X"]\nshard = "0/2"\n', ":4: stream[1].shard:"),
        ('[[stream]]\nvenue = "binance"\nsymbls = ["X"]\n', ":3: stream[1].symbls: unknown key"),
        ('[[stream]]\nvenue = "ibkr"\nall = true\n', "stream[1].symbols: ibkr streams need explicit symbols"),
        (
            '[[stream]]\nvenue = "binance"\nsymbols = ["X"]\n\n[[stream]]\nvenue = "binance"\nsymbols = ["Y"]\n',
            "stream[2].name: two [[stream]] jobs are both named 'binance'",
        ),
        (
            '[[backfill]]\nvenue = "binance"\nsymbols = ["X"]\nintervals = ["7m"]\nsince = "2024-01-01"\n',
            ":4: backfill[1].intervals: unknown interval '7m'",
        ),
        (
            '[[backfill]]\nvenue = "binance"\nsymbols = ["X"]\nintervals = ["1m"]\n',
            ":1: backfill[1].since: required",
        ),
        (
            '[[backfill]]\nvenue = "binance"\nsymbols = ["X"]\nintervals = ["1m"]\nsince = "yesterday"\n',
            ":5: backfill[1].since: since: 'yesterday' is not an ISO-8601 date",
        ),
        (
            '[[backfill]]\nvenue = "binance"\nsymbols = ["X"]\nintervals = ["1m"]\nsince = 2024-01-01\nevery = "often"\n',
            ":6: backfill[1].every: 'often' is not a duration",
        ),
        (
            '[[backfill]]\nvenue = "binance"\nsymbols = ["X"]\nintervals = ["1m"]\nsince = 2024-01-01\njitter = 0.9\n',
            ":6: backfill[1].jitter: must be between 0 and 0.5",
        ),
        ('[metrics]\nlisten = "nowhere"\n', ":2: metrics.listen: listen must be HOST:PORT"),
        ('[dtc]\nusername = "u"\n', "dtc.password: username and password go together"),
        ("[cron]\nx = 1\n", ":1: cron: unknown section"),
        ("", "nothing to run"),
        ('[[stream]]\nvenue = "binance"\nsymbols = [\n', "not valid TOML"),
    ],
)
def test_each_mistake_is_one_line_with_file_line_and_key(tmp_path: Path, text: str, expected: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as raised:
        load_config(path)
    message = str(raised.value)
    assert "\n" not in message
    assert message.startswith(str(path))
    assert expected in message


def test_an_unreadable_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"missing\.toml: cannot read"):
        load_config(tmp_path / "missing.toml")


def test_locator_finds_the_nth_table_and_its_key() -> None:
    locator = KeyLocator("[[a]]\nx = 1\n\n[[a]]\ny = 2\nx = 3\n[b]\nx = 4\n")
    assert locator.line("a", 1, "x") == 6
    assert locator.line("a", 0, "x") == 2
    assert locator.line("a", 1, "z") == 4
    assert locator.line("b", None, "x") == 8
    assert locator.line("c", None, None) is None


def test_the_package_surface() -> None:
    import mdtool.service

    assert sorted(mdtool.service.__all__) == [
        "MetricsServer", "Service", "ServiceCollector", "ServiceConfig", "Supervisor", "check_config",
        "load_config", "run_service",
    ]  # fmt: skip
    assert all(hasattr(mdtool.service, name) for name in mdtool.service.__all__)
