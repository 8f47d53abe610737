"""The monthly figures of DESIGN.md ("What is measured"), from events: pure, no I/O.

Per site, per month (in the site's local time) and per service (authority): tickets, waiting
time (in each authority's own queue: a transferred customer's wait at the second authority runs
from the transfer), service time (the first authority of a transferred visit included), tickets
per opening hour and the share served within the service's target wait (both need the site's
configuration), the clerks' outcomes, no-shows; satisfaction (count, mean, shares of
positive and negative), "I got my matter done / started / not done", "could you do this
yourself next time?"; and the devices' printer faults. The same function serves the central
database (every site) and a single device's store.

Feedback is counted once per response (its last snapshot; the feedback terminal stores a
snapshot per answer) and presses flagged by the misuse guard are left out.
"""
from __future__ import annotations

import datetime as _dt
import math
import statistics
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeGuard
from zoneinfo import ZoneInfo

SITE_LEVEL = "*"  # the key of the whole site in `services`


@dataclass(frozen=True)
class Row:
    """One stored event as the figures need it (site, type, UTC ms, data)."""
    site: str
    type: str
    ts: int
    data: dict[str, Any]


def latest_feedback(rows: Iterable[Any]) -> dict[str, dict[str, Any]]:
    """The reporting rule for feedback: per response id, the data of its last snapshot
    (highest `rev`; among equal revs the later one). `rows` are feedback.given data dicts in
    sequence order. A row without a response id (older data) counts as its own response."""
    out: dict[str, tuple[int, dict[str, Any]]] = {}
    for i, data in enumerate(rows):
        if not isinstance(data, dict):
            continue  # a stored data that is JSON but no object
        rid = _text(data, "response") or f"#row{i}"
        rev = data.get("rev", 1)
        rev = rev if _is_int(rev) else 1
        prev = out.get(rid)
        if prev is None or rev >= prev[0]:
            out[rid] = (rev, data)
    return {rid: data for rid, (_, data) in out.items()}


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v: Any) -> TypeGuard[float]:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _text(d: dict[str, Any], key: str) -> str | None:
    """A stored value that is used as a key or compared as text: a string, or nothing (a list or
    object from a broken or forged event would be unhashable or meaningless)."""
    v = d.get(key)
    return v if isinstance(v, str) and v else None


#: Event times the figures can place in a month: 1970 up to the start of year 9999 in UTC ms
#: (datetime ends with 9999, and the local time of its last day may already be past it).
_TS_MAX = 253_370_764_800_000


def _month(ts: int, tz: ZoneInfo) -> str:
    return _dt.datetime.fromtimestamp(ts / 1000, tz=_dt.timezone.utc).astimezone(tz).strftime("%Y-%m")


def _hour(ts: int, tz: ZoneInfo) -> str:
    return _dt.datetime.fromtimestamp(ts / 1000, tz=_dt.timezone.utc).astimezone(tz).strftime("%Y-%m-%dT%H")


def _dist(values: list[float]) -> dict[str, Any] | None:
    if not values:
        return None
    v = sorted(values)
    p90 = v[min(len(v) - 1, int(round(0.9 * (len(v) - 1))))]
    return {"n": len(v), "mean_min": round(statistics.fmean(v) / 60, 1),
            "median_min": round(statistics.median(v) / 60, 1), "p90_min": round(p90 / 60, 1)}


def _share(counter: dict[str, int], keys: tuple[str, ...]) -> dict[str, Any]:
    total = sum(counter.get(k, 0) for k in keys)
    return {"n": total, **{k: counter.get(k, 0) for k in keys},
            **{f"{k}_share": round(counter.get(k, 0) / total, 3) if total else None for k in keys}}


def _sentiment(rating: int, scale: int) -> str:
    """Positive / neutral / negative on any scale: the top faces are positive, the bottom ones
    negative (5: 4–5 / 3 / 1–2; 4: 3–4 / – / 1–2; 3: 3 / 2 / 1)."""
    if scale == 3:
        return {3: "positive", 2: "neutral"}.get(rating, "negative")
    if scale == 4:
        return "positive" if rating >= 3 else "negative"
    return "positive" if rating >= 4 else "neutral" if rating == 3 else "negative"


class _Bucket:
    __slots__ = ("issued", "kinds", "waits", "services", "no_show", "cancelled", "transferred", "hours",
                 "ratings", "sentiment", "outcome", "self_service", "flagged", "within", "clerk", "open_hours")

    def __init__(self) -> None:
        self.issued = 0
        self.kinds: dict[str, int] = defaultdict(int)
        self.waits: list[float] = []
        self.services: list[float] = []
        self.no_show = self.cancelled = self.transferred = self.flagged = 0
        self.hours: set[str] = set()
        self.ratings: list[float] = []
        self.sentiment: dict[str, int] = defaultdict(int)
        self.outcome: dict[str, int] = defaultdict(int)
        self.self_service: dict[str, int] = defaultdict(int)
        self.within: list[bool] = []  # per wait: within its service's target (sites with a configuration)
        self.clerk: dict[str, int] = defaultdict(int)  # outcomes the clerks tapped
        self.open_hours: float | None = None  # opening hours in the month, from the configuration

    def result(self) -> dict[str, Any]:
        return {
            "tickets": self.issued,
            "walk_in": self.kinds.get("walk_in", 0), "appointment": self.kinds.get("appointment", 0),
            # Over the configured opening hours; without a configuration, over the hours a ticket was taken.
            "tickets_per_open_hour": round(self.issued / self.open_hours, 1) if self.open_hours
            else round(self.issued / len(self.hours), 1) if self.hours and self.open_hours is None else None,
            "within_target_share": round(sum(self.within) / len(self.within), 3) if self.within else None,
            "outcomes": dict(sorted(self.clerk.items())),
            "waiting": _dist(self.waits),
            "service": _dist(self.services),
            "no_show": self.no_show, "cancelled": self.cancelled, "transferred": self.transferred,
            "satisfaction": {
                "n": len(self.ratings),
                "mean_of_5": round(statistics.fmean(self.ratings), 2) if self.ratings else None,
                **_share(self.sentiment, ("positive", "neutral", "negative")),
                "flagged_left_out": self.flagged,
            },
            "matter": _share(self.outcome, ("done", "started", "not_done")),
            "could_do_it_yourself": _share(self.self_service, ("yes", "no")),
        }


def _open_hours(site: Any, month: str, days: set[str]) -> float:
    """Opening hours of the month's days from the first to the last day with a ticket (a site
    rolled out mid-month is not charged for the days before)."""
    from .hours import site_interval

    first, last = _dt.date.fromisoformat(min(days)), _dt.date.fromisoformat(max(days))
    total, d = 0, first
    while d <= last:
        span = site_interval(site, d)
        if span is not None:
            total += span[1] - span[0]
        d += _dt.timedelta(days=1)
    return total / 3_600_000


def figures(rows: Iterable[Row], tz: str = "Europe/Helsinki", month: str | None = None,
            sites: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """{site: {month: {"services": {service or "*": figures}, "printer_faults": n}}}

    `sites`: site id → core.config.Site where known: then tickets per opening hour count the
    configured hours, and each wait is judged against its service's target_wait_min."""
    zone = ZoneInfo(tz)
    sites = sites or {}
    ticket_days: dict[tuple[str, str], set[str]] = defaultdict(set)
    buckets: dict[tuple[str, str, str], _Bucket] = defaultdict(_Bucket)
    faults: dict[tuple[str, str], int] = defaultdict(int)
    feedback: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    called_before: set[tuple[str, str]] = set()

    def both(site: str, m: str, service: str | None) -> list[_Bucket]:
        out = [buckets[(site, m, SITE_LEVEL)]]
        if service:
            out.append(buckets[(site, m, service)])
        return out

    for r in rows:
        # Every read is defensive: a stored event may come from an older writer or be forged,
        # and one bad row must cost that row, never the month's figures.
        d = r.data
        if not isinstance(d, dict) or not isinstance(r.site, str) or not _is_int(r.ts) \
                or not 0 <= r.ts <= _TS_MAX:
            continue
        m = _month(r.ts, zone)
        if month is not None and m != month:
            continue
        if r.type == "ticket.issued":
            kind = d.get("kind", "walk_in")
            ticket_days[(r.site, m)].add(_hour(r.ts, zone)[:10])
            for b in both(r.site, m, _text(d, "service")):
                b.issued += 1
                b.kinds[kind if kind in ("walk_in", "appointment") else "other"] += 1
                b.hours.add(_hour(r.ts, zone))
        elif r.type == "ticket.called":
            # The wait until the first call; a second call after a transfer waits again in the
            # new service and counts there.
            key = (r.site, f"{_text(d, 'ticket')}|{_text(d, 'service')}")
            if key not in called_before and _is_num(d.get("waited_s")) and d["waited_s"] >= 0:
                called_before.add(key)
                svc = sites[r.site].services.get(_text(d, "service") or "") if r.site in sites else None
                for b in both(r.site, m, _text(d, "service")):
                    b.waits.append(float(d["waited_s"]))
                    if svc is not None:
                        b.within.append(d["waited_s"] <= svc.target_wait_min * 60)
        elif r.type == "ticket.finished":
            if _is_num(d.get("service_s")) and d["service_s"] >= 0:
                for b in both(r.site, m, _text(d, "service")):
                    b.services.append(float(d["service_s"]))
            if _text(d, "outcome"):
                for b in both(r.site, m, _text(d, "service")):
                    b.clerk[d["outcome"]] += 1
        elif r.type == "ticket.no_show":
            for b in both(r.site, m, _text(d, "service")):
                b.no_show += 1
        elif r.type == "ticket.cancelled" and d.get("reason") != "day_closed":
            for b in both(r.site, m, _text(d, "service")):
                b.cancelled += 1
        elif r.type == "ticket.transferred":
            # The first authority's service ends with the transfer: its time counts there.
            for b in both(r.site, m, _text(d, "from_service")):
                b.transferred += 1
                if _is_num(d.get("service_s")) and d["service_s"] >= 0:
                    b.services.append(float(d["service_s"]))
        elif r.type == "feedback.given":
            feedback[(r.site, m)].append(d)
        elif r.type == "printer.fault":
            faults[(r.site, m)] += 1

    for (site, m), items in feedback.items():
        for data in latest_feedback(items).values():
            targets = both(site, m, _text(data, "service"))
            if data.get("flags"):
                for b in targets:
                    b.flagged += 1
                continue
            raw_rating, raw_scale = data.get("rating"), data.get("scale", 5)
            if not (_is_num(raw_rating) and _is_num(raw_scale)):
                continue
            rating, scale = int(raw_rating), int(raw_scale)
            if rating != raw_rating or scale != raw_scale:
                continue
            if scale not in (3, 4, 5) or not 1 <= rating <= scale:
                continue
            for b in targets:
                b.ratings.append(1 + (rating - 1) * 4 / max(scale - 1, 1))  # on a 1–5 scale
                b.sentiment[_sentiment(rating, scale)] += 1
                if _text(data, "outcome") in ("done", "started", "not_done"):
                    b.outcome[data["outcome"]] += 1
                if _text(data, "self_service") in ("yes", "no"):
                    b.self_service[data["self_service"]] += 1

    for (site, m, _service), b in buckets.items():
        if site in sites and sites[site].hours_configured and ticket_days.get((site, m)):
            b.open_hours = _open_hours(sites[site], m, ticket_days[(site, m)])
        else:
            # Without opening hours, each service is counted over the hours the site was in use.
            b.hours = buckets[(site, m, SITE_LEVEL)].hours
    out: dict[str, Any] = {}
    for (site, m, service), b in sorted(buckets.items()):
        month_out = out.setdefault(site, {}).setdefault(m, {"services": {}, "printer_faults": 0})
        month_out["services"][service] = b.result()
    for (site, m), n in faults.items():
        out.setdefault(site, {}).setdefault(m, {"services": {}, "printer_faults": 0})["printer_faults"] = n
    return out
