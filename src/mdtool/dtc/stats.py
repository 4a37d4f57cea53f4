"""Counters of a running DTC server, for whoever supervises it (`mdtool run` exports them as metrics).

Plain integers on one object, updated on the server's event loop only: a reader in another thread sees
values that are at worst a moment old, which is all a metrics scrape needs, and no lock is taken on the
hot path.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class ServerStats:
    """Live counters of one server (`DtcServer.stats`)."""

    clients_connected: int = 0  # sessions open right now
    clients_total: int = 0  # sessions accepted since start
    messages_sent: int = 0  # DTC messages queued to clients (live updates and history records included)
    history_records_sent: int = 0
    clients_dropped_slow: int = 0  # sessions ended because the client did not keep up
