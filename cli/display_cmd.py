"""palvelupiste display --config DEVICE.toml — the waiting-room number display.

The device configuration names the site configuration and the site broker; its [display] section
sets orientation, zone (services, appointments_only / walk_ins_only), spoken languages, chime...
(see display/settings.py). Kivy's clock is configured before Kivy is imported: an interruptible
clock with a low frame ceiling keeps the display cheap when nothing happens.
"""
from __future__ import annotations

import os
import sys


def register(sub) -> None:
    p = sub.add_parser("display", help="run the waiting-room number display")
    p.add_argument("--config", default=os.environ.get("PALVELUPISTE_CONFIG"),
                   help="the display device's configuration (TOML; default: $PALVELUPISTE_CONFIG)")
    p.add_argument("--windowed", action="store_true", help="a 1920×1080 window instead of full screen")
    p.add_argument("--mute", action="store_true", help="no chime and no speech")
    p.add_argument("--speech-dir", help="where the spoken calls are rendered (default: a temporary directory)")
    p.add_argument("--check", action="store_true", help="only validate the configuration and exit")
    p.set_defaults(func=run)


def run(args) -> int:
    import dataclasses
    import logging

    from core.config import load_device, load_site
    from display.settings import parse_display

    if not args.config:
        print("palvelupiste display: --config DEVICE.toml is needed", file=sys.stderr)
        return 2
    device = load_device(args.config)
    site = load_site(device.site_config)
    settings = parse_display(device.section("display"), set(site.services))
    problems = []
    if device.role != "display":
        problems.append(f"device.role is {device.role!r}, not \"display\"")
    if device.site != site.id:
        problems.append(f"device.site is {device.site!r} but the site configuration is {site.id!r}")
    if device.site_broker is None:
        problems.append("[site_broker] url is missing")
    if problems:
        print(f"{args.config}: " + "; ".join(problems), file=sys.stderr)
        return 2
    if args.windowed:
        settings = dataclasses.replace(settings, fullscreen=False)
    if args.mute:
        settings = dataclasses.replace(settings, speech=False)
    if args.check:
        zone = ", ".join(settings.services) or "all services"
        print(f"{args.config}: ok — display {device.id} of site {site.id}, {settings.orientation}, {zone}")
        return 0

    logging.basicConfig(level=os.environ.get("PALVELUPISTE_LOG", "WARNING"), stream=sys.stderr)
    os.environ.setdefault("KIVY_NO_ARGS", "1")
    from display.tuning import configure_kivy

    configure_kivy(settings)  # before Kivy's clock and window are imported
    from display.app import DisplayApp

    DisplayApp(site, settings, broker=device.site_broker, device=device.id, device_config=args.config,
               speech_dir=args.speech_dir or os.path.join(device.data_dir, "speech")).run()
    return 0
