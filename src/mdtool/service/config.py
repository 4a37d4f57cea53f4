"""The `mdtool run` configuration file: TOML read with the standard library, validated into frozen jobs.

Every problem is one `ConfigError` naming the file, the line (where it can be found) and the key, so
`mdtool run --check` and a refused SIGHUP reload both say exactly what to fix. Nothing here starts
anything: the result is plain data that the supervisor compares across reloads.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from mdtool.durations import parse_duration
from mdtool.errors import ConfigError, UsageError
from mdtool.intervals import validate_interval
from mdtool.selection import Selection
from mdtool.service.locate import KeyLocator
from mdtool.timestamps import parse_user_time

VENUES = ("binance", "ibkr")
DEFAULT_METRICS_LISTEN = "127.0.0.1:9464"
_IBKR_KEYS = ("sec_type", "exchange", "currency", "expiry")


@dataclass(frozen=True)
class IbkrContract:
    """The ibkr contract options of `mdtool stream`/`backfill` (ignored for binance)."""

    sec_type: str = "STK"
    exchange: str = "SMART"
    currency: str = "USD"
    expiry: str | None = None
    what_to_show: str | None = None
    use_rth: bool = True


@dataclass(frozen=True)
class StreamJobConfig:
    """One `[[stream]]`: a venue and a symbol selection, streamed by the same driver as `mdtool stream`."""

    name: str
    venue: str
    selection: Selection
    contract: IbkrContract = IbkrContract()
    bid_ask: bool = False


@dataclass(frozen=True)
class BackfillJobConfig:
    """One `[[backfill]]`: series to keep complete, re-run every `every` seconds (jittered)."""

    name: str
    venue: str
    symbols: tuple[str, ...]
    intervals: tuple[str, ...]
    since: datetime
    every: float
    jitter: float = 0.1
    contract: IbkrContract = IbkrContract()


@dataclass(frozen=True)
class ListenConfig:
    """A `HOST:PORT` to serve on, with the optional credentials of the DTC section."""

    host: str
    port: int
    username: str | None = None
    password: str | None = None


@dataclass(frozen=True)
class ServiceConfig:
    """A whole validated file."""

    path: Path
    streams: tuple[StreamJobConfig, ...] = ()
    backfills: tuple[BackfillJobConfig, ...] = ()
    webhook: ListenConfig | None = None
    dtc: ListenConfig | None = None
    metrics: ListenConfig | None = field(default=None)


def load_config(path: Path) -> ServiceConfig:
    """Read and validate `path`; `ConfigError` with file, line and key on the first problem."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigError(f"{path}: cannot read the configuration: {error.strerror or error}") from None
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: not valid TOML: {error}") from None
    return _Parser(path, KeyLocator(text)).parse(document)


class _Parser:
    """Walks the document keeping where it is, so each error can say which line and key is wrong."""

    def __init__(self, path: Path, locator: KeyLocator) -> None:
        self._path = path
        self._locator = locator

    def fail(self, table: str, index: int | None, key: str | None, problem: str) -> ConfigError:
        line = self._locator.line(table, index, key)
        where = f"{self._path}:{line}" if line else str(self._path)
        name = f"{table}[{index + 1}]" if index is not None else table
        if key:
            name = f"{name}.{key}"
        return ConfigError(f"{where}: {name}: {problem}")

    def parse(self, document: Mapping[str, Any]) -> ServiceConfig:
        unknown = sorted(set(document) - {"stream", "backfill", "webhook", "dtc", "metrics"})
        if unknown:
            raise self.fail(unknown[0], None, None, "unknown section (expected [[stream]], [[backfill]], "
                            "[webhook], [dtc] or [metrics])")  # fmt: skip
        streams = tuple(self._stream(i, t) for i, t in enumerate(self._array(document, "stream")))
        backfills = tuple(self._backfill(i, t) for i, t in enumerate(self._array(document, "backfill")))
        self._unique_names("stream", [job.name for job in streams])
        self._unique_names("backfill", [job.name for job in backfills])
        metrics = self._listen(document, "metrics", ("listen",), DEFAULT_METRICS_LISTEN)
        webhook = self._listen(document, "webhook", ("listen",), None)
        dtc = self._listen(document, "dtc", ("listen", "username", "password"), None)
        if not streams and not backfills and webhook is None and dtc is None:
            raise ConfigError(
                f"{self._path}: nothing to run: add a [[stream]], [[backfill]], [webhook] or [dtc] section"
            )
        return ServiceConfig(self._path, streams, backfills, webhook, dtc, metrics)

    def _array(self, document: Mapping[str, Any], name: str) -> list[dict[str, Any]]:
        value = document.get(name, [])
        if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
            raise self.fail(name, None, None, f"must be written [[{name}]] (an array of tables)")
        return value

    def _unique_names(self, table: str, names: list[str]) -> None:
        for index, name in enumerate(names):
            if name in names[:index]:
                raise self.fail(table, index, "name", f"two [[{table}]] jobs are both named {name!r}; "
                                "give each a distinct name = \"...\"")  # fmt: skip

    def _check_keys(self, table: str, index: int, item: Mapping[str, Any], allowed: tuple[str, ...]) -> None:
        for key in item:
            if key not in allowed:
                raise self.fail(table, index, key, f"unknown key (allowed: {', '.join(allowed)})")

    def _venue(self, table: str, index: int, item: Mapping[str, Any]) -> str:
        venue = item.get("venue")
        if venue not in VENUES:
            raise self.fail(table, index, "venue", f"must be one of {', '.join(VENUES)}, got {venue!r}")
        return str(venue)

    def _strings(self, table: str, index: int, item: Mapping[str, Any], key: str) -> tuple[str, ...]:
        value = item.get(key, [])
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
            raise self.fail(table, index, key, "must be a list of non-empty strings")
        return tuple(dict.fromkeys(v.strip().upper() for v in value))

    def _stream(self, index: int, item: Mapping[str, Any]) -> StreamJobConfig:
        allowed = ("venue", "name", "symbols", "all", "quote", "patterns", "shard", "bid_ask", *_IBKR_KEYS)
        self._check_keys("stream", index, item, allowed)
        venue = self._venue("stream", index, item)
        symbols = self._strings("stream", index, item, "symbols")
        patterns = self._strings("stream", index, item, "patterns")
        every_listed = self._bool("stream", index, item, "all", False)
        quote, shard = item.get("quote"), item.get("shard")
        for key, value in (("quote", quote), ("shard", shard)):
            if value is not None and not isinstance(value, str):
                raise self.fail("stream", index, key, "must be a string")
        try:
            selection = Selection.from_arguments(
                [*symbols, *patterns], every_listed=every_listed, quote=quote, shard=shard
            )
        except UsageError as error:
            key = "shard" if shard is not None and "shard" in str(error) else "symbols"
            raise self.fail("stream", index, key, str(error).replace("--", "")) from None
        if venue == "ibkr" and selection.selects_from_listing:
            raise self.fail("stream", index, "symbols", "ibkr streams need explicit symbols "
                            "(all, quote and patterns select from the Binance listing)")  # fmt: skip
        name = self._name("stream", index, item, venue)
        contract = self._contract("stream", index, item)
        return StreamJobConfig(name, venue, selection, contract, self._bool("stream", index, item, "bid_ask"))

    def _backfill(self, index: int, item: Mapping[str, Any]) -> BackfillJobConfig:
        allowed = ("venue", "name", "symbols", "intervals", "since", "every", "jitter",
                   *_IBKR_KEYS, "what_to_show", "rth")  # fmt: skip
        self._check_keys("backfill", index, item, allowed)
        venue = self._venue("backfill", index, item)
        symbols = self._strings("backfill", index, item, "symbols")
        if not symbols:
            raise self.fail("backfill", index, "symbols", "name at least one symbol")
        try:
            intervals = tuple(validate_interval(interval) for interval in self._raw_strings(index, item))
        except UsageError as error:
            raise self.fail("backfill", index, "intervals", str(error)) from None
        since = self._since(index, item)
        try:
            every = parse_duration(item.get("every", "5m"))
            jitter = float(item.get("jitter", 0.1))
        except (TypeError, ValueError) as error:
            key = "jitter" if "every" not in item or _is_duration(item["every"]) else "every"
            raise self.fail("backfill", index, key, str(error)) from None
        if not 0 <= jitter <= 0.5:
            raise self.fail("backfill", index, "jitter", "must be between 0 and 0.5 (a share of every)")
        shown = ",".join(symbols) if len(symbols) <= 3 else f"{symbols[0]}+{len(symbols) - 1}"
        default_name = f"{venue}:{shown}:{','.join(intervals)}"  # a metrics label: kept short
        return BackfillJobConfig(
            name=self._name("backfill", index, item, default_name),
            venue=venue,
            symbols=symbols,
            intervals=intervals,
            since=since,
            every=every,
            jitter=jitter,
            contract=self._contract("backfill", index, item),
        )

    def _raw_strings(self, index: int, item: Mapping[str, Any]) -> tuple[str, ...]:
        value = item.get("intervals", [])
        if isinstance(value, str):
            value = [value]
        if not value or not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self.fail("backfill", index, "intervals", 'must be a list of intervals, e.g. ["1m", "1h"]')
        return tuple(v.strip() for v in value)

    def _since(self, index: int, item: Mapping[str, Any]) -> datetime:
        value = item.get("since")
        if isinstance(value, datetime):
            return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        if isinstance(value, date):
            return datetime(value.year, value.month, value.day, tzinfo=UTC)
        if not isinstance(value, str):
            raise self.fail("backfill", index, "since", "required: the first bar to keep, e.g. 2024-01-01")
        try:
            return parse_user_time(value, "since")
        except UsageError as error:
            raise self.fail("backfill", index, "since", str(error)) from None

    def _name(self, table: str, index: int, item: Mapping[str, Any], default: str) -> str:
        name = item.get("name", default)
        if not isinstance(name, str) or not name.strip():
            raise self.fail(table, index, "name", "must be a non-empty string")
        return name.strip()

    def _bool(self, table: str, index: int, item: Mapping[str, Any], key: str, default: bool = False) -> bool:
        value = item.get(key, default)
        if not isinstance(value, bool):
            raise self.fail(table, index, key, "must be true or false")
        return value

    def _contract(self, table: str, index: int, item: Mapping[str, Any]) -> IbkrContract:
        for key in (*_IBKR_KEYS, "what_to_show"):
            if key in item and not isinstance(item[key], str):
                raise self.fail(table, index, key, "must be a string")
        return IbkrContract(
            sec_type=str(item.get("sec_type", "STK")).upper(),
            exchange=str(item.get("exchange", "SMART")),
            currency=str(item.get("currency", "USD")),
            expiry=item.get("expiry"),
            what_to_show=item.get("what_to_show"),
            use_rth=self._bool(table, index, item, "rth", True),
        )

    def _listen(
        self, document: Mapping[str, Any], section: str, allowed: tuple[str, ...], default: str | None
    ) -> ListenConfig | None:
        table = document.get(section)
        if table is None:
            return None if default is None else ListenConfig(*parse_listen(default))
        if not isinstance(table, dict):
            raise self.fail(section, None, None, f"must be a table: [{section}]")
        for key in table:
            if key not in allowed:
                raise self.fail(section, None, key, f"unknown key (allowed: {', '.join(allowed)})")
        listen = table.get("listen", default or _DEFAULT_LISTEN[section])
        for key in allowed:
            if key in table and not isinstance(table[key], str):
                raise self.fail(section, None, key, "must be a string")
        try:
            host, port = parse_listen(listen)
        except UsageError as error:
            raise self.fail(section, None, "listen", str(error).replace("--listen", "listen")) from None
        if ("username" in table) != ("password" in table):
            raise self.fail(section, None, "password", "username and password go together")
        return ListenConfig(host, port, table.get("username"), table.get("password"))


def parse_listen(listen: str) -> tuple[str, int]:
    """`HOST:PORT` (IPv6 as `[::1]:PORT`) to a host and port; `UsageError` naming the problem."""
    host, sep, port_text = listen.strip().rpartition(":")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if not sep or not host or any(ch.isspace() for ch in host):
        raise UsageError(f"listen must be HOST:PORT, e.g. {DEFAULT_METRICS_LISTEN}; got {listen!r}")
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise UsageError(f"listen port must be 1-65535, got {port_text!r}")
    return host, int(port_text)


_DEFAULT_LISTEN = {"webhook": "127.0.0.1:8000", "dtc": "127.0.0.1:11099", "metrics": DEFAULT_METRICS_LISTEN}


def _is_duration(value: object) -> bool:
    try:
        parse_duration(value)
    except ValueError:
        return False
    return True
