"""The installed `mdtool` command, run as a user runs it (a subprocess, real exit codes and stderr)."""

import os
import signal
import socket
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from mdtool import __version__

ROOT = Path(__file__).resolve().parents[1]


def mdtool(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("MARKET_DATA", "MDTOOL"))}
    environment.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "mdtool", *args], cwd=cwd, env=environment,
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def test_version_and_help(tmp_path: Path) -> None:
    assert mdtool("--version", cwd=tmp_path).stdout.strip() == f"mdtool {__version__}"
    help_text = mdtool("--help", cwd=tmp_path).stdout
    for command in ("backfill", "stream", "serve-webhook", "migrate", "dtc-push"):
        assert command in help_text


def test_migrate_creates_the_default_sqlite_database_idempotently(tmp_path: Path) -> None:
    first = mdtool("migrate", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert (tmp_path / "mdtool.db").exists()
    assert mdtool("migrate", cwd=tmp_path).returncode == 0


def test_migrate_on_postgres(pg_empty_url: str, tmp_path: Path) -> None:
    result = mdtool("migrate", cwd=tmp_path, env={"MARKET_DATA_DATABASE_URL": pg_empty_url})
    assert result.returncode == 0, result.stderr
    assert "schema at revision" in result.stdout


def test_dotenv_is_read(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text(f"MARKET_DATA_DATABASE_URL=sqlite:///{tmp_path / 'from-dotenv.db'}\n")
    assert mdtool("migrate", cwd=tmp_path).returncode == 0
    assert (tmp_path / "from-dotenv.db").exists()


@pytest.mark.parametrize(
    ("args", "env", "code", "message"),
    [
        (("migrate",), {"MARKET_DATA_DATABASE_URL": "mysql://x/y"}, 2, "error: MARKET_DATA_DATABASE_URL"),
        (
            ("migrate",),
            {"MARKET_DATA_DATABASE_URL": "postgresql://u@127.0.0.1:1/x"},
            1,
            "error: cannot reach the database",
        ),
        (("backfill", "binance", "BTCUSDT", "1m", "--since", "2024-02-30"), {}, 2, "error: --since"),
        (("backfill", "kraken", "BTCUSDT", "1m"), {}, 2, "error: Invalid value for 'source'"),
        (("stream", "binance", "BTCUSDT"), {"IBKR_PORT": "x"}, 2, "error: IBKR_PORT must be an integer"),
        (("nonsense",), {}, 2, "error: No such command"),
    ],
)
def test_errors_are_one_line_with_the_contracted_exit_code(
    tmp_path: Path, args: tuple[str, ...], env: dict[str, str], code: int, message: str
) -> None:
    result = mdtool(*args, cwd=tmp_path, env=env)
    assert result.returncode == code, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith(message), result.stderr
    assert "Traceback" not in result.stderr


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    result = mdtool(
        "--debug", "migrate", cwd=tmp_path, env={"MARKET_DATA_DATABASE_URL": "postgresql://u@127.0.0.1:1/x"}
    )
    assert result.returncode == 1
    assert "Traceback" in result.stderr


def test_the_wheel_ships_the_migrations(tmp_path: Path) -> None:
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path), str(ROOT)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert build.returncode == 0, build.stderr
    wheel = next(tmp_path.glob("mdtool-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "mdtool/migrations/env.py" in names
    assert any(name.startswith("mdtool/migrations/versions/0001") for name in names)
    unpacked = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(unpacked)
    db = tmp_path / "wheel.db"
    result = subprocess.run(
        [sys.executable, "-c", "import mdtool.cli; mdtool.cli.main(['migrate'])"],
        cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(unpacked), "MARKET_DATA_DATABASE_URL": f"sqlite:///{db}"},
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert db.exists()


def test_alembic_upgrade_head_works_from_the_repository(tmp_path: Path) -> None:
    db = tmp_path / "alembic.db"
    result = subprocess.run(
        [sys.executable, "-m", "alembic", "upgrade", "head"], cwd=ROOT,
        env={**os.environ, "MARKET_DATA_DATABASE_URL": f"sqlite:///{db}"},
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert db.exists()


def test_an_unmigrated_server_database_is_refused_with_a_pointer_to_migrate(
    pg_empty_url: str, tmp_path: Path
) -> None:
    result = mdtool(
        "stream", "binance", "BTCUSDT", cwd=tmp_path, env={"MARKET_DATA_DATABASE_URL": pg_empty_url}
    )
    assert result.returncode == 1
    assert result.stderr.strip().endswith("run `mdtool migrate` first")


def test_ctrl_c_says_interrupted_and_exits_130(tmp_path: Path) -> None:
    """A backfill waiting on a venue that never answers, interrupted by the user."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        environment = {k: v for k, v in os.environ.items() if not k.startswith(("MARKET_DATA", "MDTOOL"))}
        environment["BINANCE_BASE_URL"] = f"http://127.0.0.1:{silent.getsockname()[1]}"
        proc = subprocess.Popen(
            [sys.executable, "-m", "mdtool", "backfill", "binance", "BTCUSDT", "1m", "--since", "2024-01-01",
             "--via", "rest"],
            cwd=tmp_path, env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        silent.settimeout(60)
        connection, _ = silent.accept()  # the command is now waiting for Binance
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
        connection.close()
    assert proc.returncode == 130
    assert err.strip().splitlines()[-1] == "error: interrupted"
