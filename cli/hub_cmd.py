"""palvelupiste hub --config DEVICE.toml — run the site's queue authority on the site broker.

Stops cleanly on SIGTERM (systemd) and SIGINT (Ctrl-C): the command being handled is answered,
the availability says "offline", the store is closed. Exit codes: 0 stopped by a signal, 1 the
store cannot be used, 2 a configuration problem.
"""
from __future__ import annotations

import os
import sys

from runtime import process


def register(sub) -> None:
    p = sub.add_parser("hub", help="run the site's queue authority (commands in, live state out)")
    p.add_argument("--config", default=os.environ.get("PALVELUPISTE_CONFIG"),
                   help="the hub's device configuration (TOML; default: $PALVELUPISTE_CONFIG)")
    p.add_argument("--heartbeat", type=float, metavar="S",
                   help="re-publish the state at least every S seconds (default: [hub] heartbeat_s or 10)")
    process.add_log_option(p)
    p.set_defaults(func=run)


def run(args) -> int:
    import logging
    import signal

    from core.config import load_device
    from core.store import StoreError
    from hub.service import HubService

    process.setup_logging(args.log_level)
    if not args.config:
        print("palvelupiste hub: --config DEVICE.toml is needed", file=sys.stderr)
        return 2
    try:
        device = load_device(args.config, role="hub")
        service = HubService(device, heartbeat_s=args.heartbeat)
    except (OSError, ValueError) as exc:
        print(f"palvelupiste hub: {exc}", file=sys.stderr)
        return 2

    # Block the signals before any thread starts (threads inherit the mask), then wait for them
    # here: no handler runs in the middle of the service's code.
    sigs = {signal.SIGTERM, signal.SIGINT}
    signal.pthread_sigmask(signal.SIG_BLOCK, sigs)
    try:
        service.start_in_thread(timeout=60)
    except StoreError as exc:
        print(f"palvelupiste hub: the event store cannot be used: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:
        print(f"palvelupiste hub: cannot start: {exc}", file=sys.stderr)
        return 1
    try:
        while service._thread is not None and service._thread.is_alive():
            got = signal.sigtimedwait(sigs, 1.0)
            # si_signo checked: after a pause (SIGSTOP/SIGCONT) longer than the wait, CPython 3.11
            # returns a struct with an uninitialised signal number instead of None.
            if got is not None and got.si_signo in sigs:
                logging.getLogger("hub").info("signal %d: stopping", got.si_signo)
                break
    finally:
        service.stop(timeout=15)
        logging.getLogger("hub").info("stopped")
    return 0
