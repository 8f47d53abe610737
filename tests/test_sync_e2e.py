"""End to end with real, secured Mosquittos (the project's templates, passwords and ACLs):

    kiosk/counter commands → site broker → hub service (durable append to the hub's store)
    hub's and kiosk's stores → sync agents (subprocesses) → central broker → ingest (subprocess)
    → central SQLite → retained ack → the devices' acked_seq
    publish-appointments → central broker → the hub's sync agent writes appointments.json
    → the hub reloads it → an appointment check-in works
"""
import datetime as _dt
import json
import subprocess
import sys

import pytest

from bus import topics
from bus.link import Message
from central.publish import publish_appointments
from core.config import Broker
from tests.support.broker import site_broker as start_site_broker
from tests.support.sites import always_open_text
from tests.support.syncproc import (
    REPO,
    Central,
    assert_synced,
    fill_store,
    store_seqs,
    wait_item,
    wait_synced,
    wait_until,
    write_device,
)

pytestmark = pytest.mark.broker
SITE = "test-site"
SITE_TOML = always_open_text((REPO / "assets" / "sites" / "example.toml").read_text()).replace('id = "example-pp"', f'id = "{SITE}"', 1)


@pytest.fixture
def central(tmp_path, central_dsn):
    c = Central(tmp_path / "central", ["hub-1", "kiosk-1"], pg_dsn=central_dsn).start()
    yield c
    c.stop_all()


@pytest.fixture
def site_broker(tmp_path):
    """The site's own broker, from the site template, for the hub and the apps."""
    from core.config import loads_site

    site = loads_site(SITE_TOML)
    users = {dev: f"site-pw-{dev}" for dev in site.devices}
    b = start_site_broker(tmp_path / "site-broker", SITE, site.devices, users)
    for u, p in users.items():
        (b.workdir / f"{u}.pw").write_text(p)
    b.users = users
    b.site = site
    yield b
    b.stop()


def test_end_to_end_hub_and_kiosk_through_both_brokers(central, site_broker, tmp_path):
    from bus.hubclient import HubClient
    from core.config import load_device
    from hub.service import HubService

    site_cfg = tmp_path / "hub-1" / "site.toml"
    site_cfg.parent.mkdir(parents=True)
    site_cfg.write_text(SITE_TOML)
    hub = write_device(tmp_path, central, "hub-1", role="hub", device_keys={"site_config": str(site_cfg)},
                       extra=f'\n[site_broker]\nurl = "{site_broker.hub_url}"\nusername = "hub-1"\n'
                             f'password_file = "{site_broker.workdir / "hub-1.pw"}"\n')
    kiosk = write_device(tmp_path, central, "kiosk-1", role="kiosk")
    tomls = {"hub-1": hub, "kiosk-1": kiosk}
    fill_store(kiosk, SITE, "kiosk-1", 1500)
    (kiosk.parent / "data" / "printer-status.json").write_text(json.dumps({"paper": "low", "status": 18}))

    service = HubService(load_device(hub), appointments_poll_s=0.1,
                         link_kw={"min_backoff_s": 0.05, "max_backoff_s": 0.5}).start_in_thread()
    clients = [HubClient(site_broker.url, SITE, dev, password=site_broker.users[dev]).start()
               for dev in ("kiosk-1", "counter-1")]
    agents = {}
    try:
        central.start_ingest()
        agents = {d: central.start_agent(t) for d, t in tomls.items()}
        k, c = clients
        wait_until(lambda: k.request({"cmd": "state"}, timeout=0.5).get("ok"), 10, what="the hub answering")
        desk = next(iter(site_broker.site.counters))
        svc = site_broker.site.counters[desk].services[0]
        assert c.request({"cmd": "open", "counter": desk}).get("ok")
        for _ in range(30):
            assert k.request({"cmd": "take", "service": svc, "lang": "fi", "needs": {}}).get("ok")
        # the kiosk app keeps appending to its own store while its agent syncs it
        fill_store(kiosk, SITE, "kiosk-1", 300, chunk=7)
        for _ in range(30):
            assert c.request({"cmd": "call", "counter": desk}).get("ok")
            assert c.request({"cmd": "finish", "counter": desk}).get("ok")

        # The clerk's side (issue 12): a number called out of turn and parked, a no-show; then the
        # hub restarts, and the re-queue, the call-back and the outcome go on from its store.
        first = k.request({"cmd": "take", "service": svc, "lang": "fi", "needs": {}})["number"]
        second = k.request({"cmd": "take", "service": svc, "lang": "fi", "needs": {}})["number"]
        assert c.request({"cmd": "call_number", "counter": desk, "number": second})["number"] == second
        assert c.request({"cmd": "park", "counter": desk})["ok"]
        assert c.request({"cmd": "call", "counter": desk})["number"] == first
        assert c.request({"cmd": "no_show", "counter": desk})["ok"]
        service.stop()
        service = HubService(load_device(hub), appointments_poll_s=0.1,
                             link_kw={"min_backoff_s": 0.05, "max_backoff_s": 0.5}).start_in_thread()
        st = wait_until(lambda: (x := c.request({"cmd": "state"}, timeout=0.5)).get("ok") and x, 10,
                        what="the restarted hub answering")
        assert [p["number"] for p in st["parked"]] == [second] and [n["number"] for n in st["no_shows"]] == [first]
        assert c.request({"cmd": "requeue", "counter": desk, "number": first})["ok"]
        assert c.request({"cmd": "call_number", "counter": desk, "number": second})["waited_s"] is None
        outcome = site_broker.site.services[svc].outcomes[0]
        assert c.request({"cmd": "finish", "counter": desk, "outcome": outcome})["ok"]
        assert c.request({"cmd": "call", "counter": desk})["number"] == first
        assert c.request({"cmd": "finish", "counter": desk})["ok"]

        # Down the wire to the hub: an appointment published centrally can be checked in on site.
        at = _dt.datetime.now(site_broker.site.tz) + _dt.timedelta(minutes=5)
        appts = tmp_path / "appts.csv"
        appts.write_text(f"code,service,time\nAB123,{svc},{at.strftime('%Y-%m-%dT%H:%M')}\n")
        n = publish_appointments(SITE, appts, Broker(central.url, "publisher", central.pwfile("publisher")),
                                 site_config=site_cfg)
        assert n == 1
        r = wait_until(lambda: (x := k.request({"cmd": "checkin", "code": "AB123", "lang": "fi", "needs": {}}))
                       .get("ok") and x, 15, "the hub to take the published appointment", interval=0.2)
        assert r["ok"]

        wait_synced(central, tomls)
        assert_synced(central, tomls)
        assert store_seqs(hub)[0] >= 103  # open + 30 issued, called, finished + the clerk's 11 + check-in
        # The clerk's events reached the centre as the hub stored them.
        got = {t: json.loads(d) for t, d in central.query(
            "SELECT type, data FROM events WHERE type IN ('ticket.parked', 'ticket.requeued')")}
        assert got["ticket.parked"]["number"] == second and got["ticket.requeued"]["number"] == first
        by_number = [json.loads(d) for (d,) in central.query("SELECT data FROM events WHERE type = 'ticket.called'")]
        assert [d.get("by_number") for d in by_number if d["number"] == second] == [True, True]
        assert [json.loads(d).get("outcome") for (d,) in central.query(
            "SELECT data FROM events WHERE type = 'ticket.finished'")].count(outcome) == 1

        # Retained status and availability, as the publisher (technician tools) sees them.
        watch = central.link("publisher", subscriptions=[(topics.status(SITE, "kiosk-1"), 1),
                                                         (topics.availability(SITE, "kiosk-1"), 1)])
        try:
            def kiosk_status():
                m = wait_item(watch, lambda i: isinstance(i, Message) and i.topic.endswith("/status"))
                return json.loads(m.payload)
            status = kiosk_status()
            while status["acked_seq"] != 1800:  # an older retained copy may come first
                status = kiosk_status()
            assert status["last_seq"] == status["acked_seq"] == 1800 and status["backlog"] == 0
            assert status["role"] == "kiosk" and status["version"]
            assert status["printer"]["paper"] == "low"
            assert status["sync"]["puback_failures"] == 0 and status["sync"]["pubacks_ok"] >= 9
            assert status["oldest_unsynced_age_s"] is None and status["last_sync_ms"] > 0
            assert status["disk_free_bytes"] > 0

            # The ingest keeps the device status in the central database too (for the report).
            wait_until(lambda: central.query("SELECT availability FROM device_status WHERE device='kiosk-1'")
                       == [("online",)], 10, what="availability in the central db")

            # A stopped agent says so: retained "offline".
            agents["kiosk-1"].terminate()
            assert agents["kiosk-1"].wait(10) == 0
            wait_item(watch, lambda i: isinstance(i, Message) and i.topic.endswith("/availability")
                      and i.payload == b"offline")
        finally:
            watch.stop()
    finally:
        for cl in clients:
            cl.close()
        service.stop()

    # The report names both devices with their counts.
    out = subprocess.run([sys.executable, "-m", "cli", "central", "report", "--db", central.db, "--json"],
                         cwd=REPO, capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    rep = json.loads(out.stdout)
    by_dev = {d["device"]: d for d in rep["devices"]}
    assert by_dev["kiosk-1"]["events"] == 1800 and by_dev["kiosk-1"]["acked_seq"] == 1800
    assert by_dev["kiosk-1"]["types"] == {"feedback.given": 1800}
    assert by_dev["hub-1"]["types"]["ticket.issued"] == 33 and by_dev["hub-1"]["types"]["ticket.finished"] == 32
    assert by_dev["hub-1"]["types"]["ticket.parked"] == 1 and by_dev["hub-1"]["types"]["ticket.requeued"] == 1
    assert rep["dead_letters"]["rows"] == 0
    text = subprocess.run([sys.executable, "-m", "cli", "central", "report", "--db", central.db],
                          cwd=REPO, capture_output=True, text=True, timeout=30)
    assert text.returncode == 0 and "test-site/kiosk-1" in text.stdout and "dead letters: 0" in text.stdout


def test_days_of_events_in_one_go_and_the_ack_is_the_only_sync_signal(central, tmp_path):
    """A device that was offline comes back with a backlog (and an old one: age in the status)."""
    kiosk = write_device(tmp_path, central, "kiosk-1")
    from core.store import EventStore
    from tests.support.syncproc import device_store_path

    two_days_ago = int((_dt.datetime.now(_dt.UTC) - _dt.timedelta(days=2)).timestamp() * 1000)
    with EventStore(device_store_path(kiosk), "test-site", "kiosk-1") as s:
        s.append_many([("feedback.given", {"rating": 1, "scale": 5})] * 50, ts=two_days_ago)
    fill_store(kiosk, "test-site", "kiosk-1", 2000)
    central.start_agent(kiosk)
    # no ingest yet: the status reports the backlog and its age
    status_file = kiosk.parent / "data" / "sync-status.json"
    st = wait_until(lambda: status_file.exists() and json.loads(status_file.read_text()), 10)
    assert st["backlog"] == 2050 and st["oldest_unsynced_age_s"] > 86_400 * 1.9
    central.start_ingest()
    wait_synced(central, {"kiosk-1": kiosk})
    assert_synced(central, {"kiosk-1": kiosk})


def test_a_device_in_the_ingests_shared_group_takes_no_batch_from_a_sync_agent(central, tmp_path):
    """Issue 11: another device subscribes to `$share/ingest/pp/+/dev/+/events` (and to every
    events topic). With a guessable group it would take every other batch and drop it; the
    agent would then wait a whole ack timeout (60 s here) before sending again. The real agent's
    backlog must be stored from the first sends, and the other device must receive none of it."""
    from bus.link import Connected
    from tests.support.syncproc import connect_result, publish_wait, wait_ingest_subscribed

    kiosk = write_device(tmp_path, central, "kiosk-1", sync={"ack_timeout_s": 60, "ack_timeout_max_s": 60})
    fill_store(kiosk, SITE, "kiosk-1", 1200)
    central.start_ingest()
    probe = central.link(topics.central_username(SITE, "kiosk-1"))
    assert isinstance(connect_result(probe), Connected)
    wait_ingest_subscribed(probe, SITE, "kiosk-1")  # the ingest's group is there first
    probe.stop()
    thief = central.link(topics.central_username(SITE, "hub-1"), subscriptions=[
        ("$share/ingest/pp/+/dev/+/events", 1), (topics.events_all(), 1)])
    try:
        assert isinstance(connect_result(thief), Connected)
        assert not publish_wait(thief, topics.status(SITE, "hub-1"), b"{}").failure  # its SUBSCRIBEs are in force
        central.start_agent(kiosk)
        wait_synced(central, {"kiosk-1": kiosk}, timeout=30)
        assert_synced(central, {"kiosk-1": kiosk})
        assert not [i for i in list(thief.inbox.queue) if isinstance(i, Message)]
    finally:
        thief.stop()
