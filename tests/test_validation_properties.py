"""Property-based: random events at the ingest's validation and random commands at the hub's
parser and authority. Nothing crashes, nothing invalid is stored (every stored event passes the
checks again, for its sender's role), and `palvelupiste central figures` exits 0 afterwards."""
import json
import subprocess
import sys

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bus import topics
from central.ingest import Ingest
from central.store import CentralStore
from core.events import EVENT_SCHEMAS, Event, check_event, now_ms, parse_event
from core.resources import example_site
from core.store import EventStore
from hub.authority import QueueAuthority
from tests.support.syncproc import REPO

SITE = "example-pp"
ROLES = {"hub-1": "hub", "kiosk-1": "kiosk", "feedback-1": "feedback", "counter-1": "counter"}
NOW = now_ms()

nasty_text = st.one_of(
    st.text(max_size=12),
    st.sampled_from(["fi", "sv", "xx", "\ud800", "fi\x00", "😀", "131052-308T", "040 123 4567", "kela", "1",
                     "2026-11-23/K001", "walk_in", "paper_out", "Matti Meikäläinen", "\u202efi", "", " fi"]))
leaf = st.one_of(st.none(), st.booleans(), st.integers(-2**64, 2**64), st.floats(allow_nan=True), nasty_text)
value = st.recursive(leaf, lambda c: st.one_of(st.lists(c, max_size=3), st.dictionaries(nasty_text, c, max_size=3)),
                     max_leaves=6)


#: A valid event of some type (for any role: the wrong role's is refused), to mutate from.
VALID = [("feedback.given", {"rating": 4, "scale": 5, "comment": "soita 040 123 4567"}),
         ("printer.fault", {"reason": "paper_out", "status": "paper_out"}),
         ("counter.opened", {"counter": "1"}),
         ("ticket.called", {"ticket": "2026-11-23/K001", "counter": "1", "service": "kela", "waited_s": 60})]


@st.composite
def events_of(draw, device, seq):
    if draw(st.booleans()):
        etype, data = draw(st.sampled_from(VALID))
        data = dict(data)
        for k in draw(st.lists(st.sampled_from(sorted(EVENT_SCHEMAS[etype])), max_size=1)):
            data[k] = draw(value)
    else:
        etype = draw(st.sampled_from(sorted(EVENT_SCHEMAS) + ["bogus"]))
        keys = sorted(EVENT_SCHEMAS.get(etype, {"x": None}))
        data = {k: draw(value) for k in draw(st.lists(st.sampled_from(keys), max_size=len(keys), unique=True))}
    if draw(st.booleans()):
        data[draw(st.sampled_from(["name", "hetu", "phone", "extra"]))] = draw(value)
    ts = draw(st.one_of(st.integers(NOW - 10**10, NOW), st.integers(NOW, NOW + 10**9),
                        st.integers(0, 2**53 - 1), value))
    return {"v": 1, "id": f"{device}-{seq:08d}", "site": SITE, "device": device, "seq": seq, "type": etype,
            "ts": ts, "data": data}


def assert_nothing_invalid_stored(db):
    for site, device, seq, eid, etype, ts, data, received in db.conn.execute(
            "SELECT site, device, seq, id, type, ts, data, received_ms FROM events"):
        ev = parse_event({"v": 1, "id": eid, "site": site, "device": device, "seq": seq, "type": etype, "ts": ts,
                          "data": json.loads(data)})
        assert check_event(ev, ROLES[device], received) == ev


def figures_exit_code(dsn):
    return subprocess.run([sys.executable, "-m", "cli", "central", "figures", "--db", dsn, "--json"],
                          cwd=REPO, capture_output=True, text=True).returncode


def test_random_events_at_the_ingest(central_dsn):
    db = CentralStore(central_dsn)
    ingest = Ingest(db)
    ingest.handle(topics.config(SITE), example_site().read_bytes())
    assert db.roles(SITE) == {**ROLES, "display-1": "display", "counter-2": "counter"}
    seqs = {d: 0 for d in ROLES}

    @settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
    @given(st.sampled_from(sorted(ROLES)), st.data())
    def run(device, data):
        n = data.draw(st.integers(1, 6))
        evs = [data.draw(events_of(device, seqs[device] + i + 1)) for i in range(n)]
        seqs[device] += n
        res = ingest.handle(topics.events(SITE, device), json.dumps({"site": SITE, "device": device,
                                                                     "events": evs}).encode("utf-8", "surrogatepass"))
        assert res.stored + res.duplicates + res.dead == n
        # Every event either stored or refused: the ack never stalls on a refused one.
        assert res.acks[(SITE, device)] == seqs[device]

    run()
    assert_nothing_invalid_stored(db)
    stored = db.count_events()
    db.close()
    assert stored > 0
    assert figures_exit_code(central_dsn) == 0


def test_random_commands_at_the_hub(tmp_path, example_site, central_dsn):
    store = EventStore(tmp_path / "hub.sqlite", example_site.id, "hub-1")
    t = [NOW]
    auth = QueueAuthority(example_site, store, clock=lambda: t[0])
    for c in example_site.counters:
        auth.handle_payload(json.dumps({"cmd": "open", "counter": c}), "counter")
    cmd_names = ["take", "checkin", "call", "recall", "finish", "no_show", "transfer", "cancel", "open", "close",
                 "help", "help_answered", "bogus"]
    fields = ["service", "lang", "needs", "code", "counter", "ticket", "reason", "device", "request"]

    @settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
    @given(st.sampled_from(cmd_names), st.dictionaries(st.sampled_from(fields), value, max_size=4),
           st.sampled_from(sorted(ROLES)), st.integers(0, 120_000))
    def run(name, extra, sender, step):
        t[0] += step
        payload = json.dumps({"cmd": name, **extra}).encode("utf-8", "surrogatepass")
        reply = auth.handle_payload(payload, ROLES[sender], sender=sender)
        assert reply.get("ok") or reply.get("error") not in (None, "internal"), reply

    run()
    evs = list(store.iter_events())
    store.close()
    assert evs, "the random commands never produced an event: the property tested nothing"
    for ev in evs:
        assert check_event(ev, "hub", ev.ts) == ev
        if "lang" in ev.data:
            assert ev.data["lang"] in example_site.languages
        if ev.type == "help.requested":
            assert ev.data["device"] in ROLES  # a sender's id, never free text
    # The hub's events, synced, give figures that do not fail.
    with CentralStore(central_dsn) as db:
        db.begin()
        db.insert_events([Event(e.id, e.site, e.device, e.seq, e.type, e.ts, e.data) for e in evs])
        db.commit()
    assert figures_exit_code(central_dsn) == 0
