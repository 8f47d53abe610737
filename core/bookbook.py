"""The site's book of bookings from the authorities' feeds, kept from the centre's changes (pure).

The centre numbers each site's changes (central/bookings/store.py) and sends them in batches on
pp/<site>/bookings:

    {"from": 41, "to": 43, "changes": [{"seq": 41, "op": "moved", "key": "<ref>", "service": "kela",
                                        "at_ms": ..., "min": 20, "room": "H2", "needs": {...}}, ...]}

`apply_batch` applies them in order, each once: a change already applied (seq <= the book's) is
skipped, and a batch that starts after a missing one is not applied at all — the caller asks the
centre for the changes since the book's last (pp/<site>/bookings/since), so the book is always
the centre's changes 1..seq, in order. A cancelled booking stays in the book as cancelled (the
kiosk says so); a moved one remembers it moved. Bookings of days gone are dropped.

What the book holds: the booking's key (the reference of its code, @date for an occurrence of a
series), service, time, minutes, the site's room id, needs. No code, nothing of the feed's text.
"""
from __future__ import annotations

import datetime as _dt
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .engine import Appointment, Needs

#: Bookings that ended this long ago are dropped from the book.
KEEP_MS = 2 * 86_400_000
_OPS = ("new", "moved", "updated", "cancelled")


class BookError(ValueError):
    """A batch that is not the centre's (its shape is wrong): refused whole."""


@dataclass
class Book:
    seq: int = 0
    items: dict[str, dict[str, Any]] = field(default_factory=dict)


def _check(batch: Mapping[str, Any]) -> list[dict[str, Any]]:
    changes = batch.get("changes")
    if not isinstance(changes, list) or not isinstance(batch.get("from"), int) or not isinstance(batch.get("to"), int):
        raise BookError("a batch needs from, to and a list of changes")
    prev = None
    for c in changes:
        if not isinstance(c, dict) or not isinstance(c.get("seq"), int) or c.get("op") not in _OPS \
                or not isinstance(c.get("key"), str) or not c["key"]:
            raise BookError("each change needs seq, op and key")
        if c["op"] != "cancelled" and not (isinstance(c.get("service"), str) and isinstance(c.get("at_ms"), int)):
            raise BookError(f"change {c['seq']}: no service or time")
        if prev is not None and c["seq"] != prev + 1:
            raise BookError("the changes of a batch are numbered one after another")
        prev = c["seq"]
    return changes


def apply_batch(book: Book, batch: Mapping[str, Any], now_ms: int) -> tuple[Book, int | None]:
    """(the book after the batch, None) or (the book unchanged, the seq to ask the changes since)."""
    changes = _check(batch)
    if not changes or changes[-1]["seq"] <= book.seq:
        return book, None
    if changes[0]["seq"] > book.seq + 1:
        return book, book.seq
    items = dict(book.items)
    for c in changes:
        if c["seq"] <= book.seq:
            continue
        key, op = c["key"], c["op"]
        if op == "cancelled":
            if key in items:
                items[key] = {**items[key], "cancelled": True}
            continue
        entry = {k: c[k] for k in ("service", "at_ms", "min", "room", "needs") if c.get(k) is not None}
        old = items.get(key)
        if op == "moved" or (old is not None and old.get("moved")):
            entry["moved"] = True
        items[key] = entry
    items = {k: v for k, v in items.items()
             if int(v.get("at_ms", now_ms)) + int(v.get("min", 0)) * 60_000 >= now_ms - KEEP_MS}
    return Book(changes[-1]["seq"], items), None


def book_to_json(book: Book) -> bytes:
    return json.dumps({"seq": book.seq, "bookings": book.items}, sort_keys=True, separators=(",", ":")).encode()


def book_from_json(data: bytes) -> Book:
    doc = json.loads(data)
    if not isinstance(doc, dict) or not isinstance(doc.get("seq"), int) or not isinstance(doc.get("bookings"), dict):
        raise BookError("not a book of bookings")
    return Book(doc["seq"], dict(doc["bookings"]))


def appointments_from_book(book: Book, tz: _dt.tzinfo, now_ms: int) -> list[Appointment]:
    """The engine's appointments: one per reference (a series' occurrence of today wins over the
    others, else the next one to come, else the last)."""
    today = _dt.datetime.fromtimestamp(now_ms / 1000, tz).date()
    chosen: dict[str, tuple[tuple[int, int], Appointment]] = {}
    for key, v in book.items.items():
        if "service" not in v:
            continue
        at = int(v["at_ms"])
        day = _dt.datetime.fromtimestamp(at / 1000, tz).date()
        rank = (0 if day == today else 1 if at >= now_ms else 2, abs(at - now_ms))
        ref = key.split("@", 1)[0]
        appt = Appointment(code="", service=str(v["service"]), at_ms=at, ref=ref, room=v.get("room"),
                           needs=Needs.from_dict(v.get("needs")), cancelled=bool(v.get("cancelled")),
                           moved=bool(v.get("moved")))
        if ref not in chosen or rank < chosen[ref][0]:
            chosen[ref] = (rank, appt)
    return [a for _, a in chosen.values()]
