"""An ESC/POS printer on the far end of a real pseudo-terminal (tests and the demo).

The kiosk side opens `printer.path` (a /dev/pts/N) like any serial printer, through
python-escpos's Serial / pyserial, or as `file:` (read-write device file). A thread reads the
master side, records every byte, and answers DLE EOT n with the status byte of its current
state — or not at all when `silent` is set.

Status queries are part of the byte stream a real printer gets but are not printed: `raw()`
keeps them, `printed()` and `jobs()` leave them out. Jobs are split at ESC @, which our
renderer sends first in every job; a job is complete once its cut (GS V) has arrived.

Tests wait with `wait_jobs()` / `wait_until()`, which poll a condition with a deadline.
"""
from __future__ import annotations

import os
import select
import threading
import time
import tty
from typing import Callable

from printer.status import status_byte
from sim.escpos_decode import split_jobs

DLE, EOT = 0x10, 0x04
CUT = b"\x1dV"


class PtyPrinter:
    def __init__(self, *, paper: str = "ok", cover_open: bool = False, error: bool = False,
                 silent: bool = False):
        self._lock = threading.Lock()
        self.paper = paper
        self.cover_open = cover_open
        self.error = error
        self.silent = silent
        self._raw = bytearray()
        self._printed = bytearray()
        self._queries: list[int] = []
        self._pending = b""
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.master = self.slave = -1
        self.path = ""

    # -- life cycle ----------------------------------------------------------------------------
    def start(self) -> "PtyPrinter":
        self.master, self.slave = os.openpty()
        # Raw line discipline before anyone opens the slave: no echo, no CR/LF mangling of
        # binary data, no signals on ^C bytes. We keep the slave fd open ourselves so the
        # master never reads EIO when the kiosk closes and reopens its side.
        tty.setraw(self.slave)
        self.path = os.ttyname(self.slave)
        self._thread = threading.Thread(target=self._run, name="pty-printer", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=2)
        for fd in (self.master, self.slave):
            if fd >= 0:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self.master = self.slave = -1

    def __enter__(self) -> "PtyPrinter":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def url(self, baudrate: int = 19200, **opts) -> str:
        q = "&".join(f"{k}={v}" for k, v in {"baudrate": baudrate, **opts}.items())
        return f"serial:{self.path}?{q}"

    # -- state (settable from the test thread) -------------------------------------------------
    def set_state(self, **kw) -> None:
        with self._lock:
            for k, v in kw.items():
                if k not in ("paper", "cover_open", "error", "silent"):
                    raise AttributeError(k)
                setattr(self, k, v)

    # -- what arrived --------------------------------------------------------------------------
    def raw(self) -> bytes:
        with self._lock:
            return bytes(self._raw)

    def printed(self) -> bytes:
        with self._lock:
            return bytes(self._printed)

    def queries(self) -> list[int]:
        with self._lock:
            return list(self._queries)

    def jobs(self, complete: bool = True) -> list[bytes]:
        js = split_jobs(self.printed())
        return [j for j in js if CUT in j] if complete else js

    def clear(self) -> None:
        with self._lock:
            self._raw.clear()
            self._printed.clear()
            self._queries.clear()

    def wait_until(self, cond: Callable[[], bool], timeout: float = 5.0, what: str = "") -> None:
        deadline = time.monotonic() + timeout
        while not cond():
            if time.monotonic() > deadline:
                raise TimeoutError(f"emulated printer: timed out waiting for {what or cond}")
            time.sleep(0.005)

    def wait_jobs(self, n: int, timeout: float = 5.0) -> list[bytes]:
        self.wait_until(lambda: len(self.jobs()) >= n, timeout, f"{n} complete job(s)")
        return self.jobs()

    # -- the printer ---------------------------------------------------------------------------
    def _run(self) -> None:
        while not self._stop.is_set():
            r, _, _ = select.select([self.master], [], [], 0.05)
            if not r:
                continue
            try:
                data = os.read(self.master, 4096)
            except OSError:
                return
            if data:
                self._feed(data)

    def _feed(self, data: bytes) -> None:
        answers = bytearray()
        with self._lock:
            self._raw += data
            buf = self._pending + data
            self._pending = b""
            i = 0
            while i < len(buf):
                b = buf[i]
                if b == DLE:
                    if i + 2 >= len(buf) and buf[i + 1:i + 2] in (b"", bytes([EOT])):
                        self._pending = buf[i:]  # maybe a query split across reads
                        break
                    if buf[i + 1] == EOT and buf[i + 2] in (1, 2, 3, 4):
                        n = buf[i + 2]
                        self._queries.append(n)
                        if not self.silent:
                            answers.append(status_byte(n, paper=self.paper,
                                                       cover_open=self.cover_open,
                                                       error=self.error))
                        i += 3
                        continue
                self._printed.append(b)
                i += 1
        if answers:
            os.write(self.master, bytes(answers))
