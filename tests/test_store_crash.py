"""SIGKILL a process that appends to the store in a tight loop, many times over.

What must hold afterwards: the sequence is 1..N with no gap, no id twice, the integrity check
passes, every batch is whole (append_many is one transaction), and every event the child
reported as durable (it prints the seq after `append_many` returned) is in the store.
"""
from __future__ import annotations

import json
import random

import pytest

from core.store import ANSWERS_PER_DEVICE, EventStore
from tests.support.procs import Child

pytestmark = pytest.mark.slow

ROUNDS = 20

# The child appends batches of 1-4 events and prints "<last seq> <round> <batch> <size>" after
# each append returned. It never stops on its own: the parent kills it. A line cut short by the
# kill does not count as a report (Child keeps whole lines only).
CHILD = r"""
import random, sys
from core.store import ANSWERS_PER_DEVICE, EventStore
path, rnd = sys.argv[1], int(sys.argv[2])
store = EventStore(path, "crash-site", "hub-1")
rng = random.Random(rnd)
b = 0
while True:
    n = rng.randint(1, 4)
    evs = store.append_many([("counter.opened", {"counter": "1", "round": rnd, "batch": b, "i": i, "n": n})
                             for i in range(n)])
    sys.stdout.write(f"{evs[-1].seq} {rnd} {b} {n}\n")  # one write: print() writes piece by piece
    sys.stdout.flush()
    b += 1
"""


def test_sigkill_while_appending_loses_nothing_reported(tmp_path):
    path = tmp_path / "hub.sqlite"
    rng = random.Random(20261123)
    reported: dict[int, tuple[int, int, int]] = {}  # last seq of a batch -> (round, batch, size)
    for rnd in range(ROUNDS):
        with Child.python(CHILD, str(path), str(rnd)) as child:
            # Kill at a random moment, but only once this round has appended a few batches.
            child.wait_lines(rng.randint(3, 25), timeout=20)
            child.kill()
            for line in child.snapshot():
                seq, r, b, n = map(int, line.split())
                assert seq not in reported, f"seq {seq} reported twice"
                reported[seq] = (r, b, n)
        # Each round opens the store the previous kill left behind: that must always work.
    assert len({r for r, _, _ in reported.values()}) == ROUNDS

    with EventStore(path, "crash-site", "hub-1") as store:
        assert store.integrity_check() == "ok"
        events = store.events()
        n_events = len(events)
        assert [e.seq for e in events] == list(range(1, n_events + 1)), "gap or disorder in the sequence"
        assert store.last_seq == n_events
        assert len({e.id for e in events}) == n_events, "an event id appears twice"

        by_seq = {e.seq: e for e in events}
        for seq, (r, b, n) in reported.items():
            ev = by_seq.get(seq)
            assert ev is not None, f"reported durable seq {seq} is missing"
            assert (ev.data["round"], ev.data["batch"], ev.data["i"], ev.data["n"]) == (r, b, n - 1, n)

        # Whole batches only: the events of one append_many are contiguous and complete.
        batches: dict[tuple[int, int], list] = {}
        for e in events:
            batches.setdefault((e.data["round"], e.data["batch"]), []).append(e)
        for (r, b), evs in batches.items():
            n = evs[0].data["n"]
            assert [e.data["i"] for e in evs] == list(range(n)), f"batch {r}/{b} is torn"
            assert [e.seq for e in evs] == list(range(evs[0].seq, evs[0].seq + n))
        # Each round's batches were stored in the order they were made, without holes.
        for r in range(ROUNDS):
            bs = sorted(b for (rr, b) in batches if rr == r)
            assert bs == list(range(len(bs)))


# As above, each batch as a command: its events and its answer row in one transaction (the hub's
# way, core.store.transaction), the answer naming the batch.
CHILD_ANSWERS = r"""
import random, sys
from core.store import ANSWERS_PER_DEVICE, EventStore
path, rnd = sys.argv[1], int(sys.argv[2])
store = EventStore(path, "crash-site", "hub-1")
rng = random.Random(rnd)
b = 0
while True:
    n = rng.randint(1, 4)
    with store.transaction():
        evs = store.append_many([("counter.opened", {"counter": "1", "round": rnd, "batch": b, "i": i, "n": n})
                                 for i in range(n)])
        store.record_answer("kiosk-1", f"{rnd}/{b}".encode(), {"ok": True, "seq": evs[-1].seq, "round": rnd,
                                                               "batch": b})
    sys.stdout.write(f"{evs[-1].seq} {rnd} {b} {n}\n")
    sys.stdout.flush()
    b += 1
"""


def test_sigkill_keeps_each_answer_exactly_with_its_events(tmp_path):
    path = tmp_path / "hub.sqlite"
    rng = random.Random(20261124)
    reported: dict[tuple[int, int], int] = {}  # (round, batch) -> last seq
    rounds = 8
    for rnd in range(rounds):
        with Child.python(CHILD_ANSWERS, str(path), str(rnd)) as child:
            child.wait_lines(rng.randint(3, 25), timeout=20)
            child.kill()
            for line in child.snapshot():
                seq, r, b, _ = map(int, line.split())
                reported[(r, b)] = seq

    with EventStore(path, "crash-site", "hub-1") as store:
        assert store.integrity_check() == "ok"
        last_of_batch: dict[tuple[int, int], int] = {}
        for e in store.events():
            last_of_batch[(e.data["round"], e.data["batch"])] = e.seq
        rows = store.conn.execute("SELECT seq, answer FROM answers").fetchall()
        # One row per stored batch, on the batch's last event, and none for a batch that is not
        # stored (the kill fell inside its transaction).
        by_seq = {seq: json.loads(text) for seq, text in rows}
        assert len(rows) == len(by_seq) == min(len(last_of_batch), ANSWERS_PER_DEVICE)
        assert set(by_seq) <= set(last_of_batch.values())
        for (r, b), seq in last_of_batch.items():
            answer = store.answer("kiosk-1", f"{r}/{b}".encode())
            if answer is not None:
                assert answer == {"ok": True, "seq": seq, "round": r, "batch": b}
        # The newest batches (those retention keeps) all have their answer; every reported batch
        # is stored.
        newest = sorted(last_of_batch.values())[-ANSWERS_PER_DEVICE:]
        assert set(by_seq) == set(newest)
        for key, seq in reported.items():
            assert last_of_batch.get(key) == seq
