"""The fleet view's logic (core/fleet.py), pure: offline time during opening hours, a device's view,
every alert kind, when it holds and when it clears. No database (tests/test_alerts.py has it)."""
from __future__ import annotations

import datetime as _dt
import re
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core import fleet as F
from core.config import loads_site
from core.hours import is_open

HEL = ZoneInfo("Europe/Helsinki")
MIN = 60_000

SITE_TEXT = """
[site]
id = "test-pp"
timezone = "Europe/Helsinki"
languages = ["fi", "sv", "en"]
name = { fi = "Testi", sv = "Test", en = "Test" }

[opening_hours]
mon = "08:00-16:00"
tue = "08:00-16:00"
wed = "08:00-16:00"
thu = "08:00-16:00"
fri = "08:00-16:00"
sat = "closed"
sun = "closed"

[[opening_exceptions]]
date = "2026-11-04"
hours = "closed"

[appointments]
early_min = 30
late_min = 10

[[services]]
id = "neuvonta"
prefix = "N"
general_advice = true
default_service_min = 8
name = { fi = "Palveluneuvonta", sv = "Servicerådgivning", en = "General service advice" }

[[counters]]
id = "1"
name = { fi = "Tiski 1", sv = "Lucka 1", en = "Counter 1" }
services = ["neuvonta"]

[[devices]]
id = "kiosk-1"
role = "kiosk"

[[devices]]
id = "display-1"
role = "display"
"""

SITE = loads_site(SITE_TEXT)
#: the same site without [opening_hours] and exceptions: open all day, every day
ALWAYS_TEXT = re.sub(r"(?ms)^\[opening_hours\]\n.*?(?=^\[appointments\])", "", SITE_TEXT)
ALWAYS = loads_site(ALWAYS_TEXT)


def at(y: int, mo: int, d: int, h: int = 0, mi: int = 0) -> int:
    """Helsinki local time as UTC ms."""
    return int(_dt.datetime(y, mo, d, h, mi, tzinfo=HEL).timestamp() * 1000)


def row(device: str = "kiosk-1", **kw) -> F.DeviceRow:
    kw.setdefault("role", "kiosk")
    return F.DeviceRow(site="test-pp", device=device, **kw)


def test_the_test_sites():
    assert SITE.hours_configured and not ALWAYS.hours_configured and not ALWAYS.opening_exceptions


# --- offline time during opening hours -----------------------------------------------------------

def test_offline_counts_only_opening_hours():
    # 2026-11-02 is a Monday: offline Mon 15:00 → Tue 09:00 is 60 + 60 minutes of opening hours
    log = [(at(2026, 10, 30, 10), "online"), (at(2026, 11, 2, 15), "offline"), (at(2026, 11, 3, 9), "online")]
    assert F.offline_minutes(SITE, log, "2026-11", at(2026, 12, 1)) == 120
    # open all day: the whole 18 hours
    assert F.offline_minutes(ALWAYS, log, "2026-11", at(2026, 12, 1)) == 18 * 60


def test_month_boundaries_and_the_state_before_the_month():
    # offline Friday 2026-10-30 15:00 until Monday 2026-11-02 08:30, nothing else in November
    log = [(at(2026, 10, 1, 9), "online"), (at(2026, 10, 30, 15), "offline"), (at(2026, 11, 2, 8, 30), "online")]
    now = at(2026, 12, 1)
    assert F.offline_minutes(SITE, log, "2026-10", now) == 60        # Friday's last hour
    assert F.offline_minutes(SITE, log, "2026-11", now) == 30        # Monday's first half hour
    # months are the site's: 2026-10-31 23:30 Helsinki is still October there (21:30 UTC)
    log2 = [(at(2026, 10, 31, 23, 30), "offline")]
    assert F.offline_open_ms(ALWAYS, log2, *F.month_bounds(ALWAYS, "2026-10")) == 30 * MIN
    # the month starts in the state of the last change before it: offline all of it so far
    log3 = [(at(2026, 10, 20, 12), "offline")]
    # 2026-11-02 (Mon) 08:00-16:00 and 2026-11-03 08:00-12:00; Sunday the 1st closed
    assert F.offline_minutes(SITE, log3, "2026-11", at(2026, 11, 3, 12)) == 8 * 60 + 4 * 60


def test_unknown_before_the_first_change_and_closed_days():
    # nothing is known before the first change: counted from 10:00 only
    log = [(at(2026, 11, 2, 10), "offline")]
    assert F.offline_minutes(SITE, log, "2026-11", at(2026, 11, 2, 11)) == 60
    # Wednesday 2026-11-04 is closed by an exception, the weekend by the weekday hours
    log = [(at(2026, 11, 3, 16), "offline"), (at(2026, 11, 5, 8), "online"),
           (at(2026, 11, 6, 16), "offline"), (at(2026, 11, 9, 8), "online")]
    assert F.offline_minutes(SITE, log, "2026-11", at(2026, 12, 1)) == 0


def test_a_day_with_a_clock_change():
    # Finland goes to summer time on 2027-03-28: that day has 23 hours
    log = [(at(2027, 3, 1), "offline")]
    assert F.offline_minutes(ALWAYS, log, "2027-03", at(2027, 4, 1)) == (31 * 24 - 1) * 60
    assert F.offline_minutes(ALWAYS, log, "2027-10", at(2027, 11, 1)) == (31 * 24 + 1) * 60


def test_a_device_that_never_reported():
    r = row("display-1", role="display")
    v = F.device_view(r, SITE, at(2026, 11, 10, 12))
    assert v.availability is None and v.since_ms is None and v.status_ms is None
    assert v.offline_open_ms == 0 and v.month == "2026-11"
    assert v.version is None and v.printer is None and v.clock_offset_ms is None
    assert v.alerts == () and F.device_alerts(r, SITE, at(2026, 11, 10, 12)) == []


@st.composite
def logs(draw):
    """Changes on a minute grid over four days around the turn of November 2026."""
    start = at(2026, 10, 30, 6)
    n = draw(st.integers(0, 8))
    minutes = sorted(draw(st.lists(st.integers(0, 4 * 24 * 60), min_size=n, max_size=n, unique=True)))
    return [(start + m * MIN, draw(st.sampled_from(["online", "offline"]))) for m in minutes]


@settings(max_examples=60, deadline=None)
@given(logs(), st.integers(0, 4 * 24 * 60))
def test_offline_time_is_what_a_minute_by_minute_count_says(log, now_off):
    """Against the definition, one minute at a time: offline (by the newest change at or before the
    minute; unknown before the first) and the site open, within November and before now."""
    now = at(2026, 10, 30, 6) + now_off * MIN
    lo, hi = F.month_bounds(SITE, "2026-11")
    want = 0
    for m in range(lo, min(hi, now), MIN):
        before = [s for ms, s in log if ms <= m]
        if before and before[-1] == "offline" and is_open(SITE, m):
            want += 1
    assert F.offline_minutes(SITE, log, "2026-11", now) == want
    # October and November together are the two months' sum (nothing counted twice or lost)
    oct_lo, oct_hi = F.month_bounds(SITE, "2026-10")
    assert F.offline_open_ms(SITE, log, oct_lo, min(hi, now)) == \
        F.offline_open_ms(SITE, log, oct_lo, min(oct_hi, now)) + want * MIN


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 1000), st.integers(1, 200)), max_size=6),
       st.lists(st.tuples(st.integers(0, 1000), st.integers(1, 200)), max_size=6))
def test_overlap_is_the_size_of_the_intersection(xs, ys):
    def norm(pairs):  # sorted, disjoint
        out: list[tuple[int, int]] = []
        for a, n in sorted(pairs):
            if out and a <= out[-1][1]:
                out[-1] = (out[-1][0], max(out[-1][1], a + n))
            else:
                out.append((a, a + n))
        return out
    a, b = norm(xs), norm(ys)
    cover = lambda iv: {t for s, e in iv for t in range(s, e)}  # noqa: E731
    assert F.overlap_ms(a, b) == len(cover(a) & cover(b))


# --- a device's view -------------------------------------------------------------------------------

STATUS = {"v": 1, "site": "test-pp", "device": "kiosk-1", "role": "kiosk", "version": "0.1.0",
          "ts": at(2026, 11, 2, 10) - 2_000, "connected": True, "last_seq": 120, "acked_seq": 100,
          "backlog": 20, "last_sync_ms": at(2026, 11, 2, 9, 59), "oldest_unsynced_age_s": 42.5,
          "disk_free_bytes": 8_000_000_000,
          "printer": {"status": "cover_open", "paper": "unknown", "can_print": False}}


def test_the_view_of_a_device():
    now = at(2026, 11, 2, 10, 1)
    r = row(status=STATUS, status_ms=at(2026, 11, 2, 10), availability="online",
            availability_ms=at(2026, 11, 2, 10), log=((at(2026, 11, 2, 9), "offline"), (at(2026, 11, 2, 9, 30), "online")))
    v = F.device_view(r, SITE, now)
    assert (v.role, v.configured, v.version, v.availability) == ("kiosk", True, "0.1.0", "online")
    assert v.since_ms == at(2026, 11, 2, 9, 30)          # the change, not the last retained message
    assert v.backlog == 20 and v.last_sync_ms == at(2026, 11, 2, 9, 59) and v.oldest_unsynced_age_s == 42.5
    assert v.printer == "cover_open" and v.cover_open and v.paper == "unknown"
    assert v.disk_free_bytes == 8_000_000_000 and v.doctor is None
    assert v.clock_offset_ms == -2_000                   # the device is two seconds behind
    assert v.offline_open_ms == 30 * MIN and v.offline_open_min == 30.0 and v.month == "2026-11"
    # another month asked for; and a status of the wrong shape is read as far as it goes
    assert F.device_view(r, SITE, now, "2026-10").offline_open_ms == 0
    odd = F.device_view(row(status={"version": 3, "backlog": "many", "printer": {"error": "unreadable"},
                                    "ts": True, "doctor": {"result": "WARN"}}, status_ms=now), SITE, now)
    assert (odd.version, odd.backlog, odd.printer, odd.paper, odd.clock_offset_ms) == (None, None, None, None, None)
    assert odd.doctor == {"result": "WARN"}
    # a device only heard from (in no [[devices]]): its status's role, no alert however it is
    stray = row("old-kiosk", role=None, status={**STATUS, "printer": {"paper": "out"}}, availability="offline",
                availability_ms=at(2026, 11, 1))
    sv = F.device_view(stray, SITE, now)
    assert sv.role == "kiosk" and not sv.configured and sv.alerts == ()
    # a site without a known configuration: no opening hours, so no offline time
    assert F.device_view(r, None, now).offline_open_ms is None


# --- alerts ----------------------------------------------------------------------------------------

def kinds(r: F.DeviceRow, now: int, site=SITE) -> list[str]:
    return [a.kind for a in F.device_alerts(r, site, now)]


def test_offline_alert_after_ten_minutes_of_opening_hours_until_it_is_back():
    went = at(2026, 11, 2, 10)   # Monday, open
    off = row(availability="offline", availability_ms=went, log=((at(2026, 11, 1), "online"), (went, "offline")))
    assert kinds(off, went + 10 * MIN) == []                 # exactly ten minutes: not more than ten
    alerts = F.device_alerts(off, SITE, went + 11 * MIN)
    assert [a.kind for a in alerts] == ["offline"] and alerts[0].key == "offline/test-pp/kiosk-1"
    assert alerts[0].values == {"since_ms": went, "offline_open_min": 11.0}
    # it holds over the night (the same key), and clears when the device is online again
    assert [a.key for a in F.device_alerts(off, SITE, at(2026, 11, 3, 7))] == ["offline/test-pp/kiosk-1"]
    back = row(availability="online", availability_ms=at(2026, 11, 3, 7),
               log=((went, "offline"), (at(2026, 11, 3, 7), "online")))
    assert kinds(back, at(2026, 11, 3, 7, 1)) == []


def test_offline_outside_opening_hours_is_no_alert_until_the_site_opens():
    went = at(2026, 11, 2, 15, 55)  # five minutes before closing
    off = row(availability="offline", availability_ms=went, log=((went, "offline"),))
    assert kinds(off, at(2026, 11, 2, 23)) == []             # 5 minutes of opening hours
    assert kinds(off, at(2026, 11, 3, 8, 5)) == []           # 10
    assert kinds(off, at(2026, 11, 3, 8, 6)) == ["offline"]  # 11
    weekend = row(availability="offline", availability_ms=at(2026, 11, 7, 9), log=((at(2026, 11, 7, 9), "offline"),))
    assert kinds(weekend, at(2026, 11, 8, 20)) == []         # Saturday and Sunday: closed
    # without a log entry the time the availability came is the start; without a site, no alert
    bare = row(availability="offline", availability_ms=at(2026, 11, 2, 9))
    assert kinds(bare, at(2026, 11, 2, 9, 11)) == ["offline"]
    assert kinds(bare, at(2026, 11, 2, 9, 11), site=None) == []
    assert kinds(row(role=None, availability="offline", availability_ms=at(2026, 11, 2, 9)), at(2026, 11, 2, 12)) == []


@pytest.mark.parametrize("paper, expect", [("ok", []), ("near_end", ["paper_near_end"]), ("out", ["paper_out"]),
                                           ("unknown", []), (None, [])])
def test_paper_alerts(paper, expect):
    now = at(2026, 11, 2, 10)
    printer = {"status": "x", "paper": paper} if paper is not None else None
    r = row(status={"printer": printer}, status_ms=now, availability="online", availability_ms=now)
    assert kinds(r, now) == expect
    # from near end to out: one alert clears (its key vanishes), the other starts
    if paper == "near_end":
        out = row(status={"printer": {"paper": "out"}}, status_ms=now, availability="online", availability_ms=now)
        assert {a.key for a in F.device_alerts(out, SITE, now)} == {"paper_out/test-pp/kiosk-1"}


def samples(*backlogs: int, start: int = 0, step: int = 5 * MIN) -> tuple[tuple[int, int], ...]:
    return tuple((start + i * step, b) for i, b in enumerate(backlogs))


def test_backlog_alert_when_it_keeps_growing_for_fifteen_minutes():
    t0 = at(2026, 11, 2, 10)
    last = t0 + 15 * MIN
    grows = row(samples=samples(1, 5, 9, 30, start=t0), status={"backlog": 31}, status_ms=last + MIN,
                availability="online", availability_ms=t0)
    alerts = F.device_alerts(grows, SITE, last + MIN)
    assert [a.kind for a in alerts] == ["backlog"]
    assert alerts[0].values == {"backlog": 31, "from_backlog": 1, "span_min": 15.0}
    # ten minutes of growth are not enough; a flat step is not growth; zero is nothing to sync
    assert kinds(row(samples=samples(1, 5, 9, start=t0)), t0 + 11 * MIN) == []
    assert kinds(row(samples=samples(1, 5, 5, 9, start=t0)), last + MIN) == []
    assert kinds(row(samples=samples(0, 0, 0, 0, start=t0)), last + MIN) == []
    # older growth followed by a fall: only the newest samples count
    assert kinds(row(samples=samples(1, 2, 3, 4, 1, start=t0)), t0 + 21 * MIN) == []
    # samples that stopped coming (offline says that), and a newer status that fell: cleared
    assert kinds(grows, last + 16 * MIN) == []
    fell = row(samples=grows.samples, status={"backlog": 3}, status_ms=last + MIN)
    assert kinds(fell, last + 2 * MIN) == []
    # irregular samples: three spanning fifteen minutes are enough
    assert kinds(row(samples=((t0, 1), (t0 + 8 * MIN, 2), (t0 + 15 * MIN, 3))), t0 + 16 * MIN) == ["backlog"]


@pytest.mark.parametrize("offset_s, online, age_min, expect", [
    (61, True, 0, ["clock"]), (-90, True, 1, ["clock"]), (59, True, 0, []), (60, True, 0, []),
    (300, False, 0, []),     # offline: its last status says nothing of its clock now
    (300, True, 6, []),      # a status this old is not judged
])
def test_clock_alert(offset_s, online, age_min, expect):
    received = at(2026, 11, 2, 10)
    r = row(status={"ts": received + offset_s * 1000}, status_ms=received,
            availability="online" if online else "offline", availability_ms=received - 3600_000)
    now = received + age_min * MIN
    found = [a for a in F.device_alerts(r, SITE, now) if a.kind != "offline"]
    assert [a.kind for a in found] == expect
    if expect:
        assert found[0].values == {"offset_s": float(offset_s)}
    assert F.device_view(r, SITE, now).clock_offset_ms == offset_s * 1000


def test_certificate_alert():
    now = at(2026, 11, 2, 10)
    day = 86_400_000
    assert F.certificate_alert(None, now) is None
    assert F.certificate_alert(now + 31 * day, now) is None
    a = F.certificate_alert(now + 29 * day, now)
    assert a is not None and a.key == "certificate/*" and a.site == F.CENTRAL_SITE and a.device is None
    assert a.values == {"not_after_ms": now + 29 * day, "days_left": 29.0}
    expired = F.certificate_alert(now - day, now)
    assert expired is not None and expired.values["days_left"] == -1.0 and expired.key == a.key


def test_the_fleet_sorted_with_its_alerts():
    now = at(2026, 11, 2, 12)
    rows = [row("kiosk-1", availability="offline", availability_ms=at(2026, 11, 2, 9),
                status={"printer": {"paper": "near_end"}}, status_ms=at(2026, 11, 2, 9)),
            row("display-1", role="display", availability="online", availability_ms=at(2026, 11, 2, 8),
                status={"ts": now}, status_ms=now),
            F.DeviceRow(site="elsewhere", device="kiosk-1", role="kiosk", availability="offline",
                        availability_ms=at(2026, 11, 2, 9))]
    fl = F.fleet(rows, {"test-pp": SITE}, now, broker_cert_not_after_ms=now + 86_400_000)
    assert [(v.site, v.device) for v in fl.devices] == [("elsewhere", "kiosk-1"), ("test-pp", "display-1"),
                                                        ("test-pp", "kiosk-1")]
    assert [a.key for a in fl.alerts] == ["certificate/*", "offline/test-pp/kiosk-1", "paper_near_end/test-pp/kiosk-1"]
    assert fl.devices[2].alerts == ("offline", "paper_near_end")
    assert fl.devices[0].offline_open_ms is None           # no configuration of that site
    assert F.current_alerts(rows, {"test-pp": SITE}, now) == [a for a in fl.alerts if a.kind != "certificate"]
    # every alert is only ids and numbers
    for a in fl.alerts:
        assert all(isinstance(v, (int, float)) for v in a.values.values())


def test_a_booking_feed_failing_for_an_hour_of_opening_hours():
    """Issue 17: the alert counts the failing time within opening hours only (2026-11-06 is a
    Friday, the 9th a Monday)."""
    fri9 = at(2026, 11, 6, 9)
    assert F.feed_alert("kela-x", "test-pp", SITE, None, fri9 + 120 * MIN) is None  # not failing
    assert F.feed_alert("kela-x", "test-pp", SITE, fri9, fri9 + 59 * MIN) is None
    a = F.feed_alert("kela-x", "test-pp", SITE, fri9, fri9 + 61 * MIN)
    assert a is not None and a.key == "booking_feed/test-pp/kela-x" and a.values["failed_open_min"] == 61
    # failing since Friday 15:30: half an hour on Friday, the weekend closed, 30 more min on Monday
    fri1530 = at(2026, 11, 6, 15, 30)
    assert F.feed_alert("kela-x", "test-pp", SITE, fri1530, at(2026, 11, 9, 8, 29)) is None
    assert F.feed_alert("kela-x", "test-pp", SITE, fri1530, at(2026, 11, 9, 8, 31)) is not None
    # a site the centre has no configuration of: an hour of the clock
    assert F.feed_alert("kela-x", "other", None, at(2026, 11, 7, 1), at(2026, 11, 7, 2, 1)) is not None
    alerts = F.current_alerts([], {"test-pp": SITE}, fri9 + 61 * MIN, feeds=[("kela-x", "test-pp", fri9),
                                                                            ("vero-x", "test-pp", None)])
    assert [x.key for x in alerts] == ["booking_feed/test-pp/kela-x"]
