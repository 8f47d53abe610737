"""Several processes appending to one store at once (the hub, the sync agent's acks, a CLI).

BEGIN IMMEDIATE around the sequence read and the insert is what keeps the sequence gap-free
and unique; without it two processes read the same last_seq and one insert fails.
"""
from __future__ import annotations

import pytest

from core.store import EventStore
from tests.support.procs import Child

pytestmark = pytest.mark.slow

PROCS = 3
PER_PROC = 150

# Each child opens the store, says "ready", waits for "go" on stdin so that all of them start
# appending together, then appends single events and batches of two, acking now and then.
# Between appends it does a moment of other work, as real writers do: a writer in a tight loop
# re-takes the lock before SQLite's busy handler wakes the others, and they would run in turn.
CHILD = r"""
import sys, time
from core.store import EventStore
path, name, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
store = EventStore(path, "conc-site", "hub-1")
print("ready", flush=True)
assert sys.stdin.readline().strip() == "go"
i = 0
while i < count:
    if i % 7 == 3 and i + 1 < count:
        store.append_many([("counter.opened", {"counter": name, "i": i}),
                           ("counter.closed", {"counter": name, "i": i + 1})])
        i += 2
    else:
        store.append("counter.opened", {"counter": name, "i": i})
        i += 1
    if i % 25 == 0:
        store.ack(store.last_seq - 5)
    time.sleep(0.0005 * (i % 3))
print("done", store.last_seq, flush=True)
"""


def test_processes_appending_at_once_get_a_gap_free_unique_sequence(tmp_path):
    path = tmp_path / "hub.sqlite"
    EventStore(path, "conc-site", "hub-1").close()  # created once, so no child races on the schema
    children = [Child.python(CHILD, str(path), f"p{k}", str(PER_PROC), stdin=True) for k in range(PROCS)]
    try:
        for c in children:
            c.wait_lines(1, timeout=20)
        for c in children:
            c.send("go")
        for c in children:
            assert c.wait(timeout=60) == 0, "\n".join(c.err[-20:])
            assert c.snapshot()[-1].startswith("done")
    finally:
        for c in children:
            c.kill()

    with EventStore(path, "conc-site", "hub-1") as store:
        assert store.integrity_check() == "ok"
        events = store.events()
        total = PROCS * PER_PROC
        assert [e.seq for e in events] == list(range(1, total + 1))
        assert store.last_seq == total
        assert len({e.id for e in events}) == total
        # Each process's own events in its own order, none lost.
        for k in range(PROCS):
            mine = [e.data["i"] for e in events if e.data["counter"] == f"p{k}"]
            assert mine == list(range(PER_PROC))
        # A batch of two is never split by another process's event.
        for a, b in zip(events, events[1:]):
            if b.type == "counter.closed":
                assert a.type == "counter.opened" and a.data["counter"] == b.data["counter"]
                assert a.data["i"] + 1 == b.data["i"]
        # Acks from several processes: never backwards, never past the end.
        assert 0 < store.acked_seq <= total
        # The processes really ran at the same time (otherwise this test shows nothing):
        # the owner of consecutive events changes far more often than PROCS - 1 times.
        switches = sum(1 for a, b in zip(events, events[1:]) if a.data["counter"] != b.data["counter"])
        assert switches > PROCS * 3, f"appends did not interleave ({switches} switches)"
