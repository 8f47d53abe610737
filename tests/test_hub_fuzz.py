"""Fuzzing the hub: thousands of random payloads (bytes, random JSON, near-valid commands) from
random devices. Every one must get an answer {"ok": true|false, ...}; the hub must stay alive,
hand out no number twice, and its state must stay the fold of its store.

The bulk (hypothesis, then a seeded generator) goes straight into `HubService.handle_command`
(the hub's own entry: size and role checks, the state command, the authority); a thousand go
over a real Mosquitto to a running hub, pipelined, with random devices in the topic and with and
without a response topic.
"""
from __future__ import annotations

import json
import queue
import random
import string
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bus import topics
from bus.link import LinkOptions, Message, MqttLink
from core.commands import MAX_COMMAND_BYTES
from core.config import load_device
from core.engine import QueueState
from hub.service import HubService
from tests.support.hubproc import write_device_config

SITE = "example-pp"
DEVICES = ["hub-1", "kiosk-1", "display-1", "counter-1", "counter-2", "feedback-1"]
CMDS = ["take", "checkin", "call", "recall", "finish", "no_show", "transfer", "cancel", "open", "close",
        "help", "help_answered", "state"]
SERVICES = ["kela", "neuvonta", "poliisi", "digituki", "vero"]
COUNTERS = ["1", "2", "3", "H1"]

# --- hypothesis strategies (the bulk) -------------------------------------------------------------

junk = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), st.text(max_size=80),
                 st.lists(st.integers(), max_size=3), st.dictionaries(st.text(max_size=5), st.integers(), max_size=2))
json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
                           lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=8), c, max_size=4),
                           max_leaves=15)


def weighted(*pairs):
    """One of the strategies, with the given weights (one_of would take repeats only once)."""
    total = sum(w for w, _ in pairs)

    def pick(k):
        for w, strat in pairs:
            if k < w:
                return strat
            k -= w
    return st.integers(0, total - 1).flatmap(pick)


def mostly(good):
    """Usually a good value, sometimes junk."""
    return weighted((4, good), (1, junk))


near_valid = st.fixed_dictionaries(
    {"cmd": mostly(st.sampled_from(CMDS))},
    optional={
        "service": mostly(st.sampled_from(SERVICES)),
        "counter": mostly(st.sampled_from(COUNTERS)),
        "lang": mostly(st.sampled_from(["fi", "sv", "en", "so"])),
        "needs": mostly(st.fixed_dictionaries({}, optional={"interpreter": mostly(st.just("ar")),
                                                            "hearing_loop": mostly(st.booleans()),
                                                            "accessible_room": st.booleans()})),
        "ticket": mostly(st.sampled_from(["x", "2026-11-23/K001"])),
        "code": mostly(st.just("ABC-123")),
        "reason": junk, "device": mostly(st.sampled_from(DEVICES)),
        "request": junk, "extra": json_values,
    })
payloads = weighted(
    (10, st.binary(max_size=200)),
    (10, json_values.map(lambda v: json.dumps(v).encode())),
    (60, near_valid.map(lambda v: json.dumps(v).encode())),
    (15, near_valid.map(lambda v: json.dumps(v, ensure_ascii=False))),  # str as well as bytes
    (3, st.integers(1, 6).map(lambda k: b"[" * (k * 1000))),
    (2, st.just(json.dumps({"cmd": "take", "service": "kela", "pad": "ä" * (MAX_COMMAND_BYTES // 2)}))),
)
devices = weighted((8, st.sampled_from(DEVICES)),
                   (1, st.text(string.ascii_letters + string.digits + "-_.", min_size=1, max_size=20)))


def check_answer(r, payload=None):
    assert isinstance(r, dict), r
    assert isinstance(r.get("ok"), bool), (payload, r)
    if not r["ok"]:
        assert isinstance(r.get("error"), str) and r["error"], (payload, r)
        assert isinstance(r.get("message"), str), (payload, r)
    json.dumps(r)  # it can be sent


def check_consistent(svc: HubService) -> None:
    """The state is the fold of the store; no number was handed out twice in a day."""
    now = svc.clock()
    fresh = QueueState(svc.site).apply_all(svc.store.iter_events())
    assert fresh.snapshot(now) == svc.authority.snapshot(now)
    issued = [e.data["ticket"] for e in svc.store.iter_events() if e.type == "ticket.issued"]
    assert len(issued) == len(set(issued))


def test_fuzz_handle_command(tmp_path):
    svc = HubService(load_device(write_device_config(tmp_path / "hub", 1)))
    svc.open_store()
    seen = {"ok": 0, "errors": set()}

    @settings(max_examples=700, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(device=devices, payload=payloads)
    def one(device, payload):
        r = svc.handle_command(payload, device)
        check_answer(r, payload)
        assert r.get("error") != "internal", (device, payload, r)
        seen["ok"] += r["ok"]
        if not r["ok"]:
            seen["errors"].add(r["error"])

    try:
        # Open counters and a few tickets first, so calls, transfers and recalls get exercised.
        for cmd in [{"cmd": "open", "counter": c} for c in COUNTERS] + \
                   [{"cmd": "take", "service": s} for s in SERVICES * 3]:
            assert svc.handle_command(json.dumps(cmd), "hub-1")["ok"]
        one()
        # Then thousands more from a plain seeded generator (far cheaper to draw than hypothesis).
        rng = random.Random(1123)
        for _ in range(4000):
            device = rng.choice(DEVICES) if rng.random() < 0.9 else rng.choice(["stranger", "x.y", "kiosk-9"])
            payload = random_payload(rng)
            r = svc.handle_command(payload, device)
            check_answer(r, payload)
            assert r.get("error") != "internal", (device, payload, r)
            seen["ok"] += r["ok"]
        check_consistent(svc)
        assert seen["ok"] > 50, seen
        assert {"malformed", "too_large", "not_allowed", "unknown_command"} <= seen["errors"], seen
    finally:
        svc.store.close()


# --- over the wire (seeded random) ---------------------------------------------------------------

FIELDS = {"take": ("service",), "checkin": ("code",), "transfer": ("counter", "service"), "cancel": ("ticket",),
          "help": ("device",), "help_answered": ("request",),
          **{c: ("counter",) for c in ("call", "recall", "finish", "no_show", "open", "close")}}
GOOD = {"service": SERVICES, "counter": COUNTERS, "lang": ["fi", "sv", "so"], "ticket": ["2026-11-23/K001"],
        "code": ["ABC-123"], "device": DEVICES, "request": ["kiosk-1-1"]}


def random_payload(rng: random.Random) -> bytes:
    k = rng.random()
    if k < 0.15:
        return bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 120)))
    if k < 0.2:
        return b"{" * rng.randint(1, 3000)
    if k < 0.23:
        return json.dumps({"cmd": "take", "service": "kela", "pad": "x" * rng.randint(MAX_COMMAND_BYTES,
                                                                                   3 * MAX_COMMAND_BYTES)}).encode()
    if k < 0.3:
        return json.dumps(rng.choice([None, 1, 2.5, "take", [], [1, {"cmd": "take"}], {}, {"cmd": None}])).encode()
    name = rng.choice(CMDS) if rng.random() < 0.9 else rng.choice(["", "TAKE", "drop_table", 7, None])
    cmd: dict = {"cmd": name}
    needed = FIELDS.get(name, ()) if isinstance(name, str) else ()
    for key, good in GOOD.items():
        if rng.random() < (0.9 if key in needed else 0.15):
            cmd[key] = rng.choice(good) if rng.random() < 0.85 else rng.choice(
                [None, 0, -1, True, [], {}, "", "ö" * 70, "x" * 100])
    if rng.random() < 0.1:
        cmd["needs"] = rng.choice([{"hearing_loop": True}, {"interpreter": "ar"}, {"x": 1}, [], "yes"])
    return json.dumps(cmd, ensure_ascii=rng.random() < 0.5).encode()


@pytest.mark.broker
def test_fuzz_over_the_broker(broker, tmp_path):
    svc = HubService(load_device(write_device_config(tmp_path / "hub", broker.port)),
                     link_kw={"min_backoff_s": 0.05, "max_backoff_s": 0.5}).start_in_thread()
    link = MqttLink(LinkOptions("127.0.0.1", broker.port, "fuzzer", min_backoff_s=0.05,
                                subscriptions=[(f"pp/{SITE}/dev/+/reply", 1)])).start()
    try:
        assert svc.wait_connected(10)
        rng = random.Random(20261123)
        devs = DEVICES + ["stranger", "kiosk-9", "ÄÖ", "a.b"]

        def send_and_collect(batch: list[tuple[str, bytes, bool]], timeout=10.0) -> dict[bytes, dict]:
            want = {}
            for i, (device, payload, with_rt) in enumerate(batch):
                corr = f"{time.monotonic_ns()}-{i}".encode()
                want[corr] = topics.reply(SITE, device)
                link.publish(topics.command(SITE, device), payload, qos=1, correlation_data=corr,
                             response_topic=topics.reply(SITE, device) if with_rt else None)
            got: dict[bytes, dict] = {}
            deadline = time.monotonic() + timeout
            while len(got) < len(want) and time.monotonic() < deadline:
                try:
                    item = link.inbox.get(timeout=0.2)
                except queue.Empty:
                    continue
                if isinstance(item, Message) and item.correlation_data in want:
                    assert item.topic == want[item.correlation_data]
                    assert item.correlation_data not in got, "answered twice"
                    got[item.correlation_data] = json.loads(item.payload)
            missing = set(want) - set(got)
            assert not missing, f"{len(missing)} commands got no answer"
            return got

        # The hub subscribes asynchronously: wait until a first command is answered.
        deadline = time.monotonic() + 10
        while True:
            try:
                r = send_and_collect([("counter-1", b'{"cmd":"open","counter":"1"}', True)], timeout=0.5)
                break
            except AssertionError:
                assert time.monotonic() < deadline, "the hub does not answer"
        assert next(iter(r.values()))["ok"]

        sent = 0
        answers: list[dict] = []
        for _ in range(20):  # 20 windows of 50 in flight
            batch = [(rng.choice(devs), random_payload(rng), rng.random() < 0.8) for _ in range(50)]
            got = send_and_collect(batch)
            answers.extend(got.values())
            sent += len(batch)
        assert len(answers) == sent == 1000
        for r in answers:
            check_answer(r)
        assert sum(r["ok"] for r in answers) > 50
        assert {"malformed", "too_large", "not_allowed"} <= {r.get("error") for r in answers}
        # Alive and consistent at the end.
        final = send_and_collect([("display-1", b'{"cmd":"state"}', True)])
        assert next(iter(final.values()))["ok"]
        assert svc.running
        svc.call(check_consistent)
    finally:
        link.stop()
        svc.stop()
