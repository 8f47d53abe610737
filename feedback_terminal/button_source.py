"""Where button events come from, and the reader that turns them into callbacks.

A ButtonSource opens a device, grabs it and yields its events; when the device vanishes it
says so and rescans until the device is back. The reconnect loop lives in the base class, so
the real EvdevSource and the FakeSource used by tests (sim.fake_buttons) run the same code and differ only in
open(). All sources deliver CLOCK_MONOTONIC timestamps: ButtonSource.now() is that clock.

ButtonReader ties a source to a ButtonDecoder and calls plain callbacks; ReaderThread runs it
in a background thread with its own asyncio loop (the Kivy app owns the main thread). The
callbacks run on that thread, so a Kivy app wraps them with kivy.clock.mainthread:

    reader = ButtonReader(EvdevSource(cfg), ButtonDecoder(cfg), on_press=mainthread(app.on_button))
    buttons = ReaderThread(reader).start()   # in App.on_start
    buttons.stop()                           # in App.on_stop: cancels, closes and ungrabs
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import struct
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable
from contextlib import aclosing
from dataclasses import dataclass
from typing import Protocol

import evdev
from evdev import InputEvent, ecodes

from .buttons import ButtonConfig, ButtonDecoder, Decision, Press, Stuck, Unstuck, key_name

log = logging.getLogger(__name__)

# _IOW('E', 0xa0, int) from linux/input.h; python-evdev 2.0 has no wrapper for it.
EVIOCSCLOCKID = 0x400445A0


@dataclass(frozen=True)
class DeviceUp:
    label: str
    held: frozenset[int] = frozenset()  # keys already down at open (no key-down will come)


@dataclass(frozen=True)
class DeviceDown:
    reason: str


SourceItem = DeviceUp | DeviceDown | InputEvent


class Device(Protocol):
    """The part of evdev.InputDevice a source uses."""

    def grab(self) -> None: ...
    def active_keys(self) -> list[int]: ...
    def async_read_loop(self) -> AsyncIterator[InputEvent]: ...
    def close(self) -> None: ...


class ButtonSource(ABC):
    def __init__(self, rescan_interval_s: float = 2.0) -> None:
        self.rescan_interval_s = rescan_interval_s

    @abstractmethod
    def open(self) -> tuple[Device, str]:
        """Open the device and return it with a label; raise OSError or LookupError if absent."""

    def now(self) -> float:
        return time.monotonic()

    async def items(self) -> AsyncIterator[SourceItem]:
        """DeviceUp, its events, DeviceDown, ... forever. Ends only by cancellation or aclose()."""
        last_down: str | None = None
        while True:
            try:
                device, label = self.open()
            except (OSError, LookupError) as e:
                if str(e) != last_down:  # report a change, not every rescan
                    last_down = str(e)
                    yield DeviceDown(last_down)
                await asyncio.sleep(self.rescan_interval_s)
                continue
            try:
                device.grab()  # keys must reach only us, never a console or the Kivy window
                last_down = None
                yield DeviceUp(label, frozenset(device.active_keys()))
                async for event in device.async_read_loop():
                    yield event
                reason = f"{label}: read loop ended"
            except OSError as e:
                # ENODEV on unplug; anything else (EIO, EBUSY from grab) is handled the same
                # way: let go, report, rescan. Restarting the app would not do better.
                reason = f"{label}: {e.strerror or e}"
            finally:
                try:
                    device.close()
                except OSError:
                    pass
            if reason != last_down:  # a grab refused on every rescan is one report
                last_down = reason
                yield DeviceDown(reason)
            await asyncio.sleep(self.rescan_interval_s)


class EvdevSource(ButtonSource):
    """A real input device, chosen by stable path (preferred) or by name."""

    def __init__(self, config: ButtonConfig) -> None:
        super().__init__(config.rescan_interval_s)
        self.config = config

    def open(self) -> tuple[Device, str]:
        cfg = self.config
        if cfg.device_path:
            try:
                return self._checked(evdev.InputDevice(cfg.device_path))
            except (OSError, LookupError):
                if not cfg.device_name:
                    raise
        # writable=False: we only read and grab, and the default (True) would silently skip
        # a device the service user may read but not write.
        found: list[evdev.InputDevice] = []
        for path in sorted(evdev.list_devices(writable=False)):
            try:
                dev = evdev.InputDevice(path)
            except OSError:
                continue  # vanished between listing and opening, or not ours to read
            if dev.name == cfg.device_name and self._has_mapped_key(dev):
                found.append(dev)
            else:
                dev.close()
        if not found:
            raise LookupError(f"no input device named {cfg.device_name!r} with the mapped keys")
        for extra in found[1:]:
            log.warning("several devices named %r; using %s, not %s", cfg.device_name, found[0].path, extra.path)
            extra.close()
        return self._checked(found[0])

    def _has_mapped_key(self, dev: evdev.InputDevice) -> bool:
        # Cheap USB button boxes show up as several nodes with the same name (keyboard,
        # consumer control, mouse); only the node with our keys is the right one.
        return bool(set(dev.capabilities().get(ecodes.EV_KEY, ())) & self.config.keymap.keys())

    def _checked(self, dev: evdev.InputDevice) -> tuple[Device, str]:
        label = f"{dev.name} at {dev.path}"
        if not self._has_mapped_key(dev):
            dev.close()
            raise LookupError(f"{label} has none of the mapped keys")
        try:
            # Kernel timestamps are wall clock by default; an NTP step on a Pi without RTC
            # would fake a stuck key. Switch this fd to CLOCK_MONOTONIC.
            fcntl.ioctl(dev.fileno(), EVIOCSCLOCKID, struct.pack("i", time.CLOCK_MONOTONIC))
            return dev, label
        except OSError as e:
            log.warning("%s: cannot set monotonic clock (%s); stamping events on arrival", label, e)
            return _Restamped(dev), label


class _Restamped:
    """Fallback: replace kernel wall-clock stamps with monotonic arrival time."""

    def __init__(self, dev: Device) -> None:
        self._dev = dev

    def grab(self) -> None:
        self._dev.grab()

    def active_keys(self) -> list[int]:
        return self._dev.active_keys()

    def close(self) -> None:
        self._dev.close()

    async def async_read_loop(self) -> AsyncIterator[InputEvent]:
        async for event in self._dev.async_read_loop():
            now = time.monotonic()
            event.sec, event.usec = int(now), int(now % 1 * 1_000_000)
            yield event


class ButtonReader:
    """Reads a source, decodes, calls back. Callbacks run on the reader's loop thread."""

    def __init__(
        self,
        source: ButtonSource,
        decoder: ButtonDecoder,
        *,
        on_press: Callable[[int, float], object] | None = None,
        on_stuck: Callable[[int], object] | None = None,
        on_unstuck: Callable[[int], object] | None = None,
        on_device: Callable[[bool], object] | None = None,
        tick_interval_s: float = 0.5,
    ) -> None:
        self.source, self.decoder = source, decoder
        self.on_press, self.on_stuck, self.on_unstuck, self.on_device = on_press, on_stuck, on_unstuck, on_device
        self.tick_interval_s = tick_interval_s
        # Status for the device health message; replaced whole, so other threads read it safely.
        self.present: bool | None = None
        self.detail = "starting"
        self.stuck_keys: frozenset[int] = frozenset()

    async def run(self) -> None:
        """Run until cancelled."""
        ticker = asyncio.create_task(self._tick_forever())
        try:
            async with aclosing(self.source.items()) as items:
                async for item in items:
                    self._handle(item)
        finally:
            ticker.cancel()
            await asyncio.gather(ticker, return_exceptions=True)

    async def _tick_forever(self) -> None:
        # A stuck key sends only auto-repeat (or nothing), so time must be checked without events.
        while True:
            await asyncio.sleep(self.tick_interval_s)
            self._emit(self.decoder.tick(self.source.now()))

    def _handle(self, item: SourceItem) -> None:
        if isinstance(item, DeviceUp):
            self.detail = item.label
            self._emit(self.decoder.reset(self.source.now(), item.held))
            self._set_present(True)
        elif isinstance(item, DeviceDown):
            self.detail = item.reason
            self._emit(self.decoder.reset(self.source.now()))
            self._set_present(False)
        else:
            self._emit(self.decoder.feed(item))

    def _set_present(self, present: bool) -> None:
        if present != self.present:
            self.present = present
            log.log(logging.INFO if present else logging.WARNING, "buttons %s: %s", "present" if present else "absent", self.detail)
            self._call(self.on_device, present)

    def _emit(self, decisions: list[Decision]) -> None:
        for d in decisions:
            if isinstance(d, Press):
                self._call(self.on_press, d.rating, d.t)
            else:
                self.stuck_keys = self.decoder.stuck_keys
                if isinstance(d, Stuck):
                    log.warning("button %s stuck; ignored until released", key_name(d.code))
                    self._call(self.on_stuck, d.code)
                elif isinstance(d, Unstuck):
                    log.info("button %s released", key_name(d.code))
                    self._call(self.on_unstuck, d.code)

    @staticmethod
    def _call(callback: Callable[..., object] | None, *args: object) -> None:
        if callback is None:
            return
        try:
            callback(*args)
        except Exception:  # a faulty callback must not stop the buttons
            log.exception("button callback %r failed", callback)


class ReaderThread:
    """Run a ButtonReader in a daemon thread with its own asyncio loop; stop() cancels it."""

    def __init__(self, reader: ButtonReader, name: str = "feedback-buttons") -> None:
        self.reader = reader
        self._thread = threading.Thread(target=self._main, name=name, daemon=True)
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task | None = None

    def start(self) -> ReaderThread:
        self._thread.start()
        self._ready.wait()
        return self

    def stop(self, timeout: float = 5.0) -> bool:
        """Cancel the reader (this also ungrabs and closes the device); True once the thread ended."""
        if self._thread.ident is None:
            return True
        loop, task = self._loop, self._task
        if loop is not None and task is not None:
            try:
                loop.call_soon_threadsafe(task.cancel)
            except RuntimeError:
                pass  # loop already closed: the reader ended on its own
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def is_alive(self) -> bool:
        return self._thread.is_alive()

    def __enter__(self) -> ReaderThread:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _main(self) -> None:
        try:
            asyncio.run(self._amain())
        except Exception:
            log.exception("button reader crashed")
        finally:
            self._ready.set()  # never leave start() waiting

    async def _amain(self) -> None:
        self._loop, self._task = asyncio.get_running_loop(), asyncio.current_task()
        self._ready.set()
        try:
            await self.reader.run()
        except asyncio.CancelledError:
            pass  # stop() asked for it
