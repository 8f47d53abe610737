"""The central ingest's message handling, straight on its function and over a real broker:
exactly once, the contiguous ack, dead letters for everything malformed."""
import json
import threading

import pytest

from bus import topics
from bus.link import Connected, Message
from central.ingest import MAX_BATCH_BYTES, Ingest
from central.store import CentralStore, open_central
from core.events import Event, new_event_id, now_ms
from tests.support.syncproc import Central, publish_wait, wait_ingest_subscribed, wait_item, wait_until

SITE, DEV = "s1", "kiosk-1"
T0 = now_ms() - 3_600_000  # within the ingest's window around the receive time
TOPIC = topics.events(SITE, DEV)


def ev(seq, device=DEV, site=SITE, eid=None, **over):
    d = Event(id=eid or new_event_id(), site=site, device=device, seq=seq, type="feedback.given", ts=T0 + seq,
              data={"rating": 5, "scale": 5}).to_dict()
    d.update(over)
    return d


def batch(events, site=SITE, device=DEV):
    return json.dumps({"site": site, "device": device, "events": events}).encode()


@pytest.fixture
def ingest(central_dsn):
    db = open_central(central_dsn)
    yield Ingest(db)
    db.close()


def test_stores_once_and_acks_the_contiguous_watermark(ingest):
    evs = [ev(i) for i in range(1, 6)]
    r = ingest.handle(TOPIC, batch(evs[:3]))
    assert (r.stored, r.duplicates, r.dead, r.acks) == (3, 0, 0, {(SITE, DEV): 3})
    r = ingest.handle(TOPIC, batch(evs[1:5]))  # overlaps what is stored
    assert (r.stored, r.duplicates, r.acks) == (2, 2, {(SITE, DEV): 5})
    r = ingest.handle(TOPIC, batch(evs))  # everything again: the ack again
    assert (r.stored, r.duplicates, r.acks) == (0, 5, {(SITE, DEV): 5})
    assert ingest.db.seqs(SITE, DEV) == [1, 2, 3, 4, 5]
    assert ingest.db.dead_letter_count() == 0


def test_gap_holds_the_ack_until_it_is_filled(ingest):
    e = {i: ev(i) for i in range(1, 8)}
    assert ingest.handle(TOPIC, batch([e[1], e[2], e[4]])).acks == {(SITE, DEV): 2}
    assert ingest.handle(TOPIC, batch([e[6], e[5]])).acks == {(SITE, DEV): 2}
    assert ingest.handle(TOPIC, batch([e[3]])).acks == {(SITE, DEV): 6}
    assert ingest.handle(TOPIC, batch([e[7]])).acks == {(SITE, DEV): 7}
    assert ingest.db.watermark(SITE, DEV) == 7


def test_devices_are_independent(ingest):
    r = ingest.handle_many([(TOPIC, batch([ev(1), ev(2)])),
                            (topics.events(SITE, "hub-1"), batch([ev(1, device="hub-1")], device="hub-1")),
                            (topics.events("s2", DEV), batch([ev(2, site="s2")], site="s2"))])
    assert r.acks == {(SITE, DEV): 2, (SITE, "hub-1"): 1, ("s2", DEV): 0}


@pytest.mark.parametrize("topic,payload,reason", [
    (TOPIC, b"{not json", "not valid JSON"),
    (TOPIC, b"\xff\xfe\x00garbage", "not valid JSON"),
    (TOPIC, b"[1,2,3]", "must be a JSON object"),
    (TOPIC, json.dumps({"site": SITE, "device": "kiosk-2", "events": []}).encode(), "the topic says"),
    (TOPIC, json.dumps({"site": SITE, "device": DEV, "events": {}}).encode(), "events: must be a list"),
    (TOPIC, b"x" * (MAX_BATCH_BYTES + 1), "larger than"),
    ("pp/s1/dev/kiosk-1/nonsense", b"{}", "unexpected topic leaf"),
    ("somewhere/else", b"{}", "topic is not"),
    ("pp/s 1/dev/kiosk-1/events", b"{}", "topic is not"),
])
def test_malformed_messages_are_dead_lettered(ingest, topic, payload, reason):
    r = ingest.handle(topic, payload)
    assert r.dead == 1 and r.stored == 0
    (row,) = ingest.db.dead_letters()
    assert reason in row["reason"], row["reason"]
    assert row["payload_bytes"] == len(payload) and len(row["payload"]) <= 4096 * 4
    assert row["topic"] == topic
    # and it keeps going
    assert ingest.handle(TOPIC, batch([ev(1)])).stored == 1


@pytest.mark.parametrize("bad,reason", [
    (lambda: ev(2, v=2), "unsupported schema version"),
    (lambda: ev(2, device="kiosk-2"), "event belongs to"),
    (lambda: ev(2, site="other"), "event belongs to"),
    (lambda: ev(2, type="ticket.teleported"), "unknown event type"),
    (lambda: ev(2, data={"rating": 5}), "feedback.given needs"),
    (lambda: {**ev(2), "seq": 0}, "seq"),
    (lambda: {**ev(2), "seq": 2**70}, "out of range"),
    (lambda: ev(2, extra=1), "unknown field"),
    (lambda: ev(2, data={"rating": 5, "scale": 5, "blob": "x" * 20_000}), "larger than"),
    (lambda: ev(2, data={"rating": 5, "scale": 5, "t": "\ud800"}), "not valid Unicode"),
    (lambda: "an event", "must be a JSON object"),
])
def test_a_bad_event_is_dead_lettered_and_the_rest_of_the_batch_is_stored(ingest, bad, reason):
    b = bad()
    r = ingest.handle(TOPIC, json.dumps({"site": SITE, "device": DEV, "events": [ev(1), b, ev(3)]}).encode())
    assert (r.stored, r.dead) == (2, 1)
    if isinstance(b, dict) and b.get("seq") == 2:
        # The device's seq 2 is refused, not missing: the ack moves past it, or the device would
        # send it again forever.
        assert r.acks == {(SITE, DEV): 3} and ingest.db.refused_seqs(SITE, DEV) == [2]
    else:
        assert r.acks == {(SITE, DEV): 1}  # no usable seq: never past the hole
    (row,) = ingest.db.dead_letters()
    assert reason in row["reason"], row["reason"]
    assert row["device"] == DEV


def test_same_seq_with_another_event_id_is_a_conflict_not_a_silent_drop(ingest):
    ingest.handle(TOPIC, batch([ev(1, eid="a" * 32)]))
    r = ingest.handle(TOPIC, batch([ev(1, eid="b" * 32)]))
    assert (r.stored, r.duplicates, r.dead) == (0, 0, 1)
    assert "conflict" in ingest.db.dead_letters()[0]["reason"]
    assert ingest.db.count_events() == 1


def test_a_repeated_bad_message_is_one_row_with_a_count(ingest):
    for _ in range(5):
        ingest.handle(TOPIC, b"{bad")
    (row,) = ingest.db.dead_letters()
    assert row["count"] == 5


def test_status_and_availability_are_kept(ingest):
    ingest.handle(topics.status(SITE, DEV), json.dumps({"backlog": 3}).encode())
    ingest.handle(topics.availability(SITE, DEV), b"online")
    ingest.handle(topics.availability(SITE, DEV), b"maybe")
    rep = ingest.db.report()
    d = rep["devices"][0]
    assert d["status"] == {"backlog": 3} and d["availability"] == "online"
    assert rep["dead_letters"]["rows"] == 1


def test_two_workers_on_one_database_store_each_event_once(central_dsn):
    """Two ingest workers (own connections, own threads) get the same batches in different orders:
    every event is stored once and counted once in the roll-ups."""
    CentralStore(central_dsn).close()
    evs = [ev(i) for i in range(1, 2001)]
    batches = [batch(evs[i:i + 50]) for i in range(0, 2000, 50)]
    acks = {0: [], 1: []}

    def worker(k):
        db = CentralStore(central_dsn)
        ing = Ingest(db)
        order = batches if k == 0 else list(reversed(batches))
        for b in order:
            acks[k].append(ing.handle(TOPIC, b).acks[(SITE, DEV)])
        db.close()

    threads = [threading.Thread(target=worker, args=(k,)) for k in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    db = CentralStore(central_dsn)
    assert db.seqs(SITE, DEV) == list(range(1, 2001))
    assert db.watermark(SITE, DEV) == 2000
    assert max(acks[0] + acks[1]) == 2000
    assert db.dead_letter_count() == 0
    # Each event is a response of its own (no response id): 2,000 responses, none twice.
    assert db.conn.execute("SELECT count(*) FROM feedback_responses").fetchone()[0] == 2000
    db.close()


@pytest.mark.broker
def test_gap_over_the_broker_ack_stays_until_the_hole_is_filled(tmp_path, central_dsn):
    c = Central(tmp_path / "central", [DEV], site=SITE, pg_dsn=central_dsn).start()
    try:
        c.start_ingest()
        link = c.link(topics.central_username(SITE, DEV), subscriptions=[(topics.ack(SITE, DEV), 1)])
        wait_item(link, lambda i: isinstance(i, Connected))
        wait_ingest_subscribed(link, SITE, DEV)
        e = {i: ev(i) for i in range(1, 5)}

        def send_and_ack(evs):
            assert publish_wait(link, TOPIC, batch(evs)).code == 0
            return json.loads(wait_item(link, lambda i: isinstance(i, Message)).payload)["seq"]

        assert send_and_ack([e[1], e[2], e[4]]) == 2
        assert send_and_ack([e[4]]) == 2
        assert send_and_ack([e[3]]) == 4
        assert c.query("SELECT seq FROM events ORDER BY seq") == [(1,), (2,), (3,), (4,)]
        link.stop()
    finally:
        c.stop_all()


@pytest.mark.broker
def test_oversized_and_malformed_over_the_broker_are_dead_lettered(tmp_path, central_dsn):
    c = Central(tmp_path / "central", [DEV], site=SITE, pg_dsn=central_dsn).start()
    try:
        c.start_ingest()
        link = c.link(topics.central_username(SITE, DEV))
        wait_item(link, lambda i: isinstance(i, Connected))
        wait_ingest_subscribed(link, SITE, DEV)
        payloads = [b"x" * (600 * 1024), b"{oops",
                    json.dumps({"site": SITE, "device": DEV, "events": [ev(1, v=9)]}).encode()]
        for p in payloads:
            assert publish_wait(link, TOPIC, p).code == 0
        wait_until(lambda: len(c.dead_letters()) == 3, 10, what="three dead letters")
        reasons = [r[0] for r in c.dead_letters()]
        assert "larger than" in reasons[0] and "not valid JSON" in reasons[1] and "schema version" in reasons[2]
        assert c.dead_letters()[0][2] == 600 * 1024  # the size is recorded, the payload truncated
        assert c.count() == 0
        link.stop()
    finally:
        c.stop_all()


def test_a_resend_of_pruned_events_is_neither_stored_nor_counted_again(ingest):
    """Raw events older than the retention are deleted (roll-ups kept); a device sending them
    again (a restored backup of its store) must not put them back into the figures."""
    evs = [ev(i) for i in range(1, 4)]
    assert ingest.handle(TOPIC, batch(evs)).stored == 3
    ingest.db.conn.execute("DELETE FROM events")  # what `central prune` does to old months
    r = ingest.handle(TOPIC, batch(evs))
    assert (r.stored, r.duplicates, r.acks) == (0, 3, {(SITE, DEV): 3})
    assert ingest.db.count_events() == 0
    assert ingest.db.conn.execute("SELECT count(*) FROM feedback_responses").fetchone()[0] == 3
