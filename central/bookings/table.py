"""A booking list as a file: CSV with a header, or JSON (a list of objects, or {"bookings": [...]}),
dropped into a directory or POSTed to the web service (central/bookings/feeds.py kinds drop, push).

    code,time,duration_min,room,needs,status
    4711,2026-12-03T10:30,20,Huone 1,"hearing_loop,interpreter:ar",
    4712,2026-12-03T11:00,,,,cancelled

Only these columns are read; any other (a name, a phone number, a note) is never looked at, so
nothing personal is kept. The same rules as an iCalendar feed: the code only as its reference,
rooms through the mapping, needs from the fixed vocabulary, all or nothing (a bad time, a broken
file or one over the size limit refuses the whole file with a reason that quotes none of it); a
row without a valid code is skipped and counted. Times without a zone are the site's.
"""
from __future__ import annotations

import csv
import datetime as _dt
import io
import json
from collections.abc import Iterable, Mapping
from typing import Any
from zoneinfo import ZoneInfo

from core.appointments import CODE_RE
from core.engine import Needs, appointment_ref

from .ical import Booking, BookingFeedError, FeedImport, FeedMapping, needs_from_tokens

COLUMNS = ("code", "time", "duration_min", "room", "needs", "status")


def _rows(data: bytes) -> list[tuple[str, dict[str, Any]]]:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise BookingFeedError("not UTF-8 text") from None
    if text.lstrip().startswith(("[", "{")):
        try:
            doc = json.loads(text)
        except ValueError as exc:
            raise BookingFeedError(f"not valid JSON (line {getattr(exc, 'lineno', '?')})") from None
        items = doc.get("bookings") if isinstance(doc, dict) else doc
        if not isinstance(items, list):
            raise BookingFeedError('JSON must be a list of bookings or {"bookings": [...]}')
        out = []
        for i, obj in enumerate(items, start=1):
            if not isinstance(obj, dict):
                raise BookingFeedError(f"item {i} is not an object")
            out.append((f"item {i}", {k: obj.get(k) for k in COLUMNS}))
        return out
    try:
        reader = csv.DictReader(io.StringIO(text))
        header = [h.strip().lower() for h in reader.fieldnames or []]
        if "code" not in header or "time" not in header:
            raise BookingFeedError("not a booking list: the header needs code and time")
        reader.fieldnames = header
        return [(f"line {reader.line_num}", {k: row.get(k) for k in COLUMNS}) for row in reader]
    except csv.Error as exc:
        raise BookingFeedError(f"broken CSV ({type(exc).__name__})") from None


def _start(value: Any, tz: ZoneInfo, where: str) -> _dt.datetime:
    if not isinstance(value, str) or not value.strip():
        raise BookingFeedError(f"{where}: no time")
    try:
        t = _dt.datetime.fromisoformat(value.strip())
    except ValueError:
        raise BookingFeedError(f"{where}: the time is not ISO 8601 (2026-12-03T10:30)") from None
    return t.replace(tzinfo=tz) if t.tzinfo is None else t.astimezone(tz)


def _needs(value: Any, tokens_map: Mapping[str, str]) -> Needs:
    tokens = value if isinstance(value, list) else str(value or "").split(",")
    return needs_from_tokens((str(t).strip().casefold() for t in tokens if str(t).strip()), tokens_map)


def parse_table(data: bytes, mapping: FeedMapping, ref_key: bytes, days: Iterable[_dt.date]) -> FeedImport:
    """The bookings of a CSV or JSON list (all of them: a file names its bookings, no series)."""
    if len(data) > mapping.max_bytes:
        raise BookingFeedError(f"the file is over the {round(mapping.max_bytes / 2**20, 1):g} MB limit")
    tz = ZoneInfo(mapping.tz)
    rooms = {k.strip().casefold(): v for k, v in mapping.rooms.items()}
    tokens_map = {k.strip().casefold(): v for k, v in mapping.need_tokens.items()}
    bookings: dict[str, Booking] = {}
    shared: set[str] = set()  # codes two rows give: neither can be told apart at the kiosk
    skipped: dict[str, int] = {}
    unmapped = 0
    rows = _rows(data)
    for where, row in rows:
        code = str(row.get("code") or "").strip()
        if not CODE_RE.fullmatch(code):
            skipped["no_code"] = skipped.get("no_code", 0) + 1
            continue
        start = _start(row.get("time"), tz, where)
        duration = row.get("duration_min")
        try:
            minutes = int(duration) if duration not in (None, "") else mapping.default_duration_min
        except (TypeError, ValueError):
            raise BookingFeedError(f"{where}: duration_min is not a whole number") from None
        if not 0 < minutes <= 24 * 60:
            raise BookingFeedError(f"{where}: duration_min out of range")
        room_text = str(row.get("room") or "").strip()
        room = rooms.get(room_text.casefold()) if room_text else None
        unmapped += bool(room_text and room is None)
        ref = appointment_ref(ref_key, code)
        if ref in shared or ref in bookings:
            skipped["duplicate_code"] = skipped.get("duplicate_code", 0) + (1 if ref in shared else 2)
            bookings.pop(ref, None)
            shared.add(ref)
            continue
        bookings[ref] = Booking(key=ref, ref=ref, service=mapping.service, start=start, duration_min=minutes,
                                room=room, needs=_needs(row.get("needs"), tokens_map),
                                cancelled=str(row.get("status") or "").strip().lower() in ("cancelled", "canceled"))
    return FeedImport(bookings=tuple(bookings.values()), events=len(rows), skipped=skipped, unmapped_rooms=unmapped)
