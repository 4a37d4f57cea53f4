"""`mdtool run` at the command line: `--check`, and start-up failures as one `error:` line."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

BACKFILL = '[[backfill]]\nvenue = "binance"\nsymbols = ["BTCUSDT"]\nintervals = ["1h"]\nsince = 2024-01-01\n'


def mdtool(
    tmp_path: Path, *args: str, extra_env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "MARKET_DATA_DATABASE_URL": f"sqlite:///{tmp_path / 'mdtool.db'}",
        **(extra_env or {}),
    }
    env.pop("TRADINGVIEW_HMAC_SECRET", None)
    return subprocess.run(
        [sys.executable, "-m", "mdtool", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )


def test_check_accepts_a_valid_file(tmp_path: Path) -> None:
    path = tmp_path / "ok.toml"
    path.write_text(BACKFILL)
    result = mdtool(tmp_path, "run", "--check", str(path))
    assert result.returncode == 0, result.stderr
    assert (
        result.stdout.strip()
        == f"{path}: OK: 0 stream job(s), 1 backfill job(s), metrics on http://127.0.0.1:9464/metrics"
    )


def test_check_refuses_a_bad_file_with_one_line_and_exit_2(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(BACKFILL.replace('"1h"', '"2m"'))
    result = mdtool(tmp_path, "run", "--check", str(path))
    assert result.returncode == 2
    assert (
        result.stderr
        == f"error: {path}:4: backfill[1].intervals: unknown interval '2m'; use one of 1s 1m 3m 5m 15m 30m 1h 2h 4h 6h 8h 12h 1d 3d 1w 1M\n"
    )
    assert mdtool(tmp_path, "run", str(path)).returncode == 2, "run refuses the same file"


def test_a_webhook_section_needs_the_secret(tmp_path: Path) -> None:
    path = tmp_path / "hook.toml"
    path.write_text("[webhook]\n")
    result = mdtool(tmp_path, "run", "--check", str(path))
    assert result.returncode == 2
    assert result.stderr.startswith(f"error: {path}: [webhook]: TRADINGVIEW_HMAC_SECRET")


def test_a_taken_metrics_port_is_one_error_line(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        path = tmp_path / "busy.toml"
        path.write_text(BACKFILL + f'\n[metrics]\nlisten = "127.0.0.1:{port}"\n')
        result = mdtool(tmp_path, "run", str(path))
    assert result.returncode == 1
    assert f"error: cannot serve metrics on 127.0.0.1:{port}: Address already in use" in result.stderr
    assert "Traceback" not in result.stderr
