"""One supervised unit of work: a thread that runs a body again, with backoff, until it is stopped.

A job that fails (venue down, database refusing, a bug) is logged and restarted after a capped,
exponential delay; a run that lasted long enough resets the delay. Each attempt gets its own stop
event, because the stream driver sets the event it is given when its adapter fails, and that must
not read as "the service is stopping".
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Self

log = logging.getLogger(__name__)

Body = Callable[[threading.Event], None]


class Supervised:
    """Runs `body(stop)` on a thread, restarting it after failures until `stop()` is called."""

    def __init__(
        self,
        name: str,
        body: Body,
        *,
        backoff: float = 1.0,
        backoff_cap: float = 60.0,
        healthy_after: float = 60.0,
    ) -> None:
        self.name = name
        self.restarts = 0
        self.running = False
        self.last_error = ""
        self._body = body
        self._backoff = backoff
        self._backoff_cap = backoff_cap
        self._healthy_after = healthy_after
        self._stopping = threading.Event()
        self._attempt = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._loop, name=f"mdtool-job-{name}", daemon=True)

    def start(self) -> Supervised:
        self._thread.start()
        return self

    def stop(self) -> None:
        """Ask the body to finish (it flushes what it holds); `join` waits for it."""
        with self._lock:
            self._stopping.set()
            self._attempt.set()

    def join(self, timeout: float | None = None) -> bool:
        """True once the thread has ended."""
        self._thread.join(timeout)
        return not self._thread.is_alive()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def _loop(self) -> None:
        failures = 0
        while not self._stopping.is_set():
            with self._lock:
                if self._stopping.is_set():
                    break
                self._attempt = threading.Event()
                attempt = self._attempt
            started = time.monotonic()
            self.running = True
            try:
                self._body(attempt)
                failed = not self._stopping.is_set()
                if failed:
                    self.last_error = "ended by itself"
            except Exception as error:
                failed = True
                self.last_error = str(error) or type(error).__name__
                log.error("job %s failed: %s", self.name, self.last_error, exc_info=log.isEnabledFor(10))
            finally:
                self.running = False
            if not failed or self._stopping.is_set():
                break
            failures = 1 if time.monotonic() - started >= self._healthy_after else failures + 1
            delay = min(self._backoff_cap, self._backoff * 2.0 ** (failures - 1))
            self.restarts += 1
            log.warning("job %s: restarting in %.1f s (restart %d)", self.name, delay, self.restarts)
            self._stopping.wait(delay)


class SupervisedJob:
    """The lifecycle every job shares, delegated to the `Supervised` thread the job sets up."""

    _supervised: Supervised

    @property
    def restarts(self) -> int:
        return self._supervised.restarts

    def start(self) -> Self:
        self._supervised.start()
        return self

    def stop(self) -> None:
        self._supervised.stop()

    def join(self, timeout: float) -> bool:
        return self._supervised.join(timeout)
