"""sd_notify(3) without a dependency: READY=1, WATCHDOG=1, STATUS=, STOPPING=1.

The units in systemd/ are `Type=notify` with `WatchdogSec=`: systemd counts a service as started
only when it says READY=1, and restarts it when WATCHDOG=1 stops coming for WatchdogSec. The ping
must come from the loop that does the work — the Kivy Clock for an app, the service loop for the
hub and the sync agent — never from a helper thread of its own, or a frozen UI keeps pinging and is
never restarted.

Kivy app (after the window exists, e.g. in App.on_start):

    from kivy.clock import Clock
    from runtime import sdnotify

    sdnotify.ready("kiosk: start screen shown")
    sdnotify.start_watchdog_pings(Clock.schedule_interval)   # pings from the UI thread

Service loop (hub, sync agent), called on every turn of the loop (it pings only when due):

    pinger = sdnotify.WatchdogPinger()
    sdnotify.ready()
    while running:
        ...one turn of the loop (must come back within WatchdogSec / 2)...
        pinger.tick()
    sdnotify.stopping()

Outside systemd ($NOTIFY_SOCKET unset) every call is a cheap no-op returning False, so the same code
runs in tests, the demo and a terminal.
"""
from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable
from typing import Any

__all__ = ["notify", "ready", "watchdog", "status", "stopping", "watchdog_interval",
           "start_watchdog_pings", "WatchdogPinger"]


def _address() -> str | None:
    addr = os.environ.get("NOTIFY_SOCKET")
    if not addr:
        return None
    if addr[0] == "@":  # abstract namespace
        return "\0" + addr[1:]
    if addr[0] == "/":
        return addr
    return None  # vsock: and other transports are not used on our devices


def notify(message: str) -> bool:
    """Send one notification ("READY=1", "STATUS=...", several joined by newlines).
    True when it was sent; False outside systemd or when the socket is gone (never raises)."""
    addr = _address()
    if addr is None:
        return False
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as s:
            s.connect(addr)
            s.sendall(message.encode("utf-8"))
        return True
    except OSError:
        return False


def _clean(text: str) -> str:
    return " ".join(str(text).split())[:200]


def ready(status_text: str | None = None) -> bool:
    """The service is up (systemd finishes its start; ordering After= it proceeds)."""
    return notify("READY=1" + (f"\nSTATUS={_clean(status_text)}" if status_text else ""))


def watchdog() -> bool:
    """One keep-alive ping. Callable from a Kivy Clock (extra arguments are ignored)."""
    return notify("WATCHDOG=1")


def status(text: str) -> bool:
    """A one-line status shown by `systemctl status`."""
    return notify(f"STATUS={_clean(text)}")


def stopping() -> bool:
    return notify("STOPPING=1")


def watchdog_interval() -> float | None:
    """WatchdogSec in seconds when systemd expects pings from this process, else None."""
    usec = os.environ.get("WATCHDOG_USEC")
    if not usec or _address() is None:
        return None
    pid = os.environ.get("WATCHDOG_PID")
    if pid and pid.isdigit() and int(pid) != os.getpid():
        return None  # meant for another process (e.g. a parent that exec'd us)
    try:
        seconds = int(usec) / 1_000_000
    except ValueError:
        return None
    return seconds if seconds > 0 else None


def start_watchdog_pings(interval_fn: Callable[[Callable[..., Any], float], Any],
                         fraction: float = 0.5) -> float | None:
    """Schedule WATCHDOG=1 with the app's own timer, so that the pings stop when the loop stops.

    `interval_fn(callback, seconds)` is the app's repeating timer; Kivy's
    `Clock.schedule_interval` has exactly that signature and runs the callback on the UI
    thread. Pings every `fraction` × WatchdogSec. Returns that interval, or None (nothing
    scheduled) when this process is not under a systemd watchdog.
    """
    wd = watchdog_interval()
    if wd is None:
        return None
    every = max(0.5, wd * fraction)

    def _ping(*_args: Any) -> None:
        watchdog()

    interval_fn(_ping, every)
    watchdog()
    return every


class WatchdogPinger:
    """For a service loop: `tick()` on every turn; pings when `fraction` × WatchdogSec has passed.
    Does nothing outside a systemd watchdog."""

    def __init__(self, fraction: float = 0.5, clock: Callable[[], float] = time.monotonic) -> None:
        wd = watchdog_interval()
        self.every = None if wd is None else max(0.5, wd * fraction)
        self._clock = clock
        self._last = float("-inf")

    @property
    def enabled(self) -> bool:
        return self.every is not None

    def tick(self) -> bool:
        if self.every is None:
            return False
        now = self._clock()
        if now - self._last < self.every:
            return False
        self._last = now
        return watchdog()
