"""A throw-away PostgreSQL 15 cluster with TimescaleDB preloaded, for tests and benchmarks.

`initdb` refuses to run as root (CI runs as root), so the server then runs as the `postgres` user. The
cluster is tuned for speed, not durability (fsync off): it is deleted at the end of the session.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg

PG_BIN = Path(os.environ.get("MDTOOL_PG_BIN", "/usr/lib/postgresql/15/bin"))
TIMESCALEDB_CONTROL = Path("/usr/share/postgresql/15/extension/timescaledb.control")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PostgresCluster:
    """One `initdb` cluster on a free loopback port; `stop()`/`start()` simulate an outage."""

    def __init__(self, timescaledb: bool = True) -> None:
        if not (PG_BIN / "initdb").exists():
            raise RuntimeError(f"PostgreSQL 15 server binaries not found in {PG_BIN}")
        if timescaledb and not TIMESCALEDB_CONTROL.exists():
            raise RuntimeError("TimescaleDB is not installed: run scripts/install-timescaledb.sh")
        self.timescaledb = timescaledb
        self.port = free_port()
        self.base = Path(tempfile.mkdtemp(prefix="mdtool-pg-"))
        self.data = self.base / "data"
        self.log = self.base / "server.log"
        self._user = "postgres" if os.geteuid() == 0 else None
        if self._user:
            uid = pwd.getpwnam(self._user)
            os.chown(self.base, uid.pw_uid, uid.pw_gid)
        self._run(
            str(PG_BIN / "initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust",
            "-E", "UTF8", "--no-sync", "--no-instructions",
        )  # fmt: skip
        settings = {
            "listen_addresses": "'127.0.0.1'",
            "port": str(self.port),
            "unix_socket_directories": f"'{self.base}'",
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            "max_connections": "200",
            "shared_buffers": "128MB",
            "log_min_messages": "warning",
        }
        if timescaledb:
            settings["shared_preload_libraries"] = "'timescaledb'"
            settings["timescaledb.telemetry_level"] = "off"
            settings["timescaledb.max_background_workers"] = "4"
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.writelines(f"{key} = {value}\n" for key, value in settings.items())
        self.start()

    def _run(self, *args: str) -> None:
        command = ["runuser", "-u", self._user, "--", *args] if self._user else list(args)
        result = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
        if result.returncode != 0:
            raise RuntimeError(
                f"{' '.join(args[:2])} failed: {result.stderr.strip() or result.stdout.strip()}"
            )

    def start(self) -> None:
        self._run(
            str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60", "start"
        )

    def stop(self) -> None:
        self._run(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def admin(self) -> psycopg.Connection[tuple[object, ...]]:
        return psycopg.connect(
            f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres", autocommit=True
        )

    def create_database(self, name: str, template: str | None = None) -> str:
        deadline = time.monotonic() + 30
        while True:
            try:
                with self.admin() as conn:
                    clause = f" TEMPLATE {template}" if template else ""
                    conn.execute(f'CREATE DATABASE "{name}"{clause}')
                return self.url(name)
            except psycopg.errors.ObjectInUse:
                # The template is briefly busy while a background worker is attached to it.
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def destroy(self) -> None:
        with contextlib.suppress(RuntimeError):
            self._run(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.base, ignore_errors=True)
