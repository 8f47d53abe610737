"""The Kivy apps as the demo (and the bench) runs them: the same command and start-up path as on a
device (cli/*_cmd.py → uikit.launch), with the simulation's drivers handed in.

    python -m sim.apps kiosk --config F [--local] --customers-every 6 --ready-file P
    python -m sim.apps feedback --config F --presses FILE
    python -m sim.apps display --config F
    python -m sim.apps counter panel --config F

--customers-every S   the kiosk plays a simulated customer every S seconds through its own screens
                      (sim.kiosk_customers), so a headless demo prints real tickets
--presses FILE        the feedback terminal plays the customers the crowd appends to FILE
                      (sim.feedback_customers)
--ready-file P        P gets the time (epoch seconds) of the first frame drawn, written whole
Everything else is the `palvelupiste` command line of that app.
"""
from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

log = logging.getLogger("sim.apps")  # also when run as __main__


def ready_file(path: str | Path):
    """A driver: once the first frame is on the screen, `path` holds its time."""
    def driver(app):
        from kivy.core.window import Window

        from runtime.files import atomic_write

        def first_frame(*_a) -> None:
            Window.unbind(on_flip=first_frame)
            atomic_write(path, f"{time.time():.6f}\n".encode(), fsync=False)
            log.info("first frame")

        Window.bind(on_flip=first_frame)
        return first_frame
    return driver


def kiosk_customers(every_s: float):
    def driver(app):
        from sim.kiosk_customers import DemoCustomers

        return DemoCustomers(app, every_s).start()
    return driver


def feedback_presses(path: str | Path):
    def driver(app):
        from sim.feedback_customers import DemoPlayer

        return DemoPlayer(app, path).start()
    return driver


def _options() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m sim.apps", add_help=False, allow_abbrev=False)
    p.add_argument("--customers-every", type=float, metavar="S")
    p.add_argument("--presses", metavar="FILE")
    p.add_argument("--ready-file", metavar="P")
    return p


def main(argv: list[str] | None = None) -> int:
    from cli.main import build_parser
    from core.config import ConfigError

    own, rest = _options().parse_known_args(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(rest)
    start = getattr(args, "start", None)
    if start is None:
        print(f"python -m sim.apps: {' '.join(rest[:2])} is not an app", file=sys.stderr)
        return 2
    drivers = []
    if own.customers_every is not None:
        if args.command != "kiosk":
            print("python -m sim.apps: --customers-every is for the kiosk", file=sys.stderr)
            return 2
        drivers.append(kiosk_customers(own.customers_every))
    if own.presses is not None:
        if args.command != "feedback":
            print("python -m sim.apps: --presses is for the feedback terminal", file=sys.stderr)
            return 2
        drivers.append(feedback_presses(own.presses))
    if own.ready_file is not None:
        drivers.append(ready_file(own.ready_file))
    try:
        return start(args, drivers)
    except ConfigError as exc:  # as `palvelupiste` reports it (cli/main)
        print(exc.report(), file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
