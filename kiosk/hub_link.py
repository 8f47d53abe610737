"""The kiosk's one door to the hub. Everything the kiosk knows about bus.hubclient is in here, so
an API change there touches this file only.

`send(req, payload, on_reply)` returns at once; a worker thread makes the request and calls
`on_reply(req, reply)` from that thread (the app hands it to Kivy's clock). A reply is always
delivered: the hub's answer, or ``{"ok": false, "error": "timeout" | ...}``.

Two implementations of the same small interface:
  * `MqttHubLink`  — the real one: MQTT 5 request/response through bus.hubclient.HubClient;
  * `LocalHubLink` — an in-process queue authority on a local store, for running the kiosk
    on a desk without a broker (`palvelupiste kiosk --local`).
"""
from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

Reply = dict[str, Any]
OnReply = Callable[[int, Reply], None]
_STOP = object()


class HubLink:
    """Base: a worker thread that runs `_request` for each queued command, in order."""

    def __init__(self, timeout_s: float = 5.0) -> None:
        self.timeout_s = timeout_s
        self._q: queue.Queue[Any] = queue.Queue()
        self._thread: threading.Thread | None = None

    def start(self) -> "HubLink":
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="kiosk-hub-link", daemon=True)
            self._thread.start()
        return self

    def send(self, req: int, payload: dict[str, Any], on_reply: OnReply) -> None:
        self.start()
        self._q.put((req, payload, on_reply))

    def _run(self) -> None:
        while True:
            item = self._q.get()
            if item is _STOP:
                self._shutdown()
                return
            req, payload, on_reply = item
            try:
                reply = self._request(payload)
            except Exception as exc:  # the kiosk must get an answer whatever happened
                log.exception("kiosk: request to the hub failed")
                reply = {"ok": False, "error": "internal", "message": str(exc)}
            try:
                on_reply(req, reply)
            except Exception:
                log.exception("kiosk: handling the hub's answer failed")

    def _request(self, payload: dict[str, Any]) -> Reply:
        raise NotImplementedError

    def _shutdown(self) -> None:
        """On the worker thread, as it ends."""

    @property
    def connected(self) -> bool:
        return True

    def close(self) -> None:
        self._q.put(_STOP)
        if self._thread is not None:
            self._thread.join(5)


class MqttHubLink(HubLink):
    """The real hub over the site broker (MQTT 5 request/response)."""

    def __init__(self, broker: Any, site: str, device: str, timeout_s: float = 5.0, **client_kw: Any) -> None:
        super().__init__(timeout_s)
        from bus.hubclient import HubClient

        # The kiosk's own client id (its device id): one kiosk process per device.
        client_kw.setdefault("client_id", device)
        self.client = HubClient(broker, site, device, **client_kw)

    def start(self) -> "MqttHubLink":
        self.client.start()
        super().start()
        return self

    def wait_connected(self, timeout: float) -> bool:
        return self.client.wait_connected(timeout)

    def _request(self, payload: dict[str, Any]) -> Reply:
        payload = dict(payload)
        key = payload.pop("request_id", None)
        return self.client.request(payload, timeout=self.timeout_s,
                                   correlation=key.encode() if isinstance(key, str) else None)

    @property
    def connected(self) -> bool:
        return self.client.connected

    def close(self) -> None:
        super().close()
        self.client.close()


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

    def _request(self, payload: dict[str, Any]) -> Reply:
        if self._authority is None:
            from core.store import EventStore
            from hub.authority import QueueAuthority

            store = EventStore(self.store_path, self.site.id, self.device)
            self._authority = QueueAuthority(self.site, store, self.appointments)
        import json

        return self._authority.handle_payload(json.dumps(payload), role="kiosk")

    def _shutdown(self) -> None:
        if self._authority is not None:
            self._authority.store.close()


def link_for_device(device: Any, site: Any, timeout_s: float) -> HubLink:
    """The hub link a kiosk device config asks for (its [site_broker])."""
    if device.site_broker is None:
        raise ValueError(f"{device.id}: the device configuration has no [site_broker] url")
    return MqttHubLink(device.site_broker, site.id, device.id, timeout_s)
