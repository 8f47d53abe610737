"""`palvelupiste` — one command, a subcommand per job.

Each subcommand lives in its own module with `register(subparsers)`; heavy imports (Kivy,
paho) happen only inside the handler, so `palvelupiste --help` stays fast everywhere.
"""
from __future__ import annotations

import argparse
import importlib
import sys

from core.config import ConfigError

# module name -> registers one or more subcommands
SUBCOMMAND_MODULES = (
    "cli.config_cmd",
    "cli.example_cmd",
    "cli.queue_cmd",
    "cli.demo_cmd",
    "cli.hub_cmd",
    "cli.sync_cmd",
    "cli.central_cmd",
    "cli.counter_cmd",
    "cli.kiosk_cmd",
    "cli.display_cmd",
    "cli.feedback_cmd",
    "cli.provision_cmd",
    "cli.doctor_cmd",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="palvelupiste",
                                     description="Devices of a joint public service point.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in SUBCOMMAND_MODULES:
        try:
            mod = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:  # not written yet
                continue
            raise
        mod.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except ConfigError as exc:  # every subcommand's configuration problems, printed one way
        print(exc.report(), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
