"""The one command worker (bus.worker) of the kiosk and the counter panel, against a real Mosquitto
and a real hub process: commands run in the order given, off the caller's thread; an answer lost
on the way is not a second ticket when the kiosk tries again; stopping answers every command once
and sends none of those still queued."""
from __future__ import annotations

import os
import queue
import signal
import threading
import time
from contextlib import contextmanager

import pytest

from bus import topics
from bus.hubclient import HubClient
from bus.link import LinkOptions, Message, MqttLink
from bus.worker import CommandWorker
from counter.hub_link import CounterLink
from kiosk.hub_link import MqttHubLink
from tests.support.hubproc import HubProcess
from tests.support.wait import WaitTimeout, next_item, wait_until

pytestmark = pytest.mark.broker

SITE = "example-pp"
TAKE = {"cmd": "take", "service": "kela", "lang": "fi", "needs": {}}


@pytest.fixture
def hub(tmp_path, broker):
    h = HubProcess(tmp_path / "hub", broker.port).start()
    yield h
    if h.alive():
        os.kill(h.proc.pid, signal.SIGCONT)  # a test that failed while the hub was paused
    h.terminate()


@contextmanager
def paused(hub: HubProcess):
    """The hub process stopped (SIGSTOP): the broker still hands it commands, which it reads and
    answers only when it runs again, after the asker has given up."""
    os.kill(hub.proc.pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(hub.proc.pid, signal.SIGCONT)


def kela_waiting(broker) -> int:
    """What the hub says now. Asked by another device: the hub handles commands in the order they
    reach it, so this answer comes after every command sent before it."""
    with HubClient(broker.url, SITE, "display-1", min_backoff_s=0.05, max_backoff_s=0.5) as c:
        r = c.request({"cmd": "state"}, timeout=10)
    assert r["ok"], r
    return r["services"]["kela"]["waiting"]


def test_commands_run_in_order_off_the_callers_thread(broker, hub):
    got: list[tuple[str, dict]] = []
    link = CounterLink(broker.url, SITE, "counter-1", timeout=10).start()

    def collect(reply: dict) -> None:
        got.append((threading.current_thread().name, reply))
        if len(got) == 1:
            raise RuntimeError("a broken callback must not end the worker")

    try:
        assert link.client.wait_connected(10)
        # All submitted at once from this thread: each waits for the one before it.
        for payload in ({"cmd": "open", "counter": "1"}, {"cmd": "take", "service": "kela"},
                        {"cmd": "take", "service": "kela"}, {"cmd": "take", "service": "kela"},
                        {"cmd": "call", "counter": "1"}):
            link.send(payload, collect)
        wait_until(lambda: len(got) == 5, timeout=20, what="five answers")
    finally:
        link.close()
    threads = {name for name, _ in got}
    assert threads == {"counter-cmd-counter-1"}  # the worker's thread, never the caller's
    replies = [r for _, r in got]
    assert all(r["ok"] for r in replies), replies
    assert [r.get("number") for r in replies[1:]] == ["K001", "K002", "K003", "K001"]
    seqs = [r["seq"] for r in replies]
    assert seqs == sorted(seqs) and len(set(seqs)) == 5  # stored by the hub in the order sent
    assert kela_waiting(broker) == 2


def test_try_again_after_a_lost_answer_gets_the_same_number(broker, hub):
    answers: queue.Queue = queue.Queue()
    link = MqttHubLink(broker.url, SITE, "kiosk-1", timeout_s=1.0).start()
    try:
        assert link.wait_connected(10)
        payload = {**TAKE, "request_id": "retry-key-0001"}
        with paused(hub):
            link.send(1, payload, lambda req, reply: answers.put((req, reply)))
            req, first = next_item(answers, timeout=10, what="the timeout")
            assert req == 1 and first["error"] == "timeout" and first["connected"] is True
        # The hub now runs the command and answers; nobody waits for that answer any more.
        assert kela_waiting(broker) == 1
        link.send(2, payload, lambda req, reply: answers.put((req, reply)))  # "Try again"
        req, again = next_item(answers, timeout=10, what="the retried answer")
        assert req == 2 and again["ok"] and again["number"] == "K001"
        assert kela_waiting(broker) == 1  # the same ticket, not a second one
        link.send(3, {**TAKE, "request_id": "another-key-02"}, lambda req, reply: answers.put((req, reply)))
        assert next_item(answers, timeout=10, what="a new number")[1]["number"] == "K002"
    finally:
        link.close()


def test_stop_answers_every_command_once_and_sends_none_of_the_queued(broker, hub):
    client = HubClient(broker.url, SITE, "kiosk-1", min_backoff_s=0.05, max_backoff_s=0.5).start()
    worker = CommandWorker(lambda payload, corr: client.request(payload, timeout=30, correlation=corr),
                           name="test-worker").start()
    # Watch the command topic: the first command is on its way to the hub before the worker stops.
    seen: queue.Queue = queue.Queue()
    watch = MqttLink(LinkOptions(host="127.0.0.1", port=broker.port, client_id="watcher",
                                 subscriptions=[(topics.command(SITE, "kiosk-1"), 1), ("test/probe", 1)]),
                     seen).start()
    answers: dict[int, list[dict]] = {i: [] for i in range(4)}
    try:
        assert client.wait_connected(10) and watch.wait_connected(10)
        # "Connected" comes before the broker's SUBACK: the watcher's own probe coming back, sent
        # after its subscriptions on the same connection, says that they are in place.
        # Sent again each second until one comes back (a loaded machine may take its time).
        def probe_back() -> bool:
            watch.publish("test/probe", b"1", qos=1)
            try:
                next_item(seen, lambda m: isinstance(m, Message) and m.topic == "test/probe", timeout=1.0)
            except WaitTimeout:
                return False
            return True

        wait_until(probe_back, 30, "the watcher's probe to come back")
        with paused(hub):
            for i in range(3):
                worker.submit(TAKE, answers[i].append)
            next_item(seen, lambda m: isinstance(m, Message) and m.topic != "test/probe",
                      what="the first command on the broker")
            t0 = time.monotonic()
            worker.stop()
            client.close()  # the command in flight ends now instead of after its 30 s
            assert worker.join(5) and not worker.alive
            assert time.monotonic() - t0 < 5
            worker.submit(TAKE, answers[3].append)  # after stop: answered at once, here
        assert all(len(a) == 1 and a[0]["error"] == "closed" for a in answers.values()), answers
        # The hub got the one command that was in flight, and never the queued ones.
        assert kela_waiting(broker) == 1
    finally:
        worker.close()
        client.close()
        watch.stop()
