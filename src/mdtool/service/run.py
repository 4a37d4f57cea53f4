"""`mdtool run` as a library call: load, start, reload on SIGHUP, stop and flush on SIGINT/SIGTERM.

Signals only set events; the main thread does the work between them, so a reload never races a stop
and the signal handlers never touch a lock.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType

from mdtool.config import Settings, load_settings
from mdtool.errors import ConfigError, MdtoolError
from mdtool.gc_tuning import tune_for_streaming
from mdtool.migrate import ensure_schema
from mdtool.service.config import ServiceConfig, StreamJobConfig, load_config
from mdtool.service.listing import resolve_symbols
from mdtool.service.metrics import MetricsServer
from mdtool.service.supervisor import Supervisor
from mdtool.storage.engine import create_engine, warn_if_plain_postgres
from mdtool.webhook.signature import secret_key

log = logging.getLogger(__name__)
_POLL = 0.2


def check_config(path: Path, settings: Settings | None = None) -> ServiceConfig:
    """Validate the file and what it needs from the environment; `ConfigError` on the first problem."""
    config = load_config(path)
    settings = settings or load_settings()
    if config.webhook is not None:
        try:
            secret_key(settings.tradingview_hmac_secret)
        except MdtoolError as error:
            raise ConfigError(f"{path}: [webhook]: {error}") from None
    return config


def describe(config: ServiceConfig) -> str:
    """One line naming what the file runs."""
    parts = [f"{len(config.streams)} stream job(s)", f"{len(config.backfills)} backfill job(s)"]
    if config.webhook:
        parts.append(f"webhook on {config.webhook.host}:{config.webhook.port}")
    if config.dtc:
        parts.append(f"DTC on {config.dtc.host}:{config.dtc.port}")
    if config.metrics:
        parts.append(f"metrics on http://{config.metrics.host}:{config.metrics.port}/metrics")
    return ", ".join(parts)


class Service:
    """The running service: a supervisor, its metrics endpoint, and the file it reloads."""

    def __init__(self, path: Path, settings: Settings) -> None:
        self.path = path
        self.settings = settings
        self.engine = create_engine(settings.database_url)
        self.supervisor = Supervisor(settings, self.engine, self._resolve)
        self.metrics = MetricsServer(self.supervisor)
        self.stop_requested = threading.Event()
        self.reload_requested = threading.Event()

    def _resolve(self, job: StreamJobConfig) -> list[str]:
        return resolve_symbols(self.settings, job.venue, job.selection, self.supervisor.binance_gate)

    def start(self, config: ServiceConfig) -> None:
        ensure_schema(self.engine)
        warn_if_plain_postgres(self.engine)
        if config.metrics is not None:
            try:
                port = self.metrics.start(config.metrics.host, config.metrics.port)
            except OSError as error:
                raise MdtoolError(
                    f"cannot serve metrics on {config.metrics.host}:{config.metrics.port}: "
                    f"{error.strerror or error}"
                ) from None
            log.info("metrics on http://%s:%d/metrics", config.metrics.host, port)
        self.supervisor.apply(config)

    def reload(self) -> bool:
        """Re-read the file and apply the difference; a bad file is refused and the running config stays."""
        try:
            config = check_config(self.path, self.settings)
            old = self.supervisor.config
            if old is not None and config.metrics != old.metrics:
                log.warning("reload: [metrics] changes take effect at the next start")
            self.supervisor.apply(config)
        except MdtoolError as error:
            log.error("reload refused, the running configuration stays: %s", error)
            return False
        log.info("reloaded %s: %s", self.path, describe(config))
        return True

    def wait(self) -> None:
        """Serve until a stop is requested, reloading whenever one is requested."""
        while not self.stop_requested.wait(_POLL):
            if self.reload_requested.is_set():
                self.reload_requested.clear()
                self.reload()

    def close(self) -> None:
        """Stop every job (each flushes its writer), then the metrics endpoint."""
        log.info("stopping: flushing every writer")
        self.supervisor.stop()
        self.metrics.stop()
        self.engine.dispose()
        log.info("stopped")


def run_service(path: Path) -> None:
    """Run the file's jobs until SIGINT/SIGTERM; SIGHUP reloads it."""
    settings = load_settings()
    config = check_config(path, settings)
    service = Service(path, settings)
    tune_for_streaming()
    with _signals(service):
        try:
            service.start(config)
            log.info("mdtool run %s: %s", path, describe(config))
            service.wait()
        finally:
            service.close()


@contextmanager
def _signals(service: Service) -> Iterator[None]:
    """SIGINT/SIGTERM request a stop, SIGHUP a reload (main thread only, where Python allows handlers)."""

    def stop(signum: int, _frame: FrameType | None) -> None:
        log.info("received %s", signal.Signals(signum).name)
        service.stop_requested.set()

    def hup(_signum: int, _frame: FrameType | None) -> None:
        service.reload_requested.set()

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    handlers = {signal.SIGINT: stop, signal.SIGTERM: stop, signal.SIGHUP: hup}
    previous = {signum: signal.signal(signum, handler) for signum, handler in handlers.items()}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
