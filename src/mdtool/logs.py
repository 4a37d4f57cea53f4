"""Logging set-up for the CLI: rich on a terminal, timestamped plain lines otherwise (cron, files)."""

from __future__ import annotations

import logging
import sys

from rich.console import Console
from rich.logging import RichHandler


def configure_logging(debug: bool, console: Console) -> None:
    """INFO for mdtool (DEBUG with --debug); third-party libraries only from WARNING up."""
    handler: logging.Handler
    if console.is_terminal:
        handler = RichHandler(console=console, show_path=False, rich_tracebacks=debug, markup=False)
        handler.setFormatter(logging.Formatter("%(message)s"))
    else:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if debug else logging.WARNING)
    logging.getLogger("mdtool").setLevel(logging.DEBUG if debug else logging.INFO)
    # ib_async logs every IB error and each failed connect attempt itself; the adapter reports them once.
    logging.getLogger("ib_async").setLevel(logging.DEBUG if debug else logging.CRITICAL)
