"""The hub service: the site's queue authority on the site broker.

One thread — the one running `HubService.run()` — owns the EventStore (its sqlite3 connection)
and the QueueAuthority. The MqttLink's network thread only puts items on `inbox`; everything
else happens here, in order:

    command message → role check → QueueAuthority.handle_payload (events durable) → answer
                    → one calls message per ticket.called / ticket.recalled → the retained state

Every command gets an answer on the MQTT 5 response topic with the request's correlation data:
the result, or ``{"ok": false, "error": CODE, "message": TEXT}`` (the codes: core.errors). The
service never stops on a bad message; a store that cannot write (full disk) gives ``store_failed``
answers.

Answers go only to the sender's own reply topic ``pp/<site>/dev/<device>/reply``, whatever
response topic the request names: a device cannot make the hub publish onto the state or calls
topics (or another device's replies) by naming them as its response topic. A command repeated with the same correlation data (a QoS 1 duplicate)
gets the first answer again and is not run twice. A *retained* command (one left on a command
topic, re-delivered when the hub subscribes) is refused, never run.

Two connections: the main link reads every command of the site and publishes the state, the
calls and the answers; the staff link (client id "<user>/staff") reads and answers only the
commands of the staff devices (STAFF_ROLES). The broker hands each connection its messages in
one line, so without it a counter's command would wait behind everything a flooding kiosk sent
before it, however fast the hub turns them away. A staff command arrives on both links; the copy
that comes second is its twin and is let go unanswered (`_twin`). Both links go to
the hub's own listener on the site broker (bus.brokerconf): on the devices' listener the broker
takes the user name as the client id and the two would throw each other out; the hub notices that
(the two links throw each other out in turn) and goes on with the main link alone.

Repeated commands: an accepted command's answer is kept in the store, in the transaction of its
events (hub/authority.py, core/store.py), so a retry after a crash between the commit and the
answer gets the first answer, not a second ticket. `_answered` in memory is the fast path in front
of it, and the only record of refusals (which stored nothing, so running them again after a
restart just answers from the queue as it is then).

Following one's turn on a phone (core/follow.py, hub/follow.py): the retained snapshot on
``pp/<site>/follow`` goes out on every connect and whenever the queue (the store's sequence) or the
local day changed, at most every FOLLOW_EVERY_S. A customer's cancel on ``pp/<site>/follow/cancel``
takes its turn like a device's command (a line of its own in hub.turns) and cancels today's waiting
ticket with that key through the engine, durably, with the customer's reason; nothing is answered.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import queue
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bus import live, topics
from bus.link import Connected, ConnectFailed, Disconnected, Message, MqttLink, PubAck, link_options
from core.appointments import appointments_from_json
from core.bookbook import appointments_from_book, book_from_json
from core.commands import MAX_COMMAND_BYTES
from core.config import Broker, ConfigError, Device, Issue, Site, load_device, load_site
from core.engine import Appointment, Cancel, HelpLimits, local_day
from core.errors import WireError, error_reply
from core.events import now_ms
from core.follow import CUSTOMER_CANCEL_REASON, FollowError, check_cancel
from core.store import EventStore
from runtime import sdnotify

from . import follow
from .authority import QueueAuthority
from .settings import hub_settings
from .turns import Turns

log = logging.getLogger(__name__)

DEFAULT_BROKER_URL = "mqtt://127.0.0.1:1883"
APPOINTMENTS_FILE = "appointments.json"
#: the book of the feeds' bookings the sync agent keeps from the centre's changes (core/bookbook.py)
BOOKINGS_FILE = "bookings.json"
#: Commands answered from the hub itself, never passed to the engine.
HUB_COMMANDS = frozenset({"state"})
#: Largest batch of commands answered before the state is published.
MAX_BATCH = 100
#: Inbox items taken in one go: commands go to their device's turn, the rest is handled at once.
MAX_DRAIN = 2000
#: While answering a batch, the inbox is looked at again after this many commands.
LOOK_EVERY = 4
#: Dropped commands are logged at most this often (a flood would otherwise flood the log).
DROP_LOG_S = 10.0
#: Commands of one device waiting for their turn, at most (hub.turns: beyond it the oldest are
#: dropped unanswered and logged; the device's client times out and may send again).
PENDING_PER_DEVICE = 2000
#: Commands of one device answered per second at most, and at once: far above any person's
#: tapping, far below what keeps the hub from reading its connection (hub.turns).
RATE_PER_DEVICE = 200.0
BURST_PER_DEVICE = 200.0
#: QoS 1 messages published and not yet acknowledged by the broker, at most. Beyond it the hub
#: reads on but answers nothing new until acks come: paho would queue what the hub publishes in
#: one line, and a counter's answer would wait behind a flooding kiosk's thousands.
OUT_WINDOW = 32
#: A window that stays full this long without any ack is opened again (logged): a lost ack must
#: not stop the hub.
ACK_STALL_S = 2.0
#: Answers kept in memory for repeats (all devices together; the store keeps the accepted ones
#: per device whatever this forgets).
DEDUP_SIZE = 1024
#: Answers not kept for a repeat: nothing happened, and running the command again may work.
_NOT_KEPT = frozenset({WireError.STORE_FAILED.value, WireError.INTERNAL.value})

#: Roles whose commands the hub also reads on the staff link: the staff's own tools, out of the
#: public's reach. A kiosk or feedback terminal stands in the waiting room.
STAFF_ROLES = frozenset({"counter"})
#: One of the hub's links thrown out this soon after the other connected, TAKEOVERS times in a
#: row: the broker gives both one client id. (Mosquitto 2.0 with use_username_as_clientid closes
#: the older connection without saying "session taken over", so the pattern is what tells.)
TAKEOVER_S = 2.0
TAKEOVERS = 3

#: Staff commands whose twin on the other link has not come yet, at most (the oldest forgotten).
TWINS_KEPT = 4096
#: The follow snapshot goes out at most this often: a busy minute changes the queue many times, and
#: each copy is up to 64 KB through the bridge to the centre; a page need not see every step.
FOLLOW_EVERY_S = 0.5

_STOP = object()


@dataclass(frozen=True)
class _FromStaff:
    """An item of the staff link, as it waits in the one inbox."""
    item: Any


class _StaffInbox:
    """What the staff link puts its items into: the hub's inbox, each item marked as the staff link's."""

    def __init__(self, inbox: "queue.Queue[Any]") -> None:
        self._inbox = inbox

    def put(self, item: Any, block: bool = True, timeout: float | None = None) -> None:
        self._inbox.put(_FromStaff(item))


@dataclass
class _Call:
    fn: Callable[["HubService"], Any]
    done: threading.Event = field(default_factory=threading.Event)
    result: Any = None
    error: BaseException | None = None


class HubService:
    """The queue authority over MQTT. `run()` blocks until `stop()`; `start_in_thread()` for
    tests and benchmarks. See the module docstring for what it does with each message."""

    #: For crash tests only (tests/support/hubproc.py sets it inside the hub's own process): called
    #: with (device, correlation data, answer) once a command's events and answer are committed and
    #: before the answer is sent. Nothing on the wire or in the configuration can set it.
    after_commit: Callable[[str, bytes | None, dict[str, Any]], None] | None = None

    def __init__(self, device: Device, site: Site | None = None, *, heartbeat_s: float | None = None,
                 broker: Broker | None = None, appointments_path: str | Path | None = None,
                 clock: Callable[[], int] = now_ms, appointments_poll_s: float = 1.0,
                 link_kw: dict[str, Any] | None = None, help_limits: HelpLimits | None = None) -> None:
        self.device = device
        self.site = site if site is not None else load_site(device.site_config)
        if self.site.id != device.site:
            raise ConfigError(device.site_config, [Issue("site.id", f"is {self.site.id!r}, but the device "
                                                     f"configuration says site {device.site!r}")])
        settings = hub_settings(device)
        if heartbeat_s is None:
            heartbeat_s = settings.heartbeat_s
        if isinstance(heartbeat_s, bool) or not isinstance(heartbeat_s, (int, float)) or heartbeat_s <= 0:
            raise ConfigError("hub.heartbeat_s", [Issue("hub.heartbeat_s", "must be a positive number of seconds")])
        self.heartbeat_s = float(heartbeat_s)
        self.help_limits = help_limits or settings.help_limits
        self.broker = broker or device.site_broker or Broker(DEFAULT_BROKER_URL)
        self.appointments_path = Path(appointments_path) if appointments_path else \
            Path(device.data_dir) / APPOINTMENTS_FILE
        self.bookings_path = Path(device.data_dir) / BOOKINGS_FILE
        self.settings = settings
        self.appointments_poll_s = appointments_poll_s
        self.clock = clock
        self.inbox: queue.Queue[Any] = queue.Queue()
        self._link_kw = dict(link_kw or {})
        # Made by run() on the service's own thread; the properties below name a use before that.
        self._link: MqttLink | None = None
        self._staff_link: MqttLink | None = None
        self._connected_at: dict[str, float] = {}  # "main"/"staff" → when it last connected
        self._takeovers = 0
        # (command topic, correlation data or payload digest) → staff-link copies minus main-link copies
        self._twins: OrderedDict[tuple[str, bytes], int] = OrderedDict()
        self._staff_topics = frozenset(topics.command(self.site.id, d) for d, role in self.site.devices.items()
                                       if role in STAFF_ROLES)
        self._store: EventStore | None = None
        self._authority: QueueAuthority | None = None
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._watchdog = sdnotify.WatchdogPinger()
        self._startup_error: BaseException | None = None
        self._thread: threading.Thread | None = None
        self._rev = 0
        self._dirty = False
        self._next_heartbeat = 0.0
        self._next_appt_check = 0.0
        self._appt_sig: tuple | None = None
        self._answered: OrderedDict[tuple[str, bytes], bytes] = OrderedDict()
        self.commands = 0       # commands answered
        self.errors = 0         # answers with ok false
        self.shortened = 0      # messages the budget made shorter (bus.live.MESSAGE_BUDGET)
        self.dropped = 0        # commands dropped unanswered: their device sent faster than the hub answers
        self._turns = Turns(PENDING_PER_DEVICE, RATE_PER_DEVICE, BURST_PER_DEVICE)
        self._unacked = 0       # QoS 1 publishes the broker has not acknowledged (OUT_WINDOW)
        self._last_ack = 0.0
        self._next_drop_log = 0.0
        self._state_shortened: tuple[str, ...] = ()
        self.appointments: list[Appointment] = []
        self.booked: list[Appointment] = []  # from the feeds (bookings.json)
        self._book_sig: tuple | None = None
        # The follow snapshot (hub/follow.py): (store seq, local day) of the copy last published,
        # None when the broker should get one again; not before _follow_at (FOLLOW_EVERY_S).
        self._follow_sent: tuple[int, str] | None = None
        self._follow_at = 0.0
        self._follow_pending = False
        self._follow_left_out = 0
        self.follow_cancels = 0  # tickets cancelled from a phone page

    @classmethod
    def from_config(cls, path: str | Path, **kw: Any) -> "HubService":
        return cls(load_device(path), **kw)

    # --- lifecycle ------------------------------------------------------------------------

    def start_in_thread(self, timeout: float = 10.0) -> "HubService":
        """Run in a daemon thread; returns once the store is folded and the link started.
        Raises what made the start fail (a store that cannot be opened, ...)."""
        self._thread = threading.Thread(target=self._run_quiet, name=f"hub-{self.device.id}", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            raise TimeoutError("the hub service did not start in time")
        if self._startup_error is not None:
            raise self._startup_error
        return self

    def _run_quiet(self) -> None:
        try:
            self.run()
        except BaseException:  # reported through start_in_thread
            pass

    def wait_connected(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while self._link is None:
            if time.monotonic() > deadline or self._startup_error is not None:
                return False
            time.sleep(0.01)
        return self.link.wait_connected(max(0.0, deadline - time.monotonic()))

    def stop(self, timeout: float = 10.0) -> None:
        """Ask the loop to end (safe from any thread); waits for a thread started here."""
        self._stop.set()
        self.inbox.put(_STOP)
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    @property
    def running(self) -> bool:
        return self._ready.is_set() and self._startup_error is None and not self._stop.is_set()

    def call(self, fn: Callable[["HubService"], Any], timeout: float = 10.0) -> Any:
        """Run `fn(service)` on the service's own thread (the one owning the store) and return
        its result. For tests and maintenance; never from the service thread itself."""
        c = _Call(fn)
        self.inbox.put(c)
        if not c.done.wait(timeout):
            raise TimeoutError("the hub service did not run the call in time")
        if c.error is not None:
            raise c.error
        return c.result

    @property
    def link(self) -> MqttLink:
        if self._link is None:
            raise RuntimeError("the hub service is not running")
        return self._link

    @property
    def store(self) -> EventStore:
        if self._store is None:
            raise RuntimeError("the hub service is not running")
        return self._store

    @property
    def authority(self) -> QueueAuthority:
        if self._authority is None:
            raise RuntimeError("the hub service is not running")
        return self._authority

    def run(self) -> None:
        """Open the store, fold it, connect, and serve until `stop()`."""
        try:
            self._open()
        except BaseException as exc:
            self._startup_error = exc
            self._ready.set()
            raise
        self._ready.set()
        log.info("hub %s of site %s: %d events folded, serving on %s", self.device.id, self.site.id,
                 self.store.last_seq, self.broker.url)
        # systemd (Type=notify): ready once the queue is rebuilt; pings from this loop only, so a
        # hung service loop is restarted by the watchdog.
        sdnotify.ready(f"{self.store.last_seq} events folded")
        self._watchdog = sdnotify.WatchdogPinger()
        try:
            self._loop()
        finally:
            self._close()

    def _open(self) -> None:
        self.open_store()
        avail = topics.availability(self.site.id, self.device.id)
        opts = link_options(self.broker, topics.client_id(self.broker.username or self.device.id),
                            username=self.device.id,
                            will=(avail, b"offline", True), online=(avail, b"online", True),
                            subscriptions=[(topics.commands_all(self.site.id), 0),
                                           (topics.follow_cancel(self.site.id), 1)], **self._link_kw)
        self._link = MqttLink(opts, self.inbox).start()
        if self._staff_topics:
            sopts = link_options(self.broker, topics.client_id(self.broker.username or self.device.id, "staff"),
                                 username=self.device.id, subscriptions=[(t, 0) for t in sorted(self._staff_topics)],
                                 **self._link_kw)
            self._staff_link = MqttLink(sopts, _StaffInbox(self.inbox)).start()  # type: ignore[arg-type]

    def open_store(self) -> None:
        """Open the store and fold it into the authority, on the calling thread (which then owns
        them). `run()` does this itself; call it directly only to use `handle_command` without
        a broker (tests, tools)."""
        self._store = EventStore(self.device.store, self.site.id, self.device.id)
        self._check_appointments(force=True)
        self._check_bookings(force=True)
        self._authority = QueueAuthority(self.site, self._store, self.appointments + self.booked, clock=self.clock,
                                         help_limits=self.help_limits, ref_key=self._booking_key())

    def _close(self) -> None:
        link = self._link
        if link is not None:
            if link.connected:
                # A clean disconnect does not fire the will: say "offline" ourselves.
                _, mid = link.publish(topics.availability(self.site.id, self.device.id), b"offline",
                                      qos=1, retain=True)
                deadline = time.monotonic() + 1.0
                while time.monotonic() < deadline:
                    try:
                        item = self.inbox.get(timeout=max(0.0, deadline - time.monotonic()))
                    except queue.Empty:
                        break
                    if isinstance(item, PubAck) and item.mid == mid:
                        break
            link.stop()
        if self._staff_link is not None:
            self._staff_link.stop()
        if self._store is not None:
            self._store.close()
        # Whoever still waits on call() must not hang.
        while True:
            try:
                item = self.inbox.get_nowait()
            except queue.Empty:
                break
            if isinstance(item, _Call):
                item.error = RuntimeError("the hub service stopped")
                item.done.set()

    # --- loop -----------------------------------------------------------------------------

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._watchdog.tick()
            now = time.monotonic()
            wait = min(1.0, max(0.0, min(self._next_heartbeat, self._next_appt_check) - now))
            turn = self._turns.wait_s(now, self._servable(now))
            if turn is not None:
                wait = min(wait, turn)
            if self._follow_pending:
                wait = min(wait, max(0.0, self._follow_at - now))
            self._take_inbox(wait)
            if self._stop.is_set():
                break
            served = 0
            while served < MAX_BATCH:
                now = time.monotonic()
                msg = self._turns.take(now, self._servable(now))
                if msg is None:
                    break
                served += 1
                try:
                    self._on_message(msg)
                except Exception:  # the service keeps running whatever came in
                    log.exception("hub: could not handle a command")
                if served % LOOK_EVERY == 0:
                    self._take_inbox(0.0)  # a counter's command that came meanwhile is next in turn
            try:
                self._periodic()
            except Exception:
                log.exception("hub: periodic work failed")

    def _take_inbox(self, wait: float) -> None:
        """Whatever the inbox holds (waiting up to `wait` for the first item): commands join
        their device's turn, everything else is handled at once, in order."""
        try:
            items = [self.inbox.get(timeout=wait) if wait > 0 else self.inbox.get_nowait()]
        except queue.Empty:
            return
        while len(items) < MAX_DRAIN:
            try:
                items.append(self.inbox.get_nowait())
            except queue.Empty:
                break
        for item in items:
            if item is _STOP:
                self._stop.set()
                return
            if isinstance(item, _FromStaff):
                if isinstance(item.item, Message):
                    if not self._twin(item.item, +1):
                        self._turns.put(item.item, time.monotonic())
                else:
                    self._staff_item(item.item)
                continue
            if isinstance(item, Message):
                if item.topic in self._staff_topics and self._twin(item, -1):
                    continue
                self._turns.put(item, time.monotonic())
                continue
            try:
                self._handle_item(item)
            except Exception:  # the service keeps running whatever came in
                log.exception("hub: could not handle %r", type(item).__name__)

    def _twin(self, msg: Message, side: int) -> bool:
        """Whether `msg` (from the staff link: side +1, the main link: -1) is the second copy of a
        staff command the other link brought first. Counted per key, so a command sent twice
        (a retry with the same correlation data) is still taken twice, once from each pair."""
        staff = self._staff_link
        if staff is None or not (staff.connected and self.link.connected):
            return False  # only one link hears the staff now: every copy is the only one
        key = (msg.topic, msg.correlation_data or hashlib.sha256(msg.payload).digest())
        balance = self._twins.pop(key, 0)
        twin = balance * side < 0  # the other link is ahead for this key
        balance += side
        if balance:
            self._twins[key] = balance
            if len(self._twins) > TWINS_KEPT:
                self._twins.popitem(last=False)
        return twin

    def _staff_answers(self) -> bool:
        return self._staff_link is not None and self._staff_link.connected

    def _servable(self, now: float) -> Callable[[str], bool] | None:
        """Which commands may take their turn now: all while the main link's window is open;
        only the staff's while it is full and the staff link answers them (their answers do not
        go through that window)."""
        if self._window_open(now):
            return None
        if self._staff_answers():
            return self._staff_topics.__contains__
        return lambda topic: False

    def _staff_item(self, item: Any) -> None:
        """What the staff link reports besides commands. Its acknowledgements need no window:
        staff devices are few and answered at their devices' rate."""
        if isinstance(item, Connected):
            log.info("hub: staff link connected (%d devices)", len(self._staff_topics))
            self._connected_at["staff"] = time.monotonic()
        elif isinstance(item, Disconnected):
            log.warning("hub: staff link disconnected (%s)", item.reason)
            self._link_lost("staff")
        elif isinstance(item, ConnectFailed):
            log.warning("hub: staff link cannot connect: %s", item.reason)

    def _link_lost(self, which: str) -> None:
        other = self._connected_at.get("main" if which == "staff" else "staff")
        if other is None or time.monotonic() - other > TAKEOVER_S:
            self._takeovers = 0
            return
        self._takeovers += 1
        if self._takeovers >= TAKEOVERS:
            self._staff_taken_over()

    def _staff_taken_over(self) -> None:
        link, self._staff_link = self._staff_link, None
        if link is None:
            return
        log.error("hub: the site broker gives both of the hub's connections one client id (it takes the user "
                  "name as the client id on this listener); the counters' commands now wait in line with "
                  "everyone's. Point [site_broker] url at the hub's own listener (systemd/README-mqtt.md)")
        # Not on this thread's time: stopping waits for the link's thread.
        threading.Thread(target=link.stop, name="hub-staff-stop", daemon=True).start()

    def _window_open(self, now: float) -> bool:
        if self._unacked < OUT_WINDOW:
            return True
        if now - self._last_ack > ACK_STALL_S:
            log.warning("hub: no acknowledgement from the broker for %.0f s; publishing on", now - self._last_ack)
            self._unacked = 0
            return True
        return False

    def _periodic(self) -> None:
        now = time.monotonic()
        if now >= self._next_appt_check:
            self._next_appt_check = now + self.appointments_poll_s
            if self._check_appointments() | self._check_bookings():
                self.authority.set_appointments(self.appointments + self.booked)
        self._turns.forget_rested(now)
        if self._turns.dropped and now >= self._next_drop_log:
            self._next_drop_log = now + DROP_LOG_S
            for topic, n in self._turns.dropped.items():
                log.warning("hub: %s sends faster than the hub answers: %d of its oldest commands dropped "
                            "unanswered", topic[:200], n)
                self.dropped += n
            self._turns.dropped.clear()
        if now >= self._next_heartbeat and self.authority.housekeep():
            self._dirty = True  # a new local day closed yesterday's tickets
        if self._dirty or now >= self._next_heartbeat:
            self.publish_state()
        # Pending only while connected: the loop wakes for it (_loop), and must not spin without a
        # broker; a new connection forgets what was sent, so it goes out then.
        self._follow_pending = self.link.connected and self._follow_sent != (self.store.last_seq, self._today())
        if self._follow_pending and now >= self._follow_at:
            self.publish_follow()

    def _handle_item(self, item: Any) -> None:
        if isinstance(item, Message):
            self._on_message(item)
        elif isinstance(item, _Call):
            try:
                item.result = item.fn(self)
            except BaseException as exc:
                item.error = exc
            item.done.set()
        elif isinstance(item, PubAck):
            self._unacked = max(0, self._unacked - 1)
            self._last_ack = time.monotonic()
            if item.failure:
                log.warning("hub: the broker refused a publish (mid %d): %s", item.mid, item.reason)
        elif isinstance(item, Connected):
            log.info("hub: connected to the site broker")
            self._connected_at["main"] = time.monotonic()
            self._unacked = 0  # what was in flight is gone with the old connection
            self._dirty = True  # (re)publish the state: the broker may have lost its retained copy
            self._follow_sent = None  # and the follow snapshot
        elif isinstance(item, Disconnected):
            log.warning("hub: disconnected from the site broker (%s)", item.reason)
            self._link_lost("main")
        elif isinstance(item, ConnectFailed):
            log.warning("hub: cannot connect to the site broker: %s", item.reason)

    # --- commands -------------------------------------------------------------------------

    def _on_message(self, msg: Message) -> None:
        if msg.topic == topics.follow_cancel(self.site.id):
            self._on_follow_cancel(msg)
            return
        parsed = topics.parse_command_topic(msg.topic)
        if parsed is None or parsed[0] != self.site.id:
            log.warning("hub: ignoring a message on %r", msg.topic[:200])
            return
        device = parsed[1]
        try:
            own = topics.reply(self.site.id, device)
        except ValueError:
            log.warning("hub: cannot answer device %r", device[:80])
            return
        # Always the sender's own reply topic, whatever response topic it named (and the only
        # reply topic the site ACL lets the hub write: pp/<site>/dev/+/reply).
        target = own
        if msg.response_topic and msg.response_topic != own:
            log.warning("hub: %s asked for answers on %r; answering on %s", device, msg.response_topic[:200], own)
        corr = msg.correlation_data
        key = (device, corr) if corr else None
        if key is not None and key in self._answered:
            self._answered.move_to_end(key)
            self._send_answer(msg.topic, target, self._answered[key], corr)
            return
        query = False
        if msg.retain:
            reply = error_reply(WireError.RETAINED, "a retained command is not run; publish commands without retain")
        else:
            reply, query = self._answer(msg.payload, device, corr)
        if self.after_commit is not None and self.authority.last_events:
            self.after_commit(device, corr, reply)
        body = self._fitted(live.fit_reply(reply), "the answer to " + device)
        # A read-only query may simply run again.
        if key is not None and not query and reply.get("error") not in _NOT_KEPT:
            self._answered[key] = body
            if len(self._answered) > DEDUP_SIZE:
                self._answered.popitem(last=False)
        self._send_answer(msg.topic, target, body, corr)
        self.commands += 1
        if not reply.get("ok", False):
            self.errors += 1
        events = self.authority.last_events
        if events:
            self.authority.last_events = []
            self._dirty = True
            for call in live.call_messages(events, self.authority.state, self.site.id):
                self._publish(topics.calls(self.site.id), self._fitted(live.fit_call(call), "a call message"))

    def handle_command(self, payload: bytes | str, device: str, correlation: bytes | None = None) -> dict[str, Any]:
        """One command from `device` to its answer (on the service thread). Never raises.
        The events it produced are in `self.authority.last_events` afterwards. With
        `correlation`, a command accepted before with it gets its first answer again."""
        return self._answer(payload, device, correlation)[0]

    def _answer(self, payload: bytes | str, device: str,
                correlation: bytes | None = None) -> tuple[dict[str, Any], bool]:
        """(the answer, whether the command was a read-only query)."""
        self.authority.last_events = []
        try:
            size = len(payload) if isinstance(payload, (bytes, bytearray)) else \
                len(payload.encode("utf-8", "surrogatepass"))
            if size > MAX_COMMAND_BYTES:
                return error_reply(WireError.TOO_LARGE, f"command larger than {MAX_COMMAND_BYTES} bytes"), False
            role = self.site.devices.get(device)
            if role is None:
                return error_reply(WireError.NOT_ALLOWED, f"device {device[:64]!r} is not in the site's [[devices]]"), \
                    False
            if _command_name(payload) in HUB_COMMANDS:
                return {"ok": True, **self.state_message()}, True
            return self.authority.handle_payload(payload, role, sender=device, correlation=correlation), False
        except Exception as exc:  # a bug must cost one answer, not the service
            log.exception("hub: command from %s failed", device)
            return error_reply(WireError.INTERNAL, f"the hub could not handle the command: {type(exc).__name__}"), \
                False

    def _on_follow_cancel(self, msg: Message) -> None:
        """A customer's "I'm not coming" from the phone page (core/follow.py): today's waiting ticket
        with that key is cancelled through the engine like any cancel, durably, with the customer's
        reason; anything else changes nothing (a repeat finds the ticket no longer waiting)."""
        if msg.retain:  # left on the topic, it would come again at every start
            log.warning("hub: a retained follow cancel is not acted on")
            return
        try:
            doc = check_cancel(msg.payload)
        except FollowError as exc:
            # Only what is wrong, never the payload: the text after ":" may quote some of it.
            log.warning("hub: ignoring a malformed follow cancel of %d bytes (%s)", len(msg.payload),
                        str(exc).split(":", 1)[0])
            return
        now = self.clock()
        tid = follow.waiting_ticket(self.authority.state, doc["key"], now)
        if tid is None:
            log.info("hub: a follow cancel for no waiting ticket of today; nothing to do")
            return
        reply = self.authority.handle(Cancel(tid, CUSTOMER_CANCEL_REASON), now)
        if self.authority.last_events:
            self.authority.last_events = []
            self._dirty = True
        if reply.get("ok"):
            self.follow_cancels += 1
            log.info("hub: ticket %s cancelled by its customer from the phone page (request %s)",
                     reply.get("number"), doc["req"])
        else:
            log.error("hub: could not cancel ticket %s for its customer: %s", tid, reply.get("message"))

    # --- publishing -----------------------------------------------------------------------

    def _publish(self, topic: str, body: bytes, corr: bytes | None = None, retain: bool = False) -> None:
        try:
            rc, _ = self.link.publish(topic, body, qos=1, retain=retain, correlation_data=corr)
        except (ValueError, TypeError) as exc:  # paho refuses the topic or the payload
            log.warning("hub: cannot publish to %r: %s", topic[:200], exc)
            return
        if rc == 0:
            if self._unacked == 0:
                self._last_ack = time.monotonic()  # the stall clock starts with the first in flight
            self._unacked += 1
        elif rc != 4:  # 4 = MQTT_ERR_NO_CONN: paho keeps QoS 1 and sends on reconnect
            log.warning("hub: publish to %s failed (rc %d)", topic, rc)

    def _send_answer(self, command_topic: str, target: str, body: bytes, corr: bytes | None) -> None:
        """A staff device's answer goes out on the staff link while it stands (it must not wait
        behind the main link's window of unacknowledged publishes); every other on the main link."""
        if self._staff_link is not None and self._staff_link.connected and command_topic in self._staff_topics:
            self._publish_staff(self._staff_link, target, body, corr)
        else:
            self._publish(target, body, corr)

    @staticmethod
    def _publish_staff(link: MqttLink, topic: str, body: bytes, corr: bytes | None) -> None:
        rc, _ = link.publish(topic, body, qos=1, correlation_data=corr)
        if rc not in (0, 4):
            log.warning("hub: publish to %s on the staff link failed (rc %d)", topic, rc)

    def _fitted(self, fitted: live.Fitted, what: str) -> bytes:
        """The body of a message within the budget, logging what the budget left out. The state
        is logged when what it leaves out changes (it goes out every heartbeat), anything else
        each time (a reply or a call over budget is a bug)."""
        if fitted.shortened:
            self.shortened += 1
            if what != "the state" or fitted.shortened != self._state_shortened:
                log.warning("hub: %s is larger than %d bytes; shortened: %s", what, live.MESSAGE_BUDGET,
                            ", ".join(fitted.shortened))
        elif what == "the state" and self._state_shortened:
            log.info("hub: the state fits its budget again")
        if what == "the state":
            self._state_shortened = fitted.shortened
        return fitted.body

    def state_message(self) -> dict[str, Any]:
        now = self.clock()
        self._rev = max(self._rev + 1, now)
        return live.state_message(self.authority.snapshot(now), site=self.site.id, hub=self.device.id,
                                  rev=self._rev, seq=self.store.last_seq, heartbeat_s=self.heartbeat_s)

    def publish_state(self) -> None:
        """Publish the retained state now (on the service thread); skipped while disconnected
        (the state is published again on every connect)."""
        self._next_heartbeat = time.monotonic() + self.heartbeat_s
        if not self.link.connected:
            return
        self._dirty = False
        self._publish(topics.state(self.site.id), self._fitted(live.fit_state(self.state_message()), "the state"),
                      retain=True)

    def _today(self) -> str:
        return local_day(self.clock(), self.site.tz)

    def publish_follow(self) -> None:
        """Publish the retained follow snapshot now (on the service thread, while connected)."""
        self._follow_at = time.monotonic() + FOLLOW_EVERY_S
        seq = self.store.last_seq
        snap = follow.build(self.authority.state, self.site.id, self.clock())
        if snap.active_left_out != self._follow_left_out:
            if snap.active_left_out:
                log.warning("hub: the follow snapshot is larger than its budget even without finished tickets; "
                            "%d waiting or called tickets left out", snap.active_left_out)
            else:
                log.info("hub: the follow snapshot holds every open ticket again")
            self._follow_left_out = snap.active_left_out
        self._publish(topics.follow(self.site.id), snap.body, retain=True)
        self._follow_sent = (seq, snap.day)
        self._follow_pending = False

    # --- appointments ---------------------------------------------------------------------

    def _check_appointments(self, force: bool = False) -> bool:
        """Reload `<data_dir>/appointments.json` when it changed. True when a new list was
        taken. A broken file is reported and the last good list kept."""
        p = self.appointments_path
        sig = _file_sig(p)
        if sig is None or (sig == self._appt_sig and not force):
            return False
        self._appt_sig = sig
        try:
            doc = json.loads(p.read_text(encoding="utf-8"))
            items = doc.get("appointments") if isinstance(doc, dict) else doc
            if not isinstance(items, list):
                raise ValueError("expected a list of {code, service, at_ms}")
            for i, it in enumerate(items):
                if not (isinstance(it, dict) and isinstance(it.get("code"), str)
                        and isinstance(it.get("service"), str) and isinstance(it.get("at_ms"), int)
                        and not isinstance(it.get("at_ms"), bool)):
                    raise ValueError(f"item {i + 1} must be {{code: text, service: text, at_ms: integer}}")
            appts = appointments_from_json(items)
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            log.warning("hub: %s is not a valid appointment list, keeping the last one: %s", p, exc)
            return False
        self.appointments = appts
        log.info("hub: %d appointments loaded from %s", len(appts), p)
        return True

    def _booking_key(self) -> bytes | None:
        """The site's key for booking references ([hub] booking_key_file: hex), None: none set.
        A key file that cannot be read is reported, and the feeds' bookings are not found."""
        path = self.settings.booking_key_file
        if not path:
            return None
        try:
            return bytes.fromhex(Path(path).read_text(encoding="ascii").strip())
        except (OSError, ValueError) as exc:
            log.error("hub: cannot read the booking key %s (%s): bookings from the feeds will not be found", path,
                      type(exc).__name__)
            return None

    def _check_bookings(self, force: bool = False) -> bool:
        """Reload `<data_dir>/bookings.json` (the sync agent writes it) when it changed. The day
        matters too (a series' occurrence of today), so it is read again at least every minute."""
        p = self.bookings_path
        file_sig = _file_sig(p)
        if file_sig is None:
            return False
        now = self.clock()
        sig = (*file_sig, now // 60_000)
        if sig == self._book_sig and not force:
            return False
        self._book_sig = sig
        try:
            book = book_from_json(p.read_bytes())
            booked = appointments_from_book(book, self.site.tz, now)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.warning("hub: %s is not a valid book of bookings, keeping the last one: %s", p, exc)
            return False
        changed = booked != self.booked
        self.booked = booked
        if changed:
            log.info("hub: %d bookings from the feeds (change %d)", len(booked), book.seq)
        return changed


def _file_sig(path: Path) -> tuple[int, int, int] | None:
    """(inode, mtime, size) of a file the hub reloads when it changes; None when it is not there
    or cannot be read (said in the log)."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    except OSError as exc:
        log.warning("hub: cannot read %s: %s", path, exc)
        return None
    return (st.st_ino, st.st_mtime_ns, st.st_size)


def _command_name(payload: bytes | str) -> str | None:
    """The 'cmd' of a JSON object, or None (the authority then answers what is wrong)."""
    try:
        obj = json.loads(payload)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None
    cmd = obj.get("cmd") if isinstance(obj, dict) else None
    return cmd if isinstance(cmd, str) else None
