"""The kiosk outside opening hours and with services closed for the rest of the day, without a
window: the flow fed with the live state a real queue authority builds from the REAL example site
(assets/sites/example.toml: open 08:00-16:15 on weekdays) at fixed times, and its answers."""
from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from core.config import load_site
from core.engine import Appointment
from core.store import EventStore
from hub.authority import QueueAuthority
from kiosk import flow as F
from kiosk import texts as T
from kiosk.settings import parse_kiosk

REPO = Path(__file__).resolve().parent.parent
REAL_SITE = REPO / "assets" / "sites" / "example.toml"
SETTINGS = parse_kiosk({"idle_s": 30, "idle_warn_s": 10, "ticket_idle_s": 60})
HEL = ZoneInfo("Europe/Helsinki")
MIN = 60_000


def at(y, mo, d, h, mi=0) -> int:
    return int(dt.datetime(y, mo, d, h, mi, tzinfo=HEL).timestamp() * 1000)


TUE_0750 = at(2026, 11, 24, 7, 50)   # a Tuesday, ten minutes before opening
TUE_1700 = at(2026, 11, 24, 17, 0)   # after closing: opens tomorrow
FRI_1700 = at(2026, 11, 27, 17, 0)   # after closing on a Friday: opens Monday
TUE_1300 = at(2026, 11, 24, 13, 0)


def site_with_counter_hours(tmp_path: Path, counters: dict[str, str]) -> Path:
    """The real example site with planned hours added to some counters."""
    text = REAL_SITE.read_text(encoding="utf-8")
    for cid, hours in counters.items():
        text, n = re.subn(rf'(\[\[counters\]\]\nid = "{cid}"\n(?:(?!\[).*\n)*?services = .*\n)',
                          rf'\1hours = "{hours}"\n', text)
        assert n == 1, cid
    path = tmp_path / f"site-{'-'.join(counters)}.toml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def real_site():
    return load_site(REAL_SITE)


def make_authority(tmp_path, site, name="hub"):
    store = EventStore(tmp_path / f"{name}.sqlite", site.id, "hub-1")
    return QueueAuthority(site, store), store


@pytest.fixture
def authority(tmp_path, real_site):
    a, store = make_authority(tmp_path, real_site)
    yield a
    store.close()


def make_flow(site):
    return F.Flow(site, SETTINGS, "kiosk-1", settle_s=0.0, now=0.0)


def run(flow, authority, now, now_ms):
    for e in flow.drain():
        if isinstance(e, F.Send):
            flow.on_reply(e.req, authority.handle_payload(json.dumps(e.payload), role="kiosk", now=now_ms), now)


def texts(flow, lang):
    tr = T.tr_for(lang, flow.site)
    st = T.screen_text(flow, tr)
    return st, T.speech_text(flow, tr)


# --- the service point closed --------------------------------------------------------------------

def test_before_any_state_the_kiosk_behaves_as_open(real_site):
    f = make_flow(real_site)
    assert f.site_open and f.walk_in_open and f.hours == F.Hours()
    f.take_number(1)
    assert f.screen == F.SERVICES


def test_closed_before_opening_says_when_it_opens_and_offers_no_number(real_site, authority):
    state = authority.snapshot(TUE_0750)
    assert state["open"] is False and state["opens_ms"] == at(2026, 11, 24, 8, 0)
    f = make_flow(real_site)
    v = f.version
    f.on_live_state(state, 1)
    assert f.version > v and not f.site_open and not f.walk_in_open
    v = f.version
    f.on_live_state(authority.snapshot(TUE_0750 + 10_000), 1.5)  # a heartbeat: nothing to redraw
    assert f.version == v

    words = {"fi": ("Palvelupiste on suljettu", "Avautuu tänään klo 8.00."),
             "sv": ("Servicepunkten är stängd", "Öppnar i dag kl. 08:00."),
             "en": ("The service point is closed", "Opens today at 08:00.")}
    for lang, (title, lead) in words.items():
        f.set_language(lang, 2)
        st, speech = texts(f, lang)
        assert (st.title, st.lead) == (title, lead), lang
        assert st.lines == [T.tr_for(lang, real_site).gettext("If you have an appointment, you can check in here.")]
        tr = T.tr_for(lang, real_site)
        # read aloud: the closed screen and only what it offers
        assert title in speech and lead in speech and tr.gettext("I have an appointment") in speech
        assert tr.gettext("Take a number") not in speech
    for lang in F.Flow(real_site, SETTINGS, "k").languages:  # every language has the words
        f.lang = lang
        st, _ = texts(f, lang)
        assert st.title and "8" in st.lead and "{" not in st.lead, (lang, st.lead)

    f.take_number(3)
    assert f.screen == F.START and not f.drain(), "no walk-in number while closed"
    f.have_appointment(4)
    assert f.screen == F.APPOINTMENT


@pytest.mark.parametrize("now, want", [
    (TUE_1700, {"fi": "Avautuu huomenna klo 8.00.", "sv": "Öppnar i morgon kl. 08:00.",
                "en": "Opens tomorrow at 08:00."}),
    (FRI_1700, {"fi": "Avautuu maanantaina 30. marraskuuta klo 8.00.",
                "sv": "Öppnar måndagen den 30 november kl. 08:00.",
                "en": "Opens Monday 30 November at 08:00.",
                "ru": "Откроется 30 ноября (понедельник) в 08:00."}),
    (at(2026, 12, 23, 17, 0), {"en": "Opens Monday 28 December at 08:00."}),  # over Christmas
])
def test_when_it_opens_in_the_kiosks_language_and_the_sites_time_zone(real_site, authority, now, want):
    f = make_flow(real_site)
    f.on_live_state(authority.snapshot(now), 1)
    for lang, lead in want.items():
        f.lang = lang
        assert texts(f, lang)[0].lead == lead


def test_closed_with_no_known_opening_just_says_closed(real_site, authority):
    state = {**authority.snapshot(TUE_1700), "opens_ms": None}
    f = make_flow(real_site)
    f.on_live_state(state, 1)
    st, _ = texts(f, "en")
    assert st.title == "The service point is closed" and st.lead == ""


def test_malformed_hours_in_a_state_count_as_open(real_site, authority):
    f = make_flow(real_site)
    f.on_live_state({**authority.snapshot(TUE_1300), "open": "no", "opens_ms": "8"}, 1)
    assert f.site_open and f.hours.opens_ms is None


def test_a_booked_customer_checks_in_before_opening(real_site, authority):
    """07:50, booked at 08:00: the check-in window (30 min before) is open; the hub decides."""
    authority.set_appointments([Appointment("808080", "kela", at(2026, 11, 24, 8, 0)),
                                Appointment("171717", "vero", at(2026, 11, 24, 7, 0))])
    f = make_flow(real_site)
    f.on_live_state(authority.snapshot(TUE_0750), 1)
    f.have_appointment(2)
    for ch in "808080":
        f.key(ch, 2.1)
    f.check_in(2.2)
    run(f, authority, 2.3, TUE_0750)
    assert f.screen == F.TICKET and f.c.ticket.kind == "appointment" and f.c.ticket.service == "kela"
    assert f.c.ticket.est_wait_s is not None
    # a missed booking while closed: no walk-in number offered instead
    f.done(3)
    f.on_live_state(authority.snapshot(TUE_0750), 3.1)
    f.scanned("171717", 4)
    run(f, authority, 4.1, TUE_0750)
    assert f.screen == F.TOO_LATE
    st, _ = texts(f, "fi")
    assert "Palvelupiste on nyt suljettu." in st.lines and "Avautuu tänään klo 8.00." in st.lines
    assert not any("vuoronumero" in line for line in st.lines)
    f.walk_in_instead(5)
    assert f.screen == F.TOO_LATE
    # an unknown code: "try again" and help, no number
    f.scanned("999999", 6)
    run(f, authority, 6.1, TUE_0750)
    assert f.screen == F.NOT_FOUND
    assert texts(f, "en")[0].lead == ("Check the code and try again. If you cannot find your code, please ask "
                                      "for help.")
    f.walk_in_instead(7)
    assert f.screen == F.NOT_FOUND


def test_a_customer_choosing_as_the_site_closes_is_told_so(real_site, authority):
    f = make_flow(real_site)
    f.on_live_state(authority.snapshot(TUE_1300), 1)
    f.take_number(2)
    f.choose_service("kela", 3)
    assert f.screen == F.NEEDS
    f.on_live_state(authority.snapshot(TUE_1700), 4)
    f.get_number(5)
    assert f.screen == F.START and not f.drain() and f.c == F.Customer()


# --- a service closed for the rest of the day ------------------------------------------------------

def test_a_service_whose_only_counter_stopped_is_closed_and_cannot_be_chosen(tmp_path):
    site = load_site(site_with_counter_hours(tmp_path, {"5": "08:00-12:00"}))  # vero: counter 5 only
    a, store = make_authority(tmp_path, site)
    try:
        state = a.snapshot(TUE_1300)
        assert state["open"] is True and state["services"]["vero"]["est_wait_s"] is None
        assert state["services"]["dvv"]["est_wait_s"] is not None  # counter 4 serves it too
        f = make_flow(site)
        f.on_live_state(state, 1)
        assert f.hours.closed == frozenset({"vero"}) and f.site_open and f.walk_in_open
        f.take_number(2)
        f.choose_service("vero", 3)
        assert f.screen == F.SERVICES and f.c.service is None
        _, speech = texts(f, "fi")
        assert f"{site.services['vero'].label('fi')}: Ei enää palvelua tänään" in speech
        assert f"{site.services['kela'].label('fi')}:" not in speech
        f.choose_service("dvv", 4)
        assert f.screen == F.NEEDS
        # counter 5 back at work (the plan changed): the next state opens vero again
        f.back(5)
        f.on_live_state({**state, "services": {**state["services"], "vero": {"waiting": 0, "est_wait_s": 60}}}, 6)
        f.choose_service("vero", 7)
        assert f.screen == F.NEEDS and f.c.service == "vero"
    finally:
        store.close()


def test_general_advice_closed_for_today_is_not_reached_by_i_dont_know(tmp_path):
    # counters 1 and 2 are the only ones for general advice (and Kela, and digital support)
    site = load_site(site_with_counter_hours(tmp_path, {"1": "08:00-12:00", "2": "08:00-12:00"}))
    a, store = make_authority(tmp_path, site)
    try:
        state = a.snapshot(TUE_1300)
        assert state["services"]["neuvonta"]["est_wait_s"] is None
        f = make_flow(site)
        f.on_live_state(state, 1)
        f.take_number(2)
        f.dont_know(3)
        assert f.screen == F.SERVICES and f.c.service is None
        _, speech = texts(f, "en")
        assert "I don't know which service: No more service today" in speech
        f.choose_service("poliisi", 4)
        assert f.screen == F.NEEDS
    finally:
        store.close()


def test_the_chosen_service_closing_meanwhile_sends_back_to_the_services(real_site, authority):
    f = make_flow(real_site)
    state = authority.snapshot(TUE_1300)
    f.on_live_state(state, 1)
    f.take_number(2)
    f.choose_service("vero", 3)
    f.on_live_state({**state, "services": {**state["services"], "vero": {"waiting": 0, "est_wait_s": None}}}, 4)
    f.get_number(5)
    assert f.screen == F.SERVICES and not f.drain()


def test_a_missed_booking_for_a_service_closed_today_offers_the_services(real_site, authority):
    authority.set_appointments([Appointment("333333", "vero", TUE_1300 - 30 * MIN)])
    f = make_flow(real_site)
    state = authority.snapshot(TUE_1300)
    f.on_live_state({**state, "services": {**state["services"], "vero": {"waiting": 0, "est_wait_s": None}}}, 1)
    f.scanned("333333", 2)
    run(f, authority, 2.1, TUE_1300)
    assert f.screen == F.TOO_LATE
    f.walk_in_instead(3)
    assert f.screen == F.SERVICES and f.c.service is None


def test_open_but_nothing_served_any_more_today_offers_no_number(real_site, authority):
    state = authority.snapshot(TUE_1300)
    state = {**state, "services": {sid: {**s, "est_wait_s": None, "est_range_s": None}
                                   for sid, s in state["services"].items()}}
    f = make_flow(real_site)
    f.on_live_state(state, 1)
    assert f.site_open and not f.walk_in_open
    st, speech = texts(f, "sv")
    assert st.title == "Ingen mer betjäning i dag" and "Ta en kölapp" not in speech
    f.take_number(2)
    assert f.screen == F.START


# --- a ticket without an estimate ------------------------------------------------------------------

def test_a_ticket_reply_without_an_estimate_shows_no_wait(real_site):
    reply = {"ok": True, "ticket": "2026-11-24/V001", "number": "V001", "service": "vero", "kind": "walk_in",
             "ahead": 0, "est_wait_s": None, "est_range_s": None, "token": "t" * 20, "issued_ms": TUE_1300}
    t = F.ticket_view(reply, "fi", F.NeedsChoice(), SETTINGS, real_site.id)
    assert t is not None and t.est_wait_s is None and t.est_wait_min is None
    f = make_flow(real_site)
    f.take_number(1)
    f.choose_service("vero", 2)
    f.get_number(3)
    [send] = f.drain()
    f.on_reply(send.req, reply, 4)
    assert f.screen == F.TICKET and f.c.ticket.number == "V001"
    st, speech = texts(f, "fi")
    tr = T.tr_for("fi", real_site)
    wait_words = {T.wait_text(tr, 0), T.wait_text(tr, 600).split(":")[0]}
    assert not any(w in line for w in wait_words for line in st.lines), st.lines
    assert "V 1" in speech
    assert T.wait_text(T.tr_for("en", real_site), None) == ""
    # the paper ticket has no wait line either (and the number)
    from dataclasses import replace

    from kiosk.printing import ticket_layout

    paper = ticket_layout(t, real_site, SETTINGS).texts()
    with_wait = ticket_layout(replace(t, est_wait_s=600), real_site, SETTINGS).texts()
    assert "V001" in paper and len(with_wait) == len(paper) + 1, (paper, with_wait)


def test_the_local_hub_link_hands_over_the_state_too(tmp_path, real_site):
    """`palvelupiste kiosk --local` (no hub): the in-process queue gives its state at start and after
    every command, so a desk kiosk shows the opening hours as well."""
    import queue

    from kiosk.hub_link import LocalHubLink
    from tests.support.wait import next_item

    states: queue.Queue = queue.Queue()
    link = LocalHubLink(real_site, str(tmp_path / "local.sqlite"), timeout_s=5)
    link.on_state(states.put)
    link.start()
    try:
        first = next_item(states, what="the state at start")
        assert isinstance(first["open"], bool) and first["services"]["kela"]["waiting"] == 0
        replies: queue.Queue = queue.Queue()
        link.send(1, {"cmd": "take", "service": "kela", "lang": "fi", "needs": {}}, lambda req, r: replies.put(r))
        assert next_item(replies, what="the answer")["ok"]
        assert next_item(states, what="the state after the take")["services"]["kela"]["waiting"] == 1
    finally:
        link.close()
