"""Random input at the ingest: thousands straight at its message-handling function, a few hundred
through a real broker. It never raises, never stops, and everything it cannot store is
dead-lettered: every event of a well-formed batch is stored, a duplicate or a dead letter, and a
message that is not a well-formed batch is one dead letter."""
import json
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bus import topics
from bus.link import Connected
from central.ingest import MAX_BATCH_BYTES, MAX_BATCH_EVENTS, Ingest
from central.store import CentralStore
from core.events import MAX_EVENT_BYTES, check_event, now_ms, parse_event
from tests.support.syncproc import Central, publish_wait, wait_ingest_subscribed, wait_item, wait_until

SITE, DEV = "s1", "kiosk-1"
NOW = now_ms()
#: A valid data of each type the generator picks (the schema refuses unknown keys).
VALID_DATA = {"feedback.given": {"rating": 4, "scale": 5}, "printer.recovered": {"reason": "paper_out"},
              "ticket.finished": {"ticket": "2026-11-23/K001", "service_s": 30}}
TOPIC = topics.events(SITE, DEV)

json_leaf = st.one_of(st.none(), st.booleans(), st.integers(min_value=-2**70, max_value=2**70),
                      st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=20))
json_value = st.recursive(json_leaf, lambda c: st.one_of(st.lists(c, max_size=4),
                                                         st.dictionaries(st.text(max_size=8), c, max_size=4)),
                          max_leaves=12)


@st.composite
def near_events(draw):
    """Mostly valid envelopes with a field or two broken."""
    seq = draw(st.integers(min_value=1, max_value=40))
    e = {"v": 1, "id": f"{draw(st.integers(0, 10**6)):08d}-{seq}", "site": SITE, "device": DEV, "seq": seq,
         "type": draw(st.sampled_from(["feedback.given", "printer.recovered", "ticket.finished", "bogus"])),
         "ts": draw(st.one_of(st.integers(NOW - 10**9, NOW), st.integers(0, 2**53 - 1)))}
    e["data"] = dict(VALID_DATA.get(e["type"], {}))
    for _ in range(draw(st.integers(0, 2))):
        key = draw(st.sampled_from(sorted(e) + ["extra"]))
        if draw(st.booleans()):
            e.pop(key, None)
        else:
            e[key] = draw(json_value)
    return e


wild_batches = st.fixed_dictionaries({
    "site": st.one_of(st.just(SITE), json_value),
    "device": st.one_of(st.just(DEV), st.just("kiosk-2"), json_value),
    "events": st.one_of(st.lists(st.one_of(near_events(), json_value), max_size=6), json_value),
}).map(lambda d: json.dumps(d).encode())
# Batches for the right device with near-valid events: some stored, some dead-lettered, some both.
shaped_batches = st.lists(near_events(), max_size=8).map(
    lambda evs: json.dumps({"site": SITE, "device": DEV, "events": evs}).encode())

payloads = st.one_of(
    st.binary(max_size=200),
    st.text(max_size=100).map(lambda s: s.encode("utf-8", "surrogatepass")),
    json_value.map(lambda v: json.dumps(v).encode()),
    wild_batches, shaped_batches, shaped_batches,
)
topic_st = st.one_of(st.just(TOPIC), st.just(TOPIC), st.just(topics.events("s2", "hub-1")),
                     st.text(max_size=30), st.just("pp/s1/dev/kiosk-1/other"))


def assert_only_valid_stored(db):
    """Every stored event passes the ingest's own checks again (role unknown here: schema only)."""
    for site, device, seq, eid, etype, ts, data, v in db.conn.execute(
            "SELECT site, device, seq, id, type, ts, data, v FROM events"):
        ev = parse_event({"v": v, "id": eid, "site": site, "device": device, "seq": seq, "type": etype, "ts": ts,
                          "data": json.loads(data)})
        assert check_event(ev, None, ts) == ev


def is_batch_for(topic, payload):
    """The oracle: how many events a message carries if it is a well-formed batch, else None."""
    parsed = topics.parse_device_topic(topic)
    if parsed is None or parsed[2] != "events" or len(payload) > MAX_BATCH_BYTES:
        return None
    try:
        doc = json.loads(payload.decode("utf-8"))
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None
    if not isinstance(doc, dict) or doc.get("site") != parsed[0] or doc.get("device") != parsed[1]:
        return None
    if not isinstance(doc.get("events"), list) or len(doc["events"]) > MAX_BATCH_EVENTS:
        return None
    return len(doc["events"])


def test_thousands_of_random_messages_straight_at_the_handler(central_dsn):
    db = CentralStore(central_dsn)
    ingest = Ingest(db)
    seen = {"messages": 0, "dead": 0, "stored": 0}

    def dead_total():
        return db.conn.execute("SELECT coalesce(sum(count), 0) FROM dead_letter").fetchone()[0]

    def run_one(topic, payload):
        res = ingest.handle(topic, payload)
        n = is_batch_for(topic, payload)
        if n is None:
            assert res.dead == 1 and res.stored == 0, (topic, payload[:200], res)
        else:
            assert res.stored + res.duplicates + res.dead == n, (topic, payload[:200], res)
        seen["messages"] += 1
        seen["dead"] += res.dead
        seen["stored"] += res.stored

    @settings(max_examples=250, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
    @given(st.lists(st.tuples(topic_st, payloads), min_size=2, max_size=12))
    def run(messages):
        for topic, payload in messages:
            run_one(topic, payload)

    run()
    assert seen["messages"] >= 1000 and seen["stored"] > 0

    # Byte-level mutations of valid batches (flips, cuts, splices): fast, so many of them.
    rng = random.Random(11)
    evs = [{"v": 1, "id": f"mut-{i:08d}", "site": SITE, "device": DEV, "seq": i, "type": "ticket.finished",
            "ts": NOW - 1000 + i, "data": {"ticket": f"2026-11-23/K{i:03d}"}} for i in range(1, 200)]
    for _ in range(5000):
        lo = rng.randrange(1, 190)
        raw = bytearray(json.dumps({"site": SITE, "device": DEV, "events": evs[lo - 1:lo + rng.randrange(1, 10)]}).encode())
        for _ in range(rng.randrange(1, 4)):
            op, i = rng.randrange(3), rng.randrange(len(raw))
            if op == 0:
                raw[i] = rng.randrange(256)
            elif op == 1:
                del raw[i:i + rng.randrange(1, 20)]
            else:
                raw[i:i] = rng.choice([b"{", b"]", b'"', b",", b"\\u0000", b"1e999", b'"seq":-1', b"null"])
        run_one(TOPIC, bytes(raw))
    assert seen["messages"] >= 6000
    assert db.count_events() == seen["stored"]
    assert dead_total() == seen["dead"]  # every dead letter the handler reported is in the table
    # Stored events are exactly the valid ones, once each, and the watermark never skips a hole:
    # it passes only stored or refused sequence numbers.
    for site, device in db.conn.execute("SELECT DISTINCT site, device FROM events").fetchall():
        seqs = db.seqs(site, device)
        assert len(seqs) == len(set(seqs))
        wm = db.advance_watermark(site, device)
        covered = set(seqs) | set(db.refused_seqs(site, device))
        assert all(q in covered for q in range(1, wm + 1)) and wm + 1 not in covered
    assert_only_valid_stored(db)
    db.close()


@pytest.mark.broker
def test_hundreds_of_random_payloads_through_the_broker(tmp_path, central_dsn):
    rng = random.Random(7)

    def rand_json(depth=0):
        k = rng.randrange(7 if depth < 3 else 4)
        if k == 0:
            return rng.randrange(-10**9, 10**9)
        if k == 1:
            return "".join(rng.choice("abc{}[]\"\\\u00e4\u20ac") for _ in range(rng.randrange(8)))
        if k == 2:
            return None
        if k == 3:
            return rng.random()
        if k == 4:
            return [rand_json(depth + 1) for _ in range(rng.randrange(4))]
        return {rng.choice(["site", "device", "events", "v", "x"]): rand_json(depth + 1) for _ in range(rng.randrange(4))}

    bad = set()
    while len(bad) < 300:
        kind = rng.randrange(4)
        if kind == 0:
            p = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 300)))
        elif kind == 1:
            p = json.dumps(rand_json()).encode()
        elif kind == 2:  # batch-shaped, for the wrong device
            p = json.dumps({"site": SITE, "device": "kiosk-2", "events": [rand_json()]}).encode()
        else:  # right device, broken events: each one dead-lettered
            p = json.dumps({"site": SITE, "device": DEV, "events": [{"v": 1, "seq": rng.randrange(10**6)}]}).encode()
        if is_batch_for(TOPIC, p) is None or kind == 3:
            bad.add(p)
    c = Central(tmp_path / "central", [DEV], site=SITE, pg_dsn=central_dsn).start()
    try:
        ingest = c.start_ingest()
        link = c.link(topics.central_username(SITE, DEV))
        wait_item(link, lambda i: isinstance(i, Connected))
        wait_ingest_subscribed(link, SITE, DEV)
        for p in bad:
            assert publish_wait(link, TOPIC, p).code == 0
        wait_until(lambda: c.query("SELECT coalesce(sum(count), 0) FROM dead_letter")[0][0] == len(bad), 20,
                   what="every bad payload dead-lettered")
        assert ingest.poll() is None
        good = {"v": 1, "id": "f" * 32, "site": SITE, "device": DEV, "seq": 1, "type": "printer.recovered",
                "ts": now_ms(), "data": {}}
        publish_wait(link, TOPIC, json.dumps({"site": SITE, "device": DEV, "events": [good]}).encode())
        wait_until(lambda: c.count(DEV) == 1, 10, what="a good batch after the noise")
        link.stop()
    finally:
        c.stop_all()


def test_the_oracle_agrees_on_a_valid_batch():
    ev = {"v": 1, "id": "a" * 32, "site": SITE, "device": DEV, "seq": 1, "type": "printer.recovered", "ts": 1, "data": {}}
    assert is_batch_for(TOPIC, json.dumps({"site": SITE, "device": DEV, "events": [ev]}).encode()) == 1
    assert MAX_EVENT_BYTES < MAX_BATCH_BYTES
