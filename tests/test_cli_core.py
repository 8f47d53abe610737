"""The core subcommands as a technician runs them: `python -m cli ...` in a subprocess."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from core.estimate import ABSENT_S
from core.store import EventStore
from tests.support.procs import REPO, child_env
from tests.support.sites import EXAMPLE_SITE

EXAMPLE = EXAMPLE_SITE  # open all day: the tests run at any hour


def cli(*args: str, cwd: Path = REPO, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cli", *args], cwd=cwd, env=child_env(), capture_output=True,
                          text=True, timeout=timeout)


def test_check_config_ok():
    r = cli("check-config", str(EXAMPLE))
    assert r.returncode == 0, r.stderr
    assert "ok" in r.stdout and "example-pp" in r.stdout and "14 services" in r.stdout


def test_check_config_names_the_field(tmp_path):
    bad = tmp_path / "bad.toml"
    text = EXAMPLE.read_text(encoding="utf-8")
    text = text.replace('sv = "FPA"\n', "", 1).replace('services = ["poliisi"]', 'services = ["poliisi", "passi"]')
    bad.write_text(text, encoding="utf-8")
    r = cli("check-config", str(bad))
    assert r.returncode == 2
    assert "2 problem(s)" in r.stderr
    assert "services[1] (kela).name.sv: missing Swedish text" in r.stderr
    assert "counters[2] (3).services: unknown service 'passi'" in r.stderr
    r = cli("check-config", str(tmp_path / "missing.toml"))
    assert r.returncode == 2 and "file: cannot read" in r.stderr


def test_check_config_device(tmp_path):
    dev = tmp_path / "device.toml"
    dev.write_text('[device]\nid = "kiosk-1"\nrole = "kiosk"\nsite = "example-pp"\n\n'
                   '[site_broker]\nurl = "mqtt://hub.local:1883"\n')
    r = cli("check-config", "--device", str(dev))
    assert r.returncode == 0 and "role kiosk" in r.stdout
    dev.write_text('[device]\nid = "kiosk-1"\nrole = "kiosk"\nsite = "example-pp"\n\n[site_broker]\nurl = "http://x"\n')
    r = cli("check-config", "--device", str(dev))
    assert r.returncode == 2 and "site_broker.url" in r.stderr


def test_queue_commands_against_a_temp_store(tmp_path):
    store = tmp_path / "hub.sqlite"

    def q(*args):
        r = cli("queue", "--store", str(store), "--site", str(EXAMPLE), "--json", *args)
        return r.returncode, json.loads(r.stdout)

    rc, r = q("take", "kela", "--lang", "sv", "--interpreter", "ru")
    # No counter open yet: one is assumed to open soon (core.estimate.ABSENT_S), nobody is ahead.
    assert rc == 0 and r["ok"] and r["number"] == "K001" and r["ahead"] == 0 and r["est_wait_s"] == ABSENT_S
    rc, r = q("take", "kela")
    assert r["number"] == "K002" and r["ahead"] == 1
    rc, r = q("call", "2")
    assert rc == 1 and r["error"] == "counter_closed"
    rc, r = q("open", "2")
    assert rc == 0 and r == {"ok": True, "counter": "2", "open": True, "seq": 3}
    rc, r = q("call", "2")
    assert rc == 0 and r["number"] == "K001" and r["needs"]["interpreter"] == "ru" and r["lang"] == "sv"
    rc, r = q("state")
    assert rc == 0 and r["services"]["kela"]["waiting"] == 1
    assert r["counters"]["2"]["open"] is True and r["counters"]["2"]["current"]["number"] == "K001"
    rc, r = q("finish", "2")
    assert rc == 0 and r["number"] == "K001"
    rc, r = q("state")
    assert r["counters"]["2"]["current"] is None and r["calls"][0]["number"] == "K001"
    rc, r = q("take", "nope")
    assert rc == 1 and r["error"] == "unknown_service"
    # Everything went through the store, in order.
    with EventStore(store, "example-pp", "hub-1") as s:
        assert [e.type for e in s.events()] == ["ticket.issued", "ticket.issued", "counter.opened",
                                                 "ticket.called", "ticket.finished"]
    # Without --json: a line a person can read.
    r = cli("queue", "--store", str(store), "take", "poliisi")
    assert r.returncode == 0 and r.stdout.startswith("P001  Police permit services")
    # --json after the action too, as the README writes it.
    r = cli("queue", "--store", str(store), "state", "--json")
    assert r.returncode == 0 and json.loads(r.stdout)["services"]["poliisi"]["waiting"] == 1


def test_demo_summary(tmp_path):
    out = tmp_path / "demo"
    # The engine-only day: `demo` without it starts the whole service point (brokers, apps).
    r = cli("demo", "--engine-only", "--output", str(out), "--tickets", "50")
    assert r.returncode == 0, r.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["tickets"] == 50 and summary["called"] == 50 and summary["finished"] == 50
    assert sum(summary["per_service"].values()) == 50
    assert summary["events"] >= 50 * 3 and summary["wait_min_median"] is not None
    assert "tickets 50, called 50, finished 50" in r.stdout
    with EventStore(out / "simulated-hub.sqlite", "example-pp", "hub-1") as s:
        events = s.events()
        assert s.integrity_check() == "ok" and len(events) == summary["events"]
        numbers = [(e.data["service"], e.data["number"]) for e in events if e.type == "ticket.issued"]
        assert len(set(numbers)) == 50


def test_queue_words_for_a_service_closed_for_the_day():
    """A null estimate (no counter of the service works any more today) is said in words, not
    divided by 60 (which raised a TypeError)."""
    from cli.queue_cmd import _human
    from core.config import load_site

    site = load_site(EXAMPLE)
    state = {"ok": True, "services": {"kela": {"waiting": 2, "est_wait_s": None}}, "counters": {}}
    assert "no more service today" in _human(state, site, "state")
    take = {"ok": True, "number": "K003", "service": "kela", "ahead": 2, "est_wait_s": None, "ticket": "d/K003"}
    assert "no more service today" in _human(take, site, "take")
    assert "about 5 min" in _human({**take, "est_wait_s": 300}, site, "take")
