"""Following one's turn on a phone end to end, with the real parts (issue 15): the demo's service
point without its apps (the site broker with the project's ACL and its bridge, the central broker
over TLS, the hub, the ingest, the sync agents, PostgreSQL, the web service with its follow link),
tickets taken with the queue CLI as the kiosk, called as the counter, and the page in Debian's
Chromium. The bridge reaches the central broker through a cable the test can pull
(sim.localnet.LinkCutter)."""
from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest

from core.store import EventStore
from sim.demo import ServicePoint
from sim.localnet import LinkCutter
from tests.support.wait import wait_until

REPO = Path(__file__).resolve().parent.parent
PHONE = {"width": 360, "height": 640}


@pytest.fixture(scope="module")
def point(tmp_path_factory):
    sp = ServicePoint(tmp_path_factory.mktemp("e2e") / "point", headless=True, apps=False)
    sp.prepare()
    cable = LinkCutter(sp.central_port).start()
    conf = sp.work / "site-broker" / "mosquitto.conf"
    conf.write_text(conf.read_text().replace(f"address 127.0.0.1:{sp.central_port}\n",
                                             f"address 127.0.0.1:{cable.port}\n"))
    try:
        sp.start_infrastructure()
        # the hub answers once it has started
        wait_until(lambda: queue(sp, "counter-1", "open", "1")["ok"], 60, "the hub's first answer")
        for counter in ("2", "3"):
            assert queue(sp, "counter-1", "open", counter)["ok"]
        yield sp, cable
    finally:
        sp.stop()
        cable.stop()


def queue(sp: ServicePoint, device: str, *args: str) -> dict:
    """The queue CLI against the running hub, speaking as `device` (its own password)."""
    out = subprocess.run([sys.executable, "-m", "cli", "queue", "--site", str(sp.site_file), "--broker",
                          f"mqtt://127.0.0.1:{sp.site_port}", "--device", device, "--password-file",
                          str(sp.secret(device)), "--json", *args], cwd=REPO, capture_output=True, text=True,
                         timeout=60)
    assert out.stdout, out.stderr
    return json.loads(out.stdout)


@pytest.fixture
def phone(browser):
    ctx = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    yield ctx.new_page()
    ctx.close()


def hub_events(sp: ServicePoint, etype: str) -> list:
    store = EventStore(sp.work / "hub-1" / "events.sqlite", sp.site.id, "hub-1", check=False)
    try:
        return [e for e in store.iter_events() if e.type == etype]
    finally:
        store.close()


def page_url(sp: ServicePoint, token: str) -> str:
    return f"{sp.web.url}/t/{sp.site.id}/{token}"


def test_take_see_the_place_then_the_counter(point, phone):
    sp, _ = point
    first = queue(sp, "kiosk-1", "take", "kela", "--lang", "fi")
    mine = queue(sp, "kiosk-1", "take", "kela", "--lang", "fi")
    assert mine["ok"] and mine["token"] and mine["ahead"] == 1
    phone.goto(page_url(sp, mine["token"]))
    wait_until(lambda: (phone.reload() or True) and mine["number"] in phone.inner_text("h1"), 15,
               "the ticket's page, through the bridge")
    phone.wait_for_selector("text=Edelläsi on 1 asiakas", timeout=5000)
    assert first["number"] not in phone.inner_text("main")
    # The first is called, then ours: the open page follows by itself.
    assert queue(sp, "counter-1", "call", "1")["number"] == first["number"]
    phone.wait_for_selector("text=Olet seuraavana", timeout=5000)
    assert queue(sp, "counter-1", "call", "2")["number"] == mine["number"]
    phone.wait_for_selector(".called", timeout=5000)
    assert "Tiski 2" in phone.inner_text(".called")
    for c in ("1", "2"):
        queue(sp, "counter-1", "finish", c)


def test_im_not_coming_cancels_once_at_the_hub_and_in_the_centre(point, phone):
    sp, _ = point
    t = queue(sp, "kiosk-1", "take", "neuvonta", "--lang", "en")
    phone.goto(page_url(sp, t["token"]))
    wait_until(lambda: (phone.reload() or True) and t["number"] in phone.inner_text("h1"), 15, "the page")
    phone.click("text=I'm not coming")
    phone.click("button.danger")
    phone.wait_for_selector("text=You cancelled this ticket", timeout=10_000)
    mine = [e for e in hub_events(sp, "ticket.cancelled") if e.data["ticket"] == t["ticket"]]
    assert [e.data["reason"] for e in mine] == ["customer"]
    # Pressed again: nothing more (the ticket is no longer waiting).
    phone.goto(page_url(sp, t["token"]) + "/cancel?lang=en")
    assert phone.locator("button.danger").count() == 0
    with psycopg.connect(sp.central_db) as conn:
        def central() -> int:
            return conn.execute("SELECT count(*) FROM events WHERE type = 'ticket.cancelled' AND data LIKE %s",
                                (f'%"ticket":"{t["ticket"]}"%',)).fetchone()[0]
        wait_until(lambda: central() == 1, 30, "the cancellation in the central database")
    assert len([e for e in hub_events(sp, "ticket.cancelled") if e.data["ticket"] == t["ticket"]]) == 1


def test_a_cut_link_is_said_and_caught_up_within_5_s(point, phone):
    sp, cable = point
    t = queue(sp, "kiosk-1", "take", "poliisi", "--lang", "sv")
    phone.goto(page_url(sp, t["token"]))
    wait_until(lambda: (phone.reload() or True) and t["number"] in phone.inner_text("h1"), 15, "the page")
    cable.cut()
    phone.wait_for_selector(".down", timeout=10_000)
    assert "kl." in phone.inner_text(".down") or ":" in phone.inner_text(".down")  # when it was last known
    # The site goes on without the centre: the ticket is called meanwhile.
    assert queue(sp, "counter-1", "call", "3")["number"] == t["number"]
    time.sleep(1)  # a moment of a real cut: nothing may reach the page now
    assert phone.locator(".called").count() == 0
    cable.mend()
    t0 = time.monotonic()
    phone.wait_for_selector(".called", timeout=10_000)
    caught_up = time.monotonic() - t0
    phone.wait_for_selector(".down", state="detached", timeout=5_000)
    assert caught_up <= 5.0, f"caught up {caught_up:.1f} s after the link came back"
    assert "Lucka 3" in phone.inner_text(".called")
