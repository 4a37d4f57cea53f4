from pathlib import Path

import pytest

from mdtool.config import load_settings
from mdtool.errors import ConfigError


def test_defaults(tmp_path: Path) -> None:
    settings = load_settings({}, env_file=tmp_path / "missing.env")
    assert settings.database_url == "sqlite:///mdtool.db"
    assert settings.ibkr_port == 4001
    assert settings.ibkr_client_id == 1
    assert settings.binance_base_url == "https://api.binance.com"
    assert settings.tradingview_hmac_secret is None


def test_environment_wins_over_dotenv(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("IBKR_PORT=7497\nIBKR_HOST=gateway\n")
    settings = load_settings({"IBKR_PORT": "4002"}, env_file=env_file)
    assert settings.ibkr_port == 4002
    assert settings.ibkr_host == "gateway"


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("IBKR_PORT", "abc", "IBKR_PORT must be an integer"),
        ("IBKR_PORT", "70000", "IBKR_PORT must be between"),
        ("IBKR_CLIENT_ID", "1.5", "IBKR_CLIENT_ID must be an integer"),
        ("MARKET_DATA_DATABASE_URL", "mysql://x/y", "MARKET_DATA_DATABASE_URL must start with"),
        ("MARKET_DATA_DATABASE_URL", "postgresql://u:secret@h:port/db", "malformed port"),
        ("MARKET_DATA_DATABASE_URL", "sqlite://", "sqlite:///PATH"),
        ("BINANCE_BASE_URL", "ftp://x", "BINANCE_BASE_URL must be"),
        ("BINANCE_STREAM_URL", "https://x", "BINANCE_STREAM_URL must be"),
    ],
)
def test_bad_values_give_one_line_errors(tmp_path: Path, name: str, value: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as raised:
        load_settings({name: value}, env_file=tmp_path / "none")
    assert "\n" not in str(raised.value)
    assert "secret" not in str(raised.value)


def test_both_postgres_spellings_are_accepted(tmp_path: Path) -> None:
    for url in ("postgresql://u@localhost:5432/db", "postgresql+psycopg://u@localhost/db"):
        assert load_settings({"MARKET_DATA_DATABASE_URL": url}, env_file=tmp_path / "x").database_url == url
