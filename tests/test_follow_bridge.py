"""The transport of "follow your turn on your phone" (core/follow.py, issue 15): the site broker's
Mosquitto bridge to the central broker.

Real parts, end to end: a central host provisioned by `provision --role central` (its broker, TLS with
a throw-away CA, the web service's password), a hub provisioned against it with the CA the devices
trust (its site broker's configuration with the bridge, its central-broker.entry with the bridge's
line), that entry added with `central devices add`; both Mosquittos run on what provisioning wrote
(only the paths moved into the roots, the user and the hub's port set for the test). Every wait is on
a condition with a deadline (tests/support/wait.py).
"""
from __future__ import annotations

import getpass
import queue
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from appliance import central_role as C
from appliance import provision as P
from appliance import units as U
from bus import brokerconf, topics
from bus.link import Connected, LinkOptions, Message, MqttLink, PubAck, Tls
from central.credentials import DeviceRegistry, entry_for, parse_entry
from core.config import ConfigError, loads_site, parse_device
from core.follow import cancel_bytes, follow_key, snapshot_bytes
from tests.support.broker import MosquittoBroker, free_port, wait_port
from tests.support.wait import WaitTimeout
from tests.test_central_role import CentralHost, needs_mosquitto
from tests.test_provision import EXAMPLE, in_root, run_cli, snapshot

SITE, OTHER = "example-pp", "other-pp"
HUB = "hub-1"


# --- the rendered configuration ----------------------------------------------------------------------

def _lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip() and not line.startswith("#")]


def test_the_bridge_section_of_the_site_broker():
    b = brokerconf.SiteBridge(SITE, "central.example.fi", 8883, "s3cret-pw", cafile="/etc/palvelupiste/central-ca.pem")
    text = brokerconf.render_site_bridge_conf(b)
    assert _lines(text) == [
        "connection central",
        "address central.example.fi:8883",
        "remote_clientid example-pp.bridge",
        "remote_username example-pp.bridge",
        "remote_password s3cret-pw",
        "local_clientid local.example-pp.bridge",
        "cleansession false",
        "start_type automatic",
        "restart_timeout 1 4",
        "keepalive_interval 30",
        "try_private true",
        "bridge_protocol_version mqttv311",
        "bridge_outgoing_retain true",
        "bridge_attempt_unsubscribe false",
        "notifications true",
        "notifications_local_only false",
        f"notification_topic {topics.bridge_state(SITE)}",
        "topic follow out 1 pp/example-pp/ pp/example-pp/",
        "topic follow/cancel in 1 pp/example-pp/ pp/example-pp/",
        "bridge_cafile /etc/palvelupiste/central-ca.pem",
        "bridge_insecure false",
        "bridge_tls_version tlsv1.2",
    ]
    # the topics the two ends see are exactly the contract's
    assert f"pp/{SITE}/" + "follow" == topics.follow(SITE)
    assert f"pp/{SITE}/" + "follow/cancel" == topics.follow_cancel(SITE)
    # no CA file: the system's CAs, as the sync agent's ssl defaults; plain MQTT: no TLS lines at all
    system = brokerconf.render_site_bridge_conf(brokerconf.SiteBridge(SITE, "central.example.fi", 8883, "pw"))
    assert f"bridge_capath {brokerconf.SYSTEM_CAPATH}\n" in system and "bridge_cafile" not in system
    plain = brokerconf.render_site_bridge_conf(brokerconf.SiteBridge(SITE, "10.0.0.1", 1883, "pw", tls=False))
    assert [line for line in _lines(plain) if line.startswith(("bridge_ca", "bridge_insecure", "bridge_tls"))] == []
    assert "address 10.0.0.1:1883\n" in plain


def test_the_site_broker_has_the_bridge_only_when_given_one():
    kw = dict(data_dir="/d", password_file="/p", hub_password_file="/h", acl_file="/a")
    without = brokerconf.render_site_broker_conf(**kw)
    assert "connection " not in without and "remote_password" not in without
    b = brokerconf.SiteBridge(SITE, "central.example.fi", 8883, "pw")
    with_bridge = brokerconf.render_site_broker_conf(**kw, bridge=b)
    # the bridge comes after both listeners (a bridge section runs to the end of the file)
    assert with_bridge.startswith(without) and with_bridge[len(without):] == brokerconf.render_site_bridge_conf(b)


@pytest.mark.parametrize("bridge, message", [
    (brokerconf.SiteBridge(SITE, "central.example.fi", 8883, "two words"), "blanks"),
    (brokerconf.SiteBridge(SITE, "central.example.fi", 8883, ""), "empty"),
    (brokerconf.SiteBridge(SITE, "central.example.fi", 8883, "#comment"), "start with #"),
    (brokerconf.SiteBridge(SITE, "central example.fi", 8883, "pw"), "host"),
    (brokerconf.SiteBridge(SITE, "central.example.fi", 0, "pw"), "port"),
    (brokerconf.SiteBridge("a/b", "central.example.fi", 8883, "pw"), "site id"),
    (brokerconf.SiteBridge(SITE, "central.example.fi", 8883, "pw", cafile="/my ca.pem"), "spaces"),
])
def test_a_bridge_that_mosquitto_would_misread_is_refused(bridge, message):
    with pytest.raises(brokerconf.BrokerConfError, match=message):
        brokerconf.render_site_bridge_conf(bridge)


def test_the_central_acl_of_bridges_and_the_web_service():
    acl = brokerconf.render_central_acl({SITE: ["kiosk-1"]}, bridges=[SITE, OTHER])
    blocks = {b.split("\n", 1)[0]: _lines(b)[1:] for b in acl.split("\nuser ")[1:]}
    assert blocks["web"] == ["topic read pp/+/follow", "topic read pp/+/bridge", "topic write pp/+/follow/cancel"]
    assert blocks[f"{SITE}.bridge"] == [f"topic write {topics.follow(SITE)}", f"topic write {topics.bridge_state(SITE)}",
                                        f"topic read {topics.follow_cancel(SITE)}"]
    assert blocks[f"{OTHER}.bridge"] == [f"topic write {topics.follow(OTHER)}",
                                         f"topic write {topics.bridge_state(OTHER)}",
                                         f"topic read {topics.follow_cancel(OTHER)}"]
    # nobody else gets a follow topic: not the devices, not the ingest, not the publisher
    for user, rules in blocks.items():
        if user != "web" and not user.endswith(".bridge"):
            assert not [r for r in rules if "follow" in r or r.endswith("/bridge")], user
    # "bridge" is no device: it comes as a bridge or not at all
    with pytest.raises(brokerconf.BrokerConfError, match="bridge"):
        brokerconf.render_central_acl({SITE: ["bridge"]})
    with pytest.raises(brokerconf.BrokerConfError, match="a user each"):
        brokerconf.render_central_acl({}, web_user="publisher")
    with pytest.raises(brokerconf.BrokerConfError, match="taken"):
        brokerconf.render_central_acl({}, bridges=[SITE], web_user=f"{SITE}.bridge")


def test_a_bridge_entry_gets_the_bridge_block_in_the_device_registry(tmp_path):
    bridge = entry_for(SITE, "bridge", "pw-of-the-bridge")
    kiosk = entry_for(SITE, "kiosk-1", "pw-of-the-kiosk")
    assert parse_entry(bridge.line).is_bridge and not parse_entry(kiosk.line).is_bridge
    reg = DeviceRegistry(tmp_path / "passwd", tmp_path / "acl")
    out = reg.add([kiosk, bridge])
    assert out.added == [kiosk.user, bridge.user]
    assert (tmp_path / "acl").read_text() == brokerconf.render_central_acl({SITE: ["kiosk-1"]}, bridges=[SITE])
    assert f"user {SITE}.bridge\ntopic write {topics.follow(SITE)}\n" in (tmp_path / "acl").read_text()
    reg.remove([bridge.user])
    assert (tmp_path / "acl").read_text() == brokerconf.render_central_acl({SITE: ["kiosk-1"]})
    assert f"user {SITE}.bridge" not in (tmp_path / "acl").read_text()


def test_no_device_may_be_called_bridge(tmp_path, fake_bin):
    site = EXAMPLE.read_text() + '\n[[devices]]\nid = "bridge"\nrole = "kiosk"\n'
    with pytest.raises(ConfigError) as exc:
        loads_site(site)
    assert "'bridge' is reserved" in str(exc.value) and "<site>.bridge" in str(exc.value)
    with pytest.raises(ConfigError, match="reserved"):
        parse_device({"device": {"id": "bridge", "role": "kiosk", "site": SITE}})
    root = tmp_path / "root"
    root.mkdir()
    rc, _, err = run_cli("provision", "--role", "kiosk", "--site", SITE, "--device", "bridge", "--site-broker",
                         "mqtt://127.0.0.1:1883", "--central-broker", "mqtts://central.example.fi:8883",
                         "--root", str(root), "--bin", str(fake_bin), "--site-config", str(EXAMPLE))
    assert rc == 2 and "--device 'bridge' is reserved" in err
    assert list(root.iterdir()) == []


def test_hub_provisioning_writes_the_bridge_and_a_dry_run_shows_no_password(tmp_path, fake_bin):
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\nnot checked here\n-----END CERTIFICATE-----\n")
    root = tmp_path / "hub"
    root.mkdir()
    argv = ["provision", "--role", "hub", "--site", SITE, "--device", HUB, "--site-broker", "mqtt://hub.local:1883",
            "--central-broker", "mqtts://central.example.fi:8883", "--root", str(root), "--bin", str(fake_bin),
            "--site-config", str(EXAMPLE)]
    rc, out, err = run_cli(*argv, "--central-ca", str(ca), "--dry-run")
    assert rc == 0, err
    assert list(root.iterdir()) == []
    assert f"{U.MOSQUITTO_CONF} (" in out and "| address central.example.fi:8883" in out
    assert f"| remote_password {P.BRIDGE_PASSWORD_SHOWN}" in out and f"| bridge_cafile {P.CENTRAL_CA}" in out
    assert f"{P.CENTRAL_BRIDGE_PASSWORD} (" in out and "secret: not shown" in out

    rc, out, err = run_cli(*argv, "--central-ca", str(ca))
    assert rc == 0, err
    password = in_root(root, P.CENTRAL_BRIDGE_PASSWORD).read_text().strip()
    assert password not in out + err
    conf = in_root(root, U.MOSQUITTO_CONF)
    assert conf.stat().st_mode & 0o777 == 0o600
    assert conf.read_text().endswith(brokerconf.render_site_bridge_conf(brokerconf.SiteBridge(
        SITE, "central.example.fi", 8883, password, cafile=P.CENTRAL_CA)))
    users = [line.split(":", 1)[0] for line in in_root(root, P.CENTRAL_ENTRY).read_text().splitlines()]
    assert users == [f"{SITE}.{HUB}", f"{SITE}.bridge"]
    assert "palvelupiste central devices add" in out and "the bridge can log in" in out
    # again: nothing changes (the password and its entry are kept)
    before = snapshot(root)
    rc, out, err = run_cli(*argv)
    assert rc == 0 and " 0 change(s)" in out, err
    assert snapshot(root) == before

    # without a CA of its own the bridge trusts the system's CAs, as the sync agent does
    other = tmp_path / "hub2"
    other.mkdir()
    assert run_cli(*[a if a != str(root) else str(other) for a in argv])[0] == 0
    text = in_root(other, U.MOSQUITTO_CONF).read_text()
    assert f"bridge_capath {brokerconf.SYSTEM_CAPATH}\n" in text and "bridge_cafile" not in text
    # a kiosk has no bridge and no bridge password
    kiosk = tmp_path / "kiosk"
    kiosk.mkdir()
    rc, _, err = run_cli("provision", "--role", "kiosk", "--site", SITE, "--device", "kiosk-1", "--site-broker",
                         "mqtt://hub.local:1883", "--central-broker", "mqtts://central.example.fi:8883",
                         "--root", str(kiosk), "--bin", str(fake_bin), "--site-config", str(EXAMPLE),
                         "--printer", "serial:/dev/ttyUSB0?baudrate=19200")
    assert rc == 0, err
    assert not in_root(kiosk, P.CENTRAL_BRIDGE_PASSWORD).exists()
    assert len(in_root(kiosk, P.CENTRAL_ENTRY).read_text().splitlines()) == 1


# --- two real brokers, bridged -----------------------------------------------------------------------

@dataclass(frozen=True)
class Subscribed:
    mid: int
    codes: tuple[int, ...]


class Client:
    """One MQTT 5 connection of a test. Every message it receives is kept in `seen` (in order), also
    while the test waits for something else (a PUBACK, a SUBACK), and stays there for `message()`, so
    that a test can tell what arrived and what never did."""

    def __init__(self, link: MqttLink) -> None:
        self.link = link
        self.seen: list[Message] = []
        self.pending: list[Message] = []      # received, not yet looked at by message()
        self.subacks: dict[str, int] = {}     # topic filter → the broker's SUBACK reason code

    def _next(self, deadline: float, what: str, timeout: float) -> Any:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise WaitTimeout(f"timed out after {timeout:g} s waiting for {what}")
            try:
                item = self.link.inbox.get(timeout=left)
            except queue.Empty:
                continue
            if isinstance(item, Message):
                self.seen.append(item)
                self.pending.append(item)
            return item

    def take(self, pred: Callable[[Any], object], timeout: float, what: str) -> Any:
        """The next item (not a message: messages wait for message()) that satisfies `pred`."""
        deadline = time.monotonic() + timeout
        while True:
            item = self._next(deadline, what, timeout)
            if not isinstance(item, Message) and pred(item):
                return item

    def message(self, topic: str, payload: bytes | None = None, timeout: float = 10.0,
                what: str | None = None) -> Message:
        """The next message on `topic` with `payload` (any, when None); earlier ones on `topic` that
        differ are passed over (an older value), those on other topics stay for their own turn."""
        deadline = time.monotonic() + timeout
        while True:
            for i, m in enumerate(self.pending):
                if m.topic == topic:
                    del self.pending[i]
                    if payload is None or m.payload == payload:
                        return m
                    break
            else:
                self._next(deadline, what or f"{topic} {payload!r}", timeout)

    def puback(self, topic: str, payload: bytes = b"{}", retain: bool = False) -> PubAck:
        rc, mid = self.link.publish(topic, payload, qos=1, retain=retain)
        assert rc == 0
        return self.take(lambda i: isinstance(i, PubAck) and i.mid == mid, 10, f"PUBACK for {topic}")

    def mark(self, topic: str) -> None:
        """Publish a marker on `topic`, which this client reads and writes, and wait for it to come
        back: every subscription made before it is active, and whatever they were due to bring
        before it (retained messages) is in `seen`."""
        mark = f"mark-{time.monotonic_ns()}".encode()
        assert not self.puback(topic, mark).failure
        if not any(m.topic == topic and m.payload == mark for m in self.seen):
            self.message(topic, mark, what="the marker back")

    def stop(self) -> None:
        self.link.stop()


class Bridged:
    """A provisioned central host and a hub provisioned against it, each broker running on what
    provisioning wrote; the administrators have added the hub's entry file (the hub and the bridge),
    a kiosk of the site and another site's bridge."""

    def __init__(self, tmp: Path, fake_bin: Path) -> None:
        needs_mosquitto()
        self.tmp = tmp
        self.clients: list[Client] = []
        self.central = CentralHost(tmp / "central", fake_bin)
        self.ca = str(self.central.ca_dir / "ca.crt")
        self.hub_root = tmp / "hub"
        self.hub_root.mkdir()
        self.site_port, self.hub_port = free_port(), free_port()
        rc, out, err = run_cli("provision", "--role", "hub", "--site", SITE, "--device", HUB, "--site-broker",
                               f"mqtt://127.0.0.1:{self.site_port}", "--central-broker", self.central.url,
                               "--central-ca", self.ca, "--listen", "127.0.0.1", "--root", str(self.hub_root),
                               "--bin", str(fake_bin), "--site-config", str(EXAMPLE))
        assert rc == 0, err
        conf = str(self.central.local_config())
        rc, out, err = run_cli("central", "devices", "add", str(in_root(self.hub_root, P.CENTRAL_ENTRY)),
                               "--config", conf, "--no-reload")
        assert rc == 0 and f"added     {SITE}.bridge" in out and f"added     {SITE}.{HUB}" in out, out + err
        self.passwords = {}
        for site, device in ((SITE, "kiosk-1"), (OTHER, "bridge")):
            user = topics.central_username(site, device)
            self.passwords[user] = f"pw-of-{user}-0123456789"
            pw_file = tmp / f"{user}.pw"
            pw_file.write_text(self.passwords[user] + "\n")
            rc, out, err = run_cli("central", "devices", "add", "--site", site, "--device", device,
                                   "--password-file", str(pw_file), "--config", conf, "--no-reload")
            assert rc == 0, err
        self.central.start_broker()
        self.site = MosquittoBroker(tmp / "site", port=self.site_port, config_text=self.site_conf(tmp / "site"))

    def site_conf(self, work: Path) -> str:
        """The hub's site broker configuration as provisioning wrote it, runnable here."""
        text = in_root(self.hub_root, U.MOSQUITTO_CONF).read_text()
        assert f"bridge_cafile {P.CENTRAL_CA}\n" in text and f"address {self.central.url[8:]}\n" in text
        text = text.replace(" /etc/", f" {self.hub_root}/etc/")
        text = text.replace(f"persistence_location {U.MOSQUITTO_DATA}/", f"persistence_location {work}/")
        text = re.sub(r"(?m)^listener 1884 127\.0\.0\.1$", f"listener {self.hub_port} 127.0.0.1", text)
        return re.sub(r"(?m)^user \S+$", f"user {getpass.getuser()}", text)

    def start_site(self) -> None:
        self.site.start()
        assert wait_port(self.hub_port, 10), "the hub's listener did not open"

    def client(self, port: int, user: str, password: str, *, client_id: str | None = None, tls: bool = False,
               subscribe: tuple[str, ...] = ()) -> Client:
        link = MqttLink(LinkOptions("127.0.0.1", port, client_id or user, username=user, password=password,
                                    tls=Tls(self.ca) if tls else None, min_backoff_s=0.05, max_backoff_s=0.3))
        # paho (2.2, driven by client.loop() on MqttLink's own thread) writes a publish at once from the
        # thread that calls publish(); a TLS socket used by two threads at a time breaks ("bad record
        # mac", "malformed packet", the connection dropped and a QoS 1 message delivered twice). With a
        # write callback registered, paho only queues the packet and wakes the network thread, which
        # then does all the socket's reading and writing.
        link.client.on_socket_register_write = lambda client, userdata, sock: None
        c = Client(link.start())
        self.clients.append(c)
        c.take(lambda i: isinstance(i, Connected), 10, f"{user} connected")
        # subscribed once connected, each SUBACK awaited: the subscription is in force when this returns
        c.link.client.on_subscribe = lambda client, userdata, mid, codes, props: c.link.inbox.put(
            Subscribed(mid, tuple(code.value for code in codes)))
        for t in subscribe:
            c.link.opts.subscriptions.append((t, 1))      # again on every reconnection
            rc, mid = c.link.client.subscribe(t, qos=1)
            assert rc == 0
            c.subacks[t] = c.take(lambda i: isinstance(i, Subscribed) and i.mid == mid, 10, f"SUBACK {t}").codes[0]
        return c

    def hub(self, *subscribe: str) -> Client:
        """The hub on its own listener of the site broker, as hub/service.py connects."""
        return self.client(self.hub_port, HUB, in_root(self.hub_root, P.SITE_PASSWORD).read_text().strip(),
                           subscribe=subscribe)

    def web(self, instance: str, *subscribe: str) -> Client:
        """The web service on the central services' listener, with the password provisioning made."""
        return self.client(self.central.service_port, C.WEB_USER, self.central.secret(C.WEB_PASSWORD),
                           client_id=topics.client_id(C.WEB_USER, instance), subscribe=subscribe)

    def device(self, site: str, device: str, *subscribe: str) -> Client:
        """A user of the central devices' listener (TLS)."""
        user = topics.central_username(site, device)
        return self.client(self.central.port, user, self.passwords[user], tls=True, subscribe=subscribe)

    def stop(self) -> None:
        for c in self.clients:
            c.stop()
        self.site.stop()
        self.central.stop()


@pytest.fixture
def bridged(tmp_path, fake_bin):
    b = Bridged(tmp_path, fake_bin)
    yield b
    b.stop()


def snapshot_of(*tokens: str, ts: int = 1764770000000) -> bytes:
    return snapshot_bytes(SITE, "2026-12-03", ts, {
        follow_key(t): {"n": f"K{i:03d}", "s": "kela", "st": "waiting", "a": i, "e": [60 * i, 120 * i], "l": "fi"}
        for i, t in enumerate(tokens, start=1)})


def refused(c: Client, topic: str) -> bool:
    ack = c.puback(topic)
    return ack.failure and ack.code == 0x87


@pytest.mark.broker
def test_the_snapshot_goes_out_retained_and_a_cancel_comes_in(bridged):
    bridged.start_site()
    web = bridged.web("live", topics.follow_all(), topics.bridge_state_all())
    web.message(topics.bridge_state(SITE), b"1", 15, "the bridge's state 1 on the central broker")
    hub = bridged.hub(topics.follow_cancel(SITE))
    # the hub publishes the snapshot, retained, on its site broker: the web service gets it ...
    snap = snapshot_of("a" * 16, "b" * 16)
    assert not hub.puback(topics.follow(SITE), snap, retain=True).failure
    web.message(topics.follow(SITE), snap, what="the snapshot on the central broker")
    # ... and it is retained there: a web worker started later gets it at once, flagged retained
    m = bridged.web("late", topics.follow(SITE)).message(topics.follow(SITE), snap, what="the retained snapshot")
    assert m.retain and m.qos == 1
    # the page's cancel, published by the web service on the central broker, reaches the hub
    cancel = cancel_bytes(follow_key("a" * 16), "req-0123456789", 1764770001000)
    assert not web.puback(topics.follow_cancel(SITE), cancel).failure
    m = hub.message(topics.follow_cancel(SITE), cancel, what="the cancel at the hub")
    assert not m.retain
    # the bridge's state is retained on the central broker too
    assert bridged.web("state", topics.bridge_state(SITE)).message(topics.bridge_state(SITE), b"1").retain
    # nothing else crossed: the web service saw only the site's snapshot and state
    assert {m.topic for m in web.seen} == {topics.follow(SITE), topics.bridge_state(SITE)}


@pytest.mark.broker
@pytest.mark.slow
def test_the_bridge_state_follows_the_link_and_mosquitto_resends_across_cuts(bridged):
    bridged.start_site()
    web = bridged.web("live", topics.follow(SITE), topics.bridge_state(SITE))
    web.message(topics.bridge_state(SITE), b"1", 15, "the bridge connected")
    hub = bridged.hub(topics.follow_cancel(SITE))
    first = snapshot_of("a" * 16)
    assert not hub.puback(topics.follow(SITE), first, retain=True).failure
    web.message(topics.follow(SITE), first)

    # the site broker stops: the central broker publishes the bridge's last will at once
    started = time.monotonic()
    bridged.site.stop()
    web.message(topics.bridge_state(SITE), b"0", 5, "the bridge's last will, 0")
    assert time.monotonic() - started < 5
    # it comes back: 1 again, and the bridge sends the retained snapshot again
    bridged.start_site()
    web.message(topics.bridge_state(SITE), b"1", 15, "the bridge connected again")
    web.message(topics.follow(SITE), first, 10, "the retained snapshot sent again")

    # a longer cut: the site broker goes away, a phone cancels meanwhile (the central broker keeps it
    # for the bridge's session, QoS 1), then the central broker restarts as well
    bridged.site.stop()
    web.message(topics.bridge_state(SITE), b"0", 5, "the bridge's last will, 0")
    cancel = cancel_bytes(follow_key("a" * 16), "req-while-cut", 1764770002000)
    assert not web.puback(topics.follow_cancel(SITE), cancel).failure
    bridged.central.stop()
    hub.stop()      # a new connection below, with a clean start (as the hub's own after a broker restart)
    bridged.start_site()
    hub = bridged.hub(topics.follow_cancel(SITE), topics.state(SITE))
    hub.mark(topics.state(SITE))      # the hub listens before the link can come back
    second = snapshot_of("a" * 16, "c" * 16, ts=1764770003000)
    assert not hub.puback(topics.follow(SITE), second, retain=True).failure   # held on the site broker
    bridged.central.start_broker()
    # the bridge finds the central broker again by itself (its restart_timeout), delivers what it kept
    # in both directions and says it is connected
    hub.message(topics.follow_cancel(SITE), cancel, 90, "the cancel kept across the cut")
    fresh = bridged.web("after", topics.follow(SITE), topics.bridge_state(SITE))
    fresh.message(topics.follow(SITE), second, 30, "the snapshot made during the cut, on the central broker")
    fresh.message(topics.bridge_state(SITE), b"1", 30, "the bridge's state 1")
    m = bridged.web("late", topics.follow(SITE)).message(topics.follow(SITE))
    assert m.payload == second and m.retain
    # each cancel reached the hub once
    assert [m.payload for m in hub.seen if m.topic == topics.follow_cancel(SITE)] == [cancel]


@pytest.mark.broker
def test_each_user_has_its_own_follow_rights_and_nothing_more(bridged):
    bridged.start_site()
    web = bridged.web("acl", topics.bridge_state(SITE))
    web.message(topics.bridge_state(SITE), b"1", 15, "the bridge connected")
    hub = bridged.hub()
    snap = snapshot_of("a" * 16)
    assert not hub.puback(topics.follow(SITE), snap, retain=True).failure
    bridged.web("check", topics.follow(SITE)).message(topics.follow(SITE), snap, what="the snapshot retained")

    # another site's bridge: its own site's follow and bridge state, nothing of this site, no events
    other = bridged.device(OTHER, "bridge")
    assert not other.puback(topics.follow(OTHER)).failure
    assert not other.puback(topics.bridge_state(OTHER), b"1").failure
    for topic in (topics.follow(SITE), topics.bridge_state(SITE), topics.follow_cancel(OTHER),
                  topics.follow_cancel(SITE), topics.events(OTHER, "bridge"), topics.events(SITE, HUB),
                  topics.status(OTHER, "bridge"), topics.availability(OTHER, "bridge"), topics.config(OTHER),
                  topics.ack(OTHER, "bridge")):
        assert refused(other, topic), topic

    # the web service: cancels only; no events, configurations, appointments, acks or snapshots
    assert not web.puback(topics.follow_cancel(OTHER), cancel_bytes("0" * 32, "req-0123456789", 1)).failure
    for topic in (topics.events(SITE, "kiosk-1"), topics.config(SITE), topics.appointments(SITE),
                  topics.ack(SITE, "kiosk-1"), topics.follow(SITE), topics.bridge_state(SITE),
                  topics.status(SITE, "kiosk-1")):
        assert refused(web, topic), topic

    # a device of the site reads no follow topic and cannot publish one. Mosquitto 2.0 grants the
    # subscriptions and checks each message on delivery; by the device's marker (on its own status),
    # whatever they could have brought has arrived — the retained snapshot and state, a cancel
    # published meanwhile — and nothing did
    kiosk = bridged.device(SITE, "kiosk-1", topics.follow(SITE), topics.follow_all(), topics.bridge_state(SITE),
                           topics.bridge_state_all(), topics.follow_cancel(SITE), topics.status(SITE, "kiosk-1"))
    for topic in (topics.follow(SITE), topics.follow_cancel(SITE), topics.bridge_state(SITE)):
        assert refused(kiosk, topic), topic
    assert not web.puback(topics.follow_cancel(SITE), cancel_bytes("0" * 32, "req-0123456789", 2)).failure
    kiosk.mark(topics.status(SITE, "kiosk-1"))
    assert [m.topic for m in kiosk.seen] == [topics.status(SITE, "kiosk-1")], kiosk.seen
