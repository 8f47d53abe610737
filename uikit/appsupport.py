"""What every Kivy app gets once it runs (uikit.launch installs it on start): systemd readiness
and watchdog, screenshots; and the one way an app closes what it holds when it stops.

- sd_notify READY=1 once the first frame is up, then WATCHDOG=1 from the Kivy clock: if the
  UI thread freezes, the pings stop and systemd restarts the app (WatchdogSec in the unit).
- SIGUSR1 writes a screenshot of the window to $PALVELUPISTE_SCREENSHOT_DIR/<name>.png, so
  the demo (and a technician) can see every window of a headless service point.
"""
from __future__ import annotations

import io
import logging
import os
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

from runtime.files import atomic_write

log = logging.getLogger(__name__)

def take_screenshot(name: str, widget=None, directory: str | os.PathLike | None = None) -> Path:
    """The app's root widget rendered into an offscreen buffer and saved as PNG.

    Not Window.screenshot: that reads whatever the back buffer holds at that moment (a
    half-drawn frame under an idle-throttled clock) and ignores a rotated (portrait) layout.
    The window's clear colour is drawn first, as the apps leave their background to it."""
    from kivy.app import App
    from kivy.core.image import Image
    from kivy.core.window import Window
    from kivy.graphics import ClearBuffers, ClearColor, Fbo, Scale, Translate

    widget = widget or App.get_running_app().root
    d = Path(directory or os.environ.get("PALVELUPISTE_SCREENSHOT_DIR", "."))
    d.mkdir(parents=True, exist_ok=True)
    target = d / f"{name}.png"
    parent = widget.parent
    index = parent.canvas.indexof(widget.canvas) if parent is not None else -1
    if index > -1:
        parent.canvas.remove(widget.canvas)
    try:
        fbo = Fbo(size=widget.size, with_stencilbuffer=True)
        with fbo:
            ClearColor(*Window.clearcolor)
            ClearBuffers()
            Scale(1, -1, 1)
            Translate(-widget.x, -widget.y - widget.height, 0)
        fbo.add(widget.canvas)
        fbo.draw()
        png = io.BytesIO()
        Image(fbo.texture).save(png, flipped=False, fmt="png")
        atomic_write(target, png.getvalue(), fsync=False)  # a reader never sees half a file
        fbo.remove(widget.canvas)
    finally:
        if index > -1:
            parent.canvas.insert(index, widget.canvas)
    return target


def install(app, name: str) -> None:
    """`name`: the screenshot's file name (the device id)."""
    from kivy.clock import Clock

    from runtime import sdnotify

    def ready(_dt: float) -> None:
        # After the first frame: READY=1, then pings from the UI thread's own clock, so a
        # frozen UI stops pinging and systemd restarts it (WatchdogSec in the unit).
        sdnotify.ready()
        sdnotify.start_watchdog_pings(Clock.schedule_interval)

    Clock.schedule_once(ready, 0)

    def on_usr1(_signum, _frame) -> None:
        def shoot(_dt: float) -> None:
            try:
                take_screenshot(name, app.root)
            except Exception as exc:  # a failed screenshot must not take the app down
                log.warning("screenshot failed: %s", exc)

        Clock.schedule_once(shoot, 0)

    try:
        signal.signal(signal.SIGUSR1, on_usr1)
    except ValueError:  # not the main thread (e.g. inside a test harness)
        pass


def close_all(what: str, *closers: Callable[[], Any] | None) -> None:
    """Call each closer (None: nothing to close); one that fails is logged and the others still
    run, so a broken link never keeps a store or a speaker open when the app stops."""
    for closer in closers:
        if closer is None:
            continue
        try:
            closer()
        except Exception:
            log.exception("%s: closing failed", what)
