"""Bounded everything (issue 11): a kiosk flooding `help` cannot grow the retained state past the
broker's limit, nor keep counters from being answered.

- The budgets (bus.live): the state, every answer and every call message stay within
  MESSAGE_BUDGET, also for the largest content a site can have; what does not fit is shortened
  in the defined order and says so, never dropped silently.
- The turns (hub.turns): one line per device, served in turn and at a bounded rate.
- The flood, end to end: a real Mosquitto with the site broker's packet limit, a real hub process,
  a kiosk sending 10,000 help requests as fast as it can, a counter working meanwhile, a display
  listening; then the same after a hub restart.
"""
from __future__ import annotations

import json
import logging
import math
import queue
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from bus import live, topics
from bus.hubclient import HubClient
from bus.link import Connected, LinkOptions, Message, MqttLink
from core.config import load_device, loads_site
from core.engine import (
    HELP_SHOWN,
    RECENT_CALLS,
    CallNext,
    Engine,
    HelpLimits,
    Needs,
    OpenCounter,
    QueueState,
    Recall,
    RequestHelp,
    TakeTicket,
)
from core.events import Event
from core.store import connect
from hub.service import HubService
from hub.turns import Turns
from tests.support.broker import MosquittoBroker
from tests.support.hubproc import REPO, HubProcess, write_device_config
from tests.support.wait import next_item, wait_until

SITE = "example-pp"
BUDGET = live.MESSAGE_BUDGET
T0 = 1_795_000_000_000  # a weekday morning in November 2026, UTC ms


# --- sites with the largest content --------------------------------------------------------------

def _id(kind: str, i: int) -> str:
    """An id of the longest length ids may have (core.events.valid_id: 64)."""
    return f"{kind}{i}-".ljust(64, "x")


def big_site(services: int, counters: int, kiosks: int) -> str:
    """A site file with the longest ids, every counter serving every service, and `kiosks` kiosks."""
    letters = [chr(65 + i // 26) + chr(65 + i % 26) for i in range(services)]
    out = [f'[site]\nid = "{_id("site", 0)}"\ntimezone = "Europe/Helsinki"\nlanguages = ["fi", "sv", "en"]\n'
           'name = { fi = "Iso", sv = "Stor", en = "Big" }\n']
    sids = [_id("s", i) for i in range(services)]
    for i, (sid, prefix) in enumerate(zip(sids, letters)):
        out.append(f'[[services]]\nid = "{sid}"\nprefix = "{prefix}"\nname = {{ fi = "P", sv = "T", en = "S" }}\n'
                   f'general_advice = {"true" if i == 0 else "false"}\n')
    for i in range(counters):
        out.append(f'[[counters]]\nid = "{_id("c", i)}"\nname = {{ fi = "T", sv = "L", en = "C" }}\n'
                   f'services = {json.dumps(sids)}\n')
    out.append('[[devices]]\nid = "hub-1"\nrole = "hub"\n[[devices]]\nid = "counter-1"\nrole = "counter"\n'
               '[[devices]]\nid = "display-1"\nrole = "display"\n')
    for i in range(kiosks):
        out.append(f'[[devices]]\nid = "{_id("k", i)}"\nrole = "kiosk"\n')
    return "\n".join(out)


class MemEngine:
    """An engine whose commit keeps the events in memory (what a store would return)."""

    def __init__(self, site, limits: HelpLimits | None = None) -> None:
        self.state = QueueState(site, help_limits=limits)
        self.events: list[Event] = []
        self.engine = Engine(self.state, self._commit)

    def _commit(self, items, now):
        out = []
        for etype, data in items:
            ev = Event(uuid.uuid4().hex, self.state.site.id, "hub-1", len(self.events) + 1, etype, now, data)
            self.events.append(ev)
            out.append(ev)
        return out

    def __call__(self, cmd, now) -> dict[str, Any]:
        return self.engine.handle(cmd, now)


def fill_to_the_brim(site_text: str) -> tuple[MemEngine, list[dict[str, Any]]]:
    """Every counter open and serving a customer with every need, a full list of recent calls
    with recalls, and a help flood from every kiosk; returns the engine and every answer."""
    site = loads_site(site_text)
    m = MemEngine(site, HelpLimits(per_device=10, per_site=100, repeat_s=0))
    now = T0
    replies = []
    needs = Needs("uk", True, True)
    for cid in site.counters:
        replies.append(m(OpenCounter(cid), now))
    for sid in site.services:
        for _ in range(2):
            replies.append(m(TakeTicket(sid, "sv", needs), now))
    for cid in site.counters:
        now += 1
        replies.append(m(CallNext(cid), now))
    for cid in list(site.counters)[:RECENT_CALLS]:
        replies.append(m(Recall(cid), now))
    kiosks = [d for d, role in site.devices.items() if role == "kiosk"]
    for i in range(10_000):  # the flood: as many as the limits take, from the longest device ids
        now += 1
        replies.append(m(RequestHelp(kiosks[i % len(kiosks)], "sv"), now))
    return m, replies


def state_of(m: MemEngine) -> dict[str, Any]:
    now = max(e.ts for e in m.events)
    return live.state_message(m.state.snapshot(now), site=m.state.site.id, hub="hub-1".ljust(64, "x"),
                              rev=2**53 - 1, seq=2**53 - 1, heartbeat_s=10.0)


# --- budgets ---------------------------------------------------------------------------------------

def test_the_budget_is_derived_from_the_broker_limit_the_site_broker_is_rendered_with():
    from bus import brokerconf

    conf = brokerconf.render_site_broker_conf(data_dir="/d", password_file="/p", hub_password_file="/h",
                                              acl_file="/a")
    assert f"max_packet_size {live.BROKER_MAX_PACKET}\n" in conf
    assert live.MESSAGE_BUDGET * 8 <= live.BROKER_MAX_PACKET


def test_the_state_of_a_big_site_under_a_help_flood_fits_whole():
    # 40 services and 60 counters, every id 64 characters long: beyond any joint service point.
    m, _ = fill_to_the_brim(big_site(40, 60, 30))
    msg = state_of(m)
    assert msg["help_count"] == 100 and len(msg["help"]) == HELP_SHOWN  # the site cap, the newest few
    fitted = live.fit_state(msg)
    assert fitted.shortened == () and len(fitted.body) <= BUDGET
    assert live.parse_state(fitted.body) == json.loads(live.dumps(msg))


def test_a_state_too_large_is_shortened_in_the_defined_order_and_says_so():
    # 480 counters with the longest ids, 60 of them serving a customer with every need.
    m, _ = fill_to_the_brim(big_site(30, 480, 10))
    msg = state_of(m)
    assert len(live.dumps(msg)) > BUDGET
    fitted = live.fit_state(msg)
    assert len(fitted.body) <= BUDGET
    got = live.parse_state(fitted.body)
    assert got is not None, "the displays must still take it"
    assert got["shortened"] == list(fitted.shortened)
    # Help goes first, then the per-number estimates and the long parked list, then calls, then
    # the counters' details; what is left is whole.
    assert fitted.shortened[:5] == ("help", "eta", "parked", "calls", "counter_details")
    assert got["help"] == [] and got["help_count"] == 100 and got["eta"] == {}
    assert got["services"] == msg["services"] and set(got["counters"]) == set(msg["counters"])
    for cid, c in got["counters"].items():
        assert c["open"] and (c["current"] is None or
                              c["current"]["number"] == msg["counters"][cid]["current"]["number"])


def test_every_answer_fits_the_budget_and_the_state_answer_is_shortened_like_the_state():
    m, replies = fill_to_the_brim(big_site(40, 60, 30))
    # Beyond the site's cap the flood is answered help_full: those answers must fit too.
    assert len(replies) > 10_000 and sum(r.get("ok", False) for r in replies) >= 300
    assert sum(r.get("error") == "help_full" for r in replies) > 9_000
    for r in replies:
        fitted = live.fit_reply(r)
        assert fitted.shortened == () and len(fitted.body) <= BUDGET, r
    # The answer to `state` for the largest site.
    m, _ = fill_to_the_brim(big_site(30, 480, 10))
    fitted = live.fit_reply({"ok": True, **state_of(m)})
    got = json.loads(fitted.body)
    assert len(fitted.body) <= BUDGET and got["ok"] is True and got["shortened"][0] == "help"
    # Any other answer over the budget (a bug) keeps what says what it was, and says so.
    fitted = live.fit_reply({"ok": True, "ticket": "2026-11-23/K001", "number": "K001", "x": "y" * BUDGET})
    assert json.loads(fitted.body) == {"ok": True, "ticket": "2026-11-23/K001", "number": "K001",
                                       "shortened": ["reply"]}


def test_every_call_message_fits_the_budget():
    m, _ = fill_to_the_brim(big_site(40, 60, 30))
    calls = live.call_messages(m.events, m.state, m.state.site.id)
    assert len(calls) == 60 + RECENT_CALLS
    for c in calls:
        fitted = live.fit_call(c)
        assert fitted.shortened == () and len(fitted.body) <= BUDGET
    # One over the budget (a forged event) keeps what a display needs, and says so.
    big = {**calls[0], "service": "s" * BUDGET, "lang": "x" * BUDGET}
    fitted = live.fit_call(big)
    got = live.parse_call(fitted.body)
    assert len(fitted.body) <= BUDGET and got is not None and got["shortened"] == ["call"]
    assert (got["number"], got["counter"], got["recall"]) == (big["number"], big["counter"], big["recall"])


def test_the_hub_publishes_a_state_over_budget_shortened_and_logs_it(tmp_path, broker, caplog):
    # 600 services: a state of ~80 KB before anyone has done anything; only the last step helps.
    text = big_site(600, 1, 1).replace(_id("site", 0), SITE)
    (tmp_path / "site.toml").write_text(text, encoding="utf-8")
    cfg = write_device_config(tmp_path / "hub", broker.port, site_config=tmp_path / "site.toml")
    svc = HubService(load_device(cfg), link_kw={"min_backoff_s": 0.05})
    states: queue.Queue = queue.Queue()
    watcher = MqttLink(LinkOptions("127.0.0.1", broker.port, "watcher", min_backoff_s=0.05,
                                   subscriptions=[(topics.state(SITE), 1)]), states).start()
    try:
        caplog.set_level(logging.WARNING, logger="hub.service")
        svc.start_in_thread()
        with HubClient(broker.url, SITE, "counter-1", min_backoff_s=0.05) as counter:
            wait_until(lambda: counter.request({"cmd": "state"}, timeout=0.5).get("ok"), what="the hub to answer")
            assert counter.request({"cmd": "open", "counter": _id("c", 0)})["ok"]
            reply = counter.request({"cmd": "state"})
        assert reply["ok"] and reply["shortened"][-1] == "services" and reply["services"] == {}
        msg = next_item(states, lambda x: isinstance(x, Message) and b'"shortened"' in x.payload,
                        what="a shortened state")
        assert len(msg.payload) <= BUDGET and live.parse_state(msg.payload) is not None
        assert svc.running and svc.shortened >= 2
        assert any("shortened" in r.getMessage() for r in caplog.records)
    finally:
        watcher.stop()
        svc.stop()


# --- turns -----------------------------------------------------------------------------------------

def _msg(device: str, i: int) -> Message:
    return Message(topics.command(SITE, device), str(i).encode(), False, 0)


def test_turns_serve_devices_in_turn_at_a_bounded_rate_and_drop_the_oldest_beyond_the_line():
    t = Turns(per_device=3, rate=10.0, burst=2.0)
    for i in range(5):
        t.put(_msg("kiosk-1", i), 0.0)
    t.put(_msg("counter-1", 0), 0.0)
    # The kiosk's line holds 3: its two oldest are dropped and counted.
    assert len(t) == 4 and t.dropped == {topics.command(SITE, "kiosk-1"): 2}
    order = [(m.topic.rsplit("/", 1)[1], m.payload) for m in iter(lambda: t.take(0.0), None)]
    # The counter does not wait behind the kiosk; the kiosk's burst of 2 is used up.
    assert order == [("kiosk-1", b"2"), ("counter-1", b"0"), ("kiosk-1", b"3")]
    assert t.take(0.0) is None and t.wait_s(0.0) == pytest.approx(0.1)
    assert t.take(0.11).payload == b"4"
    assert len(t) == 0 and t.wait_s(0.11) is None
    # Pausing a moment gives no fresh burst; resting until the burst is full again does.
    t.put(_msg("kiosk-1", 5), 0.11)
    assert t.take(0.11) is None and t.take(0.22).payload == b"5"
    t.forget_rested(0.25)
    t.put(_msg("kiosk-1", 6), 0.25)
    assert t.take(0.25) is None
    assert t.take(0.33).payload == b"6"
    t.forget_rested(5.0)
    for i in (7, 8, 9):
        t.put(_msg("kiosk-1", i), 5.0)
    assert [t.take(5.0), t.take(5.0), t.take(5.0)][2] is None and len(t) == 1


# --- the flood, end to end -----------------------------------------------------------------------

def flood(port: int, n: int, linger_s: float) -> None:
    """A kiosk gone wrong (run in a process of its own): `n` help requests as fast as paho sends
    them, every one with its own correlation data, without waiting for answers; then it listens
    `linger_s` seconds more and prints what it got as one JSON line."""
    replies: queue.Queue = queue.Queue()
    link = MqttLink(LinkOptions("127.0.0.1", port, f"kiosk-1-{uuid.uuid4().hex[:8]}", max_inflight=1000,
                                subscriptions=[(topics.reply(SITE, "kiosk-1"), 1)]), replies).start()
    next_item(replies, lambda x: isinstance(x, Connected), what="the flooder's connection")
    body = json.dumps({"cmd": "help", "device": "kiosk-1", "lang": "fi"}).encode()
    t0 = time.monotonic()
    for _ in range(n):
        link.publish(topics.command(SITE, "kiosk-1"), body, qos=1, response_topic=topics.reply(SITE, "kiosk-1"),
                     correlation_data=uuid.uuid4().bytes)
    print(json.dumps({"sent_s": time.monotonic() - t0}), flush=True)
    answers: dict[str, int] = {}
    requests = set()
    deadline = time.monotonic() + linger_s
    while (left := deadline - time.monotonic()) > 0:
        try:
            item = replies.get(timeout=left)
        except queue.Empty:
            break
        if isinstance(item, Message):
            r = json.loads(item.payload)
            key = "ok" if r.get("ok") else r.get("error", "?")
            answers[key] = answers.get(key, 0) + 1
            requests.add(r.get("request"))
    link.stop()
    print(json.dumps({"answers": answers, "requests": sorted(map(str, requests))}), flush=True)


def p99(xs: list[float]) -> float:
    s = sorted(xs)
    return s[math.ceil(0.99 * len(s)) - 1]


def help_events(store: Path) -> int:
    conn = connect(store, readonly=True)
    try:
        return conn.execute("SELECT count(*) FROM events WHERE type = 'help.requested'").fetchone()[0]
    finally:
        conn.close()


@pytest.mark.broker
def test_a_kiosk_flooding_help_does_not_hold_up_counters_nor_displays_also_after_a_restart(tmp_path):
    # The site broker's packet limit, as the site broker is configured (bus.brokerconf renders it).
    broker = MosquittoBroker(tmp_path / "broker", extra=f"max_packet_size {live.BROKER_MAX_PACKET}\n").start()
    hub = HubProcess(tmp_path / "hub", broker.port)
    states: queue.Queue = queue.Queue()
    display = MqttLink(LinkOptions("127.0.0.1", broker.port, "display-1-test", min_backoff_s=0.05,
                                   subscriptions=[(topics.state(SITE), 1)]), states)
    try:
        hub.start()
        display.start()
        counter = HubClient(broker.url, SITE, "counter-1", min_backoff_s=0.05, max_backoff_s=0.5).start()
        assert counter.request({"cmd": "open", "counter": "2"})["ok"]
        sizes: list[int] = []

        def drain_states() -> int:
            n = 0
            while True:
                try:
                    item = states.get_nowait()
                except queue.Empty:
                    return n
                if isinstance(item, Message) and item.topic == topics.state(SITE):
                    sizes.append(len(item.payload))
                    assert live.parse_state(item.payload) is not None
                    n += 1

        def phase() -> tuple[list[float], dict]:
            """The flood, with the counter taking and calling numbers every 10 ms meanwhile."""
            drain_states()
            proc = subprocess.Popen([sys.executable, "-c", "import sys; from tests.test_help_flood import flood; "
                                     "flood(int(sys.argv[1]), 10_000, 3.0)", str(broker.port)],
                                    cwd=REPO, stdout=subprocess.PIPE, text=True)
            assert proc.stdout is not None
            latencies: list[float] = []
            cmds = [{"cmd": "take", "service": "kela"}, {"cmd": "call", "counter": "2"}]
            sent_line: list[str] = []
            reader = threading.Thread(target=lambda: sent_line.append(proc.stdout.readline()))
            reader.start()
            # While the kiosk sends, and one second after (the hub still reads what it sent).
            after: float | None = None
            while after is None or time.monotonic() < after:
                t = time.monotonic()
                r = counter.request(cmds[len(latencies) % 2], timeout=5.0)
                latencies.append(time.monotonic() - t)
                assert r["ok"], r
                if after is None and sent_line:
                    after = time.monotonic() + 1.0
                time.sleep(0.01)
            reader.join()
            out, _ = proc.communicate(timeout=30)
            assert proc.returncode == 0
            got = json.loads(out.strip().splitlines()[-1])
            assert drain_states() >= len(latencies) // 2, "the display got fewer states than the calls made"
            return latencies, got

        lat1, kiosk1 = phase()
        hub.terminate()
        hub.start()
        lat2, kiosk2 = phase()

        assert len(lat1) >= 50 and len(lat2) >= 50
        print(f"counter p99: {p99(lat1) * 1000:.0f} ms, after the restart {p99(lat2) * 1000:.0f} ms; "
              f"max {max(lat1 + lat2) * 1000:.0f} ms; {len(lat1)} + {len(lat2)} commands")
        assert p99(lat1) < 0.1, f"p99 {p99(lat1) * 1000:.0f} ms during the flood"
        assert p99(lat2) < 0.1, f"p99 {p99(lat2) * 1000:.0f} ms during the flood after the restart"
        # The kiosk was answered (as far as its turns went), every time with its one open request:
        # 20,000 presses, one stored request, across the restart.
        for k in (kiosk1, kiosk2):
            assert set(k["answers"]) == {"ok"} and k["answers"]["ok"] >= 100, k["answers"]
        assert kiosk1["requests"] == kiosk2["requests"] and len(kiosk1["requests"]) == 1
        assert help_events(hub.store_path) == 1
        # Every state the display got was within the budget; a display arriving now gets one too.
        assert sizes and max(sizes) <= BUDGET
        late: queue.Queue = queue.Queue()
        latecomer = MqttLink(LinkOptions("127.0.0.1", broker.port, "display-late", min_backoff_s=0.05,
                                         subscriptions=[(topics.state(SITE), 1)]), late).start()
        try:
            msg = next_item(late, lambda x: isinstance(x, Message), what="the retained state")
            got = live.parse_state(msg.payload)
            assert msg.retain and got is not None and len(msg.payload) <= BUDGET and got["help_count"] == 1
        finally:
            latecomer.stop()
        assert "Traceback" not in hub.log_text()
        assert "staff link connected" in hub.log_text()  # the counter's commands came on a link of their own
        counter.close()
    finally:
        display.stop()
        hub.kill()
        broker.stop()
