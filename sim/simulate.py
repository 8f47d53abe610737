"""A simulated day through the queue engine, with its store on disk, printing a summary."""
from __future__ import annotations

import datetime as _dt
import json
import random
import statistics
from pathlib import Path

from core import resources
from core.config import load_site
from core.engine import CallNext, CloseCounter, Finish, OpenCounter, TakeTicket
from core.store import EventStore
from hub.authority import QueueAuthority

DEFAULT_SITE = resources.example_site()


def simulate_day(site, store: EventStore, tickets: int, seed: int, day: _dt.date) -> dict:
    """Arrivals spread over opening hours, counters open all day, clerks call when free."""
    rng = random.Random(seed)
    tz = site.tz
    start = int(_dt.datetime.combine(day, _dt.time(8, 0), tz).timestamp() * 1000)
    end = start + 8 * 3600_000
    arrivals = sorted(rng.randrange(start, end - 3600_000) for _ in range(tickets))
    services = list(site.services)
    weights = [6 if s in ("kela", "poliisi", "neuvonta") else 2 for s in services]
    auth = QueueAuthority(site, store, clock=lambda: start)
    for cid in site.counters:
        auth.handle(OpenCounter(cid), start)
    free_at = {cid: start for cid in site.counters}
    busy_until: dict[str, int] = {}
    i, now = 0, start
    while now < end + 4 * 3600_000:
        while i < len(arrivals) and arrivals[i] <= now:
            auth.handle(TakeTicket(rng.choices(services, weights)[0], rng.choice(site.languages)), arrivals[i])
            i += 1
        for cid in site.counters:
            if busy_until.get(cid, 0) <= now and free_at[cid] <= now:
                r = auth.handle(CallNext(cid), now)
                if r.get("ok"):
                    mean = site.services[r["service"]].default_service_min * 60_000
                    busy_until[cid] = now + int(rng.expovariate(1 / mean)) + 30_000
                elif auth.state.counters[cid].current:
                    auth.handle(Finish(cid), now)
        if i >= len(arrivals) and not any(auth.state.waiting_count.values()):
            break
        now += 15_000
    for cid in site.counters:
        auth.handle(CloseCounter(cid), now)
    st = auth.state
    waits = [(t.called_ms - t.issued_ms) / 60_000 for t in st.tickets.values() if t.called_ms]
    return {
        "day": day.isoformat(),
        "tickets": len(st.tickets),
        "called": sum(1 for t in st.tickets.values() if t.called_ms),
        "finished": sum(1 for t in st.tickets.values() if t.state == "finished"),
        "events": store.last_seq,
        "wait_min_median": round(statistics.median(waits), 1) if waits else None,
        "wait_min_p90": round(statistics.quantiles(waits, n=10)[-1], 1) if len(waits) > 10 else None,
        "per_service": {s: sum(1 for t in st.tickets.values() if t.service == s) for s in site.services},
    }


def run_simulated_day(args) -> int:
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    site = load_site(DEFAULT_SITE)
    store_path = out / "simulated-hub.sqlite"
    for p in out.glob("simulated-hub.sqlite*"):
        p.unlink()
    with EventStore(store_path, site.id, "hub-1") as store:
        summary = simulate_day(site, store, args.tickets, args.seed, _dt.date.today())
    (out / "summary.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False))
    print(f"Simulated day {summary['day']} at {site.label('en')}:")
    print(f"  tickets {summary['tickets']}, called {summary['called']}, finished {summary['finished']}, "
          f"events stored {summary['events']}")
    print(f"  waiting time median {summary['wait_min_median']} min, 90th percentile {summary['wait_min_p90']} min")
    print(f"  summary written to {out / 'summary.json'}")
    return 0
