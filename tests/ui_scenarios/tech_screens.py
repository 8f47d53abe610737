"""The hidden technician screen on the kiosk and on the display (uikit.techoverlay): five simulated
taps in the top-left corner open it over the running app (the real hub on the test's Mosquitto),
the device id and site show at once, the doctor's result once the worker thread has it; "Close"
closes it, a double tap on "Close" presses nothing underneath, and four taps do nothing at all.
The doctor reaches the apps as `palvelupiste kiosk` / `display` hand it in (cli.techscreen); a
display started without it shows what it knows and says that the self-test is not available.

Screenshots: kiosk-technician.png, display-technician.png in the test's output directory.
"""
from __future__ import annotations

import time
from pathlib import Path

from kiosk import flow as F
from tests.ui_scenarios.display_support import Hub, device_toml, kivy_as_started, load_example_site, shot
from tests.ui_scenarios.kiosk_support import KioskEnv

CHECK_STATUSES = {"OK", "WARN", "FAIL", "SKIP"}


class Spot:
    """A point of the window for ctx.tap (which taps a widget's centre, in window coordinates)."""

    def __init__(self, x: float, y: float) -> None:
        self.center = (x, y)

    @staticmethod
    def to_window(x: float, y: float) -> tuple[float, float]:
        return x, y


def corner() -> Spot:
    """Inside the top-left corner square (Kivy's y grows upwards)."""
    from kivy.core.window import Window

    return Spot(12, Window.height - 12)


def taps(ctx, n: int) -> None:
    spot = corner()
    for _ in range(n):
        ctx.tap(spot)


def _doctor_on_screen(ctx, tech) -> list[tuple[str, str]]:
    """(check row id, status) of every check row the overlay shows."""
    rows = ctx.find_all(tech.overlay, lambda w: str(getattr(w, "pp_id", "")).startswith("tech_check_"))
    return [(w.pp_id, w.status) for w in rows]


def _wait(ctx, seconds: float, what: str):
    until = time.monotonic() + seconds
    return ctx.until(lambda: time.monotonic() >= until, what, timeout=seconds + 5)


def kiosk_technician(ctx):
    from cli.techscreen import tech_info

    env = KioskEnv(ctx, tech_info=tech_info)
    app = ctx.start(env.app)
    yield ctx.until(lambda: app.root is not None and env.rendered(), "kiosk built")
    yield ctx.until(lambda: app.hub.connected, "kiosk connected to the site broker")
    yield ctx.until(lambda: app.printer.wait_ready(0) and app.flow.printer_ok is True, "printer status known")
    tech = app.tech
    log_before, prefs_before = list(app.flow.log), app.flow.prefs
    # The self-test made a second slower than it is here: the screen must be up and drawing meanwhile.
    real_gather = tech.gather

    def slow_gather(run_doctor: bool):
        if run_doctor:
            time.sleep(1.0)
        return real_gather(run_doctor)
    tech.gather = slow_gather

    taps(ctx, 5)
    yield ctx.until(lambda: tech.is_open, "technician screen open after five corner taps", timeout=5)
    from kivy.clock import Clock

    frames_at_open = Clock.frames
    assert tech.checking and ctx.find(tech.overlay, "tech_checking").text == "Itsetestaus käynnissä…"
    shown = "\n".join(tech.texts_on_screen())
    assert ctx.find(tech.overlay, "tech_device").text == "kiosk-1 (kiosk)", shown
    assert "example-pp" in ctx.find(tech.overlay, "tech_site").text, shown
    assert "Huoltotiedot" in shown and "Sulje" in shown, shown   # the kiosk's language (fi)
    assert app.flow.screen == F.START and app.flow.log == log_before, "the taps did nothing on the kiosk"
    yield ctx.until(lambda: tech.doctor_shown, "the doctor's result on the technician screen", timeout=25)
    assert Clock.frames - frames_at_open >= 10, "the UI thread stood still while the self-test ran"
    yield ctx.frames(3)
    rows = _doctor_on_screen(ctx, tech)
    names = {r for r, _s in rows}
    assert {"tech_check_configuration", "tech_check_site_broker", "tech_check_printer"} <= names, rows
    assert all(s in CHECK_STATUSES for _r, s in rows), rows
    assert dict(rows)["tech_check_site_broker"] == "OK", rows            # the test's Mosquitto answers
    assert dict(rows)["tech_check_printer"] == "OK", rows                # the worker's own reading
    assert ctx.find(tech.overlay, "tech_doctor_result").status in CHECK_STATUSES
    assert "127.0.0.1" in ctx.find(tech.overlay, "tech_site_broker").text
    shown = "\n".join(tech.texts_on_screen())
    assert "Itsetestaus" in shown and "Virheitä:" in shown, shown
    # every visible text of the whole window includes the overlay's
    assert "kiosk-1 (kiosk)" in app.all_texts()
    ctx.screenshot("kiosk-technician")

    # "Close", tapped twice over the "Buttons lower down" toggle underneath: the second tap must not
    # reach it (the overlay swallows touches for half a second after closing)
    close = ctx.find(tech.overlay, "tech_close")
    under = env.widget("toggle_low_layout")
    x, y = under.to_window(*under.center)[0], close.to_window(*close.center)[1]
    assert close.collide_point(x, y) and under.collide_point(*under.to_widget(x, y)), "no button underneath"
    ctx.tap(Spot(x, y), double=True)
    yield ctx.until(lambda: not tech.is_open, "technician screen closed")
    yield ctx.frames(3)
    assert app.flow.prefs == prefs_before and app.flow.log == log_before, (app.flow.prefs, app.flow.log)
    assert "kiosk-1 (kiosk)" not in app.all_texts()

    # four taps (one short): nothing opens, nothing happens on the kiosk
    yield _wait(ctx, tech.quiet_s + 0.1, "the quiet time after closing")
    taps(ctx, 4)
    yield ctx.frames(5)
    assert not tech.is_open and tech.opened == 1 and tech.gesture.count == 4
    assert app.flow.screen == F.START and app.flow.log == log_before and app.flow.prefs == prefs_before

    # the kiosk goes on as before: a customer takes a number
    yield from env.tap("take_number")
    yield from env.screen(F.SERVICES)


def display_technician(ctx):
    from cli.display_cmd import kivy_settings
    from cli.techscreen import tech_info
    from display.app import DisplayApp
    from display.settings import parse_display

    work = Path(ctx.workdir)
    url = ctx.params["broker"]
    hub = Hub(work / "hub", url, heartbeat_s=1.0).start()
    conf = device_toml(work / "display.toml", device="display-1", role="display", broker_url=url,
                       data_dir=work / "display-data")
    site = load_example_site()
    settings = parse_display({"fullscreen": False, "speech": False}, set(site.services))
    kivy_as_started(kivy_settings(settings))
    app = ctx.start(DisplayApp(site, settings, broker=url, device="display-1", device_config=conf,
                               tech_info=tech_info))
    yield ctx.until(lambda: app.root is not None and app.model.connected and app.model.had_state,
                    "display connected with a state")
    tech = app.tech

    taps(ctx, 5)
    yield ctx.until(lambda: tech.is_open, "technician screen open after five corner taps", timeout=5)
    assert ctx.find(tech.overlay, "tech_device").text == "display-1 (display)"
    assert "example-pp" in ctx.find(tech.overlay, "tech_site").text
    yield ctx.until(lambda: tech.doctor_shown, "the doctor's result on the technician screen", timeout=25)
    yield ctx.frames(3)
    rows = dict(_doctor_on_screen(ctx, tech))
    assert {"tech_check_configuration", "tech_check_site_broker", "tech_check_screen"} <= set(rows), rows
    assert rows["tech_check_site_broker"] == "OK", rows
    assert rows["tech_check_central_broker"] == "FAIL", rows    # none configured: named with its fix
    shown = "\n".join(tech.texts_on_screen())
    assert "Korjaus:" in shown and "Huoltotiedot" in shown, shown
    shot(ctx, tech.overlay, "display-technician")

    ctx.tap(ctx.find(tech.overlay, "tech_close"))
    yield ctx.until(lambda: not tech.is_open, "technician screen closed")
    yield _wait(ctx, tech.quiet_s + 0.1, "the quiet time after closing")
    taps(ctx, 4)
    yield ctx.frames(5)
    assert not tech.is_open and tech.opened == 1

    # it closes by itself (60 s on a device; 1.5 s here)
    tech.close_s = 1.5
    taps(ctx, 1)   # the fifth tap, within three seconds of the other four
    yield ctx.until(lambda: tech.is_open, "open again")
    yield ctx.until(lambda: not tech.is_open, "closed by itself", timeout=5)
    assert tech.opened == 2
    hub.stop()


def display_without_doctor(ctx):
    """A display started without a tech_info function (nothing of appliance/ reachable): the
    technician screen still opens with what the app knows and says why there is no self-test."""
    from cli.display_cmd import kivy_settings
    from display.app import DisplayApp
    from display.settings import parse_display

    work = Path(ctx.workdir)
    url = ctx.params["broker"]
    conf = device_toml(work / "display.toml", device="display-1", role="display", broker_url=url,
                       data_dir=work / "display-data")
    site = load_example_site()
    settings = parse_display({"fullscreen": False, "speech": False}, set(site.services))
    kivy_as_started(kivy_settings(settings))
    app = ctx.start(DisplayApp(site, settings, broker=url, device="display-1", device_config=conf))
    yield ctx.until(lambda: app.root is not None, "display built")
    tech = app.tech
    taps(ctx, 5)
    yield ctx.until(lambda: tech.is_open, "technician screen open after five corner taps", timeout=5)
    yield ctx.until(lambda: not tech.checking, "the worker is done", timeout=10)
    yield ctx.frames(3)
    assert ctx.find(tech.overlay, "tech_device").text == "display-1 (display)"
    assert ctx.find(tech.overlay, "tech_version").text not in ("", "…")
    assert "127.0.0.1" in ctx.find(tech.overlay, "tech_site_broker").text
    assert not tech.doctor_shown and not _doctor_on_screen(ctx, tech)
    note = ctx.find(tech.overlay, "tech_doctor_error").text
    assert "without the self-test" in note, note
    shot(ctx, tech.overlay, "display-technician-without-doctor")
