"""Booking feeds (issue 17), the pure core: iCalendar → bookings (central/bookings/ical.py) and the
changes a site receives (central/bookings/delta.py). Every feed is built here."""
from __future__ import annotations

import dataclasses
import datetime as dt
import json
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from central.bookings import (
    Booking,
    BookingFeedError,
    FeedMapping,
    apply_changes,
    change_bytes,
    change_from_json,
    change_to_json,
    changes_for_days,
    parse_feed,
)
from core.engine import Needs, appointment_ref

HEL = ZoneInfo("Europe/Helsinki")
KEY = b"k" * 32
TODAY, TOMORROW = dt.date(2026, 12, 3), dt.date(2026, 12, 4)
DAYS = (TODAY, TOMORROW)
MAPPING = FeedMapping(service="kela", tz="Europe/Helsinki", code_pattern=r"(?i)varaustunnus:?\s*(?P<code>[A-Z0-9-]+)",
                      rooms={"Huone 2": "H2", "Tiski 3": "3"},
                      need_tokens={"induktiosilmukka": "hearing_loop", "pyörätuoli": "accessible_room",
                                   "arabian tulkki": "interpreter:ar"})

# What must never cross: names, phone numbers, e-mail addresses, free text.
PERSONAL = ["Matti Meikäläinen", "Meikäläinen", "+358 40 123 4567", "0401234567", "matti.meikalainen@example.fi",
            "Liisa Virtanen", "liisa@kela.example", "Ville Vallaton", "050-765 4321", "asuu Kalliossa",
            "raskausraha", "Ahmed Al-Sayed"]

VTIMEZONE = """BEGIN:VTIMEZONE
TZID:Helsinki (custom)
BEGIN:STANDARD
DTSTART:19701025T040000
RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU
TZOFFSETFROM:+0300
TZOFFSETTO:+0200
TZNAME:EET
END:STANDARD
BEGIN:DAYLIGHT
DTSTART:19700329T030000
RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU
TZOFFSETFROM:+0200
TZOFFSETTO:+0300
TZNAME:EEST
END:DAYLIGHT
END:VTIMEZONE
"""


def event(*lines: str) -> str:
    return "BEGIN:VEVENT\n" + "".join(line + "\n" for line in lines) + "END:VEVENT\n"


def feed(*parts: str, crlf: bool = True) -> bytes:
    text = "BEGIN:VCALENDAR\nVERSION:2.0\nPRODID:-//Test//Ajanvaraus//FI\n" + "".join(parts) + "END:VCALENDAR\n"
    return (text.replace("\n", "\r\n") if crlf else text).encode("utf-8")


def personal_lines(n: int) -> list[str]:
    return [f"SUMMARY:Matti Meikäläinen {n}, raskausraha",
            "DESCRIPTION:Puh. +358 40 123 4567 tai 0401234567\\, matti.meikalainen@example.fi\\, asuu Kalliossa",
            "ATTENDEE;CN=Matti Meikäläinen:mailto:matti.meikalainen@example.fi",
            "ORGANIZER;CN=Liisa Virtanen:mailto:liisa@kela.example",
            "CONTACT:Ville Vallaton\\, 050-765 4321",
            "COMMENT:Ahmed Al-Sayed soittaa"]


def hel(day: dt.date, h: int, m: int = 0) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, h, m, tzinfo=HEL)


def ref(code: str) -> str:
    return appointment_ref(KEY, code)


# The previous import: five bookings of today and tomorrow, in every way a feed gives a time.
OLD_FEED = feed(
    VTIMEZONE,
    event("UID:a-1@ajanvaraus.example", "DTSTART;TZID=Helsinki (custom):20261203T090000",
          "DTEND;TZID=Helsinki (custom):20261203T093000", "X-BOOKING-CODE:AAA-111", "LOCATION:Huone 2",
          "CATEGORIES:induktiosilmukka,arabian tulkki", *personal_lines(1)),
    event("UID:b-2", "DTSTART;TZID=Europe/Helsinki:20261203T100000", "DURATION:PT45M",
          "DESCRIPTION:Varaustunnus: BBB-222. Matti Meikäläinen\\, 0401234567", "LOCATION:Tiski 3",
          "X-BOOKING-NEEDS:pyörätuoli", "ATTENDEE;CN=Liisa Virtanen:mailto:liisa@kela.example"),
    event("UID:c-3", "DTSTART:20261203T110000Z", "DTEND:20261203T112000Z", "X-BOOKING-CODE:CCC-333",
          *personal_lines(3)),
    event("UID:d-4", "DTSTART:20261204T080000", "X-BOOKING-CODE:DDD-444",  # floating: the site's zone
          "LOCATION:kotona Matti Meikäläinen", *personal_lines(4)),
    # A daily series with an exception (moved instance) and an EXDATE.
    event("UID:series-5", "DTSTART;TZID=Europe/Helsinki:20261101T140000", "DTEND;TZID=Europe/Helsinki:20261101T141500",
          "RRULE:FREQ=DAILY;UNTIL=20261231T220000Z", "EXDATE;TZID=Europe/Helsinki:20261204T140000",
          "X-BOOKING-CODE:SER-555", *personal_lines(5)),
    event("UID:series-5", "RECURRENCE-ID;TZID=Europe/Helsinki:20261203T140000",
          "DTSTART;TZID=Europe/Helsinki:20261203T150000", "DTEND;TZID=Europe/Helsinki:20261203T153000",
          "X-BOOKING-CODE:SER-555", *personal_lines(6)),
    # No code anywhere: skipped and counted.
    event("UID:e-6", "DTSTART:20261203T120000Z", "SUMMARY:Matti Meikäläinen ilman tunnusta",
          "DESCRIPTION:soita 0401234567"),
    # Cancelled in the feed already.
    event("UID:f-7", "DTSTART:20261203T130000Z", "X-BOOKING-CODE:FFF-777", "STATUS:CANCELLED", *personal_lines(7)),
    # An all-day event is not a booking.
    event("UID:g-8", "DTSTART;VALUE=DATE:20261203", "X-BOOKING-CODE:GGG-888"),
)


def test_a_feed_becomes_bookings_with_zones_durations_rooms_and_needs():
    imp = parse_feed(OLD_FEED, MAPPING, KEY, DAYS)
    by = {b.key: b for b in imp.bookings}
    assert imp.events == 9
    assert dict(imp.skipped) == {"no_code": 1, "all_day": 1}
    assert imp.unmapped_rooms == 1  # "kotona …" is not one of the site's rooms: no room, nothing kept
    a = by[ref("AAA-111")]
    assert a.start == hel(TODAY, 9) and a.start.utcoffset() == dt.timedelta(hours=2)  # custom VTIMEZONE
    assert (a.duration_min, a.room, a.service) == (30, "H2", "kela")
    assert a.needs == Needs(interpreter="ar", hearing_loop=True)
    b = by[ref("BBB-222")]  # code found by the pattern in DESCRIPTION
    assert (b.start, b.duration_min, b.room, b.needs) == (hel(TODAY, 10), 45, "3", Needs(accessible_room=True))
    c = by[ref("CCC-333")]
    assert c.start == hel(TODAY, 13, 0) and c.duration_min == 20 and c.start.tzinfo == HEL
    d = by[ref("DDD-444")]
    assert d.start == hel(TOMORROW, 8) and d.duration_min == 30 and d.room is None  # floating; default duration
    # The series: today's occurrence is the exception (moved to 15:00), tomorrow's is excluded.
    series = [bk for bk in imp.bookings if bk.ref == ref("SER-555")]
    assert [(bk.key, bk.start, bk.duration_min) for bk in series] == [
        (f"{ref('SER-555')}@2026-12-03", hel(TODAY, 15), 30)]
    assert by[ref("FFF-777")].cancelled
    assert [bk.at_ms for bk in imp.bookings] == sorted(bk.at_ms for bk in imp.bookings)


def test_a_series_is_expanded_in_local_time_across_a_daylight_saving_change():
    spring = (dt.date(2026, 3, 28), dt.date(2026, 3, 29), dt.date(2026, 3, 30))  # summer time from the 29th
    series = event("UID:s", "DTSTART;TZID=Europe/Helsinki:20260301T100000", "RRULE:FREQ=DAILY;COUNT=60",
                   "RDATE;TZID=Europe/Helsinki:20260331T160000", "X-BOOKING-CODE:SER-1")
    imp = parse_feed(feed(series), MAPPING, KEY, spring + (dt.date(2026, 3, 31),))
    assert [bk.start for bk in imp.bookings] == [hel(spring[0], 10), hel(spring[1], 10), hel(spring[2], 10)]
    assert [bk.start.utcoffset() for bk in imp.bookings] == [dt.timedelta(hours=h) for h in (2, 3, 3)]
    # The 31st has the rule's 10:00 and the RDATE's 16:00: two occurrences of one code on one day
    # cannot be told apart at the kiosk, so neither is imported (and both are counted).
    assert imp.skipped == {"duplicate_code": 2}


def test_no_personal_text_reaches_the_bookings_their_json_or_errors():
    imp = parse_feed(OLD_FEED, MAPPING, KEY, DAYS)
    changes = changes_for_days([], imp.bookings, DAYS)
    assert changes
    seen = repr(imp) + "".join(json.dumps(change_to_json(c), ensure_ascii=False) for c in changes)
    seen += b"".join(change_bytes(c) for c in changes).decode("utf-8")
    for text in PERSONAL + ["AAA-111", "BBB-222", "SER-555", "ajanvaraus.example", "series-5", "Huone 2"]:
        assert text.casefold() not in seen.casefold(), text
    # No field of a booking could hold them.
    assert {f.name for f in dataclasses.fields(Booking)} == {
        "key", "ref", "service", "start", "duration_min", "room", "needs", "cancelled"}
    # Errors: a broken line made of personal data, a bad property amid it.
    for bad in (feed(event("DTSTART:20261203T100000Z", *personal_lines(1), "Matti Meikäläinen 0401234567")),
                feed(event("DTSTART;TZID=Matti/Meikäläinen:20261203T100000", *personal_lines(1))),
                feed(event("DTSTART:2026120xT1000 matti.meikalainen@example.fi", *personal_lines(1))),
                feed(event(*personal_lines(1))),
                b"Matti Meikalainen, 0401234567, matti.meikalainen@example.fi"):
        with pytest.raises(BookingFeedError) as err:
            parse_feed(bad, MAPPING, KEY, DAYS)
        for text in PERSONAL + ["Matti", "matti", "Meikalainen"]:
            assert text not in str(err.value) and text not in repr(err.value), (text, err.value)


@pytest.mark.parametrize("data, reason", [
    (b"", "not an iCalendar feed"),
    (b"<html><body>Kirjaudu sis\xc3\xa4\xc3\xa4n</body></html>", "not an iCalendar feed"),
    (b'{"appointments": []}', "not an iCalendar feed"),
    (feed(event("DTSTART:20261203T100000Z", "X-BOOKING-CODE:AAA-111", "just some text")), "line 7: not an iCalendar content line"),
    (feed(event("DTSTART:20261203T100000Z", "X-BOOKING-CODE:AAA-111"), crlf=False).replace(b"END:VCALENDAR\n", b""),
     "not a readable iCalendar feed"),
    (feed(event("DTSTART;TZID=Europe/Atlantis:20261203T100000", "X-BOOKING-CODE:AAA-111")),
     "event 1: the time zone of DTSTART does not exist"),
    (feed(event("DTSTART:20261203T100000Z", "X-BOOKING-CODE:AAA-111"), event("X-BOOKING-CODE:BBB-222")),
     "event 2: no DTSTART"),
    (feed(event("DTSTART:2026-12-03 10:00", "X-BOOKING-CODE:AAA-111")), "event 1: property DTSTART is not valid"),
    (feed(event("DTSTART:20261203T100000Z", "DTEND:20261203T090000Z", "X-BOOKING-CODE:AAA-111")),
     "event 1: the event ends before it starts"),
    (feed(event("DTSTART:20261203T100000Z", "RRULE:FREQ=SOMETIMES", "X-BOOKING-CODE:AAA-111")),
     "event 1: property RRULE is not valid"),
    (feed(event("DTSTART:20261203T100000Z", "X-BOOKING-CODE:AAA-111")).replace(b"2026", b"20\xff"), "not UTF-8"),
])
def test_a_malformed_feed_is_refused_whole_with_a_clear_reason(data, reason):
    with pytest.raises(BookingFeedError) as err:
        parse_feed(data, MAPPING, KEY, DAYS)
    assert reason in err.value.reason


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_a_damaged_feed_gives_bookings_or_a_clear_error_never_anything_else(data):
    lines = OLD_FEED.split(b"\r\n")
    for _ in range(data.draw(st.integers(1, 3))):
        i = data.draw(st.integers(0, len(lines) - 1))
        match data.draw(st.sampled_from(["drop", "repeat", "cut", "swap"])):
            case "drop":
                del lines[i]
            case "repeat":
                lines.insert(i, lines[i])
            case "cut":
                lines[i] = lines[i][:data.draw(st.integers(0, max(0, len(lines[i]) - 1)))]
            case "swap":
                j = data.draw(st.integers(0, len(lines) - 1))
                lines[i], lines[j] = lines[j], lines[i]
    try:
        imp = parse_feed(b"\r\n".join(lines), MAPPING, KEY, DAYS)
    except BookingFeedError as err:
        seen = err.reason
    else:
        seen = repr(imp)
    for text in PERSONAL:
        assert text not in seen


def test_a_feed_over_the_size_limit_is_refused_before_it_is_read():
    good = feed(event("DTSTART:20261203T100000Z", "X-BOOKING-CODE:AAA-111"))
    small = dataclasses.replace(MAPPING, max_bytes=len(good) - 1)
    with pytest.raises(BookingFeedError, match="larger than"):
        parse_feed(good, small, KEY, DAYS)
    big = good.replace(b"END:VCALENDAR", b"X-PAD:" + b"x" * (10 * 1024 * 1024) + b"\r\nEND:VCALENDAR")
    with pytest.raises(BookingFeedError, match="larger than 10 MB"):
        parse_feed(big, MAPPING, KEY, DAYS)


def test_nothing_is_imported_half_way():
    # Many good events, then one bad: no bookings at all (the caller keeps the last good import).
    events = [event(f"DTSTART:20261203T{8 + i % 8:02d}{i % 60:02d}00Z", f"X-BOOKING-CODE:OK-{i:04d}")
              for i in range(200)]
    with pytest.raises(BookingFeedError, match="event 201: no DTSTART"):
        parse_feed(feed(*events, event("X-BOOKING-CODE:BAD-1")), MAPPING, KEY, DAYS)
    assert len(parse_feed(feed(*events), MAPPING, KEY, DAYS).bookings) == 200


def test_a_mapping_is_checked_when_it_is_made():
    with pytest.raises(ValueError, match="time zone"):
        FeedMapping(service="kela", tz="Europe/Atlantis")
    with pytest.raises(ValueError, match="property name"):
        FeedMapping(service="kela", code_property="X BOOKING")
    with pytest.raises(ValueError, match="interpreter"):
        FeedMapping(service="kela", need_tokens={"tulkki": "interpreter"})


# --- the delta ----------------------------------------------------------------------------------

NEW_FEED = OLD_FEED.replace(
    b"DTSTART;TZID=Europe/Helsinki:20261203T100000\r\nDURATION:PT45M", b"DTSTART;TZID=Europe/Helsinki:20261203T113000"
    b"\r\nDURATION:PT45M").replace(  # BBB-222 moved to 11:30
    b"X-BOOKING-CODE:CCC-333", b"X-BOOKING-CODE:CCC-333\r\nSTATUS:CANCELLED").replace(  # CCC-333 cancelled
    b"END:VCALENDAR", event("UID:h-9", "DTSTART;TZID=Europe/Helsinki:20261204T120000", "X-BOOKING-CODE:HHH-999",
                            *personal_lines(9)).replace("\n", "\r\n").encode() + b"END:VCALENDAR")  # HHH-999 added


def test_the_delta_has_one_moved_one_cancelled_one_new_and_is_small():
    old = parse_feed(OLD_FEED, MAPPING, KEY, DAYS).bookings
    new = parse_feed(NEW_FEED, MAPPING, KEY, DAYS).bookings
    changes = changes_for_days(old, new, DAYS)
    assert [(c.kind, c.key) for c in changes] == [
        ("moved", ref("BBB-222")), ("cancelled", ref("CCC-333")), ("new", ref("HHH-999"))]
    assert changes[0].booking.start == hel(TODAY, 11, 30) and changes[0].booking.room == "3"
    assert changes_for_days(old, new, DAYS) == changes  # deterministic
    assert changes_for_days(old, old, DAYS) == []
    assert apply_changes(old, changes) == {b.key: b for b in new if not b.cancelled}
    moved = change_bytes(changes[0])
    assert json.loads(moved) == {"op": "moved", "key": ref("BBB-222"), "service": "kela",
                                 "at_ms": changes[0].booking.at_ms, "min": 45, "room": "3",
                                 "needs": {"accessible_room": True}}
    print(f"bytes per moved booking: {len(moved)}")
    assert len(moved) <= 160
    assert len(change_bytes(changes[1])) <= 70
    for c in changes:
        back = change_from_json(json.loads(change_bytes(c)), "Europe/Helsinki", c.booking if c.kind == "cancelled"
                                else None)
        assert back == c


def test_a_booking_moved_off_the_days_is_moved_not_cancelled():
    b = Booking(key="r1", ref="r1", service="kela", start=hel(TODAY, 9), duration_min=30)
    later = dataclasses.replace(b, start=hel(dt.date(2026, 12, 10), 9))
    assert [c.kind for c in changes_for_days([b], [later], DAYS)] == ["moved"]
    assert changes_for_days([later], [dataclasses.replace(later, duration_min=5)], DAYS) == []  # not the site's days


# --- property: the changes take the old bookings to the new ones ------------------------------------

THREE_DAYS = (TODAY, TOMORROW, dt.date(2026, 12, 5))

bookings = st.builds(
    lambda key, day, minute, dur, room, interp, loop, cancelled: Booking(
        key=key, ref=key.split("@")[0], service="kela", start=hel(day, 8) + dt.timedelta(minutes=minute),
        duration_min=dur, room=room, needs=Needs(interp, loop), cancelled=cancelled),
    st.sampled_from([f"{i:032x}" for i in range(8)] + [f"{i:032x}@2026-12-03" for i in range(3)]),
    st.sampled_from(THREE_DAYS), st.integers(0, 8 * 60), st.sampled_from([15, 30, 45]),
    st.sampled_from([None, "H2", "3"]), st.sampled_from([None, "ar", "so"]), st.booleans(),
    st.booleans())


def unique(bs: list[Booking]) -> list[Booking]:
    return list({b.key: b for b in bs}.values())


@settings(max_examples=300, deadline=None)
@given(st.lists(bookings, max_size=12).map(unique), st.lists(bookings, max_size=12).map(unique))
def test_applying_the_delta_to_the_old_bookings_gives_the_new_ones(old, new):
    changes = changes_for_days(old, new, DAYS)

    def on_days(bs: dict[str, Booking]) -> dict[str, Booking]:
        return {k: b for k, b in bs.items() if b.day in DAYS}

    assert on_days(apply_changes(old, changes)) == on_days({b.key: b for b in new if not b.cancelled})
    assert len({c.key for c in changes}) == len(changes)
    assert changes == changes_for_days(list(reversed(old)), list(reversed(new)), DAYS)
    # What the site receives decodes to the same changes.
    prev = {b.key: b for b in old if not b.cancelled}
    assert [change_from_json(json.loads(change_bytes(c)), HEL, prev.get(c.key)) for c in changes] == changes


# --- only what is near the days is parsed (central/bookings/ical.py, known_refs and cache) ------------

def far_feed(moved_to: str | None = None, tz: str = "Europe/Helsinki") -> bytes:
    """OLD_FEED's events and 60 more on later days; AAA-111 possibly moved to `moved_to`."""
    far = [event(f"UID:far-{i}", f"DTSTART;TZID={tz}:202612{10 + i % 20:02d}T{8 + i % 8:02d}0000",
                 "DURATION:PT15M", f"X-BOOKING-CODE:FAR-{i:03d}", *personal_lines(i)) for i in range(60)]
    text = OLD_FEED.replace(b"END:VCALENDAR\r\n", b"".join(f.replace("\n", "\r\n").encode() for f in far)
                            + b"END:VCALENDAR\r\n")
    if moved_to:
        text = text.replace(b"DTSTART;TZID=Helsinki (custom):20261203T090000", moved_to.encode())
        text = text.replace(b"DTEND;TZID=Helsinki (custom):20261203T093000\r\n", b"")
    return text


def test_the_window_and_the_cache_give_what_the_whole_parse_gives():
    whole = parse_feed(far_feed(), MAPPING, KEY, DAYS)
    on_days = {b.key: b for b in whole.bookings if b.day in DAYS}
    cache: dict = {}
    for _ in range(2):  # the second time every event near the days comes from the cache
        got = parse_feed(far_feed(), MAPPING, KEY, DAYS, known_refs=[b.ref for b in on_days.values()], cache=cache)
        assert {b.key: b for b in got.bookings} == on_days
        assert got.events == whole.events == 69 and got.skipped == whole.skipped
    assert len(cache["blocks"]) >= 5 and "hits" not in cache
    # An event changed since: parsed again, the others still from the cache.
    moved = far_feed(moved_to="DTSTART;TZID=Europe/Helsinki:20261203T160000")
    got = {b.key: b for b in parse_feed(moved, MAPPING, KEY, DAYS, known_refs=list(on_days), cache=cache).bookings}
    assert got[ref("AAA-111")].start == hel(TODAY, 16) and got[ref("BBB-222")] == on_days[ref("BBB-222")]


def test_a_booking_moved_far_away_is_still_found_and_is_moved():
    old = [b for b in parse_feed(OLD_FEED, MAPPING, KEY, DAYS).bookings if b.day in DAYS]
    moved = far_feed(moved_to="DTSTART;TZID=Europe/Helsinki:20261222T100000")
    new = parse_feed(moved, MAPPING, KEY, DAYS, known_refs=[b.ref for b in old], cache={})
    changes = changes_for_days(old, new.bookings, DAYS)
    assert [(c.kind, c.key) for c in changes] == [("moved", ref("AAA-111"))]
    assert changes[0].booking.start == hel(dt.date(2026, 12, 22), 10)


def test_the_window_refuses_what_the_whole_parse_refuses_and_counts_events_as_a_person_does():
    bad_zone = far_feed().replace(b"DTSTART;TZID=Europe/Helsinki:20261229T", b"DTSTART;TZID=Europe/Atlantis:20261229T")
    with pytest.raises(BookingFeedError, match="the time zone of DTSTART does not exist"):
        parse_feed(bad_zone, MAPPING, KEY, DAYS, known_refs=[], cache={})
    # an invalid property in the 4th event (near the days): named by its number in the whole feed
    broken = far_feed().replace(b"DTSTART:20261204T080000", b"DTSTART:2026120X")
    for known in (None, []):
        with pytest.raises(BookingFeedError, match=r"^event 4: "):
            parse_feed(broken, MAPPING, KEY, DAYS, known_refs=known)
    cache: dict = {"sig": b"x", "blocks": {}}
    with pytest.raises(BookingFeedError):
        parse_feed(broken, MAPPING, KEY, DAYS, known_refs=[], cache=cache)
    assert cache == {"sig": b"x", "blocks": {}}  # a refused feed leaves the cache as it was
