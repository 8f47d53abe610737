"""A full disk: appends fail with StoreFullError, nothing is half-written, and once space is
freed the sequence continues without a gap. Runs on a small tmpfs of its own (needs root or
CAP_SYS_ADMIN; skipped, saying why, where mounting is not possible)."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from core.store import EventStore, StoreFullError

SIZE = "1m"


@pytest.fixture
def small_fs(tmp_path):
    mnt = tmp_path / "fs"
    mnt.mkdir()
    try:
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={SIZE},mode=0700", "tmpfs", str(mnt)],
                           capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError) as exc:
        pytest.skip(f"cannot mount a tmpfs here ({exc}); a full disk needs its own small file system")
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (mount: {r.stderr.strip() or r.returncode}); "
                    "needs root or CAP_SYS_ADMIN")
    try:
        yield mnt
    finally:
        r = subprocess.run(["umount", str(mnt)], capture_output=True, text=True, timeout=10)
        assert r.returncode == 0, f"umount failed: {r.stderr}"


def fill(path: Path, leave: int = 0) -> int:
    """Write a filler file until the file system is full (or only about `leave` bytes remain)."""
    chunk = b"\0" * 4096
    written = 0
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        while True:
            st = os.statvfs(path.parent)
            if leave and st.f_bavail * st.f_frsize <= leave:
                break
            try:
                written += os.write(fd, chunk)
            except OSError:
                break
    finally:
        os.close(fd)
    return written


def free_bytes(path: Path) -> int:
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


def test_full_disk_refuses_appends_whole_and_recovers(small_fs):
    db = small_fs / "hub.sqlite"
    store = EventStore(db, "full-site", "hub-1")
    try:
        for i in range(10):
            store.append("counter.opened", {"counter": str(i)})
        store.checkpoint()  # WAL truncated: the next append must find new space on the disk
        filler = small_fs / "filler"
        fill(filler, leave=48 * 1024)
        assert 0 < free_bytes(small_fs) <= 64 * 1024

        # Fill what is left with events until the disk says no.
        stored = 10
        with pytest.raises(StoreFullError):
            for i in range(10_000):
                store.append("help.requested", {"request": f"r{i}", "device": "kiosk-1", "pad": "x" * 1500})
                stored += 1
        assert stored > 10, "the remaining space should have held some events"
        assert store.last_seq == stored
        # Every further attempt is refused the same way, a batch as a whole.
        fill(filler)  # now completely full
        with pytest.raises(StoreFullError):
            store.append_many([("counter.opened", {"counter": "a", "pad": "y" * 3000}),
                               ("counter.closed", {"counter": "a", "pad": "y" * 3000})])
        with pytest.raises(StoreFullError):
            store.append("counter.opened", {"counter": "b", "pad": "z" * 8000})
        assert store.last_seq == stored
        assert store.integrity_check() == "ok"
    finally:
        store.close()

    # Reopen while the disk is still full: the integrity check passes, nothing was half-written.
    with EventStore(db, "full-site", "hub-1") as store:
        assert store.integrity_check() == "ok"
        assert store.last_seq == stored
        events = store.events()
        assert [e.seq for e in events] == list(range(1, stored + 1))
        assert all(e.type in ("counter.opened", "help.requested") for e in events)
        assert all(e.data.get("pad", "x" * 1500) == "x" * 1500 for e in events)

        # Free space: appends continue right after the last stored event.
        filler.unlink()
        evs = store.append_many([("counter.opened", {"counter": "c"}), ("counter.closed", {"counter": "c"})])
        assert [e.seq for e in evs] == [stored + 1, stored + 2]
        ev = store.append("counter.opened", {"counter": "d"})
        assert ev.seq == stored + 3
        assert [e.seq for e in store.events()] == list(range(1, stored + 4))
        assert store.integrity_check() == "ok"
