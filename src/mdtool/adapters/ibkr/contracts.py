"""Contracts: from the command line's options to one contract IB has qualified.

Qualification goes through reqContractDetails rather than ib_async's `qualifyContracts`, because the
latter hides IB's reason (it logs it and returns `None` placeholders in 2.x); here an unknown contract is a
`UsageError` carrying IB's own message and an ambiguous one lists the candidates, so the user knows which
option to add.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from ib_async import IB, Contract, RequestError

from mdtool.errors import ExchangeError, UsageError

SEC_TYPES = ("STK", "FUT", "CASH", "IND")
UNKNOWN_CONTRACT = 200


@dataclass(frozen=True)
class ContractSpec:
    """Everything but the symbol that picks an IB contract and its historical data."""

    sec_type: str = "STK"
    exchange: str = "SMART"
    currency: str = "USD"
    expiry: str | None = None
    what_to_show: str | None = None
    use_rth: bool = True

    def __post_init__(self) -> None:
        if self.sec_type.upper() not in SEC_TYPES:
            raise UsageError(f"--sec-type must be one of {', '.join(SEC_TYPES)}, not {self.sec_type!r}")

    @property
    def bar_data(self) -> str:
        """whatToShow for bars: forex has no trades, so it defaults to MIDPOINT."""
        if self.what_to_show:
            return self.what_to_show.upper()
        return "MIDPOINT" if self.sec_type.upper() == "CASH" else "TRADES"


def build_contract(symbol: str, spec: ContractSpec) -> Contract:
    """The unqualified contract for `symbol`; forex accepts `EURUSD`, `EUR.USD` or `EUR/USD`."""
    sec_type = spec.sec_type.upper()
    symbol = symbol.strip().upper()
    currency = spec.currency.upper()
    exchange = spec.exchange.upper()
    if sec_type == "CASH":
        pair = symbol.replace(".", "").replace("/", "")
        if len(pair) == 6 and pair.isalpha():
            symbol, currency = pair[:3], pair[3:]
        if exchange == "SMART":
            exchange = "IDEALPRO"
    return Contract(
        secType=sec_type,
        symbol=symbol,
        exchange=exchange,
        currency=currency,
        lastTradeDateOrContractMonth=spec.expiry or "",
    )


def describe(contract: Contract) -> str:
    parts = [contract.symbol, contract.secType, contract.exchange, contract.currency]
    if contract.lastTradeDateOrContractMonth:
        parts.append(contract.lastTradeDateOrContractMonth)
    return " ".join(p for p in parts if p)


def storage_symbol(contract: Contract) -> str:
    """The `symbol` column value: IB's local symbol (`AAPL`, `EUR.USD`, `ESH6`), unique per contract."""
    if contract.localSymbol:
        return str(contract.localSymbol)
    if contract.secType == "CASH":
        return f"{contract.symbol}.{contract.currency}"
    return str(contract.symbol)


async def qualify(ib: IB, contract: Contract, timeout: float) -> Contract:
    """The single contract IB knows for `contract`; `ib` must have `RaiseRequestErrors` set."""
    try:
        details = await asyncio.wait_for(ib.reqContractDetailsAsync(contract), timeout)
    except RequestError as error:
        if error.code == UNKNOWN_CONTRACT:
            raise UsageError(f"IB does not know {describe(contract)}: {error.message}") from None
        raise ExchangeError(f"IB error {error.code} for {describe(contract)}: {error.message}") from None
    except TimeoutError:
        raise ExchangeError(
            f"IB sent no contract details for {describe(contract)} in {timeout:.0f} s"
        ) from None
    if not details:
        raise UsageError(f"IB does not know {describe(contract)}: no contract details returned")
    if len(details) > 1:
        candidates = "; ".join(describe_details(d.contract) for d in details[:10] if d.contract)
        raise UsageError(
            f"{describe(contract)} is ambiguous ({len(details)} contracts): {candidates}; "
            "narrow it with --exchange, --currency or --expiry"
        )
    qualified = details[0].contract
    if qualified is None:
        raise ExchangeError(f"IB sent contract details without a contract for {describe(contract)}")
    return qualified


def describe_details(contract: Contract) -> str:
    where = contract.primaryExchange or contract.exchange
    return (
        f"{storage_symbol(contract)} {contract.secType} {where} {contract.currency} (conId {contract.conId})"
    )


QUALIFY_CONCURRENCY = 8


async def qualify_all(ib: IB, contracts: list[Contract], timeout: float) -> list[Contract]:
    """Qualify many contracts, a few at a time, before anything is subscribed.

    At most `QUALIFY_CONCURRENCY` lookups are in flight, and ib_async's client throttle (45 messages/s)
    keeps the rate under IB's 50 messages/s. Every unknown or ambiguous symbol is collected, so one
    usage error lists them all instead of the first.
    """
    gate = asyncio.Semaphore(QUALIFY_CONCURRENCY)

    async def one(contract: Contract) -> Contract | UsageError:
        async with gate:
            try:
                return await qualify(ib, contract, timeout)
            except UsageError as error:
                return error

    results = await asyncio.gather(*(one(c) for c in contracts))
    refused = [r for r in results if isinstance(r, UsageError)]
    if len(refused) == 1:
        raise refused[0]
    if refused:
        raise UsageError(f"{len(refused)} symbols refused: " + "; ".join(str(r) for r in refused))
    return [r for r in results if isinstance(r, Contract)]
