"""palvelupiste demo — runs what exists of a service point on this machine."""
from __future__ import annotations


def register(sub) -> None:
    p = sub.add_parser("demo", help="run a complete service point on this machine")
    p.add_argument("--output", default="demo-output", help="folder for the summary, screenshots, tickets")
    p.add_argument("--speed", type=float, default=60.0, help="simulated seconds per real second")
    p.add_argument("--tickets", type=int, default=300, help="customers in the simulated day")
    p.add_argument("--seed", type=int, default=1)
    p.set_defaults(func=run)


def run(args) -> int:
    from cli.simulate import run_simulated_day

    return run_simulated_day(args)
