"""palvelupiste demo — a complete service point on this machine (see sim/demo.py)."""
from __future__ import annotations

import logging
from pathlib import Path


def register(sub) -> None:
    p = sub.add_parser("demo", help="run a complete service point on this machine",
                       description="Starts Mosquitto (site and central), PostgreSQL, the hub, the central ingest and web service, a sync "
                                   "agent per device, the kiosk with an emulated printer, a display, a counter "
                                   "panel and the feedback terminal, with simulated customers and clerks. "
                                   "Without a screen it runs under Xvfb, stops after --duration and writes "
                                   "screenshots and a summary. Ctrl-C stops everything.")
    p.add_argument("--output", default="demo-output", help="folder for the summary, screenshots, tickets, logs")
    p.add_argument("--speed", type=float, default=60.0, help="simulated seconds per real second (default 60)")
    p.add_argument("--duration", type=float, help="stop after this many seconds (default: 60 without a "
                                                  "screen, until Ctrl-C with one)")
    p.add_argument("--headless", action="store_true", help="use Xvfb even when a screen is available")
    p.add_argument("--no-apps", action="store_true", help="only brokers, hub, sync and the simulated crowd")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--history", action="store_true",
                   help="fill a year of simulated months (this site and four others) before the day starts, "
                        "so the reports' trends and comparisons have something to show")
    p.add_argument("--engine-only", action="store_true",
                   help="just a simulated day through the queue engine, printing a summary")
    p.add_argument("--tickets", type=int, default=300, help="customers in the --engine-only day")
    p.set_defaults(func=run)


def run(args) -> int:
    import os

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    if args.engine_only:
        from sim.simulate import run_simulated_day

        return run_simulated_day(args)
    from sim.demo import ServicePoint, print_summary

    headless = args.headless or not os.environ.get("DISPLAY")
    duration = args.duration if args.duration is not None else (60.0 if headless else None)
    sp = ServicePoint(Path(args.output), speed=args.speed, duration=duration, headless=headless,
                      seed=args.seed, apps=not args.no_apps, history=args.history)
    summary = sp.run()
    print_summary(summary, sp.out)
    ok = summary.get("all_events_central") and not summary.get("tickets_neither_called_nor_waiting")
    return 0 if ok else 1
