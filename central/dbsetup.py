"""`palvelupiste central setup-db`: make the central database ready, as palvelupiste-central-db.service
runs it at every boot (as the OS user postgres, over the unix socket) before the ingest workers start.
Every step is done only when it is missing, so running it again changes nothing:

1. the owner role (the `user` of the ingest workers' connection string), LOGIN, no password (the
   workers log in as the OS user of the same name: peer authentication);
2. the database (its `dbname`), owned by that role;
3. the migrations (central.store.migrate), run as the owner so that the owner owns every table;
4. the analysts' read-only login role, if one is configured, allowed to read the analysts' views
   and nothing else (central.store.grant_readonly). It gets no password here: the administrators
   set one (`ALTER ROLE … PASSWORD`) and open pg_hba.conf for the analysts' network;
5. the settings central.toml gives (small_cell, retention_days) into the database's `settings`
   table, which the views, the figures and `palvelupiste central prune` read.
"""
from __future__ import annotations

import time
from collections.abc import Callable

import psycopg
from psycopg import conninfo, sql

from .migrations import MIGRATIONS
from .settings import dsn_parts
from .store import grant_readonly, migrate

Say = Callable[[str], None]


class SetupError(Exception):
    pass


def newest_version() -> int:
    """The schema version the code expects (the number of migrations)."""
    return len(MIGRATIONS)


def schema_version(conn: psycopg.Connection) -> int:
    """The version a database is migrated to (0: never)."""
    row = conn.execute("SELECT to_regclass('schema_migrations') IS NOT NULL").fetchone()
    if not row or not row[0]:
        return 0
    row = conn.execute("SELECT coalesce(max(version), 0) FROM schema_migrations").fetchone()
    return int(row[0]) if row else 0


def _connect(dsn: str, wait_s: float) -> psycopg.Connection:
    """A connection, trying again for `wait_s` seconds while the server is still starting."""
    deadline = time.monotonic() + wait_s
    while True:
        try:
            return psycopg.connect(dsn, autocommit=True, connect_timeout=5)
        except psycopg.OperationalError as exc:
            if time.monotonic() >= deadline:
                raise SetupError(f"cannot connect to PostgreSQL: {str(exc).strip()[:300]}") from None
            time.sleep(1.0)


def _role_exists(conn: psycopg.Connection, role: str) -> bool:
    return conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone() is not None


def setup_database(admin_dsn: str, dsn: str, *, reader: str = "", small_cell: int | None = None,
                   retention_days: int | None = None, wait_s: float = 60.0, say: Say = print) -> int:
    """Do what is missing (see the module); returns the schema version. SetupError says what failed."""
    try:
        parts = dsn_parts(dsn)
    except ValueError as exc:
        raise SetupError(f"the database's connection string: {exc}") from None
    database, owner = parts.get("dbname"), parts.get("user")
    if not database or not owner:
        raise SetupError("the database's connection string must name the database (dbname) and its owner (user)")
    if reader and reader == owner:
        raise SetupError(f"the analysts' role {reader!r} cannot be the owner of the database")
    try:
        with _connect(admin_dsn, wait_s) as admin:
            if _role_exists(admin, owner):
                say(f"role {owner}: exists")
            else:
                admin.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(owner)))
                say(f"role {owner}: created (LOGIN, no password: peer authentication)")
            if admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,)).fetchone():
                say(f"database {database}: exists")
            else:
                admin.execute(sql.SQL("CREATE DATABASE {} OWNER {} ENCODING 'UTF8'").format(
                    sql.Identifier(database), sql.Identifier(owner)))
                say(f"database {database}: created, owned by {owner}")
            if reader:
                if _role_exists(admin, reader):
                    say(f"role {reader}: exists")
                else:
                    admin.execute(sql.SQL("CREATE ROLE {} LOGIN NOINHERIT").format(sql.Identifier(reader)))
                    say(f"role {reader}: created (LOGIN; set its password: ALTER ROLE {reader} PASSWORD …)")
        with _connect(conninfo.make_conninfo(admin_dsn, dbname=database), wait_s) as conn:
            # as the owner: every table, view and function the migrations make is the owner's
            conn.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(owner)))
            before = schema_version(conn)
            version = migrate(conn)
            say(f"schema: version {version}" + (f" ({version - before} migration(s) applied)" if version != before
                                                else ", up to date"))
            if reader:
                conn.execute(sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(
                    sql.Identifier(database), sql.Identifier(reader)))
                grant_readonly(conn, reader)
                say(f"role {reader}: may read the analysts' views, nothing else")
            for key, value in (("small_cell", small_cell), ("retention_days", retention_days)):
                if value is not None:
                    conn.execute("INSERT INTO settings(key, value) VALUES (%s, %s) "
                                 "ON CONFLICT (key) DO UPDATE SET value = excluded.value", (key, str(value)))
                    say(f"setting {key} = {value}")
            return version
    except psycopg.Error as exc:
        raise SetupError(f"PostgreSQL refused: {str(exc).strip()[:400]}") from None
