"""The counter panel's view and its words, without a window: what it shows, which buttons can be
tapped, what Finish offers, the parked and no-show lists, the number keypad, the hub's refusals."""
import dataclasses

import pytest

from core.config import ConfigError
from counter.model import (
    BACK,
    CLEAR,
    ERRORS,
    GENERIC_ERROR,
    NO_CONNECTION,
    NO_OUTCOMES_OFFERED,
    STATE_ERRORS,
    UNKNOWN_NUMBER_SENT,
    NumberEntry,
    buttons,
    error_text,
    finish_label,
    keypad_keys,
    keypad_letters,
    normalize_number,
    outcome_choices,
    outcome_name,
    panel_view,
    success_text,
    translator,
)
from counter.settings import parse_counter
from tests.ui_scenarios.counter import OUTCOMES, SERVICE_OUTCOMES, site_with_outcomes
from tests.ui_scenarios.display_support import load_example_site

STATE = {
    "ts": 1_763_884_800_000, "heartbeat_s": 10,
    "services": {"neuvonta": {"waiting": 2, "est_wait_s": 600, "open_counters": 1},
                 "kela": {"waiting": 1, "est_wait_s": 300, "open_counters": 1},
                 "digituki": {"waiting": 0, "est_wait_s": 0, "open_counters": 1}},
    "counters": {"1": {"open": True, "current": {
        "ticket": "2025-11-23/K001", "number": "K001", "service": "kela", "kind": "walk_in",
        "called_ms": 1_763_884_790_000, "waited_s": 610,
        "needs": {"interpreter": "ru", "hearing_loop": True, "accessible_room": True}, "lang": "sv"}}},
    "calls": [],
    "help": [{"request": "kiosk-1-1763884700000", "device": "kiosk-1", "ts": 1_763_884_700_000, "lang": "en"}],
}


def test_panel_view_in_finnish(example_site):
    t = translator("fi", example_site)
    v = panel_view(t, example_site, "1", STATE)
    assert v.counter_name == "Tiski 1" and v.open and v.waiting_total == 3
    assert [(s.id, s.waiting) for s in v.services] == [("neuvonta", 2), ("digituki", 0), ("kela", 1)]
    assert v.services[0].text == "2 odottaa · noin 10 min"
    c = v.current
    assert (c.number, c.service_name, c.waited) == ("K001", "Kela", "Odottanut 11 min")
    needs = {n.key: n.text for n in c.needs}
    assert needs == {"interpreter": "Tulkki: venäjä (Русский)", "hearing_loop": "Induktiosilmukka",
                     "accessible_room": "Esteetön huone", "lang": "Asiointikieli: ruotsi (Svenska)"}
    assert all(n.icon for n in c.needs)  # words and an icon, never colour alone
    assert v.help[0].request == "kiosk-1-1763884700000"
    assert v.help[0].text.startswith("Apua tarvitaan: kiosk-1, klo ") and "englanti" in v.help[0].text


def test_panel_view_without_state_or_customer(example_site):
    v = panel_view(translator("sv", example_site), example_site, "3", None)
    assert v.counter_name == "Lucka 3" and not v.open and v.current is None and v.help == []


@pytest.mark.parametrize("lang", ["fi", "sv", "en"])
def test_every_error_code_has_words(lang, example_site):
    t = translator(lang, example_site)
    texts = set()
    for code, msg in ERRORS.items():
        text = error_text(t, {"ok": False, "error": code})
        assert text and "{" not in text
        if lang != "en":
            assert text != msg, (lang, code)  # translated
        texts.add(text)
    assert len(texts) == len(set(ERRORS.values()))  # codes that share words share one translation
    other = error_text(t, {"ok": False, "error": "something_new"})
    assert "something_new" in other and (lang == "en" or other != GENERIC_ERROR.format(code="something_new"))
    # a timeout while not connected says that nothing was sent
    assert error_text(t, {"ok": False, "error": "timeout", "connected": False}) == t(NO_CONNECTION)
    assert t(NO_CONNECTION) != error_text(t, {"ok": False, "error": "timeout"})


def test_success_texts(example_site):
    t = translator("fi", example_site)
    assert success_text(t, example_site, "call", {"number": "K001"}) == "Kutsuttu: K001."
    assert success_text(t, example_site, "transfer", {"number": "K001", "service": "poliisi"}) == \
        "K001 siirretty palveluun Poliisin lupapalvelut, numero säilyy."


def test_counter_settings(example_site):
    s = parse_counter({"counter": "H1", "lang": "sv"}, set(example_site.counters))
    assert (s.counter, s.lang) == ("H1", "sv")
    with pytest.raises(ConfigError) as e:
        parse_counter({"counter": "99", "lang": "de", "width": 10}, set(example_site.counters))
    assert {i.field for i in e.value.issues} == {"counter.counter", "counter.lang", "counter.width"}


# --- the clerk's side: call a number, park, no-shows back in the queue, outcomes -------------------

def _serving(service: str = "kela", number: str = "K003", counter: str = "1", **extra) -> dict:
    st = {**STATE, "counters": {counter: {"open": True, "current": {
        "ticket": f"2025-11-23/{number}", "number": number, "service": service, "kind": "walk_in",
        "called_ms": 1_763_884_790_000, "waited_s": 60, "needs": {}, "lang": "fi"}}}}
    st.update(extra)
    return st


def test_finish_offers_the_services_outcomes_by_name_in_the_panels_language():
    site = site_with_outcomes()
    for lang in ("fi", "sv", "en"):
        t = translator(lang, site)
        v = panel_view(t, site, "1", _serving("kela"))
        assert [(o.id, o.name) for o in v.current.outcomes] == \
            [(o, OUTCOMES[o][lang]) for o in SERVICE_OUTCOMES["kela"]]   # the site's order
        assert finish_label(t, v) == t("Finish…") != t("Finish")
        # digital support has no outcomes: Finish is one tap, as before
        v = panel_view(t, site, "1", _serving("digituki", "G001"))
        assert v.current.outcomes == [] and finish_label(t, v) == t("Finish")
        assert finish_label(t, panel_view(t, site, "1", STATE | {"counters": {}})) == t("Finish")
    t = translator("fi", site)
    assert [o.name for o in panel_view(t, site, "1", _serving("neuvonta", "N001")).current.outcomes] == \
        ["Neuvottu", "Ohjattu muualle"]
    # an outcome the site names in some languages only: English, else its id
    odd = dataclasses.replace(site, outcomes={**site.outcomes, "advice": {"en": "Advice given"}})
    assert outcome_choices(translator("sv", odd), odd, "kela")[0].name == "Advice given"
    assert outcome_name(odd, "gone", "fi") == "gone"
    # the example site (no outcomes yet, or its own): whatever it declares, nothing else
    ex = load_example_site()
    assert [o.id for o in outcome_choices(t, ex, "kela")] == list(ex.services["kela"].outcomes)


def test_which_buttons_can_be_tapped(example_site):
    t = translator("en", example_site)
    idle = panel_view(t, example_site, "1", STATE | {"counters": {"1": {"open": True, "current": None}},
                                                     "parked": [{"number": "K003", "service": "kela", "counter": "1"}],
                                                     "no_shows": [{"number": "K001", "service": "kela"}]})
    b = buttons(idle, busy=False, known=True)
    assert b == {"call_next": True, "call_number": True, "open": False, "close": True,
                 "recall": False, "finish": False, "no_show": False, "transfer": False, "park": False,
                 "call_back_K003": True, "requeue_K001": True, "help_go_kiosk-1-1763884700000": True}
    serving = panel_view(t, example_site, "1", STATE)
    b = buttons(serving, busy=False, known=True)
    assert all(b[k] for k in ("recall", "finish", "no_show", "transfer", "park", "call_next", "call_number"))
    # one command at a time: nothing while one is on its way
    assert not any(buttons(serving, busy=True, known=True).values())
    assert not any(buttons(idle, busy=True, known=True).values())
    # before the hub's state is known, open and close both stay possible
    closed = panel_view(t, example_site, "3", None)
    b = buttons(closed, busy=False, known=False)
    assert b["open"] and b["close"] and b["call_number"] and not b["park"]
    assert buttons(None, busy=False, known=False) == {}


def test_parked_customers_own_first_and_todays_no_shows():
    site = site_with_outcomes()
    t = translator("fi", site)
    st = STATE | {"parked": [{"ticket": "2025-11-23/K005", "number": "K005", "service": "kela", "counter": "2"},
                             {"ticket": "2025-11-23/P002", "number": "P002", "service": "poliisi", "counter": "3"},
                             {"ticket": "2025-11-23/K003", "number": "K003", "service": "kela", "counter": "1"},
                             {"ticket": "2025-11-23/N004", "number": "N004", "service": "neuvonta", "counter": "9"},
                             {"number": "bad one"}, "junk", {"service": "kela"}],
                  "no_shows": [{"ticket": "2025-11-23/K007", "number": "K007", "service": "kela"},
                               {"ticket": "2025-11-23/G002", "number": "G002", "service": "digituki"},
                               {"number": 7}, None]}
    v = panel_view(t, site, "1", st)
    assert [(p.number, p.own, p.text) for p in v.parked] == [
        ("K003", True, "Kela · täällä"),
        ("K005", False, "Kela · Tiski 2"),
        ("P002", False, "Poliisin lupapalvelut · Tiski 3"),
        ("N004", False, "Palveluneuvonta · toinen tiski")]
    assert [(n.number, n.text) for n in v.no_shows] == [("K007", "Kela"), ("G002", "Digituki")]
    # the same state seen from counter 3: its own first
    assert [p.number for p in panel_view(t, site, "3", st).parked] == ["P002", "K005", "K003", "N004"]
    # a state without the lists (an older hub): empty lists
    v = panel_view(t, site, "1", STATE)
    assert v.parked == [] and v.no_shows == []


def test_the_engines_snapshot_feeds_the_lists():
    """The wire commands the panel sends, through core.commands and the real engine: its snapshot
    has the shape the panel reads."""
    site = site_with_outcomes()
    run = _Engine(site)
    now = 1_763_884_800_000  # 2025-11-23, 10:00 in Helsinki
    for svc in ("kela", "kela", "kela"):
        assert run({"cmd": "take", "service": svc}, now)["ok"]
    assert run({"cmd": "open", "counter": "1"}, now)["ok"]
    assert run({"cmd": "call_number", "counter": "1", "number": normalize_number("k3")}, now)["number"] == "K003"
    assert run({"cmd": "park", "counter": "1"}, now)["ok"]
    assert run({"cmd": "call", "counter": "1"}, now)["number"] == "K001"
    assert run({"cmd": "no_show", "counter": "1"}, now)["ok"]
    t = translator("en", site)
    v = panel_view(t, site, "1", run.state.snapshot(now))
    assert [(p.number, p.own) for p in v.parked] == [("K003", True)] and v.current is None
    assert [n.number for n in v.no_shows] == ["K001"] and v.waiting_total == 1
    assert run({"cmd": "requeue", "counter": "1", "number": "K001"}, now)["ok"]
    assert run({"cmd": "call_number", "counter": "1", "number": "K003"}, now)["ok"]
    v = panel_view(t, site, "1", run.state.snapshot(now))
    assert v.parked == [] and v.no_shows == [] and v.waiting_total == 2 and v.current.number == "K003"
    assert [o.id for o in v.current.outcomes] == SERVICE_OUTCOMES["kela"]
    refused = run({"cmd": "finish", "counter": "1", "outcome": "nope"}, now)
    assert refused["error"] == "unknown_outcome"
    assert error_text(t, refused, sent={"cmd": "finish", "outcome": "nope"}, site=site) == \
        t(ERRORS["unknown_outcome"]) + " This service's outcomes: Advice given, Application received, " \
        "Digital support given, Referred elsewhere."
    assert run({"cmd": "finish", "counter": "1", "outcome": "advice"}, now)["ok"]
    assert [e.data.get("outcome") for e in run.events if e.type == "ticket.finished"] == ["advice"]


class _Engine:
    """The queue engine in memory, fed wire commands as a counter sends them."""

    def __init__(self, site):
        from core.engine import Engine, QueueState

        self.site, self.events = site, []
        self.state = QueueState(site)
        self.engine = Engine(self.state, self.commit)

    def commit(self, items, now):
        from core.events import Event

        out = []
        for etype, data in items:
            seq = len(self.events) + 1
            out.append(Event(id=f"ev{seq:012d}", site=self.site.id, device="hub-1", seq=seq, type=etype, ts=now,
                             data=data))
        self.events += out
        return out

    def __call__(self, payload: dict, now: int) -> dict:
        from core.commands import parse_command

        return self.engine.handle(parse_command(payload), now)


@pytest.mark.parametrize("lang", ["fi", "sv", "en"])
def test_words_for_the_new_refusals(lang):
    site = site_with_outcomes()
    t = translator(lang, site)
    call = {"cmd": "call_number", "counter": "1", "number": "K012"}
    requeue = {"cmd": "requeue", "counter": "1", "number": "K012"}
    # without the command (as the wire-error test asks): the general words
    for code in ("unknown_number", "not_callable", "not_no_show", "unknown_outcome"):
        assert error_text(t, {"ok": False, "error": code}) == t(ERRORS[code])
        assert "{" not in t(ERRORS[code]) and (lang == "en" or t(ERRORS[code]) != ERRORS[code])
    # with it: the number, and why, from the state the answer carries
    assert error_text(t, {"ok": False, "error": "unknown_number"}, sent=call) == \
        t(UNKNOWN_NUMBER_SENT).format(number="K012")
    for state in ("called", "finished", "cancelled", "no_show"):
        text = error_text(t, {"ok": False, "error": "not_callable", "state": state}, sent=call)
        assert text == t(STATE_ERRORS[state]).format(number="K012") and "K012" in text
    for state in ("waiting", "parked", "called", "finished", "cancelled"):
        text = error_text(t, {"ok": False, "error": "not_no_show", "state": state}, sent=requeue)
        assert text == t(STATE_ERRORS[state]).format(number="K012")
    # a state the panel does not know yet: the general words
    assert error_text(t, {"ok": False, "error": "not_callable", "state": "lost"}, sent=call) == \
        t(ERRORS["not_callable"])
    # the outcomes the service offers, by name; none at all
    text = error_text(t, {"ok": False, "error": "unknown_outcome", "outcomes": ["advice", "referred"]},
                      sent={"cmd": "finish", "outcome": "application"}, site=site)
    assert text.startswith(t(ERRORS["unknown_outcome"])) and OUTCOMES["referred"][lang] in text
    text = error_text(t, {"ok": False, "error": "unknown_outcome", "outcomes": []}, site=site)
    assert text == t(ERRORS["unknown_outcome"]) + " " + t(NO_OUTCOMES_OFFERED)
    # every text of a state is translated
    if lang != "en":
        assert all(t(m) != m for m in STATE_ERRORS.values())


def test_success_texts_of_the_new_commands():
    site = site_with_outcomes()
    t = translator("fi", site)
    assert success_text(t, site, "call_number", {"number": "K003"}) == "Kutsuttu: K003."
    assert success_text(t, site, "park", {"number": "K003"}).startswith("K003 pysäköity.")
    assert success_text(t, site, "requeue", {"number": "K001"}) == "K001 on taas jonossa, ensimmäisenä."
    assert success_text(t, site, "finish", {"number": "K003"}, {"cmd": "finish", "outcome": "advice"}) == \
        "K003 valmis: Neuvottu."
    assert success_text(t, site, "finish", {"number": "K003"}, {"cmd": "finish"}) == "K003 valmis."
    sv = translator("sv", site)
    assert success_text(sv, site, "finish", {"number": "K003"}, {"outcome": "referred"}) == "K003 klar: Hänvisad vidare."


def test_keypad_letters_and_keys(example_site):
    assert keypad_letters(example_site, "1") == ["N", "G", "K"]
    assert keypad_letters(example_site, "3") == ["P"]
    assert keypad_letters(example_site, "H2") == ["M", "T", "U", "A", "E", "L", "R"]
    keys = keypad_keys(["N", "G", "K"])
    assert keys[:3] == ["N", "G", "K"] and sorted(k for k in keys if k.isdigit()) == list("0123456789")
    assert BACK in keys and CLEAR in keys


@pytest.mark.parametrize("typed, number", [
    ("K12", "K012"), ("k12", "K012"), ("K012", "K012"), (" k 7 ", "K007"), ("K0012", "K012"),
    ("KA1234567", "KA1234567"), ("K1234", "K1234"),
    ("K", None), ("12", None), ("K000", None), ("12K", None), ("KAB1", None), ("K12345678", None), ("", None),
    ("Ä1", None), ("K-1", None),
])
def test_normalize_number(typed, number):
    assert normalize_number(typed) == number


def test_number_entry_on_the_keypad_and_the_keyboard(example_site):
    t = translator("en", example_site)
    prefixes = {s.prefix for s in example_site.services.values()}
    e = NumberEntry(keypad_letters(example_site, "1"), prefixes)
    assert e.text == "" and e.number is None and e.problem(t) == \
        t("Type the letter and the digits of the number on the customer's ticket.")
    for k in "K12":
        assert e.press(k)
    assert (e.text, e.number, e.problem(t)) == ("K12", "K012", "")
    assert e.press(BACK) and e.press(BACK) and e.text == "K"
    assert e.problem(t) == t("Type the digits of the number.")
    assert e.press(BACK) and e.text == "" and not e.press(BACK)
    # the keyboard: lower case, a letter replaces a letter, a letter after a number starts a new one
    e.type_text("n")
    assert e.text == "N"
    e.type_text("g5")
    assert e.number == "G005"
    e.type_text("k3")
    assert e.number == "K003"
    # digits first: the letter goes in front
    e.press(CLEAR)
    e.type_text("12k")
    assert (e.text, e.number) == ("K12", "K012")
    # at most 7 digits; other keys do nothing
    e.press(CLEAR)
    e.type_text("K123456789")
    assert e.text == "K1234567"
    assert not e.press("+") and not e.press("ä") and not e.press("")
    # a letter no service has: said so (the keyboard can type any)
    e.press(CLEAR)
    e.type_text("X1")
    assert e.number is None and e.problem(t) == t("No service of this site has the letter {letter}.").format(letter="X")
    e.press(CLEAR)
    e.type_text("K0")
    assert e.number is None and e.problem(t) == t("Type the digits of the number.")
    # a counter with one service: its letter is there from the start
    e = NumberEntry(keypad_letters(example_site, "3"), prefixes)
    assert e.text == "P"
    e.type_text("7")
    assert e.number == "P007"
    # two-letter prefixes: the second letter joins the first
    e = NumberEntry(["KA", "K"], {"KA", "K"})
    e.type_text("KA5")
    assert e.number == "KA005"
