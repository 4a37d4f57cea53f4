"""`mdtool run`: the supervised service of a TOML file (streams, scheduled backfills, servers, metrics).

Heavy modules (uvicorn, Starlette, the DTC server, prometheus-client, the database) are imported when the
command runs, so `--help` stays instant.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mdtool.cli.console import stdout


def run(
    file: Annotated[Path, typer.Argument(help="The service configuration (TOML), e.g. mdtool.toml.")],
    check: Annotated[
        bool, typer.Option("--check", help="Validate the file and exit (0 valid, 2 invalid).")
    ] = False,
) -> None:
    """Run stream and scheduled-backfill jobs, optional webhook and DTC servers, and Prometheus /metrics.

    SIGHUP re-reads FILE and applies only the difference (unchanged streams keep running; a bad file is
    refused and the running configuration stays). SIGINT/SIGTERM stop every job, flush every writer and
    exit 0.

    Example mdtool.toml:

      [[stream]]
      venue = "binance"
      quote = "USDT"
      shard = "1/2"

      [[backfill]]
      venue = "binance"
      symbols = ["BTCUSDT", "ETHUSDT"]
      intervals = ["1m", "1h"]
      since = "2024-01-01"
      every = "5m"

      [metrics]
      listen = "127.0.0.1:9464"

    Examples:

      mdtool run --check mdtool.toml

      mdtool run mdtool.toml
    """
    from mdtool.service.run import check_config, describe, run_service

    if check:
        config = check_config(file)
        stdout.print(f"{file}: OK: {describe(config)}", highlight=False, soft_wrap=True)
        return
    run_service(file)
