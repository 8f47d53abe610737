"""The counter's only contact with the hub's API (bus.hubclient, bus.worker). If that API changes,
this file changes, nothing else.

`CounterLink` is for the panel: commands go through the one command worker (bus.worker), so the UI
thread never waits on the network and the clerk's taps reach the hub in the order they were made;
the answer comes back through a callback. The live state and the link's ups and downs arrive
through `on_state` / `on_link`. `request_once` (bus.hubclient's) is for the CLI.

Every answer is a dict with "ok"; a failure has a stable "error" code (core.errors.WireError) that
the UI translates (counter/model.py).
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bus.hubclient import DEFAULT_TIMEOUT_S, HubClient, request_once
from bus.link import Connected, ConnectFailed, Disconnected
from bus.worker import CommandWorker
from core.config import Broker

__all__ = ["CounterLink", "DEFAULT_TIMEOUT_S", "Reply", "request_once"]

Reply = dict[str, Any]


class CounterLink:
    def __init__(self, broker: Broker | str, site_id: str, device: str, *,
                 on_state: Callable[[dict[str, Any]], None] | None = None,
                 on_link: Callable[[bool], None] | None = None,
                 username: str | None = None, password: str | None = None,
                 timeout: float = DEFAULT_TIMEOUT_S) -> None:
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
        self.worker = CommandWorker(lambda payload, _corr: self.request(payload), name=f"counter-cmd-{device}")

    def start(self) -> "CounterLink":
        self.client.start()
        self.worker.start()
        return self

    def close(self) -> None:
        self.worker.stop()
        self.client.close()  # a command still waiting for its answer ends now, as "closed"
        self.worker.join(self.timeout + 1)

    @property
    def connected(self) -> bool:
        return self.client.connected

    def send(self, payload: dict[str, Any], on_reply: Callable[[Reply], None]) -> None:
        """Queue a command; `on_reply(answer)` is called from the worker thread."""
        self.worker.submit(payload, on_reply)

    def request(self, payload: dict[str, Any]) -> Reply:
        """Blocking (not from the UI thread)."""
        return self.client.request(payload, timeout=self.timeout)
