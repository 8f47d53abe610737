"""The central event database, on PostgreSQL: every event of every device, stored exactly once,
and the roll-ups the figures are read from (central/rollups.py), added in the same transaction.

Tables (central/migrations.py creates and upgrades them; central/views.py makes the views)
    events         (site, device, seq) primary key; id, type, ts, data (JSON text), v, received_ms
    watermarks     (site, device) → seq: highest sequence such that 1..seq are all stored
    dead_letter    what could not be stored, with the reason and the (truncated) raw payload
                   (identity codes and phone numbers masked); one row per distinct (topic, reason,
                   payload), `count` says how often it came
    refused        (site, device, seq) of events the ingest refused (wrong role, type or shape):
                   only the envelope's id, never the data; the watermark steps over them, so the
                   device's ack moves on instead of the device sending them again forever
    devices        (site, device) → role, from the site configurations the centre publishes
    device_status  the last retained status / availability each device published
    sites, site_services, rollup_*, first_calls, feedback_responses, settings: core/rollup.py

Exactly once: the primary key (site, device, seq) refuses a second copy of an event
(`ON CONFLICT DO NOTHING`), each batch is one transaction, and the acknowledgement is read back
from the database (the per-device contiguous watermark). Several ingest workers may write at once:
the watermark of a device is advanced under a row lock on it (`SELECT … FOR UPDATE` of the device's
watermark row, made first when missing), so two workers never move it past a gap between them.
Migrations run under an advisory lock, so workers starting together do not race.

Text is kept as text (JSON too): PostgreSQL refuses NUL in text, so a NUL in a dead letter's
payload is written as the four characters "\\x00" (an event's data is JSON, where it is "\\u0000").
"""
from __future__ import annotations

import datetime as _dt
import json
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

import psycopg
import psycopg.sql

from core.events import Event, now_ms
from core.privacy import mask_personal

from . import rollups, views
from .deadletters import DEAD_PAYLOAD_BYTES, DeadLetter, dead_letter_digest, dead_seq, dead_text, raw_payload
from .migrations import MIGRATIONS
from .report import build_report, rows_of

if TYPE_CHECKING:
    from core.config import Site
    from core.figures import Row

#: A device's backlog is sampled at most this often (status_samples).
SAMPLE_MS = 5 * 60_000
#: Backlog samples are kept this long: the fleet view reads the last hour (core.fleet
#: SAMPLES_WINDOW_MS); two days leave a technician yesterday's. 150 sites' devices write about
#: 260,000 a day, so they are pruned with the raw events (`prune_samples`), retention or not.
SAMPLES_KEEP_MS = 2 * 24 * 3600_000
#: The advisory lock the migrations run under (any constant the project does not use elsewhere).
_MIGRATION_LOCK = 0x70616C76  # "palv"


def _no_nul(text: str) -> str:
    return text.replace("\x00", "\\x00")


def _text(payload: bytes | str, limit: int = DEAD_PAYLOAD_BYTES) -> str:
    return _no_nul(dead_text(payload, limit))


def migrate(conn: psycopg.Connection) -> int:
    """Bring the schema to the newest version; returns it. Safe to run from several workers."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
        conn.execute("CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, "
                     "applied_ms bigint NOT NULL)")
        row = conn.execute("SELECT coalesce(max(version), 0) FROM schema_migrations").fetchone()
        have = row[0] if row else 0
        for version, sql in enumerate(MIGRATIONS, start=1):
            if version > have:
                conn.execute(sql)
                conn.execute("INSERT INTO schema_migrations(version, applied_ms) VALUES (%s, %s)",
                             (version, now_ms()))
        # The views hold no data: made again from this code, and granted again to the readers.
        for statement in views.statements():
            conn.execute(statement)
        # The views' plans look expensive to the planner (set-returning and plpgsql functions), so
        # PostgreSQL's JIT would compile each one: ~2 s of compiling for a query that runs in
        # milliseconds. Off for every session of this database, a BI tool's included.
        # And the national views sort ~150,000 histogram rows a month: with the default 4 MB of
        # work_mem that sort spills to disk (bench/RESULTS.md); 32 MB keeps it in memory.
        conn.execute("DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET jit = off', current_database()); "
                     "EXECUTE format('ALTER DATABASE %I SET work_mem = %L', current_database(), '32MB'); "
                     "EXCEPTION WHEN insufficient_privilege THEN NULL; END $$")
        conn.execute("SET jit = off")
        conn.execute("SET work_mem = '32MB'")
        for (role,) in conn.execute("SELECT value FROM settings WHERE key LIKE 'reader:%%'").fetchall():
            _grant(conn, role)
    return len(MIGRATIONS)


def _grant(conn: psycopg.Connection, role: str) -> None:
    ident = psycopg.sql.Identifier(role)
    conn.execute(psycopg.sql.SQL("GRANT USAGE ON SCHEMA public TO {}").format(ident))
    for view in views.VIEWS:
        conn.execute(psycopg.sql.SQL("GRANT SELECT ON {} TO {}").format(psycopg.sql.Identifier(view), ident))


def grant_readonly(conn: psycopg.Connection, role: str) -> None:
    """Let an existing role read the analysts' views (central/views.py) and nothing else: no
    event, no table, no write. Remembered, so the grants survive the views being made again."""
    with conn.transaction():
        conn.execute("INSERT INTO settings(key, value) VALUES (%s, %s) ON CONFLICT (key) DO NOTHING",
                     (f"reader:{role}", role))
        _grant(conn, role)


class CentralStore:
    """One connection to the central PostgreSQL database. One instance per thread."""

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self.conn = psycopg.connect(dsn, autocommit=True)
        migrate(self.conn)
        self._rules = rollups.Rules()
        self._pending: dict[str, list[Event]] = {}

    # --- transactions -----------------------------------------------------------------------

    def begin(self) -> None:
        self._pending.clear()
        self.conn.execute("BEGIN")

    def commit(self) -> None:
        self._apply_pending()
        self.conn.execute("COMMIT")

    def rollback(self) -> None:
        self._pending.clear()
        if self.conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
            self.conn.execute("ROLLBACK")

    def _apply_pending(self) -> None:
        """What the transaction's new events add to the roll-ups, site by site in sorted order:
        every worker then takes the roll-ups' row locks in one global order (site, table, key) and
        never deadlocks another, and a group of messages costs one set of statements per site
        instead of one per message."""
        pending, self._pending = self._pending, {}
        for site in sorted(pending):
            rollups.apply(self.conn, site, pending[site], self._rules.get(self.conn, site))

    # --- writes (inside a transaction the caller opened) ------------------------------------

    def existing_ids(self, site: str, device: str, seqs: Sequence[int]) -> dict[int, str]:
        rows = self.conn.execute("SELECT seq, id FROM events WHERE site=%s AND device=%s AND seq = ANY(%s)",
                                 (site, device, sorted(set(seqs)))).fetchall()
        return {seq: eid for seq, eid in rows}

    def insert_events(self, events: Iterable[Event], received_ms: int | None = None) -> int:
        """One statement for the batch; an event already stored under its (site, device, seq)
        stays as it was. What the new ones add to the roll-ups is added in the same transaction,
        at its commit. Returns how many were new."""
        events = list(events)
        when = now_ms() if received_ms is None else received_ms
        cols: list[list[Any]] = [[] for _ in range(9)]
        for e in events:
            for col, value in zip(cols, (e.site, e.device, e.seq, e.id, e.type, e.ts,
                                         json.dumps(e.data, ensure_ascii=False, separators=(",", ":"),
                                                    sort_keys=True), e.v, when)):
                col.append(value)
        if not cols[0]:
            return 0
        # Binary parameters (%b): psycopg's text format escapes every quote of the JSON with a
        # regular expression, a quarter of the ingest's CPU (bench/RESULTS.md).
        new = set(self.conn.execute(
            "INSERT INTO events(site, device, seq, id, type, ts, data, v, received_ms) "
            "SELECT * FROM unnest(%b::text[], %b::text[], %b::bigint[], %b::text[], %b::text[], %b::bigint[], "
            "%b::text[], %b::integer[], %b::bigint[]) ON CONFLICT DO NOTHING RETURNING site, device, seq",
            cols).fetchall())
        fresh = [e for e in events if (e.site, e.device, e.seq) in new]
        for site, site_events in rollups.group_by_site(fresh).items():
            self._pending.setdefault(site, []).extend(site_events)
        if self.conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE:
            self._apply_pending()  # autocommit, no transaction of the caller's: add them now
        return len(new)

    def refuse(self, site: str, device: str, seq: int, event_id: str | None, when: int | None = None) -> None:
        self.conn.execute("INSERT INTO refused(site, device, seq, id, received_ms) VALUES (%s,%s,%s,%s,%s) "
                          "ON CONFLICT DO NOTHING",
                          (site, device, seq, _no_nul(event_id) if isinstance(event_id, str) else None,
                           now_ms() if when is None else when))

    def register_site(self, site: Site, text: str, when: int | None = None) -> None:
        """The site's configuration, as the centre published it: its devices' roles (what the
        ingest checks each device's events against) and what the roll-ups and views need."""
        when = now_ms() if when is None else when
        self.conn.execute("DELETE FROM devices WHERE site=%s", (site.id,))
        with self.conn.cursor() as cur:
            cur.executemany("INSERT INTO devices(site, device, role, updated_ms) VALUES (%s,%s,%s,%s)",
                            [(site.id, dev, role, when) for dev, role in sorted(site.devices.items())])
        rollups.register_site(self.conn, site, text, when)

    def dead_letter(self, d: DeadLetter, when: int | None = None) -> None:
        when = now_ms() if when is None else when
        raw = raw_payload(d)
        self.conn.execute(
            "INSERT INTO dead_letter(digest, first_ms, last_ms, count, topic, site, device, seq, reason, "
            "payload, payload_bytes) VALUES (%s,%s,%s,1,%s,%s,%s,%s,%s,%s,%s) "
            "ON CONFLICT(digest) DO UPDATE SET count = dead_letter.count + 1, last_ms = excluded.last_ms",
            (dead_letter_digest(d, raw), when, when, _text(d.topic, 1024),
             _no_nul(d.site) if isinstance(d.site, str) else None,
             _no_nul(d.device) if isinstance(d.device, str) else None,
             dead_seq(d),
             mask_personal(_text(d.reason, 1000)), mask_personal(_text(raw)), len(raw)))

    def watermark(self, site: str, device: str) -> int:
        row = self.conn.execute("SELECT seq FROM watermarks WHERE site=%s AND device=%s", (site, device)).fetchone()
        return row[0] if row else 0

    def _run_end(self, table: str, site: str, device: str, wm: int) -> int:
        """The end of the contiguous run of `table`'s rows right after `wm` (wm itself if none).
        One range scan above the watermark whatever the statistics say: a plan made while the
        table was nearly empty (a self-join) once took 19 s per call (bench/RESULTS.md)."""
        row = self.conn.execute(
            f"SELECT max(seq) FROM (SELECT seq, seq - row_number() OVER (ORDER BY seq) AS gap FROM {table} "
            "WHERE site = %s AND device = %s AND seq > %s) x WHERE gap = %s", (site, device, wm, wm)).fetchone()
        return row[0] if row and row[0] is not None else wm

    def advance_watermark(self, site: str, device: str, when: int | None = None) -> int:
        when = now_ms() if when is None else when
        # The device's watermark row, locked for this transaction: workers advance it one at a time.
        self.conn.execute("INSERT INTO watermarks(site, device, seq, updated_ms) VALUES (%s,%s,0,%s) "
                          "ON CONFLICT DO NOTHING", (site, device, when))
        row = self.conn.execute("SELECT seq FROM watermarks WHERE site=%s AND device=%s FOR UPDATE",
                                (site, device)).fetchone()
        start = end = row[0] if row else 0
        while True:
            nxt = self._run_end("refused", site, device, self._run_end("events", site, device, end))
            if nxt == end:
                break
            end = nxt
        if end != start:
            self.conn.execute("UPDATE watermarks SET seq=%s, updated_ms=%s WHERE site=%s AND device=%s",
                              (end, when, site, device))
        return end

    def roles(self, site: str) -> dict[str, str]:
        return dict(self.conn.execute("SELECT device, role FROM devices WHERE site=%s", (site,)).fetchall())

    def refused_seqs(self, site: str, device: str) -> list[int]:
        return [r[0] for r in self.conn.execute(
            "SELECT seq FROM refused WHERE site=%s AND device=%s ORDER BY seq", (site, device))]

    def set_status(self, site: str, device: str, leaf: str, payload: str, when: int | None = None) -> None:
        when = now_ms() if when is None else when
        col = "status" if leaf == "status" else "availability"
        prev = self.conn.execute("SELECT availability FROM device_status WHERE site=%s AND device=%s",
                                 (site, device)).fetchone()
        self.conn.execute(
            f"INSERT INTO device_status(site, device, {col}, {col}_ms) VALUES (%s,%s,%s,%s) "
            f"ON CONFLICT(site, device) DO UPDATE SET {col}=excluded.{col}, {col}_ms=excluded.{col}_ms",
            (site, device, _no_nul(payload), when))
        # The fleet's history: every change of availability (offline minutes per month), and the
        # backlog at most every SAMPLE_MS (a backlog that keeps growing is an alert).
        if leaf == "availability" and (prev is None or prev[0] != payload):
            self.conn.execute("INSERT INTO availability_log(site, device, ms, state) VALUES (%s,%s,%s,%s) "
                              "ON CONFLICT DO NOTHING", (site, device, when, payload))
        elif leaf == "status":
            try:
                backlog = json.loads(payload).get("backlog")
            except (ValueError, AttributeError):
                backlog = None
            if isinstance(backlog, int) and not isinstance(backlog, bool) and 0 <= backlog < 2**63:
                self.conn.execute(
                    "INSERT INTO status_samples(site, device, ms, backlog) SELECT %s, %s, %s, %s "
                    "WHERE NOT EXISTS (SELECT 1 FROM status_samples WHERE site=%s AND device=%s AND ms > %s)",
                    (site, device, when, backlog, site, device, when - SAMPLE_MS))

    # --- reads ------------------------------------------------------------------------------

    def count_events(self, site: str | None = None, device: str | None = None) -> int:
        sql, args = "SELECT count(*) FROM events", []
        if site is not None:
            sql += " WHERE site=%s" + (" AND device=%s" if device is not None else "")
            args = [site] + ([device] if device is not None else [])
        row = self.conn.execute(sql, args).fetchone()
        return int(row[0]) if row else 0

    def seqs(self, site: str, device: str) -> list[int]:
        return [r[0] for r in self.conn.execute(
            "SELECT seq FROM events WHERE site=%s AND device=%s ORDER BY seq", (site, device))]

    def dead_letters(self) -> list[dict[str, Any]]:
        cur = self.conn.execute("SELECT * FROM dead_letter ORDER BY id")
        names = [c.name for c in cur.description or ()]
        return [dict(zip(names, r)) for r in cur.fetchall()]

    def dead_letter_count(self) -> int:
        row = self.conn.execute("SELECT count(*) FROM dead_letter").fetchone()
        return int(row[0]) if row else 0

    def report(self) -> dict[str, Any]:
        return build_report(self.conn.execute)

    def figure_rows(self, site: str | None = None) -> Iterator[Row]:
        sql = "SELECT site, type, ts, data FROM events"
        args: tuple = ()
        if site is not None:
            sql += " WHERE site = %s"
            args = (site,)
        with self.conn.cursor() as cur:
            yield from rows_of(cur.execute(sql + " ORDER BY site, device, seq", args))

    # --- settings, retention ----------------------------------------------------------------

    def settings(self) -> dict[str, str]:
        return dict(self.conn.execute("SELECT key, value FROM settings WHERE key NOT LIKE 'reader:%%' "
                                      "ORDER BY key").fetchall())

    def set_setting(self, key: str, value: str) -> None:
        self.conn.execute("INSERT INTO settings(key, value) VALUES (%s, %s) "
                          "ON CONFLICT (key) DO UPDATE SET value = excluded.value", (key, value))

    def kept_from(self) -> str | None:
        """The first month whose raw events are all kept (None: nothing was ever pruned)."""
        return self.settings().get("kept_from")

    def prune(self, now: int | None = None) -> tuple[int, str | None]:
        """Delete the raw events of the months wholly older than the retention (`retention_days`;
        0 or unset keeps everything); the roll-ups stay. Returns (events deleted, first kept month)."""
        days = int(self.settings().get("retention_days", "0") or 0)
        if days <= 0:
            return 0, self.kept_from()
        edge = _dt.datetime.fromtimestamp((now_ms() if now is None else now) / 1000, tz=_dt.timezone.utc) \
            - _dt.timedelta(days=days)
        kept = edge.strftime("%Y-%m")
        # A day's margin: a site's month starts in its own time zone, up to a day either side of UTC,
        # and a rebuild from `kept` must still find every event of that month.
        cut = _dt.datetime.fromisoformat(kept + "-01T00:00:00+00:00") - _dt.timedelta(days=1)
        with self.conn.transaction():
            n = self.conn.execute("DELETE FROM events WHERE ts < %s", (int(cut.timestamp() * 1000),)).rowcount
            old = self.kept_from()
            if old is None or kept > old:
                self.set_setting("kept_from", kept)
        return n, self.kept_from()

    def prune_samples(self, now: int | None = None) -> int:
        """Delete the backlog samples older than SAMPLES_KEEP_MS; returns how many went."""
        edge = (now_ms() if now is None else now) - SAMPLES_KEEP_MS
        with self.conn.transaction():
            return self.conn.execute("DELETE FROM status_samples WHERE ms < %s", (edge,)).rowcount

    def checkpoint(self) -> None:
        """Nothing to do: PostgreSQL checkpoints on its own (the SQLite store truncates its WAL here)."""

    def close(self) -> None:
        try:
            self.conn.close()
        except psycopg.Error:
            pass

    def __enter__(self) -> "CentralStore":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def is_postgres(db: str) -> bool:
    """Whether `db` is a PostgreSQL connection string (a URL or key=value words)."""
    return db.startswith(("postgresql://", "postgres://")) or "dbname=" in db or db.startswith("host=")


def open_central(db: str) -> CentralStore:
    """The central store a `--db` names: a PostgreSQL connection string, e.g.
    "postgresql://palvelupiste@/palvelupiste" (the unix socket) or "host=… port=… dbname=…"."""
    if not is_postgres(db):
        raise ValueError(f"--db {db!r}: not a PostgreSQL connection string "
                         "(e.g. postgresql://palvelupiste@/palvelupiste)")
    return CentralStore(db)


def db_errors() -> tuple[type[Exception], ...]:
    """What the store raises when the database fails (nothing was stored; the batch is sent again)."""
    return (psycopg.Error,)
