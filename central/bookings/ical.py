"""One iCalendar feed (RFC 5545) of one authority, for one service of one site, as bookings.

Parsed with the maintained `icalendar` library; recurring series (RRULE, RDATE, EXDATE and
RECURRENCE-ID exceptions) are expanded with `dateutil.rrule`, which icalendar itself depends on,
for the local days asked (today and tomorrow): the expansion needs only the rule sets of one
event at a time, and the few lines below keep the time zone handling in one place (local wall
time of the event's own zone, as RFC 5545 says) — `recurring_ical_events` would be one more
dependency for the same result.

**No personal data crosses.** A `Booking` has no field that could hold text of the feed: SUMMARY,
DESCRIPTION, ATTENDEE, ORGANIZER, CONTACT, COMMENT and the other free-text properties (`FREE_TEXT`)
are cut out of the feed before it is even parsed, unless the mapping reads one (a code pattern
over DESCRIPTION); UID and whatever else is parsed is read only to find the code, the room and
the needs, to join a series with its exceptions, and dropped. The code itself is kept only as
`core.engine.appointment_ref` of it (HMAC-SHA256 with the key given), the reference the site's
engine already uses; a room is kept only when it is one of the site's rooms named in the mapping;
needs only from a fixed vocabulary (`core.engine.Needs`).

**All or nothing.** A feed that is not iCalendar, has a broken line, an event without DTSTART,
a time zone that does not exist, an invalid rule or is over the size limit raises
`BookingFeedError` and gives no bookings at all. The error's `reason` is safe to show: it names
a line number, an event number or a property name, never the text of the feed.

A booking whose code cannot be found (or is shared by two bookings) is skipped and counted in
`FeedImport.skipped`; that is not an error.

The mapping (`FeedMapping`), field by field:

=================  ==========================================================================
booking code       `code_property` (default ``X-BOOKING-CODE``), else the first match of
                   `code_pattern` (named group ``code``, else group 1, else the whole match)
                   searched in `code_fields` (default LOCATION, DESCRIPTION) — in that order;
                   it must be 3 to 32 letters, digits or ``-`` (`core.appointments.CODE_RE`)
start              DTSTART: TZID resolved through the feed's VTIMEZONEs or the IANA database,
                   UTC (``Z``) as such, floating times in the site's zone (`tz`); an all-day
                   event (a DATE) is not a booking and is skipped
duration           DTEND − DTSTART, else DURATION, else `default_duration_min`
room or counter    `room_property` (default LOCATION), optionally narrowed by `room_pattern`,
                   looked up (case-insensitive) in `rooms` (feed text → site room id); a value
                   not in `rooms` gives no room (counted in `FeedImport.unmapped_rooms`)
needs              tokens of `needs_property` (default ``X-BOOKING-NEEDS``, comma separated)
                   and of CATEGORIES, looked up case-insensitively in `need_tokens` (token →
                   ``hearing_loop``, ``accessible_room`` or ``interpreter:<lang>``); also the
                   literal ``interpreter:<lang>``; other tokens are ignored
status             STATUS:CANCELLED → `Booking.cancelled`
series             RRULE, RDATE, EXDATE; an exception (RECURRENCE-ID) replaces its occurrence;
                   an occurrence's `key` is ``<ref>@<original local date>``
=================  ==========================================================================
"""
from __future__ import annotations

import bisect
import datetime as _dt
import functools
import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import icalendar
from dateutil.rrule import rruleset, rrulestr  # type: ignore[import-untyped]  # no stubs in the environment

from core.appointments import CODE_RE
from core.engine import Needs, appointment_ref
from core.events import LANG_PATTERN

from .feeds import DEFAULT_NEED_TOKENS, MAX_FEED_BYTES

_NAME_RE = re.compile(r"[A-Za-z0-9-]+")
# A content line starts with a name followed by parameters (;) or the value (:) (RFC 5545 3.1).
_CONTENT_LINE_RE = re.compile(rb"([A-Za-z0-9-]+)[;:]")
_INTERPRETER_RE = re.compile(rf"(?:interpreter|tulkki|tolk):({LANG_PATTERN})")
#: Free text, dropped before parsing unless the mapping reads the property (a code in DESCRIPTION).
FREE_TEXT = frozenset({"SUMMARY", "DESCRIPTION", "ATTENDEE", "ORGANIZER", "CONTACT", "COMMENT", "ATTACH", "URL",
                       "GEO", "RESOURCES", "RELATED-TO", "X-ALT-DESC", "X-MICROSOFT-CDO-ALTDESC"})
_MAX_SERIES_OCCURRENCES = 10_000  # a rule is expanded over two days; more than this is no booking system's


class BookingFeedError(ValueError):
    """The feed was refused whole. `reason` is safe to show anywhere: it never quotes the feed."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


@dataclass(frozen=True)
class FeedMapping:
    """How one feed's events become bookings of one service of one site (see the module's table)."""
    service: str
    tz: str = "Europe/Helsinki"  # the site's zone: floating times are in it, local days are of it
    code_property: str | None = "X-BOOKING-CODE"
    code_pattern: str | None = None
    code_fields: tuple[str, ...] = ("LOCATION", "DESCRIPTION")
    room_property: str | None = "LOCATION"
    room_pattern: str | None = None
    rooms: Mapping[str, str] = field(default_factory=dict)
    needs_property: str | None = "X-BOOKING-NEEDS"
    needs_from_categories: bool = True
    need_tokens: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_NEED_TOKENS))
    default_duration_min: int = 30
    max_bytes: int = MAX_FEED_BYTES

    def __post_init__(self) -> None:
        try:
            ZoneInfo(self.tz)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {self.tz!r} for the site") from None
        for name in (self.code_property, self.room_property, self.needs_property, *self.code_fields):
            if name is not None and not _NAME_RE.fullmatch(name):
                raise ValueError(f"{name!r} is not an iCalendar property name")
        for pattern in (self.code_pattern, self.room_pattern):
            if pattern is not None:
                re.compile(pattern)
        for token, need in self.need_tokens.items():
            if need not in ("hearing_loop", "accessible_room") and not _INTERPRETER_RE.fullmatch(need):
                raise ValueError(f"need token {token!r}: {need!r} is not hearing_loop, accessible_room "
                                 "or interpreter:<lang>")
        if self.default_duration_min <= 0:
            raise ValueError("default_duration_min must be positive")

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.tz)


@dataclass(frozen=True, slots=True)
class Booking:
    """One booking (one occurrence of a series) as a site may know it. No text of the feed."""
    key: str  # the booking's identity across imports: ref, or ref@YYYY-MM-DD for an occurrence of a series
    ref: str  # core.engine.appointment_ref of the booking code
    service: str
    start: _dt.datetime  # aware, in the site's zone
    duration_min: int
    room: str | None = None
    needs: Needs = Needs()
    cancelled: bool = False

    @property
    def at_ms(self) -> int:
        return int(self.start.timestamp() * 1000)

    @property
    def day(self) -> _dt.date:
        return self.start.date()


@dataclass(frozen=True)
class FeedImport:
    """The result of one parse: the bookings on the days asked, and what was left out."""
    bookings: tuple[Booking, ...]
    events: int  # VEVENTs in the feed
    skipped: Mapping[str, int]  # reason (no_code, duplicate_code, all_day) -> bookings
    unmapped_rooms: int = 0


# --- reading ------------------------------------------------------------------------------------

#: A line that is neither a content line (NAME;... or NAME:...), a continuation nor empty, found
#: by the newline before it: a literal the regex engine scans for fast (70,000 lines in ~5 ms).
_BAD_LINE_RE = re.compile(rb"\n(?![ \t\n]|[A-Za-z0-9-]+[;:]|\Z)")


def _check_lines(data: bytes) -> bytes:
    """Every unfolded line must be a content line; name the first that is not by its number.
    Returns the feed with CRLF line ends and without empty lines. Regular expressions over the
    whole text: a feed of months of bookings has tens of thousands of lines."""
    text = data.replace(b"\r\n", b"\n")
    if b"\r" in text:
        text = text.replace(b"\r", b"\n")
    start = text.lstrip()
    if not start[:15].upper().startswith(b"BEGIN:VCALENDAR") or start[15:16].strip():
        raise BookingFeedError("not an iCalendar feed (it does not begin with BEGIN:VCALENDAR)")
    if not text.endswith(b"\n"):
        text += b"\n"
    bad = _BAD_LINE_RE.search(text)
    if bad is not None:
        number = text.count(b"\n", 0, bad.start() + 1) + 1
        raise BookingFeedError(f"line {number}: not an iCalendar content line (NAME:value)")
    if b"\n\n" in text:
        text = re.sub(rb"\n{2,}", b"\n", text)  # empty lines: tolerated
    text = text.lstrip(b"\n")
    return text.replace(b"\n", b"\r\n")


def _drop(text: bytes, drop: frozenset[bytes]) -> bytes:
    """The feed without the properties in `drop` (free text: they never reach the parser), each
    with its folded continuation lines, whatever the case of its name."""
    if not drop:
        return text
    names = b"|".join(re.escape(n) for n in sorted(drop))
    return re.sub(rb"(?mi)^(?:" + names + rb")[;:].*\r\n(?:[ \t].*\r\n)*", b"", text)


def _safe_name(name: Any) -> str:
    return name if isinstance(name, str) and _NAME_RE.fullmatch(name) else "a property"


@dataclass(frozen=True)
class _Window:
    """Which events are worth the parser's time: those starting near the days asked (a day either
    side: a TZID moves a local date), every series and exception, and those of the references
    given (the last import's bookings: one moved off the days must be seen as moved)."""
    lo: str  # YYYYMMDD
    hi: str
    keep_refs: frozenset[str]
    ref_key: bytes
    cache: dict[str, Any] | None = None  # the caller's, kept between imports of one feed (`parse_feed`)
    sig: bytes = b""  # what the cached results depend on besides the event itself


# "\n" before a name rather than (?m)^: a literal to scan for, which the regex engine does fast.
_DTSTART_RE = re.compile(rb"\nDTSTART(?:;[^:\r\n]*)?:(\d{8})")
_TZID_RE = re.compile(rb"\nDT(?:START|END)[^:\r\n]*;TZID=\"?([^:;\"\r\n]+)")
_SERIES_RE = re.compile(rb"\n(?:RRULE|RDATE|EXDATE|RECURRENCE-ID)[;:]")


@functools.lru_cache(maxsize=64)
def _property_re(name: str) -> re.Pattern[bytes]:
    return re.compile(rb"(?mi)^" + re.escape(name.encode()) + rb"(?:;[^:\r\n]*)?:(.*(?:\r\n[ \t].*)*)")


def _unfolded_value(block: bytes, name: str) -> str | None:
    m = _property_re(name).search(block)
    if m is None:
        return None
    return re.sub(rb"\r\n[ \t]", b"", m.group(1)).decode("utf-8", "replace").replace("\\,", ",")


@functools.lru_cache(maxsize=64)
def _code_re(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def _block_refs(block: bytes, mapping: FeedMapping, w: _Window) -> set[str]:
    """The references of the codes a block may carry (as `_code` would find them)."""
    codes = []
    if mapping.code_property:
        codes.append(_unfolded_value(block, mapping.code_property))
    if mapping.code_pattern:
        pattern = _code_re(mapping.code_pattern)
        for name in mapping.code_fields:
            value = _unfolded_value(block, name)
            m = pattern.search(value) if value else None
            if m is not None:
                codes.append(m.group("code") if "code" in pattern.groupindex else m.group(1) if pattern.groups
                             else m.group(0))
    return {appointment_ref(w.ref_key, c.strip()) for c in codes if c and c.strip()}


def _in_window(data: bytes, mapping: FeedMapping, w: _Window, zones: set[str]) -> tuple[bytes, int]:
    """The feed with only the events worth parsing, each marked with its number in the whole feed
    (X-PP-N: errors name the event a person would count). Also the number of events in all.

    A reference of `w.keep_refs` found in none of the events near the days is looked for in the
    others (a booking moved to another day): only then are their codes read, so a feed in which
    nothing moved away costs nothing more. The time zones of the events left out are checked
    too: a feed is refused whole or not at all. The starts, series and zones are found by a
    few scans of the whole text, not event by event."""
    # Each event's place in `data`: from its BEGIN:VEVENT line to the end of its END:VEVENT line.
    begins = [m.start() + 1 for m in re.finditer(rb"\nBEGIN:VEVENT\r\n", data)]
    ends = [m.end() for m in re.finditer(rb"\nEND:VEVENT\r\n", data)]
    if len(begins) != len(ends) or any(e <= b for b, e in zip(begins, ends)) or any(
            b < e for b, e in zip(begins[1:], ends)):
        raise BookingFeedError("not a readable iCalendar feed (components not properly begun and ended)")
    bounds = list(zip(begins, ends))
    frame = [data[:begins[0]] if begins else data, *(data[e:b] for e, b in zip(ends, begins[1:])),
             data[ends[-1]:] if ends else b""]
    firsts = begins

    def event_at(offset: int) -> int | None:
        k = bisect.bisect_right(firsts, offset) - 1
        return k if k >= 0 and offset < bounds[k][1] else None

    # Each event's local start date as written: the first DTSTART line in it (C-speed finds).
    day: list[str | None] = []
    for b, e in bounds:
        i = data.find(b"\nDTSTART", b, e)
        j = data.find(b":", i, e) if i >= 0 else -1
        value = data[j + 1:j + 9] if j >= 0 else b""
        day.append(value.decode() if value.isdigit() and len(value) == 8 else None)
    series = {k for m in _SERIES_RE.finditer(data) if (k := event_at(m.start())) is not None}
    for raw in set(_TZID_RE.findall(data)):
        name = raw.decode("utf-8", "replace").strip()
        if name in zones:
            continue
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            m = next(m for m in _TZID_RE.finditer(data) if m.group(1) == raw)
            k = event_at(m.start())
            raise BookingFeedError(f"event {k + 1 if k is not None else '?'}: the time zone of DTSTART does not "
                                   "exist") from None
        zones.add(name)

    cache = w.cache
    blocks: dict[bytes, Any] = {}
    if cache is not None:
        # The calendar around the events (its VTIMEZONEs) is part of what an event means.
        sig = hashlib.blake2b(w.sig + b"\0".join(frame), digest_size=16).digest()
        if cache.get("sig") != sig:
            cache.clear()
            cache["sig"] = sig
        blocks = cache.get("blocks", {})
        cache["blocks"], cache["hits"] = {}, []
    kept: dict[int, bytes] = {}
    others: list[int] = []
    seen: set[str] = set()
    for k, (b, e) in enumerate(bounds):
        start = day[k]
        if start is not None and not (w.lo <= start <= w.hi) and k not in series:
            others.append(k)
            continue
        part = data[b:e]
        mark = b"X-PP-N:%d\r\n" % (k + 1)
        if cache is not None and start is not None and k not in series:
            # A single event read before, byte for byte: its result is reused, not parsed again.
            h = hashlib.blake2b(part, digest_size=16).digest()
            hit = blocks.get(h)
            if hit is not None:
                cache["blocks"][h] = hit
                cache["hits"].append(hit)
                if hit[0] == "found":
                    seen.add(hit[1].booking.ref)
                continue
            mark += b"X-PP-H:%s\r\n" % h.hex().encode()
        if w.keep_refs:
            seen |= _block_refs(part, mapping, w)
        kept[k] = part.replace(b"BEGIN:VEVENT\r\n", b"BEGIN:VEVENT\r\n" + mark, 1)
    missing = set(w.keep_refs) - seen
    if missing:
        for k in others:
            part = data[bounds[k][0]:bounds[k][1]]
            if _block_refs(part, mapping, w) & missing:
                kept[k] = part.replace(b"BEGIN:VEVENT\r\n", b"BEGIN:VEVENT\r\nX-PP-N:%d\r\n" % (k + 1), 1)
    out = [frame[0]]
    for k in range(len(bounds)):
        out += [kept.get(k, b""), frame[k + 1]]
    return b"".join(out), len(bounds)


def _read(data: bytes, mapping: FeedMapping, window: _Window | None = None) -> tuple[icalendar.Calendar, int | None]:
    max_bytes = mapping.max_bytes
    if len(data) > max_bytes:
        raise BookingFeedError(f"the feed is larger than {max_bytes // (1024 * 1024)} MB")
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BookingFeedError(f"not UTF-8 text (byte {exc.start + 1})") from None
    used = {mapping.code_property, mapping.room_property, mapping.needs_property,
            *(mapping.code_fields if mapping.code_pattern else ())}
    data = _check_lines(data)
    total = None
    if window is not None:
        zones = {z.decode("utf-8", "replace").strip()
                 for z in re.findall(rb"(?m)^TZID:([^\r\n]+)", data)}  # the feed's own VTIMEZONEs
        data, total = _in_window(data, mapping, window, zones)
    data = _drop(data, frozenset(n.encode("ascii") for n in FREE_TEXT - {u.upper() for u in used if u}))
    try:
        cal = icalendar.Calendar.from_ical(data)
    except Exception:  # the library's messages quote the feed: never pass them on
        raise BookingFeedError("not a readable iCalendar feed (components not properly begun and ended)") from None
    if not isinstance(cal, icalendar.Calendar) or cal.name != "VCALENDAR":
        raise BookingFeedError("not an iCalendar feed (no VCALENDAR)")
    event_no = 0
    for comp in cal.walk():
        if comp.name == "VEVENT":
            event_no = int(str(comp.get("X-PP-N"))) if comp.get("X-PP-N") is not None else event_no + 1
        for name, _message in comp.errors:
            where = f"event {event_no}" if comp.name == "VEVENT" else _safe_name(comp.name)
            what = f"property {_safe_name(name)} is not valid" if name else "a line cannot be read"
            raise BookingFeedError(f"{where}: {what}")
    return cal, total


# --- times --------------------------------------------------------------------------------------

def _when(prop: Any, site_tz: _dt.tzinfo, where: str, name: str) -> _dt.datetime | _dt.date:
    """An aware datetime (or a date) of a DTSTART-like property; floating times in the site's zone."""
    try:
        value = prop.dt
    except Exception:
        raise BookingFeedError(f"{where}: {name} is not a valid date or time") from None
    if isinstance(value, _dt.datetime):
        if value.tzinfo is None:
            if prop.params.get("TZID"):
                raise BookingFeedError(f"{where}: the time zone of {name} does not exist")
            return value.replace(tzinfo=site_tz)
        return value
    if isinstance(value, _dt.date):
        return value
    raise BookingFeedError(f"{where}: {name} is not a date or time")


def _each(prop: Any) -> list[Any]:
    return prop if isinstance(prop, list) else [prop]


def _list_times(event: Any, name: str, zone: _dt.tzinfo, site_tz: _dt.tzinfo,
                where: str) -> list[_dt.datetime | _dt.date]:
    """RDATE / EXDATE values as wall times of the event's zone (naive) or dates."""
    out: list[_dt.datetime | _dt.date] = []
    for prop in _each(event.get(name, [])):
        tzid = prop.params.get("TZID") if hasattr(prop, "params") else None
        for item in getattr(prop, "dts", []):
            value = item.dt
            if isinstance(value, tuple):  # a PERIOD: its start
                value = value[0]
            if isinstance(value, _dt.datetime):
                if value.tzinfo is None:
                    if tzid:
                        raise BookingFeedError(f"{where}: the time zone of {name} does not exist")
                    value = value.replace(tzinfo=site_tz)
                value = value.astimezone(zone).replace(tzinfo=None)
            elif not isinstance(value, _dt.date):
                raise BookingFeedError(f"{where}: {name} is not a date or time")
            out.append(value)
    return out


def _occurrences(event: Any, start: _dt.datetime, lo: _dt.datetime, hi: _dt.datetime,
                 site_tz: _dt.tzinfo, where: str) -> list[_dt.datetime]:
    """Starts of a series between lo and hi (aware), expanded in the wall time of start's zone."""
    zone = start.tzinfo
    assert zone is not None
    wall = start.replace(tzinfo=None)
    rs = rruleset()
    rs.rdate(wall)
    try:
        for rule in _each(event.get("RRULE", [])):
            rule = rule.copy()
            until = rule.get("UNTIL")
            if until:  # UNTIL in the wall time of the series, as the naive expansion needs
                u = until[0]
                if isinstance(u, _dt.datetime):
                    u = (u.replace(tzinfo=site_tz) if u.tzinfo is None else u).astimezone(zone).replace(tzinfo=None)
                else:
                    u = _dt.datetime.combine(u, _dt.time(23, 59, 59))
                rule["UNTIL"] = [u]
            rs.rrule(rrulestr(rule.to_ical().decode("ascii"), dtstart=wall))
    except BookingFeedError:
        raise
    except Exception:
        raise BookingFeedError(f"{where}: RRULE is not a valid recurrence rule") from None
    for value in _list_times(event, "RDATE", zone, site_tz, where):
        rs.rdate(value if isinstance(value, _dt.datetime) else _dt.datetime.combine(value, wall.time()))
    exdates = _list_times(event, "EXDATE", zone, site_tz, where)
    excluded_days = {d for d in exdates if not isinstance(d, _dt.datetime)}
    for value in exdates:
        if isinstance(value, _dt.datetime):
            rs.exdate(value)
    out: list[_dt.datetime] = []
    lo_wall = lo.astimezone(zone).replace(tzinfo=None)
    hi_wall = hi.astimezone(zone).replace(tzinfo=None)
    for occ in rs.between(lo_wall, hi_wall, inc=True):
        if occ.date() in excluded_days:
            continue
        out.append(occ.replace(tzinfo=zone))
        if len(out) > _MAX_SERIES_OCCURRENCES:
            raise BookingFeedError(f"{where}: the series has too many occurrences")
    return out


def _duration(event: Any, start: _dt.datetime, mapping: FeedMapping, site_tz: _dt.tzinfo, where: str) -> int:
    if event.get("DTEND") is not None:
        end = _when(event["DTEND"], site_tz, where, "DTEND")
        if not isinstance(end, _dt.datetime):
            raise BookingFeedError(f"{where}: DTEND is a date but DTSTART a time")
        seconds = (end - start).total_seconds()
    elif event.get("DURATION") is not None:
        try:
            seconds = event["DURATION"].dt.total_seconds()
        except Exception:
            raise BookingFeedError(f"{where}: DURATION is not a valid duration") from None
    else:
        return mapping.default_duration_min
    if seconds < 0:
        raise BookingFeedError(f"{where}: the event ends before it starts")
    return max(1, round(seconds / 60))


# --- fields -------------------------------------------------------------------------------------

def _text(event: Any, name: str) -> str | None:
    value = event.get(name)
    if value is None:
        return None
    if isinstance(value, list):
        value = value[0] if value else None
    return None if value is None else str(value)


def _code(event: Any, mapping: FeedMapping, pattern: re.Pattern[str] | None) -> str | None:
    if mapping.code_property:
        value = _text(event, mapping.code_property)
        if value is not None and CODE_RE.fullmatch(value.strip()):
            return value.strip()
    if pattern is not None:
        for name in mapping.code_fields:
            value = _text(event, name)
            if not value:
                continue
            m = pattern.search(value)
            if m is None:
                continue
            found = m.group("code") if "code" in pattern.groupindex else m.group(1) if pattern.groups else m.group(0)
            if found and CODE_RE.fullmatch(found.strip()):
                return found.strip()
    return None


def _room(event: Any, mapping: FeedMapping, pattern: re.Pattern[str] | None,
          rooms: Mapping[str, str]) -> tuple[str | None, bool]:
    """(the site's room id or None, whether a value was there that is not a known room)."""
    if not mapping.room_property:
        return None, False
    value = _text(event, mapping.room_property)
    if not value or not value.strip():
        return None, False
    if pattern is not None:
        m = pattern.search(value)
        if m is None:
            return None, True
        value = m.group(1) if pattern.groups else m.group(0)
    room = rooms.get(value.strip().casefold())
    return room, room is None


def _tokens(event: Any, mapping: FeedMapping) -> list[str]:
    tokens: list[str] = []
    if mapping.needs_property:
        for prop in _each(event.get(mapping.needs_property, [])):
            tokens += str(prop).split(",")
    if mapping.needs_from_categories:
        for prop in _each(event.get("CATEGORIES", [])):
            cats = getattr(prop, "cats", None)
            tokens += [str(c) for c in cats] if cats is not None else str(prop).split(",")
    return [t.strip().casefold() for t in tokens if t.strip()]


def needs_from_tokens(tokens: Iterable[str], tokens_map: Mapping[str, str]) -> Needs:
    """Needs from a booking's words (casefolded), each looked up in `tokens_map` (casefolded keys)
    or taken as it is: hearing_loop, accessible_room, interpreter:<lang>; anything else ignored.
    The iCalendar and the CSV/JSON feeds (central/bookings/table.py) read needs the same way."""
    interpreter: str | None = None
    hearing = accessible = False
    for token in tokens:
        need = tokens_map.get(token, token)
        if need == "hearing_loop":
            hearing = True
        elif need == "accessible_room":
            accessible = True
        elif (m := _INTERPRETER_RE.fullmatch(need)) is not None:
            interpreter = interpreter or m.group(1)
    return Needs(interpreter=interpreter, hearing_loop=hearing, accessible_room=accessible)


def _needs(event: Any, mapping: FeedMapping, tokens_map: Mapping[str, str]) -> Needs:
    return needs_from_tokens(_tokens(event, mapping), tokens_map)


# --- the feed -----------------------------------------------------------------------------------

@dataclass
class _Found:
    key: str
    booking: Booking


def parse_feed(data: bytes, mapping: FeedMapping, ref_key: bytes, days: Iterable[_dt.date],
               known_refs: Iterable[str] | None = None, cache: dict[str, Any] | None = None) -> FeedImport:
    """The bookings of one feed whose local start (in the site's zone) falls on one of `days`.

    Single events are kept whatever their day, so that a booking moved off the days is seen as
    moved, not gone; series are expanded for `days` only. With `known_refs` (the references of
    the last import's bookings) only the events near the days, the series and the events of those
    references are parsed: a booking system's feed holds months of bookings, and the parser's
    time is most of an import's. `cache` (a dict the caller keeps per feed, with `known_refs`)
    holds the results of single events: an event unchanged since the last import, byte for byte,
    is not parsed again. Raises `BookingFeedError` (nothing imported) for a feed that cannot be
    read whole; the cache is then left as it was."""
    wanted = set(days)
    if not wanted:
        raise ValueError("no days to import")
    window = None
    if known_refs is not None:
        lo, hi = f"{min(wanted) - _dt.timedelta(days=1):%Y%m%d}", f"{max(wanted) + _dt.timedelta(days=1):%Y%m%d}"
        work = None if cache is None else dict(cache)  # the caller's is replaced only on success
        window = _Window(lo=lo, hi=hi, keep_refs=frozenset(known_refs), ref_key=ref_key, cache=work,
                         sig=repr((mapping, lo, hi, sorted(wanted))).encode() + ref_key)
    try:
        result = _parse(data, mapping, ref_key, wanted, window)
        if cache is not None and window is not None and window.cache is not None:
            cache.clear()
            cache.update(window.cache)
            cache.pop("hits", None)
        return result
    except BookingFeedError:
        raise
    except Exception:  # whatever the library met: its message may quote the feed, so it is not passed on
        raise BookingFeedError("the feed could not be read (an event is not valid iCalendar)") from None


def _parse(data: bytes, mapping: FeedMapping, ref_key: bytes, wanted: set[_dt.date],
           window: _Window | None = None) -> FeedImport:
    site_tz = mapping.zone
    lo = _dt.datetime.combine(min(wanted), _dt.time(0), tzinfo=site_tz) - _dt.timedelta(days=1)
    hi = _dt.datetime.combine(max(wanted), _dt.time(0), tzinfo=site_tz) + _dt.timedelta(days=2)
    code_re = re.compile(mapping.code_pattern) if mapping.code_pattern else None
    room_re = re.compile(mapping.room_pattern) if mapping.room_pattern else None
    rooms = {k.strip().casefold(): v for k, v in mapping.rooms.items()}
    tokens_map = {k.strip().casefold(): v for k, v in mapping.need_tokens.items()}

    cal, total = _read(data, mapping, window)
    events = cal.walk("VEVENT")
    skipped: dict[str, int] = {}
    unmapped = 0
    found: list[_Found] = []
    masters: dict[str, tuple[Any, _dt.datetime, str, str | None]] = {}  # uid -> (event, start, where, code)
    overrides: dict[str, list[tuple[Any, _dt.datetime, _dt.datetime, str]]] = {}

    def skip(reason: str) -> None:
        skipped[reason] = skipped.get(reason, 0) + 1

    def booking(event: Any, code: str, key: str, start: _dt.datetime, where: str) -> Booking:
        nonlocal unmapped
        room, unknown = _room(event, mapping, room_re, rooms)
        unmapped += unknown
        status = _text(event, "STATUS")
        return Booking(key=key, ref=appointment_ref(ref_key, code), service=mapping.service,
                       start=start.astimezone(site_tz), duration_min=_duration(event, start, mapping, site_tz, where),
                       room=room, needs=_needs(event, mapping, tokens_map),
                       cancelled=(status or "").strip().upper() == "CANCELLED")

    # First pass: every event's start; series and their exceptions are joined below by UID. Any
    # error anywhere refuses the whole feed: the caller keeps its last good import.
    cache = window.cache if window is not None else None

    def remember(event: Any, result: tuple[Any, ...]) -> None:
        """A single event's result, for the next import of the same feed (`_Window.cache`)."""
        if cache is not None and event.get("X-PP-H") is not None:
            cache["blocks"][bytes.fromhex(str(event["X-PP-H"]))] = result

    for kind, value, unknown_room in (cache or {}).get("hits", ()):
        if kind == "skip":
            skip(value)
        else:
            found.append(value)
            unmapped += unknown_room
    for number, event in enumerate(events, start=1):
        if event.get("X-PP-N") is not None:  # its number in the whole feed (_in_window)
            number = int(str(event["X-PP-N"]))
        where = f"event {number}"
        if event.get("DTSTART") is None:
            raise BookingFeedError(f"{where}: no DTSTART")
        start = _when(event["DTSTART"], site_tz, where, "DTSTART")
        uid = _text(event, "UID") or f"\0{number}"  # held only while parsing, to join a series' exceptions
        code = _code(event, mapping, code_re)
        if event.get("RECURRENCE-ID") is not None:
            rid = _when(event["RECURRENCE-ID"], site_tz, where, "RECURRENCE-ID")
            if not isinstance(start, _dt.datetime) or not isinstance(rid, _dt.datetime):
                skip("all_day")
                continue
            overrides.setdefault(uid, []).append((event, start, rid, where))
            continue
        if not isinstance(start, _dt.datetime):
            skip("all_day")
            remember(event, ("skip", "all_day", 0))
            continue
        if event.get("RRULE") is not None or event.get("RDATE") is not None:
            masters[uid if uid not in masters else f"{uid}\0{number}"] = (event, start, where, code)
            continue
        if code is None:
            skip("no_code")
            remember(event, ("skip", "no_code", 0))
            continue
        ref = appointment_ref(ref_key, code)
        before = unmapped
        found.append(_Found(ref, booking(event, code, ref, start, where)))
        remember(event, ("found", found[-1], unmapped - before))

    for uid, (event, start, where, code) in masters.items():
        exceptions = {rid.astimezone(site_tz): (ev, s, w) for ev, s, rid, w in overrides.pop(uid, [])}
        for occ in _occurrences(event, start, lo, hi, site_tz, where):
            local = occ.astimezone(site_tz)
            if local in exceptions:
                continue  # the exception stands for it (below)
            if local.date() not in wanted:
                continue
            if code is None:
                skip("no_code")
                continue
            ref = appointment_ref(ref_key, code)
            key = f"{ref}@{local.date().isoformat()}"
            found.append(_Found(key, booking(event, code, key, occ, where)))
        for local, (ev, s, w) in sorted(exceptions.items(), key=lambda kv: kv[0]):
            if local.date() not in wanted and s.astimezone(site_tz).date() not in wanted:
                continue
            ev_code = _code(ev, mapping, code_re) or code
            if ev_code is None:
                skip("no_code")
                continue
            ref = appointment_ref(ref_key, ev_code)
            key = f"{ref}@{local.date().isoformat()}"
            found.append(_Found(key, booking(ev, ev_code, key, s, w)))
    for orphans in overrides.values():  # an exception without its series: a booking of its own
        for ev, s, _rid, w in orphans:
            ev_code = _code(ev, mapping, code_re)
            if ev_code is None:
                skip("no_code")
                continue
            ref = appointment_ref(ref_key, ev_code)
            found.append(_Found(ref, booking(ev, ev_code, ref, s, w)))

    # One booking per key: an active one wins over cancelled ones; two active ones share a code
    # that cannot tell them apart at the kiosk, so neither is imported.
    by_key: dict[str, list[Booking]] = {}
    for f in found:
        by_key.setdefault(f.key, []).append(f.booking)
    out: list[Booking] = []
    for key, group in by_key.items():
        active = [b for b in group if not b.cancelled]
        if len(active) > 1:
            skipped["duplicate_code"] = skipped.get("duplicate_code", 0) + len(group)
        elif active:
            out.append(active[0])
        else:
            out.append(group[0])
    out.sort(key=lambda b: (b.start, b.key))
    return FeedImport(bookings=tuple(out), events=len(events) if total is None else total, skipped=skipped,
                      unmapped_rooms=unmapped)
