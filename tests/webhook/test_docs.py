"""The README documents every webhook variable and option the code reads (as sqlite-utils tests its docs)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from mdtool import config
from mdtool.cli import app
from mdtool.webhook.auth import AuthMode

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()
VARIABLES = sorted(getattr(config, name) for name in dir(config) if name.endswith("_VARIABLE"))


@pytest.mark.parametrize("variable", VARIABLES)
def test_variable_is_in_the_readme_table(variable: str) -> None:
    assert f"| `{variable}`" in README or f"/ `{variable}`" in README


@pytest.mark.parametrize("mode", [mode.value for mode in AuthMode])
def test_every_mode_is_documented(mode: str) -> None:
    assert f"| `{mode}` |" in README


@pytest.mark.parametrize("option", ["--ssl-certfile", "--ssl-keyfile", "--ssl-ca-certs"])
def test_tls_options_exist_and_are_documented(option: str) -> None:
    result = CliRunner().invoke(app, ["serve-webhook", "--help"], env={"COLUMNS": "200"})
    assert option in result.output
    assert option in README
    variable = "MDTOOL_WEBHOOK_" + option.removeprefix("--").upper().replace("-", "_")
    assert variable in result.output.replace("\n", " ").replace("│", " ").replace(" ", "")


def test_package_surface() -> None:
    import mdtool.webhook as webhook

    assert sorted(webhook.__all__) == sorted(
        ["WEBHOOK_PATH", "AlertCounts", "Auth", "AuthMode", "TlsFiles", "auth_from", "create_app", "serve",
         "tls_files", "webhook_server"]
    )  # fmt: skip
    assert all(hasattr(webhook, name) for name in webhook.__all__)
