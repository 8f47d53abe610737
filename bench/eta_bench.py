"""Wait-estimate benchmark: how well the wait printed on a ticket keeps its promise.

Simulated service-point days (bench/eta_sim.py) in four scenarios: `quiet` (about half the
counters' time spent serving), `busy` (the busy day issue 12 measured: the estimate it measured
breaks more than a quarter of its promises there and is 8 minutes short; queues of 10–20),
`breaks` (lunch bunched into 11:00–12:30 while a surge of customers comes at 11:30–12:30) and
`overload` (more customers than the counters can serve for hours: waits up to two hours). For
every customer who is called, the estimate given at issue (`est_wait_s` of the reply) is compared
with the wait until the first call; on the same customers, the queue-length predictor (`ql`,
Ibrahim & Whitt) and the estimate issue 12 measured (`old`), both knowing the true mean service
times.

Per scenario and predictor: mae_min (mean absolute error, minutes), bias_min (mean of estimate −
actual; negative: optimistic), within5_share (|error| ≤ 5 min), broken10_share (waited more than
10 min longer than promised). reestimate_p99_ms: one re-estimate of a site with 200 waiting and
10 open counters (`QueueState.estimates`, or `snapshot` where there is none), 99th percentile.

Run from the repo root:  .venv/bin/python bench/eta_bench.py [--days N (30)] [--seed S] [--hours H]
The last line of output is one JSON object.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.eta_sim import (  # noqa: E402
    SCENARIOS,
    SERVICES,
    CounterSpec,
    DayResult,
    Record,
    Scenario,
    ServiceSpec,
    at,
    build_site,
    compare,
    offered_load,
    scaled,
    simulate,
)
from core.engine import Appointment, CallNext, CheckIn, Engine, OpenCounter, QueueState, TakeTicket, Transfer  # noqa: E402
from core.events import Event  # noqa: E402

REESTIMATE_WAITING = 200
REESTIMATE_CALLS = 300


def log(msg: str) -> None:
    print(msg, flush=True)


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


# --- accuracy ---------------------------------------------------------------------------------

def describe_day(r: DayResult, seconds: float) -> str:
    given = sum(1 for x in r.records if x.est_wait_s is not None)
    return (f"  {r.scenario} seed {r.seed}: {len(r.records)} called ({given} with an estimate), "
            f"utilisation {r.utilisation():.2f} (peak hour {r.peak_utilisation():.2f}), longest queue {r.max_waiting}, "
            f"transfers {r.tally('ticket.transferred')}, no-shows {r.tally('ticket.no_show')}, "
            f"never called {r.left_waiting} ({seconds:.2f} s)")


def run_scenario(scn: Scenario, seed: int, days: int) -> list[Record]:
    records: list[Record] = []
    for day in range(days):
        t0 = time.perf_counter()
        r = simulate(scn, seed + day)
        log(describe_day(r, time.perf_counter() - t0))
        records += r.records
    return records


# --- re-estimate latency ----------------------------------------------------------------------

#: A bigger site for the latency figure: 8 services, 10 counters, most of them shared.
BIG = Scenario("big", 0, SERVICES + (
    ServiceSpec("dvv", "D", "DVV", 10, 0.6, 0.1),
    ServiceSpec("migri", "M", "Migri", 15, 0.7, 0.1),
    ServiceSpec("digituki", "G", "Digituki", 15, 0.7, 0.05),
), tuple(CounterSpec(cid, svcs, hours, brk) for cid, svcs, hours, brk in (
    ("1", ("neuvonta", "kela", "digituki"), ("08:00", "16:00"), (("11:00", "11:30"),)),
    ("2", ("kela", "neuvonta"), ("08:00", "16:00"), (("11:30", "12:00"),)),
    ("3", ("kela", "vero"), ("08:00", "16:00"), (("12:00", "12:30"),)),
    ("4", ("poliisi",), ("08:00", "16:00"), (("11:00", "11:30"),)),
    ("5", ("poliisi", "dvv", "migri"), ("08:00", "16:00"), (("11:30", "12:00"),)),
    ("6", ("vero", "dvv"), ("09:00", "15:00"), (("12:00", "12:30"),)),
    ("7", ("te",), ("08:00", "16:00"), (("12:30", "13:00"),)),
    ("8", ("te", "migri"), ("08:00", "16:00"), (("13:00", "13:30"),)),
    ("9", ("digituki", "neuvonta"), ("10:00", "16:00"), ()),
    ("10", ("migri", "vero", "kela", "poliisi"), ("08:00", "16:00"), (("12:00", "12:45"),)),
)), peak_per_h=0)


def busy_state(now: int) -> QueueState:
    """The big site at `now`: 10 counters open and serving, 200 waiting (walk-ins, checked-in
    appointments, transfers) and more bookings still to come."""
    site = build_site(BIG)
    events: list[Event] = []

    def commit(items: list[tuple[str, dict[str, Any]]], ts: int) -> list[Event]:
        out = [Event(id=f"ev{len(events) + i + 1:012d}", site=site.id, device="hub-1", seq=len(events) + i + 1,
                     type=etype, ts=ts, data=data) for i, (etype, data) in enumerate(items)]
        events.extend(out)
        return out

    services = [s.id for s in BIG.services]
    bookable = [s for s in services if s != "neuvonta"]
    appts = [Appointment(f"B{i:03d}", bookable[i % len(bookable)], now + (i - 10) * 5 * 60_000) for i in range(60)]
    state = QueueState(site, appts)
    eng = Engine(state, commit)
    for cid in site.counters:
        eng.handle(OpenCounter(cid), now)
    for a in appts[:20]:  # the ones due within the next hour or so have checked in (the rest are refused)
        eng.handle(CheckIn(a.code), now)
    for i in range(30):
        eng.handle(TakeTicket(services[i % len(services)]), now)
    for k, cid in enumerate(site.counters):  # every counter busy, a few with a transfer behind them
        eng.handle(CallNext(cid), now)
        if k < 3:
            eng.handle(Transfer(cid, "vero"), now)
            eng.handle(CallNext(cid), now)
    i = 0
    while total_waiting(state, now) < REESTIMATE_WAITING:
        eng.handle(TakeTicket(services[i % len(services)]), now)
        i += 1
    return state


def total_waiting(state: QueueState, now: int) -> int:
    return sum(v["waiting"] for v in state.snapshot(now)["services"].values())


def reestimate_p99_ms() -> float:
    now = at("10:00")
    state = busy_state(now)
    # The re-estimate a hub does on every change; `snapshot` holds it where there is no `estimates`.
    fn: Callable[[int], Any] = getattr(state, "estimates", None) or state.snapshot
    lat = []
    for _ in range(REESTIMATE_CALLS):
        now += 1000
        t0 = time.perf_counter()
        fn(now)
        lat.append((time.perf_counter() - t0) * 1000)
    waiting = total_waiting(state, now)
    log(f"re-estimate ({'estimates' if hasattr(state, 'estimates') else 'snapshot'}), {waiting} waiting, "
        f"{len(state.site.counters)} counters: p50 {pct(lat, 50):.2f} ms, p99 {pct(lat, 99):.2f} ms, "
        f"max {max(lat):.2f} ms")
    return pct(lat, 99)


# --- main -------------------------------------------------------------------------------------

def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--days", type=int, default=30, help="days per scenario (seeds SEED .. SEED+DAYS-1)")
    p.add_argument("--seed", type=int, default=1, help="the first day's seed")
    p.add_argument("--hours", type=float, default=None,
                   help="arrivals only in the first HOURS of the day (a quick run; figures are then not comparable)")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    log(f"eta_bench: python {platform.python_version()}, {os.cpu_count()} cpu(s), {platform.machine()}; "
        f"{args.days} day(s) per scenario from seed {args.seed}")
    for name, scn in SCENARIOS.items():
        log(f"  {name}: peak {scn.peak_per_h:g} arrivals/h, offered load at its busiest minute {offered_load(scn):.2f}")
    t0 = time.perf_counter()
    result: dict[str, Any] = {}
    for name, scn in SCENARIOS.items():
        if args.hours is not None:
            scn = scaled(scn, args.hours)
        records = run_scenario(scn, args.seed, args.days)
        result[name] = compare(records)
        e, q = result[name]["engine"], result[name]["ql"]
        log(f"{name}: {len(records)} customers; engine mae {e['mae_min']} min, bias {e['bias_min']}, "
            f"within 5 min {e['within5_share']}, broken by 10+ min {e['broken10_share']} | "
            f"ql mae {q['mae_min']}, bias {q['bias_min']}, within 5 {q['within5_share']}, "
            f"broken 10 {q['broken10_share']} | old mae {result[name]['old']['mae_min']}, "
            f"bias {result[name]['old']['bias_min']}, broken 10 {result[name]['old']['broken10_share']}")
    result["reestimate_p99_ms"] = round(reestimate_p99_ms(), 3)
    log(f"total {time.perf_counter() - t0:.1f} s")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
