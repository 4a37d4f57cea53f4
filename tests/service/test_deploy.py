"""The deployment recipe as shipped: the README's config and systemd unit are the files in deploy/,
the config validates, and `systemd-analyze verify` finds nothing wrong with the unit."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from mdtool.service.config import load_config

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()


def test_the_readme_shows_the_shipped_files() -> None:
    assert "```toml\n" + (ROOT / "deploy/mdtool.toml").read_text() + "```" in README
    assert "```ini\n" + (ROOT / "deploy/mdtool.service").read_text() + "```" in README


def test_the_example_config_is_valid() -> None:
    config = load_config(ROOT / "deploy/mdtool.toml")
    assert [job.name for job in config.streams] == ["binance-usdt"]
    assert [job.name for job in config.backfills] == ["majors"]


@pytest.mark.skipif(
    shutil.which("systemd-analyze") is None,
    reason="systemd-analyze is not installed (scripts/install-prometheus.sh installs systemd)",
)
def test_systemd_analyze_verify_is_clean(tmp_path: Path) -> None:
    mdtool = Path(sys.executable).with_name("mdtool")
    unit = (ROOT / "deploy/mdtool.service").read_text().replace("/opt/mdtool/bin/mdtool", str(mdtool))
    path = tmp_path / "mdtool.service"
    path.write_text(unit)
    result = subprocess.run(
        ["systemd-analyze", "verify", str(path)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == "", result.stderr
