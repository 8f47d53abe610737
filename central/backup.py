"""Backing up and restoring the central database with PostgreSQL's own tools.

    palvelupiste central backup --db DSN --out FILE     pg_dump --format=custom: one file, compressed,
                                                        a consistent snapshot taken while the ingest
                                                        keeps writing
    palvelupiste central restore --db DSN FILE [--force]
                                                        pg_restore into DSN's database, in one
                                                        transaction: all of it or nothing

Everything is in the file: events, watermarks, dead letters, roll-ups, sites, settings, the views
and the grants to the analysts' role (the roles themselves are the server's: on a new server
`palvelupiste central setup-db` makes them first). The programs are Debian's newest
(runtime.pgbin): pg_dump must be at least as new as the server.

Restoring into a database that already holds tables is refused unless `force`: then every object
the backup holds is dropped first (pg_restore --clean --if-exists) and made again from the file,
so those tables hold exactly the backup's rows afterwards — whatever was stored since the backup is
lost (the devices do not send it again: they have their acknowledgements). Tables the backup does
not have are left alone.

The connection string goes to the programs as --dbname; a password comes from the environment
(PGPASSWORD, .pgpass), never from the command line.
"""
from __future__ import annotations

import os
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from runtime.pgbin import pg_program

#: how pg_restore --list names the custom format; a file without it is no backup of ours
_CUSTOM_MAGIC = b"PGDMP"


class BackupError(Exception):
    """Nothing was changed (backup: no file was written; restore: the database is as it was).
    `usage`: the arguments are wrong (a file that is no backup, a database that is not empty)."""

    def __init__(self, message: str, *, usage: bool = False) -> None:
        super().__init__(message)
        self.usage = usage


@dataclass(frozen=True)
class RestoreResult:
    tables: int          # tables in the backup
    replaced: bool       # the database held tables that were dropped and restored (--force)


def _program(name: str) -> str:
    p = pg_program(name)
    if p is None:
        raise BackupError(f"{name} is not installed: apt-get install postgresql-client")
    return str(p)


def _run(argv: list[str], timeout: float | None) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                              env={**os.environ, "PGAPPNAME": "palvelupiste-backup"})
    except subprocess.TimeoutExpired:
        raise BackupError(f"{Path(argv[0]).name} did not finish within {timeout:g} s") from None


def _short(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return "; ".join(lines[-5:])[:800]


def backup(dsn: str, out: str | Path, *, timeout: float | None = None) -> Path:
    """Dump the database to `out` (custom format). Written beside it first and renamed when whole,
    so `out` is never half a backup; 0600 (it holds every event)."""
    out = Path(out)
    if out.is_dir():
        raise BackupError(f"--out {out}: is a folder; name the backup file", usage=True)
    if not out.parent.is_dir():
        raise BackupError(f"--out {out}: no folder {out.parent}", usage=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
    os.close(fd)
    try:
        r = _run([_program("pg_dump"), "--format=custom", "--no-password", f"--file={tmp}", f"--dbname={dsn}"],
                 timeout)
        if r.returncode != 0:
            raise BackupError(f"pg_dump failed: {_short(r.stderr or r.stdout)}")
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return out


def backup_tables(path: str | Path, timeout: float | None = 60) -> list[str]:
    """The tables a backup file holds (pg_restore --list); BackupError when it is no backup."""
    path = Path(path)
    try:
        with path.open("rb") as f:
            head = f.read(len(_CUSTOM_MAGIC))
    except OSError as exc:
        raise BackupError(f"{path}: cannot read ({exc.strerror or exc})", usage=True) from None
    if head != _CUSTOM_MAGIC:
        raise BackupError(f"{path}: not a backup made by `palvelupiste central backup` (pg_dump custom format)",
                          usage=True)
    r = _run([_program("pg_restore"), "--list", str(path)], timeout)
    if r.returncode != 0:
        raise BackupError(f"{path}: pg_restore cannot read it: {_short(r.stderr)}")
    tables = []
    for line in r.stdout.splitlines():
        # "215; 1259 16390 TABLE public events pp"
        parts = line.split()
        if not line.startswith(";") and len(parts) >= 6 and parts[3] == "TABLE":
            tables.append(parts[5])
    return tables


def existing_tables(dsn: str) -> list[str]:
    """Tables and views of the database outside PostgreSQL's own schemas."""
    import psycopg

    try:
        with psycopg.connect(dsn, connect_timeout=10) as conn:
            rows = conn.execute(
                "SELECT n.nspname || '.' || c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f') AND n.nspname NOT IN ('pg_catalog', "
                "'information_schema') AND n.nspname NOT LIKE 'pg\\_toast%' ORDER BY 1").fetchall()
    except psycopg.Error as exc:
        raise BackupError(f"cannot open the database: {str(exc).strip()[:300]}") from None
    return [r[0] for r in rows]


def restore(dsn: str, path: str | Path, *, force: bool = False, timeout: float | None = None) -> RestoreResult:
    """Restore a backup into the database `dsn` names (which must exist), in one transaction."""
    tables = backup_tables(path)
    present = existing_tables(dsn)
    if present and not force:
        shown = ", ".join(present[:5]) + (f" and {len(present) - 5} more" if len(present) > 5 else "")
        raise BackupError(f"the database is not empty (it has {shown}): restoring would mix the backup with what "
                          "is there. Restore into a new empty database, or give --force to drop every table of the "
                          "backup that exists there and restore it from the file (what was stored since the backup "
                          "is lost)", usage=True)
    argv = [_program("pg_restore"), "--single-transaction", "--exit-on-error", "--no-password", f"--dbname={dsn}"]
    if present:
        argv += ["--clean", "--if-exists"]
    r = _run([*argv, str(path)], timeout)
    if r.returncode != 0:
        raise BackupError(f"pg_restore failed, nothing was changed: {_short(r.stderr or r.stdout)}")
    return RestoreResult(len(tables), bool(present))
