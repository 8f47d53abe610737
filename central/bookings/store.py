"""The booking feeds' tables (central/migrations.py, migration 6) and one import, all or nothing.

An import reads the feed (fetch, drop file or pushed body), parses it whole, compares it with the
bookings stored from the last good import, and in ONE transaction replaces the feed's bookings,
appends the changes for today and tomorrow to the site's change log (numbered per site, in order)
and records the feed's health. A feed that cannot be read records only its error (and since when
it fails): the last good bookings stay, nothing is half imported.

What is stored: a booking's reference (HMAC of its code with the site's key, `site_keys`), service,
start, minutes, the site's room id, needs from a fixed vocabulary, cancelled or not. No code, no
text of the feed. A failure's reason names a host, a line or a property, never the feed's content.
"""
from __future__ import annotations

import datetime as _dt
import json
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
from psycopg.types.json import Jsonb

from core.config import Site
from core.engine import Needs

from .delta import change_to_json, changes_for_days
from .feeds import Feed
from .fetch import Fetched, FetchError, _mb, fetch
from .ical import Booking, BookingFeedError, FeedImport, parse_feed
from .table import parse_table

#: Two days a site needs: today and tomorrow (local).
DAYS_AHEAD = 2


def site_key(conn: psycopg.Connection, site: str, now_ms: int) -> bytes:
    """The site's key for booking references, made on first use. The site's hub gets the same key
    (`palvelupiste central site-key`) so that a code typed at the kiosk finds its booking."""
    conn.execute("INSERT INTO site_keys (site, key, created_ms) VALUES (%s, %s, %s) ON CONFLICT DO NOTHING",
                 (site, secrets.token_bytes(32), now_ms))
    row = conn.execute("SELECT key FROM site_keys WHERE site = %s", (site,)).fetchone()
    assert row is not None
    return bytes(row[0])


def days_for(site: Site, now_ms: int) -> list[_dt.date]:
    today = _dt.datetime.fromtimestamp(now_ms / 1000, site.tz).date()
    return [today + _dt.timedelta(days=i) for i in range(DAYS_AHEAD)]


def stored_bookings(conn: psycopg.Connection, feed: str, tz: ZoneInfo) -> list[Booking]:
    rows = conn.execute("SELECT key, ref, service, start_ms, duration_min, room, needs, cancelled FROM bookings "
                        "WHERE feed = %s", (feed,)).fetchall()
    return [Booking(key=k, ref=r, service=s, start=_dt.datetime.fromtimestamp(ms / 1000, tz), duration_min=d,
                    room=room, needs=Needs.from_dict(n), cancelled=c) for k, r, s, ms, d, room, n, c in rows]


@dataclass(frozen=True)
class Outcome:
    feed: str
    ok: bool
    changes: int = 0
    imported: int = 0
    skipped: int = 0
    unchanged: bool = False  # the server said 304
    reason: str = ""
    first_seq: int | None = None
    last_seq: int | None = None


def _record_failure(conn: psycopg.Connection, feed: Feed, reason: str, now_ms: int) -> Outcome:
    with conn.transaction():
        conn.execute(
            "INSERT INTO booking_feeds (feed, site, last_attempt_ms, error, failing_since_ms) "
            "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (feed) DO UPDATE SET site = EXCLUDED.site, "
            "last_attempt_ms = EXCLUDED.last_attempt_ms, error = EXCLUDED.error, "
            "failing_since_ms = COALESCE(booking_feeds.failing_since_ms, EXCLUDED.failing_since_ms)",
            (feed.id, feed.site, now_ms, reason, now_ms))
    return Outcome(feed.id, False, reason=reason)


def record_import(conn: psycopg.Connection, feed: Feed, site: Site, result: FeedImport, now_ms: int,
                  etag: str | None = None) -> Outcome:
    """Store a parsed feed and the changes it makes, in one transaction."""
    days = days_for(site, now_ms)
    with conn.transaction():
        # One import of a site's feeds at a time: the change log's numbers stay in order.
        conn.execute("SELECT pg_advisory_xact_lock(hashtext('bookings:' || %s))", (site.id,))
        old = stored_bookings(conn, feed.id, site.tz)
        changes = changes_for_days(old, result.bookings, days)
        conn.execute("DELETE FROM bookings WHERE feed = %s", (feed.id,))
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO bookings (feed, key, site, ref, service, start_ms, duration_min, room, needs, cancelled) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                [(feed.id, b.key, site.id, b.ref, b.service, b.at_ms, b.duration_min, b.room,
                  Jsonb({k: v for k, v in b.needs.to_dict().items() if v}), b.cancelled) for b in result.bookings])
        first = last = None
        if changes:
            row = conn.execute("SELECT COALESCE(max(seq), 0) FROM booking_changes WHERE site = %s", (site.id,)).fetchone()
            first = int(row[0]) + 1 if row else 1
            with conn.cursor() as cur:
                cur.executemany("INSERT INTO booking_changes (site, seq, feed, body, created_ms) "
                                "VALUES (%s, %s, %s, %s, %s)",
                                [(site.id, first + i, feed.id, Jsonb(change_to_json(c)), now_ms)
                                 for i, c in enumerate(changes)])
            last = first + len(changes) - 1
        skipped = sum(result.skipped.values())
        conn.execute(
            "INSERT INTO booking_feeds (feed, site, last_attempt_ms, last_ok_ms, imported, skipped, error, "
            "failing_since_ms, etag) VALUES (%s, %s, %s, %s, %s, %s, NULL, NULL, %s) ON CONFLICT (feed) DO UPDATE SET "
            "site = EXCLUDED.site, last_attempt_ms = EXCLUDED.last_attempt_ms, last_ok_ms = EXCLUDED.last_ok_ms, "
            "imported = EXCLUDED.imported, skipped = EXCLUDED.skipped, error = NULL, failing_since_ms = NULL, "
            "etag = EXCLUDED.etag",
            (feed.id, site.id, now_ms, now_ms, len(result.bookings), skipped, etag))
    return Outcome(feed.id, True, changes=len(changes), imported=len(result.bookings), skipped=skipped,
                   first_seq=first, last_seq=last)


def _body(feed: Feed, conn: psycopg.Connection, fetcher: Callable[..., Fetched], push_dir: Path | None
          ) -> tuple[bytes | None, str | None]:
    """(the feed's bytes, its ETag); None bytes: unchanged. Raises FetchError."""
    if feed.kind == "ical":
        row = conn.execute("SELECT etag FROM booking_feeds WHERE feed = %s", (feed.id,)).fetchone()
        got = fetcher(feed.url, timeout_s=feed.timeout_s, max_bytes=feed.max_bytes, ca_file=feed.ca_file,
                      etag=row[0] if row else None)
        return got.body, got.etag
    folder = Path(feed.drop_dir) if feed.kind == "drop" else push_dir
    if folder is None:
        raise FetchError("no directory for pushed feeds is configured")
    for ext in ("json", "csv", "ics"):
        p = folder / f"{feed.id}.{ext}"
        try:
            st = p.stat()
        except FileNotFoundError:
            continue
        if st.st_size > feed.max_bytes:
            raise FetchError(f"the file is {_mb(st.st_size)}, over the {_mb(feed.max_bytes)} limit")
        return p.read_bytes(), f"{st.st_mtime_ns}:{st.st_size}"
    raise FetchError(f"no {feed.id}.csv or {feed.id}.json in its directory yet")


def _is_ical(body: bytes) -> bool:
    return body.lstrip(b"\xef\xbb\xbf \r\n\t")[:15].upper() == b"BEGIN:VCALENDAR"


def import_feed(conn: psycopg.Connection, feed: Feed, site: Site, now_ms: int, *,
                fetcher: Callable[..., Fetched] = fetch, push_dir: Path | None = None,
                force: bool = False, cache: dict[str, Any] | None = None) -> Outcome:
    """Read, parse and store one feed. Never raises for what the feed or its server did.
    `cache`: a dict kept for this feed between imports (central/bookings/ical.py parse_feed)."""
    try:
        body, etag = _body(feed, conn, fetcher, push_dir)
    except FetchError as exc:
        return _record_failure(conn, feed, exc.reason, now_ms)
    if feed.kind != "ical" and not force:
        row = conn.execute("SELECT etag, error FROM booking_feeds WHERE feed = %s", (feed.id,)).fetchone()
        if row and row[0] == etag and row[1] is None:
            body = None  # the same file as last time
    if body is None:
        with conn.transaction():
            conn.execute("UPDATE booking_feeds SET last_attempt_ms = %s, last_ok_ms = %s, error = NULL, "
                         "failing_since_ms = NULL WHERE feed = %s", (now_ms, now_ms, feed.id))
        return Outcome(feed.id, True, unchanged=True)
    if feed.service not in site.services:
        return _record_failure(conn, feed, f"the site has no service {feed.service!r}", now_ms)
    key = site_key(conn, site.id, now_ms)
    conn.commit()
    mapping = feed.mapping(site.timezone)
    try:
        if feed.kind == "ical" or _is_ical(body):
            # Only what is near today and tomorrow is parsed, and whatever the last import had.
            known = [r for (r,) in conn.execute("SELECT ref FROM bookings WHERE feed = %s", (feed.id,))]
            result = parse_feed(body, mapping, key, days_for(site, now_ms), known_refs=known, cache=cache)
        else:
            result = parse_table(body, mapping, key, days_for(site, now_ms))
    except BookingFeedError as exc:
        return _record_failure(conn, feed, exc.reason, now_ms)
    return record_import(conn, feed, site, result, now_ms, etag)


def changes_since(conn: psycopg.Connection, site: str, seq: int, limit: int = 10_000) -> list[tuple[int, dict[str, Any]]]:
    """The site's changes after `seq`, in order (what a site that missed some asks for)."""
    rows = conn.execute("SELECT seq, body FROM booking_changes WHERE site = %s AND seq > %s ORDER BY seq LIMIT %s",
                        (site, seq, limit)).fetchall()
    return [(int(s), b) for s, b in rows]


@dataclass(frozen=True)
class FeedHealth:
    feed: str
    site: str
    last_attempt_ms: int | None
    last_ok_ms: int | None
    imported: int
    skipped: int
    error: str | None
    failing_since_ms: int | None


def feed_health(conn: psycopg.Connection, sites: Sequence[str] | None = None) -> list[FeedHealth]:
    q = ("SELECT feed, site, last_attempt_ms, last_ok_ms, imported, skipped, error, failing_since_ms "
         "FROM booking_feeds")
    args: list[Any] = []
    if sites is not None:
        q += " WHERE site = ANY(%s)"
        args.append(list(sites))
    return [FeedHealth(*r) for r in conn.execute(q + " ORDER BY site, feed", args).fetchall()]


def change_payload(seq: int, body: dict[str, Any]) -> bytes:
    """One change as the site receives it on pp/<site>/bookings: its number and the change."""
    return json.dumps({"seq": seq, **body}, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
