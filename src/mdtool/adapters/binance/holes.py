"""Between the gap filler and the hole ledger (the database): what is recorded, retried, marked filled.

The adapter knows no SQL: it is given a `HoleLedger`. A hole is recorded under the time of the last trade
delivered before it (or of the first after it when nothing before is known), which is also how a
recorded hole is found again, so recording the same hole twice updates one row.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from mdtool.adapters.binance.parse import EXCHANGE
from mdtool.adapters.binance.sequence import Hole
from mdtool.errors import MdtoolError
from mdtool.sources import HoleLedger, StreamHole, StreamStatus

if TYPE_CHECKING:
    from collections.abc import Sequence

log = logging.getLogger(__name__)

SOURCE = "trade"


class HoleBook:
    """Records unfillable holes, loads recorded ones for a retry, marks them filled; never raises."""

    def __init__(self, ledger: HoleLedger | None, status: StreamStatus) -> None:
        self.ledger = ledger
        self.status = status

    def record(
        self,
        symbol: str,
        first: int | None,
        last: int | None,
        before: datetime | None,
        after: datetime | None,
        reason: str,
    ) -> None:
        """Log and record trades `first..last` that will not be filled now."""
        log.warning(
            "%s: trades %s..%s cannot be filled now (%s); recorded for a later retry",
            symbol,
            first,
            last,
            reason,
        )
        with self.status.lock:
            self.status.holes_recorded += 1
        if self.ledger is None:
            return
        start = before or after or datetime.now(UTC)
        try:
            self.ledger.record(
                StreamHole(EXCHANGE, symbol, SOURCE, start, after or start, first, last, reason)
            )
        except MdtoolError as exc:
            log.error("%s: cannot record the hole %s..%s: %s", symbol, first, last, exc)

    def filled(self, hole: Hole) -> None:
        """A hole loaded from the ledger was filled completely."""
        if self.ledger is None or hole.before is None or hole.last_id is None:
            return
        row = StreamHole(
            EXCHANGE,
            hole.symbol,
            SOURCE,
            hole.before,
            hole.after or hole.before,
            hole.first_id,
            hole.last_id,
            "",
        )
        try:
            self.ledger.filled(row)
        except MdtoolError as exc:
            log.error(
                "%s: cannot mark the hole %d..%d filled: %s", hole.symbol, hole.first_id, hole.last_id, exc
            )

    def recorded(self, symbols: Sequence[str]) -> list[Hole]:
        """Holes earlier runs recorded for `symbols`, as holes to fill again."""
        if self.ledger is None:
            return []
        try:
            rows = self.ledger.unfilled(EXCHANGE, SOURCE, symbols)
        except MdtoolError as exc:
            log.warning("cannot read recorded stream holes (%s); they are retried next time", exc)
            return []
        holes = []
        for row in rows:
            if row.first_trade_id is None or row.last_trade_id is None:
                continue
            hole = Hole(row.symbol, row.first_trade_id, row.last_trade_id, row.start_time, row.end_time)
            hole.recorded = True
            holes.append(hole)
        if holes:
            log.info("Binance stream: retrying %d recorded holes", len(holes))
        return holes
