"""The counter panel's view and its words, without a window."""
import pytest

from core.config import ConfigError
from counter.model import ERRORS, GENERIC_ERROR, NO_CONNECTION, error_text, panel_view, success_text, translator
from counter.settings import parse_counter

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
