"""The device's sync agent: its SQLite outbox → the central broker, acknowledged by the ingest.

One process per device (`palvelupiste sync --config DEVICE.toml`). The thread that calls
`SyncAgent.run()` owns everything that matters — the EventStore connection (the app process
appends to the same file from another process), the in-flight window and the counters — and an
`MqttLink` (its own network thread; callbacks only enqueue) talks to the central broker as
user and client id "<site>.<device>".

Protocol
    • Batches: {"site": S, "device": D, "events": [envelope, ...]} on pp/S/dev/D/events, QoS 1,
      consecutive sequence numbers, at most `batch_events` events and `batch_bytes` bytes each.
      At most `window` batches are in flight (published, not yet acknowledged by the ingest).
    • Acknowledgement: the ingest publishes, retained, {"seq": N} on pp/S/dev/D/ack — the highest
      sequence such that 1..N are all stored centrally. Only that moves the store's acked_seq;
      a PUBACK says the broker took the message, nothing more (a failed PUBACK — e.g. 0x87 Not
      authorized — is logged and counted in the status).
    • No acknowledgement progress within `ack_timeout_s` (doubling up to `ack_timeout_max_s` while
      nothing moves): everything from the acknowledged position is sent again. A PUBACK with
      0x10 "No matching subscribers" (no ingest worker subscribed, e.g. just after a broker
      restart) means the batch went nowhere: sent again after `nosub_retry_s`, doubling.
    • On every (re)connect: wait for the retained ack (or for the PUBACK of the status message
      published right after subscribing, which the broker sends after any retained message, or at
      most `ack_wait_s`), then resume from it.
    • Retained availability "online" / last will "offline"; a retained status (runtime.status) at
      connect, every `status_interval_s`, and within `status_min_interval_s` of a change.
    • Periodic WAL checkpoint; retention `store.prune(keep_days)` at start and once a day.
    • Down the wire: the retained site configuration and appointment list are kept on disk
      (sync.downwire.DownwireKeeper).

Nothing held in memory grows with the backlog or the time offline: the outbox is the SQLite file.
"""
from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bus import topics
from bus.link import Connected, ConnectFailed, Disconnected, Message, MqttLink, PubAck, drain, link_options
from core.config import Broker, ConfigError, Device, Issue
from core.events import now_ms
from core.store import EventStore, StoreError
from runtime import sdnotify
from runtime import status as st

from .downwire import DownwireKeeper
from .settings import SyncOptions

log = logging.getLogger(__name__)

APPOINTMENTS_FILE = "appointments.json"
BOOKINGS_FILE = "bookings.json"  # hub/service.py reads it


@dataclass
class _Batch:
    first: int
    last: int
    mid: int
    sent: float
    nosub: bool = False  # PUBACK said "no matching subscribers": it went nowhere


class SyncAgent:
    def __init__(self, device: Device, options: SyncOptions | None = None, *, version: str | None = None) -> None:
        if device.central_broker is None:
            raise ConfigError("<device>", [Issue("central_broker", "missing: the sync agent needs [central_broker]")])
        self.device = device
        self.broker: Broker = device.central_broker
        self.opts = options or SyncOptions.from_section(device.section("sync"))
        self.version = version or st.software_version()
        self.site, self.dev = device.site, device.id
        self.t_events = topics.events(self.site, self.dev)
        self.t_ack = topics.ack(self.site, self.dev)
        self.t_status = topics.status(self.site, self.dev)
        self.t_avail = topics.availability(self.site, self.dev)
        # The hub's agent also keeps the book of the feeds' bookings (the hub reads bookings.json).
        self.keeper = DownwireKeeper(self.site, device.site_config, Path(device.data_dir) / APPOINTMENTS_FILE,
                                     Path(device.data_dir) / BOOKINGS_FILE if device.role == "hub" else None)
        self.link = self._make_link()
        self.ready = threading.Event()   # set while connected and resumed (for tests and tools)
        # --- owned by the run() thread ---
        self.store: EventStore | None = None
        self.inflight: deque[_Batch] = deque()
        self.mids: dict[int, _Batch] = {}
        self.sent_upto = 0
        self.central_ack: int | None = None
        self._resumed = False
        self._barrier_mid: int | None = None
        self._barrier_done = False
        self._barrier_deadline = 0.0
        self._last_progress = 0.0
        self._ack_timeout = self.opts.ack_timeout_s
        self._nosub_delay = self.opts.nosub_retry_s
        self._nosub_resend_at: float | None = None
        self._last_seq = 0
        self._acked = 0
        self._last_status = 0.0
        self._status_pair: tuple[int, int] | None = None
        self._connect_fail_logged = 0.0
        prev = st.read_local_status(device.data_dir) or {}
        self.last_sync_ms: int | None = prev.get("last_sync_ms") if isinstance(prev.get("last_sync_ms"), int) else None
        self.counters: dict[str, int] = {
            "published_batches": 0, "published_events": 0, "pubacks_ok": 0, "puback_failures": 0,
            "no_subscriber_pubacks": 0, "ack_timeouts": 0, "resent_batches": 0, "connects": 0}
        self.last_puback_failure: str | None = None

    # --- setup ---------------------------------------------------------------------------------

    def _make_link(self) -> MqttLink:
        o = self.opts
        name = topics.central_username(self.site, self.dev)
        opts = link_options(
            self.broker, topics.client_id(self.broker.username or name), username=name, keepalive=o.keepalive_s,
            will=(self.t_avail, b"offline", True), online=(self.t_avail, b"online", True),
            subscriptions=[(self.t_ack, 1)] + [(t, 1) for t in self.keeper.topics],
            min_backoff_s=o.min_backoff_s, max_backoff_s=o.max_backoff_s, max_inflight=o.window + 16)
        return MqttLink(opts)

    # --- main loop (the owner thread) ------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        self.store = store = EventStore(self.device.store, self.site, self.dev)
        self._acked = store.acked_seq
        self._last_seq = store.last_seq
        self.sent_upto = self._acked
        next_prune = time.monotonic()
        next_cp = time.monotonic() + self.opts.checkpoint_interval_s
        self.link.start()
        log.info("sync: %s/%s → %s, outbox %d..%d", self.site, self.dev, self.broker.url,
                 self._acked, self._last_seq)
        # systemd (Type=notify): ready with the store open; pings from this loop, so a hung
        # agent is restarted (the outbox is on disk: nothing is lost by a restart).
        sdnotify.ready(f"outbox {self._acked}..{self._last_seq}")
        watchdog = sdnotify.WatchdogPinger()
        try:
            while not stop.is_set():
                watchdog.tick()
                try:
                    for item in drain(self.link.inbox, self.opts.poll_s):
                        self._on_item(item)
                    now = time.monotonic()
                    self._last_seq = store.last_seq
                    self._check_barrier(now)
                    self._check_ack_timeout(now)
                    self._fill_window(now)
                    self._maybe_status(now)
                    if now >= next_cp:
                        store.checkpoint()
                        next_cp = now + self.opts.checkpoint_interval_s
                    if now >= next_prune:
                        gone = store.prune(self.opts.keep_days)
                        if gone:
                            log.info("sync: retention removed %d acknowledged events older than %g days",
                                     gone, self.opts.keep_days)
                        next_prune = now + self.opts.prune_interval_s
                except (StoreError, sqlite3.Error) as exc:
                    # e.g. disk full while recording an ack: nothing is lost, try again shortly.
                    log.error("sync: store error: %s", exc)
                    stop.wait(1.0)
        finally:
            self._shutdown()

    def _shutdown(self) -> None:
        try:
            if self.link.connected:
                mids = []
                self._publish_status(time.monotonic())
                rc, mid = self.link.publish(self.t_avail, b"offline", qos=1, retain=True)
                mids.append(mid)
                deadline = time.monotonic() + 2.0
                while mids and time.monotonic() < deadline:
                    for item in drain(self.link.inbox, 0.1):
                        if isinstance(item, PubAck) and item.mid in mids:
                            mids.remove(item.mid)
        except Exception:  # stopping must not fail
            log.exception("sync: error while stopping")
        self.link.stop()
        if self.store is not None:
            try:
                self._write_local_status()
            except Exception:
                pass
            self.store.close()

    # --- inbox ------------------------------------------------------------------------------------

    def _on_item(self, item: Any) -> None:
        if isinstance(item, Message):
            if item.topic == self.t_ack:
                self._on_ack(item.payload)
            else:
                self.keeper.handle(item.topic, item.payload)
                if self.keeper.ask_since is not None:
                    # The centre answers with the changes after it, as a new retained batch.
                    self.link.publish(topics.bookings_since(self.site),
                                      json.dumps({"seq": self.keeper.ask_since}).encode(), qos=1)
        elif isinstance(item, PubAck):
            if item.mid == self._barrier_mid:
                self._barrier_done = True
            batch = self.mids.pop(item.mid, None)
            log.debug("sync: puback mid %d code 0x%02x%s", item.mid, item.code, "" if batch else " (not in flight)")
            if item.failure:
                self.counters["puback_failures"] += 1
                self.last_puback_failure = f"{item.reason} (0x{item.code:02x})"
                log.error("sync: the broker refused a publish (mid %d%s): %s (0x%02x)", item.mid,
                          f", events {batch.first}..{batch.last}" if batch else "", item.reason, item.code)
            elif batch is not None:
                self.counters["pubacks_ok"] += 1
                if item.code == 0x10:
                    # "No matching subscribers": no ingest worker is subscribed, the batch went
                    # nowhere. Send again soon (backing off) instead of after the full ack timeout.
                    self.counters["no_subscriber_pubacks"] += 1
                    batch.nosub = True
                    if self._nosub_resend_at is None:
                        self._nosub_resend_at = time.monotonic() + self._nosub_delay
        elif isinstance(item, Connected):
            self._on_connected()
        elif isinstance(item, Disconnected):
            log.warning("sync: disconnected from the central broker: %s", item.reason)
            self._reset()
        elif isinstance(item, ConnectFailed):
            now = time.monotonic()
            if now - self._connect_fail_logged > 60:
                log.warning("sync: cannot connect to the central broker: %s", item.reason)
                self._connect_fail_logged = now

    def _reset(self) -> None:
        self._nosub_resend_at = None
        self.inflight.clear()
        self.mids.clear()
        self._resumed = False
        self.ready.clear()
        self.central_ack = None

    def _on_connected(self) -> None:
        self.counters["connects"] += 1
        log.info("sync: connected to the central broker")
        self._reset()
        self._barrier_done = False
        self._barrier_deadline = time.monotonic() + self.opts.ack_wait_s
        # Published after the subscriptions (MqttLink subscribes in on_connect): its PUBACK comes
        # after the retained ack, if there is one.
        self._barrier_mid = self._publish_status(time.monotonic())

    def _on_ack(self, payload: bytes) -> None:
        try:
            doc = json.loads(payload)
            seq = doc["seq"]
            if not isinstance(seq, int) or isinstance(seq, bool) or seq < 0:
                raise ValueError(seq)
        except (ValueError, KeyError, TypeError):
            log.warning("sync: ignoring a malformed ack %r", payload[:100])
            return
        assert self.store is not None
        log.debug("sync: ack %d", seq)
        self.central_ack = seq
        self.last_sync_ms = now_ms()
        before = self._acked
        self._acked = self.store.ack(seq)
        last = self.store.last_seq
        if seq > last:
            log.error("sync: the centre acknowledges seq %d but this store only has %d events "
                      "(was the store replaced?)", seq, last)
        if self._acked > before:
            self._last_progress = time.monotonic()
            self._ack_timeout = self.opts.ack_timeout_s
            self._nosub_delay = self.opts.nosub_retry_s
        while self.inflight and self.inflight[0].last <= seq:
            b = self.inflight.popleft()
            self.mids.pop(b.mid, None)
        if self._nosub_resend_at is not None and not any(b.nosub for b in self.inflight):
            self._nosub_resend_at = None  # what went nowhere arrived after all (a paho re-send)
        if not self._resumed:
            if seq < self._acked:
                log.warning("sync: the centre has only up to %d, this device had %d acknowledged: "
                            "sending again from %d", seq, self._acked, seq)
            self._resume(min(seq, last))
        elif seq > self.sent_upto:
            self.sent_upto = min(seq, last)

    def _resume(self, pos: int) -> None:
        self._resumed = True
        self.sent_upto = pos
        self._last_progress = time.monotonic()
        self.ready.set()
        log.info("sync: resuming from seq %d (last %d)", pos, self._last_seq)

    def _check_barrier(self, now: float) -> None:
        if not self._resumed and self.link.connected and (self._barrier_done or now >= self._barrier_deadline) \
                and self._barrier_mid is not None:
            # No retained ack: the centre has nothing from this device (or lost it); start from ours.
            self._resume(self._acked)

    def _check_ack_timeout(self, now: float) -> None:
        if not (self._resumed and self.inflight):
            return
        ref = max(self.inflight[0].sent, self._last_progress)
        if self._nosub_resend_at is not None and now >= self._nosub_resend_at:
            log.info("sync: nobody was subscribed to the events (ingest down?): sending again from %d",
                     self._acked)
            self._nosub_delay = min(self._nosub_delay * 2, self.opts.ack_timeout_max_s)
        elif now - ref > self._ack_timeout:
            self.counters["ack_timeouts"] += 1
            log.warning("sync: no acknowledgement beyond %d within %.1f s: sending again from there",
                        self._acked, self._ack_timeout)
            self._ack_timeout = min(self._ack_timeout * 2, self.opts.ack_timeout_max_s)
        else:
            return
        self.counters["resent_batches"] += len(self.inflight)
        self._nosub_resend_at = None
        self.inflight.clear()
        self.mids.clear()
        self.sent_upto = self._acked
        self._last_progress = now

    def _fill_window(self, now: float) -> None:
        if not (self._resumed and self.link.connected):
            return
        assert self.store is not None
        o = self.opts
        head = f'{{"site":{json.dumps(self.site)},"device":{json.dumps(self.dev)},"events":['
        while len(self.inflight) < o.window and self.sent_upto < self._last_seq:
            evs = self.store.events(after_seq=self.sent_upto, limit=o.batch_events)
            if not evs:
                break
            if evs[0].seq != self.sent_upto + 1:
                log.error("sync: events %d..%d are no longer in the store (pruned before the centre "
                          "acknowledged them?); the centre will wait at the gap",
                          self.sent_upto + 1, evs[0].seq - 1)
            parts: list[str] = []
            size = len(head) + 2
            for ev in evs:
                text = ev.to_json()
                n = len(text.encode("utf-8")) + 1
                if parts and size + n > o.batch_bytes:
                    break
                parts.append(text)
                size += n
                last = ev.seq
            payload = (head + ",".join(parts) + "]}").encode("utf-8")
            rc, mid = self.link.publish(self.t_events, payload, qos=1)
            log.debug("sync: published %d..%d as mid %d (rc %d)", evs[0].seq, last, mid, rc)
            b = _Batch(evs[0].seq, last, mid, now)
            self.inflight.append(b)
            self.mids[mid] = b
            self.sent_upto = last
            self.counters["published_batches"] += 1
            self.counters["published_events"] += len(parts)
            if rc != 0:
                break  # not connected any more: paho keeps it queued; the reconnect resets the window

    # --- status ----------------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        assert self.store is not None
        extra = self.keeper.summary()
        inputs = st.read_app_status(self.device.data_dir, st.FEEDBACK_STATUS_FILE)
        if inputs is not None:  # the feedback terminal's buttons: present, stuck keys
            extra = {**extra, "feedback": inputs}
        return st.build_status(
            site=self.site, device=self.dev, role=self.device.role, version=self.version,
            last_seq=self._last_seq, acked_seq=self._acked, oldest_unacked_ts=self.store.oldest_unacked_ts(),
            last_sync_ms=self.last_sync_ms, disk_free=st.disk_free_bytes(self.store.path.parent),
            printer=st.read_printer_status(self.device.data_dir), sync={**self.counters, "last_puback_failure": self.last_puback_failure},
            connected=self.link.connected, extra=extra)

    def _write_local_status(self, status: dict[str, Any] | None = None) -> None:
        st.write_local_status(self.device.data_dir, status or self.status())

    def _publish_status(self, now: float) -> int | None:
        s = self.status()
        self._last_status = now
        self._status_pair = (self._acked, self._last_seq)
        self._write_local_status(s)
        if not self.link.connected:
            return None
        rc, mid = self.link.publish(self.t_status, st.status_json(s), qos=1, retain=True)
        return mid

    def _maybe_status(self, now: float) -> None:
        since = now - self._last_status
        changed = self._status_pair != (self._acked, self._last_seq)
        if since >= self.opts.status_interval_s or (changed and since >= self.opts.status_min_interval_s):
            self._publish_status(now)


def run_agent(device: Device, stop: threading.Event | None = None, options: SyncOptions | None = None) -> SyncAgent:
    agent = SyncAgent(device, options)
    agent.run(stop or threading.Event())
    return agent
