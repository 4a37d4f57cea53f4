"""The instruments the fake knows, matching a request's contract block, and contract details."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from tests.fakes.ib_gateway.wire import encode, error

NO_SECDEF_TEXT = "No security definition has been found for the request"


@dataclass(frozen=True)
class FakeContract:
    """One instrument the fake gateway knows."""

    con_id: int
    symbol: str
    sec_type: str = "STK"
    primary_exchange: str = "NASDAQ"
    currency: str = "USD"
    exchanges: tuple[str, ...] = ("SMART", "NASDAQ")
    expiry: str = ""
    local_symbol: str = ""
    trading_class: str = ""
    multiplier: str = ""
    long_name: str = ""
    base_price: Decimal = Decimal("100")


def lookup(contracts: Sequence[FakeContract], c: list[str]) -> list[FakeContract]:
    """Contracts matching a contract12 field list (conId, symbol, secType, expiry, ... currency)."""
    con_id, symbol, sec_type, expiry, exchange, currency, local = (
        int(c[0] or 0), c[1].upper(), c[2], c[3], c[7], c[9], c[10]
    )  # fmt: skip
    if con_id:
        return [k for k in contracts if k.con_id == con_id]
    if not symbol and not local:
        return []  # IB needs at least a symbol or a local symbol
    return [
        k
        for k in contracts
        if (not symbol or k.symbol == symbol)
        and (not local or k.local_symbol == local)
        and (not sec_type or k.sec_type == sec_type)
        and (not currency or k.currency == currency)
        and (not exchange or exchange in k.exchanges)
        and (not expiry or k.expiry.startswith(expiry))
    ]


def contract_details(contracts: Sequence[FakeContract], fields: list[str]) -> list[bytes]:
    """The answer to reqContractDetails: every match then the end message, or error 200."""
    req_id = fields[2]
    found = lookup(contracts, fields[3:15])
    if not found:
        return [error(req_id, 200, NO_SECDEF_TEXT)]
    requested_exchange = fields[10]
    frames = []
    for k in found:
        exchange = requested_exchange if requested_exchange in k.exchanges else k.exchanges[0]
        frames.append(
            encode(
                10, req_id, k.symbol, k.sec_type, k.expiry, 0, "", exchange, k.currency,
                k.local_symbol or k.symbol, k.trading_class or k.symbol, k.trading_class or k.symbol,
                k.con_id, "0.01", k.multiplier, "LMT,MKT", ",".join(k.exchanges), 1, 0,
                k.long_name or k.symbol, k.primary_exchange, k.expiry[:6], "", "", "", "US/Eastern",
                "", "", "", "", 0, "", "", "", "26", k.expiry, "COMMON", "1", "1", "100",
            )
        )  # fmt: skip
    frames.append(encode(52, 1, req_id))
    return frames
