"""Hooks every Kivy app installs in on_start: systemd readiness and watchdog, screenshots.

- sd_notify READY=1 once the first frame is up, then WATCHDOG=1 from the Kivy clock: if the
  UI thread freezes, the pings stop and systemd restarts the app (WatchdogSec in the unit).
- SIGUSR1 writes a screenshot of the window to $PALVELUPISTE_SCREENSHOT_DIR/<name>.png, so
  the demo (and a technician) can see every window of a headless service point.
"""
from __future__ import annotations

import logging
import os
import signal
from pathlib import Path

log = logging.getLogger(__name__)

def take_screenshot(name: str, directory: str | os.PathLike | None = None) -> Path | None:
    from kivy.core.window import Window

    d = Path(directory or os.environ.get("PALVELUPISTE_SCREENSHOT_DIR", "."))
    d.mkdir(parents=True, exist_ok=True)
    target = d / f"{name}.png"
    # Window.screenshot appends a counter to the name; move the newest to the stable name.
    made = Window.screenshot(name=str(d / f".{name}-.png"))
    if made and Path(made).exists():
        tmp = Path(made)
        tmp.replace(target)
        return target
    return None


def install(app, name: str) -> None:
    from kivy.clock import Clock

    from appliance import sdnotify

    def ready(_dt: float) -> None:
        # After the first frame: READY=1, then pings from the UI thread's own clock, so a
        # frozen UI stops pinging and systemd restarts it (WatchdogSec in the unit).
        sdnotify.ready()
        sdnotify.start_watchdog_pings(Clock.schedule_interval)

    Clock.schedule_once(ready, 0)

    def on_usr1(_signum, _frame) -> None:
        Clock.schedule_once(lambda _dt: take_screenshot(name), 0)

    try:
        signal.signal(signal.SIGUSR1, on_usr1)
    except ValueError:  # not the main thread (e.g. inside a test harness)
        pass
