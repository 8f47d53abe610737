"""Subprocesses for fault tests: spawn a Python child, read its lines as they come, kill it.

No fixed sleeps anywhere: tests wait on a condition with a deadline (`wait_until`), and a
child's output is collected by a reader thread so the parent can poll it.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

from tests.support.wait import wait_until

REPO = Path(__file__).resolve().parents[2]


def child_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


class Child:
    """A Python child process whose stdout lines are collected as they arrive."""

    def __init__(self, args: Sequence[str], *, cwd: str | Path = REPO, stdin: bool = False,
                 env: dict[str, str] | None = None) -> None:
        self.proc = subprocess.Popen(
            list(args), cwd=str(cwd), env=env or child_env(), text=True, bufsize=1,
            stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )
        self.lines: list[str] = []  # whole lines only
        self.err: list[str] = []
        self.partial: str | None = None
        self._lock = threading.Lock()
        self._readers = [threading.Thread(target=self._read, args=(self.proc.stdout, self.lines), daemon=True),
                         threading.Thread(target=self._read, args=(self.proc.stderr, self.err), daemon=True)]
        for t in self._readers:
            t.start()

    @classmethod
    def python(cls, code: str, *args: str, **kw) -> "Child":
        return cls([sys.executable, "-c", code, *args], **kw)

    def _read(self, stream, sink: list[str]) -> None:
        for line in stream:
            if not line.endswith("\n"):
                # The child died in the middle of writing this line: it is not a whole report.
                self.partial = line
                break
            with self._lock:
                sink.append(line[:-1])
        stream.close()

    @property
    def pid(self) -> int:
        return self.proc.pid

    def count(self) -> int:
        with self._lock:
            return len(self.lines)

    def snapshot(self) -> list[str]:
        with self._lock:
            return list(self.lines)

    def wait_lines(self, n: int, timeout: float = 10.0) -> list[str]:
        """Wait until the child has printed at least `n` lines (or fail, showing its stderr)."""
        def enough():
            if self.count() >= n:
                return True
            if self.proc.poll() is not None:
                self.drain()
                if self.count() >= n:
                    return True
                raise AssertionError(f"child exited with {self.proc.returncode} after {self.count()} "
                                     f"lines:\n" + "\n".join(self.err[-20:]))
            return False
        wait_until(enough, timeout, what=f"{n} lines from child {self.pid}", interval=0.002)
        return self.snapshot()

    def send(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def kill(self, sig: int = signal.SIGKILL) -> int:
        """Kill this child only (by its own pid) and reap it; returns the exit status."""
        if self.proc.poll() is None:
            os.kill(self.proc.pid, sig)
        rc = self.proc.wait(timeout=10)
        self.drain()
        return rc

    def drain(self, timeout: float = 10.0) -> None:
        """Wait until the reader threads have read everything the (dead) child wrote."""
        for t in self._readers:
            t.join(timeout)

    def wait(self, timeout: float = 30.0) -> int:
        rc = self.proc.wait(timeout=timeout)
        self.drain()
        return rc

    def __enter__(self) -> "Child":
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc.poll() is None:
            self.kill()
        else:
            self.drain()
