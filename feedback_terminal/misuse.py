"""Misuse detection for smiley presses. Pure logic, no I/O.

Every press is stored; check() only says which flags to store with it, and the monthly
reports leave flagged presses out. Nothing is dropped, so the rules can be changed later
and the figures recomputed.

Times are seconds on a monotonic clock chosen by the caller: time.monotonic(), or the `t`
that ButtonReader passes to on_press (the same clock). Wall-clock time would step with NTP.
"""

from __future__ import annotations

from collections import deque

INTERVAL = "interval"  # too soon after the previous press
BURST = "burst"  # too many presses in a short window


class MisuseGuard:
    def __init__(self, min_interval_s: float = 5.0, burst_count: int = 6, burst_window_s: float = 20.0) -> None:
        if min_interval_s < 0 or burst_count < 1 or burst_window_s <= 0:
            raise ValueError("min_interval_s >= 0, burst_count >= 1 and burst_window_s > 0 required")
        self.min_interval_s = min_interval_s
        self.burst_count = burst_count
        self.burst_window_s = burst_window_s
        self._recent: deque[float] = deque()  # times of all presses, flagged too, in the window

    def check(self, t: float) -> list[str]:
        """Judge a press at time t and remember it. Returns its flags; [] means clean.

        "interval": less than min_interval_s since the previous press (flagged or not).
        "burst": more than burst_count presses, this one included, in the last burst_window_s.
        If t is earlier than the previous press (the caller's clock stepped back), the history
        is forgotten and this press is judged as the first one: a step must not flag every
        later press until the clock catches up.
        """
        if self._recent and t < self._recent[-1]:
            self._recent.clear()
        flags: list[str] = []
        if self._recent and t - self._recent[-1] < self.min_interval_s:
            flags.append(INTERVAL)
        self._recent.append(t)
        while t - self._recent[0] >= self.burst_window_s:
            self._recent.popleft()
        if len(self._recent) > self.burst_count:
            flags.append(BURST)
        return flags
