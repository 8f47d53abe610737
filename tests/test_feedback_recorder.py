"""feedback.given events: their shape, the comment rules, durability before confirmation, one
path for touches and buttons with the misuse flags, attribution that keeps only the service,
and the [feedback] settings."""
from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.config import ConfigError, load_site, parse_device
from core.events import parse_event
from core.store import EventStore, StoreFullError
from feedback_terminal.attribution import ScanBuffer, service_from_scan
from feedback_terminal.misuse import MisuseGuard
from feedback_terminal.recorder import (
    EVENT_TYPE,
    MASK,
    Recorder,
    RecorderThread,
    Response,
    clean_comment,
    latest_responses,
    local_time,
    new_response,
)
from feedback_terminal.style import COMMENT_BG, COMMENT_PLACEHOLDER, COMMENT_TEXT
from feedback_terminal.terminal import Terminal
from tests.support.wait import wait_until
from uikit.theme import contrast

REPO = Path(__file__).resolve().parent.parent
SITE = load_site(REPO / "assets" / "sites" / "example.toml")
PREFIXES = {sid: s.prefix for sid, s in SITE.services.items()}


# --- the event data --------------------------------------------------------------------------

def test_a_rating_and_its_answers_are_snapshots_of_one_response(tmp_path):
    r = new_response(4, 5, "sv", "Europe/Helsinki", flags=["interval"], service="kela", now_s=1_795_437_000)
    assert r.local_time == "2026-11-23T14:30+02:00"
    s2 = r.answer("outcome", "done")
    s3 = s2.answer("self_service", "no")
    s4 = s3.with_context("en").answer("comment", "Bra\tservice\n")
    assert [s.rev for s in (r, s2, s3, s4)] == [1, 2, 3, 4]
    assert s4.data() == {
        "response": r.id, "part": "comment", "rev": 4, "rating": 4, "scale": 5, "outcome": "done",
        "self_service": "no", "comment": "Bra service ", "language": "en", "input": "touch",
        "flags": ["interval"], "local_time": "2026-11-23T14:30+02:00", "service": "kela"}
    with EventStore(tmp_path / "s.sqlite", "example-pp", "feedback-1") as store:
        rec = Recorder(store)
        events = [rec.record(s) for s in (r, s2, s3, s4)]
    for ev in events:
        parsed = parse_event(ev.to_dict())  # what the central ingest will accept
        assert parsed and parsed.type == EVENT_TYPE
    latest = latest_responses(events)
    assert list(latest) == [r.id] and latest[r.id]["rev"] == 4


def test_latest_responses_counts_each_response_once():
    a = new_response(5, 5, "fi", "UTC")
    b = new_response(1, 5, "fi", "UTC")
    stream = [a.data(), b.data(), a.answer("outcome", "done").data(), b.answer("self_service", "yes").data()]
    latest = latest_responses(stream)
    assert len(latest) == 2
    assert latest[a.id]["outcome"] == "done" and latest[b.id]["self_service"] == "yes"
    assert latest_responses([{"rating": 3, "scale": 5}]) == {}  # not a terminal response


def test_the_report_query_counts_each_clean_response_once(tmp_path):
    import json

    from feedback_terminal.recorder import REPORT_SQL

    a = new_response(5, 5, "fi", "UTC")
    b = new_response(1, 5, "fi", "UTC", flags=["interval"])
    c = new_response(3, 5, "sv", "UTC")
    with EventStore(tmp_path / "s.sqlite", "example-pp", "feedback-1") as store:
        rec = Recorder(store)
        for snap in (a, b, a.answer("outcome", "done"), c, a.answer("outcome", "done").answer("self_service", "no"),
                     b.answer("outcome", "not_done")):
            rec.record(snap)
        store.append("printer.fault", {"reason": "paper"})
        rows = [json.loads(r[0]) for r in store.conn.execute(REPORT_SQL)]
    got = sorted((d["response"], d["rev"], d["self_service"]) for d in rows)
    assert got == sorted([(a.id, 3, "no"), (c.id, 1, None)])


@pytest.mark.parametrize("kw", [dict(rating=6), dict(rating=0), dict(rating=True), dict(scale=7),
                                dict(scale=3, rating=4), dict(outcome="maybe"), dict(self_service="perhaps"),
                                dict(input="voice")])
def test_impossible_responses_are_refused(kw):
    base = dict(id="x", rating=3, scale=5, language="fi", local_time="t")
    base.update(kw)
    with pytest.raises(ValueError):
        Response(**base)


def test_comment_control_characters_removed_capped_and_otherwise_as_typed():
    assert clean_comment("Hyvä\x00 palvelu\x1b[31m!\u202e") == "Hyvä palvelu[31m!"
    assert clean_comment("rivi\r\nrivi") == "rivi  rivi"
    assert clean_comment("ÄÖÅ äöå ĳ 😀 Привет") == "ÄÖÅ äöå ĳ 😀 Привет"  # nothing normalised
    assert clean_comment("x" * 900, 500) == "x" * 500
    assert clean_comment("   ") is None and clean_comment("\x07") is None and clean_comment(None) is None


def test_comment_identity_codes_and_phone_numbers_are_masked():
    """DESIGN.md: no personal identity code or phone number is stored anywhere."""
    assert clean_comment("hetu 131052-308T kiitos") == f"hetu {MASK} kiitos"
    assert clean_comment("soita 040 123 4567 tai +358401234567") == f"soita {MASK} tai {MASK}"
    assert clean_comment("jonotin 45 min, numero K042") == "jonotin 45 min, numero K042"


@given(st.text(max_size=700))
def test_any_comment_is_clean_text_within_the_cap(text):
    out = clean_comment(text, 300)
    if out is not None:
        assert len(out) <= 300
        assert not any(ord(c) < 32 or 0x7F <= ord(c) < 0xA0 for c in out)
        assert "\u202e" not in out


def test_local_time_is_the_site_time_to_the_minute():
    assert local_time(1_782_900_045.9, "Europe/Helsinki") == "2026-07-01T13:00+03:00"


def test_comment_box_colours_reach_7_to_1():
    assert contrast(COMMENT_TEXT, COMMENT_BG) >= 7 and contrast(COMMENT_PLACEHOLDER, COMMENT_BG) >= 7


# --- durability and the one path for every press ---------------------------------------------

def test_the_callback_comes_only_once_the_event_is_on_disk(tmp_path):
    path = tmp_path / "events.sqlite"
    rec = RecorderThread(path, "example-pp", "feedback-1").start()
    seen = []

    def on_done(resp, event, error):
        # Another connection (another process would be the same) already sees it.
        conn = sqlite3.connect(str(path))
        try:
            n = conn.execute("SELECT count(*) FROM events WHERE json_extract(data, '$.response') = ? "
                             "AND json_extract(data, '$.rev') = ?", (resp.id, resp.rev)).fetchone()[0]
        finally:
            conn.close()
        seen.append((error, event.seq if event else None, n))

    try:
        r = new_response(3, 5, "fi", "UTC")
        rec.submit(r, on_done)
        rec.submit(r.answer("outcome", "done"), on_done)
        wait_until(lambda: len(seen) == 2, what="both callbacks")
    finally:
        rec.stop()
    assert seen == [(None, 1, 1), (None, 2, 1)]


def test_a_failed_write_is_reported_not_confirmed_and_the_writer_goes_on(tmp_path, monkeypatch):
    rec = RecorderThread(tmp_path / "events.sqlite", "example-pp", "feedback-1").start()
    real = Recorder.record
    calls = {"n": 0}

    def flaky(self, response):
        calls["n"] += 1
        if calls["n"] == 1:
            raise StoreFullError("disk full, the event was not stored")
        return real(self, response)

    monkeypatch.setattr(Recorder, "record", flaky)
    results = []
    try:
        rec.submit(new_response(1, 5, "fi", "UTC"), lambda r, e, err: results.append((e, err)))
        rec.submit(new_response(2, 5, "fi", "UTC"), lambda r, e, err: results.append((e, err)))
        wait_until(lambda: len(results) == 2, what="both results")
    finally:
        rec.stop()
    assert results[0][0] is None and isinstance(results[0][1], StoreFullError)
    assert results[1][0] is not None and results[1][1] is None
    assert (rec.written, rec.failed) == (1, 1)


def test_touches_and_buttons_share_one_path_flags_are_stored_presses_never_dropped(tmp_path):
    rec = RecorderThread(tmp_path / "events.sqlite", "example-pp", "feedback-1").start()
    done = []
    term = Terminal(rec, MisuseGuard(min_interval_s=5, burst_count=3, burst_window_s=10), scale=5,
                    tz="Europe/Helsinki", context=lambda: ("fi", None),
                    on_rating=lambda r, e, err: done.append((r, e, err)))
    t0 = 1000.0
    try:
        term.press(4, t0, "touch")                 # clean
        term.press(4, t0 + 1, "touch")             # too soon: interval
        threads = [threading.Thread(target=term.press, args=(i % 5 + 1, t0 + 6 + i * 0.01, "button"))
                   for i in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wait_until(lambda: len(done) == 8, what="all 8 presses recorded")
    finally:
        rec.stop()
    assert all(err is None for _, _, err in done)
    with EventStore(tmp_path / "events.sqlite", "example-pp", "feedback-1") as store:
        events = store.events()
    assert len(events) == 8 == term.presses
    assert events[0].data["flags"] == [] and events[1].data["flags"] == ["interval"]
    assert any("burst" in e.data["flags"] for e in events[2:])
    assert [e.data["input"] for e in events].count("button") == 6
    assert term.flagged == sum(1 for e in events if e.data["flags"])


# --- attribution -----------------------------------------------------------------------------

@pytest.mark.parametrize("payload,service", [
    ("https://jono.example.fi/t/example-pp/Xq3vT9pLmN2bR7sK?n=K042", "kela"),
    ("https://jono.example.fi/t/example-pp/kela/Xq3vT9pLmN2bR7sK", "kela"),
    ("https://queue.example.org/example-pp/Zr8_kQ2-aa9xTT0w/K042", "kela"),  # kiosk template with {number}
    ("https://jono.example.fi/q?site=example-pp&service=vero&t=abc", "vero"),
    ("https://jono.example.fi/t/2026-11-23/P007", "poliisi"),
    ("2026-11-23/N001", "neuvonta"),
    ("t012", "te"),
    ('{"site": "example-pp", "number": "D003"}', "dvv"),
    ('{"service": "migri"}', "migri"),
    ("https://jono.example.fi/t/example-pp/Xq3vT9pLmN2bR7sK", None),      # token only: no lookup
    ("https://jono.example.fi/q?site=other-site&service=kela", None),     # another site's ticket
    ('{"site": "other-site", "service": "kela"}', None),
    ("Z999", None), ("hello world", None), ("", None), ("{not json", None), ("x" * 600, None),
])
def test_a_ticket_read_gives_the_service_or_nothing(payload, service):
    got = service_from_scan(payload, PREFIXES, "example-pp")
    assert got.service == service, got.reason
    assert payload not in got.reason or not payload


def test_scanner_bursts_are_told_from_typing():
    b = ScanBuffer(gap_s=0.05)
    for i, ch in enumerate("K042"):
        b.feed_char(ch, 10 + i * 0.005)
    assert b.feed_enter(10.03) == "K042"
    for i, ch in enumerate("abc"):
        b.feed_char(ch, 20 + i * 0.5)  # a person typing on a keyboard
    assert b.feed_enter(21.5) is None
    b.feed_char("x", 30)
    assert b.feed_enter(30.01) is None  # too short to be a code


# --- settings --------------------------------------------------------------------------------

def _device(feedback: dict | None = None, role: str = "feedback"):
    doc = {"device": {"id": "feedback-1", "role": role, "site": "example-pp", "data_dir": "/tmp/x"}}
    if feedback is not None:
        doc["feedback"] = feedback
    return parse_device(doc)


def test_default_settings_follow_the_site():
    from feedback_terminal.settings import load_settings

    s = load_settings(_device(), SITE)
    assert s.flow.scale == 5 and s.flow.languages == SITE.languages and len(SITE.languages) == 13
    assert s.flow.default_language == "fi" and s.tz == "Europe/Helsinki"
    assert s.buttons is None and s.attribution is False and s.services["kela"] == "K"
    assert (s.misuse.min_interval_s, s.misuse.burst_count) == (5.0, 6)


def test_buttons_and_scale_settings():
    from feedback_terminal.settings import load_settings

    s = load_settings(_device({"scale": 3, "buttons": {"device_name": "Arcade", "keymap": {"KEY_1": 1, "KEY_2": 2,
                                                                                         "KEY_3": 3}},
                               "attribution": {"enabled": True}, "misuse": {"min_interval_s": 2}}), SITE)
    assert s.flow.scale == 3 and len(s.buttons.keymap) == 3 and s.attribution and s.misuse.min_interval_s == 2


@pytest.mark.parametrize("feedback,field", [
    ({"scale": 6}, "feedback.scale"),
    ({"scale": 3, "buttons": {"device_name": "A", "keymap": {"KEY_5": 5}}}, "feedback.buttons.keymap"),
    ({"idle_s": 10, "warn_s": 10}, "feedback.warn_s"),
    ({"colour": "red"}, "feedback.colour"),
    ({"follow_ups": ["age"]}, "feedback.follow_ups"),
    ({"misuse": {"min_interval_s": -1}}, "feedback.misuse.min_interval_s"),
    ({"buttons": {"keymap": {"KEY_1": 1}}}, "feedback.buttons"),
    ({"attribution": {"enabled": "yes"}}, "feedback.attribution.enabled"),
    ({"palette": "pink"}, "feedback.palette"),
])
def test_bad_settings_name_the_field(feedback, field):
    from feedback_terminal.settings import load_settings

    with pytest.raises(ConfigError) as exc:
        load_settings(_device(feedback), SITE)
    assert field in [i.field for i in exc.value.issues], exc.value


def test_a_device_of_another_role_is_refused():
    from feedback_terminal.settings import load_settings

    with pytest.raises(ConfigError, match="device.role"):
        load_settings(_device(role="kiosk"), SITE)


def test_cli_check_reports_the_configuration(tmp_path, capsys):
    from cli.main import main

    toml = tmp_path / "device.toml"
    toml.write_text(f'[device]\nid = "feedback-1"\nrole = "feedback"\nsite = "example-pp"\n'
                    f'site_config = "{REPO / "assets" / "sites" / "example.toml"}"\ndata_dir = "{tmp_path}"\n'
                    '[feedback]\nscale = 4\n')
    assert main(["feedback", "--config", str(toml), "--check"]) == 0
    assert "scale 4" in capsys.readouterr().out
    toml.write_text(toml.read_text().replace("scale = 4", "scale = 9"))
    assert main(["feedback", "--config", str(toml), "--check"]) == 2
    assert "feedback.scale" in capsys.readouterr().err
