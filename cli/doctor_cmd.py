"""palvelupiste doctor — check this device and print what is wrong, with a fix for each problem."""
from __future__ import annotations

import os


def register(sub) -> None:
    p = sub.add_parser(
        "doctor", help="self-test of this device: configuration, clock, disk, store, brokers, printer, input, screen",
        description="Runs the checks for the device's role and prints a table (check, status, detail, fix). On "
                    "the central host (/etc/palvelupiste/central.toml) it checks PostgreSQL and its schema, the "
                    "broker's TLS and services listeners, the certificate's expiry and the ingest units. "
                    "Exit status: 1 when a check FAILs; 0 otherwise (warnings alone exit 0).")
    p.add_argument("--config", default=None, metavar="DEVICE.toml",
                   help="the device configuration, or the central host's (default: $PALVELUPISTE_CONFIG, else "
                        "/etc/palvelupiste/device.toml, else /etc/palvelupiste/central.toml)")
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
    from central.settings import CENTRAL_CONFIG

    config = args.config or os.environ.get("PALVELUPISTE_CONFIG")
    if not config:
        def where(p: str) -> str:
            return os.path.join(args.root, p.lstrip("/")) if args.root else p
        # a device's file, else the central host's; neither: the device's is reported missing
        config = where(DEVICE_CONFIG)
        if not os.path.exists(config) and os.path.exists(where(CENTRAL_CONFIG)):
            config = where(CENTRAL_CONFIG)
    return main(config, as_json=args.json, root=args.root, timeout=args.timeout)
