"""Kivy settings for an always-on display, applied before Kivy's clock and window exist.

Kept apart from display/app.py on purpose: importing kivy.app imports kivy.clock, and the clock's
kind (``KIVY_CLOCK``) is fixed at that moment.
"""
from __future__ import annotations

import os

from .settings import DisplaySettings


def configure_kivy(settings: DisplaySettings) -> None:
    """Kivy settings for an always-on display; call before anything imports kivy.clock/window."""
    os.environ.setdefault("KIVY_CLOCK", "interrupt")
    from kivy.config import Config

    Config.set("kivy", "kivy_clock", os.environ["KIVY_CLOCK"])
    Config.set("graphics", "maxfps", str(settings.max_fps))
    Config.set("kivy", "exit_on_escape", "0")
    Config.set("kivy", "log_level", os.environ.get("PALVELUPISTE_LOG", "warning").lower())
    Config.set("graphics", "show_cursor", "0")
    Config.set("graphics", "allow_screensaver", "0")  # the TV must never blank
    if settings.fullscreen:
        Config.set("graphics", "fullscreen", "auto")
    else:
        # A 1920×1080 window in both orientations: portrait rotates the content (a TV hung on
        # its side, the output not rotated by the OS).
        Config.set("graphics", "width", "1920")
        Config.set("graphics", "height", "1080")
    # A display takes no touch: no input provider besides what Kivy needs for the window.
    for key in Config.options("input") if Config.has_section("input") else []:
        if key != "mouse":
            Config.remove_option("input", key)
