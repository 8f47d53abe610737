"""palvelupiste kiosk --config DEVICE.toml [--fullscreen] — the check-in kiosk.

    palvelupiste kiosk --config /etc/palvelupiste/kiosk-1.toml --fullscreen    # on the device
    palvelupiste kiosk --config kiosk.toml --local        # on a desk: no broker, a local queue

Started through the one start-up path (uikit.launch). `make demo` starts it through sim/apps.py
with simulated customers handed in as a driver.

Exit codes: 0 closed, 2 a configuration problem.
"""
from __future__ import annotations

import os
from collections.abc import Sequence

from runtime import process
from uikit import launch


def register(sub) -> None:
    p = sub.add_parser("kiosk", help="run the check-in kiosk (touch screen and ticket printer)")
    p.add_argument("--config", default=os.environ.get("PALVELUPISTE_CONFIG"),
                   help="the kiosk's device configuration (TOML; default: $PALVELUPISTE_CONFIG)")
    p.add_argument("--fullscreen", action="store_true", help="fill the screen, no window frame, no cursor")
    p.add_argument("--local", action="store_true",
                   help="no hub: issue numbers from a queue in this process (for trying the kiosk out)")
    process.add_log_option(p)
    p.set_defaults(func=run, start=start)


def plan(args) -> launch.Plan:
    """The kiosk's Kivy settings and factory for the device configuration of `args`."""
    from cli.techscreen import tech_info
    from kiosk.settings import kiosk_settings

    device = launch.load_device("kiosk", args.config)
    settings = kiosk_settings(device)

    def build():
        from kiosk.app import build

        return build(device, fullscreen=args.fullscreen, local=args.local, device_config=args.config,
                     tech_info=tech_info)

    return launch.Plan(device.id, kivy_settings(settings, args.fullscreen), build,
                       kivy_home=os.path.join(device.data_dir, "kivy"))


def kivy_settings(settings, fullscreen: bool = False) -> launch.KivySettings:
    """Kivy's settings for a kiosk's [kiosk] settings (kiosk.settings.KioskSettings)."""
    return launch.KivySettings(size=settings.window, fullscreen=fullscreen, input=settings.input, dpi=settings.dpi)


def start(args, drivers: Sequence[launch.Driver] = ()) -> int:
    return launch.run(plan(args), log_level=args.log_level, drivers=drivers)


def run(args) -> int:
    return start(args)
