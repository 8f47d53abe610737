"""Kiosk UI scenarios: a real window, simulated touches and barcode keystrokes, the real hub on
Mosquitto, a printer on a pseudo-terminal. Each function runs in its own process (see
tests/support/kivy_driver.py) and leaves screenshots in test-output/screenshots/kiosk-*.png.
"""
from __future__ import annotations

from pathlib import Path

from hub.settings import hub_settings
from kiosk import flow as F
from sim.escpos_decode import decode
from tests.ui_scenarios.kiosk_support import CODES, UNKNOWN_CODE, KioskEnv, site_copy

LANGS = ("fi", "sv", "en")
#: The example site with its real opening hours (08:00-16:15 on weekdays), not the always-open copy.
REAL_SITE = Path(__file__).resolve().parents[2] / "assets" / "sites" / "example.toml"


def _wait_ready(ctx, env):
    app = env.app
    yield ctx.until(lambda: app.root is not None and env.rendered(), "app built")
    yield ctx.until(lambda: app.hub.connected, "kiosk connected to the site broker")
    if env.pty is not None:
        yield ctx.until(lambda: app.printer.wait_ready(0) and app.flow.printer_ok is True, "printer status known")


def _choose_language(env, lang):
    app = env.app
    if app.flow.lang != lang:
        yield from env.tap(f"lang_{lang}")
        yield env.ctx.until(lambda: app.flow.lang == lang and env.rendered(), f"language {lang}")


def walk_in_and_idle(ctx):
    """Walk-in in fi, sv and en (with needs, an interpreter and a double tap on the last step),
    then the idle reset with its "more time" prompt."""
    env = KioskEnv(ctx, kiosk={"idle_s": 10, "idle_warn_s": 5, "ticket_idle_s": 60})
    app = ctx.start(env.app)
    yield from _wait_ready(ctx, env)
    plan = {"fi": "kela", "sv": None, "en": "poliisi"}  # None: "I don't know which"
    for lang in LANGS:
        yield from _choose_language(env, lang)
        yield from env.shot(f"start-{lang}")
        yield from env.tap("take_number")
        yield from env.screen(F.SERVICES)
        yield from env.shot(f"services-{lang}")
        sid = plan[lang]
        yield from env.tap(f"service_{sid}" if sid else "dont_know")
        yield from env.screen(F.NEEDS)
        if lang != "sv":
            yield from env.tap("need_interpreter")
            yield from env.screen(F.INTERPRETER)
            yield from env.shot(f"interpreter-{lang}")
            yield from env.tap("interp_ar")
            yield from env.screen(F.NEEDS)
        yield from env.tap("need_hearing_loop")
        yield ctx.until(lambda: app.flow.c.needs.hearing_loop and env.rendered(), "hearing loop chosen")
        yield from env.shot(f"needs-{lang}")
        before = len(env.hub_events("ticket.issued"))
        jobs_before = len(env.pty.jobs())
        yield from env.tap("get_number", double=True)  # a double tap on the last step
        yield from env.screen(F.TICKET)
        yield ctx.until(lambda: app.flow.c.print_status == "printed", "ticket printed")
        yield from env.shot(f"ticket-{lang}")
        issued = env.hub_events("ticket.issued")
        assert len(issued) == before + 1, f"a double tap issued {len(issued) - before} tickets"
        data = issued[-1][1]
        t = app.flow.c.ticket
        assert data["number"] == t.number and data["lang"] == lang and data["token"] == t.token
        assert data["needs"]["hearing_loop"] is True
        assert data["needs"]["interpreter"] == (None if lang == "sv" else "ar")
        assert data["service"] == (sid or "neuvonta")
        env.pty.wait_jobs(jobs_before + 1)
        assert len(env.pty.jobs()) == jobs_before + 1, "one paper ticket per number"
        job = decode(env.pty.jobs()[-1])
        assert t.number in job.text and job.qr_payloads == [t.qr_url], (job.text, job.qr_payloads)
        texts = " ".join(app.all_texts())
        assert t.number in texts
        if sid == "kela":
            assert "Kela" in texts
        yield from env.tap("done")
        yield from env.screen(F.START)
        assert app.flow.lang == "fi"

    # --- idle: the "more time" prompt, then the reset ------------------------------------
    yield from _choose_language(env, "en")
    yield from env.tap("toggle_large_text")
    yield ctx.until(lambda: app.flow.prefs.large_text and env.rendered(), "large text on")
    yield from env.tap("take_number")
    yield from env.screen(F.SERVICES)
    yield from env.tap("service_vero")
    yield from env.screen(F.NEEDS)
    yield from env.tap("need_accessible_room")
    yield ctx.until(lambda: app.flow.c.needs.accessible_room and env.rendered(), "accessible room chosen")
    # Nobody touches the kiosk: its clock is moved on (not waited for) to the prompt's time.
    idle_s, warn_s = app.settings.idle_s, app.settings.idle_warn_s
    assert not app.flow.warning
    env.clock.advance(idle_s - warn_s + 0.5)
    yield ctx.until(lambda: app.flow.warning and env.rendered() and env.has("more_time"), "more-time prompt")
    assert app.flow.screen == F.NEEDS
    yield from env.shot("idle-prompt-en")
    ctx.tap(env.widget("more_time"))
    yield ctx.until(lambda: not app.flow.warning and env.rendered(), "prompt gone after a touch")
    assert app.flow.screen == F.NEEDS, "more time keeps the customer where they were"
    env.clock.advance(2 * (idle_s - warn_s) + 0.5)  # "More time" doubled the time before the prompt
    yield ctx.until(lambda: app.flow.warning, "prompt again")
    assert app.flow.screen == F.NEEDS
    env.clock.advance(warn_s)
    yield ctx.until(lambda: app.flow.screen == F.START and env.rendered(), "reset to the start")
    yield ctx.frames(3)
    yield from env.shot("after-idle-reset")
    f = app.flow
    assert f.lang == "fi" and f.prefs == F.Prefs() and f.c == F.Customer()
    texts = app.all_texts()
    joined = "\n".join(texts)
    numbers = [d["number"] for _, d in env.hub_events("ticket.issued")]
    vero = env.site.services["vero"]
    leftovers = [s for s in numbers + [vero.label("en"), vero.label("fi"), "Accessible room", "Esteetön huone",
                                       "Hearing loop", "Interpreter", "Tulkki"] if s in joined]
    assert leftovers == [], f"left on screen after the reset: {leftovers}"
    assert "Tervetuloa" in joined  # the start screen, in the default language
    env.save_jobs()


def appointments_and_help(ctx):
    """Every check-in answer (keypad and barcode reader) and the help request, in fi, sv, en;
    then the hub goes away: the problem screen, and "try again" once it is back."""
    env = KioskEnv(ctx, kiosk={"hub_timeout_s": 1})
    app = ctx.start(env.app)
    yield from _wait_ready(ctx, env)
    for lang in LANGS:
        codes = CODES[lang]
        yield from _choose_language(env, lang)
        # too early: typed on the keypad in Finnish, from the barcode reader otherwise
        yield from env.tap("appointment")
        yield from env.screen(F.APPOINTMENT)
        if lang == "fi":
            yield from env.type_code(codes["early"])
            yield from env.shot(f"appointment-{lang}")
            yield from env.tap("check_in")
        else:
            yield from env.type_code("12")
            yield from env.shot(f"appointment-{lang}")
            yield from env.scan(codes["early"])
        yield from env.screen(F.TOO_EARLY)
        yield from env.shot(f"too-early-{lang}")
        joined = " ".join(app.all_texts())
        assert "15" in joined and "14" in joined, joined  # 15:00, check-in from 14:30
        yield from env.tap("start_over")
        yield from env.screen(F.START)
        # another day
        yield from env.scan(codes["other"])
        yield from env.screen(F.OTHER_DAY)
        yield from env.shot(f"other-day-{lang}")
        yield from env.tap("start_over")
        yield from env.screen(F.START)
        # not found: typed in Finnish; then "try again"
        if lang == "fi":
            yield from env.tap("appointment")
            yield from env.type_code(UNKNOWN_CODE)
            yield from env.tap("check_in")
        else:
            yield from env.scan(UNKNOWN_CODE)
        yield from env.screen(F.NOT_FOUND)
        yield from env.shot(f"not-found-{lang}")
        yield from env.tap("try_again")
        yield from env.screen(F.APPOINTMENT)
        assert app.flow.c.code == ""
        yield from env.tap("back")
        yield from env.screen(F.START)
        # too late, from the barcode reader on the start screen: offers a walk-in number
        yield from env.scan(codes["late"])
        yield from env.screen(F.TOO_LATE)
        yield from env.shot(f"too-late-{lang}")
        yield from env.tap("walk_in")
        yield from env.screen(F.NEEDS)
        assert app.flow.c.service == "vero"
        yield from env.tap("get_number")
        yield from env.screen(F.TICKET)
        assert app.flow.c.ticket.kind == "walk_in" and app.flow.c.ticket.service == "vero"
        yield from env.tap("done")
        yield from env.screen(F.START)
        yield from _choose_language(env, lang)
        # checked in, scanned as a URL while on the services screen
        yield from env.tap("take_number")
        yield from env.screen(F.SERVICES)
        yield from env.scan(f"https://booking.example.fi/c/{codes['ok']}")
        yield from env.screen(F.TICKET)
        t = app.flow.c.ticket
        assert t.kind == "appointment" and t.service == "poliisi"
        yield ctx.until(lambda: app.flow.c.print_status == "printed", "printed")
        yield from env.shot(f"checked-in-{lang}")
        assert "12:05" in " ".join(app.all_texts()).replace(".", ":")
        yield from env.tap("done")
        yield from env.screen(F.START)
        yield from _choose_language(env, lang)
        # the same booking again: already checked in, with the number
        yield from env.scan(codes["ok"])
        yield from env.screen(F.ALREADY)
        assert t.number in " ".join(app.all_texts())
        yield from env.shot(f"already-{lang}")
        yield from env.tap("start_over")
        yield from env.screen(F.START)
        # help; the previous round's request from this kiosk is older than [hub] help_repeat_s, so
        # this is a new request (a press within it would join the open one: tests/test_engine.py)
        env.advance_hub(hub_settings(env.hub_device).help_repeat_s + 1)
        before = len(env.hub_events("help.requested"))
        yield from env.tap("help", double=True)
        yield from env.screen(F.HELP)
        yield ctx.until(lambda: app.flow.c.help_state == "sent" and env.rendered(), "help sent")
        yield from env.shot(f"help-{lang}")
        helps = env.hub_events("help.requested")
        assert len(helps) == before + 1 and helps[-1][1]["device"] == "kiosk-1" and helps[-1][1]["lang"] == lang
        yield from env.tap("start_over")
        yield from env.screen(F.START)

    # --- the hub is gone: the problem screen; back: try again works --------------------------
    env.stop_hub()
    for lang in LANGS:
        yield from _choose_language(env, lang)
        yield from env.tap("take_number")
        yield from env.tap("service_kela")
        yield from env.tap("get_number")
        yield from env.screen(F.PROBLEM, timeout=8)
        yield from env.shot(f"problem-{lang}")
        if lang != "en":
            yield from env.tap("start_over")
            yield from env.screen(F.START)
    env.start_hub()
    before = len(env.hub_events("ticket.issued"))
    yield from env.tap("retry")
    yield from env.screen(F.TICKET, timeout=10)
    assert len(env.hub_events("ticket.issued")) == before + 1
    env.save_jobs()


def printer_faults(ctx):
    """Paper out: the ticket is still issued and shown with its QR, the kiosk says so in words
    and with an icon, printer.fault is stored; paper back: printer.recovered, and the last
    ticket can be printed again. No answer is told apart from paper out."""
    env = KioskEnv(ctx, kiosk={"reprint_s": 120})
    app = ctx.start(env.app)
    yield from _wait_ready(ctx, env)
    env.pty.set_state(paper="out")
    yield ctx.until(lambda: app.flow.printer_ok is False and env.rendered() and env.has("notice_printer"),
                    "printer notice on the start screen", timeout=5)
    yield from env.shot("start-printer-out-fi")
    for lang in LANGS:
        yield from _choose_language(env, lang)
        yield from env.tap("take_number")
        yield from env.tap("service_kela")
        yield from env.tap("get_number")
        yield from env.screen(F.TICKET)
        yield ctx.until(lambda: app.flow.c.print_status == "failed" and env.rendered(), "print failed")
        assert env.has("qr") and env.widget("qr").data == app.flow.c.ticket.qr_url
        assert env.has("print_status") and not env.has("reprint")  # not while the paper is out
        yield from env.shot(f"ticket-printer-out-{lang}")
        if lang != "en":
            yield from env.tap("done")
            yield from env.screen(F.START)
    assert len(env.hub_events("ticket.issued")) == 3, "the tickets were issued although nothing printed"
    assert env.pty.jobs() == [], "nothing may be printed while the paper is out"
    faults = env.kiosk_events("printer.fault")
    assert len(faults) == 1 and faults[0][1]["reason"] == "paper_out", faults
    st = env.printer_status()
    assert st["status"] == "paper_out" and st["can_print"] is False and st["paper"] == "out"
    # paper back: recovered, and "print again" prints the ticket on screen
    env.pty.set_state(paper="ok")
    yield ctx.until(lambda: len(env.kiosk_events("printer.recovered")) == 1, "printer.recovered stored", timeout=5)
    yield ctx.until(lambda: app.flow.printer_ok is True and env.rendered() and env.has("reprint"), "reprint offered")
    number = app.flow.c.ticket.number
    yield from env.tap("reprint")
    yield ctx.until(lambda: app.flow.c.print_status == "printed", "reprinted")
    yield from env.shot("ticket-reprinted-en")
    [job] = env.pty.jobs()
    assert number in decode(job).text
    assert env.printer_status()["status"] == "ok"
    yield from env.tap("done")
    yield from env.screen(F.START)
    # no answer at all: a fault of its own kind, not "paper out"
    env.pty.set_state(silent=True)
    yield ctx.until(lambda: len(env.kiosk_events("printer.fault")) == 2, "no-answer fault stored", timeout=6)
    assert env.kiosk_events("printer.fault")[-1][1]["reason"] == "no_answer"
    yield ctx.until(lambda: env.printer_status().get("status") == "no_answer", "status file: no answer")
    assert env.printer_status()["paper"] == "unknown"
    env.pty.set_state(silent=False)
    yield ctx.until(lambda: len(env.kiosk_events("printer.recovered")) == 2, "recovered again", timeout=6)
    env.save_jobs()


def _check_targets(app, low: bool, where: str):
    """Every button at least 15 mm both ways and inside the window; with the low layout, in the
    lower part of the screen."""
    from kivy.core.window import Window
    from kivy.metrics import mm

    from kiosk.widgets import LOW_FRACTION, Btn

    W, H = Window.size
    buttons = [w for w in app.root.walk(restrict=True) if isinstance(w, Btn)]
    assert buttons, where
    for b in buttons:
        x, y = b.to_window(b.x, b.y)
        assert b.width >= mm(15) - 0.5 and b.height >= mm(15) - 0.5, (where, b.pp_id, b.size)
        assert x >= -0.5 and y >= -0.5 and x + b.width <= W + 0.5 and y + b.height <= H + 0.5, \
            (where, b.pp_id, "outside the window")
        if low:
            assert y + b.height <= LOW_FRACTION * H + 0.5, (where, b.pp_id, y + b.height, LOW_FRACTION * H)


def accessibility(ctx):
    """Low layout, large text and high contrast on every screen: every control in the lower
    part and at least 15 mm; speech reads each screen; landscape shows the whole UI."""
    from kivy.core.window import Window

    env = KioskEnv(ctx, kiosk={"idle_s": 120, "ticket_idle_s": 120})
    app = ctx.start(env.app)
    yield from _wait_ready(ctx, env)

    def check_targets(low: bool, where: str):
        _check_targets(app, low, where)

    yield ctx.frames(3)
    check_targets(False, "start")
    for pref in ("low_layout", "large_text", "high_contrast", "speak"):
        yield from env.tap(f"toggle_{pref}")
        yield ctx.until(lambda p=pref: getattr(app.flow.prefs, p) and env.rendered(), pref)
    yield ctx.frames(3)
    check_targets(True, "start")
    yield from env.shot("low-start-fi")
    steps = [("take_number", F.SERVICES, "services"), ("page_next", F.SERVICES, "services-2"),
             ("page_prev", F.SERVICES, None), ("service_kela", F.NEEDS, "needs"), ("need_interpreter", F.INTERPRETER, "interpreter"),
             ("interp_ru", F.NEEDS, None), ("get_number", F.TICKET, "ticket")]
    for pp_id, screen, name in steps:
        yield from env.tap(pp_id)
        yield from env.screen(screen)
        if pp_id.startswith("page_"):
            want = 1 if pp_id == "page_next" else 0
            yield ctx.until(lambda w=want: app.flow.c.page == w and env.rendered(), f"page {want + 1}")
        yield ctx.frames(2)
        check_targets(True, screen)
        if name:
            yield from env.shot(f"low-{name}-fi")
    yield ctx.until(lambda: app.flow.c.print_status == "printed", "printed")
    yield from env.tap("done")
    yield from env.screen(F.START)
    # done resets the display choices: set them again for the appointment and help screens
    for pref in ("low_layout", "large_text", "high_contrast"):
        yield from env.tap(f"toggle_{pref}")
        yield ctx.until(lambda p=pref: getattr(app.flow.prefs, p) and env.rendered(), pref)
    yield from env.tap("appointment")
    yield from env.screen(F.APPOINTMENT)
    yield from env.type_code("12")
    check_targets(True, "appointment")
    yield from env.shot("low-appointment-fi")
    yield from env.tap("back")
    yield from env.screen(F.START)
    yield from env.tap("help")
    yield from env.screen(F.HELP)
    yield ctx.until(lambda: app.flow.c.help_state == "sent" and env.rendered(), "help sent")
    check_targets(True, "help")
    yield from env.shot("low-help-fi")
    # speech: every screen entered with "read aloud" on was queued in Finnish and rendered
    yield ctx.until(lambda: len(app.speech_done) >= 3, "speech rendered", timeout=30)
    assert all(lang == "fi" for lang, _ in app.spoken) and len(app.spoken) >= 6, app.spoken
    assert any(size > 10_000 for _, size in app.speech_done), app.speech_done
    assert any("Numerosi on" in text for _, text in app.spoken), app.spoken
    # landscape: the whole UI inside the window
    yield from env.tap("start_over")
    yield from env.screen(F.START)
    Window.size = (1920, 1080)
    yield ctx.until(lambda: tuple(Window.size) == (1920, 1080), "landscape window")
    app.flow.version += 1  # redraw for the new size
    app._schedule_render()
    yield ctx.until(env.rendered, "redrawn")
    yield ctx.frames(3)
    check_targets(False, "landscape start")
    yield from env.shot("landscape-start-fi")
    env.save_jobs()


def closed_before_opening(ctx):
    """The real example site (opens 08:00) and the hub's clock at 07:50 on a working day: the start
    screen says the service point is closed and opens today at 8.00, in fi, sv and en, and offers
    no walk-in number; a customer booked at 08:00 checks in (its window opened at 07:30); an
    unknown code offers no number either; larger text, stronger contrast, the low layout and
    speech work on the closed screen; at 08:00 "Take a number" is back."""
    env = KioskEnv(ctx, site_file=REAL_SITE, hub_at=(7, 50), appointments=(("808080", "kela", 10),))
    app = ctx.start(env.app)
    yield from _wait_ready(ctx, env)
    yield ctx.until(lambda: not app.flow.site_open and env.rendered(), "the hub's state says closed")
    opens = {"fi": ("Palvelupiste on suljettu", "Avautuu tänään klo 8.00."),
             "sv": ("Servicepunkten är stängd", "Öppnar i dag kl. 08:00."),
             "en": ("The service point is closed", "Opens today at 08:00.")}
    for lang in LANGS:
        yield from _choose_language(env, lang)
        yield ctx.frames(2)
        texts = app.all_texts()
        assert all(w in texts for w in opens[lang]), (lang, texts[:8])
        assert not env.has("take_number"), "no walk-in number while closed"
        assert env.has("appointment") and env.has("help")
        yield from env.shot(f"closed-{lang}")

    # the booked customer, typed on the keypad in Finnish
    yield from _choose_language(env, "fi")
    yield from env.tap("appointment")
    yield from env.screen(F.APPOINTMENT)
    yield from env.type_code("808080")
    yield from env.tap("check_in")
    yield from env.screen(F.TICKET)
    t = app.flow.c.ticket
    assert t.kind == "appointment" and t.service == "kela" and t.number.startswith("K"), t
    yield ctx.until(lambda: app.flow.c.print_status == "printed", "ticket printed")
    yield from env.shot("closed-checked-in-fi")
    issued = env.hub_events("ticket.issued")
    assert [d["kind"] for _, d in issued] == ["appointment"], issued
    yield from env.tap("done")
    yield from env.screen(F.START)

    # an unknown code: try again or ask for help, no number
    yield from env.scan(UNKNOWN_CODE)
    yield from env.screen(F.NOT_FOUND)
    assert env.has("try_again") and not env.has("walk_in")
    yield from env.tap("start_over")
    yield from env.screen(F.START)

    # the customer's own settings on the closed screen: read aloud, larger, stronger, lower
    for pref in ("speak", "large_text", "high_contrast", "low_layout"):
        yield from env.tap(f"toggle_{pref}")
        yield ctx.until(lambda p=pref: getattr(app.flow.prefs, p) and env.rendered(), pref)
    yield ctx.frames(3)
    _check_targets(app, True, "closed start")
    assert any(lang == "fi" and "Palvelupiste on suljettu" in text and "Avautuu tänään klo 8.00." in text
               and "Ota vuoronumero" not in text for lang, text in app.spoken), app.spoken
    yield from env.shot("closed-low-fi")
    assert len(env.hub_events("ticket.issued")) == 1

    # 08:00 at the site: the hub's next state says open, and a number can be taken again
    env.advance_hub(10 * 60 + 1)
    yield ctx.until(lambda: app.flow.site_open and env.rendered() and env.has("take_number"),
                    "open at 08:00", timeout=15)
    env.save_jobs()


def service_closed_for_today(ctx):
    """The Tax Administration's only counter (5) works 08:00-12:00 and the hub's clock is at 13:00
    on a working day: the services screen shows the service closed for today, and tapping it
    does nothing; other services can still be chosen."""
    site = site_copy(REAL_SITE, ctx.workdir, {"5": "08:00-12:00"})
    env = KioskEnv(ctx, site_file=site, hub_at=(13, 0))
    app = ctx.start(env.app)
    yield from _wait_ready(ctx, env)
    yield ctx.until(lambda: "vero" in app.flow.hours.closed and env.rendered(), "the hub's state: vero closed")
    assert app.flow.site_open and app.flow.hours.closed == frozenset({"vero"}), app.flow.hours
    closed_words = {"fi": "Ei enää palvelua tänään", "en": "No more service today"}
    for lang in ("fi", "en"):
        yield from _choose_language(env, lang)
        yield from env.tap("take_number")
        yield from env.screen(F.SERVICES)
        yield ctx.frames(2)
        vero = env.widget("service_vero")
        assert vero.disabled and closed_words[lang] in vero.label.text, vero.label.text
        assert not env.widget("service_dvv").disabled
        yield from env.shot(f"services-closed-today-{lang}")
        ctx.tap(vero)
        yield ctx.frames(3)
        assert app.flow.screen == F.SERVICES and app.flow.c.service is None, "a closed service was chosen"
        yield from env.tap("service_dvv")
        yield from env.screen(F.NEEDS)
        assert app.flow.c.service == "dvv"
        yield from env.tap("back")
        yield from env.screen(F.SERVICES)
        yield from env.tap("back")
        yield from env.screen(F.START)
    assert env.hub_events("ticket.issued") == []


# --- every language -------------------------------------------------------------------------

def _strings(lang: str, site) -> set[str]:
    """Every string the kiosk may show in `lang`: its catalog's translations and the site's texts."""
    from babel.messages.pofile import read_po

    from core.i18n import LOCALE_DIR

    out: set[str] = set()
    with (LOCALE_DIR / lang / "LC_MESSAGES" / "kiosk.po").open("rb") as f:
        for m in read_po(f):
            if m.id:
                for s in (m.string if isinstance(m.string, tuple) else (m.string,)):
                    out.update(line for line in (s or "").split("\n") if line)
                if lang == "en":  # the source language: the msgids are its text
                    for s in (m.id if isinstance(m.id, tuple) else (m.id,)):
                        out.update(line for line in s.split("\n") if line)
    texts = [site.name] + [t for s in site.services.values() for t in (s.name, s.description)]
    out.update(t[lang] for t in texts if lang in t)
    return out


_TAG = __import__("re").compile(r"\[/?(?:b|i|u|s|size|color|font|sub|sup)(?:=[^\]]*)?\]")


def visible_lines(root) -> list[tuple[str, str]]:
    """(pp_id of the nearest marked widget, line) for every line of text on the screen; the
    language buttons are left out (each names its language in that language, on purpose)."""
    from kivy.uix.label import Label

    out: list[tuple[str, str]] = []

    def walk(w, owner: str) -> None:
        pid = getattr(w, "pp_id", "") or owner
        if pid.startswith("lang_"):
            return
        if isinstance(w, Label) and w.text:
            text = w.text
            if w.markup:
                text = _TAG.sub("", text).replace("&bl;", "[").replace("&br;", "]").replace("&amp;", "&")
            out.extend((pid, line.strip()) for line in text.split("\n") if line.strip())
        for k in w.children:
            walk(k, pid)

    walk(root, "")
    return out


def every_language(ctx):
    """Start → services → needs → ticket in each of the site's 13 languages: no visible line is
    another language's string (a catalog or site text of another language and not of this one),
    the services are in this language's words, right-to-left screens are mirrored, and the
    printed ticket is what its layout says (raster lines dot for dot)."""
    from core.i18n import CITIZEN, is_rtl
    from kiosk.printing import ticket_layout
    from tests.support.tickets import check_against_layout

    langs = tuple(ctx.params.get("langs") or CITIZEN)
    env = KioskEnv(ctx, kiosk={"idle_s": 600, "idle_warn_s": 30, "ticket_idle_s": 600})
    app = ctx.start(env.app)
    yield from _wait_ready(ctx, env)
    site = env.site
    assert set(langs) <= set(site.languages) and all(env.has(f"lang_{lang}") for lang in site.languages)
    own = {lang: _strings(lang, site) for lang in site.languages}
    results: dict = {}
    for lang in langs:
        foreign = set().union(*(own[o] for o in site.languages if o != lang)) - own[lang]
        found: list = []

        def check(where: str) -> None:
            for pid, line in visible_lines(app.root):
                if line in foreign:
                    found.append((where, pid, line))

        yield from _choose_language(env, lang)
        yield from env.shot(f"lang-start-{lang}")
        check("start")
        rtl = is_rtl(lang)
        yield from env.tap("take_number")
        yield from env.screen(F.SERVICES)
        yield from env.shot(f"lang-services-{lang}")
        check("services")
        kela, police = env.widget("service_kela"), env.widget("service_poliisi")
        # The first service of a row sits where the reader starts: on the right in Arabic script.
        assert (kela.x > police.x) if rtl else (kela.x < police.x), (lang, kela.x, police.x)
        back, help_ = env.widget("back"), env.widget("help")
        assert (back.x > help_.x) if rtl else (back.x < help_.x), (lang, "footer")
        names = [line for pid, line in visible_lines(app.root) if pid == "service_kela"]
        assert names[:2] == [site.services["kela"].name[lang], site.services["kela"].description[lang]], (lang, names)
        yield from env.tap("service_kela")
        yield from env.screen(F.NEEDS)
        check("needs")
        jobs_before = len(env.pty.jobs())
        yield from env.tap("get_number")
        yield from env.screen(F.TICKET)
        yield ctx.until(lambda: app.flow.c.print_status == "printed", f"ticket printed ({lang})")
        yield from env.shot(f"lang-ticket-{lang}")
        check("ticket")
        env.pty.wait_jobs(jobs_before + 1)
        t = app.flow.c.ticket
        job = decode(env.pty.jobs()[-1])
        texts, images = check_against_layout(ticket_layout(t, site, app.settings), job)
        results[lang] = {"fallbacks": found, "text_lines": texts, "image_lines": images, "number": t.number}
        yield from env.tap("done")
        yield from env.screen(F.START)
    ctx.result["languages"] = results
    env.save_jobs()


# --- keys only ------------------------------------------------------------------------------

def keys_only(ctx):
    """No touch at all: keys from the start screen to a printed ticket and to a booking check-in,
    with speech (a fake player). What was said, in order, goes back to the test."""
    from kivy.core.window import Window

    from kiosk import keys as K

    env = KioskEnv(ctx, kiosk={"idle_s": 600, "idle_warn_s": 30, "ticket_idle_s": 600})
    app = ctx.start(env.app)
    app.speech_player = ctx.params.get("player")
    yield from _wait_ready(ctx, env)
    f = app.flow
    assert not f.prefs.speak

    def press(key: int, char: str | None = None, mods=()):
        n = len(app.spoken)
        Window.dispatch("on_key_down", key, 0, char, list(mods))
        if char:
            Window.dispatch("on_textinput", char)
        Window.dispatch("on_key_up", key, 0)
        return n

    def focus_to(pp_id: str, step: int = K.DOWN):
        for _ in range(40):
            if app._focus == pp_id:
                return
            press(step)
            yield ctx.until(env.rendered, "rendered")
        raise AssertionError(f"the keys never reached {pp_id} (at {app._focus})")

    # A key at the idle start screen: speech comes on, the key help and the screen are said.
    press(K.DOWN)
    yield ctx.until(lambda: f.prefs.speak and env.rendered() and len(app.spoken) >= 2, "speech on")
    said = [t for _, t in app.spoken]
    # Move to "Take a number", hear it, choose it.
    yield from focus_to("take_number")
    yield ctx.frames(3)
    yield from env.shot("keys-focus-start")
    press(K.ENTER)
    yield from env.screen(F.SERVICES)
    yield from focus_to("service_kela")
    press(K.KP[5], None)  # the keypad's 5 chooses too
    yield from env.screen(F.NEEDS)
    yield from focus_to("need_hearing_loop", K.TAB)
    press(K.ENTER)
    yield ctx.until(lambda: f.c.needs.hearing_loop and env.rendered(), "hearing loop on")
    yield from focus_to("get_number", K.TAB)
    jobs = len(env.pty.jobs())
    press(K.ENTER)
    yield from env.screen(F.TICKET)
    yield ctx.until(lambda: f.c.print_status == "printed", "printed")
    env.pty.wait_jobs(jobs + 1)
    n = press(K.KP_MULTIPLY)  # repeat
    yield ctx.until(lambda: len(app.spoken) > n, "repeated")
    volume_before = app.volume
    press(K.KP_PLUS)
    assert app.volume == volume_before + 20
    press(K.ESCAPE)  # back: "Done" on the ticket screen
    yield from env.screen(F.START)
    # The booking: to "I have an appointment", then the code typed slowly, a key every 3 s.
    yield from focus_to("appointment")
    press(K.ENTER)
    yield from env.screen(F.APPOINTMENT)
    code = CODES["fi"]["ok"]
    for ch in code:
        app.clock.advance(3.0)  # far slower than a barcode reader (SCAN_GAP_S)
        press(K.KP[int(ch)], ch)
        yield ctx.frames(1)
    yield ctx.until(lambda: f.c.code == code and env.rendered(), f"code typed ({f.c.code!r})")
    press(K.KP_ENTER)
    yield ctx.until(lambda: f.screen == F.TICKET and env.rendered(), f"checked in (screen {f.screen})")
    yield from env.shot("keys-checked-in")
    ctx.result["spoken"] = [t for _, t in app.spoken]
    ctx.result["first"] = said
    ctx.result["events"] = [d for _, d in env.hub_events("ticket.issued")]
    ctx.result["volume"] = app.volume


# --- text sizes at the panel's physical size -------------------------------------------------

_SIZE = __import__("re").compile(r"\[size=(\d+(?:\.\d+)?)\](.*?)\[/size\]", __import__("re").S)


def _pieces(label) -> list[tuple[str, float]]:
    """(text, font px) of every piece of a label: a markup label's [size=N] runs at N."""
    text = label.text
    if not label.markup:
        return [(text, float(label.font_size))]
    out = [(_TAG.sub("", m.group(2)), float(m.group(1))) for m in _SIZE.finditer(text)]
    rest = _TAG.sub("", _SIZE.sub("", text))
    return out + [(rest, float(label.font_size))]


def _cap_mm(text: str, px: float, bold: bool, dpi: float) -> float:
    """The ink height of a capital (alef, an ideograph) of `text`'s script at `px`, in mm."""
    from kivy.core.text import LabelBase
    from PIL import ImageFont

    from runtime import fonts

    kind = fonts.script_kind(text)
    if kind == "latin":
        path = LabelBase._fonts["Roboto"][2 if bold else 0]
    else:
        path = fonts.font_path(text, bold=bold, kind=kind)
    ref = fonts.REFERENCE["latin" if kind == "mixed" else kind]
    top, bottom = ImageFont.truetype(path, int(px)).getbbox(ref)[1::2]
    return (bottom - top) / dpi * 25.4


def text_sizes(ctx):
    """Every text and target on the citizen screens measured at the kiosk's physical size (the
    device's [kiosk] screen_inches): cap heights in mm, targets in mm, for normal and large text,
    in English and Arabic."""
    from kivy.metrics import Metrics
    from kivy.uix.label import Label

    from kiosk.widgets import Btn

    env = KioskEnv(ctx, kiosk={"idle_s": 600, "idle_warn_s": 30, "ticket_idle_s": 600, "screen_inches": 21.5})
    app = ctx.start(env.app)
    yield from _wait_ready(ctx, env)
    dpi = float(Metrics.dpi)
    out: dict = {"dpi": dpi, "settings_dpi": app.settings.dpi, "screens": {}}

    def measure(name: str) -> None:
        texts, targets = [], []
        for w in app.root.walk(restrict=False):
            if isinstance(w, Label) and w.text and w.opacity > 0 and w.width > 1:
                for piece, px in _pieces(w):
                    if piece.strip():
                        texts.append((piece.strip()[:40], round(_cap_mm(piece, px, bool(w.bold) or "[b]" in w.text,
                                                                           dpi), 2)))
            if isinstance(w, Btn) and w.width > 1:
                x, y = w.to_window(w.x, w.y)
                targets.append((w.pp_id, round(w.width / dpi * 25.4, 1), round(w.height / dpi * 25.4, 1),
                                [round(v / dpi * 25.4, 2) for v in (x, y, w.width, w.height)]))
        out["screens"][name] = {"texts": texts, "targets": targets}

    for lang in ("en", "ar"):
        for large in (False, True):
            tag = f"{lang}-{'large' if large else 'normal'}"
            yield from _choose_language(env, lang)
            if app.flow.prefs.large_text != large:
                yield from env.tap("toggle_large_text")
                yield ctx.until(lambda: app.flow.prefs.large_text == large and env.rendered(), "text size")
            yield ctx.frames(3)
            measure(f"start-{tag}")
            yield from env.tap("take_number")
            yield from env.screen(F.SERVICES)
            yield ctx.frames(3)
            measure(f"services-{tag}")
            yield from env.tap("service_kela")
            yield from env.screen(F.NEEDS)
            yield ctx.frames(3)
            measure(f"needs-{tag}")
            yield from env.tap("back")
            yield from env.screen(F.SERVICES)
            yield from env.tap("back")
            yield from env.screen(F.START)
            yield from env.tap("appointment")
            yield from env.screen(F.APPOINTMENT)
            yield ctx.frames(3)
            measure(f"appointment-{tag}")
            yield from env.tap("back")
            yield from env.screen(F.START)
    ctx.result["sizes"] = out
