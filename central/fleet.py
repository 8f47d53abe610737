"""The fleet view's data from the central database, and the alerts table kept up to date.

    load_fleet(conn, now_ms, sites=None, month=None)   every device's view and the alerts that hold
                                                       (core.fleet.Fleet); `sites`: only these
    device_rows(conn, now_ms, sites=None, month=None)  what core.fleet reads, per device
    site_configs(conn, sites=None)                     the sites' configurations (core.config.Site)
    sites_of_region(conn, region)                      the site ids of a region (a regional user's)
    stored_alerts(conn, sites=None, active_only=True)  the alerts table: when each started, cleared
    refresh_alerts(conn, now_ms)                       upsert the alerts table from what holds now;
                                                       returns the alerts that started or cleared
    pending_alerts(conn) / mark_sent(conn, alerts, ms) the messages not yet delivered (central/alerts.py)

The tables (central/migrations.py): devices, device_status, availability_log, status_samples, sites,
alerts. Every query of a device's history goes through the primary key (site, device, ms), one
device at a time, so it stays fast however long the history grows.

`conn`: a psycopg connection (CentralStore.conn), autocommit or not: refresh_alerts runs in a
transaction of its own (a savepoint inside the caller's), under an advisory lock, so two runs at
once take turns and neither sends what the other sent.
"""
from __future__ import annotations

import datetime as _dt
import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import psycopg

from core import fleet as F
from core.config import ConfigError, Site, loads_site

#: the advisory lock refresh_alerts (and a whole `central alerts` run) holds ("aler")
ALERTS_LOCK = 0x616C6572
#: the newest availability changes read per device for the month (a month of flapping is bounded)
LOG_LIMIT = 5000
#: backlog samples read per device (the last SAMPLES_WINDOW_MS, one per 5 minutes at most)
SAMPLE_LIMIT = 24

STARTED, CLEARED = "started", "cleared"


@dataclass(frozen=True)
class StoredAlert:
    """A row of the alerts table. `sent_ms` None: its start (or, when cleared, its clearing) has not
    been delivered yet."""
    key: str
    kind: str
    site: str
    device: str | None
    values: dict[str, Any]
    first_ms: int
    last_ms: int
    cleared_ms: int | None
    sent_ms: int | None

    @property
    def active(self) -> bool:
        return self.cleared_ms is None

    @property
    def event(self) -> str:
        """What the row's next (or last) message says: started, or cleared."""
        return STARTED if self.cleared_ms is None else CLEARED


# --- reading -------------------------------------------------------------------------------------

@lru_cache(maxsize=1024)
def _parse_site(text: str) -> Site | None:
    try:
        return loads_site(text, "<central>")
    except ConfigError:
        return None


def _site_filter(sites: Sequence[str] | None, column: str = "site") -> tuple[str, list[Any]]:
    if sites is None:
        return "TRUE", []
    return f"{column} = ANY(%s)", [list(sites)]


def site_configs(conn: psycopg.Connection, sites: Sequence[str] | None = None) -> dict[str, Site]:
    """The registered sites' configurations by id (a configuration that no longer parses is left out)."""
    where, args = _site_filter(sites)
    out = {}
    for site, text in conn.execute(f"SELECT site, config FROM sites WHERE {where}", args).fetchall():
        parsed = _parse_site(text)
        if parsed is not None:
            out[site] = parsed
    return out


def sites_of_region(conn: psycopg.Connection, region: str) -> list[str]:
    return [r[0] for r in conn.execute("SELECT site FROM sites WHERE region = %s ORDER BY site", (region,))]


def _json_object(text: str | None) -> dict[str, Any] | None:
    if not text:
        return None
    try:
        obj = json.loads(text)
    except (ValueError, RecursionError):
        return None
    return obj if isinstance(obj, dict) else None


def check_month(month: str) -> str:
    """`month` if it is "YYYY-MM", else ValueError."""
    if not (isinstance(month, str) and len(month) == 7 and month[4] == "-" and month[:4].isdigit()
            and month[5:].isdigit() and 1 <= int(month[5:]) <= 12 and int(month[:4]) >= 1970):
        raise ValueError(f"month {month!r}: must be YYYY-MM")
    return month


def _log_window(month: str | None, now_ms: int) -> tuple[int, int]:
    """UTC bounds wide enough for the month in any site's time zone (a day either side)."""
    day = 86_400_000
    if month is None:
        return now_ms - 33 * day, now_ms + 1
    first = _dt.datetime.fromisoformat(month + "-01T00:00:00+00:00")
    nxt = (first.replace(day=28) + _dt.timedelta(days=4)).replace(day=1)
    return int(first.timestamp() * 1000) - day, int(nxt.timestamp() * 1000) + day


def device_rows(conn: psycopg.Connection, now_ms: int, sites: Sequence[str] | None = None,
                month: str | None = None) -> list[F.DeviceRow]:
    """Every device the centre knows of (configured in a site's [[devices]], or only heard from),
    with its status, the availability changes of `month` (default: the current one) and the newest,
    and its backlog samples of the last hour."""
    if month is not None:
        check_month(month)
    lo, hi = _log_window(month, now_ms)
    where, args = _site_filter(sites, "coalesce(d.site, s.site)")
    rows = conn.execute(
        "SELECT coalesce(d.site, s.site), coalesce(d.device, s.device), d.role, s.status, s.status_ms, "
        "s.availability, s.availability_ms FROM devices d FULL OUTER JOIN device_status s "
        f"ON s.site = d.site AND s.device = d.device WHERE {where}", args).fetchall()
    logs: dict[tuple[str, str], set[tuple[int, str]]] = defaultdict(set)
    samples: dict[tuple[str, str], list[tuple[int, int]]] = defaultdict(list)
    # Per device (every device with a log entry has a device_status row): the state at the window's
    # start, every change within it, and the newest change (since when it is in its state).
    where, args = _site_filter(sites, "k.site")
    for site, device, ms, state in conn.execute(
            "SELECT k.site, k.device, x.ms, x.state FROM device_status k CROSS JOIN LATERAL ("
            "(SELECT ms, state FROM availability_log l WHERE l.site = k.site AND l.device = k.device "
            " AND l.ms < %s ORDER BY ms DESC LIMIT 1) UNION ALL "
            "(SELECT ms, state FROM availability_log l WHERE l.site = k.site AND l.device = k.device "
            " AND l.ms >= %s AND l.ms < %s ORDER BY ms DESC LIMIT %s) UNION ALL "
            "(SELECT ms, state FROM availability_log l WHERE l.site = k.site AND l.device = k.device "
            f" ORDER BY ms DESC LIMIT 1)) x WHERE {where}",
            [lo, lo, hi, LOG_LIMIT, *args]).fetchall():
        logs[(site, device)].add((int(ms), state))
    where, args = _site_filter(sites, "k.site")
    for site, device, ms, backlog in conn.execute(
            "SELECT k.site, k.device, x.ms, x.backlog FROM device_status k CROSS JOIN LATERAL ("
            "SELECT ms, backlog FROM status_samples t WHERE t.site = k.site AND t.device = k.device "
            f"AND t.ms >= %s AND t.ms <= %s ORDER BY ms DESC LIMIT %s) x WHERE {where}",
            [now_ms - F.SAMPLES_WINDOW_MS, now_ms, SAMPLE_LIMIT, *args]).fetchall():
        samples[(site, device)].append((int(ms), int(backlog)))
    out = []
    for site, device, role, status, status_ms, avail, avail_ms in rows:
        key = (site, device)
        out.append(F.DeviceRow(site=site, device=device, role=role, status=_json_object(status),
                               status_ms=status_ms, availability=avail, availability_ms=avail_ms,
                               log=tuple(sorted(logs.get(key, ()))), samples=tuple(sorted(samples.get(key, ())))))
    return sorted(out, key=lambda r: (r.site, r.device))


def load_fleet(conn: psycopg.Connection, now_ms: int, sites: Sequence[str] | None = None, month: str | None = None,
               *, broker_cert_not_after_ms: int | None = None) -> F.Fleet:
    """The fleet view: every device of `sites` (None: of every site) with its offline time during
    opening hours in `month` ("YYYY-MM", default each site's current month), and the alerts that
    hold at `now_ms` (the certificate's only when its expiry is given). ValueError for a bad month."""
    rows = device_rows(conn, now_ms, sites, month)
    return F.fleet(rows, site_configs(conn, sites), now_ms, month=month,
                   broker_cert_not_after_ms=broker_cert_not_after_ms)


def _stored(row: Sequence[Any]) -> StoredAlert:
    key, kind, site, device, detail, first_ms, last_ms, cleared_ms, sent_ms = row
    values = _json_object(detail) or {}
    return StoredAlert(key, kind, site, device, values, first_ms, last_ms, cleared_ms, sent_ms)


_ALERT_COLUMNS = "key, kind, site, device, detail, first_ms, last_ms, cleared_ms, sent_ms"


def stored_alerts(conn: psycopg.Connection, sites: Sequence[str] | None = None, *, active_only: bool = True,
                  since_ms: int | None = None) -> list[StoredAlert]:
    """The alerts table, newest first: the active ones (or, active_only=False, also those cleared
    since `since_ms`). With `sites`, only their devices' alerts (the central certificate's is
    everyone's: it is shown to every list)."""
    where, args = _site_filter(None if sites is None else [*sites, F.CENTRAL_SITE])
    sql = f"SELECT {_ALERT_COLUMNS} FROM alerts WHERE {where}"
    if active_only:
        sql += " AND cleared_ms IS NULL"
    elif since_ms is not None:
        sql += " AND (cleared_ms IS NULL OR cleared_ms >= %s)"
        args.append(since_ms)
    return [_stored(r) for r in conn.execute(sql + " ORDER BY first_ms DESC, key", args).fetchall()]


# --- the alerts table ----------------------------------------------------------------------------

def refresh_alerts(conn: psycopg.Connection, now_ms: int, *,
                   broker_cert_not_after_ms: int | None = None) -> list[StoredAlert]:
    """Bring the alerts table in line with what holds at `now_ms` (every site): a new alert gets
    first_ms (and an alert that had cleared and holds again starts anew), a continuing one its
    last_ms and current values, one that no longer holds cleared_ms. Returns the rows that started
    or cleared in this call, each marked unsent (sent_ms None: central/alerts.py delivers them).

    The certificate's alert is judged only when `broker_cert_not_after_ms` is given (unknown: it
    stays as it was)."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (ALERTS_LOCK,))
        feeds = conn.execute("SELECT feed, site, failing_since_ms FROM booking_feeds").fetchall()
        current = {a.key: a for a in F.current_alerts(device_rows(conn, now_ms), site_configs(conn), now_ms,
                                                      broker_cert_not_after_ms=broker_cert_not_after_ms,
                                                      feeds=feeds)}
        existing = {r[0]: _stored(r) for r in conn.execute(
            f"SELECT {_ALERT_COLUMNS} FROM alerts FOR UPDATE").fetchall()}
        changed: list[str] = []
        for key, a in current.items():
            old = existing.get(key)
            if old is None:
                conn.execute(f"INSERT INTO alerts({_ALERT_COLUMNS}) VALUES (%s,%s,%s,%s,%s,%s,%s,NULL,NULL)",
                             (key, a.kind, a.site, a.device, a.detail, now_ms, now_ms))
                changed.append(key)
            elif old.cleared_ms is not None:
                conn.execute("UPDATE alerts SET detail=%s, first_ms=%s, last_ms=%s, cleared_ms=NULL, sent_ms=NULL "
                             "WHERE key=%s", (a.detail, now_ms, now_ms, key))
                changed.append(key)
            else:
                conn.execute("UPDATE alerts SET detail=%s, last_ms=%s WHERE key=%s", (a.detail, now_ms, key))
        for key, old in existing.items():
            if old.cleared_ms is not None or key in current:
                continue
            if old.kind == F.CERTIFICATE and broker_cert_not_after_ms is None:
                continue  # not judged this time
            # its clearing is the message to send now (whether or not its start got through)
            conn.execute("UPDATE alerts SET cleared_ms=%s, sent_ms=NULL WHERE key=%s", (now_ms, key))
            changed.append(key)
        if not changed:
            return []
        rows = conn.execute(f"SELECT {_ALERT_COLUMNS} FROM alerts WHERE key = ANY(%s) ORDER BY key",
                            (changed,)).fetchall()
    return [_stored(r) for r in rows]


def pending_alerts(conn: psycopg.Connection) -> list[StoredAlert]:
    """The rows whose message (start, or clearing) has not been delivered yet, oldest first."""
    return [_stored(r) for r in conn.execute(
        f"SELECT {_ALERT_COLUMNS} FROM alerts WHERE sent_ms IS NULL "
        "ORDER BY coalesce(cleared_ms, first_ms), key").fetchall()]


def mark_sent(conn: psycopg.Connection, alerts: Sequence[StoredAlert], now_ms: int) -> int:
    """Record the delivery of these messages; a row that changed since it was read (cleared, or
    started anew) keeps its own pending message. Returns how many were marked."""
    n = 0
    with conn.transaction():
        for a in alerts:
            n += conn.execute("UPDATE alerts SET sent_ms=%s WHERE key=%s AND first_ms=%s AND "
                              "cleared_ms IS NOT DISTINCT FROM %s AND sent_ms IS NULL",
                              (now_ms, a.key, a.first_ms, a.cleared_ms)).rowcount
    return n
