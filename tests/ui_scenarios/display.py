"""Display scenarios: the real DisplayApp connected to the real hub over Mosquitto (the test owns
both). Parameters: broker (URL), sync (marker directory), display (the [display] section), speech
(a directory: render the spoken calls there instead of playing them). `closed_display` runs
its own hub, with the real example site's opening hours and a clock it moves."""
from __future__ import annotations

import time

from cli.display_cmd import kivy_settings
from core.i18n import Translator
from display.app import DisplayApp
from display.settings import parse_display
from tests.ui_scenarios.display_support import kivy_as_started, load_example_site, shot, signal, wait_file


def _start(ctx, site=None):
    site = site or load_example_site()
    settings = parse_display(ctx.params.get("display", {}), set(site.services))
    speech = ctx.params.get("speech")
    done = []
    kivy_as_started(kivy_settings(settings))
    app = DisplayApp(site, settings, broker=ctx.params["broker"], device="display-1",
                     speech_dir=speech, player=None, keep_speech_files=bool(speech),
                     speech_on_done=lambda u, files: done.append((u.tag, [str(f) for f in files])))
    app.speech_done = done
    return ctx.start(app)


def _ready(app) -> bool:
    m = app.model
    return app.root is not None and m.connected and m.had_state and not m.stale(time.monotonic())


def _big(app):
    return app.model.big_call(time.monotonic())


def _now_calling_words() -> set[str]:
    return {Translator(lang, "display")("Now calling") for lang in ("fi", "sv", "en")}


def main_display(ctx):
    """Landscape, every service: a call made on the counter panel is shown highlighted (frame +
    word), then moves into the list; the recall highlights it again and is announced again."""
    sync = ctx.params["sync"]
    app = _start(ctx)
    yield ctx.until(lambda: _ready(app), "display connected with a state")
    yield ctx.frames(2)
    signal(sync, "display-ready")

    scr = app.screen
    yield ctx.until(lambda: scr.highlighted and scr.call_number.text == "K001", "K001 on the display", 30)
    call = _big(app)
    assert call.counter == "1" and not call.recall
    assert scr.highlighted and scr.call_number.text == "K001"
    assert any(w in scr.call_head.text for w in _now_calling_words()), scr.call_head.text  # a word, not colour only
    assert scr.call_counter.text.endswith("Tiski 1") and "Lucka 1" in scr.call_others.text
    assert scr.call_panel.frame_width > 2 * scr.u  # the heavy frame (a shape)
    yield ctx.until(lambda: app.frames_shown and app.frames_shown[-1]["number"] == "K001", "frame with K001")
    yield ctx.frames(2)
    shot(ctx, app.root, "display-landscape-call")
    signal(sync, "display-saw-call")

    yield ctx.until(lambda: _big(app) is None and not scr.highlighted, "highlight ended", 15)
    recent = app.model.recent(time.monotonic())
    assert recent and recent[0].number == "K001", recent
    yield ctx.frames(2)
    assert not scr.highlighted and scr.rows[0][1].text == "K001"
    shot(ctx, app.root, "display-landscape-list")
    signal(sync, "display-highlight-ended")

    yield ctx.until(lambda: _big(app) is not None and _big(app).recall and scr.highlighted
                    and scr.call_number.text == "K001", "K001 highlighted again by the recall", 30)
    assert scr.highlighted
    assert [c.number for c in app.announced].count("K001") == 2, app.announced
    # the list shows each ticket once
    assert [c.number for c in app.model.recent(time.monotonic())].count("K001") <= 1
    signal(sync, "display-saw-recall")
    yield wait_file(ctx, sync, "done", 60)


def zone_display(ctx):
    """Portrait, a zone for the police permit service only: the kela call at counter 1 is not
    shown; the same ticket, transferred to the police and called at counter 3, is."""
    sync = ctx.params["sync"]
    app = _start(ctx)
    yield ctx.until(lambda: _ready(app), "zone display connected with a state")
    signal(sync, "zone-ready")
    yield ctx.until(lambda: _big(app) is not None and _big(app).counter == "3" and app.screen.highlighted,
                    "the police call at counter 3", 60)
    call = _big(app)
    assert (call.number, call.service) == ("K001", "poliisi"), call
    # Messages from the hub arrive in order: the calls at counter 1 came before this one.
    assert all(c.counter == "3" for c in app.announced), app.announced
    assert all(c.counter != "1" for c in app.model.recent(time.monotonic())), app.model.recent(time.monotonic())
    assert [r.id for r in app.model.services] == ["poliisi"]
    assert app.screen.call_counter.text.endswith("Tiski 3")
    yield ctx.frames(3)
    shot(ctx, app.root, "display-portrait-zone")
    signal(sync, "zone-saw-call")
    yield wait_file(ctx, sync, "done", 60)


def stale_display(ctx):
    """The hub stops, then the broker: each time a discreet notice (a shape and words) appears,
    the last calls stay, and the screen recovers by itself."""
    sync = ctx.params["sync"]
    app = _start(ctx)
    yield ctx.until(lambda: _ready(app), "display connected with a state")
    yield ctx.until(lambda: app.model.recent(time.monotonic()) or _big(app), "the calls made before start")
    assert app.announced == [], "calls from before the start must not be spoken again"
    signal(sync, "display-ready")
    scr = app.screen
    for round_ in (1, 2):
        yield ctx.until(lambda: scr.notice_visible, f"stale notice (round {round_})", 20)
        yield ctx.frames(2)
        assert scr.notice.opacity == 1 and scr.notice.height > 0
        assert scr.notice_text.text and scr.rows[0][1].text, "notice and the last calls shown"
        if round_ == 1:
            shot(ctx, app.root, "display-stale")
        signal(sync, f"stale-seen-{round_}")
        yield ctx.until(lambda: not scr.notice_visible, f"recovered (round {round_})", 30)
        assert app.model.connected and app.model.hub_online is not False
        signal(sync, f"recovered-{round_}")
    yield wait_file(ctx, sync, "done", 30)


def closed_display(ctx):
    """The real example site with the Tax Administration's only counter (5) working 08:00-12:00,
    a zone display for Kela, the Tax Administration and the police, and the hub (run here) at
    13:00 on a working day: the Tax Administration's tile says "closed for today". The hub's
    clock moves to 21:00: the display says the service point is closed and when it opens, in
    each label language, instead of empty queues."""
    import datetime as dt
    from zoneinfo import ZoneInfo

    from core.config import load_site
    from core.events import now_ms
    from display.model import opening_text
    from tests.ui_scenarios.display_support import REPO, Hub
    from tests.ui_scenarios.kiosk_support import site_copy, working_day

    real_site = REPO / "assets" / "sites" / "example.toml"  # with its opening hours
    site_file = site_copy(real_site, ctx.workdir, {"5": "08:00-12:00"})
    site = load_site(site_file)
    day = working_day(site)
    tz = ZoneInfo(site.timezone)
    shift = [int(dt.datetime.combine(day, dt.time(13, 0), tzinfo=tz).timestamp() * 1000) - now_ms()]
    hub = Hub(ctx.workdir / "hub", ctx.params["broker"], heartbeat_s=0.5, site_config=site_file,
              clock=lambda: now_ms() + shift[0]).start()
    try:
        app = _start(ctx, site)
        yield ctx.until(lambda: _ready(app), "display connected with a state")
        scr = app.screen
        yield ctx.until(lambda: any(r.id == "vero" and r.closed_today for r in app.model.services), "vero closed")
        assert app.model.open
        # what the model holds is on the screen, in Finnish
        yield ctx.until(lambda: app._shown_lang == "fi" and app._shown_rev == app.model.revision,
                        "the model shown with Finnish labels", 10)
        yield ctx.frames(2)
        tiles = {t.name.text: t for t in scr.tiles[:len(app.model.visible_services())]}
        assert tiles["Verohallinto"].wait.text == "suljettu tältä päivältä", tiles["Verohallinto"].wait.text
        assert tiles["Kela"].wait.text != tiles["Verohallinto"].wait.text
        shot(ctx, app.root, "display-service-closed-today")

        shift[0] += 8 * 3600_000  # 21:00: closed every day (the next heartbeat says so)
        yield ctx.until(lambda: not app.model.open and app.model.opens_ms is not None, "the state says closed", 10)
        for lang in ("fi", "sv", "en"):
            t = Translator(lang, "display", site.timezone)
            head, when = t("The service point is closed"), opening_text(site, t, app.model.opens_ms, app.model.hub_ms)
            yield ctx.until(lambda lang=lang, head=head: app._shown_lang == lang and scr.call_head.text == head
                            and app._shown_rev == app.model.revision, f"the closed display in {lang}", 10)
            yield ctx.frames(2)
            assert scr.call_counter.text == when and "8" in when, (lang, scr.call_counter.text)
            assert not scr.highlighted and scr._tiles_shown == 0, "empty queues shown while closed"
            assert scr.svc_empty.text == head
            shot(ctx, app.root, f"display-closed-{lang}")
            assert app._shown_lang == lang, "the labels changed language while the screenshot was taken"
    finally:
        hub.stop()
