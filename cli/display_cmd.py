"""palvelupiste display --config DEVICE.toml — the waiting-room number display.

The device configuration names the site configuration and the site broker; its [display] section
sets orientation, zone (services, appointments_only / walk_ins_only), spoken languages, chime...
(see display/settings.py). Started through the one start-up path (uikit.launch) with Kivy's
interruptible clock and a low frame ceiling: the display is cheap when nothing happens.
"""
from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence

from runtime import process
from uikit import launch


def register(sub) -> None:
    p = sub.add_parser("display", help="run the waiting-room number display")
    p.add_argument("--config", default=os.environ.get("PALVELUPISTE_CONFIG"),
                   help="the display device's configuration (TOML; default: $PALVELUPISTE_CONFIG)")
    p.add_argument("--windowed", action="store_true", help="a 1920×1080 window instead of full screen")
    p.add_argument("--mute", action="store_true", help="no chime and no speech")
    p.add_argument("--speech-dir", help="where the spoken calls are rendered (default: a temporary directory)")
    p.add_argument("--check", action="store_true", help="only validate the configuration and exit")
    process.add_log_option(p)
    p.set_defaults(func=run, start=start)


def _settings(args):
    """(device, site, settings) of the display's configuration; ConfigError names every problem."""
    from core.config import ConfigError, Issue, load_site
    from display.settings import parse_display

    device = launch.load_device("display", args.config)
    site = load_site(device.site_config)
    settings = parse_display(device.section("display"), set(site.services))
    problems = []
    if device.site != site.id:
        problems.append(Issue("device.site", f"is {device.site!r} but the site configuration is {site.id!r}"))
    if device.site_broker is None:
        problems.append(Issue("site_broker.url", "is missing: the display gets the calls from the site broker"))
    if problems:
        raise ConfigError(str(args.config), problems)
    if args.windowed:
        settings = dataclasses.replace(settings, fullscreen=False)
    if args.mute:
        settings = dataclasses.replace(settings, speech=False)
    return device, site, settings


def plan(args) -> launch.Plan:
    from cli.techscreen import tech_info

    device, site, settings = _settings(args)

    def build():
        from display.app import DisplayApp

        return DisplayApp(site, settings, broker=device.site_broker, device=device.id, device_config=args.config,
                          speech_dir=args.speech_dir or os.path.join(device.data_dir, "speech"), tech_info=tech_info)

    return launch.Plan(device.id, kivy_settings(settings), build, kivy_home=os.path.join(device.data_dir, "kivy"))


def kivy_settings(settings) -> launch.KivySettings:
    """Kivy's settings for a display's [display] settings (display.settings.DisplaySettings)."""
    # A 1920×1080 window in both orientations: portrait rotates the content (a TV hung on its
    # side, the output not rotated by the OS). A display takes no touch but the technician's.
    return launch.KivySettings(size=(1920, 1080), fullscreen=settings.fullscreen, clock="interrupt",
                               max_fps=settings.max_fps)


def start(args, drivers: Sequence[launch.Driver] = ()) -> int:
    return launch.run(plan(args), log_level=args.log_level, drivers=drivers)


def run(args) -> int:
    if args.check:
        device, site, settings = _settings(args)
        zone = ", ".join(settings.services) or "all services"
        print(f"{args.config}: ok — display {device.id} of site {site.id}, {settings.orientation}, {zone}")
        return 0
    return start(args)
