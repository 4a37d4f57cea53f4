"""The server's answers that carry content: built from stored facts, without I/O."""

from __future__ import annotations

from datetime import datetime

from mdtool.dtc import messages as m
from mdtool.dtc.feed import Series, SessionSummary

# Tells the client how to split "BTCUSDT-binance" into Symbol and Exchange.
SYMBOL_EXCHANGE_DELIMITER = "-"


def logon_accepted(server_name: str) -> m.LogonResponse:
    """What mdtool offers: market data, security definitions and history; no trading, no depth."""
    return m.LogonResponse(
        Result=m.LOGON_SUCCESS,
        ResultText="logged on to mdtool",
        ServerName=server_name,
        OrderCancelReplaceSupported=0,
        SymbolExchangeDelimiter=SYMBOL_EXCHANGE_DELIMITER,
        SecurityDefinitionsSupported=1,
        HistoricalPriceDataSupported=1,
        MarketDepthIsSupported=0,
        MarketDataSupported=1,
    )


def security_definition(request_id: int, series: Series, places: int) -> m.SecurityDefinitionResponse:
    """The tick size is inferred from the stored prices' decimal places; nothing else is known."""
    exchange, symbol = series
    increment = 10.0**-places
    return m.SecurityDefinitionResponse(
        RequestID=request_id,
        Symbol=symbol,
        Exchange=exchange,
        Description=f"{symbol} on {exchange} (stored by mdtool)",
        MinPriceIncrement=increment,
        PriceDisplayFormat=places,
        CurrencyValuePerIncrement=increment,
        IsFinalMessage=1,
        HasMarketDepthData=0,
        ExchangeSymbol=symbol,
    )


def snapshot(symbol_id: int, summary: SessionSummary, session_start: datetime) -> m.MarketDataSnapshot:
    """Unknown values stay at the protocol's unset maxima rather than a misleading 0."""

    def price(value: float | None) -> float:
        return m.DBL_MAX if value is None else value

    quote = summary.quote
    return m.MarketDataSnapshot(
        SymbolID=symbol_id,
        SessionOpenPrice=price(summary.open),
        SessionHighPrice=price(summary.high),
        SessionLowPrice=price(summary.low),
        SessionVolume=price(summary.volume),
        SessionNumTrades=m.UINT_MAX if summary.trades is None else min(summary.trades, m.UINT_MAX - 1),
        LastTradePrice=price(summary.last_price),
        LastTradeVolume=price(summary.last_size),
        LastTradeDateTime=summary.last_time.timestamp() if summary.last_time else 0.0,
        TradingSessionDate=int(session_start.timestamp()),
        BidPrice=price(quote.bid) if quote else m.DBL_MAX,
        BidQuantity=price(quote.bid_size) if quote else m.DBL_MAX,
        AskPrice=price(quote.ask) if quote else m.DBL_MAX,
        AskQuantity=price(quote.ask_size) if quote else m.DBL_MAX,
        BidAskDateTime=quote.time.timestamp() if quote else 0.0,
    )
