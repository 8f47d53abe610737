"""The brokers' security, on the real Mosquitto running the project's own templates
(systemd/mosquitto/*.in rendered by bus.brokerconf): no anonymous access, a password per device,
ACLs that keep each device under its own topics (an ACL refusal is PUBACK 0x87 with MQTT 5),
client ids bound to user names, the ingest's shared subscription out of the devices' reach, and
TLS on the central broker with a throw-away CA made by openssl (sim.tlsca)."""
import getpass
import json
import shutil
import subprocess

import pytest

from bus import brokerconf, topics
from bus.link import Connected, ConnectFailed, Disconnected, LinkOptions, Message, MqttLink, Tls
from sim.tlsca import make_ca, make_client_cert
from tests.support.broker import MosquittoBroker, free_port
from tests.support.syncproc import (
    Central,
    assert_synced,
    connect_result,
    fill_store,
    publish_until_delivered,
    publish_wait,
    wait_ingest_subscribed,
    wait_item,
    wait_synced,
    wait_until,
    write_device,
)

pytestmark = pytest.mark.broker
SITE = "s1"
SITE_DEVICES = {"hub-1": "hub", "kiosk-1": "kiosk", "kiosk-2": "kiosk", "display-1": "display"}
NOT_AUTHORIZED = 0x87


def pw(user):
    return f"{user}-pw"


@pytest.fixture
def site_broker(tmp_path):
    d = tmp_path / "site"
    d.mkdir()
    brokerconf.write_password_file(d / "passwd", {u: pw(u) for u in SITE_DEVICES})
    (d / "acl").write_text(brokerconf.render_site_acl(SITE, SITE_DEVICES))
    port = free_port()
    brokerconf.write_password_file(d / "hub-passwd", {u: pw(u) for u, r in SITE_DEVICES.items() if r == "hub"})
    conf = brokerconf.render_site_broker_conf(data_dir=d, password_file=d / "passwd", hub_password_file=d / "hub-passwd",
                                              acl_file=d / "acl", port=port, hub_port=free_port(),
                                              bind_address="127.0.0.1", user=getpass.getuser())
    b = MosquittoBroker(d, port=port, config_text=conf).start()
    links = []

    def connect(user, password=None, subs=(), client_id=None):
        link = MqttLink(LinkOptions("127.0.0.1", port, client_id or f"c-{user}-{len(links)}", username=user,
                                    password=pw(user) if password is None and user else password,
                                    subscriptions=list(subs), min_backoff_s=5, max_backoff_s=5)).start()
        links.append(link)
        return link
    yield connect
    for link in links:
        link.stop()
    b.stop()


def test_site_broker_refuses_anonymous_and_wrong_passwords(site_broker):
    assert isinstance(connect_result(site_broker(None)), ConnectFailed)
    assert isinstance(connect_result(site_broker("kiosk-1", password="guess")), ConnectFailed)
    assert isinstance(connect_result(site_broker("stranger", password="x")), ConnectFailed)
    assert isinstance(connect_result(site_broker("kiosk-1")), Connected)


def test_site_devices_publish_only_under_their_own_topics(site_broker):
    kiosk = site_broker("kiosk-1")
    hub = site_broker("hub-1", subs=[(topics.commands_all(SITE), 1)])
    assert isinstance(connect_result(kiosk), Connected) and isinstance(connect_result(hub), Connected)
    ok = lambda link, t: publish_wait(link, t, b"{}").code  # noqa: E731
    publish_until_delivered(kiosk, topics.command(SITE, "kiosk-1"), b"{}")  # allowed, and the hub gets it
    msg = wait_item(hub, lambda i: isinstance(i, Message))
    assert msg.topic == topics.command(SITE, "kiosk-1")
    for forbidden in (topics.command(SITE, "kiosk-2"), topics.state(SITE), topics.calls(SITE),
                      topics.reply(SITE, "kiosk-1"), topics.status(SITE, "kiosk-2"),
                      topics.availability(SITE, "hub-1"), "pp/other-site/hub/cmd/kiosk-1", "anything/else"):
        assert ok(kiosk, forbidden) == NOT_AUTHORIZED, forbidden
    assert ok(kiosk, topics.status(SITE, "kiosk-1")) in (0, 0x10)
    assert ok(kiosk, topics.availability(SITE, "kiosk-1")) in (0, 0x10)
    # only the hub publishes state, calls and replies
    for allowed in (topics.state(SITE), topics.calls(SITE), topics.reply(SITE, "kiosk-1")):
        assert ok(hub, allowed) in (0, 0x10), allowed
    assert ok(hub, topics.command(SITE, "kiosk-1")) == NOT_AUTHORIZED


def test_a_device_reads_only_its_own_replies(site_broker):
    kiosk = site_broker("kiosk-1", subs=[(f"pp/{SITE}/dev/+/reply", 1)])
    hub = site_broker("hub-1")
    assert isinstance(connect_result(kiosk), Connected) and isinstance(connect_result(hub), Connected)
    publish_until_delivered(hub, topics.reply(SITE, "kiosk-1"), b"probe")
    assert wait_item(kiosk, lambda i: isinstance(i, Message)).payload == b"probe"
    publish_wait(hub, topics.reply(SITE, "kiosk-2"), b"for kiosk-2")
    publish_wait(hub, topics.reply(SITE, "kiosk-1"), b"for kiosk-1")
    msg = wait_item(kiosk, lambda i: isinstance(i, Message))
    assert msg.payload == b"for kiosk-1"  # same publisher, in order: kiosk-2's would have come first


@pytest.fixture
def central(tmp_path, central_dsn):
    c = Central(tmp_path / "central", ["kiosk-1", "kiosk-2"], site=SITE, pg_dsn=central_dsn).start()
    yield c
    c.stop_all()


def test_central_acl(central):
    for user, password in ((None, None), ("s1.kiosk-1", "wrong"), ("ingest", "")):
        refused = central.link(user, password=password)
        assert isinstance(connect_result(refused), ConnectFailed), user
        refused.stop()
    a = central.link("s1.kiosk-1", subscriptions=[("pp/s1/dev/+/ack", 1)])
    group = topics.ingest_group(central.users["ingest"])
    ingest = central.link("ingest", subscriptions=[(topics.events_all(group), 1)])
    pub = central.link("publisher")
    for link in (a, ingest, pub):
        assert isinstance(connect_result(link), Connected)
    code = lambda link, t, p=b"{}": publish_wait(link, t, p).code  # noqa: E731
    publish_until_delivered(a, topics.events(SITE, "kiosk-1"), b"{}")  # allowed, and the ingest link gets it
    wait_item(ingest, lambda i: isinstance(i, Message) and i.topic == topics.events(SITE, "kiosk-1"))
    for forbidden in (topics.events(SITE, "kiosk-2"), topics.ack(SITE, "kiosk-1"), topics.config(SITE),
                      topics.appointments(SITE), topics.status(SITE, "kiosk-2"), topics.events("s2", "kiosk-1")):
        assert code(a, forbidden) == NOT_AUTHORIZED, forbidden
    assert code(ingest, topics.events(SITE, "kiosk-1")) == NOT_AUTHORIZED
    assert code(ingest, topics.config(SITE)) == NOT_AUTHORIZED
    assert code(pub, topics.events(SITE, "kiosk-1")) == NOT_AUTHORIZED
    assert code(pub, topics.ack(SITE, "kiosk-1")) == NOT_AUTHORIZED
    assert code(pub, topics.config(SITE), b"x") in (0, 0x10)
    # Only the ingest acks, and a device reads only its own ack.
    assert code(ingest, topics.ack(SITE, "kiosk-2"), b'{"seq":2}') in (0, 0x10)
    assert code(ingest, topics.ack(SITE, "kiosk-1"), b'{"seq":1}') == 0  # a's subscription is older
    msg = wait_item(a, lambda i: isinstance(i, Message))
    assert (msg.topic, msg.payload) == (topics.ack(SITE, "kiosk-1"), b'{"seq":1}')
    for link in (a, ingest, pub):
        link.stop()


def test_password_entries_match_mosquitto_passwd(tmp_path):
    if shutil.which("mosquitto_passwd") is None:
        pytest.skip("mosquitto_passwd not installed")
    f = tmp_path / "p"
    f.touch()
    subprocess.run(["mosquitto_passwd", "-b", str(f), "alice", "s3cret äö"], check=True, capture_output=True)
    line = f.read_text().strip()
    assert brokerconf.verify_password_entry(line, "s3cret äö")
    assert not brokerconf.verify_password_entry(line, "s3cret")
    ours = brokerconf.password_entry("alice", "s3cret äö")
    assert ours.startswith("alice:$7$101$") and brokerconf.verify_password_entry(ours, "s3cret äö")
    with pytest.raises(brokerconf.BrokerConfError):
        brokerconf.password_entry("bad:user", "x")


def test_templates_leave_no_placeholder_and_tls_block_is_optional(tmp_path):
    kw = dict(data_dir=tmp_path, password_file=tmp_path / "p", service_password_file=tmp_path / "s",
              acl_file=tmp_path / "a")
    plain = brokerconf.render_central_broker_conf(tls=None, **kw)
    settings = [line for line in plain.splitlines() if line and not line.startswith("#")]
    assert not any("{" in line or line.startswith("cafile") for line in settings), settings
    assert "allow_anonymous false" in settings and "per_listener_settings true" in settings
    tls = brokerconf.render_central_broker_conf(tls=brokerconf.TlsFiles("/c/ca", "/c/crt", "/c/key"), **kw)
    assert "listener 8883 0.0.0.0" in tls and "cafile /c/ca" in tls and tls.count("allow_anonymous false") == 2
    # the device listener forces client ids; the services' listener has its own password file
    device_listener = tls[tls.index("listener 8883"):]
    assert "use_username_as_clientid true" in device_listener and f"password_file {tmp_path / 'p'}" in device_listener
    assert tls.count("use_username_as_clientid true") == 1 and f"password_file {tmp_path / 's'}" in tls
    with pytest.raises(brokerconf.BrokerConfError, match="separate password files"):
        brokerconf.render_central_broker_conf(**dict(kw, service_password_file=tmp_path / "p"), tls=None)
    site = brokerconf.render_site_broker_conf(data_dir=tmp_path, password_file=tmp_path / "p",
                                              hub_password_file=tmp_path / "h", acl_file=tmp_path / "a",
                                              port=1883, hub_port=1884)
    # the devices' listener forces client ids; the hub's, on the loopback, takes only the hub
    device_listener, hub_listener = site.split("listener 1883 ")[1].split("listener 1884 ")
    assert "use_username_as_clientid true" in device_listener and f"password_file {tmp_path / 'p'}" in device_listener
    assert hub_listener.startswith("127.0.0.1\n") and f"password_file {tmp_path / 'h'}" in hub_listener
    assert "use_username_as_clientid" not in hub_listener and site.count("allow_anonymous false") == 2
    with pytest.raises(brokerconf.BrokerConfError, match="separate password files"):
        brokerconf.render_site_broker_conf(data_dir=tmp_path, password_file=tmp_path / "p",
                                           hub_password_file=tmp_path / "p", acl_file=tmp_path / "a")
    with pytest.raises(brokerconf.BrokerConfError):
        brokerconf.render_site_acl("bad site", {})
    with pytest.raises(brokerconf.BrokerConfError):
        brokerconf.render("listener {port}")


def test_tls_listener_with_a_throwaway_ca(tmp_path, central_dsn):
    files = make_ca(tmp_path / "ca")
    other = make_ca(tmp_path / "other-ca", "someone else")
    tls_port = free_port()
    c = Central(tmp_path / "central", ["kiosk-1"], site=SITE, tls=files, tls_port=tls_port,
                pg_dsn=central_dsn).start()
    try:
        def link(ca, user="s1.kiosk-1", tls=True):
            return MqttLink(LinkOptions("127.0.0.1", tls_port, f"tls-{user}-{ca}", username=user,
                                        password=c.users.get(user), tls=Tls(ca) if tls else None,
                                        min_backoff_s=5, max_backoff_s=5)).start()
        good = link(files.cafile)
        assert isinstance(connect_result(good), Connected)
        assert publish_wait(good, topics.events(SITE, "kiosk-1"), b"{}").code == 0x10
        assert publish_wait(good, topics.events(SITE, "kiosk-2"), b"{}").code == NOT_AUTHORIZED
        good.stop()
        untrusting = link(other.cafile)
        fail = connect_result(untrusting)
        assert isinstance(fail, ConnectFailed) and "certificate verify failed" in fail.reason.lower(), fail
        untrusting.stop()
        plain = link(None, tls=False)
        assert not plain.wait_connected(1.0)
        plain.stop()

        # A device's sync agent over mqtts://, the ingest on the services' listener.
        kiosk = write_device(tmp_path, c, "kiosk-1")
        assert f'url = "mqtts://127.0.0.1:{tls_port}"' in kiosk.read_text()
        fill_store(kiosk, SITE, "kiosk-1", 500)
        c.start_ingest()
        c.start_agent(kiosk)
        wait_synced(c, {"kiosk-1": kiosk})
        assert_synced(c, {"kiosk-1": kiosk})
        status = json.loads((kiosk.parent / "data" / "sync-status.json").read_text())
        assert status["sync"]["puback_failures"] == 0
    finally:
        c.stop_all()


def test_tls_listener_can_require_a_device_certificate(tmp_path):
    files = make_ca(tmp_path / "ca")
    d = tmp_path / "ca"
    # the device's certificate, as systemd/README-mqtt.md describes
    make_client_cert(d, "dev", "s1.kiosk-1")
    tls_port = free_port()
    c = Central(tmp_path / "central", ["kiosk-1"], site=SITE, tls=files, tls_port=tls_port)
    c.broker.config_text = c.broker.config_text.replace("require_certificate false", "require_certificate true")
    c.start()
    try:
        def link(cert):
            t = Tls(files.cafile, str(d / "dev.crt"), str(d / "dev.key")) if cert else Tls(files.cafile)
            return MqttLink(LinkOptions("127.0.0.1", tls_port, f"cert-{cert}", username="s1.kiosk-1",
                                        password=c.users["s1.kiosk-1"], tls=t, min_backoff_s=5, max_backoff_s=5)).start()
        with_cert, without = link(True), link(False)
        assert isinstance(connect_result(with_cert), Connected)
        assert not without.wait_connected(1.0)
        with_cert.stop()
        without.stop()
    finally:
        c.stop_all()


def _round_trip(link, topic):
    """A QoS 1 publish answered by the broker: the link is connected and the broker has handled
    everything it sent before (one connection's packets are handled in order)."""
    ack = publish_wait(link, topic, b"{}")
    assert not ack.failure, ack
    return ack


def _kicked(link):
    return any(isinstance(i, Disconnected) for i in list(link.inbox.queue))


def test_devices_cannot_log_in_on_the_services_listener(central):
    for user in ("s1.kiosk-1", "s1.kiosk-2"):
        link = central.link(user, port=central.port)
        assert isinstance(connect_result(link), ConnectFailed), user
        link.stop()
    ingest = central.link("ingest", port=central.device_port)  # and the services not on the devices' one
    assert isinstance(connect_result(ingest), ConnectFailed)
    ingest.stop()


def test_a_client_id_cannot_take_over_another_users_session_on_the_site_broker(site_broker):
    hub = site_broker("hub-1", subs=[(topics.commands_all(SITE), 1)], client_id="hub-1")
    display = site_broker("display-1", client_id="display-1")
    assert isinstance(connect_result(hub), Connected) and isinstance(connect_result(display), Connected)
    for victim in ("hub-1", "display-1"):
        thief = site_broker("kiosk-1", client_id=victim)
        assert isinstance(connect_result(thief), Connected)  # admitted, as "kiosk-1"
        _round_trip(thief, topics.status(SITE, "kiosk-1"))
    # The owners were never displaced: each still gets its broker's answers on the same session.
    _round_trip(hub, topics.status(SITE, "hub-1"))
    _round_trip(display, topics.status(SITE, "display-1"))
    assert not _kicked(hub) and not _kicked(display)
    kiosk = site_broker("kiosk-2", client_id="kiosk-2")
    assert isinstance(connect_result(kiosk), Connected)
    publish_until_delivered(kiosk, topics.command(SITE, "kiosk-2"), b"{}")
    assert wait_item(hub, lambda i: isinstance(i, Message)).topic == topics.command(SITE, "kiosk-2")


def test_a_client_id_cannot_take_over_the_ingest_or_another_agent(central):
    agent = central.link("s1.kiosk-1", client_id="s1.kiosk-1")
    ingest = central.link("ingest", client_id=topics.client_id("ingest", "a"))
    assert isinstance(connect_result(agent), Connected) and isinstance(connect_result(ingest), Connected)
    for victim in ("s1.kiosk-1", topics.client_id("ingest", "a"), "ingest"):
        thief = central.link("s1.kiosk-2", client_id=victim)
        assert isinstance(connect_result(thief), Connected)
        _round_trip(thief, topics.status(SITE, "kiosk-2"))
    _round_trip(agent, topics.status(SITE, "kiosk-1"))
    _round_trip(ingest, topics.ack(SITE, "kiosk-1"))
    assert not _kicked(agent) and not _kicked(ingest)
    # What the binding costs: the same user twice is one session, the newer connection replaces
    # the older (no legitimate client of the project connects twice with one device identity).
    first = central.link("s1.kiosk-2", client_id="anything")
    assert isinstance(connect_result(first), Connected)
    second = central.link("s1.kiosk-2", client_id="something-else")
    assert isinstance(connect_result(second), Connected)
    wait_item(first, lambda i: isinstance(i, Disconnected))
    for link in (agent, ingest, first, second):
        link.stop()


def test_a_devices_shared_subscription_takes_nothing_from_the_ingest(central, tmp_path):
    """The attack of issue 11: a device joins the ingest's `$share` group. Mosquitto 2.0 checks
    the subscription without the prefix and never the group, so it would get every other batch
    and drop it (no read right). The ingest's group is a secret: the device's subscription forms
    a group of its own, gets nothing of others, and every batch reaches the ingest the first time."""
    from core.store import EventStore

    kiosk = write_device(tmp_path, central, "kiosk-1")
    fill_store(kiosk, SITE, "kiosk-1", 40, chunk=40)
    with EventStore(kiosk.parent / "data" / "events.sqlite", SITE, "kiosk-1") as store:
        events = list(store.iter_events())
    device = central.link("s1.kiosk-1")
    assert isinstance(connect_result(device), Connected)
    central.start_ingest()
    wait_ingest_subscribed(device, SITE, "kiosk-1")
    thief = central.link("s1.kiosk-2", subscriptions=[
        ("$share/ingest/pp/+/dev/+/events", 1), ("$share/ingest/pp/+/dev/+/status", 1),
        (f"$share/{topics.ingest_group('')}/pp/+/dev/+/events", 1), (topics.events_all(), 1)])
    assert isinstance(connect_result(thief), Connected)
    _round_trip(thief, topics.status(SITE, "kiosk-2"))  # its SUBSCRIBEs are in force from here on
    for ev in events:  # one event per batch, each sent exactly once: none may go astray
        batch = json.dumps({"site": SITE, "device": "kiosk-1", "events": [ev.to_dict()]}).encode()
        assert publish_wait(device, topics.events(SITE, "kiosk-1"), batch).code == 0
    wait_until(lambda: central.watermark("kiosk-1") == len(events), 15,
               f"the ingest storing all {len(events)} batches sent once")
    assert central.count("kiosk-1") == len(events)
    _round_trip(thief, topics.status(SITE, "kiosk-2"))
    assert not [i for i in list(thief.inbox.queue) if isinstance(i, Message)]
    for link in (device, thief):
        link.stop()
