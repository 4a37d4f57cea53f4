"""The README and docs/architecture.md against the code: commands, options, variables and exit codes.

As sqlite-utils tests its documentation: a renamed option or a new variable that the README does not
mention fails here, not in a user's cron job.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import typer.main

from mdtool import errors
from mdtool.cli import app
from mdtool.config import DEFAULTS

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
ARCHITECTURE = (ROOT / "docs" / "architecture.md").read_text()
VARIABLE = re.compile(r"\b(?:MARKET_DATA_DATABASE|BINANCE|IBKR|TRADINGVIEW|MDTOOL)_[A-Z0-9_]*[A-Z0-9]\b")
TABLE_ROW = re.compile(r"^\|\s*(`[A-Z][^|]*)\|\s*([^|]*)\|", re.MULTILINE)


def commands() -> dict[str, set[str]]:
    """Every registered command and the option spellings it accepts."""
    group = typer.main.get_command(app)
    assert hasattr(group, "commands")
    found: dict[str, set[str]] = {}
    for name, command in group.commands.items():
        spellings: set[str] = {"--help", "-h"}
        for param in command.params:
            spellings.update(getattr(param, "opts", []))
            spellings.update(getattr(param, "secondary_opts", []))
        found[name] = spellings
    return found


def documented_invocations() -> list[str]:
    """`mdtool ...` lines in the README's code blocks and inline code."""
    lines = []
    for block in re.findall(r"```[a-z]*\n(.*?)```", README, re.DOTALL):
        for line in block.splitlines():
            line = line.split("#", 1)[0].strip()
            lines += re.findall(r"(?:^|\s|/)mdtool ((?:[a-z-]).*)$", line)
    lines += re.findall(r"`mdtool ([^`]+)`", README)
    return lines


def source_variables() -> set[str]:
    text = "\n".join(p.read_text() for p in (ROOT / "src" / "mdtool").rglob("*.py"))
    return set(re.findall(r"[\"'](" + VARIABLE.pattern + r")[\"']", text))


def readme_table_variables() -> dict[str, str]:
    """Variables of the README's configuration table with their default column."""
    table: dict[str, str] = {}
    for names, default in TABLE_ROW.findall(README):
        for name in VARIABLE.findall(names):
            table[name] = default.strip()
    return table


def test_every_command_is_documented_in_the_readme_and_the_architecture() -> None:
    for name in commands():
        assert f"mdtool {name}" in README, f"README never shows `mdtool {name}`"
        assert f"mdtool {name}" in ARCHITECTURE, f"docs/architecture.md never names `mdtool {name}`"


def test_every_documented_invocation_names_a_real_command_and_real_options() -> None:
    known = commands()
    invocations = documented_invocations()
    assert len(invocations) > 10
    for invocation in invocations:
        words = invocation.split()
        if words[0].startswith("-"):
            assert {w.split("=")[0] for w in words if w.startswith("--")} <= {
                "--version",
                "--help",
                "--debug",
            }
            continue
        assert words[0] in known, f"README shows unknown command: mdtool {invocation}"
        for word in words[1:]:
            option = word.split("=", 1)[0].rstrip(",.;:)]")
            if option.startswith("--") and len(option) > 2:
                assert option in known[words[0]], f"README shows unknown option {option} of mdtool {words[0]}"


def test_every_variable_the_code_reads_is_in_the_readme_table_and_nothing_else() -> None:
    table = readme_table_variables()
    assert set(table) == source_variables()


@pytest.mark.parametrize("name", sorted(DEFAULTS))
def test_readme_defaults_match_the_code(name: str) -> None:
    table = readme_table_variables()
    assert name in table
    default = DEFAULTS[name]
    row = next(row for row in README.splitlines() if f"`{name}`" in row and row.startswith("|"))
    assert f"`{default}`" in row, f"README's default for {name} is not `{default}`: {row}"


def test_exit_codes_in_the_readme_match_the_error_hierarchy() -> None:
    sentence = re.search(r"Exit codes: `0` success, `1` runtime failure.*?`2` usage error", README, re.DOTALL)
    assert sentence is not None
    assert errors.MdtoolError.exit_code == 1
    assert errors.UsageError.exit_code == 2
    assert errors.ConfigError.exit_code == 2
    for runtime in (errors.DatabaseError, errors.ExchangeError, errors.ProtocolError, errors.BusyError):
        assert runtime.exit_code == 1
    for name in ("MdtoolError", "UsageError", "ConfigError", "DatabaseError", "ExchangeError", "BusyError"):
        assert name in (errors.__doc__ or ""), f"errors.py's hierarchy drawing lacks {name}"


def test_source_never_cites_a_document_outside_the_repository() -> None:
    for path in (ROOT / "src" / "mdtool").rglob("*.py"):
        assert "DESIGN.md" not in path.read_text(), f"{path.relative_to(ROOT)} cites DESIGN.md"
