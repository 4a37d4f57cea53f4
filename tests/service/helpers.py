"""Shared helpers of the service tests: settings pointed at the fake exchange, polls with deadlines."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import create_engine, text

from mdtool.config import Settings, load_settings
from tests.fakes.binance import FakeBinance
from tests.waiting import wait_for


def listed_hours_ago(hours: int, *names: str) -> dict[str, datetime]:
    """Symbols listed `hours` ago (on the hour), so a 1m backfill of them is a few hundred bars."""
    listed = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=hours)
    return dict.fromkeys(names, listed)


def environment(fake: FakeBinance, db_url: str) -> dict[str, str]:
    return {
        "MARKET_DATA_DATABASE_URL": db_url,
        "BINANCE_BASE_URL": fake.base_url,
        "BINANCE_STREAM_URL": fake.stream_url,
        "BINANCE_ARCHIVE_URL": fake.base_url,  # serves no archive files (404): bars come from REST
    }


def settings_for(fake: FakeBinance, db_url: str, tmp_path: Path) -> Settings:
    return load_settings(environment(fake, db_url), env_file=tmp_path / "no.env")


def process_environment(fake: FakeBinance, db_url: str) -> dict[str, str]:
    return {**os.environ, **environment(fake, db_url)}


def scalar(db_url: str, sql: str) -> int:
    engine = create_engine(db_url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with engine.begin() as conn:
            return int(conn.execute(text(sql)).scalar() or 0)
    finally:
        engine.dispose()


def ticks_of(db_url: str, symbol: str) -> int:
    return scalar(db_url, f"SELECT count(*) FROM market_data_ticks WHERE symbol = '{symbol}'")


def scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as answer:
        body: bytes = answer.read()
    return body.decode()


def metric_value(body: str, name: str, **labels: str) -> float | None:
    """The value of the first sample of `name` whose labels include `labels`."""
    for line in body.splitlines():
        if not line.startswith(name + "{") and line.split(" ")[0] != name:
            continue
        head, _, value = line.rpartition(" ")
        if all(f'{key}="{wanted}"' in head for key, wanted in labels.items()):
            return float(value)
    return None


class ServiceProcess:
    """`mdtool run FILE` as a real process; its log goes to a file the test can poll."""

    def __init__(self, config: Path, env: dict[str, str], metrics_port: int) -> None:
        self.config = config
        self.metrics_port = metrics_port
        self.log_path = config.with_suffix(".log")
        self._log = self.log_path.open("w")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "mdtool", "run", str(config)],
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            text=True,
        )

    def log(self) -> str:
        return self.log_path.read_text()

    def wait_ready(self) -> None:
        def up() -> bool:
            if self.process.poll() is not None:
                raise AssertionError(f"mdtool run exited early: {self.log()}")
            try:
                scrape(self.metrics_port)
            except OSError:
                return False
            return True

        wait_for(up, what="the metrics endpoint")

    def metrics(self) -> str:
        return scrape(self.metrics_port)

    def signal(self, signum: int) -> None:
        self.process.send_signal(signum)

    def stop(self, timeout: float = 60) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            code = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)
            raise
        finally:
            self._log.close()
        return code
