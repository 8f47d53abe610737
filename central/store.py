"""Which central store a `--db` names, declared once: a PostgreSQL connection string
("postgresql://user@host:5432/central" or "host=… dbname=…") opens central/pgdb.py's CentralPG,
anything else is the path of a SQLite file (central/db.py's CentralDB: the demo and small set-ups).
Both keep the same contract (tests/test_ingest.py runs on both)."""
from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING, Union

from .db import CentralDB

if TYPE_CHECKING:
    from .pgdb import CentralPG

CentralStore = Union[CentralDB, "CentralPG"]


def is_postgres(db: str) -> bool:
    return db.startswith(("postgresql://", "postgres://")) or "dbname=" in db or db.startswith("host=")


def open_central(db: str) -> CentralStore:
    if is_postgres(db):
        from .pgdb import CentralPG

        return CentralPG(db)
    return CentralDB(db)


def db_errors() -> tuple[type[Exception], ...]:
    """What a store raises when the database fails (nothing was stored; the batch is sent again)."""
    try:
        import psycopg
    except ImportError:  # a SQLite-only installation
        return (sqlite3.Error,)
    return (sqlite3.Error, psycopg.Error)
