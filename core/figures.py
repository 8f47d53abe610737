"""The monthly figures of DESIGN.md ("What is measured"), from events: pure, no I/O.

Per site, per month (in the site's local time) and per service (authority): tickets, waiting
time, service time, tickets per open hour, no-shows; satisfaction (count, mean, shares of
positive and negative), "I got my matter done / started / not done", "could you do this
yourself next time?"; and the devices' printer faults. The same function serves the central
database (every site) and a single device's store.

Feedback is counted once per response (its last snapshot; the feedback terminal stores a
snapshot per answer) and presses flagged by the misuse guard are left out.
"""
from __future__ import annotations

import datetime as _dt
import statistics
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

SITE_LEVEL = "*"  # the key of the whole site in `services`


@dataclass(frozen=True)
class Row:
    """One stored event as the figures need it (site, type, UTC ms, data)."""
    site: str
    type: str
    ts: int
    data: dict[str, Any]


def latest_feedback(rows: Iterable[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The reporting rule for feedback: per response id, the data of its last snapshot
    (highest `rev`; among equal revs the later one). `rows` are feedback.given data dicts in
    sequence order. A row without a response id (older data) counts as its own response."""
    out: dict[str, tuple[int, dict[str, Any]]] = {}
    for i, data in enumerate(rows):
        rid = data.get("response") or f"#row{i}"
        rev = int(data.get("rev", 1) or 1)
        prev = out.get(rid)
        if prev is None or rev >= prev[0]:
            out[rid] = (rev, data)
    return {rid: data for rid, (_, data) in out.items()}


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
                 "ratings", "sentiment", "outcome", "self_service", "flagged")

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

    def result(self) -> dict[str, Any]:
        return {
            "tickets": self.issued,
            "walk_in": self.kinds.get("walk_in", 0), "appointment": self.kinds.get("appointment", 0),
            "tickets_per_open_hour": round(self.issued / len(self.hours), 1) if self.hours else None,
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


def figures(rows: Iterable[Row], tz: str = "Europe/Helsinki", month: str | None = None) -> dict[str, Any]:
    """{site: {month: {"services": {service or "*": figures}, "printer_faults": n}}}"""
    zone = ZoneInfo(tz)
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
        m = _month(r.ts, zone)
        if month is not None and m != month:
            continue
        d = r.data
        if r.type == "ticket.issued":
            for b in both(r.site, m, d.get("service")):
                b.issued += 1
                b.kinds[d.get("kind", "walk_in")] += 1
                b.hours.add(_hour(r.ts, zone))
        elif r.type == "ticket.called":
            # The wait until the first call; a second call after a transfer waits again in the
            # new service and counts there.
            key = (r.site, f"{d.get('ticket')}|{d.get('service')}")
            if key not in called_before and isinstance(d.get("waited_s"), (int, float)):
                called_before.add(key)
                for b in both(r.site, m, d.get("service")):
                    b.waits.append(float(d["waited_s"]))
        elif r.type == "ticket.finished":
            if isinstance(d.get("service_s"), (int, float)):
                for b in both(r.site, m, d.get("service")):
                    b.services.append(float(d["service_s"]))
        elif r.type == "ticket.no_show":
            for b in both(r.site, m, d.get("service")):
                b.no_show += 1
        elif r.type == "ticket.cancelled" and d.get("reason") != "day_closed":
            for b in both(r.site, m, d.get("service")):
                b.cancelled += 1
        elif r.type == "ticket.transferred":
            for b in both(r.site, m, d.get("from_service")):
                b.transferred += 1
        elif r.type == "feedback.given":
            feedback[(r.site, m)].append(d)
        elif r.type == "printer.fault":
            faults[(r.site, m)] += 1

    for (site, m), items in feedback.items():
        for data in latest_feedback(items).values():
            targets = both(site, m, data.get("service"))
            if data.get("flags"):
                for b in targets:
                    b.flagged += 1
                continue
            try:
                rating, scale = int(data["rating"]), int(data.get("scale", 5))
            except (KeyError, TypeError, ValueError):
                continue
            for b in targets:
                b.ratings.append(1 + (rating - 1) * 4 / max(scale - 1, 1))  # on a 1–5 scale
                b.sentiment[_sentiment(rating, scale)] += 1
                if data.get("outcome") in ("done", "started", "not_done"):
                    b.outcome[data["outcome"]] += 1
                if data.get("self_service") in ("yes", "no"):
                    b.self_service[data["self_service"]] += 1

    out: dict[str, Any] = {}
    for (site, m, service), b in sorted(buckets.items()):
        month_out = out.setdefault(site, {}).setdefault(m, {"services": {}, "printer_faults": 0})
        month_out["services"][service] = b.result()
    for (site, m), n in faults.items():
        out.setdefault(site, {}).setdefault(m, {"services": {}, "printer_faults": 0})["printer_faults"] = n
    return out
