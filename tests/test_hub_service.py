"""The hub service over a real Mosquitto: answers with correlation data, events durable before the
answer, retained state, call messages, bad input, a full store, appointments reloaded, a hub
killed with SIGKILL between two commands, and the `palvelupiste queue --broker` CLI."""
from __future__ import annotations

import json
import logging
import os
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from bus import topics
from bus.hubclient import HubClient, request_once
from bus.link import Connected, LinkOptions, Message, MqttLink
from core.commands import MAX_COMMAND_BYTES
from core.store import connect
from hub.service import HubService
from tests.support.hubproc import REPO, HubProcess, write_device_config
from tests.support.wait import next_item, wait_until

SITE = "example-pp"
pytestmark = pytest.mark.broker


def wait_answering(client: HubClient, timeout=10.0) -> dict:
    """The hub subscribes asynchronously: poll with short requests until it answers."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r = client.request({"cmd": "state"}, timeout=0.5)
        if r.get("ok"):
            return r
    raise AssertionError("the hub does not answer")


@pytest.fixture
def make_hub(tmp_path, broker):
    made = []

    def make(heartbeat_s=10.0, start=True, **kw) -> HubService:
        from core.config import load_device

        cfg = write_device_config(tmp_path / f"hub{len(made)}", broker.port, heartbeat_s=heartbeat_s)
        svc = HubService(load_device(cfg), link_kw={"min_backoff_s": 0.05, "max_backoff_s": 0.5}, **kw)
        made.append(svc)
        if start:
            svc.start_in_thread()
            assert svc.wait_connected(10)
        return svc

    yield make
    for s in made:
        s.stop()


@pytest.fixture
def raw(broker):
    """A bare MqttLink listening to every reply, state and calls topic of the site."""
    link = MqttLink(LinkOptions("127.0.0.1", broker.port, "raw-test", min_backoff_s=0.05,
                                subscriptions=[(f"pp/{SITE}/dev/+/reply", 1),
                                               (topics.calls(SITE), 1)])).start()
    next_item(link.inbox, pred=lambda x: isinstance(x, Connected))
    yield link
    link.stop()


def stored_events(path) -> list[tuple[int, str, dict]]:
    conn = connect(path, readonly=True)
    try:
        return [(s, t, json.loads(d)) for s, t, d in conn.execute("SELECT seq, type, data FROM events ORDER BY seq")]
    finally:
        conn.close()


def test_answers_carry_correlation_data_and_events_are_durable_first(make_hub, clients, raw):
    hub = make_hub()
    counter = clients("counter-1")
    wait_answering(counter)
    reply_topic = topics.reply(SITE, "kiosk-1")
    raw.publish(topics.command(SITE, "kiosk-1"), json.dumps({"cmd": "take", "service": "kela"}), qos=1,
                response_topic=reply_topic, correlation_data=b"corr-\x00\xff-1")
    msg = next_item(raw.inbox, pred=lambda m: isinstance(m, Message) and m.topic == reply_topic)
    assert msg.correlation_data == b"corr-\x00\xff-1"
    answer = json.loads(msg.payload)
    assert answer["ok"] and answer["number"] == "K001" and answer["kind"] == "walk_in"
    # The answer exists, so the event is already on disk: read the file from here.
    events = stored_events(hub.device.store)
    assert (answer["seq"], "ticket.issued") == events[-1][:2]
    assert events[-1][2]["ticket"] == answer["ticket"]

    # Several requests in flight at once from one client, from several threads.
    results = []
    threads = [threading.Thread(target=lambda: results.append(counter.request({"cmd": "take", "service": "kela"})))
               for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert all(r["ok"] for r in results), results
    assert sorted(r["number"] for r in results) == [f"K{n:03d}" for n in range(2, 10)]
    assert len({r["seq"] for r in results}) == 8
    stored = {e[2]["number"] for e in stored_events(hub.device.store) if e[1] == "ticket.issued"}
    assert stored == {f"K{n:03d}" for n in range(1, 10)}

    # No response topic: the answer goes to the device's own reply topic.
    raw.publish(topics.command(SITE, "kiosk-1"), json.dumps({"cmd": "take", "service": "vero"}), qos=1,
                correlation_data=b"no-rt")
    msg = next_item(raw.inbox, pred=lambda m: isinstance(m, Message) and m.correlation_data == b"no-rt")
    assert msg.topic == reply_topic and json.loads(msg.payload)["number"] == "V001"


def test_state_is_retained_and_calls_are_announced(make_hub, clients):
    make_hub()
    counter = clients("counter-1")
    wait_answering(counter)
    calls: queue.Queue = queue.Queue()
    display = clients("display-1")
    display.on_call(calls.put)
    states: queue.Queue = queue.Queue()
    display.on_state(states.put)
    first = next_item(states)  # the retained state, published when the hub connected
    assert first["site"] == SITE and first["hub"] == "hub-1" and first["seq"] == 0
    assert set(first["services"]) >= {"kela", "neuvonta"} and first["counters"]["1"]["open"] is False
    wait_answering(display)  # the display's subscriptions are in place

    assert counter.request({"cmd": "open", "counter": "1"})["ok"]
    a = counter.request({"cmd": "take", "service": "kela"})
    b = counter.request({"cmd": "take", "service": "digituki"})
    assert (a["number"], b["number"]) == ("K001", "G001")
    called = counter.request({"cmd": "call", "counter": "1"})
    assert called["ok"] and called["number"] == "K001"
    c = next_item(calls)
    assert c == {"v": 1, "site": SITE, "ticket": a["ticket"], "number": "K001", "counter": "1",
                 "service": "kela", "kind": "walk_in", "recall": False, "lang": "fi",
                 "ts": c["ts"], "seq": called["seq"]}
    recalled = counter.request({"cmd": "recall", "counter": "1"})
    c = next_item(calls)
    assert (c["number"], c["recall"], c["seq"], c["counter"]) == ("K001", True, recalled["seq"], "1")
    assert calls.empty()

    # The live subscriber sees the state follow; a late subscriber gets the retained copy at once.
    live_state = next_item(states, pred=lambda s: s["seq"] == recalled["seq"])
    assert live_state["counters"]["1"]["current"]["number"] == "K001"
    late: queue.Queue = queue.Queue()
    clients("feedback-1").on_state(late.put)
    st = next_item(late)
    assert st["seq"] == recalled["seq"] and st["rev"] >= live_state["rev"]
    assert st["counters"]["1"]["current"]["number"] == "K001"
    assert st["services"]["digituki"]["waiting"] == 1 and st["services"]["kela"]["waiting"] == 0
    assert [x["number"] for x in st["calls"]] == ["K001", "K001"]
    # The state command answers the same snapshot.
    s2 = display.request({"cmd": "state"})
    assert s2["ok"] and s2["seq"] == st["seq"] and s2["counters"] == st["counters"]
    # Displays see the state as fresh.
    assert not display.is_stale()


def test_heartbeat_republishes_with_fresh_ts(make_hub, clients):
    make_hub(heartbeat_s=0.2)
    states: queue.Queue = queue.Queue()
    clients("display-1").on_state(states.put)
    got = [next_item(states) for _ in range(4)]
    assert [s["seq"] for s in got] == [0, 0, 0, 0]
    assert all(a["rev"] < b["rev"] for a, b in zip(got, got[1:]))
    assert all(a["ts"] <= b["ts"] for a, b in zip(got, got[1:])) and got[-1]["ts"] > got[0]["ts"]
    assert got[0]["heartbeat_s"] == 0.2


def test_bad_input_is_answered_and_the_hub_goes_on(make_hub, clients, raw):
    hub = make_hub()
    counter, display, kiosk = clients("counter-1"), clients("display-1"), clients("kiosk-1")
    wait_answering(counter)
    cases = [
        (kiosk, b"{not json", "malformed"),
        (kiosk, b"\xff\xfe\x00", "malformed"),
        (kiosk, b"", "malformed"),
        (kiosk, b"[1, 2]", "malformed"),
        (kiosk, {"cmd": 7}, "malformed"),
        (kiosk, {"cmd": "take", "service": 5}, "malformed"),
        (kiosk, {"cmd": "take", "service": "kela", "needs": {"hearing_loop": "yes"}}, "malformed"),
        (kiosk, {"cmd": "take", "service": "kela", "pad": "x" * MAX_COMMAND_BYTES}, "too_large"),
        (kiosk, b"[" * 100_000, "too_large"),
        (kiosk, {"cmd": "launch_rockets"}, "unknown_command"),
        (kiosk, {"cmd": "take", "service": "sauna"}, "unknown_service"),
        (display, {"cmd": "take", "service": "kela"}, "not_allowed"),
        (kiosk, {"cmd": "call", "counter": "1"}, "not_allowed"),
        (counter, {"cmd": "call", "counter": "1"}, "counter_closed"),
        (counter, {"cmd": "call", "counter": "99"}, "unknown_counter"),
        (clients("stranger-9"), {"cmd": "state"}, "not_allowed"),
    ]
    for client, payload, code in cases:
        r = client.request(payload)
        assert r["ok"] is False and r["error"] == code, (payload if len(str(payload)) < 200 else "big", r)
        assert isinstance(r["message"], str) and r["message"]
    assert counter.request({"cmd": "open", "counter": "1"})["ok"]
    assert counter.request({"cmd": "call", "counter": "1"})["error"] == "nothing_waiting"
    assert display.request({"cmd": "state"})["ok"]  # read-only, every role
    assert kiosk.request({"cmd": "take", "service": "kela"})["number"] == "K001"
    assert hub.running and hub.errors >= len(cases) + 1

    # A response topic outside the sender's own reply topic is not honoured: the answer goes to
    # the sender's reply topic, never onto the calls topic where displays would act on it.
    raw.publish(topics.command(SITE, "kiosk-1"), b'{"cmd":"take","service":"kela"}', qos=1,
                response_topic=topics.calls(SITE), correlation_data=b"evil")
    m = next_item(raw.inbox, pred=lambda m: isinstance(m, Message) and m.correlation_data == b"evil")
    assert m.topic == topics.reply(SITE, "kiosk-1") and json.loads(m.payload)["number"] == "K002"

    # A QoS 1 duplicate (same correlation data) is answered again, not run again.
    for _ in range(2):
        raw.publish(topics.command(SITE, "kiosk-1"), b'{"cmd":"take","service":"vero"}', qos=1,
                    correlation_data=b"dup-1")
    a1 = next_item(raw.inbox, pred=lambda m: isinstance(m, Message) and m.correlation_data == b"dup-1")
    a2 = next_item(raw.inbox, pred=lambda m: isinstance(m, Message) and m.correlation_data == b"dup-1")
    assert a1.payload == a2.payload and json.loads(a1.payload)["number"] == "V001"
    assert kiosk.request({"cmd": "take", "service": "vero"})["number"] == "V002"


def test_retained_command_is_refused_not_run(make_hub, broker, raw):
    # Left retained on a command topic, it would run again at every hub start.
    raw.publish(topics.command(SITE, "kiosk-1"), b'{"cmd":"take","service":"kela"}', qos=1, retain=True,
                correlation_data=b"stale")
    make_hub()
    m = next_item(raw.inbox, pred=lambda m: isinstance(m, Message) and m.correlation_data == b"stale")
    assert json.loads(m.payload)["error"] == "retained"


def test_full_store_gives_store_failed_and_the_hub_recovers(make_hub, clients):
    hub = make_hub()
    kiosk = clients("kiosk-1")
    wait_answering(kiosk)
    assert kiosk.request({"cmd": "take", "service": "kela"})["ok"]
    # A real SQLITE_FULL: cap the database at its current size (on the thread owning the store).
    hub.call(lambda s: s.store.conn.execute(
        f"PRAGMA max_page_count={s.store.conn.execute('PRAGMA page_count').fetchone()[0]}"))
    answers = []
    for _ in range(300):
        r = kiosk.request({"cmd": "take", "service": "kela"})
        answers.append(r)
        if not r["ok"]:
            break
    assert answers[-1]["error"] == "store_failed", answers[-1]
    assert "full" in answers[-1]["message"]
    st = kiosk.request({"cmd": "state"})
    assert st["ok"] and st["services"]["kela"]["waiting"] == len(answers)  # the failed one is not in
    hub.call(lambda s: s.store.conn.execute("PRAGMA max_page_count=1073741823"))
    r = kiosk.request({"cmd": "take", "service": "kela"})
    assert r["ok"] and r["number"] == f"K{len(answers) + 1:03d}"  # no number lost or repeated


def test_appointments_are_reloaded_when_the_file_changes(make_hub, clients):
    hub = make_hub(appointments_poll_s=0.05)
    kiosk = clients("kiosk-1")
    wait_answering(kiosk)
    assert kiosk.request({"cmd": "checkin", "code": "ABC-123"})["error"] == "unknown_code"
    at = int(time.time() * 1000) + 5 * 60_000
    path = Path(hub.device.data_dir) / "appointments.json"

    def write(doc):  # as the sync agent does: a temp file renamed over the old one
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(doc))
        os.replace(tmp, path)

    write([{"code": "ABC-123", "service": "poliisi", "at_ms": at}])
    wait_until(lambda: hub.appointments, what="the appointments to load")
    r = kiosk.request({"cmd": "checkin", "code": "ABC-123"})
    assert r["ok"] and r["kind"] == "appointment" and r["number"] == "P001", r
    write({"broken": True})  # refused whole; the last good list stays
    st = path.stat()
    wait_until(lambda: hub.call(lambda s: s._appt_sig) == (st.st_ino, st.st_mtime_ns, st.st_size),
               what="the hub to read the broken file")
    assert [a.code for a in hub.appointments] == ["ABC-123"]
    assert kiosk.request({"cmd": "checkin", "code": "ABC-123"})["error"] == "already_checked_in"
    write([{"code": "XYZ-999", "service": "vero", "at_ms": at}])
    wait_until(lambda: hub.appointments and hub.appointments[0].code == "XYZ-999", what="the new list")
    assert kiosk.request({"cmd": "checkin", "code": "XYZ-999"})["number"] == "V001"


def test_client_times_out_instead_of_hanging(broker, tmp_path):
    t0 = time.monotonic()
    r = request_once(broker.url, SITE, "counter-1", {"cmd": "state"}, timeout=0.7)  # no hub running
    assert r["ok"] is False and r["error"] == "timeout" and r["connected"] is True
    assert time.monotonic() - t0 < 3
    from tests.support.broker import free_port

    r = request_once(f"mqtt://127.0.0.1:{free_port()}", SITE, "counter-1", {"cmd": "state"}, timeout=0.5)
    assert r["error"] == "timeout" and r["connected"] is False
    assert request_once("http://nope", SITE, "counter-1", {"cmd": "state"})["error"] == "bad_broker_url"


def test_hub_killed_between_commands_continues_numbering(broker, tmp_path, clients):
    hub = HubProcess(tmp_path / "hubp", broker.port).start()
    try:
        counter = clients("counter-1")
        assert counter.request({"cmd": "open", "counter": "2"})["ok"]
        assert [counter.request({"cmd": "take", "service": "kela"})["number"] for _ in range(2)] == ["K001", "K002"]
        assert counter.request({"cmd": "call", "counter": "2"})["number"] == "K001"
        before = counter.request({"cmd": "state"})
        hub.kill()
        assert not hub.alive()
        hub.start()
        after = counter.request({"cmd": "state"})
        for key in ("counters", "calls", "help", "seq"):
            assert after[key] == before[key], key
        # The queues are the same; the estimates moved on with the clock (the customer at the
        # counter has been there the restart's seconds longer), by no more than the restart took.
        assert after["services"].keys() == before["services"].keys()
        for sid, b in before["services"].items():
            a = after["services"][sid]
            assert (a["waiting"], a["open_counters"]) == (b["waiting"], b["open_counters"]), sid
            if b["est_wait_s"] is not None:
                assert abs(a["est_wait_s"] - b["est_wait_s"]) <= 60, (sid, a, b)
        assert counter.request({"cmd": "take", "service": "kela"})["number"] == "K003"
        # SIGTERM: a clean stop that says "offline" itself.
        avail: queue.Queue = queue.Queue()
        watcher = HubClient(broker.url, SITE, "display-1")
        watcher.on_other(avail.put)
        watcher.link.subscribe(topics.availability(SITE, "hub-1"), 1)
        with watcher:
            next_item(avail, pred=lambda m: isinstance(m, Message) and m.payload == b"online")
            assert hub.terminate() == 0
            next_item(avail, pred=lambda m: isinstance(m, Message) and m.payload == b"offline")
    finally:
        hub.kill()


def test_queue_cli_against_a_running_hub(make_hub, broker, clients):
    make_hub()
    # The CLI speaks as counter-1 itself: a second session of the same device would take turns
    # throwing the other out (one session per identity) and lose an answer. Closed before it runs.
    probe = clients("counter-1")
    wait_answering(probe)
    probe.close()
    env = dict(os.environ, PYTHONPATH=str(REPO))

    def cli(device, *args):
        return subprocess.run([sys.executable, "-m", "cli", "queue", "--broker", broker.url, "--device", device,
                               *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=30)

    assert cli("counter-1", "open", "1").returncode == 0
    r = cli("kiosk-1", "take", "kela")
    assert r.returncode == 0 and r.stdout.startswith("K001"), r
    r = cli("counter-1", "call", "1")
    assert r.returncode == 0 and "K001" in r.stdout and "counter 1" in r.stdout, r
    r = cli("counter-1", "--json", "state")
    st = json.loads(r.stdout)
    assert st["ok"] and st["counters"]["1"]["current"]["number"] == "K001"
    r = cli("display-1", "take", "kela")
    assert r.returncode == 1 and "not_allowed" in r.stdout


def test_over_the_site_broker_config_with_passwords_and_acl(tmp_path, example_site):
    """The hub and the apps on the project's own site-broker config (no anonymous access, the
    ACL from the site's device list, TCP_NODELAY): every topic the hub and the client use is
    one the ACL grants; a device posing as another is refused by the broker, not by a timeout."""

    from core.config import load_device
    from tests.support.broker import site_broker

    passwords = {d: f"pw-{d}" for d in example_site.devices}
    (tmp_path / "hub-pw").write_text(passwords["hub-1"])
    (tmp_path / "counter-pw").write_text(passwords["counter-1"])
    br = site_broker(tmp_path / "b", SITE, example_site.devices, passwords)
    try:
        # The hub on its own listener, as provisioned: its main and its staff link.
        cfg = write_device_config(tmp_path / "hub", br.hub_port, username="hub-1", password_file=tmp_path / "hub-pw")
        hub = HubService(load_device(cfg), link_kw={"min_backoff_s": 0.05}).start_in_thread()
        made = []

        def client(device, user=None):
            c = HubClient(br.url, SITE, device, username=user or device, password=passwords[user or device])
            made.append(c)
            return c.start()

        try:
            assert hub.wait_connected(10)
            counter, display = client("counter-1"), client("display-1")
            calls: queue.Queue = queue.Queue()
            states: queue.Queue = queue.Queue()
            display.on_call(calls.put)
            display.on_state(states.put)
            next_item(states)  # the retained state reached the display
            wait_answering(counter)
            assert counter.request({"cmd": "open", "counter": "3"})["ok"]
            assert counter.request({"cmd": "take", "service": "poliisi"})["number"] == "P001"
            assert counter.request({"cmd": "call", "counter": "3"})["number"] == "P001"
            assert next_item(calls)["number"] == "P001"
            assert display.request({"cmd": "take", "service": "kela"})["error"] == "not_allowed"
            t0 = time.monotonic()
            r = client("counter-2", user="display-1").request({"cmd": "call", "counter": "1"}, timeout=5)
            assert r["ok"] is False and r["error"] == "refused", r
            assert time.monotonic() - t0 < 2
            r = request_once(br.url, SITE, "counter-1", {"cmd": "state"}, password_file=str(tmp_path / "hub-pw"),
                             timeout=1)
            assert r["ok"] is False and r["connected"] is False  # wrong password: never connected
            # A device's password does not open the hub's listener.
            r = request_once(br.hub_url, SITE, "counter-1", {"cmd": "state"},
                             password_file=str(tmp_path / "counter-pw"), timeout=1)
            assert r["ok"] is False and r["connected"] is False
            assert hub.call(lambda h: h._staff_answers())  # the staff link still stands
        finally:
            for c in made:
                c.close()
            hub.stop()
    finally:
        br.stop()


def test_on_the_devices_listener_the_hub_notices_its_links_throw_each_other_out(tmp_path, example_site, caplog):
    """Misconfigured: the hub pointed at the devices' listener, where the broker takes the user
    name as the client id, so its staff link and its main link would take each other's session in
    turn for ever. The hub says what is wrong and goes on with the main link alone."""
    from core.config import load_device
    from tests.support.broker import site_broker

    passwords = {d: f"pw-{d}" for d in example_site.devices}
    (tmp_path / "hub-pw").write_text(passwords["hub-1"])
    br = site_broker(tmp_path / "b", SITE, example_site.devices, passwords)
    caplog.set_level(logging.INFO, logger="hub.service")
    try:
        cfg = write_device_config(tmp_path / "hub", br.port, username="hub-1", password_file=tmp_path / "hub-pw")
        hub = HubService(load_device(cfg), link_kw={"min_backoff_s": 0.05}).start_in_thread()
        counter = HubClient(br.url, SITE, "counter-1", password=passwords["counter-1"]).start()
        try:
            wait_until(lambda: any("hub's own listener" in r.getMessage() for r in caplog.records), 10,
                       what="the hub's error about its client ids")
            wait_answering(counter)
            assert counter.request({"cmd": "open", "counter": "3"})["ok"]
            assert hub.link.connected and not hub.call(lambda h: h._staff_answers())
        finally:
            counter.close()
            hub.stop()
    finally:
        br.stop()


def test_a_retry_with_the_same_correlation_gets_the_first_answer_not_a_second_ticket(make_hub, clients):
    """The kiosk's "Try again" after a lost answer re-sends with the same correlation data: the
    hub must not issue a second number for one customer."""
    make_hub()
    c = clients("kiosk-1")
    wait_answering(c)
    first = c.request({"cmd": "take", "service": "kela"}, correlation=b"customer-42")
    again = c.request({"cmd": "take", "service": "kela"}, correlation=b"customer-42")
    other = c.request({"cmd": "take", "service": "kela"})
    assert first["ok"] and first["number"] == "K001" and again == first
    assert other["number"] == "K002"
