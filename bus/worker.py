"""The one command worker of the apps that send commands to the hub (the kiosk, the counter panel).

    worker = CommandWorker(lambda payload, corr: client.request(payload, correlation=corr)).start()
    worker.submit({"cmd": "call", "counter": "3"}, on_reply)      # returns at once
    ...
    worker.stop(); client.close(); worker.join()                   # or worker.close()

The UI thread never waits on the network: `submit` only queues. The worker's own thread sends
the commands one after another, in the order they were submitted (a clerk's taps reach the hub in
the order they were made), and calls each command's `on_reply(answer)` from that thread; a Kivy
app hands it to its UI thread with `Clock.schedule_once`. Every submitted command gets exactly one
answer: the hub's, a failure dict from the client (``"timeout"``, ...), ``"internal"`` if `send`
raised, or ``"closed"`` when the worker was stopped first. A command still queued at `stop()` is
not sent at all: nobody would see its answer, and a ticket nobody sees must not be issued.

`send(payload, correlation)` does the asking: `HubClient.request` on the site bus, or a queue
authority in this process (the kiosk's ``--local`` mode). It only ever runs on the worker's
thread, so what it owns (a SQLite connection) stays on one thread; `on_stop` runs there too, as
the worker ends. `correlation` is the MQTT correlation data to reuse: the kiosk's "Try again"
sends the same bytes, and the hub answers a repeat with its first answer instead of running the
command twice.
"""
from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from core.errors import WireError, error_reply

log = logging.getLogger(__name__)

Reply = dict[str, Any]
Send = Callable[[dict[str, Any], bytes | None], Reply]
OnReply = Callable[[Reply], None]


@dataclass(frozen=True)
class _Job:
    payload: dict[str, Any]
    on_reply: OnReply
    correlation: bytes | None


_STOP = object()


def _closed() -> Reply:
    return error_reply(WireError.CLOSED, "the command worker was stopped; the command was not sent")


class CommandWorker:
    def __init__(self, send: Send, *, name: str = "hub-commands",
                 on_stop: Callable[[], None] | None = None) -> None:
        self._send = send
        self._on_stop = on_stop
        self._q: queue.Queue[Any] = queue.Queue()
        self._lock = threading.Lock()
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> "CommandWorker":
        with self._lock:
            if not self._stopped and not self._thread.is_alive() and self._thread.ident is None:
                self._thread.start()
        return self

    def submit(self, payload: dict[str, Any], on_reply: OnReply, correlation: bytes | None = None) -> None:
        """Queue a command (starting the worker if needed). After `stop()` the answer is "closed",
        given at once on the calling thread."""
        with self._lock:
            stopped = self._stopped
            if not stopped:
                self._q.put(_Job(payload, on_reply, correlation))
        if stopped:
            self._deliver(on_reply, _closed())
            return
        self.start()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def stop(self) -> None:
        """No more sending: what is queued is answered "closed". Returns at once; a command already
        being sent ends as `send` returns (close the client to make that quick)."""
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
            started = self._thread.ident is not None
            self._q.put(_STOP)
        if not started:  # nobody will drain the queue: answer what is in it here
            self._drain()

    def join(self, timeout: float = 5.0) -> bool:
        """Wait for the worker's thread to end; True when it did."""
        if self._thread.ident is None or self._thread is threading.current_thread():
            return not self._thread.is_alive()
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def close(self, timeout: float = 5.0) -> bool:
        self.stop()
        return self.join(timeout)

    # --- the worker's thread ----------------------------------------------------------------

    def _run(self) -> None:
        try:
            while True:
                item = self._q.get()
                if item is _STOP:
                    break
                if self._stopped:
                    self._deliver(item.on_reply, _closed())
                    continue
                try:
                    reply = self._send(item.payload, item.correlation)
                except Exception as exc:  # the app must get an answer whatever happened
                    log.exception("command worker: sending %r failed", item.payload.get("cmd"))
                    reply = error_reply(WireError.INTERNAL, f"the command could not be sent: {type(exc).__name__}")
                self._deliver(item.on_reply, reply)
        finally:
            self._drain()
            if self._on_stop is not None:
                try:
                    self._on_stop()
                except Exception:
                    log.exception("command worker: on_stop failed")

    def _drain(self) -> None:
        while True:
            try:
                item = self._q.get_nowait()
            except queue.Empty:
                return
            if isinstance(item, _Job):
                self._deliver(item.on_reply, _closed())

    @staticmethod
    def _deliver(on_reply: OnReply, reply: Reply) -> None:
        try:
            on_reply(reply)
        except Exception:  # one broken callback must not end the worker
            log.exception("command worker: handling an answer failed")
