"""The `mdtool` command line: thin Typer commands that parse, call one library function, and print.

Errors are caught here, at the edge: an `MdtoolError` becomes one `error: ...` line on stderr and the
exit code docs/architecture.md fixes; a traceback appears only with `--debug` or `MDTOOL_DEBUG=1`.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Annotated, NoReturn

import typer

# Typer 0.29 vendors click, and the usage errors it raises are that copy's classes: `typer.exceptions`
# exports only Exit and Abort, and the separately installed `click` has different classes, so there is
# no public route to catch a usage error and print it as one `error:` line.
from typer._click import exceptions as click_exceptions

from mdtool import __version__
from mdtool.cli.backfill import backfill
from mdtool.cli.console import stderr, stdout
from mdtool.cli.dtc_push import dtc_push
from mdtool.cli.export import export
from mdtool.cli.migrate import migrate
from mdtool.cli.run import run
from mdtool.cli.serve_webhook import serve_webhook
from mdtool.cli.status import status
from mdtool.cli.stream import stream
from mdtool.errors import MdtoolError
from mdtool.logs import configure_logging

app = typer.Typer(
    name="mdtool",
    help="Ingest market data exactly and idempotently into PostgreSQL/TimescaleDB (or SQLite).\n\n"
    "The database comes from MARKET_DATA_DATABASE_URL (default: sqlite:///mdtool.db in the current "
    "directory); a .env file in the working directory is read too.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        stdout.print(f"mdtool {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    debug: Annotated[
        bool, typer.Option("--debug", envvar="MDTOOL_DEBUG", help="Verbose logs and full tracebacks.")
    ] = False,
    _show_version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    configure_logging(debug, stderr)


app.command()(migrate)
app.command()(backfill)
app.command()(stream)
app.command("serve-webhook")(serve_webhook)
app.command("dtc-push")(dtc_push)
app.command()(run)
app.command()(status)
app.command()(export)


def _fail(message: str, code: int, error: BaseException | None = None) -> NoReturn:
    if error is not None and logging.getLogger("mdtool").isEnabledFor(logging.DEBUG):
        stderr.print_exception()
    print(f"error: {message}", file=sys.stderr)
    sys.exit(code)


INTERRUPTED = 130
"""Exit code after Ctrl-C (128 + SIGINT), as shells report it."""


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    if os.environ.get("MDTOOL_DEBUG", "").lower() in ("1", "true", "yes"):
        logging.getLogger("mdtool").setLevel(logging.DEBUG)
    try:
        result = app(args=argv, standalone_mode=False)
    except MdtoolError as error:
        _fail(str(error), error.exit_code, error)
    except click_exceptions.NoArgsIsHelpError as error:
        error.show()
        sys.exit(2)
    except click_exceptions.UsageError as error:
        _fail(error.format_message().replace("\n", " "), 2)
    except typer.Exit as done:
        sys.exit(done.exit_code)
    except typer.Abort:
        _fail("interrupted", INTERRUPTED)
    except KeyboardInterrupt:
        _fail("interrupted", INTERRUPTED)
    except Exception as error:  # the edge: a bug still gets one line, the traceback under --debug
        _fail(f"unexpected {type(error).__name__}: {error} (run with --debug for the traceback)", 1, error)
    if result == INTERRUPTED:  # Typer returns Ctrl-C as 130 (standalone_mode=False); no command does
        _fail("interrupted", INTERRUPTED)
    sys.exit(result if isinstance(result, int) else 0)
