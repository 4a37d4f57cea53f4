import pytest

from mdtool.errors import ConfigError
from mdtool.webhook.options import DEFAULT_MAX_BODY, load_options


def test_default_body_limit_is_64_kib() -> None:
    assert load_options({}).max_body == DEFAULT_MAX_BODY == 65_536


def test_body_limit_from_environment() -> None:
    assert load_options({"MDTOOL_WEBHOOK_MAX_BODY": " 1024 "}).max_body == 1024


@pytest.mark.parametrize("value", ["abc", "0", "-5", str(64 * 1024 * 1024)])
def test_bad_body_limit_names_the_variable(value: str) -> None:
    with pytest.raises(ConfigError, match="MDTOOL_WEBHOOK_MAX_BODY"):
        load_options({"MDTOOL_WEBHOOK_MAX_BODY": value})
