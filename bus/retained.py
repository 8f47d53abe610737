"""One retained message, published or read with a short-lived connection (the centre's tools)."""
from __future__ import annotations

import os
import queue
import socket
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from bus import topics
from core.config import Broker

if TYPE_CHECKING:
    from bus.link import MqttLink


class PublishError(Exception):
    """The broker could not be reached or refused the message."""


def _link(broker: Broker, client_id: str, subscriptions: list[tuple[str, int]] | None = None) -> MqttLink:
    from bus.link import link_for

    return link_for(broker, client_id, subscriptions=list(subscriptions or []), min_backoff_s=0.2, max_backoff_s=2.0)


def _client_id(broker: Broker) -> str:
    # The centre's tools run beside each other and the ingest under their own user names on the
    # service listener: each connection its own instance of its user's client id.
    return topics.client_id(broker.username or "anonymous", f"{socket.gethostname()[:40]}-{os.getpid()}")


def _wait(link: MqttLink, timeout: float, pred: Callable[[Any], bool]) -> Any:
    from bus.link import ConnectFailed

    deadline = time.monotonic() + timeout
    last_fail = None
    while time.monotonic() < deadline:
        try:
            item = link.inbox.get(timeout=max(0.01, deadline - time.monotonic()))
        except queue.Empty:
            break
        if isinstance(item, ConnectFailed):
            last_fail = item.reason
        if pred(item):
            return item
    raise PublishError(f"no answer from the broker within {timeout:g} s"
                        + (f" (last connect error: {last_fail})" if last_fail else ""))


def publish_retained(broker: Broker, topic: str, payload: bytes, timeout: float = 15.0, *,
                     client_id: str | None = None) -> None:
    """Publish retained, QoS 1, and wait for the broker's PUBACK; a refusal (e.g. ACL) raises."""
    from bus.link import Connected, PubAck

    link = _link(broker, client_id or _client_id(broker)).start()
    try:
        _wait(link, timeout, lambda i: isinstance(i, Connected))
        rc, mid = link.publish(topic, payload, qos=1, retain=True)
        if rc != 0:
            raise PublishError(f"publish failed (paho rc {rc})")
        ack = _wait(link, timeout, lambda i: isinstance(i, PubAck) and i.mid == mid)
        if ack.failure:
            raise PublishError(f"the broker refused the message: {ack.reason} (0x{ack.code:02x})")
    finally:
        link.stop()


def fetch_retained(broker: Broker, topic: str, timeout: float = 3.0, connect_timeout: float = 15.0, *,
                   client_id: str | None = None) -> bytes | None:
    """The retained message on `topic`, or None when none arrives within `timeout` of connecting.
    An unreachable broker raises PublishError."""
    from bus.link import Connected, Message

    link = _link(broker, client_id or _client_id(broker), [(topic, 1)]).start()
    try:
        _wait(link, connect_timeout, lambda i: isinstance(i, Connected))
        try:
            msg = _wait(link, timeout, lambda i: isinstance(i, Message) and i.topic == topic)
        except PublishError:
            return None
        return msg.payload or None
    finally:
        link.stop()
