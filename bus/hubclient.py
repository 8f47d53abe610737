"""Talking to the hub over the site bus: MQTT 5 request/response, and the live state and calls.

    client = HubClient(device.site_broker, site.id, device.id)      # or a URL, LinkOptions, MqttLink
    client.on_state(show_state)          # retained state: arrives at once, then on every change
    client.on_call(announce)             # one per call / recall, as it happens
    client.start()
    reply = client.request({"cmd": "call", "counter": "1"})   # from a worker thread, not the UI thread
    if not reply["ok"]: show_error(reply["error"])            # a core.errors.WireError: "timeout", ...

`request()` never hangs: without an answer within `timeout` it returns
``{"ok": false, "error": "timeout", ...}``. It is thread-safe, and several requests may be in
flight at once (each has its own correlation data). Callbacks run on the client's own
dispatcher thread — never on paho's network thread — so a Kivy app hands them to its UI thread
with `Clock.schedule_once`. An exception in a callback is logged and does not stop the client.

A request is published only while connected: a command queued inside paho during an outage
would be sent on reconnect, long after the clerk saw "timeout" (a ticket nobody printed, a
call nobody hears). It also carries a message expiry equal to its timeout.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import math
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from bus import live, topics
from bus.link import LinkOptions, Message, MqttLink, PubAck, link_options
from core.config import Broker
from core.errors import WireError, error_reply

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT_S = 5.0
#: When the state carries no heartbeat: a state older than this (receipt time) is stale.
DEFAULT_STALE_S = 30.0

_STOP = object()
_MQTT_ERR_SUCCESS, _MQTT_ERR_NO_CONN = 0, 4


def _timeout(message: str, timeout: float, connected: bool) -> dict[str, Any]:
    return error_reply(WireError.TIMEOUT, message, timeout_s=timeout, connected=connected)


def _closed() -> dict[str, Any]:
    return error_reply(WireError.CLOSED, "the client was closed")


def _refused(reason: str) -> dict[str, Any]:
    return error_reply(WireError.REFUSED,
                       f"the broker refused the command ({reason}); check the device's credentials")


class _Pending:
    __slots__ = ("done", "reply", "mid")

    def __init__(self) -> None:
        self.done = threading.Event()
        self.reply: dict[str, Any] | None = None
        self.mid: int | None = None


class HubClient:
    """A device's connection to the hub.

    `link_or_broker_options` is one of:
      - an `MqttLink` (shared with the app; the client becomes the reader of its inbox and passes
        what is not its own to `on_other`; it does not start or stop a link it did not create
        unless the link was never started),
      - `LinkOptions`, a `core.config.Broker` or a URL ``mqtt://host:port`` (the client makes and
        owns the link; user name = the broker's or the device id; client id = the user name
        unless `client_id` is given: the site broker enforces it (use_username_as_clientid), so
        one identity has one session, and a second connection with it replaces the first).
    """

    def __init__(self, link_or_broker_options: MqttLink | LinkOptions | Broker | str, site: str, device: str, *,
                 client_id: str | None = None, username: str | None = None, password: str | None = None,
                 **link_kw: Any) -> None:
        self.site = site
        self.device = device
        self.cmd_topic = topics.command(site, device)
        self.reply_topic = topics.reply(site, device)
        self.state_topic = topics.state(site)
        self.calls_topic = topics.calls(site)
        x = link_or_broker_options
        if isinstance(x, MqttLink):
            self.link, self._owns_link = x, False
        else:
            if isinstance(x, str):
                x = Broker(x)
            if isinstance(x, Broker):
                user = username or x.username or device
                x = link_options(x, client_id or topics.client_id(user), username=user, password=password,
                                 **link_kw)
            if not isinstance(x, LinkOptions):
                raise TypeError("HubClient needs an MqttLink, LinkOptions, a Broker or a broker URL")
            self.link, self._owns_link = MqttLink(x), True
        # Subscribe before the link connects (it subscribes on every connect, before it counts
        # as connected), so a request can never be answered before its reply is listened to.
        self.link.subscribe(self.reply_topic, 1)
        self._lock = threading.Lock()
        self._pending: dict[bytes, _Pending] = {}
        self._mids: dict[int, bytes] = {}
        self._early_failed: OrderedDict[int, tuple[str, float]] = OrderedDict()
        self._state_cbs: list[Callable[[dict[str, Any]], None]] = []
        self._call_cbs: list[Callable[[dict[str, Any]], None]] = []
        self._other_cbs: list[Callable[[Any], None]] = []
        self._thread: threading.Thread | None = None
        self._started = False
        self._closed = False
        self.last_state: dict[str, Any] | None = None
        self._state_at: float | None = None

    # --- lifecycle ------------------------------------------------------------------------

    def start(self) -> "HubClient":
        with self._lock:
            if self._started:
                return self
            self._started = True
        self._thread = threading.Thread(target=self._dispatch, name=f"hubclient-{self.device}", daemon=True)
        self._thread.start()
        if self._owns_link or self.link._thread is None:
            self._owns_link = True
            self.link.start()
        return self

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            pending = list(self._pending.values())
        for p in pending:
            p.reply = _closed()
            p.done.set()
        if self._owns_link:
            self.link.stop()
        self.link.inbox.put(_STOP)
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(5)

    def __enter__(self) -> "HubClient":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def connected(self) -> bool:
        return self.link.connected

    def wait_connected(self, timeout: float) -> bool:
        self.start()
        return self.link.wait_connected(timeout)

    # --- requests -------------------------------------------------------------------------

    def request(self, payload: dict[str, Any] | bytes | str, timeout: float = DEFAULT_TIMEOUT_S,
                correlation: bytes | None = None) -> dict[str, Any]:
        """Send one command to the hub and return its answer (or a timeout/error dict).

        `correlation`: reuse the correlation data of an earlier attempt of the same command
        (a retry after a timeout): the hub answers a repeated one with its first answer instead
        of running the command again. Default: a fresh one."""
        deadline = time.monotonic() + timeout
        if self._closed:
            return _closed()
        if self._thread is threading.current_thread():
            # The answer would be delivered by this very thread: it would only time out.
            return error_reply(WireError.WRONG_THREAD,
                               "request() from a HubClient callback; call it from a worker thread")
        self.start()
        if isinstance(payload, dict):
            try:
                data = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
            except (TypeError, ValueError) as exc:
                return error_reply(WireError.MALFORMED, f"the command is not JSON: {exc}")
        elif isinstance(payload, str):
            data = payload.encode("utf-8", "surrogatepass")
        else:
            data = bytes(payload)
        if not self.link.wait_connected(max(0.0, deadline - time.monotonic())):
            return _timeout("no connection to the site broker", timeout, False)
        corr = correlation or uuid.uuid4().hex.encode()
        p = _Pending()
        with self._lock:
            self._pending[corr] = p
        try:
            try:
                rc, mid = self.link.publish(self.cmd_topic, data, qos=1, response_topic=self.reply_topic,
                                            correlation_data=corr,
                                            message_expiry_s=max(1, math.ceil(timeout)))
            except (ValueError, TypeError) as exc:
                return error_reply(WireError.SEND_FAILED, str(exc))
            if rc not in (_MQTT_ERR_SUCCESS, _MQTT_ERR_NO_CONN):
                return error_reply(WireError.SEND_FAILED, f"publish failed (paho rc {rc})")
            with self._lock:
                early = self._early_failed.pop(mid, None)
                # (an old entry is another publish that reused this mid: not ours)
                refused = early[0] if early and time.monotonic() - early[1] < 10 else None
                if refused is None and not p.done.is_set():
                    p.mid = mid
                    self._mids[mid] = corr
            if refused is not None:
                return _refused(refused)
            if p.done.wait(max(0.0, deadline - time.monotonic())) and p.reply is not None:
                return p.reply
            return _timeout(f"no answer from the hub within {timeout:g} s", timeout, self.link.connected)
        finally:
            with self._lock:
                self._pending.pop(corr, None)
                if p.mid is not None and self._mids.get(p.mid) == corr:
                    del self._mids[p.mid]

    # --- live state and calls -------------------------------------------------------------

    def on_state(self, callback: Callable[[dict[str, Any]], None]) -> None:
        """`callback(state)` for the retained state (at once when one exists) and every update."""
        with self._lock:
            self._state_cbs.append(callback)
            last = self.last_state
        self.link.subscribe(self.state_topic, 1)
        if last is not None:  # a later subscriber still gets what is known
            self._safe(callback, last)

    def on_call(self, callback: Callable[[dict[str, Any]], None]) -> None:
        """`callback(call)` for each call and recall (see bus.live for the shape)."""
        with self._lock:
            self._call_cbs.append(callback)
        self.link.subscribe(self.calls_topic, 1)

    def on_other(self, callback: Callable[[Any], None]) -> None:
        """Everything else from the link's inbox (Connected, Disconnected, other messages...)."""
        with self._lock:
            self._other_cbs.append(callback)

    def state_age_s(self) -> float | None:
        """Seconds since the last state arrived (this device's monotonic clock), None if never."""
        return None if self._state_at is None else time.monotonic() - self._state_at

    def is_stale(self, max_age_s: float | None = None) -> bool:
        """True when no fresh state arrived lately: by default three of the hub's heartbeats."""
        age = self.state_age_s()
        if age is None:
            return True
        if max_age_s is None:
            hb = (self.last_state or {}).get("heartbeat_s")
            max_age_s = 3 * hb if isinstance(hb, (int, float)) and hb > 0 else DEFAULT_STALE_S
        return age > max_age_s

    # --- dispatcher thread ----------------------------------------------------------------

    @staticmethod
    def _safe(cb: Callable[[Any], None], arg: Any) -> None:
        try:
            cb(arg)
        except Exception:
            log.exception("hub client: a callback failed")

    def _dispatch(self) -> None:
        inbox = self.link.inbox
        while True:
            item = inbox.get()
            if item is _STOP:
                return
            try:
                self._handle(item)
            except Exception:
                log.exception("hub client: could not handle %r", type(item).__name__)

    def _handle(self, item: Any) -> None:
        if isinstance(item, Message):
            if item.topic == self.reply_topic:
                self._on_reply(item)
                return
            if item.topic == self.state_topic:
                st = live.parse_state(item.payload)
                if st is None:
                    log.warning("hub client: ignoring a malformed state message")
                    return
                with self._lock:
                    self.last_state, self._state_at = st, time.monotonic()
                    cbs = list(self._state_cbs)
                for cb in cbs:
                    self._safe(cb, st)
                return
            if item.topic == self.calls_topic:
                call = live.parse_call(item.payload)
                if call is None:
                    log.warning("hub client: ignoring a malformed call message")
                    return
                for cb in list(self._call_cbs):
                    self._safe(cb, call)
                return
        elif isinstance(item, PubAck):
            self._on_puback(item)
        for cb in list(self._other_cbs):
            self._safe(cb, item)

    def _on_reply(self, msg: Message) -> None:
        corr = msg.correlation_data
        with self._lock:
            p = self._pending.get(corr) if corr else None
        if p is None:  # another process of this device, or an answer after its timeout
            return
        try:
            reply = json.loads(msg.payload)
            if not isinstance(reply, dict):
                raise ValueError("not an object")
        except (ValueError, UnicodeDecodeError, RecursionError) as exc:
            reply = error_reply(WireError.BAD_REPLY, f"the hub's answer is not JSON: {exc}")
        p.reply = reply
        p.done.set()

    def _on_puback(self, ack: PubAck) -> None:
        with self._lock:
            corr = self._mids.pop(ack.mid, None)
            if not ack.failure:
                return
            if corr is None:
                # paho may report the PUBACK before publish() returned (paho #482)
                self._early_failed[ack.mid] = (ack.reason, time.monotonic())
                while len(self._early_failed) > 256:
                    self._early_failed.popitem(last=False)
                return
            p = self._pending.get(corr)
        if p is not None:
            p.reply = _refused(ack.reason)
            p.done.set()


def request_once(broker: Broker | str, site: str, device: str, payload: dict[str, Any] | bytes | str, *,
                 username: str | None = None, password_file: str | None = None,
                 timeout: float = DEFAULT_TIMEOUT_S) -> dict[str, Any]:
    """Connect, send one command, return the answer, disconnect: for the command-line tools
    (`palvelupiste queue --broker`, `palvelupiste counter`) and the tests.

    `broker` is a configured Broker or a URL; `username` and `password_file` replace the Broker's
    own. Never raises for a broker problem: every failure is an answer dict with ok false."""
    try:
        b = Broker(broker) if isinstance(broker, str) else broker
        if username is not None or password_file is not None:
            b = dataclasses.replace(b, username=username or b.username,
                                    password_file=password_file or b.password_file)
        b.host  # validates the URL
        password = b.password()
    except ValueError as exc:
        return error_reply(WireError.BAD_BROKER_URL, str(exc))
    except OSError as exc:
        return error_reply(WireError.BAD_PASSWORD_FILE, f"cannot read {b.password_file}: {exc.strerror or exc}")
    try:
        client = HubClient(b, site, device, password=password, min_backoff_s=0.2, max_backoff_s=1.0)
    except ValueError as exc:  # a site or device id that cannot be a topic level
        return error_reply(WireError.BAD_ID, str(exc))
    try:
        return client.request(payload, timeout=timeout)
    finally:
        client.close()
