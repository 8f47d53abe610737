"""The device's durable event store: an append-only SQLite log with an outbox for sync.

Durability rules (see LIBRARY-NOTES): WAL with `synchronous=FULL` on every connection, so an
append that returned survives a power cut; `BEGIN IMMEDIATE` around the sequence read and the
insert, so two processes appending to one store still get a gap-free, unique sequence.
An event is never edited; it is deleted only by the retention rule, and only once the central
side has acknowledged it.
"""
from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import sqlite_utils

from .events import EVENT_TYPES, MAX_EVENT_BYTES, Event, new_event_id, now_ms, valid_id

DAY_MS = 86_400_000
MIN_KEEP_DAYS = 2
BUSY_TIMEOUT_MS = 30_000


class StoreError(Exception):
    """The store cannot do what was asked; the message says why in words."""


class StoreFullError(StoreError):
    """The disk (or the file system holding the store) is full. Nothing was written."""


class StoreCorruptError(StoreError):
    """The integrity check failed on open."""


class StoreIdentityError(StoreError):
    """The file belongs to another site or device."""


def connect(path: str | Path, *, readonly: bool = False) -> sqlite3.Connection:
    """A connection with the project's pragmas. Every connection to a store goes through here."""
    if readonly:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None,
                               timeout=BUSY_TIMEOUT_MS / 1000)
    else:
        conn = sqlite3.connect(str(path), isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000)
    conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    if not readonly:
        mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if mode.lower() != "wal":
            raise StoreError(f"{path}: could not switch to WAL (journal_mode is {mode})")
    # sqlite-utils never sets this; with NORMAL a committed append can roll back on power loss.
    conn.execute("PRAGMA synchronous=FULL")
    return conn


def _is_full(exc: sqlite3.Error) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    return code == sqlite3.SQLITE_FULL or "disk is full" in str(exc) or "No space left" in str(exc)


class EventStore:
    """Append-only event log of one device.

    One instance per thread: the sqlite3 connection is owned by the thread that opened it.
    Other processes (the sync agent, a CLI) open their own EventStore on the same file.
    """

    def __init__(self, path: str | Path, site: str, device: str, *, check: bool = True) -> None:
        if not valid_id(site):
            raise StoreError(f"site id {site!r} is not a valid id")
        if not valid_id(device):
            raise StoreError(f"device id {device!r} is not a valid id")
        self.path = Path(path)
        self.site = site
        self.device = device
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn: sqlite3.Connection | None = None
        try:
            conn = connect(self.path)
            self.conn: sqlite3.Connection = conn
            self.db = sqlite_utils.Database(conn)
            if check:
                self._quick_check()
            self._create()
            self._check_identity()
        except BaseException as exc:
            # A refused store must not stay open (and hold its WAL) behind the caller's back.
            if conn is not None:
                conn.close()
            if isinstance(exc, sqlite3.DatabaseError):
                if _is_full(exc):
                    raise StoreFullError(f"{self.path}: disk full while opening the store") from exc
                raise StoreCorruptError(f"{self.path}: cannot open the store: {exc}") from exc
            raise

    # --- schema ---------------------------------------------------------------------------

    def _create(self) -> None:
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            self.db.table("events").create(
                {"seq": int, "id": str, "type": str, "ts": int, "data": str, "v": int},
                pk="seq", not_null={"id", "type", "ts", "data", "v"}, if_not_exists=True,
            )
            self.db.table("events").create_index(["id"], unique=True, if_not_exists=True)
            self.db.table("meta").create({"key": str, "value": str}, pk="key", if_not_exists=True)
            for key, value in (("site", self.site), ("device", self.device),
                               ("last_seq", "0"), ("acked_seq", "0"), ("created_ms", str(now_ms()))):
                self.conn.execute("INSERT OR IGNORE INTO meta(key, value) VALUES (?, ?)", (key, value))
            self.conn.execute("COMMIT")
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise

    def _quick_check(self) -> None:
        rows = self.conn.execute("PRAGMA quick_check").fetchall()
        result = "; ".join(r[0] for r in rows)
        if result != "ok":
            raise StoreCorruptError(f"{self.path}: integrity check failed: {result}")

    def _check_identity(self) -> None:
        meta = self.meta()
        if meta.get("site") != self.site or meta.get("device") != self.device:
            raise StoreIdentityError(
                f"{self.path} belongs to site {meta.get('site')!r} device {meta.get('device')!r}, "
                f"not {self.site!r} {self.device!r}"
            )

    def meta(self) -> dict[str, str]:
        return dict(self.conn.execute("SELECT key, value FROM meta").fetchall())

    def integrity_check(self) -> str:
        """'ok' or SQLite's description of what is wrong."""
        rows = self.conn.execute("PRAGMA quick_check").fetchall()
        return "; ".join(r[0] for r in rows)

    # --- append ---------------------------------------------------------------------------

    def append(self, type: str, data: dict[str, Any] | None = None, ts: int | None = None) -> Event:
        """Append one event; returns when it is durable on disk."""
        return self.append_many([(type, data or {})], ts=ts)[0]

    def append_many(self, items: Iterable[tuple[str, dict[str, Any]]], ts: int | None = None) -> list[Event]:
        """Append several events in one transaction: all of them are durable, or none is."""
        prepared = []
        for etype, data in items:
            if etype not in EVENT_TYPES:
                raise StoreError(f"unknown event type {etype!r}")
            text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
            if len(text.encode()) > MAX_EVENT_BYTES - 512:
                raise StoreError(f"{etype}: data larger than {MAX_EVENT_BYTES - 512} bytes")
            prepared.append((etype, data, text))
        if not prepared:
            return []
        when = now_ms() if ts is None else ts
        conn = self.conn
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                last = int(conn.execute("SELECT value FROM meta WHERE key='last_seq'").fetchone()[0])
                events = []
                for i, (etype, data, text) in enumerate(prepared, start=1):
                    ev = Event(id=new_event_id(), site=self.site, device=self.device,
                               seq=last + i, type=etype, ts=when, data=data)
                    conn.execute("INSERT INTO events(seq, id, type, ts, data, v) VALUES (?,?,?,?,?,?)",
                                 (ev.seq, ev.id, etype, when, text, ev.v))
                    events.append(ev)
                conn.execute("UPDATE meta SET value=? WHERE key='last_seq'", (str(last + len(prepared)),))
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
        # DatabaseError, not only OperationalError: corruption or a constraint hit at run time must
        # reach the hub as a StoreError (answered "store_failed"), not as a raw sqlite3 exception.
        except sqlite3.DatabaseError as exc:
            if _is_full(exc):
                raise StoreFullError(f"{self.path}: disk full, the event was not stored") from exc
            raise StoreError(f"{self.path}: could not store the event: {exc}") from exc
        return events

    # --- reads ----------------------------------------------------------------------------

    def _row_event(self, row: tuple) -> Event:
        seq, eid, etype, ts, data, v = row
        return Event(id=eid, site=self.site, device=self.device, seq=seq, type=etype, ts=ts,
                     data=json.loads(data), v=v)

    def iter_events(self, after_seq: int = 0, batch: int = 2000) -> Iterator[Event]:
        """Every stored event after `after_seq`, in sequence order."""
        cursor = after_seq
        while True:
            rows = self.conn.execute(
                "SELECT seq, id, type, ts, data, v FROM events WHERE seq > ? ORDER BY seq LIMIT ?",
                (cursor, batch)).fetchall()
            if not rows:
                return
            for row in rows:
                yield self._row_event(row)
            cursor = rows[-1][0]

    def events(self, after_seq: int = 0, limit: int | None = None) -> list[Event]:
        sql = "SELECT seq, id, type, ts, data, v FROM events WHERE seq > ? ORDER BY seq"
        args: tuple = (after_seq,)
        if limit is not None:
            sql += " LIMIT ?"
            args += (limit,)
        return [self._row_event(r) for r in self.conn.execute(sql, args)]

    @property
    def last_seq(self) -> int:
        return int(self.conn.execute("SELECT value FROM meta WHERE key='last_seq'").fetchone()[0])

    @property
    def acked_seq(self) -> int:
        return int(self.conn.execute("SELECT value FROM meta WHERE key='acked_seq'").fetchone()[0])

    @property
    def backlog(self) -> int:
        """Events not yet acknowledged by the central side."""
        row = self.conn.execute(
            "SELECT (SELECT value FROM meta WHERE key='last_seq') - "
            "(SELECT value FROM meta WHERE key='acked_seq')").fetchone()
        return int(row[0])

    def outbox(self, limit: int = 500, after_seq: int | None = None) -> list[Event]:
        """Unacknowledged events in order (after `after_seq` when given, e.g. what is in flight)."""
        start = self.acked_seq if after_seq is None else max(after_seq, self.acked_seq)
        return self.events(after_seq=start, limit=limit)

    def oldest_unacked_ts(self) -> int | None:
        row = self.conn.execute(
            "SELECT ts FROM events WHERE seq > (SELECT value FROM meta WHERE key='acked_seq') "
            "ORDER BY seq LIMIT 1").fetchone()
        return row[0] if row else None

    # --- acknowledgement and retention -----------------------------------------------------

    def ack(self, seq: int) -> int:
        """Record that the central side stored everything up to `seq`. Never moves backwards
        and never past what was appended (a bogus ack must not hide unsynced events).
        Returns the acknowledged sequence after the call."""
        if not isinstance(seq, int) or isinstance(seq, bool):
            raise StoreError(f"ack needs an integer sequence, not {seq!r}")
        try:
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                last = int(self.conn.execute("SELECT value FROM meta WHERE key='last_seq'").fetchone()[0])
                acked = int(self.conn.execute("SELECT value FROM meta WHERE key='acked_seq'").fetchone()[0])
                new = max(acked, min(seq, last))
                if new != acked:
                    self.conn.execute("UPDATE meta SET value=? WHERE key='acked_seq'", (str(new),))
                self.conn.execute("COMMIT")
            except BaseException:
                if self.conn.in_transaction:
                    self.conn.execute("ROLLBACK")
                raise
        except sqlite3.OperationalError as exc:
            if _is_full(exc):
                raise StoreFullError(f"{self.path}: disk full while recording an acknowledgement") from exc
            raise
        return new

    def prune(self, keep_days: float, now: int | None = None) -> int:
        """Retention: delete acknowledged events older than `keep_days`. Returns how many went."""
        # Never less than two days: the hub folds today's (and, across midnight, yesterday's)
        # events to know which numbers it has handed out; pruning them would repeat numbers.
        keep_days = max(keep_days, MIN_KEEP_DAYS)
        cutoff = (now_ms() if now is None else now) - int(keep_days * DAY_MS)
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            cur = self.conn.execute(
                "DELETE FROM events WHERE seq <= (SELECT value FROM meta WHERE key='acked_seq') AND ts < ?",
                (cutoff,))
            self.conn.execute("COMMIT")
        except BaseException:
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
            raise
        return cur.rowcount

    def checkpoint(self) -> None:
        """Fold the WAL back into the database; long-lived readers otherwise let it grow."""
        self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def disk_free_bytes(self) -> int:
        st = os.statvfs(self.path.parent)
        return st.f_bavail * st.f_frsize

    def close(self) -> None:
        try:
            self.conn.close()
        except sqlite3.Error:
            pass

    def __enter__(self) -> "EventStore":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

