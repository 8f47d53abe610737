"""What each stored event adds to the central roll-ups: pure, no database.

The central store keeps, beside the raw events, sums that only ever grow by addition, so that any
union of them (a region, an authority across sites, the nation, a quarter) is a sum too:

    hours       per (service, local day, hour): counts and sums (`HOUR_COLUMNS`)
    hist        per (service, month, metric, bin): how many waits / service times fell in the bin
                (core/histogram.py), so medians and 90th percentiles of a union are exact to a bin
    outcomes    per (service, day, outcome): what the clerks tapped on finishing
    transfers   per (from service, to service, day)
    days        per day a ticket was taken: the site's opening seconds that day (for tickets per
                opening hour; None when the site has no [opening_hours])

Two kinds of event cannot simply be added, and the store settles them (central/rollups.py):
    first calls  a ticket's wait counts at its first call in a service only: `calls` carry a key
                 the store remembers, and their contribution is added only for a new key;
    feedback     counts once per response, its last snapshot: `feedback` rows replace the
                 response's earlier one when their rank (rev, device, seq) is higher.

The rules are those of core/figures.py (the device-side figures, and the direct computation the
tests compare with): every read is defensive, a malformed event costs only itself.
"""
from __future__ import annotations

import datetime as _dt
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from . import histogram
from .figures import _TS_MAX, _is_int, _is_num, _sentiment, _text

HOUR_COLUMNS: tuple[str, ...] = (
    "issued", "walk_in", "appointment", "waits", "wait_sum_ms", "within_target", "judged",
    "served", "service_sum_ms", "no_show", "cancelled", "transferred", "printer_faults")
_COL = {name: i for i, name in enumerate(HOUR_COLUMNS)}
WAIT, SERVICE = "wait", "service"
#: The service of what belongs to no service (printer faults; events without one).
NO_SERVICE = ""

HourKey = tuple[str, str, int]          # service, day (ISO), hour
HistKey = tuple[str, str, str, int]     # service, month, metric, bin


class Stored(Protocol):
    """An event as stored (core.events.Event, or a row read back)."""
    @property
    def device(self) -> str: ...
    @property
    def seq(self) -> int: ...
    @property
    def type(self) -> str: ...
    @property
    def ts(self) -> int: ...
    @property
    def data(self) -> Any: ...


@dataclass(frozen=True)
class SiteRules:
    """What the roll-ups need of a site's configuration (sites whose configuration never came get
    the default: Helsinki time, no targets, no opening hours)."""
    tz: ZoneInfo = field(default_factory=lambda: ZoneInfo("Europe/Helsinki"))
    targets_s: dict[str, float] = field(default_factory=dict)   # service → target wait
    open_s: Callable[[_dt.date], int | None] = lambda _d: None  # opening seconds of a day

    @classmethod
    def of(cls, site: Any) -> "SiteRules":
        """From a core.config.Site."""
        from .hours import site_interval

        def open_s(d: _dt.date) -> int | None:
            if not site.hours_configured:
                return None
            span = site_interval(site, d)
            return 0 if span is None else (span[1] - span[0]) // 1000

        return cls(tz=site.tz, targets_s={s.id: s.target_wait_min * 60 for s in site.services.values()},
                   open_s=open_s)


@dataclass(frozen=True)
class Call:
    """A ticket.called: its wait counts if it is the ticket's first call in the service."""
    key: tuple[str, str]                # ticket, service
    hour: HourKey
    month: str
    wait_s: float
    within: bool | None                 # None: the service has no target known


@dataclass(frozen=True)
class Response:
    """The contribution of one feedback snapshot; the response keeps its highest `rank`."""
    response: str
    rank: tuple[int, str, int]          # rev, device, seq
    service: str
    day: str
    hour: int
    rating: int | None                  # None: flagged by the misuse guard, or no usable rating
    scale: int | None
    sentiment: str | None
    outcome: str | None
    self_service: str | None
    flagged: bool


@dataclass
class Delta:
    hours: dict[HourKey, list[int]] = field(default_factory=dict)
    hist: dict[HistKey, int] = field(default_factory=lambda: defaultdict(int))
    outcomes: dict[tuple[str, str, str], int] = field(default_factory=lambda: defaultdict(int))
    transfers: dict[tuple[str, str, str], int] = field(default_factory=lambda: defaultdict(int))
    days: dict[str, int | None] = field(default_factory=dict)
    calls: list[Call] = field(default_factory=list)
    feedback: dict[str, Response] = field(default_factory=dict)

    def add(self, key: HourKey, column: str, n: int = 1) -> None:
        row = self.hours.get(key)
        if row is None:
            row = self.hours[key] = [0] * len(HOUR_COLUMNS)
        row[_COL[column]] += n

    def add_call(self, c: Call) -> None:
        """A call the store found to be the ticket's first in its service."""
        self.add(c.hour, "waits")
        self.add(c.hour, "wait_sum_ms", round(c.wait_s * 1000))
        if c.within is not None:
            self.add(c.hour, "judged")
            self.add(c.hour, "within_target", int(c.within))
        self.hist[(c.hour[0], c.month, WAIT, histogram.bin_of(c.wait_s))] += 1

    def empty(self) -> bool:
        return not (self.hours or self.hist or self.outcomes or self.transfers or self.days or self.calls
                    or self.feedback)


def _local(ts: int, tz: ZoneInfo) -> _dt.datetime:
    return _dt.datetime.fromtimestamp(ts / 1000, tz=_dt.timezone.utc).astimezone(tz)


def contributions(events: Iterable[Stored], rules: SiteRules) -> Delta:
    """What `events` (one site's, in any order) add; calls and feedback are left for the store to
    settle (see the module's doc)."""
    out = Delta()
    first_call: dict[tuple[str, str], tuple[tuple[str, int], Call]] = {}
    for e in events:
        d = e.data
        if not isinstance(d, dict) or not _is_int(e.ts) or not 0 <= e.ts <= _TS_MAX:
            continue
        when = _local(e.ts, rules.tz)
        day, hour, month = when.date().isoformat(), when.hour, when.strftime("%Y-%m")
        service = _text(d, "service") or NO_SERVICE
        key: HourKey = (service, day, hour)
        if e.type == "ticket.issued":
            out.add(key, "issued")
            kind = d.get("kind", "walk_in")
            if kind in ("walk_in", "appointment"):
                out.add(key, kind)
            if day not in out.days:
                out.days[day] = rules.open_s(when.date())
        elif e.type == "ticket.called":
            ticket = _text(d, "ticket")
            w = d.get("waited_s")
            if _is_num(w) and w >= 0:
                target = rules.targets_s.get(service)
                call = Call((ticket or "", service), key, month, float(w),
                            None if target is None else w <= target)
                order = (e.device, e.seq)
                prev = first_call.get(call.key)
                if prev is None or order < prev[0]:
                    first_call[call.key] = (order, call)
        elif e.type == "ticket.finished":
            s = d.get("service_s")
            if _is_num(s) and s >= 0:
                out.add(key, "served")
                out.add(key, "service_sum_ms", round(s * 1000))
                out.hist[(service, month, SERVICE, histogram.bin_of(s))] += 1
            if _text(d, "outcome"):
                out.outcomes[(service, day, d["outcome"])] += 1
        elif e.type == "ticket.no_show":
            out.add(key, "no_show")
        elif e.type == "ticket.cancelled" and d.get("reason") != "day_closed":
            out.add(key, "cancelled")
        elif e.type == "ticket.transferred":
            # The first authority's service ends with the transfer: its time counts there.
            src = _text(d, "from_service") or NO_SERVICE
            skey = (src, day, hour)
            out.add(skey, "transferred")
            s = d.get("service_s")
            if _is_num(s) and s >= 0:
                out.add(skey, "served")
                out.add(skey, "service_sum_ms", round(s * 1000))
                out.hist[(src, month, SERVICE, histogram.bin_of(s))] += 1
            out.transfers[(src, _text(d, "to_service") or NO_SERVICE, day)] += 1
        elif e.type == "feedback.given":
            r = _response(e, d, service, day, hour)
            prev_r = out.feedback.get(r.response)
            if prev_r is None or r.rank > prev_r.rank:
                out.feedback[r.response] = r
        elif e.type == "printer.fault":
            out.add((NO_SERVICE, day, hour), "printer_faults")
    out.calls = [c for _, c in first_call.values()]
    return out


def _response(e: Stored, d: dict[str, Any], service: str, day: str, hour: int) -> Response:
    rid = _text(d, "response") or f"#{e.device}/{e.seq}"  # no id: its own response
    rev = d.get("rev", 1)
    rank = (rev if _is_int(rev) else 1, e.device, e.seq)
    flagged = bool(d.get("flags"))
    rating = scale = None
    raw_rating, raw_scale = d.get("rating"), d.get("scale", 5)
    if not flagged and _is_num(raw_rating) and _is_num(raw_scale) and int(raw_rating) == raw_rating \
            and int(raw_scale) == raw_scale and int(raw_scale) in (3, 4, 5) \
            and 1 <= int(raw_rating) <= int(raw_scale):
        rating, scale = int(raw_rating), int(raw_scale)
    usable = rating is not None and scale is not None
    outcome = _text(d, "outcome") if usable else None
    self_service = _text(d, "self_service") if usable else None
    return Response(
        response=rid, rank=rank, service=service, day=day, hour=hour, rating=rating, scale=scale,
        sentiment=_sentiment(rating, scale) if rating is not None and scale is not None else None,
        outcome=outcome if outcome in ("done", "started", "not_done") else None,
        self_service=self_service if self_service in ("yes", "no") else None, flagged=flagged)
