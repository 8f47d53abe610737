"""The technicians' fleet view and its alerts, from what the centre knows of each device: pure, no I/O
(central/fleet.py reads the tables, central/alerts.py sends what changed).

What comes in, per device (`DeviceRow`): its role from the site configurations (table `devices`),
the last retained status and availability (table `device_status`; the status is the JSON object
runtime/status.py builds), the availability changes (`availability_log`) and the backlog samples
(`status_samples`, at most one per 5 minutes); per site its configuration (core.config.Site: the
opening hours and time zone).

What goes out (`fleet`): a `DeviceView` per device — role, version, online/offline and since when,
last sync, backlog, printer, disk, the doctor's result if the status carries one, the clock offset,
the offline time during opening hours in a month — and the list of `Alert`s that hold now:

    offline          configured device offline, and more than OFFLINE_LIMIT_MS (10 min) of its current
                     offline stretch fell in its site's opening hours; lasts until it is online again
    paper_near_end   the printer's paper roll is near its end (the last status)
    paper_out        the printer is out of paper
    backlog          the unsynced backlog grows: strictly increasing over the newest samples spanning
                     at least BACKLOG_SPAN_MS (15 min, at least 3 samples), the newest > 0 and fresh
    clock            the device's clock differs from the centre's by more than CLOCK_LIMIT_MS (60 s):
                     the status's `ts` against the time the centre received it (online, fresh status)
    certificate      the central broker's TLS certificate expires within CERT_WARN_MS (30 days) or has
                     expired (the devices' statuses carry no certificate expiry: the broker's
                     certificate, as the central doctor reads it, is the one the fleet depends on)

An alert's key is kind/site/device ("offline/example-pp/kiosk-1"; the certificate's
"certificate/*"): while the same key holds it is the same alert, so it is sent once when it starts
and once when it clears. An alert carries only ids, its kind and numbers (`values`).

Offline time during opening hours (`offline_open_ms`): the stretches the availability log says the
device was offline, intersected with the site's opening hours of the month (in the site's time
zone) up to `now`. Before the month the device is in the state of its last change before it; before
its first change its state is unknown and nothing is counted.
"""
from __future__ import annotations

import datetime as _dt
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

from .config import END_OF_DAY, Site
from .hours import Interval, local_date, site_span

OFFLINE_LIMIT_MS = 10 * 60_000
CLOCK_LIMIT_MS = 60_000
#: a status older than this says nothing about the device's clock now (a retained status delivered
#: again to a restarted ingest is judged by when it came the first time, not by when it came again;
#: a device online publishes its status every 30 s: sync's status_interval_s)
CLOCK_FRESH_MS = 5 * 60_000
BACKLOG_SAMPLES = 3
BACKLOG_SPAN_MS = 15 * 60_000
#: the newest backlog sample must be this recent (an offline device's samples stop; `offline` says it)
BACKLOG_FRESH_MS = 15 * 60_000
CERT_WARN_MS = 30 * 86_400_000
#: how far back central/fleet.py reads backlog samples (enough for BACKLOG_SPAN_MS at one per 5 min)
SAMPLES_WINDOW_MS = 60 * 60_000

OFFLINE, PAPER_NEAR_END, PAPER_OUT, BACKLOG, CLOCK, CERTIFICATE, FEED = (
    "offline", "paper_near_end", "paper_out", "backlog", "clock", "certificate", "booking_feed")
KINDS = (OFFLINE, PAPER_NEAR_END, PAPER_OUT, BACKLOG, CLOCK, CERTIFICATE, FEED)
#: a booking feed failing this long within its site's opening hours raises FEED (issue 17)
FEED_FAILING_OPEN_MS = 60 * 60_000
#: the site of alerts that belong to no site (the central broker's certificate)
CENTRAL_SITE = "*"

ONLINE_STATE, OFFLINE_STATE = "online", "offline"


# --- input ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class DeviceRow:
    """Everything the centre holds of one device. `log`: availability changes (ms, state), oldest
    first — at least the last one before the month of interest, every one since, and the newest.
    `samples`: backlog samples (ms, backlog), oldest first (the last hour is enough)."""
    site: str
    device: str
    role: str | None = None                       # from the site configuration; None: in none
    status: Mapping[str, Any] | None = None       # the last status (a JSON object), None: never came
    status_ms: int | None = None                  # when the centre received it
    availability: str | None = None               # "online" | "offline" | None: never came
    availability_ms: int | None = None
    log: tuple[tuple[int, str], ...] = ()
    samples: tuple[tuple[int, int], ...] = ()

    @property
    def configured(self) -> bool:
        return self.role is not None


# --- output --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Alert:
    kind: str
    site: str
    device: str | None
    values: Mapping[str, int | float] = field(default_factory=dict)  # numbers only (ms, minutes, counts)

    @property
    def key(self) -> str:
        return alert_key(self.kind, self.site, self.device)

    @property
    def detail(self) -> str:
        """The values as compact JSON (the `alerts` table's detail)."""
        return json.dumps(dict(self.values), sort_keys=True, separators=(",", ":"))


def alert_key(kind: str, site: str, device: str | None) -> str:
    return f"{kind}/{site}" + (f"/{device}" if device is not None else "")


@dataclass(frozen=True)
class DeviceView:
    site: str
    device: str
    role: str | None                  # the configured role (else the one its status names)
    configured: bool                  # in its site's [[devices]]: only these raise alerts
    version: str | None
    availability: str | None          # "online" | "offline" | None: never reported
    since_ms: int | None              # since when it is in that state
    status_ms: int | None             # when its last status came (its age is now - status_ms)
    last_sync_ms: int | None          # the device's last acknowledged sync (its own clock)
    backlog: int | None               # events not yet acknowledged
    oldest_unsynced_age_s: float | None
    printer: str | None               # the printer's state word (ok, paper_near_end, paper_out, cover_open,
                                      # error, offline, no_answer, disconnected, …), None: no printer
    paper: str | None                 # ok | near_end | out | unknown, None: no printer
    cover_open: bool
    disk_free_bytes: int | None
    doctor: Any                       # the doctor's last result if the status carries one ("doctor")
    clock_offset_ms: int | None       # status ts − when the centre received it (+: the device is ahead)
    month: str | None                 # the month of offline_open_ms (the site's local months)
    offline_open_ms: int | None       # offline during opening hours that month; None: hours unknown
    alerts: tuple[str, ...]           # kinds of the alerts that hold now

    @property
    def offline_open_min(self) -> float | None:
        return None if self.offline_open_ms is None else round(self.offline_open_ms / 60_000, 1)


@dataclass(frozen=True)
class Fleet:
    devices: list[DeviceView]
    alerts: list[Alert]
    now_ms: int


# --- small readers of the status (any JSON object may come: take only what has the right type) ----

def _int(v: Any) -> int | None:
    return v if isinstance(v, int) and not isinstance(v, bool) else None


def _num(v: Any) -> float | None:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None


def _str(v: Any) -> str | None:
    return v if isinstance(v, str) else None


def _printer(status: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
    p = status.get("printer") if status else None
    return p if isinstance(p, Mapping) and "error" not in p else None


def paper_state(status: Mapping[str, Any] | None) -> str | None:
    p = _printer(status)
    return None if p is None else (_str(p.get("paper")) or "unknown")


def clock_offset_ms(status: Mapping[str, Any] | None, status_ms: int | None) -> int | None:
    ts = _int(status.get("ts")) if status else None
    return None if ts is None or status_ms is None else ts - status_ms


# --- time: months, opening hours, intervals ------------------------------------------------------

def _ms(site: Site, date: _dt.date, t: _dt.time) -> int:
    if t == END_OF_DAY:  # "until midnight": the next day's start, not a millisecond before it
        return _ms(site, date + _dt.timedelta(days=1), _dt.time(0, 0))
    return int(_dt.datetime.combine(date, t, tzinfo=site.tz).timestamp() * 1000)


def month_of(site: Site, ms: int) -> str:
    return local_date(site, ms).strftime("%Y-%m")


def month_bounds(site: Site, month: str) -> Interval:
    """[start, end) of a month ("2026-11") in the site's time zone, UTC ms; ValueError."""
    first = _dt.date.fromisoformat(month + "-01")
    nxt = (first.replace(day=28) + _dt.timedelta(days=4)).replace(day=1)
    return _ms(site, first, _dt.time(0, 0)), _ms(site, nxt, _dt.time(0, 0))


def opening_intervals(site: Site, start: int, end: int) -> list[Interval]:
    """The site's opening hours within [start, end), sorted and disjoint."""
    if end <= start:
        return []
    out: list[Interval] = []
    day, last = local_date(site, start), local_date(site, end - 1)
    while day <= last:
        span = site_span(site, day)
        if span is not None:
            a, b = max(_ms(site, day, span[0]), start), min(_ms(site, day, span[1]), end)
            if a < b:
                if out and out[-1][1] >= a:      # one day's close is the next day's open (all day)
                    out[-1] = (out[-1][0], max(out[-1][1], b))
                else:
                    out.append((a, b))
        day += _dt.timedelta(days=1)
    return out


def state_intervals(log: Sequence[tuple[int, str]], state: str, start: int, end: int) -> list[Interval]:
    """Where the log says the device was in `state` within [start, end): from each change to the
    next; before the first change the state is unknown (not counted)."""
    out: list[Interval] = []
    entries = sorted(log)
    for i, (ms, s) in enumerate(entries):
        if s != state:
            continue
        until = entries[i + 1][0] if i + 1 < len(entries) else end
        a, b = max(ms, start), min(until, end)
        if a < b:
            out.append((a, b))
    return out


def overlap_ms(a: Iterable[Interval], b: Iterable[Interval]) -> int:
    """Total length of the intersection of two sorted lists of disjoint intervals."""
    xs, ys = list(a), list(b)
    i = j = total = 0
    while i < len(xs) and j < len(ys):
        lo, hi = max(xs[i][0], ys[j][0]), min(xs[i][1], ys[j][1])
        if lo < hi:
            total += hi - lo
        if xs[i][1] <= ys[j][1]:
            i += 1
        else:
            j += 1
    return total


def offline_open_ms(site: Site, log: Sequence[tuple[int, str]], start: int, end: int,
                    opening: Sequence[Interval] | None = None) -> int:
    """Milliseconds within [start, end) the device was offline while the site was open (`opening`:
    opening_intervals(site, start, end) when the caller has them already)."""
    if opening is None:
        opening = opening_intervals(site, start, end)
    return overlap_ms(state_intervals(log, OFFLINE_STATE, start, end), opening)


def offline_minutes(site: Site, log: Sequence[tuple[int, str]], month: str, now_ms: int) -> float:
    """Minutes offline during opening hours in `month` (the site's local month), up to now."""
    start, end = month_bounds(site, month)
    return offline_open_ms(site, log, start, min(end, now_ms)) / 60_000


# --- one device ----------------------------------------------------------------------------------

def availability_since(row: DeviceRow) -> int | None:
    """When the device's current availability began: its newest change in the log (the log holds
    every change), else when the centre last received it."""
    if row.availability is None:
        return None
    if row.log:
        ms, state = max(row.log)
        if state == row.availability:
            return ms
    return row.availability_ms


def offline_alert(row: DeviceRow, site: Site | None, now_ms: int) -> Alert | None:
    if not row.configured or site is None or row.availability != OFFLINE_STATE:
        return None
    since = availability_since(row)
    if since is None:
        return None
    open_ms = overlap_ms([(since, now_ms)], opening_intervals(site, since, now_ms))
    if open_ms <= OFFLINE_LIMIT_MS:
        return None
    return Alert(OFFLINE, row.site, row.device, {"since_ms": since, "offline_open_min": round(open_ms / 60_000, 1)})


def paper_alert(row: DeviceRow) -> Alert | None:
    if not row.configured:
        return None
    paper = paper_state(row.status)
    kind = {"near_end": PAPER_NEAR_END, "out": PAPER_OUT}.get(paper or "")
    if kind is None:
        return None
    return Alert(kind, row.site, row.device, {"status_ms": row.status_ms or 0})


def backlog_alert(row: DeviceRow, now_ms: int) -> Alert | None:
    """The backlog grows: the newest samples spanning at least BACKLOG_SPAN_MS (and at least
    BACKLOG_SAMPLES of them) strictly increase, the newest is > 0 and recent; and the status
    that came after the newest sample does not say the backlog fell."""
    if not row.configured or len(row.samples) < BACKLOG_SAMPLES:
        return None
    samples = sorted(row.samples)
    last_ms, last = samples[-1]
    if last <= 0 or now_ms - last_ms > BACKLOG_FRESH_MS:
        return None
    i = len(samples) - BACKLOG_SAMPLES
    while i >= 0 and last_ms - samples[i][0] < BACKLOG_SPAN_MS:
        i -= 1
    if i < 0:
        return None
    window = samples[i:]
    if not all(b > a for (_, a), (_, b) in pairwise(window)):
        return None
    backlog = last
    newer = _int(row.status.get("backlog")) if row.status and (row.status_ms or 0) > last_ms else None
    if newer is not None:
        if newer < last:  # the status that came after the newest sample: it is falling again
            return None
        backlog = newer
    return Alert(BACKLOG, row.site, row.device, {"backlog": backlog, "from_backlog": window[0][1],
                                                 "span_min": round((last_ms - window[0][0]) / 60_000, 1)})


def clock_alert(row: DeviceRow, now_ms: int) -> Alert | None:
    if not row.configured or row.availability != ONLINE_STATE or row.status_ms is None:
        return None
    if now_ms - row.status_ms > CLOCK_FRESH_MS:
        return None
    offset = clock_offset_ms(row.status, row.status_ms)
    if offset is None or abs(offset) <= CLOCK_LIMIT_MS:
        return None
    return Alert(CLOCK, row.site, row.device, {"offset_s": round(offset / 1000, 1)})


def certificate_alert(not_after_ms: int | None, now_ms: int) -> Alert | None:
    """The central broker's certificate (its expiry read by central/alerts.py from central.toml's
    [broker] cert_file): an alert within CERT_WARN_MS of its end, and after it."""
    if not_after_ms is None or not_after_ms - now_ms >= CERT_WARN_MS:
        return None
    return Alert(CERTIFICATE, CENTRAL_SITE, None, {"not_after_ms": not_after_ms,
                                                   "days_left": round((not_after_ms - now_ms) / 86_400_000, 1)})


def device_alerts(row: DeviceRow, site: Site | None, now_ms: int) -> list[Alert]:
    found = (offline_alert(row, site, now_ms), paper_alert(row), backlog_alert(row, now_ms), clock_alert(row, now_ms))
    return [a for a in found if a is not None]


def device_view(row: DeviceRow, site: Site | None, now_ms: int, month: str | None = None,
                alerts: Sequence[Alert] | None = None,
                _opening: dict[tuple[str, int, int], list[Interval]] | None = None) -> DeviceView:
    """The device as the fleet view shows it; `month` (default: the site's current month) for the
    offline time during opening hours."""
    st = row.status if isinstance(row.status, Mapping) else None
    p = _printer(st)
    offline: int | None = None
    shown_month = month
    if site is not None:
        shown_month = month or month_of(site, now_ms)
        start, end = month_bounds(site, shown_month)
        end = min(end, now_ms)
        memo = {} if _opening is None else _opening   # the site's hours, once for all its devices
        if (site.id, start, end) not in memo:
            memo[(site.id, start, end)] = opening_intervals(site, start, end)
        offline = offline_open_ms(site, row.log, start, end, memo[(site.id, start, end)])
    if alerts is None:
        alerts = device_alerts(row, site, now_ms)
    return DeviceView(
        site=row.site, device=row.device, role=row.role or (_str(st.get("role")) if st else None),
        configured=row.configured, version=_str(st.get("version")) if st else None,
        availability=row.availability, since_ms=availability_since(row), status_ms=row.status_ms,
        last_sync_ms=_int(st.get("last_sync_ms")) if st else None, backlog=_int(st.get("backlog")) if st else None,
        oldest_unsynced_age_s=_num(st.get("oldest_unsynced_age_s")) if st else None,
        printer=_str(p.get("status")) if p is not None else None, paper=paper_state(st),
        cover_open=p is not None and p.get("status") == "cover_open",
        disk_free_bytes=_int(st.get("disk_free_bytes")) if st else None,
        doctor=st.get("doctor") if st else None, clock_offset_ms=clock_offset_ms(st, row.status_ms),
        month=shown_month, offline_open_ms=offline, alerts=tuple(a.kind for a in alerts))


# --- the fleet -----------------------------------------------------------------------------------

def fleet(rows: Iterable[DeviceRow], sites: Mapping[str, Site], now_ms: int, *, month: str | None = None,
          broker_cert_not_after_ms: int | None = None) -> Fleet:
    """Every device's view (sorted by site and device) and every alert that holds at `now_ms`
    (sorted by key). `sites`: the configurations by site id (a site missing there has no opening
    hours known: no offline time, no offline alert). `month`: "YYYY-MM" for the offline time
    (default: each site's current month)."""
    views: list[DeviceView] = []
    alerts: list[Alert] = []
    opening: dict[tuple[str, int, int], list[Interval]] = {}
    for row in sorted(rows, key=lambda r: (r.site, r.device)):
        site = sites.get(row.site)
        found = device_alerts(row, site, now_ms)
        alerts += found
        views.append(device_view(row, site, now_ms, month, found, opening))
    cert = certificate_alert(broker_cert_not_after_ms, now_ms)
    if cert is not None:
        alerts.append(cert)
    return Fleet(views, sorted(alerts, key=lambda a: a.key), now_ms)


def feed_alert(feed: str, site_id: str, site: Site | None, failing_since_ms: int | None, now_ms: int) -> Alert | None:
    """A booking feed that has failed for an hour of its site's opening hours (an hour of a closed
    night is nobody's loss; without the site's hours, an hour of the clock). The alert's device is
    the feed's id."""
    if failing_since_ms is None:
        return None
    if site is None:
        failed = now_ms - failing_since_ms
    else:
        failed = overlap_ms(opening_intervals(site, failing_since_ms, now_ms), [(failing_since_ms, now_ms)])
    if failed < FEED_FAILING_OPEN_MS:
        return None
    return Alert(FEED, site_id, feed, {"since_ms": failing_since_ms, "failed_open_min": round(failed / 60_000)})


def current_alerts(rows: Iterable[DeviceRow], sites: Mapping[str, Site], now_ms: int, *,
                   broker_cert_not_after_ms: int | None = None,
                   feeds: Iterable[tuple[str, str, int | None]] = ()) -> list[Alert]:
    """Every alert that holds now: the devices', the central certificate's and the booking feeds'
    ((feed id, site id, failing since) rows)."""
    out = [a for row in rows for a in device_alerts(row, sites.get(row.site), now_ms)]
    out += [a for feed, site_id, since in feeds
            if (a := feed_alert(feed, site_id, sites.get(site_id), since, now_ms)) is not None]
    cert = certificate_alert(broker_cert_not_after_ms, now_ms)
    if cert is not None:
        out.append(cert)
    return sorted(out, key=lambda a: a.key)
