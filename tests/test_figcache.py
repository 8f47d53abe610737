"""The web service's cache of reports (central/figcache.py) on a real PostgreSQL: a report is made
once and reused while nothing it reads has changed, and made again after anything that changes its
figures: new events of its months (tickets and feedback), a feedback response moved out of its
month, a rebuild, the small-cell setting, a site's registration. Events of another month leave it."""
from __future__ import annotations

import datetime as _dt

import pytest

from central import rollups
from central.figcache import FigureCache
from central.store import CentralStore
from core.config import loads_site
from core.events import Event
from tests.support.national import month_of_events, ms, site_text


@pytest.fixture
def db(central_dsn):
    store = CentralStore(central_dsn)
    store.begin()
    store.register_site(loads_site(site_text("site-a")), site_text("site-a"))
    store.commit()
    seqs: dict[str, int] = {}
    store.begin()
    store.insert_events(month_of_events("site-a", 1, 10, seqs) + month_of_events("site-a", 2, 11, seqs))
    store.commit()
    store.seqs_used = seqs  # type: ignore[attr-defined]
    yield store
    store.close()


class Maker:
    def __init__(self) -> None:
        self.made = 0

    def __call__(self) -> int:
        self.made += 1
        return self.made


def feedback(seq: int, day: _dt.date, rev: int, response: str = "r-moving") -> Event:
    return Event(id=f"fbx{seq:05d}", site="site-a", device="feedback-x", seq=seq, type="feedback.given",
                 ts=ms(day, 600), data={"response": response, "rev": rev, "rating": 4, "scale": 5, "service": "vero"})


def store(db: CentralStore, events: list[Event]) -> None:
    db.begin()
    db.insert_events(events)
    db.commit()


def test_a_report_is_reused_until_its_figures_change(db):
    cache, make = FigureCache(), Maker()

    def get() -> int:
        return cache.get(db.conn, ["2026-11"], "november", make)

    assert get() == 1 and get() == 1 and cache.hits == 1
    # Another month's events: November's figures are the same.
    store(db, [feedback(1, _dt.date(2026, 9, 15), 1, "r-september")])
    assert get() == 1
    # November's events: made again.
    store(db, [feedback(2, _dt.date(2026, 11, 16), 1, "r-november")])
    assert get() == 2 and get() == 2
    # A response moved from November to October by its later snapshot: both months change.
    store(db, [feedback(3, _dt.date(2026, 11, 20), 1)])
    assert get() == 3
    october = cache.get(db.conn, ["2026-10"], "october", make)
    store(db, [feedback(4, _dt.date(2026, 10, 31), 2)])
    assert get() == 5 and cache.get(db.conn, ["2026-10"], "october", make) == 6 != october
    # The small-cell rule, a site's registration and a rebuild change what the views say.
    db.set_setting("small_cell", "7")
    assert get() == 7
    db.begin()
    db.register_site(loads_site(site_text("site-a").replace('region = "MK01"', 'region = "MK02"', 1)),
                     site_text("site-a"), when=1)
    db.commit()
    assert get() == 8
    rollups.rebuild(db.conn, since_month="2026-11")
    assert get() == 9 and get() == 9


def test_the_least_recently_used_report_goes_first(db):
    cache, make = FigureCache(entries=2), Maker()
    for key in ("a", "b"):
        cache.get(db.conn, ["2026-11"], key, make)
    cache.get(db.conn, ["2026-11"], "a", make)      # a used again: b is the oldest
    cache.get(db.conn, ["2026-11"], "c", make)      # b goes
    assert make.made == 3
    cache.get(db.conn, ["2026-11"], "a", make)
    assert make.made == 3
    cache.get(db.conn, ["2026-11"], "b", make)
    assert make.made == 4


def test_while_the_data_keep_changing_a_report_is_at_most_max_stale_old(db):
    now = [1000.0]
    cache, make = FigureCache(max_stale_s=60, clock=lambda: now[0]), Maker()

    def get() -> int:
        return cache.get(db.conn, ["2026-11"], "november", make)

    assert get() == 1
    store(db, [feedback(10, _dt.date(2026, 11, 16), 1, "r-a")])
    now[0] += 59
    assert get() == 1          # changed, but made 59 s ago: shown
    now[0] += 2
    assert get() == 2          # 61 s: made again
    assert get() == 2
