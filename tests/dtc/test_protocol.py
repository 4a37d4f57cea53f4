"""The sans-I/O server protocol, driven without sockets: bytes and a fake clock in, bytes out."""

from __future__ import annotations

import pytest

from mdtool.dtc import messages as m
from mdtool.dtc.codec import Decoder, encode
from mdtool.dtc.protocol import (
    ConnectionClosed,
    ProtocolConfig,
    RequestReceived,
    ServerProtocol,
    Unsubscribed,
)

SERIES = ("binance", "BTCUSDT")


class FakeClock:
    """Time moves only when the test says so."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.wall = 1_700_000_000.0

    def monotonic(self) -> float:
        return self.now

    def time(self) -> float:
        return self.wall

    def advance(self, seconds: float) -> None:
        self.now += seconds
        self.wall += seconds


def replies(protocol: ServerProtocol, encoding: int | None = None) -> list[m.Message]:
    decoder = Decoder(protocol.encoding if encoding is None else encoding)
    decoder.feed(protocol.data_to_send())
    return list(decoder)


def logged_on(clock: FakeClock, heartbeat: int = 10, **config: str) -> ServerProtocol:
    protocol = ServerProtocol(ProtocolConfig(**config), clock)  # type: ignore[arg-type]
    protocol.receive_data(encode(m.LogonRequest(HeartbeatIntervalInSeconds=heartbeat), m.BINARY_ENCODING))
    assert replies(protocol)[0].Result == m.LOGON_SUCCESS  # type: ignore[union-attr]
    return protocol


def test_encoding_response_is_sent_in_the_old_encoding_then_the_session_switches() -> None:
    protocol = ServerProtocol(ProtocolConfig(), FakeClock())
    events = protocol.receive_data(encode(m.EncodingRequest(Encoding=m.JSON_ENCODING), m.BINARY_ENCODING))
    assert events == []
    assert replies(protocol, m.BINARY_ENCODING) == [m.EncodingResponse(Encoding=m.JSON_ENCODING)]
    assert protocol.encoding == m.JSON_ENCODING
    protocol.receive_data(b'{"Type":1,"HeartbeatIntervalInSeconds":5}\0')
    (logon,) = replies(protocol)
    assert isinstance(logon, m.LogonResponse)
    assert logon.Result == m.LOGON_SUCCESS


def test_unsupported_encoding_keeps_binary() -> None:
    protocol = ServerProtocol(ProtocolConfig(), FakeClock())
    protocol.receive_data(encode(m.EncodingRequest(Encoding=m.PROTOCOL_BUFFERS), m.BINARY_ENCODING))
    assert replies(protocol) == [m.EncodingResponse(Encoding=m.BINARY_ENCODING)]


def test_json_first_message_without_encoding_request() -> None:
    protocol = ServerProtocol(ProtocolConfig(), FakeClock())
    protocol.receive_data(b'{"Type":1,"HeartbeatIntervalInSeconds":5}\0')
    assert protocol.encoding == m.JSON_ENCODING
    assert isinstance(replies(protocol)[0], m.LogonResponse)


def test_wrong_password_is_refused_and_closes() -> None:
    protocol = ServerProtocol(ProtocolConfig("alice", "secret"), FakeClock())
    protocol.receive_data(encode(m.LogonRequest(Username="alice", Password="nope"), m.BINARY_ENCODING))
    (reply,) = replies(protocol)
    assert isinstance(reply, m.LogonResponse)
    assert reply.Result == m.LOGON_ERROR_NO_RECONNECT
    assert protocol.closed
    assert "logon refused" in protocol.close_reason


def test_requests_before_logon_are_rejected_when_credentials_are_required() -> None:
    protocol = ServerProtocol(ProtocolConfig("alice", "secret"), FakeClock())
    request = m.MarketDataRequest(SymbolID=3, Symbol="BTCUSDT", Exchange="binance")
    history = m.HistoricalPriceDataRequest(RequestID=4, Symbol="BTCUSDT")
    definition = m.SecurityDefinitionForSymbolRequest(RequestID=5, Symbol="BTCUSDT")
    data = b"".join(encode(r, m.BINARY_ENCODING) for r in (request, history, definition))
    assert protocol.receive_data(data) == []
    texts = [getattr(r, "RejectText", "") for r in replies(protocol)]
    assert texts == ["not logged on"] * 3


def test_open_server_passes_requests_on_without_logon() -> None:
    protocol = ServerProtocol(ProtocolConfig(), FakeClock())
    request = m.HistoricalPriceDataRequest(RequestID=4, Symbol="BTCUSDT", RecordInterval=60)
    assert protocol.receive_data(encode(request, m.BINARY_ENCODING)) == [RequestReceived(request)]


def test_heartbeats_follow_the_client_interval_on_the_injected_clock() -> None:
    clock = FakeClock()
    protocol = logged_on(clock, heartbeat=5)
    assert protocol.next_timer() == clock.now + 5
    clock.advance(4.9)
    protocol.tick()
    assert replies(protocol) == []
    clock.advance(0.1)
    protocol.receive_data(encode(m.Heartbeat(), m.BINARY_ENCODING))  # the client is alive
    protocol.tick()
    assert replies(protocol) == [m.Heartbeat(CurrentDateTime=int(clock.wall))]
    assert protocol.next_timer() == clock.now + 5


def test_silence_past_two_intervals_ends_the_session_with_a_reconnectable_logoff() -> None:
    clock = FakeClock()
    protocol = logged_on(clock, heartbeat=2)
    clock.advance(4.4)
    assert protocol.tick() == []
    protocol.data_to_send()
    clock.advance(0.2)
    (closed,) = protocol.tick()
    assert isinstance(closed, ConnectionClosed)
    (logoff,) = replies(protocol)
    assert isinstance(logoff, m.Logoff)
    assert "heartbeat timeout" in logoff.Reason
    assert logoff.DoNotReconnect == 0


def test_no_heartbeat_interval_means_no_timers_after_logon() -> None:
    protocol = logged_on(FakeClock(), heartbeat=0)
    assert protocol.next_timer() is None


def test_logon_timeout_before_logon() -> None:
    clock = FakeClock()
    protocol = ServerProtocol(ProtocolConfig(logon_timeout=3.0), clock)
    assert protocol.next_timer() == clock.now + 3.0
    clock.advance(3.0)
    assert isinstance(protocol.tick()[0], ConnectionClosed)


def test_the_peers_protocol_error_gets_a_do_not_reconnect_logoff() -> None:
    protocol = logged_on(FakeClock())
    (closed,) = protocol.receive_data(b"\x03\x00\x03\x00")  # Size 3: below the header
    assert isinstance(closed, ConnectionClosed)
    (logoff,) = replies(protocol)
    assert isinstance(logoff, m.Logoff)
    assert "Size 3" in logoff.Reason
    assert logoff.DoNotReconnect == 1


def test_frame_cut_off_at_end_of_stream_is_the_peers_error() -> None:
    protocol = logged_on(FakeClock())
    protocol.receive_data(encode(m.Heartbeat(), m.BINARY_ENCODING)[:7])
    protocol.receive_data(b"")
    (logoff,) = replies(protocol)
    assert "middle of a DTC message" in logoff.Reason  # type: ignore[union-attr]


def test_symbol_id_rules() -> None:
    protocol = logged_on(FakeClock())
    assert protocol.subscribe(1, SERIES) is None
    assert protocol.subscribe(1, SERIES) is None  # the same again: a new snapshot, not a clash
    assert "already subscribed as SymbolID 1" in (protocol.subscribe(2, SERIES) or "")
    assert "already used" in (protocol.subscribe(1, ("binance", "ETHUSDT")) or "")
    unsubscribe = m.MarketDataRequest(RequestAction=m.UNSUBSCRIBE, SymbolID=1)
    assert protocol.receive_data(encode(unsubscribe, m.BINARY_ENCODING)) == [Unsubscribed(1, SERIES)]
    assert protocol.subscribe(2, SERIES) is None


@pytest.mark.parametrize("action", [0, 5, 99])
def test_unknown_request_action_is_rejected(action: int) -> None:
    protocol = logged_on(FakeClock())
    request = m.MarketDataRequest(RequestAction=action, SymbolID=4, Symbol="X")
    assert protocol.receive_data(encode(request, m.BINARY_ENCODING)) == []
    (reject,) = replies(protocol)
    assert isinstance(reject, m.MarketDataReject)
    assert "RequestAction" in reject.RejectText


def test_nothing_is_written_into_a_zlib_stream_and_the_connection_ends_with_it() -> None:
    clock = FakeClock()
    protocol = logged_on(clock, heartbeat=1)
    protocol.start_compressed()
    clock.advance(1.0)
    protocol.tick()
    protocol.send(m.MarketDataReject(SymbolID=1))
    assert protocol.data_to_send() == b""
    closed = protocol.end_compressed()
    assert protocol.closed
    assert closed.reason == "compressed history sent"


def test_logoff_by_client_closes_and_by_server_says_why() -> None:
    protocol = logged_on(FakeClock())
    (closed,) = protocol.receive_data(encode(m.Logoff(Reason="bye"), m.BINARY_ENCODING))
    assert closed == ConnectionClosed("client logged off: bye")
    other = logged_on(FakeClock())
    other.logoff("server shutting down")
    assert replies(other) == [m.Logoff(Reason="server shutting down")]
    assert other.closed


def test_counts_messages_it_queues() -> None:
    protocol = logged_on(FakeClock())
    before = protocol.messages_out
    protocol.send(m.Heartbeat())
    assert protocol.messages_out == before + 1
