"""The central event database: every event of every device, stored exactly once.

One SQLite file (WAL, `synchronous=FULL` on every connection). Several ingest workers may share
it: each batch is written inside one `BEGIN IMMEDIATE` transaction, the primary key
(site, device, seq) makes a second copy of an event impossible, and the acknowledgement sent
back to a device is read from the database (the per-device contiguous watermark), never from
what one worker happens to have seen.

Tables
    events         (site, device, seq) primary key; id, type, ts, data (JSON text), v, received_ms
    watermarks     (site, device) → seq: highest sequence such that 1..seq are all stored
    dead_letter    what could not be stored, with the reason and the (truncated) raw payload
                   (identity codes and phone numbers masked); one row per distinct (topic, reason,
                   payload), `count` says how often it came
    refused        (site, device, seq) of events the ingest refused (wrong role, type or shape):
                   only the envelope's id, never the data; the watermark steps over them, so the
                   device's ack moves on instead of the device sending them again forever
    devices        (site, device) → role, from the site configurations the centre publishes
                   (`register_site`); what the ingest checks each device's event types against
    device_status  the last retained status / availability each device published
"""
from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlite_utils

from core.events import Event, now_ms
from core.privacy import mask_personal
from core.store import connect

if TYPE_CHECKING:
    from core.figures import Row

#: The raw payload kept with a dead letter is cut to this many bytes.
DEAD_PAYLOAD_BYTES = 4096
_IN_CHUNK = 500


def dead_text(payload: bytes | str, limit: int = DEAD_PAYLOAD_BYTES) -> str:
    if isinstance(payload, str):
        payload = payload.encode("utf-8", "surrogatepass")
    return payload[:limit].decode("utf-8", "backslashreplace")


@dataclass(frozen=True)
class DeadLetter:
    reason: str
    topic: str
    payload: bytes | str
    site: str | None = None
    device: str | None = None
    seq: int | None = None


def raw_payload(d: DeadLetter) -> bytes:
    return d.payload.encode("utf-8", "surrogatepass") if isinstance(d.payload, str) else bytes(d.payload)


def dead_letter_digest(d: DeadLetter, raw: bytes) -> str:
    """What makes two dead letters one row (with a count): topic, reason and payload."""
    h = hashlib.sha256()
    for part in (d.topic.encode("utf-8", "surrogatepass"), d.reason.encode("utf-8", "surrogatepass"), raw):
        h.update(len(part).to_bytes(8, "big"))
        h.update(part)
    return h.hexdigest()


def dead_seq(d: DeadLetter) -> int | None:
    """The dead letter's sequence number as stored: an int that fits a 64-bit column, or nothing."""
    return d.seq if isinstance(d.seq, int) and not isinstance(d.seq, bool) and abs(d.seq) < 2**63 else None


def rows_of(records: Iterable[Sequence[Any]]) -> Iterator[Row]:
    """(site, type, ts, data JSON) records as core.figures.Rows; a record whose data is no JSON is left out."""
    from core.figures import Row

    for s, etype, ts, data in records:
        try:
            yield Row(s, etype, ts, json.loads(data))
        except ValueError:
            continue


def build_report(execute: Callable[[str], Iterable[Sequence[Any]]]) -> dict[str, Any]:
    """Counts per site and device and per event type, watermarks, dead letters, device status.
`execute`: a connection's execute (sqlite3 or psycopg: the queries take no parameters)."""
    devices: dict[str, dict[str, Any]] = {}
    for site, device, n, lo, hi, last_ms in execute(
            "SELECT site, device, count(*), min(seq), max(seq), max(received_ms) FROM events "
            "GROUP BY site, device ORDER BY site, device"):
        devices[f"{site}/{device}"] = {"site": site, "device": device, "events": n, "min_seq": lo,
                                       "max_seq": hi, "last_received_ms": last_ms, "types": {}}
    for site, device, etype, n in execute(
            "SELECT site, device, type, count(*) FROM events GROUP BY site, device, type"):
        devices[f"{site}/{device}"]["types"][etype] = n
    for site, device, seq in execute("SELECT site, device, seq FROM watermarks"):
        d = devices.setdefault(f"{site}/{device}", {"site": site, "device": device, "events": 0, "types": {}})
        d["acked_seq"] = seq
    for site, device, status, status_ms, avail, avail_ms in execute(
            "SELECT site, device, status, status_ms, availability, availability_ms FROM device_status"):
        d = devices.setdefault(f"{site}/{device}", {"site": site, "device": device, "events": 0, "types": {}})
        try:
            d["status"] = json.loads(status) if status else None
        except ValueError:
            d["status"] = None
        d["availability"] = avail
        d["availability_ms"] = avail_ms
    for d in devices.values():
        d.setdefault("acked_seq", 0)
        d["beyond_watermark"] = max(0, (d.get("max_seq") or 0) - d["acked_seq"])
    sites: dict[str, dict[str, Any]] = {}
    for d in devices.values():
        s = sites.setdefault(d["site"], {"events": 0, "devices": 0, "types": {}})
        s["events"] += d["events"]
        s["devices"] += 1
        for t, n in d["types"].items():
            s["types"][t] = s["types"].get(t, 0) + n
    # int(): PostgreSQL sums to a Decimal.
    dead = [{"reason": r, "rows": n, "times": int(c)} for r, n, c in execute(
        "SELECT reason, count(*), sum(count) FROM dead_letter GROUP BY reason ORDER BY count(*) DESC LIMIT 50")]
    total_dead = list(execute("SELECT count(*), coalesce(sum(count), 0) FROM dead_letter"))[0]
    return {"sites": sites, "devices": list(devices.values()),
            "dead_letters": {"rows": total_dead[0], "times": int(total_dead[1]), "by_reason": dead}}



class CentralDB:
    """One connection to the central database. One instance per thread."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.conn = connect(self.path)
        self.db = sqlite_utils.Database(self.conn)
        self._create()

    def _create(self) -> None:
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            self.db.table("events").create(
                {"site": str, "device": str, "seq": int, "id": str, "type": str, "ts": int,
                 "data": str, "v": int, "received_ms": int},
                pk=("site", "device", "seq"), not_null={"id", "type", "ts", "data", "v", "received_ms"},
                if_not_exists=True)
            self.db.table("events").create_index(["site", "type", "ts"], if_not_exists=True)
            self.db.table("events").create_index(["id"], if_not_exists=True)
            self.db.table("watermarks").create(
                {"site": str, "device": str, "seq": int, "updated_ms": int},
                pk=("site", "device"), not_null={"seq", "updated_ms"}, if_not_exists=True)
            self.db.table("dead_letter").create(
                {"id": int, "digest": str, "first_ms": int, "last_ms": int, "count": int, "topic": str,
                 "site": str, "device": str, "seq": int, "reason": str, "payload": str, "payload_bytes": int},
                pk="id", not_null={"digest", "first_ms", "last_ms", "count", "reason"}, if_not_exists=True)
            self.db.table("dead_letter").create_index(["digest"], unique=True, if_not_exists=True)
            self.db.table("refused").create(
                {"site": str, "device": str, "seq": int, "id": str, "received_ms": int},
                pk=("site", "device", "seq"), not_null={"received_ms"}, if_not_exists=True)
            self.db.table("devices").create(
                {"site": str, "device": str, "role": str, "updated_ms": int},
                pk=("site", "device"), not_null={"role", "updated_ms"}, if_not_exists=True)
            self.db.table("device_status").create(
                {"site": str, "device": str, "status": str, "status_ms": int, "availability": str,
                 "availability_ms": int},
                pk=("site", "device"), if_not_exists=True)
            self.conn.execute("COMMIT")
        except BaseException:
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
            raise

    # --- transactions -----------------------------------------------------------------------

    def begin(self) -> None:
        self.conn.execute("BEGIN IMMEDIATE")

    def commit(self) -> None:
        self.conn.execute("COMMIT")

    def rollback(self) -> None:
        if self.conn.in_transaction:
            self.conn.execute("ROLLBACK")

    # --- writes (inside a transaction the caller opened) ------------------------------------

    def existing_ids(self, site: str, device: str, seqs: Sequence[int]) -> dict[int, str]:
        """Event ids already stored for these sequence numbers of one device."""
        out: dict[int, str] = {}
        uniq = sorted(set(seqs))
        for i in range(0, len(uniq), _IN_CHUNK):
            chunk = uniq[i:i + _IN_CHUNK]
            marks = ",".join("?" * len(chunk))
            out.update(self.conn.execute(
                f"SELECT seq, id FROM events WHERE site=? AND device=? AND seq IN ({marks})",
                (site, device, *chunk)).fetchall())
        return out

    def insert_events(self, events: Iterable[Event], received_ms: int | None = None) -> int:
        """INSERT OR IGNORE: an event already stored under its (site, device, seq) stays as it was."""
        when = now_ms() if received_ms is None else received_ms
        rows = [(e.site, e.device, e.seq, e.id, e.type, e.ts,
                 json.dumps(e.data, ensure_ascii=False, separators=(",", ":"), sort_keys=True), e.v, when)
                for e in events]
        before = self.conn.total_changes
        self.conn.executemany(
            "INSERT OR IGNORE INTO events(site, device, seq, id, type, ts, data, v, received_ms) "
            "VALUES (?,?,?,?,?,?,?,?,?)", rows)
        return self.conn.total_changes - before

    def refuse(self, site: str, device: str, seq: int, event_id: str | None, when: int | None = None) -> None:
        """Note a sequence number of the device as refused (its dead letter says why)."""
        self.conn.execute("INSERT OR IGNORE INTO refused(site, device, seq, id, received_ms) VALUES (?,?,?,?,?)",
                          (site, device, seq, event_id if isinstance(event_id, str) else None,
                           now_ms() if when is None else when))

    def register_site(self, site: str, devices: dict[str, str], when: int | None = None) -> None:
        """The site's devices and their roles, replacing what was registered for it before."""
        when = now_ms() if when is None else when
        self.conn.execute("DELETE FROM devices WHERE site=?", (site,))
        self.conn.executemany("INSERT INTO devices(site, device, role, updated_ms) VALUES (?,?,?,?)",
                              [(site, dev, role, when) for dev, role in sorted(devices.items())])

    def dead_letter(self, d: DeadLetter, when: int | None = None) -> None:
        when = now_ms() if when is None else when
        raw = raw_payload(d)
        self.conn.execute(
            "INSERT INTO dead_letter(digest, first_ms, last_ms, count, topic, site, device, seq, reason, "
            "payload, payload_bytes) VALUES (?,?,?,1,?,?,?,?,?,?,?) "
            "ON CONFLICT(digest) DO UPDATE SET count = count + 1, last_ms = excluded.last_ms",
            (dead_letter_digest(d, raw), when, when, dead_text(d.topic, 1024), d.site, d.device,
             dead_seq(d),
             # A refused payload may be exactly the personal data that must not be kept.
             mask_personal(dead_text(d.reason, 1000)), mask_personal(dead_text(raw)), len(raw)))

    def watermark(self, site: str, device: str) -> int:
        row = self.conn.execute("SELECT seq FROM watermarks WHERE site=? AND device=?", (site, device)).fetchone()
        return row[0] if row else 0

    def _run_end(self, table: str, site: str, device: str, wm: int) -> int:
        """The end of the contiguous run of `table`'s rows right after `wm` (wm itself if none)."""
        has_next = self.conn.execute(
            f"SELECT 1 FROM {table} WHERE site=? AND device=? AND seq=?", (site, device, wm + 1)).fetchone()
        if not has_next:
            return wm
        # The first row after the watermark whose successor is missing ends the run.
        row = self.conn.execute(
            f"SELECT e.seq FROM {table} e WHERE e.site=? AND e.device=? AND e.seq > ? AND NOT EXISTS "
            f"(SELECT 1 FROM {table} n WHERE n.site=e.site AND n.device=e.device AND n.seq=e.seq+1) "
            "ORDER BY e.seq LIMIT 1", (site, device, wm)).fetchone()
        end: int = row[0]
        return end

    def advance_watermark(self, site: str, device: str, when: int | None = None) -> int:
        """Move the device's watermark over every contiguous stored or refused row; never past a gap."""
        start = end = self.watermark(site, device)
        while True:
            # Stored runs and refused runs alternate; refused ones are rare, so this loops seldom.
            nxt = self._run_end("refused", site, device, self._run_end("events", site, device, end))
            if nxt == end:
                break
            end = nxt
        if end == start:
            return start
        self.conn.execute(
            "INSERT INTO watermarks(site, device, seq, updated_ms) VALUES (?,?,?,?) "
            "ON CONFLICT(site, device) DO UPDATE SET seq=excluded.seq, updated_ms=excluded.updated_ms",
            (site, device, end, now_ms() if when is None else when))
        return end

    def roles(self, site: str) -> dict[str, str]:
        """device → role of the site as registered ({} when its configuration never came)."""
        return dict(self.conn.execute("SELECT device, role FROM devices WHERE site=?", (site,)).fetchall())

    def refused_seqs(self, site: str, device: str) -> list[int]:
        return [r[0] for r in self.conn.execute(
            "SELECT seq FROM refused WHERE site=? AND device=? ORDER BY seq", (site, device))]

    def set_status(self, site: str, device: str, leaf: str, payload: str, when: int | None = None) -> None:
        when = now_ms() if when is None else when
        col = "status" if leaf == "status" else "availability"
        self.conn.execute(
            f"INSERT INTO device_status(site, device, {col}, {col}_ms) VALUES (?,?,?,?) "
            f"ON CONFLICT(site, device) DO UPDATE SET {col}=excluded.{col}, {col}_ms=excluded.{col}_ms",
            (site, device, payload, when))

    # --- reads ------------------------------------------------------------------------------

    def count_events(self, site: str | None = None, device: str | None = None) -> int:
        sql, args = "SELECT count(*) FROM events", []
        if site is not None:
            sql += " WHERE site=?" + (" AND device=?" if device is not None else "")
            args = [site] + ([device] if device is not None else [])
        n: int = self.conn.execute(sql, args).fetchone()[0]
        return n

    def seqs(self, site: str, device: str) -> list[int]:
        return [r[0] for r in self.conn.execute(
            "SELECT seq FROM events WHERE site=? AND device=? ORDER BY seq", (site, device))]

    def dead_letters(self) -> list[dict[str, Any]]:
        cur = self.conn.execute("SELECT * FROM dead_letter ORDER BY id")
        names = [c[0] for c in cur.description]
        return [dict(zip(names, r)) for r in cur.fetchall()]

    def dead_letter_count(self) -> int:
        n: int = self.conn.execute("SELECT count(*) FROM dead_letter").fetchone()[0]
        return n

    def report(self) -> dict[str, Any]:
        return build_report(self.conn.execute)

    def figure_rows(self, site: str | None = None) -> Iterator[Row]:
        """Every event as a core.figures.Row, in (site, device, seq) order, for the figures."""

        sql = "SELECT site, type, ts, data FROM events"
        args: tuple = ()
        if site is not None:
            sql += " WHERE site = ?"
            args = (site,)
        yield from rows_of(self.conn.execute(sql + " ORDER BY site, device, seq", args))

    def checkpoint(self) -> None:
        try:
            self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        except sqlite3.OperationalError:
            pass  # busy: another worker is writing; the next one will do

    def close(self) -> None:
        try:
            self.conn.close()
        except sqlite3.Error:
            pass

    def __enter__(self) -> "CentralDB":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
