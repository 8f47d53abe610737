"""One MQTT 5 connection with its own network thread: the plumbing every process uses.

Why not paho's loop_start(): its reconnect delay has no jitter (a site of devices coming back
after a broker restart would reconnect in lock-step), and it keeps an in-memory publish queue
that it re-sends in a burst on reconnect. Here the network thread connects with jittered
exponential backoff and runs `client.loop()` itself.

paho calls back on the network thread, sometimes while holding its own out-message lock
(on_publish), and may report a PUBACK before `publish()` has even returned (paho #482).
So callbacks never touch application state: they only put items on `inbox`, and the thread
that owns the SQLite connection and the mid → event map takes them from there.
"""
from __future__ import annotations

import logging
import queue
import random
import socket
import ssl
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

if TYPE_CHECKING:
    from core.config import Broker

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Connected:
    session_present: bool


@dataclass(frozen=True)
class ConnectFailed:
    reason: str
    code: int


@dataclass(frozen=True)
class Disconnected:
    reason: str


@dataclass(frozen=True)
class Message:
    topic: str
    payload: bytes
    retain: bool
    qos: int
    response_topic: str | None = None
    correlation_data: bytes | None = None
    user_properties: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class PubAck:
    """The broker's answer to a QoS 1 publish. `failure` is True when it refused the message
    (e.g. 0x87 Not authorized by an ACL) — with MQTT 3.1.1 that would have been a silent drop."""
    mid: int
    code: int
    reason: str
    failure: bool


@dataclass
class Tls:
    ca_file: str | None  # None: the system's trusted CAs (what ssl loads by default)
    cert_file: str | None = None
    key_file: str | None = None


@dataclass
class LinkOptions:
    host: str
    port: int
    client_id: str
    username: str | None = None
    password: str | None = None
    tls: Tls | None = None
    keepalive: int = 30
    will: tuple[str, bytes, bool] | None = None          # topic, payload, retain (QoS 1)
    online: tuple[str, bytes, bool] | None = None        # published on every (re)connect
    subscriptions: list[tuple[str, int]] = field(default_factory=list)
    min_backoff_s: float = 0.5
    max_backoff_s: float = 30.0
    max_inflight: int = 100


def backoff_delay(attempt: int, lo: float, hi: float, rng: random.Random = random.Random()) -> float:
    """Exponential backoff with 'equal jitter': somewhere in the upper half of the window."""
    window = min(hi, lo * (2.0 ** min(attempt, 16)))
    return window / 2 + rng.uniform(0, window / 2)


class MqttLink:
    def __init__(self, opts: LinkOptions, inbox: "queue.Queue[Any] | None" = None) -> None:
        self.opts = opts
        self.inbox: queue.Queue[Any] = inbox if inbox is not None else queue.Queue()
        self._stop = threading.Event()
        self._connected = threading.Event()
        self._thread: threading.Thread | None = None
        c = paho.Client(callback_api_version=CallbackAPIVersion.VERSION2, client_id=opts.client_id,
                        protocol=paho.MQTTv5)
        if opts.username is not None:
            c.username_pw_set(opts.username, opts.password)
        if opts.tls is not None:
            c.tls_set(ca_certs=opts.tls.ca_file, certfile=opts.tls.cert_file, keyfile=opts.tls.key_file,
                      cert_reqs=ssl.CERT_REQUIRED, tls_version=ssl.PROTOCOL_TLS_CLIENT)
        if opts.will is not None:
            c.will_set(opts.will[0], opts.will[1], qos=1, retain=opts.will[2])
        # Set before connecting (they are ignored afterwards). The application keeps its own
        # durable queue; paho's only needs to hold what is in flight.
        c.max_inflight_messages_set(opts.max_inflight)
        c.on_connect = self._on_connect
        c.on_disconnect = self._on_disconnect
        c.on_message = self._on_message
        c.on_publish = self._on_publish
        c.on_subscribe = self._on_subscribe
        c.on_socket_open = self._on_socket_open
        # Only the network thread touches the socket. Without an external-loop hook paho 2 writes
        # a publish straight from the calling thread while this thread may be reading: over TLS
        # that corrupted the stream ("bad record mac", a QoS 1 message delivered twice). With the
        # hook set, publish() queues the packet and wakes loop() through paho's socket pair.
        c.on_socket_register_write = lambda *_: None
        self.client = c
        self.connects = 0

    # --- lifecycle ------------------------------------------------------------------------

    def start(self) -> "MqttLink":
        self._thread = threading.Thread(target=self._run, name=f"mqtt-{self.opts.client_id}", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        try:
            self.client.disconnect()
        except Exception:  # already gone; stopping must not fail
            pass
        if self._thread is not None:
            self._thread.join(timeout)

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def wait_connected(self, timeout: float) -> bool:
        return self._connected.wait(timeout)

    def _run(self) -> None:
        attempt = 0
        o = self.opts
        while not self._stop.is_set():
            try:
                self.client.connect(o.host, o.port, keepalive=o.keepalive, clean_start=True)
            except (OSError, ssl.SSLError) as exc:
                self.inbox.put(ConnectFailed(str(exc), -1))
                self._stop.wait(backoff_delay(attempt, o.min_backoff_s, o.max_backoff_s))
                attempt += 1
                continue
            while not self._stop.is_set():
                rc = self.client.loop(timeout=0.5)
                if rc != paho.MQTT_ERR_SUCCESS:
                    break
            if self._connected.is_set():
                attempt = 0
            self._connected.clear()
            if not self._stop.is_set():
                try:
                    self.client.disconnect()
                except Exception:
                    pass
                self._stop.wait(backoff_delay(attempt, o.min_backoff_s, o.max_backoff_s))
                attempt += 1
        self._connected.clear()
        try:
            self.client.loop(timeout=0.1)  # flush the DISCONNECT
        except Exception:
            pass

    # --- callbacks (network thread: only enqueue) --------------------------------------------

    @staticmethod
    def _on_socket_open(client: paho.Client, userdata: Any, sock: Any) -> None:
        # `sock` is a socket, an SSL socket or paho's websocket wrapper (no setsockopt).
        # paho leaves Nagle on: a small packet (a PUBACK, then an ack or a reply) waits for the
        # peer's delayed ACK, ~40 ms per hop. Small messages are the whole point here.
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except (OSError, AttributeError):
            pass

    def _on_connect(self, client: paho.Client, userdata: Any, flags: paho.ConnectFlags, reason_code: ReasonCode,
                    properties: Properties | None) -> None:
        if reason_code.is_failure:
            self.inbox.put(ConnectFailed(str(reason_code), reason_code.value))
            client.disconnect()
            return
        for topic, qos in self.opts.subscriptions:
            client.subscribe(topic, qos=qos)
        if self.opts.online is not None:
            t, p, r = self.opts.online
            client.publish(t, p, qos=1, retain=r)
        self.connects += 1
        self._connected.set()
        self.inbox.put(Connected(bool(flags.session_present)))

    def _on_disconnect(self, client: paho.Client, userdata: Any, flags: paho.DisconnectFlags,
                       reason_code: ReasonCode, properties: Properties | None) -> None:
        self._connected.clear()
        self.inbox.put(Disconnected(str(reason_code)))

    def _on_message(self, client: paho.Client, userdata: Any, msg: paho.MQTTMessage) -> None:
        props = getattr(msg, "properties", None)
        rt = getattr(props, "ResponseTopic", None) if props else None
        cd = getattr(props, "CorrelationData", None) if props else None
        up = tuple(getattr(props, "UserProperty", ()) or ()) if props else ()
        self.inbox.put(Message(msg.topic, bytes(msg.payload), bool(msg.retain), msg.qos, rt, cd, up))

    def _on_publish(self, client: paho.Client, userdata: Any, mid: int, reason_code: ReasonCode,
                    properties: Properties) -> None:
        self.inbox.put(PubAck(mid, reason_code.value, str(reason_code), bool(reason_code.is_failure)))

    def _on_subscribe(self, client: paho.Client, userdata: Any, mid: int, reason_codes: list[ReasonCode],
                      properties: Properties | None) -> None:
        for rc in reason_codes:
            if rc.is_failure:
                log.warning("subscription refused by the broker: %s", rc)

    # --- calls from the owner thread --------------------------------------------------------

    def publish(self, topic: str, payload: bytes | str, qos: int = 0, retain: bool = False,
                response_topic: str | None = None, correlation_data: bytes | None = None,
                message_expiry_s: int | None = None) -> tuple[int, int]:
        """Returns (rc, mid). rc is paho's: MQTT_ERR_NO_CONN when not connected."""
        props = None
        if response_topic is not None or correlation_data is not None or message_expiry_s is not None:
            props = Properties(PacketTypes.PUBLISH)
            if response_topic is not None:
                props.ResponseTopic = response_topic
            if correlation_data is not None:
                props.CorrelationData = correlation_data
            if message_expiry_s is not None:
                props.MessageExpiryInterval = message_expiry_s
        info = self.client.publish(topic, payload, qos=qos, retain=retain, properties=props)
        return info.rc, info.mid

    def subscribe(self, topic: str, qos: int = 1) -> None:
        if (topic, qos) not in self.opts.subscriptions:
            self.opts.subscriptions.append((topic, qos))
        if self.connected:
            self.client.subscribe(topic, qos=qos)


def link_options(broker: Broker, client_id: str, *, username: str | None = None, password: str | None = None,
                 **kw: Any) -> LinkOptions:
    """The one way from a configured core.config.Broker (url, user, password file, TLS files) to
    the options of a connection. `username`/`password` stand in where the broker has none.
    Raises OSError when the password file cannot be read."""
    tls = Tls(broker.ca_file, broker.cert_file, broker.key_file) if broker.tls else None
    return LinkOptions(host=broker.host, port=broker.port, client_id=client_id,
                       username=broker.username or username,
                       password=password if password is not None else broker.password(), tls=tls, **kw)


def link_for(broker: Broker, client_id: str, inbox: "queue.Queue[Any] | None" = None, **kw: Any) -> MqttLink:
    """An MqttLink from a core.config.Broker."""
    return MqttLink(link_options(broker, client_id, **kw), inbox)


def drain(inbox: "queue.Queue[Any]", timeout: float) -> list[Any]:
    """Everything in `inbox` now, waiting up to `timeout` for the first item."""
    items = []
    try:
        items.append(inbox.get(timeout=timeout))
        while True:
            items.append(inbox.get_nowait())
    except queue.Empty:
        pass
    return items


def monotonic_ms() -> int:
    return time.monotonic_ns() // 1_000_000
