"""The kiosk's screen flow without a window: every path, the guards, idle reset, and the
answers of a real queue authority (in process, on a temporary store)."""
from __future__ import annotations

import json

import pytest

from core.engine import Appointment
from core.store import EventStore
from hub.authority import QueueAuthority
from kiosk import flow as F
from kiosk import texts as T
from kiosk.settings import parse_kiosk

SETTINGS = parse_kiosk({"idle_s": 90, "idle_warn_s": 30, "ticket_idle_s": 60})


@pytest.fixture
def authority(tmp_path, example_site):
    store = EventStore(tmp_path / "hub.sqlite", example_site.id, "hub-1")
    a = QueueAuthority(example_site, store)
    yield a
    store.close()


def make_flow(site, settle_s=0.0):
    return F.Flow(site, SETTINGS, "kiosk-1", settle_s=settle_s, now=0.0)


def run(flow, authority, now, now_ms_=None):
    """Carry out the flow's effects against the authority: what the app does with the hub."""
    prints = []
    for e in flow.drain():
        if isinstance(e, F.Send):
            reply = authority.handle_payload(json.dumps(e.payload), role="kiosk", now=now_ms_)
            flow.on_reply(e.req, reply, now)
            prints += [p for p in flow.drain() if isinstance(p, F.Print)]
        else:
            prints.append(e)
    return prints


# --- walk-in -----------------------------------------------------------------------------------

def test_walk_in_takes_a_number_with_needs_and_shows_the_ticket(example_site, authority):
    f = make_flow(example_site)
    f.set_language("sv", 1)
    f.take_number(2)
    assert f.screen == F.SERVICES
    f.choose_service("kela", 3)
    assert f.screen == F.NEEDS
    f.open_interpreter(4)
    f.choose_interpreter("ar", 5)
    f.toggle_need("hearing_loop", 6)
    f.get_number(7)
    [send] = [e for e in f.effects if isinstance(e, F.Send)]
    assert len(send.payload.pop("request_id")) >= 16  # the retry key (see the retry test)
    assert send.payload == {"cmd": "take", "service": "kela", "lang": "sv",
                            "needs": {"interpreter": "ar", "hearing_loop": True, "accessible_room": False}}
    prints = run(f, authority, 7.1)
    assert f.screen == F.TICKET
    t = f.c.ticket
    assert t.number == "K001" and t.service == "kela" and t.lang == "sv"
    assert t.qr_url == f"https://queue.example.org/t/{example_site.id}/{t.token}" and len(t.token) >= 16
    assert [p.ticket for p in prints] == [t]
    issued = [e for e in authority.store.events() if e.type == "ticket.issued"][-1]
    assert issued.data["needs"] == {"interpreter": "ar", "hearing_loop": True, "accessible_room": False}
    assert issued.data["lang"] == "sv"


def test_i_dont_know_goes_to_general_advice_and_is_not_in_the_grid(example_site):
    f = make_flow(example_site)
    advice = example_site.general_advice_service().id
    assert advice not in f.services() and len(f.services()) == len(example_site.services) - 1
    f.take_number(1)
    f.dont_know(2)
    assert f.screen == F.NEEDS and f.c.service == advice


def test_needs_are_skippable_in_one_tap(example_site, authority):
    f = make_flow(example_site)
    f.take_number(1)
    f.choose_service("vero", 2)
    f.get_number(3)
    run(f, authority, 3.1)
    assert f.screen == F.TICKET and f.c.ticket.needs == F.NeedsChoice()


def test_a_double_tap_sends_one_request(example_site, authority):
    f = make_flow(example_site)
    f.take_number(1)
    f.choose_service("kela", 2)
    f.get_number(3.0)
    f.get_number(3.02)  # the second tap of a double tap
    sends = [e for e in f.effects if isinstance(e, F.Send)]
    assert len(sends) == 1 and f.busy == sends[0].req
    run(f, authority, 3.1)
    assert len([e for e in authority.store.events() if e.type == "ticket.issued"]) == 1


def test_taps_right_after_a_screen_change_are_ignored(example_site):
    f = F.Flow(example_site, SETTINGS, "kiosk-1", settle_s=0.45, now=0.0)
    f.take_number(1.0)
    f.choose_service("kela", 1.1)  # the double tap lands on the new screen
    assert f.screen == F.SERVICES
    f.choose_service("kela", 1.5)
    assert f.screen == F.NEEDS and f.ready(2.0)


def test_service_paging(example_site):
    f = make_flow(example_site)
    f.take_number(1)
    f.page(1, 3, 2)
    f.page(1, 3, 3)
    f.page(1, 3, 4)
    assert f.c.page == 2
    f.page(-5, 3, 5)
    assert f.c.page == 0


# --- appointments --------------------------------------------------------------------------------

def _appointments(site, now):
    m = 60_000
    return [Appointment("111111", "poliisi", now + 5 * m),        # can check in now
            Appointment("222222", "kela", now + 3 * 60 * m),       # too early (opens 30 min before)
            Appointment("333333", "vero", now - 30 * m),           # too late (10 min allowed)
            Appointment("444444", "dvv", now + 3 * 24 * 60 * m)]   # another day


@pytest.fixture
def noon():
    import datetime as dt
    from zoneinfo import ZoneInfo

    return int(dt.datetime(2026, 11, 24, 12, 0, tzinfo=ZoneInfo("Europe/Helsinki")).timestamp() * 1000)


def _check_in(f, authority, code, now_ms_, t=10.0):
    f.have_appointment(t)
    for ch in code:
        f.key(ch, t + 0.1)
    f.check_in(t + 0.2)
    run(f, authority, t + 0.3, now_ms_)


def test_each_check_in_answer_has_its_own_screen(example_site, authority, noon):
    authority.set_appointments(_appointments(example_site, noon))
    tr = T.tr_for("en", example_site)
    f = make_flow(example_site)
    f.set_language("en", 1)

    _check_in(f, authority, "111111", noon)
    assert f.screen == F.TICKET and f.c.ticket.kind == "appointment" and f.c.ticket.number.startswith("P")
    assert "12:05" in " ".join(T.screen_text(f, tr).lines)
    number = f.c.ticket.number

    f.start_over(20)
    _check_in(f, authority, "111111", noon, 21)
    assert f.screen == F.ALREADY and f.c.outcome["number"] == number
    assert any(number in line for line in T.screen_text(f, tr).lines)

    f.start_over(30)
    _check_in(f, authority, "999999", noon, 31)
    assert f.screen == F.NOT_FOUND

    f.start_over(40)
    _check_in(f, authority, "222222", noon, 41)
    assert f.screen == F.TOO_EARLY
    lines = " ".join(T.screen_text(f, tr).lines)
    assert "15:00" in lines and "14:30" in lines  # the appointment and when check-in opens

    f.start_over(50)
    _check_in(f, authority, "444444", noon, 51)
    assert f.screen == F.OTHER_DAY
    assert "Friday, 27 November 2026" in " ".join(T.screen_text(f, tr).lines)

    f.start_over(60)
    _check_in(f, authority, "333333", noon, 61)
    assert f.screen == F.TOO_LATE
    assert "11:30" in " ".join(T.screen_text(f, tr).lines)
    # ... which offers a walk-in number for the same service
    f.walk_in_instead(62)
    assert f.screen == F.NEEDS and f.c.service == "vero"
    f.get_number(63)
    run(f, authority, 63.1, noon)
    assert f.screen == F.TICKET and f.c.ticket.kind == "walk_in" and f.c.ticket.number.startswith("V")


def test_keypad(example_site):
    f = make_flow(example_site)
    f.have_appointment(1)
    f.key("1", 2)
    f.key("#", 2)  # not a code character
    f.key("2", 2)
    assert f.c.code == "12" and not f.can_check_in()
    f.key("3", 2)
    assert f.can_check_in()
    f.delete(3)
    assert f.c.code == "12"
    f.key("x", 3)  # a keyboard may type the letters some codes have
    assert f.c.code == "12X"
    f.delete(3)
    for _ in range(40):
        f.key("9", 4)
    assert len(f.c.code) == F.MAX_KEYPAD_CODE


def test_a_scanned_code_checks_in_from_any_screen(example_site, authority, noon):
    authority.set_appointments(_appointments(example_site, noon))
    f = make_flow(example_site)
    f.take_number(1)
    f.scanned("https://booking.example.fi/c/111111", 2)
    [send] = [e for e in f.effects if isinstance(e, F.Send)]
    assert send.payload["cmd"] == "checkin" and send.payload["code"] == "111111"
    assert f.c.code == ""  # a scanned code is never shown
    run(f, authority, 2.1, noon)
    assert f.screen == F.TICKET


@pytest.mark.parametrize("text,code", [
    ("ABC-123", "ABC-123"), (" 123456\n", "123456"), ("https://x.fi/b?code=XY99", "XY99"),
    ("https://x.fi/booking/77777/", "77777"), ("www.x.fi/c/55555", "55555"), ("no spaces allowed", None),
    ("ab", None), ("", None), ("https://x.fi/", None)])
def test_extract_code(text, code):
    assert F.extract_code(text) == code


def test_garbage_from_the_reader_shows_not_found_without_asking_the_hub(example_site):
    f = make_flow(example_site)
    f.scanned("%%%", 1)
    assert f.screen == F.NOT_FOUND and not f.effects


# --- help, problems ------------------------------------------------------------------------------

def test_help_sends_the_help_command_and_says_someone_is_coming(example_site, authority):
    f = make_flow(example_site)
    f.set_language("uk", 1)
    f.need_help(2)
    [send] = f.effects
    assert send.payload == {"cmd": "help", "device": "kiosk-1", "lang": "uk"}
    assert f.screen == F.HELP and f.c.help_state == "sending"
    run(f, authority, 2.1)
    assert f.c.help_state == "sent"
    assert [e.type for e in authority.store.events()] == ["help.requested"]


def test_help_that_cannot_be_sent_tells_where_to_go(example_site):
    f = make_flow(example_site)
    f.need_help(1)
    [send] = f.drain()
    f.on_reply(send.req, {"ok": False, "error": "timeout"}, 6)
    assert f.screen == F.HELP and f.c.help_state == "failed"
    assert "service desk" in T.screen_text(f, T.tr_for("en", example_site)).lead


def test_hub_trouble_shows_the_problem_screen_and_try_again_resends(example_site, authority):
    f = make_flow(example_site)
    f.take_number(1)
    f.choose_service("kela", 2)
    f.get_number(3)
    [send] = f.drain()
    f.on_reply(send.req, {"ok": False, "error": "timeout", "message": "no answer"}, 8)
    assert f.screen == F.PROBLEM and f.busy is None
    f.retry(9)
    [again] = [e for e in f.effects if isinstance(e, F.Send)]
    # The same payload, request_id included: the hub answers a repeated id with its first answer.
    assert again.payload == send.payload and again.req != send.req and "request_id" in again.payload
    run(f, authority, 9.1)
    assert f.screen == F.TICKET


def test_an_answer_for_a_customer_who_is_gone_is_dropped(example_site):
    f = make_flow(example_site)
    f.take_number(1)
    f.choose_service("kela", 2)
    f.get_number(3)
    [send] = f.drain()
    f.reset(4)
    f.on_reply(send.req, {"ok": True, "ticket": "d/K001", "number": "K001", "service": "kela", "token": "t"}, 5)
    assert f.screen == F.START and f.c.ticket is None and not f.effects


# --- idle ---------------------------------------------------------------------------------------

def test_idle_warns_then_resets_everything(example_site, authority):
    f = make_flow(example_site)
    f.set_language("ru", 0)
    f.toggle("large_text", 0)
    f.toggle("high_contrast", 0)
    f.take_number(0)
    f.choose_service("kela", 0)
    f.toggle_need("accessible_room", 0)
    assert f.tick(10) == "ok" and not f.warning
    assert f.tick(61) == "warn" and f.warning
    f.touch(62)  # any touch: the customer is still there
    assert not f.warning and f.tick(100) == "ok"
    assert f.lang == "ru" and f.prefs.large_text and f.prefs.high_contrast  # kept through the prompt
    assert f.tick(152.5) == "reset"
    assert f.screen == F.START and f.lang == example_site.default_language
    assert f.prefs == F.Prefs() and f.c == F.Customer() and f.pristine
    assert f.tick(500) == "idle"


def test_the_ticket_screen_stays_longer_and_then_resets(example_site, authority):
    f = make_flow(example_site)
    f.take_number(0)
    f.choose_service("kela", 0)
    f.get_number(0)
    run(f, authority, 0)
    assert f.screen == F.TICKET
    assert f.tick(25) == "ok"
    assert f.tick(35) == "warn"  # ticket_idle_s stays the total; the prompt leaves 30 s of it
    assert f.tick(61) == "reset" and f.c.ticket is None


def test_a_changed_language_alone_is_reset_too(example_site):
    f = make_flow(example_site)
    f.set_language("so", 1)
    assert f.tick(60) == "ok"
    assert f.tick(92) == "reset" and f.lang == "fi"


def test_no_reset_while_a_request_is_in_flight(example_site):
    f = make_flow(example_site)
    f.take_number(0)
    f.choose_service("kela", 0)
    f.get_number(0)
    assert f.tick(100) == "ok" and f.screen == F.NEEDS


# --- printing ------------------------------------------------------------------------------------

def _ticket_flow(site, authority):
    f = make_flow(site)
    f.take_number(0)
    f.choose_service("kela", 0)
    f.get_number(0)
    run(f, authority, 0)
    return f


def test_print_results_and_reprint_window(example_site, authority):
    f = _ticket_flow(example_site, authority)
    t = f.c.ticket
    assert f.c.print_status == "printing" and not f.can_reprint(1)
    f.on_printed("someone-else", False, "paper_out")
    assert f.c.print_status == "printing"
    f.on_printed(t.ticket, False, "paper_out")
    assert f.c.print_status == "failed"
    assert f.can_reprint(1)
    assert not f.can_reprint(SETTINGS.reprint_s + 1)
    f.reprint(1)
    [p] = f.drain()
    assert p.reprint and p.ticket == t and f.c.print_status == "printing"
    f.on_printed(t.ticket, True)
    f.reprint(2)
    f.on_printed(t.ticket, True)
    f.reprint(3)  # max_reprints = 2
    assert len(f.drain()) == 1


# --- texts -------------------------------------------------------------------------------------

@pytest.mark.parametrize("secs,mins", [(0, 0), (30, 1), (60, 1), (61, 2), (540, 9), (541, 10), (601, 15),
                                       (1500, 25), (1501, 30)])
def test_wait_minutes(secs, mins):
    assert F.wait_minutes(secs) == mins


def test_spoken_number():
    assert T.spoken_number("K012") == "K 12" and T.spoken_number("AB100") == "AB 100"


@pytest.mark.parametrize("lang", ["fi", "sv", "en", "ru", "et", "uk", "so"])
def test_every_screen_has_words_in_every_language(example_site, authority, lang, noon):
    tr = T.tr_for(lang, example_site)
    f = make_flow(example_site)
    f.set_language(lang, 0)
    seen = {}
    seen[F.START] = T.speech_text(f, tr)
    f.take_number(0)
    seen[F.SERVICES] = T.speech_text(f, tr)
    f.choose_service("kela", 0)
    seen[F.NEEDS] = T.speech_text(f, tr)
    f.open_interpreter(0)
    seen[F.INTERPRETER] = T.speech_text(f, tr)
    f.choose_interpreter(None, 0)
    f.get_number(0)
    run(f, authority, 0)
    seen[F.TICKET] = T.speech_text(f, tr)
    for code, extra in [(F.NOT_FOUND, {}), (F.OTHER_DAY, {"appointment_ms": noon}),
                        (F.TOO_EARLY, {"appointment_ms": noon, "opens_ms": noon - 1_800_000}),
                        (F.TOO_LATE, {"appointment_ms": noon}), (F.ALREADY, {"number": "K001"})]:
        f.c = F.Customer(outcome={"error": code, **extra})
        f.screen = code
        seen[code] = T.speech_text(f, tr)
    for s, text in seen.items():
        assert len(text) > 10, (lang, s, text)
    if lang != "en":  # translated, not the English msgids
        en = T.tr_for("en", example_site)
        g = make_flow(example_site)
        assert T.speech_text(g, tr) != T.speech_text(g, en)


def test_interpreter_language_labels(example_site):
    tr = T.tr_for("fi", example_site)
    assert T.language_label("ru", "fi", tr) == ("Venäjä", "Русский")
    assert T.language_label("ar", "fi", tr) == ("Arabia", None)  # Arabic script is not drawn unshaped
    assert T.language_label("fse", "en", T.tr_for("en", example_site))[0] == "Finnish Sign Language"


def test_times_are_24_hour_in_every_language(example_site, noon):
    for lang in ("fi", "sv", "en", "ru", "et", "uk", "so"):
        assert T.fmt_time(T.tr_for(lang, example_site), noon + 30 * 60_000).replace(".", ":") == "12:30", lang


def test_settings_report_every_problem():
    from core.config import ConfigError

    with pytest.raises(ConfigError) as e:
        parse_kiosk({"idle_s": 2, "ticket_url": "https://x/{nope}", "orientation": "sideways", "input": "two,three",
                     "bogus": 1})
    fields = {i.field for i in e.value.issues}
    assert {"kiosk.idle_s", "kiosk.ticket_url", "kiosk.orientation", "kiosk.input", "kiosk.bogus"} <= fields
    s = parse_kiosk({"orientation": "landscape", "idle_s": 145})
    assert s.window == (1920, 1080) and s.idle_s == 145 and not s.portrait
    assert parse_kiosk({}).window == (1080, 1920)
