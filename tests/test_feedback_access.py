"""The feedback terminal at its physical size: touch targets, gaps, outlines, larger text, speech.

The UI tests run the real window under Xvfb (each scenario in its own process, defined at the end
of this module) at the size of the terminal's panel: 1280 x 800 pixels on a 10.1-inch screen,
150 dpi, set with the [feedback] `dpi` setting. They walk the widget tree of every screen and
measure in millimetres. Screenshots: test-output/feedback/.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.config import ConfigError
from core.schema import load
from feedback_terminal.access import (
    MIN_GAP_MM,
    MIN_OUTLINE_CONTRAST,
    MIN_TARGET_MM,
    contrast,
    edge_contrast,
    px_per_mm,
    rect_gap,
)
from feedback_terminal.settings import FEEDBACK
from tests.support.kivy_driver import run_scenario
from uikit.theme import PALETTES, STANDARD, hex_rgba

#: The terminal's panel: 10.1 inches, 1280 x 800 (149.4 dpi; 150 as a technician would set it).
PANEL = {"size": [1280, 800], "dpi": 150}
SHOTS = "feedback"


# --- the helpers, without a window --------------------------------------------------------

def test_contrast_is_the_wcag_ratio():
    white, black = hex_rgba("#FFFFFF"), hex_rgba("#000000")
    assert contrast(white, black) == pytest.approx(21.0)
    assert contrast(black, white) == pytest.approx(21.0)      # order does not matter
    assert contrast(white, white) == pytest.approx(1.0)
    assert contrast(hex_rgba("#767676"), white) == pytest.approx(4.54, abs=0.01)  # the classic AA grey
    assert contrast(hex_rgba("#959595"), white) == pytest.approx(3.0, abs=0.02)
    # the issue's figure: the blue buttons alone against the background
    assert contrast(STANDARD.button, STANDARD.background) == pytest.approx(2.1, abs=0.05)
    assert edge_contrast(STANDARD.background, []) == 1.0
    assert edge_contrast(STANDARD.background, [STANDARD.button, STANDARD.muted_text]) >= 7


@pytest.mark.parametrize("palette", sorted(PALETTES))
def test_every_outline_colour_reaches_3_to_1(palette):
    """The colours the terminal outlines its buttons and keys with (access.frame via app.outline)."""
    p = PALETTES[palette]
    for outline in (p.text, p.muted_text, p.accent):
        assert contrast(outline, p.background) >= MIN_OUTLINE_CONTRAST


def test_millimetres_and_gaps():
    assert px_per_mm(254) == pytest.approx(10.0)
    assert 15 * px_per_mm(150) == pytest.approx(88.58, abs=0.01)
    assert rect_gap((0, 0, 10, 10), (12, 0, 10, 10)) == pytest.approx(2)
    assert rect_gap((0, 0, 10, 10), (0, 13, 10, 10)) == pytest.approx(3)
    assert rect_gap((0, 0, 10, 10), (13, 14, 10, 10)) == pytest.approx(5)   # diagonal: 3-4-5
    assert rect_gap((0, 0, 10, 10), (5, 5, 10, 10)) == 0


def test_dpi_large_text_and_speech_are_settings():
    v = load(FEEDBACK, {"dpi": 150, "large_text": True, "read_aloud": True, "speech_speed": 120}, "[feedback]")
    assert (v["dpi"], v["large_text"], v["read_aloud"], v["speech_speed"]) == (150, True, True, 120)
    v = load(FEEDBACK, {}, "[feedback]")
    assert (v["dpi"], v["large_text"], v["read_aloud"]) == (0.0, False, False)
    with pytest.raises(ConfigError) as e:
        load(FEEDBACK, {"dpi": -3, "speech_speed": 5}, "[feedback]")
    assert {i.field.split(".")[-1] for i in e.value.issues} == {"dpi", "speech_speed"}, e.value.issues


def test_the_flow_keeps_the_choices_until_the_customer_has_gone():
    from feedback_terminal.flow import Flow, FlowSettings

    f = Flow(FlowSettings(settle_s=0))
    assert f.toggle("large_text", 1.0) and f.toggle("speak", 1.1)
    assert (f.large_text, f.speak) and f.idle_active()      # the idle timer counts: someone is there
    assert not f.toggle("volume", 1.2)
    f.back_to_start(2.0)
    assert (f.large_text, f.speak) == (False, False)
    f = Flow(FlowSettings(large_text=True, speak=True))
    assert (f.large_text, f.speak) == (True, True) and not f.idle_active()


# --- the real window ----------------------------------------------------------------------

def _measure_run(tmp_path, output_dir, name: str, feedback: dict) -> dict:
    out = tmp_path / "measured.json"
    run_scenario("tests.test_feedback_access:walk", tmp_path, output_dir=output_dir / SHOTS,
                 params={"size": PANEL["size"], "out": str(out), "tag": f"feedback-{name}",
                         "feedback": {"settle_s": 0.1, "dpi": PANEL["dpi"], **feedback}}, timeout=150)
    return json.loads(out.read_text())


def _check(measured: dict) -> list[str]:
    """Every target at least 15 x 15 mm, at least 2 mm from every other, its edge 3:1."""
    bad = []
    for screen, targets in measured.items():
        assert targets, f"{screen}: no touch targets found"
        for t in targets:
            if t["w_mm"] < MIN_TARGET_MM or t["h_mm"] < MIN_TARGET_MM:
                bad.append(f"{screen}: {t['id']} is {t['w_mm']:.1f} x {t['h_mm']:.1f} mm")
            if t["contrast"] < MIN_OUTLINE_CONTRAST:
                bad.append(f"{screen}: {t['id']} edge {t['contrast']:.2f}:1 against the background")
        for i, a in enumerate(targets):
            for b in targets[i + 1:]:
                gap = rect_gap(a["rect_mm"], b["rect_mm"])
                if gap < MIN_GAP_MM:
                    bad.append(f"{screen}: {a['id']} and {b['id']} {gap:.2f} mm apart")
    return bad


def _summary(measured: dict) -> dict[str, tuple[float, float]]:
    """The smallest side and gap per screen, for the log."""
    out = {}
    for screen, targets in measured.items():
        side = min(min(t["w_mm"], t["h_mm"]) for t in targets)
        gap = min((rect_gap(a["rect_mm"], b["rect_mm"]) for i, a in enumerate(targets) for b in targets[i + 1:]),
                  default=99.0)
        out[screen] = (round(side, 1), round(gap, 1))
    return out


@pytest.mark.ui
@pytest.mark.parametrize("name,feedback", [
    ("standard", {}),
    ("large", {"large_text": True}),
    ("high-contrast", {"palette": "high_contrast", "large_text": True}),
])
def test_every_target_is_15_mm_2_mm_apart_and_outlined_at_the_panel_size(tmp_path, output_dir, name, feedback):
    measured = _measure_run(tmp_path, output_dir, name, feedback)
    print(name, _summary(measured))
    assert {"start", "outcome", "self_service", "comment", "comment-shift", "comment-special", "thanks"} <= set(measured)
    assert _check(measured) == []
    keys = [t for t in measured["comment"] if t["id"].startswith("key-")]
    assert len(keys) >= 40, "the keyboard was measured"
    for shot in ("start", "outcome", "comment", "thanks"):
        assert (output_dir / SHOTS / f"feedback-{name}-{shot}.png").stat().st_size > 10_000


@pytest.mark.ui
def test_larger_text_and_speech(tmp_path, output_dir):
    log = tmp_path / "played.txt"
    player = tmp_path / "fake-player"
    player.write_text(f"#!/bin/sh\necho \"$@\" >> {log}\n")
    player.chmod(0o755)
    out = tmp_path / "result.json"
    run_scenario("tests.test_feedback_access:text_and_speech", tmp_path, output_dir=output_dir / SHOTS,
                 params={"size": PANEL["size"], "out": str(out), "player": [str(player)], "tag": "feedback-speech",
                         "feedback": {"settle_s": 0.1, "dpi": PANEL["dpi"], "idle_s": 30, "warn_s": 10}},
                 timeout=150)
    r = json.loads(out.read_text())
    # larger text: every text grows, the cap height measured from the rendered texture too
    assert r["font_large"] / r["font_normal"] == pytest.approx(1.35, abs=0.01)
    assert r["cap_large_mm"] > r["cap_normal_mm"] * 1.3, r
    assert r["cap_normal_mm"] >= 3.0, r
    for wid, (normal, large) in r["fonts"].items():
        assert large > normal * 1.3, (wid, normal, large)
    for wid, (normal, large) in r["kept"].items():
        assert large >= normal, (wid, normal, large)
    # speech: the screen read in Finnish, then in Swedish, nothing in Somali, which says so on screen
    spoken = [tuple(x) for x in r["spoken"]]
    fi = [t for lang, t in spoken if lang == "fi"]
    assert fi and "Kuinka tyytyväinen olet tänään palveluumme?" in fi[0]
    for face in ("Erittäin tyytymätön", "Tyytymätön", "Siltä väliltä", "Tyytyväinen", "Erittäin tyytyväinen"):
        assert face in fi[0]
    assert "Suurempi teksti" in fi[0] and "Lue ääneen" in fi[0]
    assert any("Hoitaisitko" in t or "Saitko" in t for t in fi), fi
    assert any("Ohita" in t and "Lopeta" in t for t in fi), fi
    assert any(t.startswith("Oletko vielä siinä?") for t in fi), "the idle warning is spoken"
    sv = [t for lang, t in spoken if lang == "sv"]
    assert sv and "Läs upp" in sv[0]
    assert {lang for lang, _ in spoken} == {"fi", "sv"}, spoken      # never Somali read by another voice
    assert r["so_note"] == "Kor u akhrintu kuma jirto luqaddan.", r["so_note"]
    played = log.read_text().split()
    assert played and all(p.endswith(("-fi.wav", "-sv.wav")) for p in played), played
    assert len(played) >= len(spoken) - 1
    assert any(size > 10_000 for _, size in r["speech_done"]), "espeak-ng rendered real audio"
    for shot in ("start-normal", "start-large", "start-so-no-voice"):
        assert (output_dir / SHOTS / f"feedback-speech-{shot}.png").exists()


# --- the scenarios (run in the child process by tests.support.kivy_driver) ----------------

def _targets(app) -> list:
    """The visible, enabled touch targets of the screen shown."""
    from kivy.uix.behaviors import ButtonBehavior

    def shown(w) -> bool:
        while w is not None and w is not app.sm:
            if w.opacity == 0:
                return False
            w = w.parent
        return True

    screen = app.sm.current_screen
    return [w for w in screen.walk(restrict=True)
            if isinstance(w, ButtonBehavior) and not w.disabled and shown(w)]


def _drawn_colours(widget) -> list:
    """The colours of the fill and of every line or shape drawn on the widget and inside it."""
    from kivy.graphics import Color, Ellipse, Line
    from kivy.uix.button import Button

    out = []
    if isinstance(widget, Button) and widget.background_color[3] > 0:
        out.append(tuple(widget.background_color))
    for w in widget.walk(restrict=True):
        for canvas in (w.canvas.before, w.canvas, w.canvas.after):
            colour = None
            for instr in canvas.children:
                if isinstance(instr, Color):
                    colour = tuple(instr.rgba)
                elif isinstance(instr, (Line, Ellipse)) and colour is not None and colour[3] > 0:
                    out.append(colour)
    return out


def _measure(app, dpi: float) -> list[dict]:
    from kivy.core.window import Window

    per_mm = dpi / 25.4
    bg = tuple(Window.clearcolor)
    out = []
    for w in _targets(app):
        x, y = w.to_window(w.x, w.y)
        out.append({"id": getattr(w, "pp_id", type(w).__name__), "w_mm": w.width / per_mm, "h_mm": w.height / per_mm,
                    "rect_mm": [x / per_mm, y / per_mm, w.width / per_mm, w.height / per_mm],
                    "contrast": edge_contrast(bg, _drawn_colours(w))})
    return out


def walk(ctx):
    """Every screen (the keyboard in all three layers) measured and photographed."""
    from tests.ui_scenarios.feedback import answer, go, make_app, rate, ready, shot, tap_when_ready

    dpi = ctx.params["feedback"]["dpi"]
    app = ctx.start(make_app(ctx, speech_player=None))
    measured: dict[str, list] = {}
    yield ready(ctx, app)
    yield ctx.frames(4)
    measured["start"] = _measure(app, dpi)
    yield from shot(ctx, app, "start")
    yield from rate(ctx, app, 4)
    yield ctx.frames(4)
    measured["outcome"] = _measure(app, dpi)
    yield from shot(ctx, app, "outcome")
    yield from answer(ctx, app, "outcome-done", "self_service")
    yield ctx.frames(4)
    measured["self_service"] = _measure(app, dpi)
    yield from answer(ctx, app, "self_service-yes", "comment")
    yield ctx.frames(4)
    measured["comment"] = _measure(app, dpi)
    yield from shot(ctx, app, "comment")
    for layer in ("shift", "special"):
        yield from tap_when_ready(ctx, app, f"key-{layer}")
        yield ctx.frames(4)
        measured[f"comment-{layer}"] = _measure(app, dpi)
        yield from shot(ctx, app, f"comment-{layer}")
        if layer == "shift":
            yield from tap_when_ready(ctx, app, "key-shift")
            yield ctx.frames(3)
    yield from go(ctx, app, "comment-skip", "thanks")
    yield ctx.frames(4)
    measured["thanks"] = _measure(app, dpi)
    yield from shot(ctx, app, "thanks")
    Path(ctx.params["out"]).write_text(json.dumps(measured))


def _cap_height_px(font_size: float, bold: bool = False) -> int:
    """The rendered height of a capital H (rows of the texture with ink)."""
    from kivy.core.text import Label as CoreLabel

    label = CoreLabel(text="H", font_size=font_size, bold=bold)
    label.refresh()
    tex = label.texture
    data = tex.pixels
    w, h = tex.size
    rows = [any(data[(r * w + c) * 4 + 3] > 127 for c in range(w)) for r in range(h)]
    return sum(rows)


def text_and_speech(ctx):
    """Larger text switched by touch and measured; speech switched on and the screens read."""
    from tests.support.kivy_driver import SteppedClock
    from tests.ui_scenarios.feedback import go, make_app, rate, ready, shot, switch_language, tap_when_ready

    dpi = ctx.params["feedback"]["dpi"]
    per_mm = dpi / 25.4
    clock = SteppedClock()
    app = ctx.start(make_app(ctx, speech_player=ctx.params["player"], clock=clock))
    r: dict = {}
    yield ready(ctx, app)
    yield ctx.frames(4)
    yield from shot(ctx, app, "start-normal")
    watched = ("touch_hint", "anonymous", "toggle-large_text", "toggle-speak", "concerns")
    fonts = {k: app.w[k].font_size for k in watched}
    fonts["face"] = app.faces[0].label.font_size
    kept = {"question": app.w["question"].font_size, "lang": app.lang_buttons["fi"].font_size}
    r["font_normal"] = app.w["touch_hint"].font_size
    r["cap_normal_mm"] = _cap_height_px(app.w["touch_hint"].font_size) / per_mm
    yield from tap_when_ready(ctx, app, "toggle-large_text")
    yield ctx.until(lambda: app.flow.large_text and app._built_large, "larger text on")
    yield ctx.frames(4)
    yield from shot(ctx, app, "start-large")
    large = {k: app.w[k].font_size for k in watched}
    large["face"] = app.faces[0].label.font_size
    r["fonts"] = {k: (fonts[k], large[k]) for k in fonts}
    # the title is already the largest text and the language names keep their room: not smaller
    r["kept"] = {"question": (kept["question"], app.w["question"].font_size),
                 "lang": (kept["lang"], app.lang_buttons["fi"].font_size)}
    r["font_large"] = app.w["touch_hint"].font_size
    r["cap_large_mm"] = _cap_height_px(app.w["touch_hint"].font_size) / per_mm
    yield from tap_when_ready(ctx, app, "toggle-large_text")
    yield ctx.until(lambda: not app.flow.large_text, "larger text off")

    # speech on: the start screen is read at once, in Finnish
    yield from tap_when_ready(ctx, app, "toggle-speak")
    yield ctx.until(lambda: app.flow.speak and len(app.spoken) == 1, "start screen read")
    yield from rate(ctx, app, 3)
    yield ctx.until(lambda: len(app.spoken) == 2, "outcome screen read")
    yield from go(ctx, app, "outcome-skip", "self_service")
    yield ctx.until(lambda: len(app.spoken) == 3, "self-service screen read")
    clock.advance(app.settings.flow.idle_s - app.settings.flow.warn_s + 0.5)
    yield ctx.until(lambda: app.flow.warning and any("Oletko" in t for _, t in app.spoken), "warning read")
    ctx.tap(app.w["self_service-question"])
    yield from go(ctx, app, "self_service-finish", "thanks")
    yield from go(ctx, app, "thanks-back", "start")
    # back at the start the customer has gone: speech is off again
    assert not app.flow.speak
    n = len(app.spoken)
    yield from switch_language(ctx, app, "sv")
    yield from tap_when_ready(ctx, app, "toggle-speak")
    yield ctx.until(lambda: len(app.spoken) == n + 1, "read in Swedish")
    n = len(app.spoken)
    yield from switch_language(ctx, app, "so")
    yield ctx.frames(4)
    assert len(app.spoken) == n, "no voice for Somali: nothing read in another language"
    r["so_note"] = app.w["concerns"].text.replace("[b]", "").replace("[/b]", "")
    yield from shot(ctx, app, "start-so-no-voice")
    yield ctx.until(lambda: app._speaker.pending() == 0 and len(app.speech_done) >= len(app.spoken),
                    "speech rendered and played", timeout=60)
    r["spoken"] = app.spoken
    r["speech_done"] = app.speech_done
    Path(ctx.params["out"]).write_text(json.dumps(r, ensure_ascii=False))
