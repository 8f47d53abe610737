"""`palvelupiste central devices add|list|remove` against the real Mosquitto of a provisioned central
host (tests/test_central_role.py: CentralHost), reloaded with a real SIGHUP.

The entry added is the one device provisioning really wrote (/etc/palvelupiste/central-broker.entry
of a kiosk provisioned in its own root); the device then logs in over TLS with its own password and
may publish its own events only (the broker's PUBACK says 0x87 for another device's topic); removed,
it can no longer log in.
"""
from __future__ import annotations

import json
import os
import queue
import stat
from pathlib import Path

import pytest

from appliance import provision as P
from bus import brokerconf, topics
from bus.link import Connected, ConnectFailed, Disconnected, LinkOptions, MqttLink, PubAck, Tls
from central.credentials import CredentialError, DeviceRegistry, parse_entry
from core.config import Broker
from sync.checks import mqtt_probe
from tests.support.wait import next_item, wait_until
from tests.test_central_role import CentralHost, needs_mosquitto
from tests.test_provision import PRINTER, in_root, provision, run_cli, snapshot

pytestmark = pytest.mark.broker
SITE = "example-pp"


class Setup:
    def __init__(self, tmp: Path, fake_bin: Path) -> None:
        needs_mosquitto()
        self.tmp = tmp
        self.host = CentralHost(tmp / "central", fake_bin)
        self.broker = self.host.start_broker()
        self.conf = self.host.local_config()
        self.s = self.host.settings()
        self.passwd = in_root(self.host.root, self.s.password_file)
        self.acl = in_root(self.host.root, self.s.acl_file)
        self.fake_bin = fake_bin
        self.links: list[MqttLink] = []

    def kiosk(self, device: str = "kiosk-1", role: str = "kiosk") -> tuple[Path, str]:
        """A device provisioned in its own root: (its central-broker.entry, its central password)."""
        root = self.tmp / device
        if not root.exists():
            root.mkdir()
        extra = ("--printer", PRINTER) if role == "kiosk" else ()
        rc, _, err = provision(root, role, device, bin=self.fake_bin, extra=extra)
        assert rc == 0, err
        return in_root(root, P.CENTRAL_ENTRY), in_root(root, P.CENTRAL_PASSWORD).read_text().strip()

    def devices(self, *args: str, reload: bool = True) -> tuple[int, str, str]:
        extra = ("--reload-command", f"kill -HUP {self.broker.proc.pid}") if reload else ("--no-reload",)
        return run_cli("central", "devices", *args, "--config", str(self.conf), *extra)

    def probe(self, user: str | None, password: str | None) -> str:
        b = Broker(url=self.host.url, ca_file=str(self.host.ca_dir / "ca.crt"))
        return mqtt_probe(b, user, password, user or "anon").outcome

    def link(self, user: str, password: str) -> MqttLink:
        link = MqttLink(LinkOptions("127.0.0.1", self.host.port, user, username=user, password=password,
                                    tls=Tls(str(self.host.ca_dir / "ca.crt")), min_backoff_s=0.05,
                                    max_backoff_s=0.2)).start()
        self.links.append(link)
        return link

    def stop(self) -> None:
        for link in self.links:
            link.stop()
        self.host.stop()


@pytest.fixture
def central(tmp_path, fake_bin):
    s = Setup(tmp_path, fake_bin)
    yield s
    s.stop()


def puback(link: MqttLink, topic: str) -> PubAck:
    rc, mid = link.publish(topic, b'{"site":"x","device":"y","events":[]}', qos=1)
    assert rc == 0
    return next_item(link.inbox, lambda i: isinstance(i, PubAck) and i.mid == mid, 10, f"PUBACK for {topic}")


def test_add_lets_the_device_in_to_its_own_topics_only_and_remove_shuts_it_out(central):
    entry, password = central.kiosk()
    user = topics.central_username(SITE, "kiosk-1")
    assert central.probe(user, password) == "auth"          # not known yet
    rc, out, err = central.devices("add", str(entry))
    assert rc == 0 and f"added     {user}" in out and "broker reloaded" in out, err
    # the files: the line as the device wrote it; the ACL made by the project's one renderer
    assert central.passwd.read_text() == entry.read_text()
    assert central.acl.read_text() == brokerconf.render_central_acl({SITE: ["kiosk-1"]})
    assert stat.S_IMODE(central.passwd.stat().st_mode) == 0o600 == stat.S_IMODE(central.acl.stat().st_mode)
    wait_until(lambda: central.probe(user, password) == "ok", 10, "the broker to take the new device")
    assert central.probe(user, "guess") == "auth"

    link = central.link(user, password)
    next_item(link.inbox, lambda i: isinstance(i, Connected), 10, "the kiosk connected")
    for topic in (topics.events(SITE, "kiosk-1"), topics.status(SITE, "kiosk-1")):
        assert not puback(link, topic).failure, topic
    for topic in (topics.events(SITE, "kiosk-2"), topics.events("other-site", "kiosk-1"),
                  topics.ack(SITE, "kiosk-1"), topics.config(SITE)):
        ack = puback(link, topic)
        assert ack.failure and ack.code == 0x87, (topic, ack)

    # adding the same entry again changes nothing (no write, no reload)
    before = snapshot(central.host.root)
    rc, out, _ = central.devices("add", str(entry))
    assert rc == 0 and f"unchanged {user}" in out and "reloaded" not in out
    assert snapshot(central.host.root) == before

    rc, out, err = central.devices("remove", user)
    assert rc == 0 and f"removed   {user}" in out and "broker reloaded" in out, err
    assert central.passwd.read_text() == ""
    assert central.acl.read_text() == brokerconf.render_central_acl({})
    # the broker cuts off the connected device and refuses a new login
    next_item(link.inbox, lambda i: isinstance(i, Disconnected), 10, "the removed device disconnected")
    next_item(link.inbox, lambda i: isinstance(i, ConnectFailed), 10, "the removed device's reconnect refused")
    assert central.probe(user, password) == "auth"


def test_several_devices_list_update_and_the_password_form(central, tmp_path):
    e1, pw1 = central.kiosk("kiosk-1")
    e2, pw2 = central.kiosk("feedback-1", "feedback")
    both = tmp_path / "both.entries"
    both.write_text("# sent by the site's technician\n" + e1.read_text() + "\n" + e2.read_text())
    rc, out, err = central.devices("add", str(both))
    assert rc == 0 and out.count("added") == 2, err
    # a third device whose password the centre holds, and the entry line given as it is
    pwfile = tmp_path / "feedback.pw"
    pwfile.write_text("its-own-password\n")
    rc, out, err = central.devices("add", "--site", "other-pp", "--device", "feedback-1",
                                   "--password-file", str(pwfile), reload=False)
    assert rc == 0 and "added     other-pp.feedback-1" in out and "not reloaded (--no-reload)" in out, err
    rc, out, _ = run_cli("central", "devices", "list", "--json", "--config", str(central.conf))
    listed = json.loads(out)
    assert [(d["site"], d["device"]) for d in listed["devices"]] == \
        [(SITE, "kiosk-1"), (SITE, "feedback-1"), ("other-pp", "feedback-1")]
    assert listed["other_users"] == []
    rc, out, _ = run_cli("central", "devices", "list", "--config", str(central.conf))
    assert "3 device(s)" in out and "other-pp.feedback-1" in out
    assert central.acl.read_text() == brokerconf.render_central_acl({SITE: ["kiosk-1", "feedback-1"],
                                                                     "other-pp": ["feedback-1"]})
    # provisioning the central host again keeps the device list and its ACL as they are
    before = snapshot(central.host.root)
    rc, out, err = central.host.provision()
    assert rc == 0 and "0 change(s)" in out, out + err
    assert snapshot(central.host.root) == before
    # kiosk-1 provisioned again with a new password: its line is replaced, the others stay
    in_root(central.tmp / "kiosk-1", P.CENTRAL_PASSWORD).unlink()
    e1b, pw1b = central.kiosk("kiosk-1")
    assert pw1b != pw1
    rc, out, err = central.devices("add", e1b.read_text().strip())
    assert rc == 0 and f"updated   {SITE}.kiosk-1" in out, err
    wait_until(lambda: central.probe(f"{SITE}.kiosk-1", pw1b) == "ok", 10, "the new password to work")
    assert central.probe(f"{SITE}.kiosk-1", pw1) == "auth"
    assert central.probe(f"{SITE}.feedback-1", pw2) == "ok"
    assert central.probe("other-pp.feedback-1", "its-own-password") == "ok"
    # remove by --site/--device
    rc, out, _ = central.devices("remove", "--site", "other-pp", "--device", "feedback-1")
    assert rc == 0 and "removed   other-pp.feedback-1" in out
    assert [e.user for e in DeviceRegistry(central.passwd, central.acl).devices()] == \
        [f"{SITE}.kiosk-1", f"{SITE}.feedback-1"]


BAD_ENTRIES = [
    ("example-pp.kiosk-1:secret", "not a Mosquitto password hash"),
    ("kiosk-1:$7$101$c2FsdA==$aGFzaA==", "is not a device's central user name"),
    ("a.b.c:$7$101$c2FsdA==$aGFzaA==", "is not a device's central user name"),
    ("example-pp.kiosk-1:$7$x$c2FsdA==$aGFzaA==", "iteration count"),
    ("example-pp.kiosk-1:$7$101$!!$aGFzaA==", "not base64"),
    ("ingest:$7$101$c2FsdA==$aGFzaA==", "is not a device's central user name"),
]


@pytest.mark.parametrize("line,message", BAD_ENTRIES, ids=[m for _, m in BAD_ENTRIES])
def test_a_bad_entry_is_refused_whole(central, tmp_path, line, message):
    entry, _ = central.kiosk()
    assert central.devices("add", str(entry))[0] == 0
    before = snapshot(central.host.root)
    bad = tmp_path / "bad.entry"
    bad.write_text(entry.read_text() + line + "\n")
    rc, _, err = central.devices("add", str(bad))
    assert rc == 2 and message in err and "bad.entry line 2" in err and "nothing was changed" in err, err
    assert snapshot(central.host.root) == before
    with pytest.raises(CredentialError):
        parse_entry(line)


def test_usage_errors_and_a_failing_reload(central, tmp_path):
    entry, password = central.kiosk()
    before = snapshot(central.host.root)
    for args, message in ((("add",), "nothing to add"), (("add", str(tmp_path / "nope")), "no such file"),
                          (("add", "--site", SITE), "go together"), (("remove",), "nothing to remove"),
                          (("remove", "kiosk-1"), "not a device's central user name")):
        rc, _, err = central.devices(*args)
        assert rc == 2 and message in err, (args, err)
    rc, _, err = central.devices("remove", f"{SITE}.kiosk-9")
    assert rc == 1 and "not found" in err
    assert snapshot(central.host.root) == before
    # the reload fails: the files are written, the failure is said, exit 1
    rc, out, err = run_cli("central", "devices", "add", str(entry), "--config", str(central.conf),
                           "--reload-command", "false")
    assert rc == 1 and "the files are written, but the broker was not reloaded" in err
    assert central.passwd.read_text() == entry.read_text()
    # a configuration that is not there: named, exit 2
    rc, _, err = run_cli("central", "devices", "list", "--config", str(tmp_path / "none.toml"))
    assert rc == 2 and "cannot read" in err


def test_concurrent_adds_lose_no_device(central, tmp_path):
    """Two administrators at once: the lock keeps both devices."""
    import threading

    reg = DeviceRegistry(central.passwd, central.acl)
    lines = [brokerconf.password_entry(topics.central_username("s", f"d{i}"), f"pw{i}") for i in range(20)]
    errors: queue.Queue = queue.Queue()

    def add(line: str) -> None:
        try:
            DeviceRegistry(central.passwd, central.acl).add([parse_entry(line)])
        except Exception as exc:  # noqa: BLE001 — reported below
            errors.put(exc)
    threads = [threading.Thread(target=add, args=(line,)) for line in lines]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert errors.empty()
    assert sorted(e.user for e in reg.devices()) == sorted(f"s.d{i}" for i in range(20))
    assert central.acl.read_text() == brokerconf.render_central_acl({"s": [f"d{i}" for i in range(20)]})
    assert not list(central.passwd.parent.glob(".*.tmp")), os.listdir(central.passwd.parent)
