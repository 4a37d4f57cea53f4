"""`mdtool --help`, `--version` and every `<command> --help` import none of the heavy libraries.

They used to import all of them (about 2.5 s before the first line of help, paid by every cron start
and usage error too); the command modules now import the database, the venue clients and the servers
when a command runs. What is asserted is which modules get imported, never how long it takes.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import typer.main

from mdtool.adapters import binance, choices
from mdtool.adapters.binance import archive, pacing
from mdtool.cli import app

HEAVY = ("alembic", "binance", "ib_async", "psycopg", "pyarrow", "sqlalchemy", "starlette", "uvicorn")
COMMANDS = ("backfill", "dtc-push", "export", "migrate", "run", "serve-webhook", "status", "stream")

# Runs each argument list through the real entry point in one fresh interpreter and writes, per list,
# the heavy top-level packages present afterwards; `main` always ends in SystemExit.
PROBE = """
import json, sys
from mdtool.cli import main
heavy, out, runs = set(json.loads(sys.argv[1])), sys.argv[2], json.loads(sys.argv[3])
loaded = {}
for args in runs:
    try:
        main(args)
    except SystemExit:
        pass
    loaded[" ".join(args)] = sorted({name.split(".")[0] for name in sys.modules} & heavy)
with open(out, "w") as file:
    json.dump(loaded, file)
"""


def run_python(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("MARKET_DATA", "MDTOOL"))}
    return subprocess.run(
        [sys.executable, *args], cwd=cwd, env=environment,
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def test_importing_the_cli_imports_no_heavy_library(tmp_path: Path) -> None:
    code = f"import sys, mdtool.cli; print(sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY}))"
    result = run_python("-c", code, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_help_version_and_every_command_help_import_no_heavy_library(tmp_path: Path) -> None:
    runs = [["--help"], ["--version"], *([command, "--help"] for command in COMMANDS)]
    out = tmp_path / "loaded.json"
    result = run_python("-c", PROBE, json.dumps(HEAVY), str(out), json.dumps(runs), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    loaded = json.loads(out.read_text())
    assert loaded == {" ".join(args): [] for args in runs}


def test_help_still_lists_every_command(tmp_path: Path) -> None:
    group = typer.main.get_command(app)
    assert hasattr(group, "commands")
    assert set(group.commands) == set(COMMANDS)
    result = run_python("-m", "mdtool", "--help", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    for command in COMMANDS:  # a row of the Commands panel starts with the name
        assert re.search(rf"^\W*{re.escape(command)}\s", result.stdout, re.MULTILINE), command


def test_the_moved_choices_are_still_importable_from_the_binance_adapter() -> None:
    assert binance.Via is archive.Via is choices.Via
    assert binance.DEFAULT_STREAMS_PER_CONNECTION is pacing.DEFAULT_STREAMS_PER_CONNECTION
    assert pacing.DEFAULT_STREAMS_PER_CONNECTION is choices.DEFAULT_STREAMS_PER_CONNECTION
