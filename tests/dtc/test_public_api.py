"""`mdtool.dtc` declares its surface (as httpx does): exactly these names, each importable."""

from __future__ import annotations

import mdtool.dtc

EXPECTED = {
    "Clock",
    "ConnectionClosed",
    "Decoder",
    "DtcServer",
    "LocalProtocolError",
    "ProtocolConfig",
    "RemoteProtocolError",
    "RequestReceived",
    "SUPPORTED_ENCODINGS",
    "ServerConfig",
    "ServerProtocol",
    "ServerStats",
    "Unsubscribed",
    "decode_binary",
    "encode",
    "encode_batch",
    "messages",
    "serve",
}


def test_all_lists_the_public_names() -> None:
    assert set(mdtool.dtc.__all__) == EXPECTED
    assert len(mdtool.dtc.__all__) == len(EXPECTED)


def test_every_exported_name_exists() -> None:
    for name in mdtool.dtc.__all__:
        assert getattr(mdtool.dtc, name) is not None, name


def test_star_import_gives_exactly_the_surface() -> None:
    namespace: dict[str, object] = {}
    exec("from mdtool.dtc import *", namespace)
    assert set(namespace) - {"__builtins__"} == EXPECTED


def test_public_names_are_documented() -> None:
    for name in mdtool.dtc.__all__:
        value = getattr(mdtool.dtc, name)
        if callable(value) and not isinstance(value, type(mdtool.dtc)):
            assert value.__doc__, f"{name} has no docstring"


def test_messages_module_declares_every_message_class() -> None:
    messages = mdtool.dtc.messages
    for cls in messages.MESSAGE_CLASSES:
        assert cls.__name__ in messages.__all__
