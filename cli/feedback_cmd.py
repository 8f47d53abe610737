"""palvelupiste feedback --config DEVICE.toml — the smiley feedback terminal, started through the one
start-up path (uikit.launch). `make demo` starts it through sim/apps.py with simulated customers
handed in as a driver."""
from __future__ import annotations

import os
from collections.abc import Sequence

from runtime import process
from uikit import launch


def register(sub) -> None:
    p = sub.add_parser("feedback", help="run the smiley feedback terminal (Kivy)",
                       description="The feedback terminal at the exit: faces, optional follow-up questions, "
                                   "physical buttons ([feedback.buttons]) and a ticket reader ([feedback.attribution]). "
                                   "Settings: the device configuration's [feedback] table.")
    p.add_argument("--config", default=os.environ.get("PALVELUPISTE_CONFIG"),
                   help="device configuration (TOML) of a device with role \"feedback\" (default: $PALVELUPISTE_CONFIG)")
    p.add_argument("--fullscreen", action="store_true", help="fill the screen (the default unless feedback.fullscreen = false)")
    p.add_argument("--windowed", action="store_true", help="a window instead of full screen (setting: feedback.fullscreen)")
    p.add_argument("--size", default="1280x800", help="window size with --windowed, e.g. 1920x1080 (default 1280x800)")
    p.add_argument("--check", action="store_true", help="check the configuration and exit (no window)")
    process.add_log_option(p)
    p.set_defaults(func=run, start=start)


def _size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(x) for x in text.lower().split("x"))
    except ValueError:
        raise SystemExit(f"--size must look like 1280x800, not {text!r}") from None
    if not (320 <= w <= 8000 and 240 <= h <= 8000):
        raise SystemExit(f"--size {text} is out of range")
    return w, h


def _settings(args):
    from core.config import load_site
    from feedback_terminal.settings import load_settings

    device = launch.load_device("feedback", args.config)
    return device, load_settings(device, load_site(device.site_config))


def plan(args) -> launch.Plan:
    device, settings = _settings(args)
    fullscreen = args.fullscreen or (settings.fullscreen and not args.windowed)
    size = _size(args.size)

    def build():
        from feedback_terminal.app import FeedbackApp

        return FeedbackApp(settings, window_size=None if fullscreen else size)

    return launch.Plan(device.id, launch.KivySettings(size=size, fullscreen=fullscreen), build,
                       kivy_home=os.path.join(device.data_dir, "kivy"))


def start(args, drivers: Sequence[launch.Driver] = ()) -> int:
    return launch.run(plan(args), log_level=args.log_level, drivers=drivers)


def run(args) -> int:
    if args.check:
        _device, settings = _settings(args)
        print(f"{args.config}: ok — feedback terminal {settings.device} of site {settings.site}, "
              f"scale {settings.flow.scale}, languages {', '.join(settings.flow.languages)}, "
              f"buttons {'yes' if settings.buttons else 'no'}, ticket reader {'yes' if settings.attribution else 'no'}")
        return 0
    return start(args)
