"""A retried command is answered once, also across a hub crash between its commit and its answer.

The hub keeps each accepted command's answer in the transaction of its events (core/store.py
`answers`, hub/authority.py). A real hub process kills itself (SIGKILL, HubService.after_commit
through tests/support/hubproc.py) after the commit and before the answer; the retry with the same
correlation data, to the restarted hub, must get the same ticket, and the store must hold it once.
"""
from __future__ import annotations

import json
import random
import threading
import uuid

import pytest

from bus.hubclient import HubClient
from core.config import load_site
from core.store import EventStore, connect
from hub.authority import QueueAuthority
from tests.support.hubproc import EXAMPLE_SITE, HubProcess
from tests.support.wait import wait_until

SITE = "example-pp"
pytestmark = pytest.mark.broker


def stored(path) -> list[tuple[int, str, dict]]:
    conn = connect(path, readonly=True)
    try:
        return [(s, t, json.loads(d)) for s, t, d in conn.execute("SELECT seq, type, data FROM events ORDER BY seq")]
    finally:
        conn.close()


def of_type(path, etype: str) -> list[dict]:
    return [d for _, t, d in stored(path) if t == etype]


@pytest.fixture
def hub(tmp_path, broker):
    h = HubProcess(tmp_path / "hub", broker.port)
    yield h
    h.terminate()


def test_take_killed_between_commit_and_answer_gives_the_retry_the_same_ticket(hub, clients):
    hub.start(kill_after_commit=b"customer-1")
    kiosk = clients("kiosk-1")
    lost = kiosk.request({"cmd": "take", "service": "kela"}, timeout=1.5, correlation=b"customer-1")
    assert lost["ok"] is False and lost["error"] == "timeout"
    assert hub.wait_exit() == -9 and "SIGKILL after commit" in hub.log_text()
    issued = of_type(hub.store_path, "ticket.issued")
    assert [d["number"] for d in issued] == ["K001"]  # committed, but never answered

    hub.start()
    again = kiosk.request({"cmd": "take", "service": "kela"}, correlation=b"customer-1")
    assert again["ok"] and again["number"] == "K001" and again["token"] == issued[0]["token"], again
    assert len(of_type(hub.store_path, "ticket.issued")) == 1
    # From the store, not from a memory: the same after one more restart.
    hub.kill()
    hub.start()
    assert kiosk.request({"cmd": "take", "service": "kela"}, correlation=b"customer-1") == again
    assert kiosk.request({"cmd": "take", "service": "kela"})["number"] == "K002"
    assert [d["number"] for d in of_type(hub.store_path, "ticket.issued")] == ["K001", "K002"]
    # Correlation data is per device: another device's request with the same bytes is its own.
    other = clients("counter-2").request({"cmd": "take", "service": "kela"}, correlation=b"customer-1")
    assert other["number"] == "K003"


def test_call_killed_between_commit_and_answer_calls_the_same_ticket_on_retry(hub, clients):
    hub.start(kill_after_commit=b"call-1")
    counter = clients("counter-1")
    assert counter.request({"cmd": "open", "counter": "2"})["ok"]
    assert [counter.request({"cmd": "take", "service": "kela"})["number"] for _ in range(2)] == ["K001", "K002"]
    lost = counter.request({"cmd": "call", "counter": "2"}, timeout=1.5, correlation=b"call-1")
    assert lost["error"] == "timeout" and hub.wait_exit() == -9
    assert [d["number"] for d in of_type(hub.store_path, "ticket.called")] == ["K001"]

    hub.start()
    again = counter.request({"cmd": "call", "counter": "2"}, correlation=b"call-1")
    assert again["ok"] and again["number"] == "K001" and again["counter"] == "2", again
    assert [d["number"] for d in of_type(hub.store_path, "ticket.called")] == ["K001"]
    st = counter.request({"cmd": "state"})
    assert st["services"]["kela"]["waiting"] == 1  # K002 still waits: the retry called nobody new
    assert counter.request({"cmd": "call", "counter": "2"})["number"] == "K002"


@pytest.mark.slow
def test_sigkill_loop_over_a_stream_of_retried_commands_leaves_no_phantom(hub, clients):
    """30 kills: half by the hook right after a commit (the answer lost), half from outside at a
    random moment. A kiosk-and-counter stream retries each command with its correlation data
    until it is answered. Every take gives one ticket, every call calls one."""
    rng = random.Random(20261125)
    kiosk, counter = clients("kiosk-1"), clients("counter-1")
    done: list[tuple[str, dict]] = []  # (command, answer), in order
    stop = threading.Event()
    failures: list[str] = []

    def until_answered(client: HubClient, payload: dict) -> dict:
        corr = uuid.uuid4().hex.encode()
        while True:
            r = client.request(payload, timeout=0.4, correlation=corr)
            if r.get("ok"):
                return r
            if r.get("error") not in ("timeout", "disconnected", "not_connected"):
                failures.append(f"{payload}: {r}")
                return r

    def stream() -> None:
        while not stop.is_set():
            done.append(("take", until_answered(kiosk, {"cmd": "take", "service": "kela"})))
            done.append(("call", until_answered(counter, {"cmd": "call", "counter": "2"})))

    hub.start()
    assert counter.request({"cmd": "open", "counter": "2"})["ok"]
    worker = threading.Thread(target=stream, daemon=True)
    worker.start()
    try:
        for i in range(30):
            if i % 2 == 1:
                hub.start(wait_ready=False, kill_after_commit=rng.randint(1, 4))
                assert hub.wait_exit(timeout=20) == -9, hub.log_text()[-2000:]
            else:
                if i:
                    hub.start()
                n = len(done)
                wait_until(lambda: len(done) > n, timeout=20, what="the stream to go on")
                threading.Event().wait(rng.uniform(0, 0.03))  # a random point of the stream
                hub.kill()
        hub.start()
    finally:
        stop.set()
        worker.join(30)
    assert not worker.is_alive() and not failures, failures
    hub.terminate()

    takes = [r for c, r in done if c == "take"]
    calls = [r for c, r in done if c == "call"]
    assert len(takes) >= 15, "the stream barely moved"
    issued = of_type(hub.store_path, "ticket.issued")
    called = of_type(hub.store_path, "ticket.called")
    # Exactly one ticket per take answered, numbered without a gap, and the answers name them.
    assert [d["number"] for d in issued] == [f"K{i:03d}" for i in range(1, len(takes) + 1)]
    assert [r["number"] for r in takes] == [d["number"] for d in issued]
    assert [r["token"] for r in takes] == [d["token"] for d in issued]
    # Each call called the next ticket, once.
    assert [d["number"] for d in called] == [r["number"] for r in calls] == \
        [d["number"] for d in issued][:len(calls)]


def test_a_commit_that_fails_after_the_engine_applied_leaves_the_queue_as_stored(tmp_path):
    """Inside the command's transaction the engine applies its events before the commit; when
    the commit then fails, the queue must not keep what the store does not have."""
    site = load_site(EXAMPLE_SITE)
    with EventStore(tmp_path / "hub.sqlite", site.id, "hub-1") as store:
        auth = QueueAuthority(site, store)
        take = json.dumps({"cmd": "take", "service": "kela"})
        first = auth.handle_payload(take, "kiosk", sender="kiosk-1", correlation=b"a")
        assert first["number"] == "K001"
        # A real SQLite failure at the answer row, after the ticket.issued insert went in.
        store.conn.execute("CREATE TEMP TRIGGER refuse AFTER INSERT ON main.answers "
                           "BEGIN SELECT RAISE(ABORT, 'refused by the test'); END")
        failed = auth.handle_payload(take, "kiosk", sender="kiosk-1", correlation=b"b")
        assert failed["ok"] is False and failed["error"] == "store_failed" and "refused" in failed["message"]
        assert auth.last_events == [] and store.last_seq == 1
        assert auth.snapshot()["services"]["kela"]["waiting"] == 1
        store.conn.execute("DROP TRIGGER refuse")
        # The number that failed is handed out again (it was never stored), the first answer stays.
        assert auth.handle_payload(take, "kiosk", sender="kiosk-1", correlation=b"b")["number"] == "K002"
        assert auth.handle_payload(take, "kiosk", sender="kiosk-1", correlation=b"a") == first
        # Refusals leave no record: the same request runs again once it can succeed.
        call = json.dumps({"cmd": "call", "counter": "1"})
        assert auth.handle_payload(call, "counter", sender="counter-1", correlation=b"c")["error"] == "counter_closed"
        assert auth.handle_payload(json.dumps({"cmd": "open", "counter": "1"}), "counter", sender="counter-1")["ok"]
        assert auth.handle_payload(call, "counter", sender="counter-1", correlation=b"c")["number"] == "K001"
        assert store.conn.execute("SELECT count(*) FROM answers").fetchone()[0] == 3
