"""Simulated months of a service point's events, as its devices would have sent them: for the
demo's `--history` (a year behind the live day, so the reports' trends and comparisons have
something to show), the tests of the central store and web service, and the benchmarks."""
from __future__ import annotations

import datetime as _dt
import random
from collections.abc import Sequence
from zoneinfo import ZoneInfo

from core.events import Event

HEL = ZoneInfo("Europe/Helsinki")


def ms(d: _dt.date, minute: float) -> int:
    return int(_dt.datetime.combine(d, _dt.time(8), tzinfo=HEL).timestamp() * 1000 + minute * 60_000)


def month_of_events(site: str, seed: int, month: int = 11, seqs: dict[str, int] | None = None, *,
                    year: int = 2026, services: Sequence[str] = ("kela", "kela", "vero", "poliisi"),
                    busy: float = 1.0, device_suffix: str = "") -> list[Event]:
    """A month of a site: tickets of its `services` (repeated ones are the busier), waits and
    service times with a long tail, recalls, no-shows, transfers, outcomes, feedback in several
    snapshots, misuse, faults. `busy` scales the day's tickets; `device_suffix` names the devices
    apart from a running site's own (their sequences would collide)."""
    rng = random.Random(seed)
    kela = services[0]
    seqs = {} if seqs is None else seqs  # a device's sequence goes on from month to month
    out: list[Event] = []

    def add(device: str, etype: str, ts: int, data: dict) -> None:
        device += device_suffix
        seqs[device] = seqs.get(device, 0) + 1
        out.append(Event(id=f"{site}-{device}-{seqs[device]:07d}", site=site, device=device, seq=seqs[device],
                         type=etype, ts=ts, data=data))

    d = _dt.date(year, month, 2)
    while d.month == month:
        if d.weekday() < 5:
            for i in range(round(rng.randrange(8, 20) * busy)):
                service = rng.choice(list(services))
                tid = f"{d.isoformat()}/X{i:03d}"
                t0 = rng.uniform(0, 420)
                add("hub-1", "ticket.issued", ms(d, t0), {"ticket": tid, "service": service,
                                                          "kind": rng.choice(["walk_in", "walk_in", "appointment"])})
                if rng.random() < 0.08:
                    add("hub-1", "ticket.no_show", ms(d, t0 + 30), {"ticket": tid, "service": service})
                    continue
                wait = rng.lognormvariate(6.3, 0.7)  # seconds; median ~9 min, a long tail
                add("hub-1", "ticket.called", ms(d, t0 + wait / 60),
                    {"ticket": tid, "service": service, "counter": "1", "waited_s": round(wait, 1)})
                if rng.random() < 0.2:  # called again after a requeue: the first call counts
                    add("hub-1", "ticket.called", ms(d, t0 + wait / 60 + 3),
                        {"ticket": tid, "service": service, "counter": "1", "waited_s": round(wait + 180, 1)})
                served = rng.lognormvariate(6.5, 0.5)
                if rng.random() < 0.1:
                    add("hub-1", "ticket.transferred", ms(d, t0 + (wait + served) / 60),
                        {"ticket": tid, "counter": "1", "from_service": service, "to_service": services[-1],
                         "service_s": round(served, 1)})
                    continue
                add("hub-1", "ticket.finished", ms(d, t0 + (wait + served) / 60),
                    {"ticket": tid, "service": service, "service_s": round(served, 1),
                     **({"outcome": rng.choice(["advice", "application"])} if rng.random() < 0.6 else {})})
            for r in range(rng.randrange(2, 6)):
                rid = f"{seed:02x}{d.day:02x}{r:04x}"
                rating = rng.randrange(1, 6)
                flags = ["burst"] if rng.random() < 0.1 else []
                base = {"response": rid, "rating": rating, "scale": 5, "flags": flags,
                        **({"service": kela} if rng.random() < 0.5 else {})}
                for rev in range(1, rng.randrange(2, 4)):
                    add("feedback-1", "feedback.given", ms(d, 480 + r * 5 + rev / 10),
                        {**base, "rev": rev, "outcome": rng.choice(["done", "started", "not_done"]),
                         **({"self_service": rng.choice(["yes", "no"])} if rev > 1 else {})})
            if rng.random() < 0.2:
                add("kiosk-1", "printer.fault", ms(d, 200), {"reason": "paper_out"})
        d += _dt.timedelta(days=1)
    return out
