"""The counter's only contact with the hub's API (bus.hubclient). If that API changes, this file
changes, nothing else.

`CounterLink` is for the panel: commands are sent one after another from a worker thread (the UI
thread never waits on the network; the clerk's taps reach the hub in the order they were made),
and the answer comes back through a callback. The live state and the link's ups and downs arrive
through `on_state` / `on_link`. `request_once` is for the CLI.

Every answer is a dict with "ok"; a failure has a stable "error" code (the hub's, or "timeout",
"closed", "refused", "send_failed" from the client) that the UI translates (counter/model.py).
"""
from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from typing import Any

from core.config import Broker
from bus.link import ConnectFailed, Connected, Disconnected

log = logging.getLogger(__name__)

Reply = dict[str, Any]
DEFAULT_TIMEOUT_S = 5.0


class CounterLink:
    def __init__(self, broker: Broker | str, site_id: str, device: str, *,
                 on_state: Callable[[dict[str, Any]], None] | None = None,
                 on_link: Callable[[bool], None] | None = None,
                 username: str | None = None, password: str | None = None,
                 timeout: float = DEFAULT_TIMEOUT_S) -> None:
        from bus.hubclient import HubClient

        self.timeout = timeout
        self.client = HubClient(broker, site_id, device, username=username, password=password,
                                min_backoff_s=0.3, max_backoff_s=5.0, keepalive=10)
        if on_state is not None:
            self.client.on_state(on_state)
        if on_link is not None:
            def other(item: Any) -> None:
                if isinstance(item, Connected):
                    on_link(True)
                elif isinstance(item, (Disconnected, ConnectFailed)):
                    on_link(False)
            self.client.on_other(other)
        self._jobs: queue.Queue[tuple[dict[str, Any], Callable[[Reply], None]] | None] = queue.Queue()
        self._worker = threading.Thread(target=self._run, name=f"counter-cmd-{device}", daemon=True)

    def start(self) -> "CounterLink":
        self.client.start()
        self._worker.start()
        return self

    def close(self) -> None:
        self._jobs.put(None)
        self.client.close()
        if self._worker.is_alive():
            self._worker.join(self.timeout + 1)

    @property
    def connected(self) -> bool:
        return self.client.connected

    def send(self, payload: dict[str, Any], on_reply: Callable[[Reply], None]) -> None:
        """Queue a command; `on_reply(answer)` is called from the worker thread."""
        self._jobs.put((payload, on_reply))

    def request(self, payload: dict[str, Any]) -> Reply:
        """Blocking (not from the UI thread)."""
        return self.client.request(payload, timeout=self.timeout)

    def _run(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            payload, cb = job
            try:
                reply = self.client.request(payload, timeout=self.timeout)
            except Exception as exc:  # the client should not raise; never kill the worker
                log.exception("counter: request failed")
                reply = {"ok": False, "error": "internal", "message": str(exc)}
            try:
                cb(reply)
            except Exception:
                log.exception("counter: reply callback failed")


def request_once(broker: Broker, site_id: str, device: str, payload: dict[str, Any], *,
                 timeout: float = DEFAULT_TIMEOUT_S) -> Reply:
    """Connect, send one command, return the answer, disconnect (the CLI). Never raises for a
    broker problem: every failure is an answer with ok false."""
    from bus.hubclient import HubClient

    try:
        client = HubClient(broker, site_id, device, min_backoff_s=0.2, max_backoff_s=1.0)
    except OSError as exc:
        return {"ok": False, "error": "bad_password_file", "message": f"cannot read the password file: {exc}"}
    except ValueError as exc:
        return {"ok": False, "error": "bad_broker_url", "message": str(exc)}
    try:
        return client.request(payload, timeout=timeout)
    finally:
        client.close()
