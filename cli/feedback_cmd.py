"""palvelupiste feedback --config DEVICE.toml — the smiley feedback terminal."""
from __future__ import annotations

import logging
import os
import sys


def register(sub) -> None:
    p = sub.add_parser("feedback", help="run the smiley feedback terminal (Kivy)",
                       description="The feedback terminal at the exit: faces, optional follow-up questions, "
                                   "physical buttons ([feedback.buttons]) and a ticket reader ([feedback.attribution]). "
                                   "Settings: the device configuration's [feedback] table.")
    p.add_argument("--config", default=os.environ.get("PALVELUPISTE_CONFIG"),
                   help="device configuration (TOML) of a device with role \"feedback\" (default: $PALVELUPISTE_CONFIG)")
    p.add_argument("--fullscreen", action="store_true", help="fill the screen (the default unless feedback.fullscreen = false)")
    p.add_argument("--windowed", action="store_true", help="a window instead of full screen (setting: feedback.fullscreen)")
    p.add_argument("--demo-presses", metavar="FILE", default=os.environ.get("PALVELUPISTE_FEEDBACK_DEMO_PRESSES"),
                   help="play simulated customers appended to FILE (make demo; see feedback_terminal/demo.py)")
    p.add_argument("--size", default="1280x800", help="window size with --windowed, e.g. 1920x1080 (default 1280x800)")
    p.add_argument("--check", action="store_true", help="check the configuration and exit (no window)")
    p.set_defaults(func=run)


def _size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(x) for x in text.lower().split("x"))
    except ValueError:
        raise SystemExit(f"--size must look like 1280x800, not {text!r}") from None
    if not (320 <= w <= 8000 and 240 <= h <= 8000):
        raise SystemExit(f"--size {text} is out of range")
    return w, h


def run(args) -> int:
    from core.config import load_device, load_site

    if not args.config:
        print("palvelupiste feedback: give --config DEVICE.toml (or set PALVELUPISTE_CONFIG)", file=sys.stderr)
        return 2

    device = load_device(args.config)
    site = load_site(device.site_config)
    from feedback_terminal.settings import load_settings

    settings = load_settings(device, site)
    if args.check:
        print(f"{args.config}: ok — feedback terminal {settings.device} of site {settings.site}, "
              f"scale {settings.flow.scale}, languages {', '.join(settings.flow.languages)}, "
              f"buttons {'yes' if settings.buttons else 'no'}, ticket reader {'yes' if settings.attribution else 'no'}")
        return 0

    from core.i18n import compile_all

    compile_all()
    os.environ.setdefault("KIVY_NO_ARGS", "1")
    from kivy.config import Config

    logging.basicConfig(level=os.environ.get("PALVELUPISTE_LOG", "INFO"), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    fullscreen = args.fullscreen or (settings.fullscreen and not args.windowed)
    size = _size(args.size)
    # Input providers are NOT set here: the device's Kivy config (written by provisioning) has
    # exactly one, and a second one here would turn every tap into two.
    Config.set("graphics", "fullscreen", "auto" if fullscreen else "0")
    if not fullscreen:
        Config.set("graphics", "width", str(size[0]))
        Config.set("graphics", "height", str(size[1]))
    Config.set("kivy", "exit_on_escape", "0")  # a keyboard (or a ticket reader) must not close it

    from feedback_terminal.app import FeedbackApp

    FeedbackApp(settings, window_size=None if fullscreen else size, demo_presses=args.demo_presses).run()
    return 0
