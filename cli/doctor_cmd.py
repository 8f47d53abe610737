"""palvelupiste doctor — check this device and print what is wrong, with a fix for each problem."""
from __future__ import annotations

import os


def register(sub) -> None:
    p = sub.add_parser(
        "doctor", help="self-test of this device: configuration, clock, disk, store, brokers, printer, input, screen",
        description="Runs the checks for the device's role and prints a table (check, status, detail, fix). "
                    "Exit status: 1 when a check FAILs; 0 otherwise (warnings alone exit 0).")
    p.add_argument("--config", default=None, metavar="DEVICE.toml",
                   help="the device configuration (default: $PALVELUPISTE_CONFIG, else /etc/palvelupiste/device.toml)")
    p.add_argument("--json", action="store_true", help="the report as JSON (same exit status)")
    p.add_argument("--root", metavar="DIR",
                   help="check a device installed under DIR (an SD card, a provisioning test): its paths are read "
                        "under DIR; checks of this machine's hardware are skipped")
    p.add_argument("--timeout", type=float, default=3.0, metavar="S",
                   help="seconds to wait for each broker (default 3)")
    p.set_defaults(func=run)


def run(args) -> int:
    from appliance.doctor import main
    from appliance.units import DEVICE_CONFIG

    config = args.config or os.environ.get("PALVELUPISTE_CONFIG")
    if not config:
        config = os.path.join(args.root, DEVICE_CONFIG.lstrip("/")) if args.root else DEVICE_CONFIG
    return main(config, as_json=args.json, root=args.root, timeout=args.timeout)
