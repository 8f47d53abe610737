"""The central roll-ups on PostgreSQL: what core/rollup.py computes, added to the tables in the
same transaction as the events that caused it (so an event is counted exactly when it is stored,
once), and rebuilt from the stored events on demand (`rebuild`: the same code path, so the same
numbers).

Two workers may add to the same rows at once: every upsert sends its rows sorted by key, so
they lock in one order and never deadlock each other.
"""
from __future__ import annotations

import datetime as _dt
import json
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import psycopg

from core.config import ConfigError, Site, loads_site
from core.national import authority_of
from core.rollup import HOUR_COLUMNS, NO_SERVICE, Delta, SiteRules, Stored, contributions

#: every table the roll-ups fill (rebuild empties them)
TABLES = ("rollup_hours", "rollup_month", "rollup_hist", "rollup_outcomes", "rollup_transfers", "rollup_days",
          "first_calls", "feedback_responses", "feedback_month", "rollup_keys")
#: not compared by `snapshot`: a change counter, which a rebuild moves on (migration 5)
STAMPS = "rollup_stamps"
#: events read per round by a rebuild
REBUILD_CHUNK = 20_000


@dataclass(frozen=True)
class StoredRow:
    """An event read back from the events table, as core.rollup needs it."""
    device: str
    seq: int
    type: str
    ts: int
    data: Any


def _month(day: str) -> str:
    return day[:7]


class Rules:
    """Each site's SiteRules from its registered configuration, reparsed only when it changed
    (another worker may have registered a newer one)."""

    def __init__(self) -> None:
        self._cache: dict[str, tuple[int, SiteRules]] = {}

    def get(self, conn: psycopg.Connection, site: str) -> SiteRules:
        row = conn.execute("SELECT updated_ms, config FROM sites WHERE site = %s", (site,)).fetchone()
        if row is None:
            return SiteRules()
        cached = self._cache.get(site)
        if cached is not None and cached[0] == row[0]:
            return cached[1]
        try:
            rules = SiteRules.of(loads_site(row[1], f"sites/{site}"))
        except ConfigError:
            rules = SiteRules()  # cannot happen for a configuration the ingest validated
        self._cache[site] = (row[0], rules)
        return rules


def register_site(conn: psycopg.Connection, site: Site, text: str, when: int) -> None:
    """The site's configuration as the roll-ups and the views read it: region, municipality,
    time zone, each service's authority and target (replacing what was registered before)."""
    conn.execute(
        "INSERT INTO sites(site, region, municipality, timezone, config, updated_ms) VALUES (%s,%s,%s,%s,%s,%s) "
        "ON CONFLICT (site) DO UPDATE SET region = excluded.region, municipality = excluded.municipality, "
        "timezone = excluded.timezone, config = excluded.config, updated_ms = excluded.updated_ms",
        (site.id, site.region, site.municipality, site.timezone, text, when))
    conn.execute("DELETE FROM site_services WHERE site = %s", (site.id,))
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO site_services(site, service, authority, target_wait_min) VALUES (%s,%s,%s,%s)",
            [(site.id, s.id, authority_of(s.id, s.authority), s.target_wait_min)
             for s in sorted(site.services.values(), key=lambda s: s.id)])
    # The site's keys made now, once: two ingest workers inserting the same new keys in the
    # middle of their batches, in different orders, deadlocked (an existing key takes no lock).
    conn.execute("INSERT INTO rollup_keys(site, service) SELECT %s, s FROM unnest(%s::text[]) AS u(s) "
                 "ORDER BY s ON CONFLICT DO NOTHING", (site.id, sorted({NO_SERVICE, *site.services})))


def apply(conn: psycopg.Connection, site: str, events: Iterable[Stored], rules: SiteRules) -> None:
    """Add what `events` (newly stored, of one site) contribute. Inside the caller's transaction."""
    delta = contributions(events, rules)
    if delta.empty():
        return
    if delta.calls:
        calls = sorted(delta.calls, key=lambda c: c.key)
        new = set(conn.execute(
            "INSERT INTO first_calls(site, ticket, service) SELECT %b, t, s FROM unnest(%b::text[], %b::text[]) "
            "AS u(t, s) ON CONFLICT DO NOTHING RETURNING ticket, service",
            (site, [c.key[0] for c in calls], [c.key[1] for c in calls])).fetchall())
        for c in calls:
            if c.key in new:
                delta.add_call(c)
    _write(conn, site, delta)


def _write(conn: psycopg.Connection, site: str, d: Delta) -> None:
    services = {k[0] for k in d.hours} | {k[0] for k in d.hist} | {k[0] for k in d.outcomes} \
        | {k[0] for k in d.transfers} | {r.service for r in d.feedback.values()}
    conn.execute("INSERT INTO rollup_keys(site, service) SELECT %b, s FROM unnest(%b::text[]) AS u(s) "
                 "ORDER BY s ON CONFLICT DO NOTHING", (site, sorted(services)))
    if d.hours:
        keys = sorted(d.hours, key=lambda k: (k[1], k[0], k[2]))
        cols = ", ".join(HOUR_COLUMNS)
        arrays = [[d.hours[k][i] for k in keys] for i in range(len(HOUR_COLUMNS))]
        conn.execute(
            f"INSERT INTO rollup_hours(site, day, service, hour, month, {cols}) "
            f"SELECT %b, u.* FROM unnest(%b::date[], %b::text[], %b::smallint[], %b::text[], "
            + ", ".join(["%b::bigint[]"] * len(HOUR_COLUMNS)) + ") AS u "
            "ON CONFLICT (site, day, service, hour) DO UPDATE SET "
            + ", ".join(f"{c} = rollup_hours.{c} + excluded.{c}" for c in HOUR_COLUMNS),
            (site, [k[1] for k in keys], [k[0] for k in keys], [k[2] for k in keys],
             [_month(k[1]) for k in keys], *arrays))
        # The same sums per month: what the monthly views read (migration 4).
        months: dict[tuple[str, str], list[int]] = {}
        for k in keys:
            row = months.setdefault((_month(k[1]), k[0]), [0] * len(HOUR_COLUMNS))
            for i, v in enumerate(d.hours[k]):
                row[i] += v
        mk = sorted(months)
        conn.execute(
            f"INSERT INTO rollup_month(month, site, service, {cols}) SELECT u.m, %b, u.s, "
            + ", ".join(f"u.{c}" for c in HOUR_COLUMNS) + " FROM unnest(%b::text[], %b::text[], "
            + ", ".join(["%b::bigint[]"] * len(HOUR_COLUMNS)) + f") AS u(m, s, {cols}) "
            "ON CONFLICT (month, site, service) DO UPDATE SET "
            + ", ".join(f"{c} = rollup_month.{c} + excluded.{c}" for c in HOUR_COLUMNS),
            (site, [k[0] for k in mk], [k[1] for k in mk],
             *[[months[k][i] for k in mk] for i in range(len(HOUR_COLUMNS))]))
    if d.hist:
        hk = sorted(d.hist)
        conn.execute(
            "INSERT INTO rollup_hist(month, site, service, metric, bin, n) "
            "SELECT u.m, %b, u.s, u.x, u.b, u.n FROM unnest(%b::text[], %b::text[], %b::text[], %b::smallint[], "
            "%b::bigint[]) AS u(m, s, x, b, n) "
            "ON CONFLICT (month, site, service, metric, bin) DO UPDATE SET n = rollup_hist.n + excluded.n",
            (site, [k[1] for k in hk], [k[0] for k in hk], [k[2] for k in hk], [k[3] for k in hk],
             [d.hist[k] for k in hk]))
    if d.outcomes:
        ok = sorted(d.outcomes, key=lambda k: (k[1], k[0], k[2]))
        conn.execute(
            "INSERT INTO rollup_outcomes(site, day, service, outcome, month, n) "
            "SELECT %b, u.* FROM unnest(%b::date[], %b::text[], %b::text[], %b::text[], %b::bigint[]) AS u "
            "ON CONFLICT (site, day, service, outcome) DO UPDATE SET n = rollup_outcomes.n + excluded.n",
            (site, [k[1] for k in ok], [k[0] for k in ok], [k[2] for k in ok], [_month(k[1]) for k in ok],
             [d.outcomes[k] for k in ok]))
    if d.transfers:
        tk = sorted(d.transfers, key=lambda k: (k[2], k[0], k[1]))
        conn.execute(
            "INSERT INTO rollup_transfers(site, day, from_service, to_service, month, n) "
            "SELECT %b, u.* FROM unnest(%b::date[], %b::text[], %b::text[], %b::text[], %b::bigint[]) AS u "
            "ON CONFLICT (site, day, from_service, to_service) DO UPDATE SET n = rollup_transfers.n + excluded.n",
            (site, [k[2] for k in tk], [k[0] for k in tk], [k[1] for k in tk], [_month(k[2]) for k in tk],
             [d.transfers[k] for k in tk]))
    if d.days:
        days = sorted(d.days)
        conn.execute(
            "INSERT INTO rollup_days(site, day, month, open_s) "
            "SELECT %b, u.* FROM unnest(%b::date[], %b::text[], %b::integer[]) AS u ON CONFLICT DO NOTHING",
            (site, days, [_month(x) for x in days], [d.days[x] for x in days]))
    # The months whose figures this changes (the feedback trigger adds the months a replaced
    # response left): the web service's cache of reports sees it.
    touched = {_month(k[1]) for k in d.hours} | {k[1] for k in d.hist} | {_month(k[1]) for k in d.outcomes} \
        | {_month(k[2]) for k in d.transfers} | {_month(x) for x in d.days} | {_month(r.day) for r in d.feedback.values()}
    conn.execute("INSERT INTO rollup_stamps AS s (month, site, version) SELECT m, %b, 1 FROM unnest(%b::text[]) AS u(m) "
                 "ORDER BY m ON CONFLICT (month, site) DO UPDATE SET version = s.version + 1", (site, sorted(touched)))
    if d.feedback:
        rs = sorted(d.feedback.values(), key=lambda r: r.response)
        fcols = ("response", "rev", "device", "seq", "service", "day", "month", "hour", "rating", "scale",
                "sentiment", "outcome", "self_service", "flagged")
        types = ("text", "bigint", "text", "bigint", "text", "date", "text", "smallint", "smallint", "smallint",
                 "text", "text", "text", "boolean")
        values = [[r.response for r in rs], [r.rank[0] for r in rs], [r.rank[1] for r in rs],
                  [r.rank[2] for r in rs], [r.service for r in rs], [r.day for r in rs],
                  [_month(r.day) for r in rs], [r.hour for r in rs], [r.rating for r in rs], [r.scale for r in rs],
                  [r.sentiment for r in rs], [r.outcome for r in rs], [r.self_service for r in rs],
                  [r.flagged for r in rs]]
        # A response keeps its last snapshot: the highest (rev, device, seq), compared as
        # core/figures.py does (device ids byte-wise, whatever the database's collation).
        conn.execute(
            f"INSERT INTO feedback_responses(site, {', '.join(fcols)}) SELECT %b, u.* FROM unnest("
            + ", ".join(f"%b::{t}[]" for t in types) + ") AS u "
            "ON CONFLICT (site, response) DO UPDATE SET "
            + ", ".join(f"{c} = excluded.{c}" for c in fcols if c != "response")
            + " WHERE (feedback_responses.rev, feedback_responses.device COLLATE \"C\", feedback_responses.seq) "
              "< (excluded.rev, excluded.device COLLATE \"C\", excluded.seq)",
            (site, *values))


def _read(conn: psycopg.Connection, site: str, since_ms: int) -> Iterator[list[StoredRow]]:
    """The site's events in (device, seq) order, a chunk at a time (a server-side cursor)."""
    with conn.cursor(name=f"rebuild_{abs(hash(site))}") as cur:
        cur.itersize = REBUILD_CHUNK
        cur.execute("SELECT device, seq, type, ts, data FROM events WHERE site = %s AND ts >= %s "
                    "ORDER BY device, seq", (site, since_ms))
        chunk: list[StoredRow] = []
        for device, seq, etype, ts, data in cur:
            try:
                chunk.append(StoredRow(device, seq, etype, ts, json.loads(data)))
            except ValueError:
                continue
            if len(chunk) >= REBUILD_CHUNK:
                yield chunk
                chunk = []
        if chunk:
            yield chunk


def rebuild(conn: psycopg.Connection, since_month: str | None = None, sites: Iterable[str] | None = None) -> int:
    """Recompute the roll-ups of `since_month` on (every month when None) from the stored events,
    in one transaction: readers see the old numbers until it commits. Returns the events read."""
    rules = Rules()
    n = 0
    with conn.transaction():
        if sites is None:
            names = [r[0] for r in conn.execute("SELECT DISTINCT site FROM events ORDER BY site")]
            names = sorted(set(names) | {r[0] for r in conn.execute("SELECT site FROM rollup_keys")})
        else:
            names = sorted(sites)
        for site in names:
            _clear(conn, site, since_month)
            site_rules = rules.get(conn, site)
            since_ms = 0
            if since_month:
                first = _dt.datetime.fromisoformat(since_month + "-01").replace(tzinfo=site_rules.tz)
                since_ms = int(first.timestamp() * 1000)
            for chunk in _read(conn, site, since_ms):
                n += len(chunk)
                apply(conn, site, chunk, site_rules)
    return n


def _clear(conn: psycopg.Connection, site: str, since_month: str | None) -> None:
    month = since_month or ""
    # feedback_month follows feedback_responses by itself (its triggers).
    for table in ("rollup_hours", "rollup_month", "rollup_hist", "rollup_outcomes", "rollup_transfers", "rollup_days",
                  "feedback_responses"):
        conn.execute(f"DELETE FROM {table} WHERE site = %s AND month >= %s", (site, month))
    # A ticket id starts with its day ("2026-11-23/K001").
    conn.execute("DELETE FROM first_calls WHERE site = %s AND ticket >= %s", (site, month))
    conn.execute("UPDATE rollup_stamps SET version = version + 1 WHERE site = %s AND month >= %s", (site, month))


def snapshot(conn: psycopg.Connection) -> dict[str, list[tuple]]:
    """Every roll-up table's rows, sorted: what a rebuild must reproduce exactly."""
    out: dict[str, list[tuple]] = {}
    for table in TABLES:
        out[table] = sorted(tuple(r) for r in conn.execute(f"SELECT * FROM {table}"))
    return out


def group_by_site(events: Iterable[Any]) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = defaultdict(list)
    for e in events:
        out[e.site].append(e)
    return out


__all__ = ["NO_SERVICE", "Rules", "apply", "rebuild", "register_site", "snapshot", "group_by_site"]
