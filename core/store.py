"""The device's durable event store: an append-only SQLite log with an outbox for sync.

Durability rules (see LIBRARY-NOTES): WAL with `synchronous=FULL` on every connection, so an
append that returned survives a power cut; `BEGIN IMMEDIATE` around the sequence read and the
insert, so two processes appending to one store still get a gap-free, unique sequence.
An event is never edited; it is deleted only by the retention rule, and only once the central
side has acknowledged it.

Beside `events`, `answers` keeps the answer the hub gave to each accepted command, keyed by the
sender device and a digest of the command's correlation data, written in the same transaction as
the command's events (`transaction()` + `record_answer()`): a hub killed after the commit but
before its answer went out answers the retry with the first answer instead of running the command
again. Commands that stored no event (queries, refusals) have no row: they changed nothing, so a
retry simply runs again against the queue as it is then. Retention: the newest
`ANSWERS_PER_DEVICE` rows of each device (see there).
"""
from __future__ import annotations

import hashlib
import json
import os
import secrets
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlite_utils

from .events import EVENT_TYPES, MAX_EVENT_BYTES, Event, new_event_id, now_ms, valid_id

DAY_MS = 86_400_000
MIN_KEEP_DAYS = 2
BUSY_TIMEOUT_MS = 30_000
#: Answers kept per device. A device repeats a command only while it waits for that command's
#: answer: the kiosk and the counter panel send one command at a time and send it again ("Try
#: again", a timed-out request) before anything new, so the row a retry needs is among its
#: device's newest few, however long the hub was down. 100 leaves room for several clients sharing
#: a device id; a count, not an age, so a clock stepped forward cannot throw away the row a retry
#: needs, and the table stays bounded by the number of devices whatever they send.
ANSWERS_PER_DEVICE = 100


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
        # Events appended in the open transaction(); None while none is open.
        self._txn_appended: int | None = None
        self._txn_broken = False
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
            # Created on open, so a store made before this table gets it too.
            self.conn.execute("CREATE TABLE IF NOT EXISTS answers(device TEXT NOT NULL, request BLOB NOT NULL, "
                              "seq INTEGER NOT NULL, answer TEXT NOT NULL, PRIMARY KEY(device, request)) "
                              "WITHOUT ROWID")
            self.conn.execute("CREATE INDEX IF NOT EXISTS answers_by_device ON answers(device, seq)")
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

    def local_secret(self, name: str) -> bytes:
        """A random 32-byte secret of this store, made on first use and kept in `meta` (which is
        never synced): e.g. the hub's key for appointment references."""
        self.conn.execute("INSERT OR IGNORE INTO meta(key, value) VALUES (?, ?)",  # autocommit: durable
                          (f"secret:{name}", secrets.token_hex(32)))
        row = self.conn.execute("SELECT value FROM meta WHERE key=?", (f"secret:{name}",)).fetchone()
        return bytes.fromhex(row[0])

    def integrity_check(self) -> str:
        """'ok' or SQLite's description of what is wrong."""
        rows = self.conn.execute("PRAGMA quick_check").fetchall()
        return "; ".join(r[0] for r in rows)

    # --- append ---------------------------------------------------------------------------

    def append(self, type: str, data: dict[str, Any] | None = None, ts: int | None = None) -> Event:
        """Append one event; returns when it is durable on disk."""
        return self.append_many([(type, data or {})], ts=ts)[0]

    def append_many(self, items: Iterable[tuple[str, dict[str, Any]]], ts: int | None = None) -> list[Event]:
        """Append several events in one transaction: all of them are durable, or none is. Inside
        `transaction()` they join it and are durable when it commits."""
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
        if self._txn_appended is not None:
            try:
                with self._errors("could not store the event"):
                    events = self._insert(prepared, when)
            except StoreError:
                self._txn_broken = True  # part of the batch may be in: the transaction must not commit
                raise
            self._txn_appended += len(events)
            return events
        with self.transaction():
            return self._insert(prepared, when)

    def _insert(self, prepared: list[tuple[str, dict[str, Any], str]], when: int) -> list[Event]:
        conn = self.conn
        last = int(conn.execute("SELECT value FROM meta WHERE key='last_seq'").fetchone()[0])
        events = []
        for i, (etype, data, text) in enumerate(prepared, start=1):
            ev = Event(id=new_event_id(), site=self.site, device=self.device,
                       seq=last + i, type=etype, ts=when, data=data)
            conn.execute("INSERT INTO events(seq, id, type, ts, data, v) VALUES (?,?,?,?,?,?)",
                         (ev.seq, ev.id, etype, when, text, ev.v))
            events.append(ev)
        conn.execute("UPDATE meta SET value=? WHERE key='last_seq'", (str(last + len(prepared)),))
        return events

    @contextmanager
    def _errors(self, what: str) -> Iterator[None]:
        # DatabaseError, not only OperationalError: corruption or a constraint hit at run time must
        # reach the hub as a StoreError (answered "store_failed"), not as a raw sqlite3 exception.
        try:
            yield
        except sqlite3.DatabaseError as exc:
            if _is_full(exc):
                raise StoreFullError(f"{self.path}: disk full, {what}") from exc
            raise StoreError(f"{self.path}: {what}: {exc}") from exc

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One `BEGIN IMMEDIATE` around the appends and `record_answer` made inside: all of it
        is durable when the block ends, or (the block raised, the commit failed) none of it.
        Not nested. sqlite3 errors come out as StoreError."""
        if self._txn_appended is not None:
            raise StoreError("a store transaction is already open")
        conn = self.conn
        with self._errors("nothing was stored"):
            conn.execute("BEGIN IMMEDIATE")
            self._txn_appended = 0
            self._txn_broken = False
            try:
                yield
                if self._txn_broken:
                    raise StoreError(f"{self.path}: an append failed inside the transaction; nothing was stored")
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            finally:
                self._txn_appended = None

    # --- answers to commands --------------------------------------------------------------

    @staticmethod
    def _request_key(correlation: bytes) -> bytes:
        # A digest: the key has one size whatever a device sends as correlation data, and
        # nothing a device put there is kept.
        return hashlib.sha256(correlation).digest()

    def answer(self, device: str, correlation: bytes) -> dict[str, Any] | None:
        """The answer recorded for this device's command with this correlation data, or None."""
        with self._errors("could not read an answer"):
            row = self.conn.execute("SELECT answer FROM answers WHERE device=? AND request=?",
                                    (device, self._request_key(correlation))).fetchone()
        return None if row is None else json.loads(row[0])

    def record_answer(self, device: str, correlation: bytes, answer: dict[str, Any]) -> None:
        """Keep `answer` for a retry of this command, with the events the command appended in the
        open transaction (so the row is there exactly when they are). Keeps only the device's
        newest ANSWERS_PER_DEVICE."""
        if not self._txn_appended:
            raise StoreError("an answer is recorded only with the events of its command, in one transaction")
        # ASCII: a lone surrogate a device sent comes back escaped instead of failing the commit.
        text = json.dumps(answer, separators=(",", ":"), sort_keys=True)
        with self._errors("could not record the answer"):
            self.conn.execute("INSERT INTO answers(device, request, seq, answer) VALUES (?,?,?,?)",
                              (device, self._request_key(correlation), self.last_seq, text))
            self.conn.execute(
                "DELETE FROM answers WHERE device=? AND seq <= (SELECT seq FROM answers WHERE device=? "
                "ORDER BY seq DESC LIMIT 1 OFFSET ?)", (device, device, ANSWERS_PER_DEVICE))

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

