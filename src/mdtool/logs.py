"""Logging set-up for the CLI: rich on a terminal, timestamped plain lines otherwise (cron, files)."""

from __future__ import annotations

import logging
import sys
from typing import Any

from rich.console import Console
from rich.logging import RichHandler


def configure_logging(debug: bool, console: Console) -> None:
    """INFO for mdtool (DEBUG with --debug); third-party libraries only from WARNING up."""
    handler: logging.Handler
    if console.is_terminal:
        handler = RichHandler(console=console, show_path=False, rich_tracebacks=debug, markup=False)
        handler.setFormatter(logging.Formatter("%(message)s"))
    else:
        handler = CurrentStderrHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if debug else logging.WARNING)
    logging.getLogger("mdtool").setLevel(logging.DEBUG if debug else logging.INFO)
    # ib_async logs every IB error and each failed connect attempt itself; the adapter reports them once.
    logging.getLogger("ib_async").setLevel(logging.DEBUG if debug else logging.CRITICAL)


class CurrentStderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """A stream handler that writes to whatever `sys.stderr` is when a record is emitted.

    A plain `StreamHandler(sys.stderr)` keeps the stream it was given: when that stream is replaced and
    closed (a test harness capturing one command's output, an embedding application), a record logged
    later by a thread still running (a server's access log) fails with "I/O operation on closed file".
    The standard library's own last-resort handler looks `sys.stderr` up the same way.
    """

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, _ignored: Any) -> None:
        """`StreamHandler.__init__` and `setStream` assign a stream; this handler never keeps one."""
