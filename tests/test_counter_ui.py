"""The clerk's side of the queue on the real panel, end to end under Xvfb: the real CounterApp
(its own process, simulated touches and keys) against the real hub on a real Mosquitto, on the
example site with outcomes added (tests/ui_scenarios/counter.py).

Call a number (keyboard and keypad), park and call back, a no-show put back in the queue (and
called before those who came after it), finish with an outcome, without one, and one tap where the
service has none; then what the hub stored: ticket.called "by_number", ticket.parked,
ticket.requeued, ticket.finished with "outcome" — and nothing about the person.

In Finnish and in Swedish. Screenshots: test-output/screenshots/counter-number-keypad.png,
counter-parked-no-show.png, counter-outcome-chooser.png, counter-clerk-panel.png (and -sv.png).
"""
from __future__ import annotations

import pytest

from tests.ui_scenarios.counter import hub_with_outcomes, write_site_with_outcomes
from tests.ui_scenarios.display_support import SCREENSHOTS, ScenarioThread, command, join_all

pytestmark = [pytest.mark.ui, pytest.mark.broker, pytest.mark.slow]

SHOTS = ("counter-number-keypad", "counter-parked-no-show", "counter-outcome-chooser", "counter-clerk-panel")


@pytest.mark.parametrize("lang", ["fi", "sv"])
def test_clerk_calls_a_number_parks_requeues_and_records_outcomes(tmp_path, broker, lang):
    sync = tmp_path / "sync"
    sync.mkdir()
    site = write_site_with_outcomes(tmp_path / "site.toml")
    hub = hub_with_outcomes(tmp_path / "hub", broker.url, heartbeat_s=1.0)
    with hub:
        for service, number in (("kela", "K001"), ("kela", "K002"), ("kela", "K003"), ("digituki", "G001")):
            r = command(broker.url, "kiosk-1", {"cmd": "take", "service": service,
                                                "needs": {"hearing_loop": True} if number == "K003" else {}})
            assert r["ok"] and r["number"] == number, r
        th = ScenarioThread("tests.ui_scenarios.counter:clerk_flow", tmp_path / "c1", sync,
                            {"broker": broker.url, "sync": str(sync), "lang": lang, "site": str(site)}, timeout=120)
        th.start()
        join_all([th], 150)
        events = hub.service.call(lambda s: s.store.events())
        state = command(broker.url, "counter-1", {"cmd": "state"})

    def of(type_: str) -> list[dict]:
        return [e.data for e in events if e.type == type_]

    called = [(d["number"], d.get("by_number", False), d.get("from")) for d in of("ticket.called")]
    assert called == [("K003", True, None), ("K001", False, None), ("K003", True, "parked"),
                      ("K001", False, None), ("G001", True, None)], called
    assert [(d["number"], d["counter"]) for d in of("ticket.parked")] == [("K003", "1")]
    assert [d["ticket"].split("/")[1] for d in of("ticket.no_show")] == ["K001"]
    assert [(d["number"], d["counter"]) for d in of("ticket.requeued")] == [("K001", "1")]
    finished = [(d["ticket"].split("/")[1], d.get("outcome")) for d in of("ticket.finished")]
    assert finished == [("K003", "application"), ("K001", None), ("G001", None)], finished
    # an outcome says what came of the visit, nothing about the person
    for d in of("ticket.finished"):
        assert set(d) <= {"ticket", "counter", "service", "service_s", "outcome"}, d
    # the refused commands (K099 nobody has, K003 served already) stored nothing
    assert not any(e.data.get("number") == "K099" for e in events)
    assert state["ok"] and state["parked"] == [] and state["no_shows"] == []
    assert state["services"]["kela"]["waiting"] == 1          # K002

    for name in SHOTS:
        p = SCREENSHOTS / (f"{name}.png" if lang == "fi" else f"{name}-{lang}.png")
        assert p.exists() and p.stat().st_size > 10_000, p
