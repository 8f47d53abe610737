"""The centre's side of following one's turn on a phone: the sites' follow snapshots as they arrive
from their bridges (core/follow.py), held in memory for the page behind each ticket's QR code, and
the link to the central broker that brings them and carries "I'm not coming" back.

Nothing here is stored: a snapshot lives until the next one of its site replaces it (a new day
starts with an empty one), and a web service that restarts gets every site's again, retained, from
the broker. A snapshot that fails core.follow's checks replaces nothing; its site keeps the last
good one, and the refusal is logged with the reason only (never the payload).
"""
from __future__ import annotations

import logging
import queue
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bus import topics
from bus.link import Connected, Disconnected, LinkOptions, Message, MqttLink, drain
from core.events import now_ms
from core.follow import FollowError, cancel_bytes, check_snapshot, follow_key, valid_token

log = logging.getLogger("palvelupiste.follow")


@dataclass(frozen=True)
class Seen:
    """One ticket as the page shows it, with how fresh that is."""
    key: str
    ticket: dict[str, Any]
    day: str
    hub_ms: int          # when the hub built the snapshot (its clock)
    received_ms: int     # when it reached the centre (ours)
    link_down: bool      # the site's bridge is known to be disconnected


@dataclass
class _Site:
    doc: dict[str, Any] | None = None
    received_ms: int = 0
    bridge_up: bool | None = None   # None: never heard (a site without a bridge state yet)


class FollowBoard:
    """The latest snapshot of every site, thread-safe. `listeners` are told a site's name after
    every change (from the link's thread): the web service wakes the pages of that site."""

    def __init__(self, clock: Callable[[], int] = now_ms) -> None:
        self._clock = clock
        self._sites: dict[str, _Site] = {}
        self._lock = threading.Lock()
        self.listeners: list[Callable[[str], None]] = []
        self.refused = 0

    def _changed(self, site: str) -> None:
        for fn in list(self.listeners):
            try:
                fn(site)
            except Exception:  # a listener's failure must not stop the others or the link
                log.exception("follow: a listener failed")

    def snapshot(self, site: str, payload: bytes) -> bool:
        """A site's snapshot as it arrived on its topic. False (and logged) when refused."""
        try:
            doc = check_snapshot(payload, site)
        except FollowError as exc:
            self.refused += 1
            log.warning("follow: snapshot of site %s refused: %s", site[:64], exc)
            return False
        with self._lock:
            s = self._sites.setdefault(site, _Site())
            s.doc, s.received_ms = doc, self._clock()
        self._changed(site)
        return True

    def bridge(self, site: str, payload: bytes) -> None:
        """The site bridge's retained notification: b"1" connected, b"0" not (its last will)."""
        up = payload.strip() == b"1" if payload.strip() in (b"0", b"1") else None
        if up is None:
            return
        with self._lock:
            s = self._sites.setdefault(site, _Site())
            changed, s.bridge_up = s.bridge_up != up, up
        if changed:
            self._changed(site)

    def find(self, site: str, token: str, today: str) -> Seen | None:
        """The ticket of `token` at `site` if it is one of today's; None for anything else. The
        same work whatever the answer, so its time says nothing about why."""
        key = follow_key(token if valid_token(token) else "-")
        with self._lock:
            s = self._sites.get(site) or _Site()
            doc = s.doc or {}
            ticket = doc.get("tickets", {}).get(key)
            fresh = doc.get("day") == today
            received, up = s.received_ms, s.bridge_up
        if ticket is None or not fresh or not valid_token(token):
            return None
        return Seen(key, ticket, doc["day"], doc["ts"], received, up is False)

    def forget(self, site: str) -> None:
        with self._lock:
            self._sites.pop(site, None)
        self._changed(site)


class FollowLink:
    """The web service's connection to the central broker as its own user: every site's follow
    snapshot and bridge state in, cancels out. Its thread only feeds the board."""

    def __init__(self, opts: LinkOptions, board: FollowBoard) -> None:
        opts.subscriptions = [(topics.follow_all(), 1), (topics.bridge_state_all(), 1)]
        self.board = board
        self.inbox: queue.Queue[Any] = queue.Queue()
        self.link = MqttLink(opts, self.inbox)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="follow-feed", daemon=True)

    def start(self) -> "FollowLink":
        self.link.start()
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self.link.stop()
        self._thread.join(5)

    @property
    def connected(self) -> bool:
        return self.link.connected

    def _run(self) -> None:
        while not self._stop.is_set():
            for item in drain(self.inbox, 0.5):
                if isinstance(item, Message):
                    self._message(item)
                elif isinstance(item, Connected):
                    log.info("follow: connected to the central broker")
                elif isinstance(item, Disconnected):
                    log.warning("follow: disconnected from the central broker: %s", item.reason)

    def _message(self, m: Message) -> None:
        site = topics.parse_site_topic(m.topic, "follow")
        if site is not None:
            if m.payload:
                self.board.snapshot(site, m.payload)
            else:
                self.board.forget(site)  # a cleared retained snapshot
            return
        site = topics.parse_site_topic(m.topic, "bridge")
        if site is not None:
            self.board.bridge(site, m.payload)

    def cancel(self, site: str, key: str) -> bool:
        """Ask the site's hub to cancel the ticket of `key` (QoS 1: the central broker keeps it for
        the bridge while the site's link is down). False when not even our broker took it."""
        try:
            info = self.link.client.publish(topics.follow_cancel(site),
                                            cancel_bytes(key, secrets.token_urlsafe(12), now_ms()), qos=1)
        except (ValueError, OSError) as exc:
            log.warning("follow: cancel for site %s not sent: %s", site[:64], exc)
            return False
        return info.rc == 0
