"""The supervisor of `mdtool run`: owns every job, applies a configuration, and applies only differences.

`apply()` compares a new configuration with the running one by job name: unchanged jobs are left alone,
a stream job whose only change is its symbol selection adapts in place (unchanged symbols keep
streaming), anything else that changed is replaced, and jobs no longer listed are stopped (which flushes
their writers). New job objects are all built before anything is stopped, so a configuration that fails
to build leaves the running one untouched.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, replace

from sqlalchemy import Engine

from mdtool.adapters.binance import RateGate
from mdtool.config import Settings
from mdtool.service.backfills import BackfillJob
from mdtool.service.config import ServiceConfig, StreamJobConfig
from mdtool.service.servers import DtcJob, WebhookJob
from mdtool.service.streams import Resolver, StreamJob

log = logging.getLogger(__name__)
_STOP_TIMEOUT = 45.0


@dataclass(frozen=True)
class Jobs:
    """A consistent snapshot of the running jobs (what the metrics collector reads)."""

    streams: tuple[StreamJob, ...] = ()
    backfills: tuple[BackfillJob, ...] = ()
    webhook: WebhookJob | None = None
    dtc: DtcJob | None = None


class Supervisor:
    """Starts, adapts and stops the jobs of a `ServiceConfig`."""

    def __init__(self, settings: Settings, engine: Engine, resolver: Resolver) -> None:
        self.settings = settings
        self.engine = engine
        self.binance_gate = RateGate()
        """The process's Binance request-weight budget (Binance counts per IP): every Binance job and
        the listing resolver share it."""
        self.config: ServiceConfig | None = None
        self._resolver = resolver
        self._jobs = Jobs()
        self._lock = threading.Lock()

    @property
    def jobs(self) -> Jobs:
        with self._lock:
            return self._jobs

    def apply(self, config: ServiceConfig) -> None:
        """Run `config`, touching only the jobs that differ from the running configuration."""
        old = self.config
        current = self.jobs
        webhook = current.webhook
        if config.webhook != (old.webhook if old else None):
            webhook = WebhookJob(config.webhook, self.settings) if config.webhook else None
        dtc = current.dtc
        if config.dtc != (old.dtc if old else None):
            dtc = DtcJob(config.dtc, self.engine) if config.dtc else None
        streams, stream_stops, stream_starts = self._plan_streams(config, current)
        backfills, backfill_stops, backfill_starts = self._plan_backfills(config, current)
        stops: list[StreamJob | BackfillJob | WebhookJob | DtcJob] = [*stream_stops, *backfill_stops]
        stops += [
            job for job in (current.webhook, current.dtc) if job is not None and job not in (webhook, dtc)
        ]
        starts: list[StreamJob | BackfillJob | WebhookJob | DtcJob] = [*stream_starts, *backfill_starts]
        starts += [
            job for job in (webhook, dtc) if job is not None and job not in (current.webhook, current.dtc)
        ]
        _stop_all(stops)
        with self._lock:
            self._jobs = Jobs(tuple(streams), tuple(backfills), webhook, dtc)
            self.config = config
        for job in starts:
            job.start()
        log.info(
            "running %d stream, %d backfill job(s)%s%s; started %d, stopped %d",
            len(streams), len(backfills), ", webhook" if webhook else "", ", DTC" if dtc else "",
            len(starts), len(stops),
        )  # fmt: skip

    def stop(self) -> None:
        """Stop every job and wait for each to flush what it holds."""
        current = self.jobs
        jobs = [*current.streams, *current.backfills, current.webhook, current.dtc]
        _stop_all([job for job in jobs if job is not None])
        with self._lock:
            self._jobs = Jobs()

    def _plan_streams(
        self, config: ServiceConfig, current: Jobs
    ) -> tuple[list[StreamJob], list[StreamJob], list[StreamJob]]:
        running = {job.name: job for job in current.streams}
        keep: list[StreamJob] = []
        starts: list[StreamJob] = []
        adapt: list[tuple[StreamJob, StreamJobConfig]] = []
        for wanted in config.streams:
            job = running.pop(wanted.name, None)
            if job is not None and _same_except_selection(job.config, wanted):
                keep.append(job)
                if job.config != wanted:
                    adapt.append((job, wanted))
                continue
            if job is not None:
                running[f"{wanted.name} (replaced)"] = job
            fresh = StreamJob(wanted, self.settings, self.engine, self._resolver, self.binance_gate)
            keep.append(fresh)
            starts.append(fresh)
        for job, wanted in adapt:
            log.info("stream %s: selection changed to %s", job.name, wanted.selection.describe())
            job.reconfigure(wanted)
        return keep, list(running.values()), starts

    def _plan_backfills(
        self, config: ServiceConfig, current: Jobs
    ) -> tuple[list[BackfillJob], list[BackfillJob], list[BackfillJob]]:
        running = {job.name: job for job in current.backfills}
        keep: list[BackfillJob] = []
        starts: list[BackfillJob] = []
        stops: list[BackfillJob] = []
        for wanted in config.backfills:
            job = running.pop(wanted.name, None)
            if job is not None and job.config == wanted:
                keep.append(job)
                continue
            if job is not None:
                stops.append(job)
            fresh = BackfillJob(wanted, self.settings, self.engine, self.binance_gate)
            keep.append(fresh)
            starts.append(fresh)
        return keep, [*stops, *running.values()], starts


def _same_except_selection(old: StreamJobConfig, new: StreamJobConfig) -> bool:
    return replace(old, selection=new.selection) == new


def _stop_all(jobs: list[StreamJob | BackfillJob | WebhookJob | DtcJob]) -> None:
    """Ask every job to stop at once, then wait for each (they flush in parallel)."""
    for job in jobs:
        job.stop()
    for job in jobs:
        if not job.join(_STOP_TIMEOUT):
            log.error("job %s did not stop within %.0f s", job.name, _STOP_TIMEOUT)
