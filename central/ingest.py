"""Central ingest: event batches from every device's sync agent → the central database, once.

Workers subscribe `$share/ingest/pp/+/dev/+/events` (an MQTT 5 shared subscription: the broker
hands each message to one worker of the group, so several workers share the load). Exactly-once
does not depend on that: a message may reach two workers (a device re-sends after a timeout, the
broker re-delivers), and both write inside one SQLite transaction where (site, device, seq) is the
primary key. The acknowledgement is read back from the database — the device's contiguous
watermark — and published retained, QoS 1, on pp/<site>/dev/<device>/ack as {"seq": N}.

Nothing that arrives is dropped and nothing crashes the worker: a message or an event that cannot
be stored goes to the dead_letter table with the reason and the raw payload (truncated; an event's
data only as its keys and value types, since a refused event may carry exactly what must not be
kept).

Every event is checked by the sending device's role and by its type's schema
(`core.events.check_event`): a kiosk writes no feedback, a feedback terminal no tickets, no event
carries a key its schema does not name, free text is masked. A refused event is dead-lettered and
its sequence number noted as refused, so the device's ack moves past it (otherwise the device would
send it again forever). The roles come from the site configurations the centre publishes: every
worker subscribes to the retained pp/<site>/config (only the publisher user may write it) and keeps
the [[devices]] list in the `devices` table, so a restarted worker knows them at once. Why there:
it is the one list the site's own devices (and the site broker's ACL) are configured from, and no
device can write it. A device missing from its site's published list is held: its batch is
dead-lettered without being acknowledged, and stored when the device sends it again after its site
configuration names it. For a site whose configuration never came the role cannot be known, and
only the schema is checked.

Batch format (what `sync.agent` publishes on pp/<site>/dev/<device>/events):
    {"site": "<site>", "device": "<device>", "events": [<event envelope>, ...]}
"""
from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from bus import topics
from bus.link import Connected, ConnectFailed, Disconnected, LinkOptions, Message, MqttLink, PubAck, drain
from central.deadletters import DeadLetter
from central.store import CentralStore, db_errors, open_central
from core.downwire import DownwireError, validate_site_config
from core.events import MAX_EVENT_BYTES, Event, EventError, check_event, now_ms, parse_event, valid_id

log = logging.getLogger(__name__)

#: A batch larger than this is refused whole (the agent sends at most 64 KB by default).
MAX_BATCH_BYTES = 512 * 1024
MAX_BATCH_EVENTS = 5000
MAX_STATUS_BYTES = 16 * 1024

CONFIG_ALL = topics.config_all()


def ack_payload(seq: int) -> bytes:
    return json.dumps({"seq": seq}, separators=(",", ":")).encode()


@dataclass
class IngestResult:
    stored: int = 0
    duplicates: int = 0
    dead: int = 0
    statuses: int = 0
    #: (site, device) → contiguous watermark after this call: the ack to publish.
    acks: dict[tuple[str, str], int] = field(default_factory=dict)

    def add(self, other: "IngestResult") -> None:
        self.stored += other.stored
        self.duplicates += other.duplicates
        self.dead += other.dead
        self.statuses += other.statuses
        self.acks.update(other.acks)


def _int_or_none(v: Any) -> int | None:
    return v if isinstance(v, int) and not isinstance(v, bool) else None


def _config_site(topic: str) -> str | None:
    """The site of a pp/<site>/config topic, else None."""
    parts = topic.split("/")
    if len(parts) == 3 and parts[0] == topics.ROOT and parts[2] == "config" and valid_id(parts[1]):
        return parts[1]
    return None


def _redacted(obj: Any) -> str:
    """A refused event as it is kept in the dead letter: the envelope, and of its data only the
    keys and the types of their values (enough to see what was wrong, nothing a person typed)."""
    if not isinstance(obj, dict):
        return json.dumps({"not_an_object": type(obj).__name__})
    out: dict[str, Any] = {}
    for k in ("v", "id", "site", "device", "seq", "type", "ts"):
        v = obj.get(k)
        out[k] = v if v is None or isinstance(v, (bool, int, float)) or (isinstance(v, str) and len(v) <= 64) \
            else f"<{type(v).__name__}>"
    data = obj.get("data")
    out["data"] = ({str(k)[:40]: type(v).__name__ for k, v in list(data.items())[:40]} if isinstance(data, dict)
                   else f"<{type(data).__name__}>")
    extra = [str(k)[:40] for k in obj if k not in out][:20]
    if extra:
        out["unknown_fields"] = extra
    return json.dumps(out, ensure_ascii=False, separators=(",", ":"))


class Ingest:
    """The message-handling core, without MQTT: topic + payload in, rows and acks out."""

    def __init__(self, db: CentralStore) -> None:
        self.db = db
        self._roles: dict[str, dict[str, str]] = {}  # site → device → role, read once per handle_many

    def handle(self, topic: str, payload: bytes | str) -> IngestResult:
        return self.handle_many([(topic, payload)])

    def handle_many(self, messages: Iterable[tuple[str, bytes | str]]) -> IngestResult:
        """Store a group of messages in one transaction; returns the acks to publish (read from
        the database after the writes). A database failure rolls everything back and raises
        one of central.store.db_errors(): nothing was acknowledged, the devices will send again."""
        res = IngestResult()
        touched: set[tuple[str, str]] = set()
        when = now_ms()
        # Site configurations first: a worker that starts gets the retained ones together with
        # the first batches, and the roles must be known before those are checked.
        ordered = sorted(messages, key=lambda m: not (isinstance(m[0], str) and _config_site(m[0])))
        self._roles = {}
        self.db.begin()
        try:
            for topic, payload in ordered:
                self._one(topic, payload, when, res, touched)
            for site, device in sorted(touched):
                res.acks[(site, device)] = self.db.advance_watermark(site, device, when)
            self.db.commit()
        except BaseException:
            self.db.rollback()
            raise
        return res

    # --- one message --------------------------------------------------------------------------

    def _dead(self, res: IngestResult, d: DeadLetter, when: int) -> None:
        self.db.dead_letter(d, when)
        res.dead += 1

    def _one(self, topic: Any, payload: Any, when: int, res: IngestResult, touched: set) -> None:
        if not isinstance(topic, str):
            topic = repr(topic)
        if isinstance(payload, str):
            payload = payload.encode("utf-8", "surrogatepass")
        elif not isinstance(payload, (bytes, bytearray, memoryview)):
            payload = repr(payload).encode()
        payload = bytes(payload)
        config_site = _config_site(topic)
        if config_site is not None:
            self._config(config_site, topic, payload, when, res)
            return
        parsed = topics.parse_device_topic(topic)
        if parsed is None or not valid_id(parsed[0]) or not valid_id(parsed[1]):
            self._dead(res, DeadLetter("topic is not pp/<site>/dev/<device>/events", topic, payload), when)
            return
        site, device, leaf = parsed
        if leaf in ("status", "availability"):
            self._status(site, device, leaf, topic, payload, when, res)
            return
        if leaf != "events":
            self._dead(res, DeadLetter(f"unexpected topic leaf {leaf!r}", topic, payload, site, device), when)
            return
        touched.add((site, device))  # even a bad message gets the current ack: it helps the device resync
        try:
            self._batch(site, device, topic, payload, when, res)
        except db_errors():
            raise  # the database failed: the whole group is rolled back and sent again
        except Exception as exc:  # a bug must cost one message, not the worker
            log.exception("ingest: unexpected error on %s", topic)
            self._dead(res, DeadLetter(f"internal error: {type(exc).__name__}: {exc}", topic, payload,
                                       site, device), when)

    def _batch(self, site: str, device: str, topic: str, payload: bytes, when: int, res: IngestResult) -> None:
        def dead(reason: str, raw: bytes | str = payload, seq: int | None = None) -> None:
            self._dead(res, DeadLetter(reason, topic, raw, site, device, seq), when)

        if len(payload) > MAX_BATCH_BYTES:
            return dead(f"batch of {len(payload)} bytes is larger than {MAX_BATCH_BYTES}")
        try:
            doc = json.loads(payload.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError) as exc:
            return dead(f"not valid JSON: {str(exc)[:200]}")
        if not isinstance(doc, dict):
            return dead("a batch must be a JSON object {site, device, events}")
        if doc.get("site") != site or doc.get("device") != device:
            return dead(f"batch says site {str(doc.get('site'))[:70]!r} device {str(doc.get('device'))[:70]!r}, "
                        f"the topic says {site!r} {device!r}")
        evs = doc.get("events")
        if not isinstance(evs, list):
            return dead("events: must be a list")
        if len(evs) > MAX_BATCH_EVENTS:
            return dead(f"batch of {len(evs)} events is more than {MAX_BATCH_EVENTS}")
        roles = self._roles.get(site)
        if roles is None:
            roles = self._roles[site] = self.db.roles(site)
        role = roles.get(device)
        if roles and role is None:
            # Not acknowledged: the device sends it again, and it is stored once the site's
            # published configuration names the device.
            return dead(f"device {device!r} is not in the published configuration of site {site!r}: held")
        good: dict[int, Event] = {}
        refused: dict[int, str | None] = {}

        def refuse(reason: str, obj: Any, seq: int | None) -> None:
            dead(reason, _redacted(obj), seq)
            if seq is not None and 1 <= seq < 2**63:
                refused[seq] = obj.get("id") if isinstance(obj, dict) else None

        for obj in evs:
            seq = _int_or_none(obj.get("seq")) if isinstance(obj, dict) else None
            try:
                raw = json.dumps(obj, ensure_ascii=False, separators=(",", ":"))
            except (ValueError, TypeError, RecursionError):  # cannot happen for decoded JSON; be safe
                refuse("event cannot be encoded as JSON", obj, seq)
                continue
            try:
                raw.encode("utf-8")
            except UnicodeEncodeError:  # a lone surrogate ("\ud800") decodes but is not text
                refuse("event contains text that is not valid Unicode", obj, seq)
                continue
            if len(raw.encode("utf-8")) > MAX_EVENT_BYTES:
                refuse(f"event larger than {MAX_EVENT_BYTES} bytes", obj, seq)
                continue
            try:
                ev = parse_event(obj)
            except EventError as exc:
                refuse(f"invalid event: {exc}", obj, seq)
                continue
            if ev.site != site or ev.device != device:
                refuse(f"event belongs to site {ev.site[:64]!r} device {ev.device[:64]!r}, the topic is "
                       f"{site!r} {device!r}", obj, ev.seq)
                continue
            if ev.seq >= 2**63:
                dead("seq: out of range", _redacted(obj), None)
                continue
            try:
                ev = check_event(ev, role, when)
            except EventError as exc:
                refuse(f"refused: {exc}", obj, ev.seq)
                continue
            prior = good.get(ev.seq)
            if prior is not None:
                if prior.id != ev.id:
                    dead(f"seq {ev.seq} appears twice in the batch with different event ids", _redacted(obj), ev.seq)
                else:
                    res.duplicates += 1
                continue
            good[ev.seq] = ev
        for seq, eid in refused.items():
            if seq not in good:  # a valid copy of the same seq in this batch wins
                self.db.refuse(site, device, seq, eid, when)
        if not good:
            return
        existing = self.db.existing_ids(site, device, list(good))
        # At or below the watermark and not in the store: acknowledged long ago, and its raw event
        # since pruned (retention); storing it again would count it twice in the roll-ups.
        acked = self.db.watermark(site, device)
        fresh = []
        for seq, ev in good.items():
            old = existing.get(seq)
            if old is None and seq <= acked:
                res.duplicates += 1
            elif old is None:
                fresh.append(ev)
            elif old == ev.id:
                res.duplicates += 1
            else:
                dead(f"conflict: seq {seq} is already stored with event id {old}, this one is {ev.id}",
                     _redacted(ev.to_dict()), seq)
        if fresh:
            n = self.db.insert_events(fresh, when)
            res.stored += n
            res.duplicates += len(fresh) - n

    def _config(self, site: str, topic: str, payload: bytes, when: int, res: IngestResult) -> None:
        """A site configuration the centre published: its [[devices]] become the site's roles."""
        if not payload:
            return  # cleared; the last roles stay: a site is not opened to every type by a clear
        try:
            cfg = validate_site_config(site, payload.decode("utf-8"), topic)
        except (UnicodeDecodeError, DownwireError) as exc:
            self._dead(res, DeadLetter(f"site configuration refused: {str(exc)[:300]}", topic, payload, site),
                       when)
            return
        self.db.register_site(cfg, payload.decode("utf-8"), when)
        self._roles.pop(site, None)

    def _status(self, site: str, device: str, leaf: str, topic: str, payload: bytes, when: int,
                res: IngestResult) -> None:
        if not payload:
            return  # a retained message being cleared
        try:
            text = payload.decode("utf-8")
        except UnicodeDecodeError:
            text = None
        if leaf == "availability":
            if text not in ("online", "offline"):
                self._dead(res, DeadLetter("availability must be 'online' or 'offline'", topic, payload,
                                           site, device), when)
                return
        else:
            ok = False
            if text is not None and len(payload) <= MAX_STATUS_BYTES:
                try:
                    ok = isinstance(json.loads(text), dict)
                except (ValueError, RecursionError):
                    pass
            if not ok or text is None:
                self._dead(res, DeadLetter(f"status must be a JSON object of at most {MAX_STATUS_BYTES} bytes",
                                           topic, payload, site, device), when)
                return
        self.db.set_status(site, device, leaf, text, when)
        res.statuses += 1


# --- the worker process -------------------------------------------------------------------------

def default_client_id(username: str | None) -> str:
    """"<user>/<host>-<pid>": workers share one user name on the service listener, so each
    needs its own instance (see bus.topics.client_id)."""
    return topics.client_id(username or "ingest", f"{socket.gethostname()[:40]}-{os.getpid()}")


class IngestWorker:
    """One ingest worker: an MqttLink to the central broker and the thread that owns the DB."""

    def __init__(self, db_path: str, link_opts: LinkOptions, *, statuses: bool = True,
                 max_group: int = 1000, checkpoint_s: float = 300.0) -> None:
        # The group is a secret of the ingest's credentials: a device that could name it would
        # take its share of every batch (bus.topics' docstring).
        group = topics.ingest_group(link_opts.password or "")
        subs = [(topics.events_all(group), 1)]
        # Not shared: every worker needs every site's roles (see the module's docstring).
        subs.append((CONFIG_ALL, 1))
        if statuses:
            subs += [(topics.status_all(group), 1), (topics.availability_all(group), 1)]
        for s in subs:
            if s not in link_opts.subscriptions:
                link_opts.subscriptions.append(s)
        link_opts.max_inflight = max(link_opts.max_inflight, 1000)
        self.db_path = db_path
        self.link = MqttLink(link_opts)
        self.max_group = max_group
        self.checkpoint_s = checkpoint_s
        self.totals = IngestResult()
        self.ack_failures = 0

    def run(self, stop: threading.Event) -> None:
        db = open_central(self.db_path)
        ingest = Ingest(db)
        self.link.start()
        last_cp = last_log = time.monotonic()
        try:
            while not stop.is_set():
                items = drain(self.link.inbox, 0.5)
                msgs: list[tuple[str, bytes]] = []
                for it in items:
                    if isinstance(it, Message):
                        msgs.append((it.topic, it.payload))
                    elif isinstance(it, PubAck):
                        if it.failure:
                            self.ack_failures += 1
                            log.error("ingest: the broker refused an ack publish: %s (0x%02x)", it.reason, it.code)
                    elif isinstance(it, Connected):
                        log.info("ingest: connected to the central broker")
                    elif isinstance(it, ConnectFailed):
                        log.warning("ingest: cannot connect: %s", it.reason)
                    elif isinstance(it, Disconnected):
                        log.warning("ingest: disconnected: %s", it.reason)
                for i in range(0, len(msgs), self.max_group):
                    self._process(ingest, msgs[i:i + self.max_group], stop)
                now = time.monotonic()
                if now - last_cp > self.checkpoint_s:
                    db.checkpoint()
                    last_cp = now
                if now - last_log > 60:
                    t = self.totals
                    log.info("ingest: stored %d, duplicates %d, dead letters %d", t.stored, t.duplicates, t.dead)
                    last_log = now
        finally:
            self.link.stop()
            db.close()

    def _process(self, ingest: Ingest, msgs: list[tuple[str, bytes]], stop: threading.Event) -> None:
        for attempt in range(5):
            try:
                res = ingest.handle_many(msgs)
                break
            except db_errors() as exc:
                # Nothing was acknowledged, so nothing is lost: the devices send again on timeout.
                log.error("ingest: database error (attempt %d): %s", attempt + 1, exc)
                if stop.wait(0.5 * (attempt + 1)):
                    return
        else:
            return
        self.totals.add(res)
        for (site, device), seq in res.acks.items():
            # Read again just before publishing: another worker may have moved it further since our
            # commit, and a retained ack should not step back (the device ignores a lower one, but
            # would resume from it after a reconnect).
            try:
                seq = max(seq, ingest.db.watermark(site, device))
            except db_errors():
                pass
            self.link.publish(topics.ack(site, device), ack_payload(seq), qos=1, retain=True)


def run_worker(db_path: str, link_opts: LinkOptions, stop: threading.Event | None = None) -> IngestWorker:
    """Run a worker until `stop` is set (blocks)."""
    w = IngestWorker(db_path, link_opts)
    w.run(stop or threading.Event())
    return w
