"""Following one's turn on a phone, the hub's side, over a real Mosquitto: the retained follow
snapshot (core/follow.py) from the start, as tickets are taken and called and at a day change; a
customer's cancel on pp/<site>/follow/cancel cancelling exactly one waiting ticket, durably and
with the customer's reason; repeats, unknown keys, tickets no longer waiting, malformed and
retained cancels changing nothing; and the site broker's ACL keeping both topics the hub's."""
from __future__ import annotations

import json
import logging

import pytest
from paho.mqtt.client import topic_matches_sub

from bus import topics
from bus.link import Connected, LinkOptions, Message, MqttLink
from core.events import now_ms
from core.follow import CUSTOMER_CANCEL_REASON, cancel_bytes, check_snapshot, follow_key
from hub.service import HubService
from tests.support.hubproc import write_device_config
from tests.support.syncproc import publish_until_delivered, publish_wait
from tests.support.wait import next_item, wait_until
from tests.test_hub_service import stored_events, wait_answering

SITE = "example-pp"
pytestmark = pytest.mark.broker
NOT_AUTHORIZED = 0x87
DAY_MS = 86_400_000


@pytest.fixture
def make_hub(tmp_path, broker):
    made = []

    def make(**kw) -> HubService:
        from core.config import load_device

        cfg = write_device_config(tmp_path / f"hub{len(made)}", broker.port)
        svc = HubService(load_device(cfg), link_kw={"min_backoff_s": 0.05, "max_backoff_s": 0.5}, **kw)
        made.append(svc)
        svc.start_in_thread()
        assert svc.wait_connected(10)
        return svc

    yield make
    for s in made:
        s.stop()


def link(port: int, client_id: str, subs=(), **kw) -> MqttLink:
    lk = MqttLink(LinkOptions("127.0.0.1", port, client_id, subscriptions=list(subs), min_backoff_s=0.05,
                              max_backoff_s=0.5, **kw)).start()
    next_item(lk.inbox, pred=lambda x: isinstance(x, Connected), what=f"{client_id} connected")
    return lk


@pytest.fixture
def follower(broker):
    """Reads the follow snapshots (as the site broker's bridge would) and publishes cancels (as the
    bridge brings them from the centre)."""
    lk = link(broker.port, "follow-test", [(topics.follow(SITE), 1)])
    yield lk
    lk.stop()


def next_snapshot(lk: MqttLink, pred=lambda doc: True, what="a follow snapshot") -> dict:
    msg = next_item(lk.inbox, lambda m: isinstance(m, Message) and m.topic == topics.follow(SITE)
                    and pred(check_snapshot(m.payload, SITE)), what=what)
    return check_snapshot(msg.payload, SITE)


def has(key, **fields):
    return lambda doc: key in doc["tickets"] and all(doc["tickets"][key].get(k) == v for k, v in fields.items())


def cancel(key: str, req: str = "req-00000001") -> bytes:
    return cancel_bytes(key, req, now_ms())


def cancelled_events(hub) -> list[dict]:
    return [d for _, t, d in stored_events(hub.device.store) if t == "ticket.cancelled"]


def test_the_snapshot_follows_the_queue_and_a_customer_cancels_once(make_hub, clients, follower, caplog):
    caplog.set_level(logging.INFO, logger="hub.service")
    hub = make_hub()
    first = next_snapshot(follower, what="the retained snapshot published at the start")
    assert first["tickets"] == {} and first["day"] == hub.call(lambda h: h._today())
    kiosk, counter = clients("kiosk-1"), clients("counter-1")
    wait_answering(counter)
    assert counter.request({"cmd": "open", "counter": "1"})["ok"]

    a = kiosk.request({"cmd": "take", "service": "kela", "lang": "sv"})
    b = kiosk.request({"cmd": "take", "service": "kela"})
    ka, kb = follow_key(a["token"]), follow_key(b["token"])
    doc = next_snapshot(follower, lambda d: ka in d["tickets"] and kb in d["tickets"])
    assert doc["tickets"][ka] == {"n": "K001", "s": "kela", "st": "waiting", "a": 0,
                                  "e": doc["tickets"][ka]["e"], "l": "sv"}
    assert doc["tickets"][kb]["a"] == 1 and doc["tickets"][kb]["st"] == "waiting"
    # The estimate is the displays' own (nobody is being served: it does not move with the clock).
    st = counter.request({"cmd": "state"})
    assert doc["tickets"][ka]["e"] == st["eta"]["K001"] and doc["tickets"][kb]["e"] == st["eta"]["K002"]
    assert isinstance(doc["tickets"][kb]["e"], list) and len(doc["tickets"][kb]["e"]) == 2

    called = counter.request({"cmd": "call", "counter": "1"})
    assert called["number"] == "K001"
    doc = next_snapshot(follower, has(ka, st="called"), what="K001 called")
    assert doc["tickets"][ka] == {"n": "K001", "s": "kela", "st": "called", "c": "1",
                                  "ct": doc["tickets"][ka]["ct"], "l": "sv"}
    assert doc["tickets"][kb]["a"] == 0

    c = kiosk.request({"cmd": "take", "service": "kela"})
    kc = follow_key(c["token"])
    next_snapshot(follower, has(kc, st="waiting", a=1))

    # "I'm not coming" for K002 from its page: once the hub listens, exactly one copy arrives.
    publish_until_delivered(follower, topics.follow_cancel(SITE), cancel(kb))
    doc = next_snapshot(follower, has(kb, st="cancelled"), what="K002 cancelled")
    assert doc["tickets"][kb] == {"n": "K002", "s": "kela", "st": "cancelled", "x": True, "l": "fi"}
    assert doc["tickets"][kc]["a"] == 0  # one fewer ahead of K003
    assert cancelled_events(hub) == [{"ticket": b["ticket"], "reason": CUSTOMER_CANCEL_REASON, "service": "kela"}]
    # The display and the counters stop counting it, as for any cancel.
    st = wait_until(lambda: (s := counter.request({"cmd": "state"}))["services"]["kela"]["waiting"] == 1 and s,
                    what="the state without K002")
    assert "K002" not in st["eta"] and "K003" in st["eta"]

    # A repeat, a key nobody has, a ticket no longer waiting, malformed ones: nothing happens. The
    # cancel for K003 after them, on the same topic from the same client, comes to the hub after
    # them: once it is done, they were handled.
    secrets_ = [b"SECRET-ONE is not json", json.dumps({"v": 1, "key": "SECRET-TWO", "req": "r" * 8, "ts": 1}).encode(),
                json.dumps({"v": 1, "key": kb, "req": "SECRET THREE", "ts": 1}).encode(), b"\xffSECRET-FOUR"]
    for payload in [cancel(kb, "req-00000002"), cancel(kb, "req-00000002"), cancel("0123456789abcdef" * 2),
                    cancel(ka), *secrets_]:
        assert not publish_wait(follower, topics.follow_cancel(SITE), payload).failure
    publish_wait(follower, topics.follow_cancel(SITE), cancel(kc, "req-00000003"))
    doc = next_snapshot(follower, has(kc, st="cancelled", x=True), what="K003 cancelled")
    assert doc["tickets"][ka]["st"] == "called" and doc["tickets"][kb]["st"] == "cancelled"
    assert [e["ticket"] for e in cancelled_events(hub)] == [b["ticket"], c["ticket"]]
    assert {e["reason"] for e in cancelled_events(hub)} == {CUSTOMER_CANCEL_REASON}
    assert hub.follow_cancels == 2
    malformed = [r.getMessage() for r in caplog.records if "malformed follow cancel" in r.getMessage()]
    assert len(malformed) == len(secrets_), malformed
    assert not any("SECRET" in r.getMessage() for r in caplog.records)


def test_a_new_day_starts_with_an_empty_snapshot(make_hub, clients, follower):
    clock = [now_ms()]
    hub = make_hub(clock=lambda: clock[0])
    kiosk = clients("kiosk-1")
    wait_answering(kiosk)
    t = kiosk.request({"cmd": "take", "service": "kela"})
    today = next_snapshot(follower, has(follow_key(t["token"]), st="waiting"))
    clock[0] += DAY_MS
    tomorrow = next_snapshot(follower, lambda d: d["day"] != today["day"], what="the next day's snapshot")
    assert tomorrow["tickets"] == {} and tomorrow["day"] == hub.call(lambda h: h._today())


def test_a_retained_cancel_is_not_acted_on(broker, make_hub, caplog):
    caplog.set_level(logging.INFO, logger="hub.service")
    lk = link(broker.port, "retained-cancel")
    try:
        publish_wait(lk, topics.follow_cancel(SITE), cancel("ab" * 16), retain=True)
        make_hub()
        wait_until(lambda: any("retained follow cancel" in r.getMessage() for r in caplog.records), 10,
                   what="the hub's word about the retained cancel")
    finally:
        lk.stop()


def test_the_site_acl_keeps_follow_and_cancel_the_hubs(tmp_path, example_site):
    """On the project's own site broker: the hub publishes the snapshot and reads the cancels; a
    kiosk subscribing to the snapshot gets nothing (Mosquitto grants the SUBSCRIBE and applies the
    ACL when it delivers), and its cancel is refused by the broker, so the hub never sees it."""
    from core.config import load_device
    from tests.support.broker import site_broker

    passwords = {d: f"pw-{d}" for d in example_site.devices}
    (tmp_path / "hub-pw").write_text(passwords["hub-1"])
    br = site_broker(tmp_path / "b", SITE, example_site.devices, passwords)
    links: list[MqttLink] = []
    hub = None
    try:
        cfg = write_device_config(tmp_path / "hub", br.hub_port, username="hub-1", password_file=tmp_path / "hub-pw")
        hub = HubService(load_device(cfg), heartbeat_s=0.2, link_kw={"min_backoff_s": 0.05}).start_in_thread()
        assert hub.wait_connected(10)
        # What only the hub's user may read, read on the hub's own listener (as the bridge would).
        reader = link(br.hub_port, "hub-1/reader", [(topics.follow(SITE), 1)], username="hub-1",
                      password=passwords["hub-1"])
        kiosk = link(br.port, "kiosk-1", [(topics.follow(SITE), 1), (topics.state(SITE), 1)], username="kiosk-1",
                     password=passwords["kiosk-1"])
        links += [reader, kiosk]
        ticket = hub.call(lambda h: h.handle_command(json.dumps({"cmd": "take", "service": "kela"}), "kiosk-1"))
        key = follow_key(ticket["token"])
        snap = next_snapshot(reader, has(key, st="waiting"))
        # A state built after that snapshot comes to the kiosk after the snapshot would have: the
        # broker hands one publisher's messages on in order. Nothing before it was a snapshot.
        seen: list = []
        next_item(kiosk.inbox, lambda m: seen.append(m) or (isinstance(m, Message) and m.topic == topics.state(SITE)
                                                           and json.loads(m.payload)["ts"] > snap["ts"]),
                  what="a later state at the kiosk")
        assert not any(isinstance(m, Message) and m.topic == topics.follow(SITE) for m in seen)
        assert publish_wait(kiosk, topics.follow_cancel(SITE), cancel(key)).code == NOT_AUTHORIZED
        assert publish_wait(kiosk, topics.follow(SITE), b"{}").code == NOT_AUTHORIZED
        assert hub.call(lambda h: h.authority.state.tickets[ticket["ticket"]].state) == "waiting"
        assert cancelled_events(hub) == []
    finally:
        for lk in links:
            lk.stop()
        if hub is not None:
            hub.stop()
        br.stop()


def test_the_acl_grants_follow_to_the_hub_alone(example_site):
    from bus.brokerconf import render_site_acl

    acl = render_site_acl(SITE, example_site.devices)
    grants: dict[str, list[str]] = {}
    user = None
    for line in acl.splitlines():
        if line.startswith("user "):
            user = line.split()[1]
        elif line.startswith("topic "):
            assert user is not None, line  # nothing granted before the first user
            grants.setdefault(user, []).append(line)
    hub = grants.pop("hub-1")
    assert f"topic readwrite pp/{SITE}/follow" in hub and f"topic read pp/{SITE}/follow/cancel" in hub
    assert set(grants) == set(example_site.devices) - {"hub-1"}
    for dev, lines in grants.items():
        for line in lines:  # no pattern of theirs, wildcards included, reaches either topic
            pattern = line.split()[-1]
            for t in (topics.follow(SITE), topics.follow_cancel(SITE)):
                assert not topic_matches_sub(pattern, t), (dev, line)
