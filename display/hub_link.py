"""The display's only contact with the hub's API (bus.hubclient.HubClient). If that API changes,
this file changes, nothing else.

Everything arrives as one stream of small tuples, from the client's dispatcher thread:

    ("call", dict)      a call or recall message (bus/live.py shape)
    ("state", dict)     the retained live state
    ("link", bool)      connected to the site broker / not
    ("hub", bool)       the hub's availability: "online" / "offline" (its last will)

The app queues them and wakes its UI thread; `on_event` must not block.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from bus import topics
from bus.link import Connected, ConnectFailed, Disconnected, Message
from core.config import Broker, Site

log = logging.getLogger(__name__)

Event = tuple[str, Any]


class DisplayLink:
    def __init__(self, broker: Broker | str, site: Site, device: str, on_event: Callable[[Event], None],
                 *, username: str | None = None, password: str | None = None,
                 min_backoff_s: float = 0.5, max_backoff_s: float = 5.0) -> None:
        from bus.hubclient import HubClient

        self.site = site
        self.on_event = on_event
        self.hub_topics = {topics.availability(site.id, d): d for d, role in site.devices.items() if role == "hub"}
        # A display only listens; reconnect quickly so that the screen recovers soon after the
        # broker is back (the backoff still has jitter).
        self.client = HubClient(broker, site.id, device, username=username, password=password,
                                min_backoff_s=min_backoff_s, max_backoff_s=max_backoff_s, keepalive=10)
        self.client.on_call(lambda m: self.on_event(("call", m)))
        self.client.on_state(lambda s: self.on_event(("state", s)))
        self.client.on_other(self._other)
        for t in self.hub_topics:
            self.client.link.subscribe(t, 1)

    def _other(self, item: Any) -> None:
        if isinstance(item, Connected):
            self.on_event(("link", True))
        elif isinstance(item, (Disconnected, ConnectFailed)):
            self.on_event(("link", False))
        elif isinstance(item, Message) and item.topic in self.hub_topics:
            self.on_event(("hub", item.payload.strip() != b"offline"))

    def start(self) -> "DisplayLink":
        self.client.start()
        return self

    def close(self) -> None:
        self.client.close()

    @property
    def connected(self) -> bool:
        return self.client.connected
