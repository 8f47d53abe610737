"""A real PostgreSQL for tests: its own cluster in a temporary directory, on a free port, started
and stopped by the test (never the system's server).

PostgreSQL refuses to run as root, so when the tests run as root (a CI container) the cluster
belongs to an unprivileged user (`nobody`) and its directory lives outside the test's private
temp dir (which that user cannot enter). Connections go over TCP on 127.0.0.1 with trust
authentication: the cluster exists only for the test and listens on loopback only.

    with PostgresCluster() as pg:
        pg.dsn("postgres")         # "host=127.0.0.1 port=54321 user=pp dbname=postgres"
        pg.create_database("central")
"""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from runtime.pgbin import pg_bindir
from sim.localnet import free_port, wait_port

SUPERUSER = "pp"
RUN_AS = "nobody"


def bindir() -> Path | None:
    """Debian's PostgreSQL binaries (the newest installed version), or those on PATH."""
    return pg_bindir("initdb")


class PostgresCluster:
    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.bin = bindir()
        if self.bin is None:
            raise RuntimeError("PostgreSQL is not installed (make install installs it: scripts/system-deps.sh)")
        self.root = Path(tempfile.mkdtemp(prefix="pp-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "postgres.log"
        self.proc: subprocess.Popen | None = None
        self._made = 0
        self._as: dict[str, Any] = {}
        if os.geteuid() == 0:
            self._as = {"user": RUN_AS}
            os.chmod(self.root, 0o700)
            shutil.chown(self.root, RUN_AS)

    def _run(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(args, check=True, capture_output=True, text=True, cwd=self.root, **self._as)

    def start(self, timeout: float = 30.0) -> "PostgresCluster":
        self._run(str(self.bin / "initdb"), "-D", str(self.data), "-U", SUPERUSER, "-A", "trust",
                  "-E", "UTF8", "--locale=C.UTF-8", "--no-sync")
        log = open(self.log, "ab")
        if self._as:
            shutil.chown(self.log, RUN_AS)
        # fsync off: a test cluster is thrown away; it only makes the tests faster.
        self.proc = subprocess.Popen([str(self.bin / "postgres"), "-D", str(self.data), "-p", str(self.port),
                                      "-h", "127.0.0.1", "-k", str(self.root), "-c", "fsync=off",
                                      "-c", "synchronous_commit=off", "-c", "full_page_writes=off"],
                                     stdout=log, stderr=log, cwd=self.root, **self._as)
        log.close()
        # The port opens before the server takes queries ("the database system is starting up"):
        # ready means pg_isready says so.
        deadline = time.monotonic() + timeout
        while not (wait_port(self.port, 0.5) and subprocess.run(
                [str(self.bin / "pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(self.port), "-U", SUPERUSER],
                capture_output=True).returncode == 0):
            if time.monotonic() > deadline or (self.proc is not None and self.proc.poll() is not None):
                self.stop()
                raise RuntimeError(f"postgres did not start on port {self.port}: {self.log.read_text()[-2000:]}")
            time.sleep(0.05)  # pg_isready has no wait of its own shorter than a second
        return self

    def dsn(self, dbname: str = "postgres", user: str = SUPERUSER) -> str:
        return f"host=127.0.0.1 port={self.port} user={user} dbname={dbname}"

    def psql(self, sql: str, dbname: str = "postgres") -> str:
        out = subprocess.run([str(self.bin / "psql"), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
                              "-h", "127.0.0.1", "-p", str(self.port), "-U", SUPERUSER, "-d", dbname, "-c", sql],
                             check=True, capture_output=True, text=True)
        return out.stdout

    def create_database(self, name: str) -> str:
        self.psql(f'CREATE DATABASE "{name}"')
        return self.dsn(name)

    def fresh_database(self) -> str:
        """A new empty database of this cluster (one per test): its connection string."""
        self._made += 1
        return self.create_database(f"t{self._made}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()  # SIGTERM: a "smart" shutdown; the cluster is thrown away anyway
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> "PostgresCluster":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
