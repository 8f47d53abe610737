"""Core queue benchmark (issue 2): durable appends, replay of a busy day, call-next latency.

- append_per_s: single `EventStore.append` calls per second on a real store on disk (WAL +
  synchronous=FULL: each one is durable when it returns), ticket.issued-sized events.
- replay_day_s: seconds to fold a busy day from the store into a fresh QueueState, as a hub does
  on start (reading + JSON-decoding every event + apply). The day: 2,000 tickets over one
  opening day at the example site, each issued, called and finished, with recalls, transfers,
  no-shows and cancellations in between, all made by the engine itself. Also given: the events
  per second of that fold (replay_events_per_s) and the integrity check on open (open_store_s),
  so that a restart costs about open_store_s + replay_day_s.
- call_next_p50_ms / call_next_p99_ms: latency of one "call next" with 5,000 tickets waiting
  (walk-ins, appointments, transfers over all services of the example site), through
  `Engine.handle` with an in-memory commit: housekeeping + decide + building the events + apply,
  no disk. After each call an unmeasured new ticket keeps the queue at 5,000.

Run from the repo root:  .venv/bin/python bench/queue_bench.py
The last line of output is one JSON object with these keys (and a few more).
"""
from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from core.config import load_site  # noqa: E402
from core.engine import (  # noqa: E402
    Appointment,
    CallNext,
    Cancel,
    CheckIn,
    Engine,
    Finish,
    NoShow,
    OpenCounter,
    QueueState,
    Recall,
    TakeTicket,
    Transfer,
)
from core.events import Event  # noqa: E402
from core.store import EventStore  # noqa: E402
from hub.authority import QueueAuthority  # noqa: E402

APPENDS = int(os.environ.get("BENCH_APPENDS", "3000"))
DAY_TICKETS = int(os.environ.get("BENCH_DAY_TICKETS", "2000"))
WAITING = int(os.environ.get("BENCH_WAITING", "5000"))
CALLS = int(os.environ.get("BENCH_CALLS", "3000"))
REPLAYS = 5

SITE = load_site(REPO / "assets" / "sites" / "example.toml")
DAY = _dt.date(2026, 11, 24)  # a Tuesday
OPEN_MS = int(_dt.datetime.combine(DAY, _dt.time(8, 0), SITE.tz).timestamp() * 1000)


def log(msg: str) -> None:
    print(msg, flush=True)


def bench_append(tmp: Path) -> float:
    with EventStore(tmp / "append.sqlite", SITE.id, "hub-1") as store:
        data = {"ticket": "2026-11-24/K001", "number": "K001", "n": 1, "service": "kela", "day": "2026-11-24",
                "kind": "walk_in", "lang": "fi", "needs": {"interpreter": None, "hearing_loop": False,
                                                          "accessible_room": False},
                "token": "abcdefghijklmnop", "ahead": 3, "est_wait_s": 900}
        for _ in range(50):  # warm up
            store.append("ticket.issued", data)
        t0 = time.perf_counter()
        for _ in range(APPENDS):
            store.append("ticket.issued", data)
        dt = time.perf_counter() - t0
        assert store.last_seq == APPENDS + 50
    return APPENDS / dt


def build_busy_day(path: Path) -> tuple[int, int]:
    """A day of DAY_TICKETS tickets through the real authority and store. Returns (events, tickets)."""
    rng = random.Random(2)
    services = list(SITE.services)
    weights = [6 if s in ("kela", "poliisi", "neuvonta") else 2 for s in services]
    day_ms = 8 * 3600_000
    arrivals = sorted(OPEN_MS + rng.randrange(day_ms) for _ in range(DAY_TICKETS))
    appts = [Appointment(f"A{i:05d}", rng.choices(services, weights)[0], t + 10 * 60_000)
             for i, t in enumerate(arrivals) if i % 10 == 0]
    appt_by_arrival = {t - 10 * 60_000: a for a in appts for t in [a.at_ms]}
    with EventStore(path, SITE.id, "hub-1") as store:
        # Building the fixture is not what is measured: durability off while writing it.
        store.conn.execute("PRAGMA synchronous=OFF")
        auth = QueueAuthority(SITE, store, appts)
        for cid in SITE.counters:
            auth.handle(OpenCounter(cid), OPEN_MS)
        busy_until = {cid: OPEN_MS for cid in SITE.counters}
        i, now = 0, OPEN_MS
        step = 10_000
        while i < len(arrivals) or any(auth.state.waiting_count.values()) or \
                any(c.current for c in auth.state.counters.values()):
            while i < len(arrivals) and arrivals[i] <= now:
                a = appt_by_arrival.get(arrivals[i])
                if a is not None:
                    auth.handle(CheckIn(a.code), arrivals[i])
                else:
                    r = auth.handle(TakeTicket(rng.choices(services, weights)[0], rng.choice(SITE.languages)),
                                    arrivals[i])
                    if rng.random() < 0.02:  # changed their mind and left
                        auth.handle(Cancel(r["ticket"], "left"), arrivals[i] + 1)
                i += 1
            for cid in SITE.counters:
                if busy_until[cid] > now:
                    continue
                cur = auth.state.counters[cid].current
                if cur is not None:
                    roll = rng.random()
                    if roll < 0.05:
                        auth.handle(NoShow(cid), now)
                    elif roll < 0.10:
                        to = rng.choice([s for s in services if s != auth.state.tickets[cur].service])
                        auth.handle(Transfer(cid, to), now)
                    else:
                        auth.handle(Finish(cid), now)
                r = auth.handle(CallNext(cid), now)
                if r.get("ok"):
                    if rng.random() < 0.10:
                        auth.handle(Recall(cid), now + 30_000)
                    # Short service times: 2,000 customers in one day at 8 counters is a rush.
                    mean = SITE.services[r["service"]].default_service_min * 60_000 / 8
                    busy_until[cid] = now + int(rng.expovariate(1 / mean)) + 20_000
            now += step
        for cid in SITE.counters:
            auth.handle(Finish(cid), now)
        store.conn.execute("PRAGMA synchronous=FULL")
        store.checkpoint()
        return store.last_seq, len(auth.state.tickets)


def bench_replay(path: Path) -> tuple[float, float, int]:
    opens, folds = [], []
    n = 0
    for _ in range(REPLAYS):
        t0 = time.perf_counter()
        store = EventStore(path, SITE.id, "hub-1")
        t1 = time.perf_counter()
        state = QueueState(SITE).apply_all(store.iter_events())
        t2 = time.perf_counter()
        store.close()
        n = state.applied
        opens.append(t1 - t0)
        folds.append(t2 - t1)
    return statistics.median(opens), statistics.median(folds), n


def bench_call_next() -> tuple[list[float], int]:
    rng = random.Random(3)
    events: list[Event] = []

    def commit(items, now):
        out = []
        for etype, data in items:
            ev = Event(id=f"e{len(events) + 1:015d}", site=SITE.id, device="hub-1", seq=len(events) + 1,
                       type=etype, ts=now, data=data)
            events.append(ev)
            out.append(ev)
        return out

    services = list(SITE.services)
    appts = [Appointment(f"A{i:05d}", rng.choice(services), OPEN_MS + 3600_000 + i * 60_000) for i in range(300)]
    state = QueueState(SITE, appts)
    eng = Engine(state, commit)
    now = OPEN_MS + 3600_000
    for cid in SITE.counters:
        eng.handle(OpenCounter(cid), now)
    for a in appts:  # some appointments checked in (due over the next hours)
        if a.at_ms - 30 * 60_000 <= now:
            eng.handle(CheckIn(a.code), now)
    while sum(state.waiting_count.values()) < WAITING:
        eng.handle(TakeTicket(rng.choice(services)), now)
    # Some transfers in the queues.
    for cid in list(SITE.counters)[:4]:
        for _ in range(20):
            r = eng.handle(CallNext(cid), now)
            eng.handle(Transfer(cid, rng.choice([s for s in services if s != r["service"]])), now)
    while sum(state.waiting_count.values()) < WAITING:
        eng.handle(TakeTicket(rng.choice(services)), now)
    counters = list(SITE.counters)
    lat = []
    perf = time.perf_counter_ns
    for k in range(CALLS):
        now += 1000
        cid = counters[k % len(counters)]
        t0 = perf()
        r = eng.handle(CallNext(cid), now)
        t1 = perf()
        assert r["ok"], r
        lat.append((t1 - t0) / 1e6)
        eng.handle(TakeTicket(rng.choice(services)), now)  # keep the queue at WAITING
    return lat, sum(state.waiting_count.values())


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def main() -> int:
    log(f"queue_bench: python {platform.python_version()}, {os.cpu_count()} cpu(s), {platform.machine()}")
    with tempfile.TemporaryDirectory(prefix="queue-bench-", dir=os.environ.get("BENCH_DIR")) as d:
        tmp = Path(d)
        append_per_s = bench_append(tmp)
        log(f"durable single appends: {append_per_s:,.0f}/s")
        day = tmp / "day.sqlite"
        t0 = time.perf_counter()
        n_events, n_tickets = build_busy_day(day)
        log(f"busy day built: {n_tickets} tickets, {n_events} events ({time.perf_counter() - t0:.1f} s)")
        with EventStore(day, SITE.id, "hub-1") as store:
            kinds = dict(store.conn.execute("SELECT type, count(*) FROM events GROUP BY type ORDER BY 2 DESC"))
        log("  " + ", ".join(f"{k} {v}" for k, v in kinds.items()))
        open_s, replay_s, applied = bench_replay(day)
        assert applied == n_events
        log(f"replay of the day: {replay_s * 1000:.0f} ms ({n_events / replay_s:,.0f} events/s), "
            f"open with quick_check {open_s * 1000:.0f} ms")
    lat, waiting = bench_call_next()
    p50, p99 = pct(lat, 50), pct(lat, 99)
    log(f"call next with {waiting} waiting: p50 {p50:.3f} ms, p99 {p99:.3f} ms, max {max(lat):.3f} ms")
    result = {
        "append_per_s": round(append_per_s),
        "replay_day_s": round(replay_s, 4),
        "call_next_p50_ms": round(p50, 4),
        "call_next_p99_ms": round(p99, 4),
        "replay_events_per_s": round(n_events / replay_s),
        "replay_day_events": n_events,
        "replay_day_tickets": n_tickets,
        "open_store_s": round(open_s, 4),
        "call_next_max_ms": round(max(lat), 4),
        "call_next_waiting": waiting,
        "cpus": os.cpu_count(),
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
