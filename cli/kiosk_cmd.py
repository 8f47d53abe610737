"""palvelupiste kiosk --config DEVICE.toml [--fullscreen] — the check-in kiosk.

    palvelupiste kiosk --config /etc/palvelupiste/kiosk-1.toml --fullscreen    # on the device
    palvelupiste kiosk --config kiosk.toml --local        # on a desk: no broker, a local queue

`make demo` (appliance/demo.py) runs it with an emulated printer; with
PALVELUPISTE_KIOSK_DEMO_EVERY_S=S the kiosk also plays a simulated customer every S seconds
through its own screens (kiosk/demo.py), so a headless demo prints tickets too.

Exit codes: 0 closed, 2 a configuration problem.
"""
from __future__ import annotations

import os
import sys


def register(sub) -> None:
    p = sub.add_parser("kiosk", help="run the check-in kiosk (touch screen and ticket printer)")
    p.add_argument("--config", default=os.environ.get("PALVELUPISTE_CONFIG"),
                   help="the kiosk's device configuration (TOML; default: $PALVELUPISTE_CONFIG)")
    p.add_argument("--fullscreen", action="store_true", help="fill the screen, no window frame, no cursor")
    p.add_argument("--local", action="store_true",
                   help="no hub: issue numbers from a queue in this process (for trying the kiosk out)")
    p.add_argument("--log-level", default=os.environ.get("PALVELUPISTE_LOG", "INFO"),
                   choices=("DEBUG", "INFO", "WARNING", "ERROR"))
    p.set_defaults(func=run)


def run(args) -> int:
    import logging


    logging.basicConfig(level=args.log_level, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    os.environ.setdefault("KIVY_NO_ARGS", "1")
    try:
        if not args.config:
            print("palvelupiste kiosk: --config DEVICE.toml is needed", file=sys.stderr)
            return 2
        from kiosk.app import run_device

        return run_device(args.config, fullscreen=args.fullscreen, local=args.local)
    except (OSError, ValueError) as exc:
        print(f"palvelupiste kiosk: {exc}", file=sys.stderr)
        return 2
