"""Time limits on the kiosk (issue 16, item 1; WCAG 2.2.1 "Timing adjustable").

The "more time?" prompt comes after at least 60 s without a touch and leaves at least 20 s to
answer (defaults 60 + 30: idle_s = 90, idle_warn_s = 30); shorter configured times are raised
with a logged notice. The prompt is read aloud when speech is on, in the customer's language (a
language without a voice says so on screen instead); "More time" doubles the quiet time before
the next prompt, up to MAX_MORE_TIME times. The language and the accessibility choices survive
the prompt and "More time"; only the reset after the customer has gone drops them.

Pure rules first (kiosk.settings, kiosk.flow), then the kiosk in a real window under Xvfb, its
clock moved on (SteppedClock), speech played through a fake player that records what it got.
Screenshots: test-output/kiosk/.
"""
from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import pytest

from kiosk import flow as F
from kiosk.settings import MIN_ANSWER_S, MIN_WARN_AFTER_S, parse_kiosk
from tests.support.kivy_driver import REPO, run_scenario

SHOTS = REPO / "test-output" / "kiosk"
DEFAULTS = parse_kiosk({})


@pytest.fixture
def authority(tmp_path, example_site):
    from core.store import EventStore
    from hub.authority import QueueAuthority

    store = EventStore(tmp_path / "hub.sqlite", example_site.id, "hub-1")
    yield QueueAuthority(example_site, store)
    store.close()


def make_flow(site, settings=DEFAULTS) -> F.Flow:
    return F.Flow(site, settings, "kiosk-1", settle_s=0.0)


# --- settings --------------------------------------------------------------------------------

def test_the_defaults_give_60_s_before_the_prompt_and_30_s_to_answer():
    s = DEFAULTS
    assert (s.idle_s, s.idle_warn_s, s.warn_after_s) == (90, 30, 60)
    assert s.ticket_idle_s == 60, "the ticket screen's own time is unchanged"
    assert s.notices == ()
    assert MIN_WARN_AFTER_S == 60 and MIN_ANSWER_S == 20


def test_an_old_configuration_still_loads_with_its_times_raised_and_a_notice(caplog):
    with caplog.at_level(logging.WARNING, logger="kiosk.settings"):
        s = parse_kiosk({"idle_s": 30, "idle_warn_s": 10})  # the old defaults
    assert (s.idle_warn_s, s.warn_after_s, s.idle_s) == (20, 60, 80)
    assert s.ticket_idle_s == 60
    assert len(s.notices) == 2 and "idle_warn_s = 10" in s.notices[0] and "idle_s = 30" in s.notices[1]
    assert [r.getMessage() for r in caplog.records if r.name == "kiosk.settings"] == [
        f"[kiosk] {n}" for n in s.notices]
    # only the prompt's time too short
    s = parse_kiosk({"idle_s": 45})
    assert (s.idle_s, s.idle_warn_s) == (90, 30) and len(s.notices) == 1
    # long enough: kept as configured, no notice; a configured longer idle_s still lengthens the ticket screen
    s = parse_kiosk({"idle_s": 150, "idle_warn_s": 40})
    assert (s.idle_s, s.idle_warn_s, s.warn_after_s, s.ticket_idle_s, s.notices) == (150, 40, 110, 150, ())


def test_times_outside_the_schema_are_still_errors():
    from core.config import ConfigError

    with pytest.raises(ConfigError) as e:
        parse_kiosk({"idle_s": 2, "idle_warn_s": "soon"})
    assert {i.field for i in e.value.issues} >= {"kiosk.idle_s", "kiosk.idle_warn_s"}


# --- the timing rules ------------------------------------------------------------------------

def test_idle_limits_per_screen_and_factor():
    s = DEFAULTS
    assert F.idle_limits(s, F.START) == (60, 30)
    assert F.idle_limits(s, F.SERVICES, 2) == (120, 30)
    assert F.idle_limits(s, F.NEEDS, 4) == (240, 30)
    assert F.idle_limits(s, F.NEEDS, 64) == (60 * F.MAX_MORE_TIME, 30), "capped"
    assert F.idle_limits(s, F.TICKET) == (30, 30), "the ticket screen keeps its 60 s in all"
    assert F.idle_limits(parse_kiosk({"ticket_idle_s": 30}), F.HELP) == (15, 15)


def test_more_time_doubles_up_to_the_cap():
    seq = [1]
    for _ in range(5):
        seq.append(F.next_factor(seq[-1]))
    assert seq == [1, 2, 4, 8, 8, 8] and F.MAX_MORE_TIME == 8


def _customer_with_choices(f: F.Flow, t: float = 0.0) -> None:
    f.set_language("sv", t)
    f.toggle("large_text", t)
    f.toggle("high_contrast", t)
    f.toggle("speak", t)
    f.take_number(t)
    assert f.screen == F.SERVICES


def _kept(f: F.Flow) -> bool:
    return (f.lang == "sv" and f.prefs == F.Prefs(large_text=True, high_contrast=True, speak=True)
            and f.screen == F.SERVICES)


def test_the_prompt_comes_after_the_configured_time_and_not_before(example_site):
    f = make_flow(example_site)
    _customer_with_choices(f)
    assert f.tick(59.9) == "ok" and not f.warning
    assert f.tick(60.0) == "warn" and f.warning and f.warnings == 1
    assert _kept(f)
    assert f.idle_remaining(60.0) == pytest.approx(30)
    assert f.tick(89.9) == "warn" and _kept(f)
    assert f.tick(90.0) == "reset"
    assert f.screen == F.START and f.lang == example_site.default_language and f.prefs == F.Prefs()
    assert f.more_time_factor == 1 and f.pristine


def test_more_time_doubles_and_keeps_the_language_and_settings(example_site):
    f = make_flow(example_site)
    _customer_with_choices(f)
    t = 60.0
    assert f.tick(t) == "warn"
    f.more_time(t + 5)
    assert not f.warning and f.more_time_factor == 2 and _kept(f)
    t += 5
    assert f.tick(t + 119.9) == "ok"
    assert f.tick(t + 120) == "warn" and f.warnings == 2
    # the app's path: the touch that presses the button closes the prompt, then the button's action
    t += 120
    f.touch(t + 1)
    f.more_time(t + 1)
    assert f.more_time_factor == 4 and _kept(f)
    t += 1
    assert f.tick(t + 239) == "ok" and f.tick(t + 240) == "warn"
    t += 240
    f.more_time(t)
    assert f.more_time_factor == 8
    t_ = t
    assert f.tick(t_ + 480) == "warn"
    f.more_time(t_ + 480)
    assert f.more_time_factor == 8, "capped"
    # a touch elsewhere keeps the customer but does not double
    assert f.tick(t_ + 480 + 480) == "warn"
    f.touch(t_ + 961)
    assert f.more_time_factor == 8 and not f.warning and _kept(f)
    # the customer goes: the prompt runs out, everything back to how the next one finds it
    assert f.tick(t_ + 961 + 480) == "warn"
    assert f.tick(t_ + 961 + 510) == "reset"
    assert f.pristine and f.more_time_factor == 1
    f.take_number(2000)
    assert f.tick(2059) == "ok" and f.tick(2060) == "warn", "the next customer starts from 60 s again"


def test_a_finished_ticket_flow_drops_the_choices(example_site, authority):
    from tests.test_kiosk_flow import run

    f = make_flow(example_site)
    _customer_with_choices(f)
    f.choose_service("kela", 0)
    f.get_number(0)
    run(f, authority, 0)
    assert f.screen == F.TICKET and f.lang == "sv" and f.prefs.large_text
    f.done(1)
    assert f.pristine and f.lang == example_site.default_language and f.prefs == F.Prefs()


# --- in a real window --------------------------------------------------------------------------

@pytest.mark.ui
@pytest.mark.broker
def test_the_prompt_in_a_window_spoken_extended_and_reset(tmp_path, broker):
    log = tmp_path / "played.txt"
    player = tmp_path / "fake-player"
    player.write_text(f"#!/bin/sh\necho \"$@\" >> {log}\n")
    player.chmod(0o755)
    out = tmp_path / "result.json"
    result = run_scenario("tests.test_kiosk_time:prompt_scenario", tmp_path, output_dir=SHOTS,
                          params={"broker_port": broker.port, "player": [str(player)], "out": str(out)},
                          timeout=150)
    r = json.loads(out.read_text())
    spoken = [tuple(x) for x in r["spoken"]]
    prompts = [(lang, t) for lang, t in spoken if "mer tid" in t]
    assert len(prompts) == 3, spoken  # the first prompt, after each "More time", the unanswered one
    assert all(lang == "sv" for lang, _ in prompts)
    for _, text in prompts:
        assert re.fullmatch(r"Behöver du mer tid\? Skärmen börjar om om (29|30) sekunder\. "
                            r"Ja, jag behöver mer tid", text), text
    assert r["no_voice_prompt_spoken"] == [], "nothing read in another language for Somali"
    played = log.read_text().split()
    assert sum(p.endswith("-sv.wav") for p in played) >= 3, played  # the fake player got the prompts
    got = {Path(p).stem for p in result["screenshots"]}
    assert {"kiosk-time-prompt-sv", "kiosk-time-prompt-again-sv", "kiosk-time-after-reset",
            "kiosk-time-prompt-so-no-voice"} <= got
    for p in result["screenshots"]:
        assert Path(p).stat().st_size > 20_000, p


def prompt_scenario(ctx):
    """The kiosk with speech through a fake player: choices made, the prompt, "More time"
    twice, the reset; then Somali, which has no voice."""
    from tests.ui_scenarios.kiosk_support import KioskEnv

    env = KioskEnv(ctx, kiosk={"idle_s": 90, "idle_warn_s": 30, "ticket_idle_s": 60})
    app = ctx.start(env.app)
    app.speech_player = ctx.params["player"]
    f = app.flow
    yield ctx.until(lambda: app.root is not None and env.rendered(), "app built")
    yield ctx.until(lambda: app.hub.connected, "kiosk connected")

    yield from env.tap("lang_sv")
    yield ctx.until(lambda: f.lang == "sv" and env.rendered(), "Swedish")
    for pref in ("large_text", "high_contrast", "speak"):
        yield from env.tap(f"toggle_{pref}")
        yield ctx.until(lambda pref=pref: getattr(f.prefs, pref) and env.rendered(), f"{pref} on")
    yield from env.tap("take_number")
    yield from env.screen(F.SERVICES)
    chosen = F.Prefs(large_text=True, high_contrast=True, speak=True)

    def kept() -> bool:
        return f.lang == "sv" and f.prefs == chosen and f.screen == F.SERVICES

    # Not before the configured time: 59 s of quiet, a tick, no prompt.
    # (counted from the last touch: the scenario's own taps took real time too)
    env.clock.advance(f.idle.last_touch + 59.0 - app.now())
    app._tick(0)
    yield ctx.frames(3)
    assert not f.warning and not env.has("more_time")
    # Then it comes, and is read aloud in Swedish.
    env.clock.advance(1.5)
    yield ctx.until(lambda: f.warning and env.rendered() and env.has("more_time"), "the prompt")
    yield ctx.until(lambda: any("mer tid" in t for _, t in app.spoken), "the prompt spoken")
    assert kept(), (f.lang, f.prefs, f.screen)
    yield from env.shot("time-prompt-sv")
    # "More time": the prompt goes, everything stays, and the next prompt comes after 120 s.
    ctx.tap(env.widget("more_time"))
    yield ctx.until(lambda: not f.warning and env.rendered(), "prompt gone")
    assert f.more_time_factor == 2 and kept()
    env.clock.advance(f.idle.last_touch + 119.0 - app.now())
    app._tick(0)
    yield ctx.frames(3)
    assert not f.warning, "not after 60 s any more"
    env.clock.advance(1.5)
    yield ctx.until(lambda: f.warning and env.rendered() and env.has("more_time"), "the prompt again")
    yield ctx.until(lambda: sum("mer tid" in t for _, t in app.spoken) == 2, "spoken again")
    assert kept()
    yield from env.shot("time-prompt-again-sv")
    ctx.tap(env.widget("more_time"))
    yield ctx.until(lambda: not f.warning and env.rendered(), "prompt gone")
    assert f.more_time_factor == 4 and kept()
    yield from env.shot("time-after-more-time-sv")
    # Nobody answers the next prompt: the reset, to the start screen with the defaults.
    env.clock.advance(240.5)
    yield ctx.until(lambda: f.warning and env.rendered(), "third prompt")
    env.clock.advance(30.0)
    yield ctx.until(lambda: f.screen == F.START and f.pristine and env.rendered(), "reset to the start")
    assert f.lang == env.site.default_language and f.prefs == F.Prefs() and f.more_time_factor == 1
    yield ctx.frames(3)
    yield from env.shot("time-after-reset")
    assert "Tervetuloa" in "\n".join(app.all_texts())
    # Somali has no voice: the prompt says so on screen, and nothing is read instead of it.
    yield from env.tap("lang_so")
    yield ctx.until(lambda: f.lang == "so" and env.rendered(), "Somali")
    yield from env.tap("toggle_speak")
    yield ctx.until(lambda: f.prefs.speak and env.rendered(), "speech on")
    # The start screen says so too, in Somali; what is read is English, said to be English.
    assert env.widget("notice_no_voice").label.text == "Kor u akhrin lagama heli karo luqaddan."
    lang, said = app.spoken[-1]
    assert lang == "en" and said.startswith("Read aloud is not available in this language."), app.spoken[-1]
    before = len(app.spoken)
    env.clock.advance(60.5)
    yield ctx.until(lambda: f.warning and env.rendered() and env.has("idle_no_voice"), "the prompt in Somali")
    yield ctx.frames(3)
    note = env.widget("idle_no_voice").text
    assert note == "Kor u akhrin lagama heli karo luqaddan.", note
    yield from env.shot("time-prompt-so-no-voice")
    # the fake player has played what was queued
    yield ctx.until(lambda: app._speaker is not None and app._speaker.pending() == 0
                    and len(app.speech_done) >= before, "speech played", timeout=60)
    Path(ctx.params["out"]).write_text(json.dumps({
        "spoken": app.spoken,
        "no_voice_prompt_spoken": app.spoken[before:],
    }))
