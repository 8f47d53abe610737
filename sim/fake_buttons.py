"""Smiley buttons without hardware: a ButtonSource that tests and the demo push real evdev
InputEvents into. It runs the same reader code as the real EvdevSource."""
from __future__ import annotations

import asyncio
import errno
import threading
import time
from collections.abc import Callable, Iterable

from evdev import InputEvent, ecodes

from feedback_terminal.button_source import ButtonSource, Device


class FakeSource(ButtonSource):
    """A device for tests and the demo. push()/unplug()/plug() may be called from any thread."""

    def __init__(
        self,
        *,
        plugged: bool = True,
        held: Iterable[int] = (),
        rescan_interval_s: float = 0.01,
        clock: Callable[[], float] = time.monotonic,
        label: str = "fake buttons",
    ) -> None:
        super().__init__(rescan_interval_s)
        self.held = frozenset(held)  # keys reported as already down when opened
        self.grab_error: OSError | None = None  # set to make grab() fail, e.g. EBUSY
        self.grabs = 0
        self.opens = 0
        self._clock, self._label = clock, label
        self._lock = threading.Lock()
        self._plugged = plugged
        self._device: _FakeDevice | None = None

    def now(self) -> float:
        return self._clock()

    def open(self) -> tuple[Device, str]:
        with self._lock:
            if not self._plugged:
                raise FileNotFoundError(errno.ENOENT, "No such file or directory", self._label)
            self.opens += 1
            self._device = _FakeDevice(self, asyncio.get_running_loop())
            return self._device, self._label

    def push(self, *events: InputEvent) -> None:
        """Deliver real evdev InputEvents to the open device, in order."""
        with self._lock:
            if self._device is None:
                raise RuntimeError("no fake device is open: wait for on_device(True) first")
            for event in events:
                self._device.deliver(event)

    def key(self, code: int, value: int, t: float | None = None) -> None:
        """Push one key event and its SYN_REPORT, stamped like the kernel would (now())."""
        t = self.now() if t is None else t
        sec, usec = int(t), int(round(t % 1 * 1_000_000))
        self.push(InputEvent(sec, usec, ecodes.EV_KEY, code, value), InputEvent(sec, usec, ecodes.EV_SYN, ecodes.SYN_REPORT, 0))

    def tap(self, code: int) -> None:
        self.key(code, 1)
        self.key(code, 0)

    def unplug(self) -> None:
        with self._lock:
            self._plugged = False
            device, self._device = self._device, None
        if device is not None:
            device.deliver(OSError(errno.ENODEV, "No such device"))  # what the kernel read gives

    def plug(self) -> None:
        with self._lock:
            self._plugged = True


class _FakeDevice:
    def __init__(self, source: FakeSource, loop: asyncio.AbstractEventLoop) -> None:
        self._source, self._loop = source, loop
        self._queue: asyncio.Queue[InputEvent | OSError] = asyncio.Queue()
        self.closed = False

    def deliver(self, item: InputEvent | OSError) -> None:
        self._loop.call_soon_threadsafe(self._queue.put_nowait, item)

    def grab(self) -> None:
        if self._source.grab_error is not None:
            raise self._source.grab_error
        self._source.grabs += 1

    def active_keys(self) -> list[int]:
        return sorted(self._source.held)

    def close(self) -> None:
        self.closed = True

    def async_read_loop(self) -> _FakeDevice:
        return self

    def __aiter__(self) -> _FakeDevice:
        return self

    async def __anext__(self) -> InputEvent:
        item = await self._queue.get()
        if isinstance(item, OSError):
            raise item
        return item
