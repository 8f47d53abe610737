"""A simulated month of two sites for the central store's tests (roll-ups, web): tickets of three
services with long-tailed waits, recalls, no-shows, transfers, outcomes, feedback in several
snapshots, misuse, printer faults; site b calls its Kela service "kansanelake"."""
from __future__ import annotations

import datetime as _dt
import random
from pathlib import Path
from zoneinfo import ZoneInfo

from central.store import CentralStore
from core.config import loads_site
from core.events import Event

REPO = Path(__file__).resolve().parent.parent.parent
HEL = ZoneInfo("Europe/Helsinki")
EXAMPLE = (REPO / "assets" / "sites" / "example.toml").read_text(encoding="utf-8")
#: site → region; site b calls its Kela service "kansanelake" and says which authority it is
SITES = {"site-a": "MK01", "site-b": "MK19"}


def site_text(site: str) -> str:
    text = EXAMPLE.replace('id = "example-pp"', f'id = "{site}"', 1).replace('region = "MK01"',
                                                                          f'region = "{SITES[site]}"', 1)
    if site == "site-b":
        text = text.replace('"kela"', '"kansanelake"').replace('id = "kansanelake"',
                                                              'id = "kansanelake"\nauthority = "kela"', 1)
    return text


def ms(d: _dt.date, minute: float) -> int:
    return int(_dt.datetime.combine(d, _dt.time(8), tzinfo=HEL).timestamp() * 1000 + minute * 60_000)


def month_of_events(site: str, seed: int, month: int = 11, seqs: dict[str, int] | None = None) -> list[Event]:
    """A month of a site: tickets of three services, waits and service times with a long tail,
    recalls, no-shows, transfers, outcomes, feedback in several snapshots, misuse, faults."""
    rng = random.Random(seed)
    kela = "kansanelake" if site == "site-b" else "kela"
    seqs = {} if seqs is None else seqs  # a device's sequence goes on from month to month
    out: list[Event] = []

    def add(device: str, etype: str, ts: int, data: dict) -> None:
        seqs[device] = seqs.get(device, 0) + 1
        out.append(Event(id=f"{site}-{device}-{seqs[device]:07d}", site=site, device=device, seq=seqs[device],
                         type=etype, ts=ts, data=data))

    d = _dt.date(2026, month, 2)
    while d.month == month:
        if d.weekday() < 5:
            for i in range(rng.randrange(8, 20)):
                service = rng.choice([kela, kela, "vero", "poliisi"])
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
                        {"ticket": tid, "counter": "1", "from_service": service, "to_service": "vero",
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


def store_shuffled(db: CentralStore, events: list[Event], rng: random.Random) -> None:
    """Per device in order (as the ingest gets them), the devices interleaved, batches of any size."""
    by_device: dict[tuple[str, str], list[Event]] = {}
    for e in events:
        by_device.setdefault((e.site, e.device), []).append(e)
    queues = list(by_device.values())
    while queues:
        q = rng.choice(queues)
        n = rng.randrange(1, 60)
        db.begin()
        db.insert_events(q[:n])
        db.commit()
        del q[:n]
        queues = [x for x in queues if x]




def fill(db: CentralStore, months: tuple[int, ...] = (11,), seed: int = 3) -> list[Event]:
    """Both sites' configurations registered, then their months stored; returns the events."""
    for site in SITES:
        db.begin()
        db.register_site(loads_site(site_text(site)), site_text(site))
        db.commit()
    events: list[Event] = []
    seqs: dict[str, dict[str, int]] = {site: {} for site in SITES}
    for m in months:
        events += month_of_events("site-a", 1 + m, month=m, seqs=seqs["site-a"]) \
            + month_of_events("site-b", 2 + m, month=m, seqs=seqs["site-b"])
    store_shuffled(db, events, random.Random(seed))
    return events
