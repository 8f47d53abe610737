"""Injected events through a real central broker (the project's ACL) into a real ingest process:
a kiosk's feedback and tickets, and personal data in any event, are dead-lettered, the kiosk's
ack still moves past them, the figures stay right, and a device missing from its site's
published configuration is held until the configuration names it."""
import json
import subprocess
import sys

import pytest

from bus import topics
from bus.link import Connected, Message
from core.events import Event, new_event_id, now_ms
from core.resources import example_site
from tests.support.syncproc import REPO, Central, publish_wait, wait_ingest_subscribed, wait_item, wait_until

SITE = "example-pp"
PERSONAL = ("Matti Meikäläinen", "131052-308T", "040 123 4567")

pytestmark = pytest.mark.broker


def batch(device, events):
    return json.dumps({"site": SITE, "device": device, "events": events}).encode()


def ev(device, seq, etype, data, ts=None):
    return Event(new_event_id(), SITE, device, seq, etype, ts or now_ms() - 60_000, data).to_dict()


def fb(rating):
    return {"rating": rating, "scale": 5}


def everything_stored_as_text(c):
    rows = []
    for table in ("events", "dead_letter", "refused", "devices", "watermarks"):
        rows += [repr(r) for r in c.query(f"SELECT * FROM {table}")]
    return "\n".join(rows)


@pytest.fixture
def central(tmp_path, central_dsn):
    c = Central(tmp_path / "central", ["hub-1", "kiosk-1", "feedback-1", "kiosk-9"], site=SITE,
                pg_dsn=central_dsn).start()
    yield c
    c.stop_all()


def test_injected_events_are_dead_lettered_and_the_figures_stay_right(central):
    c = central
    config = example_site().read_text(encoding="utf-8")
    c.start_ingest()
    pub = c.link("publisher")
    wait_item(pub, lambda i: isinstance(i, Connected))
    assert publish_wait(pub, topics.config(SITE), config.encode(), retain=True).code in (0, 0x10)
    wait_until(lambda: len(c.query("SELECT * FROM devices WHERE site=?", (SITE,))) == 6, 15,
               what="the ingest registering the site's devices")

    links = {}
    for dev in ("kiosk-1", "feedback-1", "kiosk-9"):
        links[dev] = c.link(topics.central_username(SITE, dev), subscriptions=[(topics.ack(SITE, dev), 1)])
        wait_item(links[dev], lambda i: isinstance(i, Connected))
    wait_ingest_subscribed(links["feedback-1"], SITE, "feedback-1")

    def acked(dev, seq):
        return lambda: any(isinstance(i, Message) and json.loads(i.payload)["seq"] == seq
                           for i in drain_inbox(links[dev]))

    # The feedback terminal's five real answers.
    good = [ev("feedback-1", i, "feedback.given", fb(5)) for i in range(1, 6)]
    publish_wait(links["feedback-1"], topics.events(SITE, "feedback-1"), batch("feedback-1", good))
    wait_until(acked("feedback-1", 5), 15, what="feedback-1 acked to 5")

    # The kiosk, with its own credentials: 50 tickets, 50 one-face answers, one answer with a
    # name, identity code and phone number, one event of a type nobody writes in that shape,
    # and then a real printer fault of its own.
    kiosk = [ev("kiosk-1", i, "ticket.issued", {"ticket": f"2026-12-01/K{i:03d}", "number": f"K{i:03d}",
                                                "service": "kela", "day": "2026-12-01", "kind": "walk_in"})
             for i in range(1, 51)]
    kiosk += [ev("kiosk-1", 50 + i, "feedback.given", fb(1)) for i in range(1, 51)]
    kiosk.append(ev("kiosk-1", 101, "feedback.given", {**fb(1), "name": PERSONAL[0], "hetu": PERSONAL[1],
                                                        "phone": PERSONAL[2]}))
    kiosk.append(ev("kiosk-1", 102, "printer.fault", {"reason": "paper_out", "rev": "x", "kind": {}}))
    kiosk.append(ev("kiosk-1", 103, "printer.fault", {"reason": "paper_out", "status": "paper_out"}))
    publish_wait(links["kiosk-1"], topics.events(SITE, "kiosk-1"), batch("kiosk-1", kiosk))
    # The ack moves past every refused event: the kiosk does not send them again forever.
    wait_until(acked("kiosk-1", 103), 15, what="kiosk-1 acked to 103")
    rows = c.query("SELECT seq, type FROM events WHERE device='kiosk-1'")
    assert rows == [(103, "printer.fault")]
    assert [r[0] for r in c.query("SELECT seq FROM refused WHERE device='kiosk-1' ORDER BY seq")] == \
        list(range(1, 103))
    reasons = [r[0] for r in c.dead_letters() if r[3] == "kiosk-1"]
    assert len(reasons) == 102
    assert sum("a kiosk does not write ticket.issued" in r for r in reasons) == 50
    assert sum("a kiosk does not write feedback.given" in r for r in reasons) == 51
    assert any("unknown key" in r for r in reasons)
    stored = everything_stored_as_text(c)
    for word in PERSONAL:
        assert word not in stored, word

    # A device with central credentials that its site's configuration does not name: held.
    k9 = [ev("kiosk-9", 1, "printer.fault", {"reason": "cover_open"})]
    publish_wait(links["kiosk-9"], topics.events(SITE, "kiosk-9"), batch("kiosk-9", k9))
    wait_until(lambda: any("kiosk-9" in r[0] and "held" in r[0] for r in c.dead_letters()), 15,
               what="kiosk-9's batch held")
    assert c.count("kiosk-9") == 0 and c.watermark("kiosk-9") == 0
    # Once the published configuration names it, its resend is stored.
    publish_wait(pub, topics.config(SITE), (config + '\n[[devices]]\nid = "kiosk-9"\nrole = "kiosk"\n').encode(),
                 retain=True)
    wait_until(lambda: len(c.query("SELECT * FROM devices WHERE site=?", (SITE,))) == 7, 15,
               what="kiosk-9 registered")
    publish_wait(links["kiosk-9"], topics.events(SITE, "kiosk-9"), batch("kiosk-9", k9))
    wait_until(acked("kiosk-9", 1), 15, what="kiosk-9 acked to 1")
    assert c.count("kiosk-9") == 1

    for link in (*links.values(), pub):
        link.stop()
    # The figures: satisfaction is the feedback terminal's alone, no ticket was invented.
    out = subprocess.run([sys.executable, "-m", "cli", "central", "figures", "--db", c.db, "--json"],
                         cwd=REPO, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    month = next(iter(json.loads(out.stdout)[SITE].values()))
    site = month["services"]["*"]
    assert site["satisfaction"]["n"] == 5 and site["satisfaction"]["mean_of_5"] == 5.0
    assert site["tickets"] == 0 and month["printer_faults"] == 2


def drain_inbox(link):
    items = []
    while True:
        try:
            items.append(link.inbox.get_nowait())
        except Exception:
            return items
