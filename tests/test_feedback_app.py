"""The feedback terminal's real window under Xvfb (simulated touches, screenshots in fi, sv and en),
and the completeness of its translations in the seven kiosk languages."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from core.i18n import CITIZEN, DOMAINS, LOCALE_DIR, NATIVE_NAMES, missing_translations
from feedback_terminal.recorder import EVENT_TYPE, latest_responses
from tests.support.kivy_driver import run_scenario

DATA_KEYS = {"response", "part", "rev", "rating", "scale", "outcome", "self_service", "comment", "language",
             "input", "flags", "local_time", "service"}
SCREENS = ("start", "outcome", "self_service", "comment-empty", "comment", "thanks")
SCAN_TOKEN = "Xq3vT9pLmN2bR7sK"
SCAN = f"https://jono.example.fi/t/example-pp/{SCAN_TOKEN}?n=K042"


def _events(data_dir: Path):
    from core.store import EventStore

    with EventStore(data_dir / "events.sqlite", "example-pp", "feedback-1") as store:
        return [e for e in store.events() if e.type == EVENT_TYPE]


def _by_response(events) -> list[list]:
    """Snapshots grouped per response, responses in the order they began."""
    groups: dict[str, list] = {}
    for e in events:
        groups.setdefault(e.data["response"], []).append(e)
    return list(groups.values())


@pytest.mark.ui
def test_tour_every_screen_in_fi_sv_en_with_every_follow_up_and_a_typed_comment(tmp_path, output_dir):
    from tests.ui_scenarios.feedback import TOUR

    shots = output_dir / "screenshots"
    result = run_scenario("tests.ui_scenarios.feedback:tour", tmp_path, output_dir=shots,
                          params={"feedback": {"settle_s": 0.15}})
    for lang in ("fi", "sv", "en"):
        for screen in SCREENS:
            path = shots / f"feedback-{screen}-{lang}.png"
            assert str(path) in result["screenshots"]
            assert path.stat().st_size > 10_000, path

    events = _events(tmp_path / "data")
    groups = _by_response(events)
    assert len(groups) == 3
    for lang, snaps in zip(("fi", "sv", "en"), groups):
        rating, outcome, self_service, comment = TOUR[lang]
        assert [s.data["part"] for s in snaps] == ["rating", "outcome", "self_service", "comment"]
        assert [s.data["rev"] for s in snaps] == [1, 2, 3, 4]
        assert [s.seq for s in snaps] == sorted(s.seq for s in snaps)
        for s in snaps:
            assert set(s.data) == DATA_KEYS
        last = snaps[-1].data
        assert (last["rating"], last["scale"], last["outcome"], last["self_service"]) == (rating, 5, outcome, self_service)
        assert last["comment"] == comment  # typed on the on-screen keyboard, stored as typed
        assert last["language"] == lang and last["input"] == "touch" and last["service"] is None
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d[+-]\d\d:\d\d", last["local_time"])
        assert snaps[0].data["outcome"] is None and snaps[0].data["comment"] is None
    assert "ä" in groups[0][-1].data["comment"] and "Å" in groups[0][-1].data["comment"]
    assert "ö" in groups[1][-1].data["comment"] and "å" in groups[1][-1].data["comment"]
    latest = latest_responses(events)
    assert len(latest) == 3 and all(d["rev"] == 4 for d in latest.values())


PATHS_FEEDBACK = {
    "settle_s": 0.15, "idle_s": 20, "warn_s": 8, "thanks_s": 5,
    "misuse": {"min_interval_s": 30},
    "buttons": {"device_name": "fake", "keymap": {f"KEY_{i}": i for i in range(1, 6)}, "stuck_after_s": 0.5},
    "attribution": {"enabled": True},
}


@pytest.mark.ui
def test_skip_finish_idle_reset_buttons_misuse_and_attribution(tmp_path, output_dir):
    shots = output_dir / "screenshots"
    result = run_scenario("tests.ui_scenarios.feedback:paths", tmp_path, output_dir=shots,
                          params={"feedback": PATHS_FEEDBACK, "scan": SCAN})
    assert {Path(p).name for p in result["screenshots"]} == {"feedback-still-there-en.png", "feedback-attributed-fi.png"}

    events = _events(tmp_path / "data")
    latest = list(latest_responses(events).values())
    touch = [d for d in latest if d["input"] == "touch"]
    button = [d for d in latest if d["input"] == "button"]
    # 1. rated, everything skipped: the rating alone, nothing else
    assert (touch[0]["rating"], touch[0]["outcome"], touch[0]["self_service"], touch[0]["comment"]) == (1, None, None, None)
    assert touch[0]["flags"] == [] and touch[0]["rev"] == 1
    # 2. rated again at once: stored, flagged by the misuse guard; one answer, then Finish
    assert (touch[1]["rating"], touch[1]["outcome"], touch[1]["self_service"]) == (4, "done", None)
    assert "interval" in touch[1]["flags"]
    # 3. an empty comment sent is no comment
    assert (touch[2]["rating"], touch[2]["outcome"], touch[2]["self_service"], touch[2]["comment"]) == (2, None, "no", None)
    # 4. English, then the idle reset: the rating stays, in English
    assert (touch[3]["rating"], touch[3]["language"], touch[3]["outcome"]) == (3, "en", None)
    # 5. physical buttons: every press stored as a rating, none dropped, the burst flagged
    assert [d["rating"] for d in button] == [5, 1, 2, 4, 3]
    assert all(d["flags"] for d in button)
    assert any("burst" in d["flags"] for d in button)
    # 6. the ticket read gave the service and nothing else
    assert touch[4]["service"] == "kela" and touch[4]["rating"] == 4
    assert all(d["service"] is None for d in touch[:4] + button)
    assert len(latest) == 10
    for f in (tmp_path / "data").iterdir():
        blob = f.read_bytes()
        assert SCAN_TOKEN.encode() not in blob and b"K042" not in blob, f"ticket data in {f.name}"
    status = json.loads((tmp_path / "data" / "feedback-status.json").read_text())
    assert status["buttons"]["configured"] is True and status["buttons"]["stuck"] == []
    assert status["stored"] == len(events) and status["store_failures"] == 0


# --- translations -------------------------------------------------------------------------

def _marked_strings() -> set[str]:
    from babel.messages.extract import extract_from_file

    path = Path(__file__).resolve().parent.parent / "feedback_terminal" / "texts.py"
    return {msg for _, msg, _, _ in extract_from_file("python", str(path), keywords={"N_": None})}


def test_the_catalog_holds_exactly_the_marked_strings():
    from babel.messages.pofile import read_po

    with (LOCALE_DIR / "en" / "LC_MESSAGES" / "feedback.po").open("rb") as f:
        ids = {m.id for m in read_po(f) if m.id}
    assert ids == _marked_strings()


@pytest.mark.parametrize("lang", DOMAINS["feedback"])
def test_every_string_is_translated(lang):
    assert lang in CITIZEN  # any language with the citizen catalogs (core.i18n)
    assert missing_translations("feedback", lang) == []


@pytest.mark.parametrize("lang", [x for x in DOMAINS["feedback"] if x != "en"])
def test_translations_keep_placeholders_and_are_not_english(lang):
    from babel.messages.pofile import read_po

    from core.i18n import translator

    with (LOCALE_DIR / lang / "LC_MESSAGES" / "feedback.po").open("rb") as f:
        cat = read_po(f)
    tr = translator(lang, "feedback")
    same = []
    for m in cat:
        if not m.id:
            continue
        assert set(re.findall(r"\{\w+\}", m.id)) == set(re.findall(r"\{\w+\}", m.string)), (lang, m.id)
        assert tr(m.id) == m.string  # the compiled catalog is the .po
        tr(m.id).format(n=1, total=3, service="Kela")
        if m.string == m.id:
            same.append(m.id)
    assert same == [], f"{lang}: left in English: {same}"


def test_language_names_are_their_own():
    assert [NATIVE_NAMES[x] for x in ("fi", "sv", "en", "ru", "et", "uk", "so")] == [
        "Suomi", "Svenska", "English", "Русский", "Eesti", "Українська", "Soomaali"]


# --- the command and the demo's simulated customers -------------------------------------------

def test_demo_lines_are_parsed_and_written(tmp_path):
    from sim.feedback_customers import DemoPresses, parse_line

    assert parse_line("touch 4 done yes") == ("touch", 4, "done", "yes")
    assert parse_line("touch 2 - -") == ("touch", 2, None, None)
    assert parse_line("button 5") == ("button", 5, None, None)
    assert parse_line("rm -rf /") is None and parse_line("") is None and parse_line("touch x") is None
    presses = DemoPresses(tmp_path / "p.txt", seed=3)
    for r in (1, 2, 3, 4, 5):
        presses(r)
    lines = (tmp_path / "p.txt").read_text().splitlines()
    assert [parse_line(x)[1] for x in lines] == [1, 2, 3, 4, 5]
    with pytest.raises(ValueError):
        presses(9)


@pytest.mark.ui
def test_the_command_runs_the_terminal_and_simulated_customers_leave_feedback(tmp_path):
    """`python -m sim.apps feedback --config … --windowed --presses FILE` as make demo runs it: the
    command's start-up path with the simulated customers handed in; SIGTERM ends it cleanly."""
    import os
    import signal
    import subprocess
    import sys
    import time

    from sim.feedback_customers import DemoPresses
    from tests.support.kivy_driver import REPO
    from tests.ui_scenarios.feedback import device_toml

    if not os.environ.get("DISPLAY"):
        pytest.skip("no X display")
    toml = device_toml(tmp_path, {"thanks_s": 2, "settle_s": 0.1})
    presses = DemoPresses(tmp_path / "presses.txt", seed=7, button_share=0.5)
    env = dict(os.environ, KIVY_NO_ARGS="1", KIVY_NO_CONSOLELOG="1", KIVY_HOME=str(tmp_path / "kivy"),
               PYTHONPATH=str(REPO), PALVELUPISTE_SCREENSHOT_DIR=str(tmp_path / "shots"))
    log = (tmp_path / "app.log").open("wb")
    proc = subprocess.Popen([sys.executable, "-m", "sim.apps", "feedback", "--config", str(toml), "--windowed",
                             "--size", "1024x700", "--presses", str(presses.path)],
                            cwd=REPO, env=env, stdout=log, stderr=log)
    try:
        status = tmp_path / "data" / "feedback-status.json"
        deadline = time.monotonic() + 30
        while not status.exists():  # written once the window is built
            assert proc.poll() is None, (tmp_path / "app.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "the terminal did not start"
            time.sleep(0.05)
        for rating in (5, 4, 2, 3):
            presses(rating)
        store_events = []
        deadline = time.monotonic() + 60
        while len({e.data["response"] for e in store_events}) < 4:
            assert proc.poll() is None, (tmp_path / "app.log").read_text()[-3000:]
            assert time.monotonic() < deadline, f"only {len(store_events)} events stored"
            time.sleep(0.1)
            store_events = _events(tmp_path / "data") if (tmp_path / "data" / "events.sqlite").exists() else []
        proc.send_signal(signal.SIGUSR1)  # the demo's screenshot request
        deadline = time.monotonic() + 15
        while not (tmp_path / "shots" / "feedback-1.png").exists():
            assert time.monotonic() < deadline, "no screenshot on SIGUSR1"
            time.sleep(0.05)
        proc.terminate()
        assert proc.wait(20) == 0, (tmp_path / "app.log").read_text()[-3000:]  # stopped through on_stop
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        log.close()
    latest = latest_responses(store_events)
    assert sorted(d["rating"] for d in latest.values()) == [2, 3, 4, 5]


@pytest.mark.ui
def test_arabic_turns_every_screen_but_the_keyboard(tmp_path, output_dir):
    shots = output_dir / "screenshots"
    result = run_scenario("tests.ui_scenarios.feedback:arabic", tmp_path, output_dir=shots,
                          params={"tag": "feedback-rtl"}, timeout=120)
    names = {p.rsplit("/", 1)[-1] for p in result["screenshots"]}
    assert {"feedback-rtl-start-ar.png", "feedback-rtl-outcome-ar.png", "feedback-rtl-comment-ar.png"} <= names
