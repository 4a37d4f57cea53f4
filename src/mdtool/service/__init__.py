"""The supervised service behind `mdtool run`: configuration, jobs, reloads and metrics.

Usable from Python without the CLI: `check_config(path)` validates a file, `Service(path, settings)`
runs one (`start`, `reload`, `wait`, `close`), and `run_service(path)` does all of that under signals.
The jobs reuse the drivers of `mdtool stream` and `mdtool backfill`; docs/architecture.md describes how.
"""

from mdtool.service.config import ServiceConfig, load_config
from mdtool.service.metrics import MetricsServer, ServiceCollector
from mdtool.service.run import Service, check_config, run_service
from mdtool.service.supervisor import Supervisor

__all__ = [
    "MetricsServer",
    "Service",
    "ServiceCollector",
    "ServiceConfig",
    "Supervisor",
    "check_config",
    "load_config",
    "run_service",
]
