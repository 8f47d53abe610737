"""A simulated month of two sites for the central store's tests (roll-ups, web): tickets of three
services with long-tailed waits, recalls, no-shows, transfers, outcomes, feedback in several
snapshots, misuse, printer faults; site b calls its Kela service "kansanelake"."""
from __future__ import annotations

import random
from pathlib import Path
from zoneinfo import ZoneInfo

from central.store import CentralStore
from core.config import loads_site
from core.events import Event
from sim import history
from sim.history import ms  # noqa: F401  (the tests place their own events with it)

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


def month_of_events(site: str, seed: int, month: int = 11, seqs: dict[str, int] | None = None) -> list[Event]:
    """site-a's and site-b's months (site b calls its Kela service "kansanelake")."""
    kela = "kansanelake" if site == "site-b" else "kela"
    return history.month_of_events(site, seed, month, seqs, services=(kela, kela, "vero", "poliisi"))


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
