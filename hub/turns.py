"""Commands waiting for the hub: one line per device, served in turn and at a bounded rate each.

The hub reads every command of the site from one MQTT connection, and the broker hands them over
in the order they came. A kiosk gone wrong (or a script on it) can send thousands a second; served
in that order, a counter's command would wait behind all of them, and a hub busy answering them
reads its connection too slowly, so the broker piles up the rest in front of the counter's too.
So commands wait here in one line per command topic (a device's own, the site ACL sees to that):
the lines take turns, and each line is served at most `rate` commands a second (with `burst` at
once), far above what a person at a counter or a kiosk does. A line holds at most `per_device`
commands; beyond that its oldest are dropped unanswered and counted in `dropped`, for the hub to
log: a device that sends faster than it is answered must not grow the hub's memory without end.
"""
from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field

from bus.link import Message


@dataclass
class _Line:
    tokens: float
    at: float
    waiting: deque[Message] = field(default_factory=deque)


class Turns:
    def __init__(self, per_device: int, rate: float, burst: float) -> None:
        self.per_device, self.rate, self.burst = per_device, rate, burst
        self._lines: OrderedDict[str, _Line] = OrderedDict()
        # Lines that emptied before their bucket refilled: a device must not get a fresh burst by
        # pausing for a moment. Forgotten once full again (forget_rested).
        self._resting: dict[str, _Line] = {}
        self._n = 0
        self.dropped: dict[str, int] = {}  # per command topic, until the hub has logged them

    def __len__(self) -> int:
        return self._n

    def put(self, msg: Message, now: float) -> None:
        line = self._lines.get(msg.topic)
        if line is None:
            line = self._resting.pop(msg.topic, None) or _Line(self.burst, now)
            self._lines[msg.topic] = line
        line.waiting.append(msg)
        if len(line.waiting) > self.per_device:
            line.waiting.popleft()
            self.dropped[msg.topic] = self.dropped.get(msg.topic, 0) + 1
        else:
            self._n += 1

    def _refill(self, line: _Line, now: float) -> None:
        if now > line.at:
            line.tokens = min(self.burst, line.tokens + (now - line.at) * self.rate)
        line.at = now

    def take(self, now: float, only: Callable[[str], bool] | None = None) -> Message | None:
        """The next command whose turn it is, or None while every line waits for its rate. With
        `only`, just the lines whose command topic it accepts take their turn."""
        for topic, line in self._lines.items():
            if only is not None and not only(topic):
                continue
            self._refill(line, now)
            if line.tokens < 1:
                continue
            line.tokens -= 1
            msg = line.waiting.popleft()
            self._n -= 1
            if line.waiting:
                self._lines.move_to_end(topic)
            else:
                del self._lines[topic]
                if line.tokens < self.burst:
                    self._resting[topic] = line
            return msg
        return None

    def wait_s(self, now: float, only: Callable[[str], bool] | None = None) -> float | None:
        """Seconds until a command may be taken (0: now), None when nothing waits (in the lines
        `only` accepts, with it)."""
        lines = [line for topic, line in self._lines.items() if only is None or only(topic)]
        if not lines:
            return None
        best = max(line.tokens + (now - line.at) * self.rate for line in lines)
        if best >= 1:
            return 0.0
        # The fullest line is the first to have a token again.
        return (1 - best) / self.rate

    def forget_rested(self, now: float) -> None:
        for topic in [t for t, line in self._resting.items()
                      if line.tokens + (now - line.at) * self.rate >= self.burst]:
            del self._resting[topic]
