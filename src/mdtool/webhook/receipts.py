"""One receipt time per alert without a time field, so a retried delivery is stored once.

The ticks key includes the timestamp. An alert that carries no time is stamped with its time of
receipt, so a retry of the same body would get a new timestamp and become a second row although its
`trade_id` is the same. The first receipt time is therefore remembered per body digest, in memory, for
retries reaching the same worker; for alerts whose `trade_id` is the body digest (no `id` field) it is
also looked up in the database (within a recent window), for retries reaching another worker or a
restarted one. The memory is keyed by the digest, not the `id`, because a template with a constant
`id` and no time would otherwise map every later alert onto the first one and lose them.
"""

from __future__ import annotations

from collections import OrderedDict
from datetime import datetime, timedelta

from sqlalchemy import Engine, select

from mdtool.records import Tick
from mdtool.storage.engine import database_errors
from mdtool.storage.schema import ticks

LOOKUP_WINDOW = timedelta(days=1)


class ReceiptTimes:
    """A bounded least-recently-used map from an alert's identity to its first receipt time."""

    def __init__(self, capacity: int = 100_000) -> None:
        self.capacity = capacity
        self._times: OrderedDict[str, datetime] = OrderedDict()

    def claim(self, key: str, received_at: datetime) -> tuple[datetime, bool]:
        """The remembered time of `key`, or `received_at` now remembered; True when it was new."""
        known = self._times.get(key)
        if known is not None:
            self._times.move_to_end(key)
            return known, False
        self._times[key] = received_at
        if len(self._times) > self.capacity:
            self._times.popitem(last=False)
        return received_at, True

    def remember(self, key: str, moment: datetime) -> None:
        """Replace the time of `key` (with the one found stored in the database)."""
        self._times[key] = moment


def stored_receipt_time(engine: Engine, tick: Tick, received_at: datetime) -> datetime | None:
    """Timestamp of an already stored tick with the identity of `tick` within `LOOKUP_WINDOW`."""
    query = (
        select(ticks.c.timestamp)
        .where(
            ticks.c.exchange == tick.exchange,
            ticks.c.symbol == tick.symbol,
            ticks.c.source == tick.source,
            ticks.c.trade_id == tick.trade_id,
            ticks.c.timestamp >= received_at - LOOKUP_WINDOW,
            ticks.c.timestamp <= received_at,
        )
        .order_by(ticks.c.timestamp)
        .limit(1)
    )
    with database_errors("cannot look up an earlier delivery"), engine.connect() as conn:
        found: datetime | None = conn.execute(query).scalar()
    return found
