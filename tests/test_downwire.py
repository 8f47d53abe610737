"""Down the wire: `palvelupiste central publish-config / publish-appointments` refuse a bad file
whole (exit 2, naming the field or line), publish a good one retained, and every device's sync
agent keeps the last good copy on disk — still used after a restart with the broker gone."""
import hashlib
import json
import signal
import subprocess
import sys

import pytest

from bus import topics
from bus.link import Connected
from core.appointments import appointments_from_json
from core.config import load_site
from runtime.files import atomic_write
from sync.downwire import DownwireKeeper
from tests.support.syncproc import REPO, Central, publish_wait, wait_item, wait_until, write_device

SITE = "test-site"
EXAMPLE = (REPO / "assets" / "sites" / "example.toml").read_text(encoding="utf-8")
GOOD = EXAMPLE.replace('id = "example-pp"', f'id = "{SITE}"', 1)


def cli(central, *args):
    cmd = [sys.executable, "-m", "cli", "central", *args, "--broker", central.url, "--username", "publisher",
           "--password-file", central.pwfile("publisher")]
    return subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=60)


def sha(b):
    return hashlib.sha256(b).hexdigest()


@pytest.mark.broker
def test_publish_refuses_bad_files_and_the_agent_keeps_the_last_good_copy(tmp_path):
    c = Central(tmp_path / "central", ["kiosk-1"], site=SITE).start()
    try:
        kiosk = write_device(tmp_path, c, "kiosk-1")
        data = kiosk.parent / "data"
        site_copy, appts_copy, status_file = data / "site.toml", data / "appointments.json", data / "sync-status.json"
        agent = c.start_agent(kiosk)

        # A bad configuration is refused whole, naming the field.
        bad = tmp_path / "bad.toml"
        bad.write_text(GOOD.replace('prefix = "K"', 'prefix = "k1"', 1))
        r = cli(c, "publish-config", SITE, str(bad))
        assert r.returncode == 2 and "services[1] (kela).prefix" in r.stderr, r.stderr
        other = tmp_path / "other.toml"
        other.write_text(EXAMPLE)
        r = cli(c, "publish-config", SITE, str(other))
        assert r.returncode == 2 and "site.id" in r.stderr and "example-pp" in r.stderr, r.stderr

        # A good one reaches the device's disk.
        good = tmp_path / "site.toml"
        good.write_text(GOOD)
        r = cli(c, "publish-config", SITE, str(good))
        assert r.returncode == 0, r.stderr
        wait_until(lambda: site_copy.exists() and site_copy.read_text() == GOOD, 10, what="the site config on disk")
        assert load_site(site_copy).id == SITE

        # Appointments: refused whole naming the line; checked against the published configuration.
        badcsv = tmp_path / "bad.csv"
        badcsv.write_text("code,service,time\nAB123,kela,2026-11-23T10:30\nCD456,nosuch,2026-11-23T11:00\n")
        r = cli(c, "publish-appointments", SITE, str(badcsv))
        assert r.returncode == 2 and "line 3" in r.stderr and "nosuch" in r.stderr, r.stderr
        personal = tmp_path / "personal.csv"
        personal.write_text("code,service,time,name\nAB123,kela,2026-11-23T10:30,Matti\n")
        r = cli(c, "publish-appointments", SITE, str(personal))
        assert r.returncode == 2 and "personal data" in r.stderr, r.stderr
        goodjson = tmp_path / "appts.json"
        goodjson.write_text(json.dumps([{"code": "AB123", "service": "kela", "time": "2026-11-23T10:30"},
                                        {"code": "CD456", "service": "poliisi", "time": "2026-11-23T11:00"}]))
        r = cli(c, "publish-appointments", SITE, str(goodjson))  # no --site-config: the retained one
        assert r.returncode == 0, r.stderr
        wait_until(lambda: appts_copy.exists(), 10, what="appointments on disk")
        appts = appointments_from_json(json.loads(appts_copy.read_text()))
        assert [a.code for a in appts] == ["AB123", "CD456"] and appts[1].service == "poliisi"

        # Something invalid published around the CLI is refused by the device: the copy stays.
        pub = c.link("publisher")
        wait_item(pub, lambda i: isinstance(i, Connected))
        publish_wait(pub, topics.config(SITE), b"[site]\nid = 'test-site'\n", retain=True)
        publish_wait(pub, topics.appointments(SITE), b'[{"code": "X"}]', retain=True)
        wait_until(lambda: json.loads(status_file.read_text()).get("downwire_refused", 0) >= 2, 10,
                   what="the device refusing the bad copies")
        pub.stop()
        assert site_copy.read_text() == GOOD and len(json.loads(appts_copy.read_text())) == 2
        assert not list(data.glob(".*.tmp"))  # atomic writes leave nothing behind

        # Broker gone, agent restarted: the last copy on disk is used.
        c.broker.kill()
        agent.send_signal(signal.SIGTERM)
        assert agent.wait(10) == 0
        status_file.unlink()
        c.start_agent(kiosk, "kiosk-1-again")
        st = wait_until(lambda: status_file.exists() and json.loads(status_file.read_text()), 10)
        assert st["connected"] is False
        assert st["site_config_sha256"] == sha(GOOD.encode()) and st["appointments"] == 2
        assert load_site(site_copy).id == SITE
    finally:
        c.stop_all()


def test_keeper_refuses_wrong_or_broken_copies(tmp_path, example_site):
    k = DownwireKeeper(SITE, tmp_path / "site.toml", tmp_path / "appointments.json")
    assert k.handle(topics.config(SITE), b"") == "ignored"  # a retained message being cleared
    assert k.handle(topics.config(SITE), EXAMPLE.encode()) == "refused"  # another site's
    assert k.handle(topics.config(SITE), b"\xff\xfe") == "refused"
    assert not (tmp_path / "site.toml").exists()
    assert k.handle(topics.config(SITE), GOOD.encode()) == "written"
    assert k.handle(topics.config(SITE), GOOD.encode()) == "unchanged"
    assert k.handle(topics.appointments(SITE), b'[{"code":"AB123","service":"nosuch","at_ms":1}]') == "refused"
    assert k.handle(topics.appointments(SITE), b'{"not": "a list"}') == "refused"
    assert k.handle(topics.appointments(SITE), b'[{"code":"AB123","service":"kela","at_ms":1}]') == "written"
    assert k.refused == 4 and "nosuch" not in (tmp_path / "appointments.json").read_text()


def test_atomic_write_replaces_whole(tmp_path):
    p = tmp_path / "sub" / "f.json"
    atomic_write(p, b"one")
    atomic_write(p, b"two")
    assert p.read_bytes() == b"two" and [x.name for x in p.parent.iterdir()] == ["f.json"]
