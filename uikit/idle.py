"""Idle reset: after a period without touches the device returns to its start screen.

Pure logic with the time passed in, so it is tested without a clock or a window. Before the
reset a "more time?" prompt is shown for `warn_s`; touching anything extends the period.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass
class IdleTimer:
    timeout_s: float = 30.0
    warn_s: float = 8.0
    last_touch: float = 0.0
    active: bool = False  # only counts while away from the start screen

    def touch(self, now: float) -> None:
        self.last_touch = now

    def start(self, now: float) -> None:
        self.active, self.last_touch = True, now

    def stop(self) -> None:
        self.active = False

    def state(self, now: float) -> str:
        """'idle' (nothing to do), 'ok', 'warn' (show the more-time prompt) or 'reset'."""
        if not self.active:
            return "idle"
        quiet = now - self.last_touch
        if quiet >= self.timeout_s:
            return "reset"
        if quiet >= self.timeout_s - self.warn_s:
            return "warn"
        return "ok"

    def remaining(self, now: float) -> float:
        return max(0.0, self.timeout_s - (now - self.last_touch))
