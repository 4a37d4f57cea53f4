"""Log output goes to the stderr of the moment, so a replaced and closed stream never breaks logging."""

from __future__ import annotations

import io
import logging
import sys

import pytest
from rich.console import Console

from mdtool.logs import configure_logging


def test_records_logged_after_stderr_is_replaced_reach_the_new_stderr(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    root = logging.getLogger()
    saved = root.handlers[:], root.level, logging.getLogger("mdtool").level
    first, second = io.StringIO(), io.StringIO()
    try:
        monkeypatch.setattr(sys, "stderr", first)
        configure_logging(False, Console(file=io.StringIO()))
        logging.getLogger("mdtool.test").info("one")
        first.close()  # as a harness closes one command's captured output
        monkeypatch.setattr(sys, "stderr", second)
        logging.getLogger("mdtool.test").info("two")
    finally:
        root.handlers[:], level, mdtool_level = saved
        root.setLevel(level)
        logging.getLogger("mdtool").setLevel(mdtool_level)
    assert "INFO mdtool.test: two" in second.getvalue()
