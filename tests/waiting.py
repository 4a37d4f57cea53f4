"""Polling with a deadline: how tests wait for something another thread or process does."""

from __future__ import annotations

import time
from collections.abc import Callable


def wait_for(condition: Callable[[], bool], timeout: float = 30.0, what: str = "condition") -> None:
    """Return once `condition()` holds; fail naming `what` after `timeout` seconds (only a failing test waits
    that long, so the deadline is generous for loaded machines)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)
