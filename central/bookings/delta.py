"""What changed between two imports of one feed, for the days a site needs (pure).

A site receives changes, not whole files: `changes_for_days` compares the previous import's
bookings with the new one's (one site, one service) by `Booking.key` and gives, for the bookings
that start on one of the days either before or after:

- ``new``: not there before (or cancelled before), there now;
- ``moved``: start, duration or room changed (the needs may have changed with them);
- ``updated``: only the needs changed;
- ``cancelled``: there before, gone now or STATUS:CANCELLED.

A booking moved from one of the days to another day is ``moved`` (the kiosk can say where it
went), not cancelled. The order is deterministic: by the start the site will act on (the new
one; for a cancellation the old one), then kind, then key. `apply_changes` is what the site does
with them; applying them to the old bookings gives the new ones on those days.

`change_to_json` is the compact form the site receives (no text of the feed: a key of hex digits
and a date, the service id, a time, minutes, the site's room id, the needs).
"""
from __future__ import annotations

import datetime as _dt
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal
from zoneinfo import ZoneInfo

from core.engine import Needs

from .ical import Booking

Kind = Literal["new", "moved", "updated", "cancelled"]
_KIND_ORDER = {"cancelled": 0, "moved": 1, "updated": 2, "new": 3}


@dataclass(frozen=True, slots=True)
class Change:
    kind: Kind
    key: str
    booking: Booking  # the new booking; for a cancellation the one that is cancelled


def _active(bookings: Iterable[Booking]) -> dict[str, Booking]:
    return {b.key: b for b in bookings if not b.cancelled}


def changes_for_days(old: Iterable[Booking], new: Iterable[Booking], days: Iterable[_dt.date]) -> list[Change]:
    wanted = set(days)
    before, after = _active(old), _active(new)
    out: list[Change] = []
    for key in before.keys() | after.keys():
        a, b = before.get(key), after.get(key)
        if not ((a is not None and a.day in wanted) or (b is not None and b.day in wanted)):
            continue
        if b is None:
            assert a is not None
            out.append(Change("cancelled", key, a))
        elif a is None:
            out.append(Change("new", key, b))
        elif (a.start, a.duration_min, a.room, a.service) != (b.start, b.duration_min, b.room, b.service):
            out.append(Change("moved", key, b))
        elif a.needs != b.needs:
            out.append(Change("updated", key, b))
    out.sort(key=lambda c: (c.booking.at_ms, _KIND_ORDER[c.kind], c.key))
    return out


def apply_changes(old: Iterable[Booking], changes: Iterable[Change]) -> dict[str, Booking]:
    """The active bookings by key after the changes (as the site keeps them)."""
    current = _active(old)
    for c in changes:
        if c.kind == "cancelled":
            current.pop(c.key, None)
        else:
            current[c.key] = c.booking
    return current


# --- what the site receives -----------------------------------------------------------------------

def _needs_json(needs: Needs) -> dict[str, Any]:
    return {k: v for k, v in needs.to_dict().items() if v}


def change_to_json(change: Change) -> dict[str, Any]:
    if change.kind == "cancelled":
        return {"op": "cancelled", "key": change.key}
    b = change.booking
    d: dict[str, Any] = {"op": change.kind, "key": change.key, "service": b.service, "at_ms": b.at_ms,
                         "min": b.duration_min}
    if b.room is not None:
        d["room"] = b.room
    if b.needs.any():
        d["needs"] = _needs_json(b.needs)
    return d


def change_bytes(change: Change) -> bytes:
    """The change as the site receives it: compact JSON, UTF-8."""
    return json.dumps(change_to_json(change), separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def change_from_json(d: Mapping[str, Any], tz: _dt.tzinfo | str, previous: Booking | None = None) -> Change:
    """The inverse of `change_to_json`. A cancellation carries only its key: `previous` (the site's
    booking of that key) fills the rest, else a placeholder booking of that key."""
    zone = ZoneInfo(tz) if isinstance(tz, str) else tz
    key = str(d["key"])
    ref = key.split("@", 1)[0]
    kind = d["op"]
    if kind not in _KIND_ORDER:
        raise ValueError(f"unknown change {kind!r}")
    if kind == "cancelled":
        booking = previous or Booking(key=key, ref=ref, service="", start=_dt.datetime.fromtimestamp(0, zone),
                                      duration_min=1)
        return Change("cancelled", key, booking)
    start = _dt.datetime.fromtimestamp(int(d["at_ms"]) / 1000, zone)
    booking = Booking(key=key, ref=ref, service=str(d["service"]), start=start, duration_min=int(d["min"]),
                      room=d.get("room"), needs=Needs.from_dict(d.get("needs")))
    return Change(kind, key, booking)
