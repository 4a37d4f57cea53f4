"""The error hierarchy users see.

Every failure a user can cause or meet is an `MdtoolError` carrying a one-line message and an exit code;
the CLI edge catches them and prints `error: <message>`, so library code raises and never prints or
exits. The exit-code contract is in docs/architecture.md ("Command line and exit codes")::

    MdtoolError                      exit 1  runtime failure: retrying later may succeed
    ├── UsageError                   exit 2  the command itself is wrong (argument, symbol, interval)
    │   └── ConfigError              exit 2  a malformed environment variable or .env value
    ├── DatabaseError                exit 1  unreachable database or a refused statement
    │   └── RejectedDataError        exit 1  the rows themselves are refused (retrying cannot help)
    ├── ExchangeError                exit 1  the venue answered with an error or is unreachable
    ├── RecordError (+ ValueError)   exit 1  a venue value that cannot be a valid bar or tick
    ├── ProtocolError                exit 1  a peer broke a wire protocol (truncated, malformed frame)
    └── BusyError                    exit 1  another run holds the same series' lock

Anything else escaping to the edge is a bug: it is shown as one line too, with the traceback only under
`--debug`.
"""


class MdtoolError(Exception):
    """Base of every user-facing error: the message is shown as `error: <message>`."""

    exit_code = 1


class UsageError(MdtoolError):
    """Bad arguments, unknown symbol or interval: the user must change the command (exit 2)."""

    exit_code = 2


class ConfigError(UsageError):
    """A malformed environment variable or `.env` value (exit 2: the invocation is wrong)."""


class DatabaseError(MdtoolError):
    """The database is unreachable or refused a statement (exit 1: retrying may succeed)."""


class RejectedDataError(DatabaseError):
    """The database refused the data itself (out of range, invalid): retrying the same rows cannot help."""


class ExchangeError(MdtoolError):
    """A venue answered with an error or could not be reached (exit 1)."""


class RecordError(MdtoolError, ValueError):
    """A venue sent a value that cannot be a valid bar or tick (high below low, negative size...)."""


class ProtocolError(MdtoolError):
    """A peer broke a wire protocol (a truncated or malformed frame)."""


class BusyError(MdtoolError):
    """Another run holds the lock of the same series (exit 1: try again later)."""
