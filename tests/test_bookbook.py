"""The site's side of the booking feeds (issue 17): the book kept from the centre's numbered changes
(core/bookbook.py), the engine checking in a booking known only by its reference, and the hub
reading the book the sync agent writes. A cancelled booking is said to be cancelled, a moved one
to have moved; the needs told at booking reach the ticket (and so the counter panel), the booked
room goes with it."""
from __future__ import annotations

import datetime as dt
import json
from zoneinfo import ZoneInfo

import pytest

from core.bookbook import Book, BookError, apply_batch, appointments_from_book, book_from_json, book_to_json
from core.engine import CheckIn, Needs, appointment_ref
from core.store import EventStore
from hub.authority import QueueAuthority

HEL = ZoneInfo("Europe/Helsinki")
KEY = bytes(range(32))


def ms(h: int, m: int = 0, day: int = 3) -> int:
    return int(dt.datetime(2026, 12, day, h, m, tzinfo=HEL).timestamp() * 1000)


NOW = ms(9)


def ref(code: str) -> str:
    return appointment_ref(KEY, code)


def change(seq: int, op: str, code: str, at: int | None = None, **kw) -> dict:
    c = {"seq": seq, "op": op, "key": ref(code)}
    if op != "cancelled":
        c.update({"service": "kela", "at_ms": at, "min": 20, **kw})
    return c


def batch(*changes: dict) -> dict:
    return {"from": changes[0]["seq"], "to": changes[-1]["seq"], "changes": list(changes)}


def test_changes_apply_in_order_once_and_a_gap_asks_for_what_is_missing():
    book, ask = apply_batch(Book(), batch(change(1, "new", "4711", ms(10)), change(2, "new", "4712", ms(11))), NOW)
    assert ask is None and book.seq == 2 and set(book.items) == {ref("4711"), ref("4712")}
    again, ask = apply_batch(book, batch(change(2, "new", "4712", ms(11))), NOW)  # a repeat
    assert again is book and ask is None
    # change 3 went missing: the batch of 4-5 is not applied, the centre is asked for all after 2
    held, ask = apply_batch(book, batch(change(4, "moved", "4711", ms(14)), change(5, "cancelled", "4712")), NOW)
    assert held is book and ask == 2
    book, ask = apply_batch(book, batch(change(3, "new", "4713", ms(12)), change(4, "moved", "4711", ms(14)),
                                        change(5, "cancelled", "4712")), NOW)
    assert ask is None and book.seq == 5
    assert book.items[ref("4711")]["moved"] and book.items[ref("4711")]["at_ms"] == ms(14)
    assert book.items[ref("4712")]["cancelled"]
    assert book_from_json(book_to_json(book)) == book
    with pytest.raises(BookError):
        apply_batch(book, {"from": 6, "to": 7, "changes": [{"seq": 6, "op": "new", "key": "x"}]}, NOW)
    # bookings of days gone are dropped
    later, _ = apply_batch(book, batch(change(6, "new", "4714", ms(10, day=8))), ms(9, day=8))
    assert set(later.items) == {ref("4714")}


def test_the_engine_checks_in_a_booking_known_only_by_its_reference(example_site, tmp_path):
    book, _ = apply_batch(Book(), batch(
        change(1, "new", "4711", ms(9, 10), room="H2", needs={"hearing_loop": True, "interpreter": "ar"}),
        change(2, "new", "4712", ms(9, 20)), change(3, "cancelled", "4712"),
        change(4, "new", "4713", ms(14)), change(5, "moved", "4713", ms(10, day=4))), NOW)
    appts = appointments_from_book(book, HEL, NOW)
    with EventStore(tmp_path / "hub.sqlite", example_site.id, "hub-1") as store:
        auth = QueueAuthority(example_site, store, appts, clock=lambda: NOW, ref_key=KEY)
        cancelled = auth.handle(CheckIn("4712"))
        assert cancelled["error"] == "booking_cancelled" and cancelled["appointment_ms"] == ms(9, 20)
        moved = auth.handle(CheckIn("4713"))
        assert moved["error"] == "other_day" and moved["moved"] is True and moved["appointment_ms"] == ms(10, day=4)
        ok = auth.handle(CheckIn("4711", needs=Needs(accessible_room=True)))
        assert ok["ok"] and ok["room"] == "H2", ok
        (ev,) = [e for e in store.events() if e.type == "ticket.issued"]
        # what was told at booking and what was chosen at the kiosk, both; the code nowhere
        assert ev.data["needs"] == {"interpreter": "ar", "hearing_loop": True, "accessible_room": True}
        assert ev.data["room"] == "H2" and ev.data["appointment_ref"] == ref("4711")
        assert "4711" not in json.dumps(ev.data)
        assert auth.handle(CheckIn("9999"))["error"] == "unknown_code"
        # Counter 1 (it serves Kela) calls the customer: the clerk sees the needs and the booked
        # room, and the displays send the customer to the room they booked (Room 2).
        from core.engine import CallNext, OpenCounter
        from core.i18n import translator
        from counter.model import panel_view

        assert auth.handle(OpenCounter("1"))["ok"]
        called = auth.handle(CallNext("1"))
        assert called["number"] == ok["number"] and called["room"] == "H2"
        from bus.live import call_message

        (ev,) = [e for e in auth.last_events if e.type == "ticket.called"]
        assert call_message(ev, auth.state, example_site.id)["counter"] == "H2"  # what the displays get
        snap = auth.snapshot(NOW)
        assert snap["calls"][0]["counter"] == "H2"
        view = panel_view(translator("fi", "counter"), example_site, "1", snap)
        words = [n.text for n in view.current.needs]
        assert "Induktiosilmukka" in words[1] or any("silmukka" in w.lower() for w in words), words
        assert "Varattu huone: Huone 2" in words, words
        # another key (a hub without the site's key) finds none of them
        other = QueueAuthority(example_site, store, appts, clock=lambda: NOW, ref_key=b"x" * 32)
        assert other.handle(CheckIn("4713"))["error"] == "unknown_code"


def test_the_hub_reads_the_book_and_the_site_key(tmp_path):
    from hub.service import HubService
    from tests.support.hubproc import write_device_config

    key_file = tmp_path / "booking.key"
    key_file.write_text(KEY.hex() + "\n")
    cfg = write_device_config(tmp_path / "hub", 1)
    text = cfg.read_text()
    assert "\n[hub]\n" in text
    cfg.write_text(text.replace("\n[hub]\n", f'\n[hub]\nbooking_key_file = "{key_file}"\n', 1))
    book, _ = apply_batch(Book(), batch(change(1, "new", "4711", NOW + 20 * 60_000),
                                        change(2, "new", "4712", NOW + 30 * 60_000), change(3, "cancelled", "4712")),
                          NOW)
    (tmp_path / "hub" / "data" / "bookings.json").write_bytes(book_to_json(book))
    from core.config import load_device

    hub = HubService(load_device(cfg), clock=lambda: NOW)
    hub.open_store()
    try:
        assert hub.handle_command(json.dumps({"cmd": "checkin", "code": "4711", "lang": "fi"}), "kiosk-1")["ok"]
        r = hub.handle_command(json.dumps({"cmd": "checkin", "code": "4712", "lang": "fi"}), "kiosk-1")
        assert r["error"] == "booking_cancelled"
        # a broken book is refused and the last good one kept
        (tmp_path / "hub" / "data" / "bookings.json").write_text("{broken")
        assert hub._check_bookings(force=True) is False and len(hub.booked) == 2
    finally:
        hub._close()


def test_the_hubs_sync_agent_keeps_the_book_and_asks_for_a_missing_batch(tmp_path, example_site):
    """The real SyncAgent of a hub (its link replaced by one that records): a batch is written to
    bookings.json; a batch after a missing one asks pp/<site>/bookings/since for the rest. Other
    devices' agents do not even subscribe."""
    from bus import topics
    from bus.link import Message
    from core.config import load_device
    from sync.agent import SyncAgent

    def agent(role: str) -> SyncAgent:
        d = tmp_path / role
        (d / "data").mkdir(parents=True)
        cfg = d / "device.toml"
        cfg.write_text(f'[device]\nid = "{role}-1"\nrole = "{role}"\nsite = "{example_site.id}"\n'
                       f'site_config = "{d / "site.toml"}"\ndata_dir = "{d / "data"}"\n\n'
                       '[central_broker]\nurl = "mqtt://127.0.0.1:1"\n')
        return SyncAgent(load_device(cfg))

    hub = agent("hub")
    assert topics.bookings(example_site.id) in hub.keeper.topics
    assert topics.bookings(example_site.id) not in agent("kiosk").keeper.topics

    sent: list[tuple[str, bytes]] = []

    class Recording:
        def publish(self, topic, payload, qos=0, retain=False, **kw):
            sent.append((topic, payload))

    hub.link = Recording()  # type: ignore[assignment]
    hub.keeper.clock = lambda: NOW
    t = topics.bookings(example_site.id)
    hub._on_item(Message(t, json.dumps(batch(change(1, "new", "4711", ms(10)))).encode(), True, 1))
    assert book_from_json((tmp_path / "hub" / "data" / "bookings.json").read_bytes()).seq == 1 and sent == []
    hub._on_item(Message(t, json.dumps(batch(change(5, "new", "4715", ms(11)))).encode(), True, 1))
    assert sent == [(topics.bookings_since(example_site.id), b'{"seq": 1}')]
