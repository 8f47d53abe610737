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

WATCHDOG_PING_S = 5.0


def _notify(msg: str) -> None:
    try:
        from appliance import sdnotify
    except ImportError:
        return
    try:
        getattr(sdnotify, "notify")(msg)
    except Exception as exc:  # never let supervision break the app
        log.debug("sd_notify failed: %s", exc)


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

    def ready(_dt: float) -> None:
        _notify("READY=1")
        Clock.schedule_interval(lambda _d: _notify("WATCHDOG=1"), WATCHDOG_PING_S)

    Clock.schedule_once(ready, 0)

    def on_usr1(_signum, _frame) -> None:
        Clock.schedule_once(lambda _dt: take_screenshot(name), 0)

    try:
        signal.signal(signal.SIGUSR1, on_usr1)
    except ValueError:  # not the main thread (e.g. inside a test harness)
        pass
