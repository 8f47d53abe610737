"""The one way a Kivy app of the service point starts: the kiosk, the number display, the counter
panel and the feedback terminal (cli/*_cmd.py; sim/apps.py for the demo, with its drivers).

    device = launch.load_device("display", args.config)      # ConfigError names device.role
    plan = launch.Plan(name=device.id, kivy=launch.KivySettings(...), build=lambda: DisplayApp(...),
                       kivy_home=...)
    return launch.run(plan, log_level=args.log_level, drivers=())

`run` does, in this order (Kivy fixes some of it the moment it is first imported):
  1. logging: one format, one default level (INFO), overridden by --log-level or $PALVELUPISTE_LOG;
     Kivy's own messages go through the same handler (KIVY_LOG_MODE=PYTHON), not to files on the
     SD card;
  2. Kivy's environment before the first Kivy import: KIVY_NO_ARGS (Kivy must not read our argv),
     KIVY_HOME, the clock kind (an always-on display sleeps between frames: "interrupt");
     Every label shaped and in a font that has its script (uikit.textrender), before any widget
     module is imported;
  3. Kivy's Config: window size or full screen, frame ceiling, exactly ONE input provider (two
     providers reading one touch screen give every tap twice: Kivy #3801, #8494), Escape never
     closes the app, the screen never blanks;
  4. the gettext catalogs compiled where a .po is newer (a source checkout);
  5. the app, from the app package's factory (`plan.build`), called only now;
  6. on start: systemd READY=1 after the first frame, watchdog pings and the SIGUSR1 screenshot
     (uikit.appsupport), then each driver (a callable given the running app: the demo's simulated
     customers, a first-frame notifier);
  7. SIGTERM and SIGINT stop the app through App.stop(), so its on_stop closes links and stores.
"""
from __future__ import annotations

import logging
import os
import re
import signal
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.config import ConfigError, Device, Issue
from runtime import process
from runtime.process import DEFAULT_LOG_LEVEL, resolve_log_level

log = logging.getLogger(__name__)


#: A driver: given the running app when it has started; what it returns is kept alive as long
#: as the app runs (Kivy's clock holds bound methods only weakly).
Driver = Callable[[Any], Any]


@dataclass(frozen=True)
class KivySettings:
    size: tuple[int, int]               # the window's size (ignored in full screen)
    fullscreen: bool = False
    input: str = "mouse"                # the one provider: "mouse", "hidinput:/dev/input/eventN", "mtdev"...
    clock: str = "default"              # "interrupt": sleeps between frames (the always-on display)
    max_fps: int = 60
    dpi: float = 0.0                    # the screen's real DPI when it reports a wrong one (0 = trust it)


@dataclass(frozen=True)
class Plan:
    """What the command decided before anything of Kivy is imported."""
    name: str                           # the device id: log lines, the SIGUSR1 screenshot's file name
    kivy: KivySettings
    build: Callable[[], Any]            # makes the App; imports Kivy, so it runs after configure_kivy
    kivy_home: str | None = None        # KIVY_HOME unless the environment sets it (the units do)


def load_device(role: str, config: str | Path | None) -> Device:
    """The device configuration of an app of `role`; a file of another role is a ConfigError
    that names device.role (a kiosk's file given to the display must not half-start a display)."""
    from core.config import load_device as load

    if not config:
        raise ConfigError("--config", [Issue("config", "the device configuration is needed "
                                                       "(--config DEVICE.toml or $PALVELUPISTE_CONFIG)")])
    return load(config, role=role)


def setup_logging(level: str) -> None:
    """The process's logging (runtime.process); Kivy's logger joins it (before Kivy is imported)."""
    os.environ.setdefault("KIVY_LOG_MODE", "PYTHON")
    os.environ.setdefault("KIVY_NO_FILELOG", "1")
    process.setup_logging(level)


#: an `input` setting: one Kivy input provider, optionally with its device (the kiosk's schema uses it)
INPUT_PATTERN = r"(mouse|hidinput|mtdev|linuxwacom)(?::(/\S+))?"
_INPUT_RE = re.compile(INPUT_PATTERN)


def input_provider(setting: str | None) -> tuple[str, str]:
    """The one [input] entry of Kivy's config for an `input` setting:

        "mouse" (default)            mouse = mouse,disable_multitouch
        "hidinput:/dev/input/event3" touch = hidinput,/dev/input/event3   (multitouch, direct)
        "mtdev" / "hidinput"         touch = probesysfs,provider=mtdev      (found by capability)

    Raises ValueError for anything else. The start-up path and provisioning (which writes the
    device's Kivy config) both use it."""
    m = _INPUT_RE.fullmatch(setting or "mouse")
    if not m:
        raise ValueError(f"input {setting!r}: use one provider: mouse, hidinput:/dev/input/eventN or "
                         "mtdev:/dev/input/eventN")
    kind, dev = m[1], m[2]
    if kind == "mouse":
        # SDL2 turns a touch screen into pointer events; on Linux Kivy ignores SDL's own finger
        # events, so this is one source.
        return "mouse", "mouse,disable_multitouch"
    return "touch", f"{kind},{dev}" if dev else f"probesysfs,provider={kind}"


def configure_kivy(k: KivySettings, level: str = DEFAULT_LOG_LEVEL) -> None:
    """Kivy's environment and Config. The environment part counts only before the first Kivy
    import (the clock kind in particular); the Config part before the window exists."""
    os.environ.setdefault("KIVY_NO_ARGS", "1")
    os.environ.setdefault("KIVY_CLOCK", k.clock)
    if k.dpi:
        os.environ["KIVY_DPI"] = f"{k.dpi:g}"
        import sys

        if "kivy.metrics" in sys.modules:  # read KIVY_DPI already (a test driver imported Kivy first)
            from kivy.metrics import Metrics

            Metrics.dpi = k.dpi
    from kivy.config import Config

    from . import textrender

    textrender.install()
    logging.getLogger("kivy").setLevel(level)
    Config.set("kivy", "log_level", level.lower())
    Config.set("kivy", "kivy_clock", os.environ["KIVY_CLOCK"])
    Config.set("kivy", "exit_on_escape", "0")     # a keyboard or a barcode reader may send Escape
    Config.set("kivy", "pause_on_minimize", "0")
    w, h = k.size
    Config.set("graphics", "width", str(w))
    Config.set("graphics", "height", str(h))
    Config.set("graphics", "resizable", "0")
    Config.set("graphics", "fullscreen", "auto" if k.fullscreen else "0")
    Config.set("graphics", "borderless", "1" if k.fullscreen else "0")
    Config.set("graphics", "show_cursor", "0" if k.fullscreen else "1")
    Config.set("graphics", "maxfps", str(k.max_fps))
    # No multisampling: flat shapes and text do not need it, and at 1080x1920 it doubles the
    # framebuffer (66 MB more resident memory with software GL) and the cost of every frame.
    Config.set("graphics", "multisamples", "0")
    Config.set("graphics", "allow_screensaver", "0")
    if not Config.has_section("input"):
        Config.add_section("input")
    for opt in list(Config.options("input")):
        Config.remove_option("input", opt)
    Config.set("input", *input_provider(k.input))


def _compile_catalogs() -> None:
    from core.i18n import compile_all

    try:
        compile_all()
    except OSError as exc:  # an installed package's catalogs are compiled and may be read-only
        log.warning("cannot compile the translation catalogs: %s", exc)


def run(plan: Plan, *, log_level: str | None = None, drivers: Sequence[Driver] = ()) -> int:
    """Start the app of `plan`, run it until it stops (a signal, or the window closed)."""
    level = resolve_log_level(log_level)
    setup_logging(level)
    if plan.kivy_home:
        os.environ.setdefault("KIVY_HOME", plan.kivy_home)
        Path(os.environ["KIVY_HOME"]).mkdir(parents=True, exist_ok=True)
    configure_kivy(plan.kivy, level)
    _compile_catalogs()
    app = plan.build()
    kept: list[Any] = []

    def started(*_a) -> None:
        from . import appsupport

        appsupport.install(app, plan.name)
        for driver in drivers:
            kept.append(driver(app))

    app.bind(on_start=started)
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}

    def stop(signum, _frame) -> None:
        from kivy.clock import Clock

        log.info("%s: %s, stopping", plan.name, signal.Signals(signum).name)
        # On the clock: App.stop() must run on the UI thread between frames, not inside whatever
        # the signal interrupted.
        Clock.schedule_once(lambda _dt: app.stop(), 0)

    for sig in previous:
        signal.signal(sig, stop)
    try:
        log.info("%s: starting", plan.name)
        app.run()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    log.info("%s: stopped", plan.name)
    return 0
