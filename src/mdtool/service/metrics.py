"""Prometheus metrics of `mdtool run`, read from the running jobs at scrape time.

A custom collector on a `CollectorRegistry` owned by the service (never the process-global default
registry): every scrape walks the supervisor's current jobs and reads the counters their objects
already keep (`StreamStatus`, `WriterStats`, backfill results), so no other module carries metric code
and a scrape costs a few microseconds per series. Fields that newer stream adapters add to
`StreamStatus` (`connections_up`, `holes_pending`, `weight_used`) are read when present.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from mdtool.dtc.server import DtcServer
from mdtool.service.backfills import BackfillJob
from mdtool.service.streams import StreamJob
from mdtool.service.supervisor import Supervisor

_JOB = ["venue", "mdtool_job"]
_SERIES = ["venue", "mdtool_job", "symbol", "interval"]


def _counter(name: str, documentation: str, labels: list[str]) -> CounterMetricFamily:
    return CounterMetricFamily(f"mdtool_{name}", documentation, labels=labels)


def _gauge(name: str, documentation: str, labels: list[str]) -> GaugeMetricFamily:
    return GaugeMetricFamily(f"mdtool_{name}", documentation, labels=labels)


class ServiceCollector(Collector):
    """Yields every mdtool metric family from the supervisor's jobs as they are now."""

    def __init__(self, supervisor: Supervisor) -> None:
        self._supervisor = supervisor

    def collect(self) -> Iterator[Metric]:
        jobs = self._supervisor.jobs
        yield from self._streams(jobs.streams)
        yield from self._backfills(jobs.backfills)
        restarts = _counter("job_restarts", "Times a job was restarted after failing.", ["mdtool_job"])
        for job in (*jobs.streams, *jobs.backfills, jobs.webhook, jobs.dtc):
            if job is not None:
                restarts.add_metric([job.name], job.restarts)
        yield restarts
        alerts = _counter("webhook_alerts", "Webhook alert answers by HTTP status.", ["status"])
        if jobs.webhook is not None:
            for status, count in sorted(jobs.webhook.statuses.snapshot().items()):
                alerts.add_metric([str(status)], count)
        yield alerts
        yield from self._dtc(jobs.dtc.server if jobs.dtc is not None else None)

    def _dtc(self, server: DtcServer | None) -> Iterator[Metric]:
        up = _gauge("dtc_up", "1 while the DTC server is listening.", [])
        up.add_metric([], 1 if server is not None else 0)
        yield up
        if server is None:
            return
        stats = server.stats
        clients = _gauge("dtc_clients", "DTC clients connected now.", [])
        clients.add_metric([], stats.clients_connected)
        accepted = _counter("dtc_clients_accepted", "DTC client sessions accepted.", [])
        accepted.add_metric([], stats.clients_total)
        sent = _counter("dtc_messages_sent", "DTC messages sent (live updates and history records).", [])
        sent.add_metric([], stats.messages_sent)
        dropped = _counter("dtc_clients_dropped_slow", "DTC clients dropped for not keeping up.", [])
        dropped.add_metric([], stats.clients_dropped_slow)
        yield from (clients, accepted, sent, dropped)

    def _streams(self, streams: tuple[StreamJob, ...]) -> Iterator[Metric]:
        families: dict[str, CounterMetricFamily | GaugeMetricFamily] = {
            "received": _counter("trades_received", "Trades received from the venue.", _JOB),
            "stored": _counter("trades_stored", "Trades newly stored (duplicates not counted).", _JOB),
            "reconnects": _counter("stream_reconnects", "Stream reconnects.", _JOB),
            "filled": _counter("trades_gap_filled", "Trades fetched over REST to fill gaps.", _JOB),
            "db": _counter("database_errors", "Failed database writes (retried; nothing dropped).", _JOB),
            "spooled": _counter("writer_spilled_records", "Records spilled to disk during outages.", _JOB),
            "rejected": _counter("writer_rejected_records", "Records the database refused for good.", _JOB),
            "queue": _gauge("writer_queue_depth", "Records accepted but not yet committed.", _JOB),
            "holes": _gauge("stream_holes_open", "Stream holes not filled yet.", _JOB),
            "up": _gauge("stream_connections_up", "Open venue connections.", _JOB),
            "symbols": _gauge("stream_symbols", "Symbols the job streams.", _JOB),
            "weight": _gauge("request_weight_used", "Venue request weight used in its window.", _JOB),
        }
        lag = HistogramMetricFamily(
            "mdtool_commit_lag_seconds", "Event time to commit time of stored trades.", labels=_JOB
        )
        for job in streams:
            labels = [job.venue, job.name]
            values = _stream_values(job)
            for key, family in families.items():
                family.add_metric(labels, values[key])
            buckets, total = job.lag.snapshot()
            lag.add_metric(labels, buckets, total)
        yield from families.values()
        yield lag

    def _backfills(self, backfills: tuple[BackfillJob, ...]) -> Iterator[Metric]:
        runs = _counter("backfill_runs", "Backfill runs of a series by outcome.", [*_SERIES, "outcome"])
        bars = _counter("bars_stored", "Bars newly stored by backfills.", _SERIES)
        success = _gauge(
            "backfill_last_success_timestamp_seconds", "Unix time of the last good run.", _SERIES
        )
        requests = _counter("backfill_requests", "Requests backfills made to the venue.", _JOB)
        db = _counter("backfill_database_errors", "Backfill runs failed by the database.", _JOB)
        for job in backfills:
            with job.totals.lock:
                series = list(job.totals.series.items())
            for (symbol, interval), result in series:
                labels = [job.venue, job.name, symbol, interval]
                runs.add_metric([*labels, "ok"], result.runs_ok)
                # Outcomes that never happened are left out: a third of the samples on a big market.
                for outcome, count in (("failed", result.runs_failed), ("busy", result.runs_busy)):
                    if count:
                        runs.add_metric([*labels, outcome], count)
                bars.add_metric(labels, result.bars_stored)
                if result.last_success is not None:
                    success.add_metric(labels, result.last_success)
            requests.add_metric([job.venue, job.name], job.totals.requests)
            db.add_metric([job.venue, job.name], job.totals.db_failures)
        yield from (runs, bars, success, requests, db)


def _stream_values(job: StreamJob) -> dict[str, float]:
    """Finished attempts' totals plus what the live attempts count now."""
    totals = job.totals
    values: dict[str, float] = {
        "received": totals.trades, "stored": totals.stored, "reconnects": totals.reconnects,
        "filled": totals.gaps_filled, "db": totals.db_failures, "spooled": totals.spooled,
        "rejected": totals.rejected, "queue": 0, "holes": 0, "up": 0, "weight": 0,
        "symbols": len(job.symbols),
    }  # fmt: skip
    for unit in job.units():
        live = unit.live
        if live is None:
            continue
        status, writer = live
        stats = writer.stats
        values["received"] += status.trades
        values["reconnects"] += status.reconnects
        values["filled"] += status.gaps_filled
        values["stored"] += stats.stored
        values["db"] += stats.failures
        values["spooled"] += stats.spooled
        values["rejected"] += stats.rejected
        values["queue"] += writer.pending
        values["holes"] += _field(status, "holes_pending", 0)
        values["up"] += _field(status, "connections_up", 1 if status.connected else 0)
        values["weight"] = max(values["weight"], _field(status, "weight_used", 0))
    return values


def _field(status: Any, name: str, default: float) -> float:
    value = getattr(status, name, default)
    return float(value) if isinstance(value, int | float) else default


class MetricsServer:
    """`/metrics` over HTTP on the configured address, serving the service's own registry."""

    def __init__(self, supervisor: Supervisor) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(ServiceCollector(supervisor))
        self._server: WSGIServer | None = None

    def start(self, host: str, port: int) -> int:
        """Listen; returns the bound port (0 picks a free one)."""
        self._server, _thread = start_http_server(port, addr=host, registry=self.registry)
        return int(self._server.server_address[1])

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
