"""The kiosk's one door to the hub. Everything the kiosk knows about bus.hubclient is in here, so
an API change there touches this file only.

`send(req, payload, on_reply)` returns at once; the one command worker (bus.worker) makes the
request and calls `on_reply(req, reply)` from its thread (the app hands it to Kivy's clock). A
reply is always delivered: the hub's answer, or ``{"ok": false, "error": "timeout" | ...}``.
A payload's "request_id" is not sent as a field: it becomes the MQTT correlation data, so that
"Try again" re-sends with the same one and the hub answers with its first answer (a number the
hub issued while its answer was lost is not issued twice).

`on_state(callback)` (before `start()`): `callback(state)` with the hub's retained live state
(bus/live.py shape: opening hours, estimates) at once and on every change, from the link's thread.

Two implementations of the same small interface:
  * `MqttHubLink`  — the real one: MQTT 5 request/response through bus.hubclient.HubClient;
  * `LocalHubLink` — an in-process queue authority on a local store, for running the kiosk
    on a desk without a broker (`palvelupiste kiosk --local`).
"""
from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from bus.hubclient import HubClient
from bus.worker import CommandWorker

Reply = dict[str, Any]
OnReply = Callable[[int, Reply], None]
#: The local link's own request for the state at start (never sent to a hub).
_STATE = "\0state"


class HubLink:
    """Base: the kiosk's commands go through one command worker, in order, off the UI thread."""

    def __init__(self, timeout_s: float = 5.0) -> None:
        self.timeout_s = timeout_s
        self.worker = CommandWorker(self._request, name="kiosk-hub-link", on_stop=self._shutdown)

    def start(self) -> "HubLink":
        self.worker.start()
        return self

    def send(self, req: int, payload: dict[str, Any], on_reply: OnReply) -> None:
        payload = dict(payload)
        key = payload.pop("request_id", None)
        self.worker.submit(payload, lambda reply: on_reply(req, reply),
                           correlation=key.encode() if isinstance(key, str) else None)

    def on_state(self, callback: Callable[[Reply], None]) -> None:
        """`callback(state)` for the hub's live state (none by default)."""

    def _request(self, payload: dict[str, Any], correlation: bytes | None) -> Reply:
        """On the worker's thread."""
        raise NotImplementedError

    def _shutdown(self) -> None:
        """On the worker's thread, as it ends."""

    @property
    def connected(self) -> bool:
        return True

    def close(self) -> None:
        self.worker.close()


class MqttHubLink(HubLink):
    """The real hub over the site broker (MQTT 5 request/response)."""

    def __init__(self, broker: Any, site: str, device: str, timeout_s: float = 5.0, **client_kw: Any) -> None:
        super().__init__(timeout_s)
        self.client = HubClient(broker, site, device, **client_kw)

    def start(self) -> "MqttHubLink":
        self.client.start()
        super().start()
        return self

    def wait_connected(self, timeout: float) -> bool:
        return self.client.wait_connected(timeout)

    def on_state(self, callback: Callable[[Reply], None]) -> None:
        self.client.on_state(callback)  # the retained state topic, parsed by bus.live

    def _request(self, payload: dict[str, Any], correlation: bytes | None) -> Reply:
        return self.client.request(payload, timeout=self.timeout_s, correlation=correlation)

    @property
    def connected(self) -> bool:
        return self.client.connected

    def close(self) -> None:
        self.worker.stop()
        self.client.close()  # a command still waiting for its answer ends now, as "closed"
        self.worker.join(self.timeout_s + 1)


class LocalHubLink(HubLink):
    """A queue authority in this process, on its own store (no broker): for desk testing.
    The store is opened on the worker thread, which is the only one using it."""

    def __init__(self, site: Any, store_path: str, device: str = "hub-local", timeout_s: float = 5.0,
                 appointments: Any = ()) -> None:
        super().__init__(timeout_s)
        self.site = site
        self.store_path = store_path
        self.device = device
        self.appointments = list(appointments)
        self._authority = None
        self._state_cbs: list[Callable[[Reply], None]] = []

    def on_state(self, callback: Callable[[Reply], None]) -> None:
        self._state_cbs.append(callback)

    def start(self) -> "LocalHubLink":
        super().start()
        if self._state_cbs:
            self.worker.submit({"cmd": _STATE}, lambda _reply: None)  # the state as the kiosk starts
        return self

    def _request(self, payload: dict[str, Any], correlation: bytes | None) -> Reply:
        if self._authority is None:
            from core.store import EventStore
            from hub.authority import QueueAuthority

            store = EventStore(self.store_path, self.site.id, self.device)
            self._authority = QueueAuthority(self.site, store, self.appointments)
        reply = {"ok": True} if payload.get("cmd") == _STATE else \
            self._authority.handle_payload(json.dumps(payload), role="kiosk")
        if self._state_cbs:
            # After every command, the state as a hub would publish it (the kiosk's own only).
            state = self._authority.snapshot()
            for cb in self._state_cbs:
                cb(state)
        return reply

    def _shutdown(self) -> None:
        if self._authority is not None:
            self._authority.store.close()


def link_for_device(device: Any, site: Any, timeout_s: float) -> HubLink:
    """The hub link a kiosk device config asks for (its [site_broker])."""
    if device.site_broker is None:
        raise ValueError(f"{device.id}: the device configuration has no [site_broker] url")
    return MqttHubLink(device.site_broker, site.id, device.id, timeout_s)
