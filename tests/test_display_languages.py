"""Issue 16, "languages as data", on the number display: the [display] `languages` setting lists the
languages the fixed labels cycle through and the calls are spoken in, in order; `label_cycle_s` is
how long each language stays.

- the setting: default fi, sv, en; only languages the site offers and that have a complete display
  catalog (fi, sv, en, ru, et, uk, so); anything else refused with a message that says why;
- the catalogs of ru, et, uk and so are complete and keep every placeholder;
- the spoken call has one part per configured language that has a voice, in the configured
  order (Somali, without a voice, is left out, never read by another voice) and the display logs
  once which languages it cannot speak;
- in a real window (Xvfb) with the injectable wall clock: the labels show each configured language
  in turn at the configured pace, the numbers stay where they are, and a screenshot per language
  goes to test-output/display/.
"""
from __future__ import annotations

import dataclasses
import logging
import os
import re
import subprocess
import sys
import threading
import time

import pytest

from core.config import ConfigError
from core.i18n import DOMAINS, Translator, compile_all, missing_translations
from display.announce import Announcer, announcement, spoken_languages, unvoiced_languages
from display.model import Call, DisplayModel
from display.settings import DISPLAY_LANGS, DisplaySettings, check_against_site, parse_display
from tests.support.kivy_driver import REPO

OUTPUT = REPO / "test-output" / "display"
ALL = ("fi", "sv", "en", "ar", "ckb", "et", "fa", "ru", "se", "so", "uk", "vi", "zh")  # official first, then by code
#: The order used in the window test: not the site's order, so that "in the configured order" shows.
ORDER = ("sv", "so", "fi", "ru", "en", "uk", "et")
CYCLE_S = 5.0


# --- the setting ------------------------------------------------------------------------------

def test_default_languages_and_pace():
    s = parse_display({})
    assert s.languages == ("fi", "sv", "en") and s.label_cycle_s == 8.0


def test_any_language_the_site_offers_with_a_display_catalog_in_any_order(example_site):
    s = parse_display({"languages": list(ORDER), "label_cycle_s": 3}, set(example_site.services),
                      site_languages=example_site.languages)
    assert s.languages == ORDER and s.label_cycle_s == 3.0
    check_against_site(s, example_site)  # no complaint
    # the earlier name of the setting is still read
    assert parse_display({"label_languages": ["uk", "fi"]}).languages == ("uk", "fi")


def _messages(exc: pytest.ExceptionInfo) -> list[str]:
    return [str(i) for i in exc.value.issues]


def test_a_language_the_site_does_not_offer_is_refused(example_site):
    site = dataclasses.replace(example_site, languages=("fi", "sv", "en"))
    with pytest.raises(ConfigError) as e:
        parse_display({"languages": ["fi", "ru", "so"]}, set(site.services), site_languages=site.languages)
    assert _messages(e) == [
        "display.languages: 'ru' is not offered by the site ([site] languages: fi, sv, en)",
        "display.languages: 'so' is not offered by the site ([site] languages: fi, sv, en)"]
    # read without the site's languages at hand, the display itself refuses it when it starts
    settings = parse_display({"languages": ["fi", "ru"]}, set(site.services))
    with pytest.raises(ConfigError) as e:
        check_against_site(settings, site)
    assert _messages(e) == ["display.languages: 'ru' is not offered by the site ([site] languages: fi, sv, en)"]


def test_a_language_without_a_complete_display_catalog_is_refused(example_site, monkeypatch):
    # Every citizen language has a display catalog today (core.i18n check holds them to it); a
    # display domain narrower than the site's languages is still refused, not shown half-English.
    import display.settings as ds

    monkeypatch.setattr(ds, "DISPLAY_LANGS", ("fi", "sv", "en", "ru", "et", "uk", "so"))
    site = example_site
    with pytest.raises(ConfigError) as e:
        parse_display({"languages": ["fi", "ar"]}, set(site.services), site_languages=site.languages)
    (msg,) = _messages(e)
    assert msg.startswith("display.languages: 'ar' has no complete display catalog "
                          "(assets/locale/ar/LC_MESSAGES/display.po)"), msg
    assert "fi, sv, en, ru, et, uk, so" in msg


def test_unknown_codes_repeats_and_an_empty_list_are_refused():
    for bad, words in ((["fi", "xx"], "'xx' is not a known language code"), (["fi", "fi"], "listed twice"),
                       ([], "at least one"), ("fi", "must be a list")):
        with pytest.raises(ConfigError) as e:
            parse_display({"languages": bad})
        assert any(words in m for m in _messages(e)), (bad, _messages(e))
    with pytest.raises(ConfigError) as e:
        parse_display({"label_cycle_s": 1})
    assert _messages(e)[0].startswith("display.label_cycle_s:")
    with pytest.raises(ConfigError) as e:
        parse_display({"languages": ["fi"], "label_languages": ["sv"]})
    assert "set either languages or label_languages" in _messages(e)[0]


def _device(tmp_path, display: str, site_languages: str | None = None):
    site = (REPO / "assets" / "sites" / "example.toml").read_text(encoding="utf-8")
    if site_languages is not None:
        site, n = re.subn(r"(?m)^languages = \[.*\]$", f"languages = {site_languages}", site, count=1)
        assert n == 1
    (tmp_path / "site.toml").write_text(site, encoding="utf-8")
    path = tmp_path / "device.toml"
    path.write_text('[device]\nid = "display-1"\nrole = "display"\nsite = "example-pp"\ndata_dir = "data"\n'
                    'site_config = "site.toml"\n\n[site_broker]\nurl = "mqtt://127.0.0.1:1883"\n\n'
                    f"[display]\nfullscreen = false\n{display}\n", encoding="utf-8")
    return path


def _cli(*args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "DISPLAY"}  # refused before any window
    return subprocess.run([sys.executable, "-m", "cli", *args], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=120)


def test_the_display_command_refuses_a_language_the_site_does_not_offer(tmp_path):
    path = _device(tmp_path, 'languages = ["fi", "sv", "ru"]', site_languages='["fi", "sv", "en"]')
    r = _cli("display", "--config", str(path))
    assert r.returncode == 2, (r.returncode, r.stderr[-2000:])
    assert "display.languages: 'ru' is not offered by the site ([site] languages: fi, sv, en)" in r.stderr


def test_check_config_refuses_a_language_the_site_does_not_offer(tmp_path):
    r = _cli("check-config", "--device", str(_device(tmp_path, 'languages = ["fi", "ar"]',
                                                     site_languages='["fi", "sv", "en"]')))
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    assert "display.languages: 'ar' is not offered by the site" in r.stderr, r.stderr


# --- the catalogs -----------------------------------------------------------------------------

_FIELD = re.compile(r"\{(\w+)\}")


def test_every_display_language_has_a_complete_catalog_with_the_placeholders():
    compile_all()
    assert DISPLAY_LANGS == DOMAINS["display"] == ALL
    from babel.messages.pofile import read_po

    for lang in ALL:
        assert missing_translations("display", lang) == [], lang
        with (REPO / "assets" / "locale" / lang / "LC_MESSAGES" / "display.po").open("rb") as f:
            cat = read_po(f)
        for m in cat:
            if not m.id:
                continue
            ids = m.id if isinstance(m.id, tuple) else (m.id,)
            strings = m.string if isinstance(m.string, tuple) else (m.string,)
            want = set(_FIELD.findall(ids[0]))
            for s in strings:
                assert set(_FIELD.findall(s)) == want, (lang, m.id, s)
    t = {lang: Translator(lang, "display") for lang in ALL}
    assert t["ru"]("Now calling") == "Сейчас вызывается"
    assert t["et"]("Last calls") == "Viimased kutsed"
    assert t["uk"]("Waiting now") == "Зараз у черзі"
    assert t["so"]("No calls yet") == "Weli cidna lama yeerin"
    assert t["ru"].ngettext("waiting", "waiting", 5) == "в очереди"


# --- the spoken call --------------------------------------------------------------------------

def _call(number="A042", counter="3") -> Call:
    c = Call.from_message({"ticket": f"t/{number}", "number": number, "counter": counter, "service": "kela",
                           "kind": "walk_in", "recall": False, "ts": 1000})
    assert c is not None
    return c


def test_the_call_is_spoken_in_the_configured_order_in_the_voiced_languages_only(example_site):
    assert spoken_languages(ORDER) == ("sv", "fi", "ru", "en", "uk", "et")
    assert unvoiced_languages(ORDER) == ("so",)
    parts = announcement(_call(), example_site, ORDER)
    assert [lang for lang, _ in parts] == ["sv", "fi", "ru", "en", "uk", "et"]
    texts = dict(parts)
    assert texts["sv"] == "Nummer A 42, Lucka 3" and texts["fi"] == "Numero A 42, Tiski 3"
    assert texts["en"] == "Number A 42, Counter 3"
    assert texts["ru"].startswith("Номер A 42, ") and texts["uk"].startswith("Номер A 42, ")
    assert texts["et"].startswith("Number A 42, ")
    # a display of Somali alone speaks nothing (the chime only)
    assert announcement(_call(), example_site, ("so",)) == []


def test_the_announcer_logs_once_which_languages_have_no_voice(example_site, tmp_path, caplog):
    done: list = []
    finished = threading.Event()

    def on_done(u, files):
        done.append(u)
        if len(done) == 2:
            finished.set()

    caplog.set_level(logging.WARNING, logger="display.announce")
    a = Announcer(example_site, ORDER, tmp_path / "speech", chime=True, player=None, on_done=on_done)
    try:
        a.announce(_call("K001", "1"))
        a.announce(_call("K002", "2"))
        assert finished.wait(60), done
    finally:
        a.close(timeout=30)
    warnings = [r.getMessage() for r in caplog.records if r.name == "display.announce"]
    assert warnings == ["display languages without a voice, shown but not spoken: so "
                        "(spoken: sv, fi, ru, en, uk, et)"], warnings
    for u in done:
        assert [lang for lang, _ in u.parts] == ["sv", "fi", "ru", "en", "uk", "et"] and u.chime
    # every language voiced: nothing to log
    caplog.clear()
    b = Announcer(example_site, ("fi", "sv", "en"), tmp_path / "speech2", player=None)
    b.close(timeout=5)
    assert not [r for r in caplog.records if r.name == "display.announce"]


def test_the_labels_take_each_language_in_turn_at_the_configured_pace(example_site):
    m = DisplayModel(example_site, DisplaySettings(languages=ORDER, label_cycle_s=CYCLE_S))
    t0 = CYCLE_S * len(ORDER) * 10_000_000
    seen = [m.label_language(t0 + i * 0.5) for i in range(int(2 * len(ORDER) * CYCLE_S / 0.5))]
    per_slot = int(CYCLE_S / 0.5)
    assert seen == [lang for lang in ORDER for _ in range(per_slot)] * 2


# --- in a real window ---------------------------------------------------------------------------

def test_labels_cycle_in_a_real_window_and_the_numbers_stay(tmp_path):
    from tests.support.kivy_driver import run_scenario

    OUTPUT.mkdir(parents=True, exist_ok=True)
    for old in OUTPUT.glob("display-labels-*.png"):
        old.unlink()
    run_scenario("tests.test_display_languages:cycling_display", tmp_path, output_dir=OUTPUT,
                 params={"speech": str(tmp_path / "speech")}, env={"KIVY_CLOCK": "default"}, timeout=120)
    for lang in ORDER:
        p = OUTPUT / f"display-labels-{lang}.png"
        assert p.exists() and p.stat().st_size > 10_000, p


class _WallClock:
    """The display's wall clock, set by the scenario."""

    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


class _FakeLink:
    """In place of the hub link: connected, a state with earlier calls, then one new call."""

    def __init__(self, on_event) -> None:
        self.on_event = on_event

    def start(self) -> "_FakeLink":
        now_ms = int(time.time() * 1000)
        services = {s: {"waiting": n, "est_wait_s": 420 * n, "open_counters": 1}
                    for s, n in (("kela", 4), ("neuvonta", 2), ("poliisi", 1))}
        earlier = [{"ticket": f"t/{n}", "number": n, "counter": c, "service": "kela", "kind": "walk_in",
                    "recall": False, "ts": now_ms - 60_000 * i} for i, (n, c) in enumerate(
                        (("K004", "2"), ("N002", "1"), ("K003", "1")), start=2)]
        self.on_event(("link", True))
        self.on_event(("state", {"ts": now_ms, "heartbeat_s": 3600, "services": services, "counters": {},
                                 "calls": earlier, "help": [], "open": True}))
        self.on_event(("call", {"ticket": "t/K005", "number": "K005", "counter": "2", "service": "kela",
                                "kind": "walk_in", "recall": False, "ts": now_ms}))
        return self

    def close(self) -> None:
        pass


def cycling_display(ctx):
    """Runs in its own process (tests.support.kivy_driver)."""
    from cli.display_cmd import kivy_settings
    from display.app import DisplayApp
    from tests.ui_scenarios.display_support import kivy_as_started, load_example_site, shot

    site = load_example_site()
    settings = parse_display({"languages": list(ORDER), "label_cycle_s": CYCLE_S, "fullscreen": False,
                              "highlight_s": 120, "speech": True}, set(site.services),
                             site_languages=site.languages)
    # a site that does not offer Russian: the display refuses to start, naming the language
    try:
        DisplayApp(dataclasses.replace(site, languages=("fi", "sv", "en", "so", "uk", "et")), settings)
    except ConfigError as exc:
        assert "'ru' is not offered by the site" in str(exc), exc
    else:
        raise AssertionError("a display language the site does not offer was accepted")

    period = CYCLE_S * len(ORDER)
    base = (time.time() // period) * period  # a real time of day (the clock text), at the first language's slot
    clock = _WallClock(base + 0.5)
    spoken: list = []
    kivy_as_started(kivy_settings(settings))
    app = ctx.start(DisplayApp(site, settings, link_factory=_FakeLink, wall_clock=clock,
                               speech_dir=ctx.params["speech"], player=None,
                               speech_on_done=lambda u, files: spoken.append(u)))
    yield ctx.until(lambda: app.root is not None and app.model.had_state and app.screen.highlighted,
                    "the display shows the new call", 20)
    scr = app.screen
    numbers = None
    for i, lang in enumerate(ORDER):
        t = Translator(lang, "display", site.timezone)
        slot_start = base + i * CYCLE_S
        clock.t = slot_start + 0.2
        yield ctx.until(lambda t=t: app._shown_lang == t.lang and scr.hist_head.text == t("Last calls"),
                        f"the labels in {lang}", 10)
        yield ctx.frames(2)
        assert scr.call_head.text == "\u25b6 " + t("Now calling") + " \u25c0", (lang, scr.call_head.text)
        assert scr.svc_head.text == t("Waiting now"), (lang, scr.svc_head.text)
        assert scr.tiles[0].wait.text.startswith(t.ngettext("waiting", "waiting", 4) + " · "), scr.tiles[0].wait.text
        assert scr.site_name.text == site.label(lang)
        assert scr.rows[0][2].text == "\u2192 " + site.counters["2"].label(lang), scr.rows[0][2].text
        # the numbers do not move: the same call, the same list, the same counts in every language
        now_numbers = (scr.call_number.text, scr.call_counter.text,
                       [num.text for _, num, _ in scr.rows], [tile.count.text for tile in scr.tiles[:3]])
        assert now_numbers[0] == "K005" and now_numbers[2][:3] == ["K004", "N002", "K003"], now_numbers
        if numbers is None:
            numbers = now_numbers
        assert now_numbers == numbers, (lang, now_numbers, numbers)
        shot(ctx, app.root, f"display-labels-{lang}")
        # still this language until its time is up, the next one after
        clock.t = slot_start + CYCLE_S - 0.1
        app._refresh()
        assert app._shown_lang == lang and scr.hist_head.text == t("Last calls")
        clock.t = slot_start + CYCLE_S + 0.1
        app._refresh()
        assert app._shown_lang == ORDER[(i + 1) % len(ORDER)]
    # the call was spoken once, in the configured order, Somali left out
    yield ctx.until(lambda: len(spoken) >= 1, "the call spoken", 60)
    assert len(spoken) == 1 and spoken[0].tag.startswith("K005@2"), spoken
    assert [lang for lang, _ in spoken[0].parts] == ["sv", "fi", "ru", "en", "uk", "et"], spoken[0].parts
