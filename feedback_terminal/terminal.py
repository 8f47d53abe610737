"""One path for every rating, touched or pressed: misuse flags → response → durable event.

`Terminal.press()` may be called from the Kivy thread (a face touched) or from the button
reader's thread (a physical button). Under one lock it asks the misuse guard for the press's
flags and queues the new response to the recorder thread, so the order of the flags and the
order of the events are the same. Presses are never dropped: a flagged press is stored with
its flags, and reports leave it out. `on_rating(response, event, error)` is called once the
rating is durable (or failed), on the recorder's thread.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Callable

from core.events import Event

from .misuse import MisuseGuard
from .recorder import RecorderThread, Response, local_time, new_response

OnDone = Callable[[Response, Event | None, Exception | None], None]


class Terminal:
    def __init__(self, recorder: RecorderThread, guard: MisuseGuard, *, scale: int, tz: str,
                 context: Callable[[], tuple[str, str | None]], on_rating: OnDone | None = None) -> None:
        """`context()` gives (language, attributed service) of the screen right now."""
        self.recorder = recorder
        self.guard = guard
        self.scale = scale
        self.tz = tz
        self.context = context
        self.on_rating = on_rating
        self._lock = threading.Lock()
        local_time(time.time(), tz)  # load the time zone now, not on the first press
        self.presses = 0
        self.flagged = 0

    def press(self, rating: int, t: float | None = None, input: str = "touch",
              on_done: OnDone | None = None) -> Response:
        """Record one rating. `t` is the press time on the monotonic clock (the button
        reader passes the kernel's event time; a touch passes None = now)."""
        t = time.monotonic() if t is None else t
        with self._lock:
            flags = self.guard.check(t)
            lang, service = self.context()
            response = new_response(rating, self.scale, lang, self.tz, input=input, flags=flags, service=service)
            self.presses += 1
            self.flagged += bool(flags)
            self.recorder.submit(response, on_done or self.on_rating)
        return response

    def answer(self, snapshot: Response, on_done: OnDone) -> None:
        """A follow-up snapshot (built by the flow) to store."""
        self.recorder.submit(snapshot, on_done)
