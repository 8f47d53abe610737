"""UI scenarios of the feedback terminal, each run in its own process by tests/test_feedback_app*.py.

They drive the real window with simulated touches (ctx.tap), wait on conditions (never on
sleeps) and take screenshots. Params (JSON from the test): "feedback" — extra [feedback]
settings; "tag" — prefix of the screenshot names.
"""
from __future__ import annotations

import json
from pathlib import Path

from tests.support.kivy_driver import REPO

SITE = REPO / "assets" / "sites" / "example.toml"


def device_toml(workdir: Path, feedback: dict | None = None) -> Path:
    """A feedback device of the example site, its store in `workdir`."""
    lines = ["[device]", 'id = "feedback-1"', 'role = "feedback"', 'site = "example-pp"',
             f'site_config = "{SITE}"', f'data_dir = "{workdir / "data"}"', "", "[feedback]"]

    def emit(prefix: str, table: dict) -> None:
        subs = {}
        for k, v in table.items():
            if isinstance(v, dict) and k != "keymap":
                subs[k] = v
            else:
                lines.append(f"{k} = {_toml(v)}")
        for k, v in subs.items():
            lines.append(f"[{prefix}.{k}]")
            emit(f"{prefix}.{k}", v)

    emit("feedback", {"fullscreen": False, **(feedback or {})})
    path = workdir / "device.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _toml(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)
    if isinstance(v, list):
        return "[" + ", ".join(_toml(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{k} = {_toml(x)}" for k, x in v.items()) + " }"
    raise TypeError(v)


def make_app(ctx, **app_kwargs):
    from core.config import load_device, load_site
    from feedback_terminal.app import FeedbackApp
    from feedback_terminal.settings import load_settings

    toml = ctx.params.get("device_toml") or device_toml(ctx.workdir, ctx.params.get("feedback"))
    device = load_device(toml)
    settings = load_settings(device, load_site(device.site_config))
    size = tuple(ctx.params.get("size", (1280, 800)))
    # Kivy set up as `palvelupiste feedback` sets it up (uikit.launch: shaped text, one input).
    from tests.ui_scenarios.display_support import kivy_as_started
    from uikit.launch import KivySettings

    kivy_as_started(KivySettings(size=size))  # type: ignore[arg-type]
    return FeedbackApp(settings, window_size=size, **app_kwargs)


def ready(ctx, app):
    """Until the app is built and accepts a tap."""
    return ctx.until(lambda: app.root is not None and app.flow.accepts_input(app.now()), "app ready for a tap")


def tap_when_ready(ctx, app, pp_id):
    """A generator step: wait until the flow takes input, then tap the widget."""
    yield ready(ctx, app)
    yield ctx.frames(2)
    ctx.tap(ctx.find(app.root, pp_id))


def shot(ctx, app, name):
    yield ctx.frames(3)
    ctx.screenshot(f"{ctx.params.get('tag', 'feedback')}-{name}")


# --- helpers ---------------------------------------------------------------------------

def type_text(ctx, app, text):
    """Type on the on-screen keyboard, one tap per key (shift before a capital). The keys are
    tapped as they are; only after the keyboard redraws itself (shift on or off) is a frame
    let through for the new keys to get their places."""
    yield ready(ctx, app)
    yield ctx.frames(2)
    for ch in text:
        ident = "key-spacebar" if ch == " " else f"key-{ch}"
        if ch.isupper():
            ctx.tap(ctx.find(app.root, "key-shift"))
            assert app.keyboard.state.shift, "shift is on"
            yield ctx.frames(2)
        mode = app.keyboard.state.mode
        ctx.tap(ctx.find(app.root, ident))
        if app.keyboard.state.mode != mode:
            yield ctx.frames(2)
    yield ctx.until(lambda: app.flow.draft == text, f"comment reads {text!r} (it reads {app.flow.draft!r})")


def confirmed_after(app, n):
    return lambda: app.confirmed_total > n and not app.flow.busy


def rate(ctx, app, rating, then="outcome"):
    n = app.confirmed_total
    yield from tap_when_ready(ctx, app, f"face-{rating}")
    yield ctx.until(confirmed_after(app, n), f"rating {rating} stored and confirmed")
    yield ctx.until(lambda: app.flow.screen == then, f"{then} screen after the rating")


def answer(ctx, app, pp_id, then):
    n = app.confirmed_total
    yield from tap_when_ready(ctx, app, pp_id)
    yield ctx.until(confirmed_after(app, n), f"{pp_id} stored and confirmed")
    yield ctx.until(lambda: app.flow.screen == then, f"{then} screen after {pp_id}")


def go(ctx, app, pp_id, then):
    yield from tap_when_ready(ctx, app, pp_id)
    yield ctx.until(lambda: app.flow.screen == then, f"{then} screen after {pp_id}")


def switch_language(ctx, app, lang):
    yield from tap_when_ready(ctx, app, f"lang-{lang}")
    yield ctx.until(lambda: app.flow.lang == lang, f"language {lang}")


# --- scenarios ---------------------------------------------------------------------------

#: The tour's answers per language: (rating, outcome, self-service, comment typed).
TOUR = {
    "fi": (5, "done", "yes", "Hyvä palvelu, kiitos! Äiti ja Åke."),
    "sv": (2, "started", "no", "Kön var lång, två timmar."),
    "en": (3, "not_done", "no", "Ok"),
}


def tour(ctx):
    """Every screen in fi, sv and en with a screenshot each; the language switched by touch;
    a rating, every follow-up answered and a comment typed (ä ö å, capitals) in each."""
    app = ctx.start(make_app(ctx))
    yield ready(ctx, app)
    # The layouts are Kivy VKeyboard JSON: Kivy's own VKeyboard loads and lays them out too.
    from kivy.uix.vkeyboard import VKeyboard

    from feedback_terminal.keyboard import LAYOUT_DIR

    vk = VKeyboard(layout_path=str(LAYOUT_DIR), layout="fi_sv", size=(1200, 400))
    yield ctx.frames(3)
    assert {"fi_sv", "ru", "uk"} <= set(vk.available_layouts) and vk.layout == "fi_sv"
    (x, y), (w, h) = vk.layout_geometry["LINE_3"][10]
    assert len(vk.layout_geometry["LINE_5"]) == 4 and vk.get_key_at_pos(x + w / 2, y + h / 2)[0][1] == "ä"
    for lang in ctx.params.get("languages", ["fi", "sv", "en"]):
        rating, outcome, self_service, comment = TOUR[lang]
        if app.flow.lang != lang:
            yield from switch_language(ctx, app, lang)
        yield from shot(ctx, app, f"start-{lang}")
        yield from rate(ctx, app, rating)
        yield from shot(ctx, app, f"outcome-{lang}")
        yield from answer(ctx, app, f"outcome-{outcome}", "self_service")
        yield from shot(ctx, app, f"self_service-{lang}")
        yield from answer(ctx, app, f"self_service-{self_service}", "comment")
        yield from shot(ctx, app, f"comment-empty-{lang}")
        yield from type_text(ctx, app, comment)
        yield from shot(ctx, app, f"comment-{lang}")
        yield from answer(ctx, app, "comment-send", "thanks")
        yield from shot(ctx, app, f"thanks-{lang}")
        yield from go(ctx, app, "thanks-back", "start")
        assert app.flow.lang == app.settings.flow.default_language, "back at the start in the default language"


def paths(ctx):
    """Skip all; Finish early; touch misuse flagged; idle warning and reset (default language
    back); physical buttons through the same path; a stuck key in the status file; a ticket
    read for attribution (and an unreadable one)."""
    from evdev import ecodes

    from sim.fake_buttons import FakeSource
    from tests.support.kivy_driver import SteppedClock

    clock = SteppedClock()  # idle and thank-you times pass when the scenario says so
    source = FakeSource()
    app = ctx.start(make_app(ctx, button_source=source, clock=clock))
    idle, warn, thanks = (app.settings.flow.idle_s, app.settings.flow.warn_s, app.settings.flow.thanks_s)
    yield ready(ctx, app)

    # 1. rate and skip everything
    yield from rate(ctx, app, 1)
    yield from go(ctx, app, "outcome-skip", "self_service")
    yield from go(ctx, app, "self_service-skip", "comment")
    yield from go(ctx, app, "comment-skip", "thanks")
    yield from go(ctx, app, "thanks-back", "start")

    # 2. rate again at once (flagged "interval" by the misuse guard, still stored), answer one
    #    question and finish; the thank-you screen returns to the start by itself
    yield from rate(ctx, app, 4)
    yield from answer(ctx, app, "outcome-done", "self_service")
    yield from go(ctx, app, "self_service-finish", "thanks")
    clock.advance(thanks + 0.1)
    yield ctx.until(lambda: app.flow.screen == "start", "thank-you screen timed out to the start")

    # 3. Send with an empty comment is a skip
    yield from rate(ctx, app, 2)
    yield from go(ctx, app, "outcome-skip", "self_service")
    yield from answer(ctx, app, "self_service-no", "comment")
    yield from go(ctx, app, "comment-send", "thanks")
    yield from go(ctx, app, "thanks-back", "start")

    # 4. idle: English, rate, then nobody touches → warning → reset to the start in Finnish
    yield from switch_language(ctx, app, "en")
    yield from rate(ctx, app, 3)
    clock.advance(idle - warn + 0.2)
    yield ctx.until(lambda: app.flow.warning and app.banner.opacity == 1, "still-there warning shown")
    yield from shot(ctx, app, "still-there-en")
    ctx.tap(app.w["outcome-question"])  # a touch anywhere keeps the customer's screen
    yield ctx.until(lambda: not app.flow.warning and app.banner.opacity == 0, "warning gone after a touch")
    assert app.flow.screen == "outcome"
    clock.advance(idle + 0.2)
    yield ctx.until(lambda: app.flow.screen == "start" and app.flow.lang == "fi", "idle reset to the start in Finnish")
    yield from switch_language(ctx, app, "sv")
    clock.advance(idle + 0.2)
    yield ctx.until(lambda: app.flow.lang == "fi", "idle on the start screen brings the default language back")

    # 5. physical buttons: a press is a rating, through the same recorder path
    yield ctx.until(lambda: app.buttons is not None and app.buttons.reader.present, "fake buttons present")
    n = app.confirmed_total
    source.tap(ecodes.KEY_5)
    yield ctx.until(lambda: app.confirmed_total > n and app.flow.screen == "outcome", "button rating confirmed")
    assert app.flow.response.input == "button" and app.flow.response.rating == 5
    for code in (ecodes.KEY_1, ecodes.KEY_2, ecodes.KEY_4):  # a burst: stored, flagged
        source.tap(code)
    yield ctx.until(lambda: app.confirmed_total >= n + 4, "three more button ratings confirmed")
    source.key(ecodes.KEY_3, 1)  # pressed (a rating) and held
    yield ctx.until(lambda: app.confirmed_total >= n + 5, "held key's press confirmed")
    status = Path(app.settings.data_dir) / "feedback-status.json"
    yield ctx.until(lambda: "KEY_3" in json.loads(status.read_text())["buttons"]["stuck"], "stuck key in the status")
    source.key(ecodes.KEY_3, 0)
    yield ctx.until(lambda: json.loads(status.read_text())["buttons"]["stuck"] == [], "stuck key released")
    clock.advance(idle + 0.2)
    yield ctx.until(lambda: app.flow.screen == "start", "back to the start")

    # 6. a ticket read at the terminal: the feedback carries the service, nothing of the ticket
    ctx.key(ctx.params["scan"] + "\n")
    yield ctx.until(lambda: app.flow.service == "kela", "ticket read: service kela")
    yield from shot(ctx, app, "attributed-fi")
    yield from rate(ctx, app, 4)
    assert app.flow.response.service == "kela"
    yield from go(ctx, app, "outcome-finish", "thanks")
    yield from go(ctx, app, "thanks-back", "start")
    assert app.flow.service is None, "the attribution ends with the response"
    ctx.key("not-a-ticket-at-all\n")
    yield ctx.until(lambda: app.scans[-1] is None and app.w["concerns"].text != "", "unreadable code said so")
    assert app.flow.service is None


def sigkill(ctx):
    """Rate, answer one question, and as soon as the screen has confirmed the answer write a
    marker and wait: the test SIGKILLs this process then."""
    app = ctx.start(make_app(ctx))
    yield ready(ctx, app)
    yield from shot(ctx, app, "start-fi")
    yield from rate(ctx, app, 2)
    yield from answer(ctx, app, "outcome-started", "self_service")
    marker = Path(ctx.params["marker"])
    marker.write_text(json.dumps({"confirmed": list(app.confirmed), "screen": app.flow.screen}))
    yield ctx.until(lambda: False, "the SIGKILL from the test", timeout=120)


def rate_and_answer(ctx):
    """One full response (for the end-to-end test): rating, both answers and a comment."""
    app = ctx.start(make_app(ctx))
    yield ready(ctx, app)
    yield from shot(ctx, app, "start-fi")
    for rating, outcome, self_service, comment in ctx.params["responses"]:
        yield from rate(ctx, app, rating)
        yield from answer(ctx, app, f"outcome-{outcome}", "self_service")
        yield from answer(ctx, app, f"self_service-{self_service}", "comment")
        yield from type_text(ctx, app, comment)
        yield from answer(ctx, app, "comment-send", "thanks")
        yield from go(ctx, app, "thanks-back", "start")


def arabic(ctx):
    """Arabic on the terminal: every screen turned to read from the right (the faces too, as a
    right-to-left rating scale runs), the keyboard left as it is, and back to the left-to-right
    order with Finnish."""
    app = ctx.start(make_app(ctx))
    yield ready(ctx, app)
    x = lambda pid: ctx.find(app.root, pid).x  # noqa: E731
    yield ctx.frames(3)
    assert x("face-1") < x("face-5") and x("lang-fi") < x("lang-sv")
    yield from switch_language(ctx, app, "ar")
    yield ctx.frames(3)
    assert x("face-1") > x("face-5") and x("lang-fi") > x("lang-sv"), "mirrored for Arabic"
    yield from shot(ctx, app, "start-ar")
    yield from switch_language(ctx, app, "fi")
    yield ctx.frames(3)
    assert x("face-1") < x("face-5"), "back to left to right"
    yield from switch_language(ctx, app, "ar")
    yield from rate(ctx, app, 4)
    yield from shot(ctx, app, "outcome-ar")
    yield from answer(ctx, app, "outcome-done", "self_service")
    yield from answer(ctx, app, "self_service-yes", "comment")
    yield ctx.frames(3)
    assert x("key-q") < x("key-w"), "the keyboard keeps its keys where they are"
    yield from shot(ctx, app, "comment-ar")
