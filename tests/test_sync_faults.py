"""Faults on the way from a device to the central database, with a real Mosquitto and the agent and
ingest as real processes. Every test ends with the same equality: the events on the devices are the
rows of the central database — no gap, no duplicate — and acked_seq == last_seq."""
import json
import signal

import pytest

from bus import topics
from bus.link import Connected, Message
from core.store import EventStore
from tests.support.syncproc import (
    Central,
    assert_synced,
    device_store_path,
    fill_store,
    publish_wait,
    store_seqs,
    wait_item,
    wait_synced,
    wait_until,
    write_device,
)

pytestmark = pytest.mark.broker
SITE = "test-site"


@pytest.fixture
def central(tmp_path, central_dsn):
    c = Central(tmp_path / "central", ["kiosk-1", "counter-1"], pg_dsn=central_dsn).start()
    yield c
    c.stop_all()


def local_status(toml):
    p = toml.parent / "data" / "sync-status.json"
    try:
        return json.loads(p.read_text())
    except (OSError, ValueError):
        return None


def test_sigkill_of_the_agent_in_the_middle_of_a_batch(central, tmp_path):
    kiosk = write_device(tmp_path, central, "kiosk-1", sync={"batch_events": 100, "window": 4})
    fill_store(kiosk, SITE, "kiosk-1", 8000, chunk=4000)
    central.start_ingest()
    acked_at_kill = 0
    for _ in range(3):
        agent = central.start_agent(kiosk)
        wait_until(lambda: store_seqs(kiosk)[1] > acked_at_kill, 20, "the ack to move", interval=0.005)
        agent.send_signal(signal.SIGKILL)
        agent.wait(10)
        last, acked_at_kill = store_seqs(kiosk)
        assert 0 < acked_at_kill < last, "killed while batches were in flight"
        fill_store(kiosk, SITE, "kiosk-1", 200, chunk=13)  # the app keeps going while the agent is dead
    central.start_agent(kiosk)
    wait_synced(central, {"kiosk-1": kiosk})
    assert_synced(central, {"kiosk-1": kiosk})


def test_sigkill_and_restart_of_mosquitto_mid_stream(central, tmp_path):
    tomls = {d: write_device(tmp_path, central, d, sync={"batch_events": 100, "window": 4})
             for d in ("kiosk-1", "counter-1")}
    for d, t in tomls.items():
        fill_store(t, SITE, d, 6000, chunk=3000)
    central.start_ingest()
    for t in tomls.values():
        central.start_agent(t)
    wait_until(lambda: all(store_seqs(t)[1] > 0 for t in tomls.values()), 20, "both devices syncing", interval=0.005)
    central.broker.kill()
    assert any(store_seqs(t)[1] < store_seqs(t)[0] for t in tomls.values()), "killed mid-stream"
    for d, t in tomls.items():
        fill_store(t, SITE, d, 300)
    central.broker.start()
    wait_synced(central, tomls)
    assert_synced(central, tomls)
    assert all(local_status(t)["sync"]["connects"] >= 2 for t in tomls.values())


def test_central_ingest_down_for_a_while_and_back(central, tmp_path):
    kiosk = write_device(tmp_path, central, "kiosk-1", sync={"batch_events": 100, "window": 4})
    fill_store(kiosk, SITE, "kiosk-1", 6000, chunk=3000)
    ingest = central.start_ingest("ingest-a")
    central.start_agent(kiosk)
    wait_until(lambda: store_seqs(kiosk)[1] > 0, 20, "syncing", interval=0.005)
    ingest.send_signal(signal.SIGKILL)
    ingest.wait(10)
    fill_store(kiosk, SITE, "kiosk-1", 500)
    # The agent notices (no ack; "no matching subscribers"), sends again, and nothing moves.
    resent = wait_until(lambda: (s := local_status(kiosk)) and s["sync"]["no_subscriber_pubacks"] >= 1
                        and s["sync"]["resent_batches"], 20, what="batches sent again")
    stuck = store_seqs(kiosk)[1]  # acks already on their way when the ingest died have arrived
    wait_until(lambda: local_status(kiosk)["sync"]["resent_batches"] > resent, 20, what="another resend")
    assert store_seqs(kiosk)[1] == stuck < store_seqs(kiosk)[0]
    # Back, as two workers sharing the subscription and the database.
    central.start_ingest("ingest-b")
    central.start_ingest("ingest-c")
    wait_synced(central, {"kiosk-1": kiosk})
    assert_synced(central, {"kiosk-1": kiosk})


def test_a_batch_delivered_twice_is_stored_once_and_acknowledged_again(central, tmp_path):
    kiosk = write_device(tmp_path, central, "kiosk-1")
    fill_store(kiosk, SITE, "kiosk-1", 300)
    central.start_ingest()
    agent = central.start_agent(kiosk)
    wait_synced(central, {"kiosk-1": kiosk})
    # The test now speaks as the device itself: its agent must be gone first, or the broker (which
    # takes the user name as the client id) would hand the one session back and forth between the
    # two, and an ack could go to the one that was just thrown out.
    agent.terminate()
    assert agent.wait(10) == 0
    with EventStore(device_store_path(kiosk), SITE, "kiosk-1") as s:
        evs = s.events()

    def batch(lo, hi):
        return json.dumps({"site": SITE, "device": "kiosk-1",
                           "events": [e.to_dict() for e in evs[lo - 1:hi]]}).encode()

    user = topics.central_username(SITE, "kiosk-1")
    dev = central.link(user, subscriptions=[(topics.ack(SITE, "kiosk-1"), 1)])
    try:
        wait_item(dev, lambda i: isinstance(i, Connected))
        retained = wait_item(dev, lambda i: isinstance(i, Message) and i.retain)
        assert json.loads(retained.payload) == {"seq": 300}
        for lo, hi in ((1, 150), (1, 150), (120, 300)):
            assert not publish_wait(dev, topics.events(SITE, "kiosk-1"), batch(lo, hi)).failure
            again = wait_item(dev, lambda i: isinstance(i, Message) and not i.retain)
            assert json.loads(again.payload) == {"seq": 300}
    finally:
        dev.stop()
    assert central.count("kiosk-1") == 300
    assert central.dead_letters() == []
    assert_synced(central, {"kiosk-1": kiosk})


def test_an_event_is_never_synced_on_puback_alone(central, tmp_path):
    kiosk = write_device(tmp_path, central, "kiosk-1")
    fill_store(kiosk, SITE, "kiosk-1", 500)
    central.start_agent(kiosk)  # no ingest: the broker PUBACKs, nobody stores
    st = wait_until(lambda: (s := local_status(kiosk)) and s["sync"]["pubacks_ok"] >= 6
                    and s["sync"]["resent_batches"] >= 3 and s, 20, what="PUBACKs and batches sent again")
    assert st["acked_seq"] == 0 and st["backlog"] == 500
    assert store_seqs(kiosk) == (500, 0)
    central.start_ingest()
    wait_synced(central, {"kiosk-1": kiosk})
    assert_synced(central, {"kiosk-1": kiosk})


def test_a_refused_publish_is_counted_and_nothing_is_synced(central, tmp_path):
    """A device configured with another device's credentials: every publish gets PUBACK 0x87."""
    bad = write_device(tmp_path, central, "counter-1")
    text = bad.read_text().replace('username = "test-site.counter-1"', 'username = "test-site.kiosk-1"')
    text = text.replace("test-site.counter-1.pw", "test-site.kiosk-1.pw")
    bad.write_text(text)
    fill_store(bad, SITE, "counter-1", 100)
    central.start_ingest()
    proc = central.start_agent(bad)
    st = wait_until(lambda: (s := local_status(bad)) and s["sync"]["puback_failures"] >= 2 and s, 20,
                    what="refused PUBACKs in the status")
    assert "0x87" in st["sync"]["last_puback_failure"]
    assert store_seqs(bad) == (100, 0)
    assert central.count() == 0
    assert "refused a publish" in central.log(f"{bad.stem}.log")
    # Fixed credentials: everything goes through.
    proc.terminate()
    proc.wait(10)
    bad.write_text(text.replace('username = "test-site.kiosk-1"', 'username = "test-site.counter-1"')
                   .replace("test-site.kiosk-1.pw", "test-site.counter-1.pw"))
    central.start_agent(bad)
    wait_synced(central, {"counter-1": bad})
    assert_synced(central, {"counter-1": bad})
