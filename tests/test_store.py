"""The event store: append, outbox, ack, backlog, prune, integrity and identity checks."""
from __future__ import annotations

import shutil
import sqlite3

import pytest

from core.events import MAX_EVENT_BYTES, parse_event
from core.store import (
    ANSWERS_PER_DEVICE,
    DAY_MS,
    EventStore,
    StoreCorruptError,
    StoreError,
    StoreFullError,
    StoreIdentityError,
    connect,
)

SITE, DEV = "test-site", "hub-1"


@pytest.fixture
def store(tmp_path):
    s = EventStore(tmp_path / "hub.sqlite", SITE, DEV)
    yield s
    s.close()


def test_connection_pragmas_wal_and_full(store, tmp_path):
    assert store.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store.conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    assert store.conn.execute("PRAGMA busy_timeout").fetchone()[0] >= 1000
    # Every connection, not just the first: a second one and a read-only one.
    for conn in (connect(tmp_path / "hub.sqlite"), connect(tmp_path / "hub.sqlite", readonly=True)):
        try:
            assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
            assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2
        finally:
            conn.close()


def test_append_gives_gap_free_sequence_and_round_trips(store):
    e1 = store.append("counter.opened", {"counter": "1"}, ts=1000)
    evs = store.append_many([("ticket.issued", {"ticket": "2026-01-01/K001", "number": "K001", "service": "kela",
                                                "day": "2026-01-01", "kind": "walk_in", "ä": "ö"}),
                             ("ticket.called", {"ticket": "2026-01-01/K001", "counter": "1"})], ts=2000)
    assert [e1.seq] + [e.seq for e in evs] == [1, 2, 3]
    assert store.last_seq == 3
    stored = store.events()
    assert [e.to_dict() for e in stored] == [e.to_dict() for e in [e1, *evs]]
    assert list(store.iter_events(batch=2)) == stored
    assert store.events(after_seq=1, limit=1) == [evs[0]]
    assert {e.site for e in stored} == {SITE} and {e.device for e in stored} == {DEV}
    # What the store gives back is a valid envelope for the other side.
    for e in stored:
        assert parse_event(e.to_dict()) == e
    assert store.append_many([]) == []
    assert store.last_seq == 3


def test_append_refuses_unknown_types_and_oversized_data_without_storing(store):
    store.append("counter.opened", {"counter": "1"})
    with pytest.raises(StoreError):
        store.append("ticket.exploded", {})
    with pytest.raises(StoreError):
        store.append("counter.opened", {"counter": "1", "pad": "x" * MAX_EVENT_BYTES})
    # A bad item refuses the whole batch.
    with pytest.raises(StoreError):
        store.append_many([("counter.opened", {"counter": "2"}), ("nope", {})])
    assert store.last_seq == 1 and len(store.events()) == 1


def test_outbox_ack_backlog(store):
    for i in range(10):
        store.append("counter.opened", {"counter": str(i)}, ts=i)
    assert store.backlog == 10 and store.acked_seq == 0
    assert [e.seq for e in store.outbox(limit=3)] == [1, 2, 3]
    assert store.oldest_unacked_ts() == 0
    assert store.ack(4) == 4
    assert store.backlog == 6
    assert [e.seq for e in store.outbox()] == [5, 6, 7, 8, 9, 10]
    assert [e.seq for e in store.outbox(after_seq=7)] == [8, 9, 10]  # what is not yet in flight
    assert [e.seq for e in store.outbox(after_seq=2)] == [5, 6, 7, 8, 9, 10]  # never before the ack
    assert store.oldest_unacked_ts() == 4
    # Never backwards.
    assert store.ack(2) == 4
    assert store.ack(-5) == 4
    assert store.acked_seq == 4
    # Never past what was appended: a bogus ack must not hide unsynced events.
    assert store.ack(1000) == 10
    assert store.backlog == 0 and store.outbox() == [] and store.oldest_unacked_ts() is None
    store.append("counter.opened", {"counter": "x"})
    assert store.backlog == 1 and [e.seq for e in store.outbox()] == [11]
    for bad in ("5", 5.0, True, None):
        with pytest.raises(StoreError):
            store.ack(bad)
    assert store.acked_seq == 10


def test_ack_is_seen_by_another_connection(store, tmp_path):
    for i in range(3):
        store.append("counter.opened", {"counter": str(i)})
    with EventStore(tmp_path / "hub.sqlite", SITE, DEV) as other:
        other.ack(2)
    assert store.acked_seq == 2 and store.backlog == 1


def test_prune_deletes_only_acked_and_old(store):
    now = 100 * DAY_MS
    for i in range(6):  # seq 1..3 are 10 days old, 4..6 are new
        store.append("counter.opened", {"counter": str(i)}, ts=now - (10 * DAY_MS if i < 3 else 1000))
    assert store.prune(keep_days=7, now=now) == 0  # nothing acked yet: nothing goes
    store.ack(2)
    assert store.prune(keep_days=7, now=now) == 2
    assert [e.seq for e in store.events()] == [3, 4, 5, 6]
    store.ack(6)
    assert store.prune(keep_days=7, now=now) == 1  # seq 3: old and acked; 4..6 are too new
    assert [e.seq for e in store.events()] == [4, 5, 6]
    # keep_days below the floor still keeps two days: the hub needs today's events to number.
    assert store.prune(keep_days=0, now=now) == 0
    assert store.prune(keep_days=0, now=now + 3 * DAY_MS) == 3
    # The sequence carries on after pruning everything: no number is reused.
    assert store.last_seq == 6
    assert store.append("counter.opened", {"counter": "z"}).seq == 7


def test_reopen_keeps_sequence(tmp_path):
    with EventStore(tmp_path / "s.sqlite", SITE, DEV) as s:
        s.append("counter.opened", {"counter": "1"})
        s.ack(1)
    with EventStore(tmp_path / "s.sqlite", SITE, DEV) as s:
        assert s.last_seq == 1 and s.acked_seq == 1
        assert s.append("counter.opened", {"counter": "1"}).seq == 2
        assert s.meta()["site"] == SITE and s.meta()["device"] == DEV


def test_identity_mismatch_is_refused(tmp_path):
    path = tmp_path / "s.sqlite"
    with EventStore(path, SITE, DEV) as s:
        s.append("counter.opened", {"counter": "1"})
    with pytest.raises(StoreIdentityError, match="belongs to site"):
        EventStore(path, "other-site", DEV)
    with pytest.raises(StoreIdentityError):
        EventStore(path, SITE, "kiosk-1")
    # The refused open changed nothing.
    with EventStore(path, SITE, DEV) as s:
        assert s.meta()["site"] == SITE and s.last_seq == 1


@pytest.mark.parametrize("site,device", [("", DEV), ("a/b", DEV), (SITE, "x" * 65), (SITE, None)])
def test_bad_ids_are_refused(tmp_path, site, device):
    with pytest.raises(StoreError):
        EventStore(tmp_path / "s.sqlite", site, device)


def _make_store_file(tmp_path, n=300):
    path = tmp_path / "good.sqlite"
    with EventStore(path, SITE, DEV) as s:
        s.append_many([("counter.opened", {"counter": str(i), "pad": "p" * 200}) for i in range(n)])
        s.checkpoint()
    # Closing the last connection folds the WAL into the file: all the data is in `path`.
    assert not (tmp_path / "good.sqlite-wal").exists() or (tmp_path / "good.sqlite-wal").stat().st_size == 0
    return path


def test_quick_check_on_open_refuses_a_corrupt_copy(tmp_path):
    good = _make_store_file(tmp_path)
    data = bytearray(good.read_bytes())
    page = int.from_bytes(data[16:18], "big") or 65536
    assert len(data) // page > 6
    # Scribble over the b-tree page headers of every page after the schema page.
    for p in range(2, len(data) // page):
        off = p * page
        data[off:off + 12] = b"\xff" * 12
    bad = tmp_path / "bad.sqlite"
    bad.write_bytes(bytes(data))
    with pytest.raises(StoreCorruptError):
        EventStore(bad, SITE, DEV)
    # The original is untouched and still opens.
    with EventStore(good, SITE, DEV) as s:
        assert s.integrity_check() == "ok" and s.last_seq == 300


def test_quick_check_finds_a_broken_index(tmp_path):
    """Damage deeper than the file header: the id index points at a page of another table.
    The file opens and reads fine; only the check on open finds it."""
    good = _make_store_file(tmp_path, n=50)
    bad = tmp_path / "bad.sqlite"
    shutil.copy(good, bad)
    conn = sqlite3.connect(bad)
    conn.execute("PRAGMA writable_schema=ON")
    root = conn.execute("SELECT rootpage FROM sqlite_master WHERE name='meta'").fetchone()[0]
    idx = conn.execute("SELECT name FROM sqlite_master WHERE type='index' AND tbl_name='events' "
                       "AND sql IS NOT NULL").fetchone()[0]
    conn.execute("UPDATE sqlite_master SET rootpage=? WHERE name=?", (root, idx))
    conn.commit()
    conn.close()
    probe = sqlite3.connect(bad)
    assert probe.execute("SELECT value FROM meta WHERE key='site'").fetchone()[0] == SITE  # reads work
    probe.close()
    with pytest.raises(StoreCorruptError, match="integrity check failed"):
        EventStore(bad, SITE, DEV)


def test_garbage_file_is_refused_as_corrupt(tmp_path):
    p = tmp_path / "junk.sqlite"
    p.write_bytes(b"this is not a database" * 500)
    with pytest.raises(StoreCorruptError):
        EventStore(p, SITE, DEV)


def test_integrity_check_ok_and_checkpoint(store, tmp_path):
    for i in range(50):
        store.append("counter.opened", {"counter": str(i)})
    assert store.integrity_check() == "ok"
    wal = tmp_path / "hub.sqlite-wal"
    assert wal.stat().st_size > 0
    store.checkpoint()
    assert wal.stat().st_size == 0
    assert store.last_seq == 50 and len(store.events()) == 50
    assert store.disk_free_bytes() > 0


def test_readers_see_appends_of_a_writer(store, tmp_path):
    reader = EventStore(tmp_path / "hub.sqlite", SITE, DEV)
    try:
        assert reader.last_seq == 0
        store.append("counter.opened", {"counter": "1"})
        assert reader.last_seq == 1 and reader.events()[0].data == {"counter": "1"}
    finally:
        reader.close()


def test_a_database_error_while_appending_is_a_store_error(store, tmp_path):
    """A row the sequence does not know about (written behind the store's back) makes the insert
    fail: the caller gets a StoreError (the hub answers store_failed), nothing is half-stored."""
    store.append("counter.opened", {"counter": "1"})
    other = sqlite3.connect(tmp_path / "hub.sqlite")
    other.execute("INSERT INTO events(seq, id, type, ts, data, v) VALUES (3, 'x', 'counter.opened', 0, '{}', 1)")
    other.commit()
    other.close()
    store.append("counter.opened", {"counter": "2"})  # seq 2 is free
    with pytest.raises(StoreError) as exc:
        store.append_many([("counter.opened", {"counter": "3"}), ("counter.opened", {"counter": "4"})])
    assert isinstance(exc.value.__cause__, sqlite3.IntegrityError)
    assert store.last_seq == 2 and [e.seq for e in store.events()] == [1, 2, 3]
    assert not store.conn.in_transaction


# --- answers to commands, kept with their events --------------------------------------------

def answer_rows(store) -> list[tuple[str, int]]:
    return store.conn.execute("SELECT device, seq FROM answers ORDER BY seq").fetchall()


def test_an_answer_is_committed_with_its_events_or_not_at_all(store, tmp_path):
    with store.transaction():
        evs = store.append_many([("counter.opened", {"counter": "1"}), ("counter.closed", {"counter": "1"})])
        store.record_answer("kiosk-1", b"req-1", {"ok": True, "seq": evs[-1].seq, "lang": "\udc80"})
    assert answer_rows(store) == [("kiosk-1", 2)]
    # Seen by another connection (that is, durable), and the lone surrogate survived as text.
    with EventStore(tmp_path / "hub.sqlite", SITE, DEV) as other:
        assert other.answer("kiosk-1", b"req-1") == {"ok": True, "seq": 2, "lang": "\udc80"}
        assert other.answer("kiosk-2", b"req-1") is None and other.answer("kiosk-1", b"req-2") is None

    # The block fails after both were written: neither is kept.
    with pytest.raises(RuntimeError):
        with store.transaction():
            store.append("counter.opened", {"counter": "2"})
            store.record_answer("kiosk-1", b"req-2", {"ok": True})
            raise RuntimeError("the hub died here")
    assert store.last_seq == 2 and store.answer("kiosk-1", b"req-2") is None
    assert not store.conn.in_transaction

    # An answer needs the events of its command: refused without them, and the block with it.
    with pytest.raises(StoreError):
        with store.transaction():
            store.record_answer("kiosk-1", b"req-3", {"ok": False, "error": "unknown_service"})
    assert answer_rows(store) == [("kiosk-1", 2)]
    with pytest.raises(StoreError):
        with store.transaction():
            with store.transaction():
                pass


def test_a_failed_commit_keeps_neither_events_nor_answer(store):
    store.append("counter.opened", {"counter": "1"})
    # A real SQLITE_FULL on the answer row: the events of the same transaction go with it.
    pages = store.conn.execute("PRAGMA page_count").fetchone()[0]
    store.conn.execute(f"PRAGMA max_page_count={pages}")
    with pytest.raises(StoreFullError, match="could not record the answer"):
        with store.transaction():
            store.append("ticket.cancelled", {"ticket": "t", "reason": "x"})  # fits the page it has
            store.record_answer("kiosk-1", b"req-1", {"ok": True, "pad": "q" * 20_000})
    assert store.last_seq == 1 and [e.seq for e in store.events()] == [1] and answer_rows(store) == []

    # An append that fails inside the block keeps the transaction from committing even when the
    # caller swallows the error: its other writes are not kept half.
    with pytest.raises(StoreError):
        with store.transaction():
            store.append("counter.opened", {"counter": "2"})
            try:
                store.append("counter.opened", {"counter": "3", "pad": "z" * 30_000})
            except StoreFullError:
                pass
    assert store.last_seq == 1 and answer_rows(store) == []
    store.conn.execute("PRAGMA max_page_count=1073741823")
    with store.transaction():
        store.append("counter.opened", {"counter": "2"})
        store.record_answer("kiosk-1", b"req-1", {"ok": True})
    assert store.last_seq == 2 and answer_rows(store) == [("kiosk-1", 2)]


def test_answers_keep_the_newest_per_device(store):
    for i in range(ANSWERS_PER_DEVICE + 50):
        with store.transaction():
            ev = store.append("counter.opened", {"counter": "1"})
            store.record_answer("kiosk-1", f"k{i}".encode(), {"ok": True, "seq": ev.seq})
        if i % 10 == 0:  # another device, far fewer commands: a flooding kiosk must not push them out
            with store.transaction():
                ev = store.append("counter.opened", {"counter": "2"})
                store.record_answer("counter-1", f"c{i}".encode(), {"ok": True, "seq": ev.seq})
    kiosk = [store.answer("kiosk-1", f"k{i}".encode()) for i in range(ANSWERS_PER_DEVICE + 50)]
    assert kiosk[:50] == [None] * 50 and None not in kiosk[50:]
    assert all(store.answer("counter-1", f"c{i}".encode()) for i in range(0, ANSWERS_PER_DEVICE + 50, 10))
    assert store.conn.execute("SELECT count(*) FROM answers").fetchone()[0] == ANSWERS_PER_DEVICE + 15


def test_a_store_made_before_the_answers_table_gets_it(tmp_path):
    path = tmp_path / "old.sqlite"
    with EventStore(path, SITE, DEV) as s:
        s.append("counter.opened", {"counter": "1"})
        s.conn.execute("DROP TABLE answers")
    with EventStore(path, SITE, DEV) as s:
        with s.transaction():
            s.append("counter.opened", {"counter": "2"})
            s.record_answer("kiosk-1", b"r", {"ok": True})
        assert s.answer("kiosk-1", b"r") == {"ok": True} and s.last_seq == 2
