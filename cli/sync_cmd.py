"""palvelupiste sync --config DEVICE.toml — the device's sync agent (runs until stopped)."""
from __future__ import annotations

import logging
import sys

from runtime import process


def register(sub) -> None:
    p = sub.add_parser("sync", help="run the device's sync agent: outbox → central broker, config and appointments back",
                       description="Publishes the device's event outbox to the central broker and records what the "
                                   "central ingest acknowledges; keeps the site configuration and the appointment "
                                   "list published by the centre on disk. Runs until SIGTERM/SIGINT.")
    p.add_argument("--config", required=True, metavar="DEVICE.toml", help="the device configuration")
    process.add_log_option(p)
    p.set_defaults(func=run)


def run(args) -> int:
    from core.config import load_device
    from sync.agent import SyncAgent, SyncOptions

    process.setup_logging(args.log_level)
    try:
        device = load_device(args.config)
        options = SyncOptions.from_section(device.section("sync"), args.config)
        agent = SyncAgent(device, options)
    except OSError as exc:  # e.g. the password file cannot be read
        print(f"{args.config}: {exc}", file=sys.stderr)
        return 2
    stop = process.stop_on_signals()
    from core.store import StoreError

    try:
        agent.run(stop)
    except StoreError as exc:  # e.g. the store belongs to another device, or is corrupt
        logging.getLogger("sync").error("cannot open the event store: %s", exc)
        return 1
    return 0
