"""Simulated customers at the feedback terminal, for `make demo`.

The demo's crowd runs in another process, so presses travel through a plain text file, one line
per customer, appended by `DemoPresses` and played in the app by `DemoPlayer`:

    touch 4 done yes      a face touched, then the follow-ups answered ("-" skips one)
    touch 2 - -           a face touched, every follow-up skipped
    button 5              a physical smiley button pressed

A touch customer goes through the screens like a person would (the same handlers a finger
triggers, with pauses to read), and a button press goes through Terminal.press() like the button
reader's. Whatever a simulated customer does is stored exactly as a real one would be.

In the demo: `feedback = DemoPresses(path)` is the crowd's `feedback(rating)` callable, and the
app is started with the player handed in as a driver: `python -m sim.apps feedback --config F
--presses path`.
"""
from __future__ import annotations

import logging
import os
import random
import threading
from collections import deque
from pathlib import Path

log = logging.getLogger(__name__)


class DemoPresses:
    """The crowd's side: `presses(rating)` appends one simulated customer (thread-safe)."""

    def __init__(self, path: str | os.PathLike, seed: int = 1, button_share: float = 0.3) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.touch()
        self.rng = random.Random(seed)
        self.button_share = button_share
        self._lock = threading.Lock()

    def line(self, rating: int) -> str:
        if self.rng.random() < self.button_share:
            return f"button {rating}"
        outcome = self.rng.choices(["done", "started", "not_done", "-"], [5, 2, 1, 2])[0]
        self_service = self.rng.choices(["yes", "no", "-"], [3, 4, 3])[0]
        return f"touch {rating} {outcome} {self_service}"

    def __call__(self, rating: int) -> None:
        if not 1 <= int(rating) <= 5:
            raise ValueError(f"rating {rating} outside 1..5")
        with self._lock:
            text = self.line(int(rating)) + "\n"
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                os.write(fd, text.encode())
            finally:
                os.close(fd)


def parse_line(line: str) -> tuple[str, int, str | None, str | None] | None:
    parts = line.split()
    if not parts or parts[0] not in ("touch", "button") or len(parts) < 2 or not parts[1].isdigit():
        return None
    how, rating = parts[0], int(parts[1])
    outcome = parts[2] if len(parts) > 2 and parts[2] in ("done", "started", "not_done") else None
    self_service = parts[3] if len(parts) > 3 and parts[3] in ("yes", "no") else None
    return how, rating, outcome, self_service


class DemoPlayer:
    """The app's side: reads new lines every `poll_s` and plays them on the Kivy clock."""

    def __init__(self, app, path: str | os.PathLike, poll_s: float = 0.3, pause_s: float = 1.2) -> None:
        self.app = app
        self.path = Path(path)
        self.poll_s, self.pause_s = poll_s, pause_s
        self._offset = self.path.stat().st_size if self.path.exists() else 0  # only what comes after start
        self._queue: deque = deque()
        self._steps: deque = deque()
        self._next_step_at = 0.0
        self.played = 0

    def start(self) -> "DemoPlayer":
        from kivy.clock import Clock

        Clock.schedule_interval(self._poll, self.poll_s)
        return self

    def _read(self) -> None:
        try:
            with self.path.open("rb") as f:
                f.seek(self._offset)
                data = f.read()
        except OSError:
            return
        end = data.rfind(b"\n")
        if end < 0:
            return
        self._offset += end + 1
        for raw in data[: end + 1].decode("utf-8", "replace").splitlines():
            item = parse_line(raw)
            if item:
                self._queue.append(item)

    def _poll(self, _dt: float) -> None:
        import time

        self._read()
        app, flow = self.app, self.app.flow
        now = app.now()
        if self._steps:
            if time.monotonic() >= self._next_step_at and flow.accepts_input(now):
                step = self._steps.popleft()
                step()
                self._next_step_at = time.monotonic() + self.pause_s
            return
        while self._queue and self._queue[0][0] == "button":
            _, rating, _, _ = self._queue.popleft()
            if rating <= app.settings.flow.scale:
                app.terminal.press(rating, input="button")
                self.played += 1
        if not self._queue or flow.screen != "start" or not flow.accepts_input(now):
            if self._queue and flow.screen == "thanks" and flow.accepts_input(now):
                app._on_back()
            return
        _, rating, outcome, self_service = self._queue.popleft()
        if rating > app.settings.flow.scale:
            return
        face = next(f for f in app.faces if int(f.rating) == rating)
        app._on_face(face)
        self.played += 1
        fu = app.settings.flow.follow_ups
        for part, value in (("outcome", outcome), ("self_service", self_service)):
            if part in fu:
                if value:
                    self._steps.append(lambda p=part, v=value: app._on_answer(p, v, app.w[f"{p}-{v}"]))
                else:
                    self._steps.append(app._on_skip)
        if "comment" in fu:
            self._steps.append(app._on_skip)
        self._next_step_at = time.monotonic() + self.pause_s
