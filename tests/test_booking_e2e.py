"""Booking feeds end to end (issue 17): an iCalendar feed on an HTTPS server of the test's own (a
throw-away CA) → the centre's bookings daemon (PostgreSQL) → Mosquitto → the hub's downwire keeper
(the book in bookings.json) → the hub, checking in with the site's key.

The site sees exactly the changes: the bookings, then one moved, one cancelled, one added; a
batch missed is asked for again and answered; the cancelled booking's check-in says it was
cancelled, the moved one that it moved, and the needs told at booking are on the ticket the
counter panel shows. Names, phone numbers and e-mail addresses of the feed appear in no store,
no message and no log line.
"""
from __future__ import annotations

import json
import logging
import queue

import psycopg
import pytest

from bus import topics
from bus.link import Message, link_for
from central.bookings.daemon import BookingsDaemon
from central.bookings.store import site_key
from central.store import CentralStore
from core.bookbook import book_from_json
from core.config import Broker, load_device
from sync.downwire import DownwireKeeper
from tests.support.hubproc import write_device_config
from tests.support.wait import wait_until
from tests.test_booking_feeds import PERSONAL
from tests.test_booking_import import NOW, SITE, TODAY, _now_ms, _Server, ics, kela_feed

pytestmark = pytest.mark.broker


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    s = _Server(tmp_path_factory.mktemp("tls"))
    yield s
    s.close()


class Site:
    """The hub's side: its downwire keeper on a link to the broker, writing the book."""

    def __init__(self, broker_url: str, work) -> None:
        self.work = work
        (work / "data").mkdir(parents=True, exist_ok=True)
        self.keeper = DownwireKeeper(SITE.id, work / "site.toml", work / "data" / "appointments.json",
                                     work / "data" / "bookings.json", clock=lambda: NOW)
        self.inbox: queue.Queue = queue.Queue()
        self.seen: list[bytes] = []
        self.link = link_for(Broker(url=broker_url), "site-agent", self.inbox,
                             subscriptions=[(topics.bookings(SITE.id), 1)]).start()
        assert self.link.wait_connected(10)

    def pump(self) -> list[str]:
        """Handle what arrived, as the sync agent does (asking again after a gap)."""
        out = []
        while True:
            try:
                item = self.inbox.get(timeout=0.2)
            except queue.Empty:
                return out
            if isinstance(item, Message):
                self.seen.append(item.payload)
                out.append(self.keeper.handle(item.topic, item.payload))
                if self.keeper.ask_since is not None:
                    self.link.publish(topics.bookings_since(SITE.id),
                                      json.dumps({"seq": self.keeper.ask_since}).encode(), qos=1)

    def book(self):
        return book_from_json((self.work / "data" / "bookings.json").read_bytes())


def test_feed_to_hub_changes_cancelled_moved_and_needs(server, central_dsn, broker, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    CentralStore(central_dsn).close()
    clock = {"now": NOW}
    f = kela_feed(server, "/e2e.ics")
    server.routes["/e2e.ics"] = ics(("4711", "1030", ""), ("4712", "1100", ""), ("4713", "D+1 0900", ""))
    daemon = BookingsDaemon(central_dsn, [f], lambda conn: {SITE.id: SITE}, Broker(url=broker.url),
                            clock=lambda: clock["now"], answer_every_s=0)
    daemon.link.start()
    assert daemon.link.wait_connected(10)
    site = Site(broker.url, tmp_path / "site")
    with psycopg.connect(central_dsn) as conn:
        # 1. the first import: three new bookings reach the book
        r = daemon.run_once(conn, now_mono=0)
        assert r["published"] == {SITE.id: 3}
        wait_until(lambda: "written" in site.pump() or site.keeper.book().seq == 3, what="the first batch")
        assert site.book().seq == 3 and len(site.book().items) == 3
        first_book = site.keeper.bookings_path.read_bytes()
        # 2. moved, cancelled, added: exactly those three changes
        server.routes["/e2e.ics"] = ics(("4711", "1400", ""), ("4712", "1100", "CANCELLED"),
                                        ("4713", "D+1 0900", ""), ("4714", "1500", ""))
        daemon.import_now(f.id)
        r = daemon.run_once(conn, now_mono=1)
        assert r["published"] == {SITE.id: 3}
        wait_until(lambda: site.pump() and site.book().seq == 6, what="the second batch")
        ops = [c["op"] for c in json.loads(site.seen[-1])["changes"]]
        assert sorted(ops) == ["cancelled", "moved", "new"]
        # 3. a batch the site misses (its book put back to before it) is asked for and answered
        site.keeper.bookings_path.write_bytes(first_book)
        server.routes["/e2e.ics"] = ics(("4711", "1400", ""), ("4712", "1100", "CANCELLED"),
                                        ("4713", "D+1 0900", ""), ("4714", "1500", ""), ("4715", "1530", ""))
        daemon.import_now(f.id)
        daemon.run_once(conn, now_mono=2)
        wait_until(lambda: "gap" in site.pump(), what="the gap seen")
        r = daemon.run_once(conn, now_mono=3)
        assert r["answered"] == {SITE.id: 4}  # changes 4..7
        wait_until(lambda: site.pump() and site.book().seq == 7, what="the missing changes")
        key = site_key(conn, SITE.id, NOW)
    # 4. the hub, with the site's key, checks in from the book
    from hub.service import HubService

    key_file = tmp_path / "booking.key"
    key_file.write_text(key.hex())
    cfg = write_device_config(tmp_path / "site", broker.port)
    cfg.write_text(cfg.read_text().replace("\n[hub]\n", f'\n[hub]\nbooking_key_file = "{key_file}"\n', 1))
    hub = HubService(load_device(cfg), clock=lambda: _now_ms(TODAY, 10) + 20 * 60_000)
    hub.open_store()
    try:
        def checkin(code: str) -> dict:
            return hub.handle_command(json.dumps({"cmd": "checkin", "code": code, "lang": "fi"}), "kiosk-1")

        assert len(hub.booked) == 5, hub.booked
        assert checkin("4712")["error"] == "booking_cancelled"
        moved = checkin("4711")  # now at 14:00: too early at 10:20, and it moved
        assert moved["error"] == "too_early" and moved["moved"] is True
        # 4714 at 15:00 (added): checked in at 14:50
        hub.clock = lambda: _now_ms(TODAY, 14) + 50 * 60_000
        hub.authority.clock = hub.clock
        ok = checkin("4714")
        assert ok["ok"], ok
        (ev,) = [e for e in hub.authority.last_events if e.type == "ticket.issued"]
        assert ev.data["needs"]["hearing_loop"] is True and ev.data["room"] == "H2"
        hub_events = [json.dumps(e.data, ensure_ascii=False) for e in hub._store.events()]
    finally:
        hub._close()
        site.link.stop()
        daemon.link.stop()
    # 5. nothing personal anywhere: the book, every message, the hub's events, every log line
    texts = [site.keeper.bookings_path.read_text(encoding="utf-8"), *(p.decode("utf-8") for p in site.seen),
             *hub_events, *(r.getMessage() for r in caplog.records)]
    found = [(p, t[:80]) for t in texts for p in PERSONAL if p in t]
    assert found == [], found
    stores = texts[:len(texts) - len(caplog.records)]
    assert not any(code in t for t in stores for code in ('"4711"', '"4712"', '"4714"'))  # codes only as refs
