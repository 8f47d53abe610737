"""How every long-running `palvelupiste` process starts and stops: logging set up one way (one
format, one default level, `--log-level` or $PALVELUPISTE_LOG) and SIGTERM/SIGINT turned into a
stop event that the service's own loop watches (no handler runs in the middle of its work)."""
from __future__ import annotations

import argparse
import logging
import os
import signal
import threading

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
DEFAULT_LOG_LEVEL = "INFO"
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def add_log_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--log-level", type=str.upper, choices=LOG_LEVELS, default=None,
                        help=f"how much to log (default: $PALVELUPISTE_LOG, else {DEFAULT_LOG_LEVEL})")


def resolve_log_level(explicit: str | None = None) -> str:
    level = (explicit or os.environ.get("PALVELUPISTE_LOG") or DEFAULT_LOG_LEVEL).upper()
    return level if level in LOG_LEVELS else DEFAULT_LOG_LEVEL


def setup_logging(explicit: str | None = None) -> str:
    """One handler on the root logger, to stderr (the journal under systemd). Returns the level."""
    level = resolve_log_level(explicit)
    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig(level=level, format=LOG_FORMAT)
    root.setLevel(level)
    return level


def stop_on_signals() -> threading.Event:
    """An event set by SIGTERM or SIGINT (call from the main thread)."""
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    return stop
