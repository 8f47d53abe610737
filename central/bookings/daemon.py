"""`palvelupiste central bookings`: the booking feeds imported on their schedule and the changes sent
to the sites (palvelupiste-central-bookings.service, one process).

A round (every `tick_s`): each feed whose time has come (`every_min` since its last attempt, or at
once when asked) is imported (central/bookings/store.py: all or nothing, its health recorded);
then each site with changes it has not been sent gets them as one batch, retained on
pp/<site>/bookings (QoS 1): a site connecting later gets the last batch at once. A site's agent
that missed an earlier batch asks on pp/<site>/bookings/since with the last change it has; it is
answered with every change after that as a new retained batch (at most once per site every
`answer_every_s`: a broken or hostile device cannot make the centre do more). The single-event
cache of each feed lives here, so an unchanged event is not parsed again (issue 17, the bench).

Only what the sites need crosses: references, services, times, rooms, needs (no code, no text).
"""
from __future__ import annotations

import json
import logging
import queue
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import psycopg

from bus import topics
from bus.link import Message, link_for
from core.config import Broker, Site
from core.events import now_ms as wall_ms

from .feeds import Feed
from .store import changes_since, import_feed

log = logging.getLogger(__name__)

TICK_S = 5.0
ANSWER_EVERY_S = 10.0
#: changes in one batch at most (a site that missed more asks again from the last it got)
BATCH_MAX = 5_000


def batch_payload(changes: Sequence[tuple[int, Mapping[str, Any]]]) -> bytes:
    """The batch a site receives (core/bookbook.py reads it)."""
    body = {"from": changes[0][0], "to": changes[-1][0],
            "changes": [{"seq": seq, **dict(c)} for seq, c in changes]}
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


class BookingsDaemon:
    def __init__(self, dsn: str, feeds: Sequence[Feed], sites: Callable[[psycopg.Connection], Mapping[str, Site]],
                 broker: Broker | None, *, push_dir: Path | None = None, clock: Callable[[], int] = wall_ms,
                 tick_s: float = TICK_S, answer_every_s: float = ANSWER_EVERY_S,
                 client_id: str = "palvelupiste-bookings") -> None:
        self.dsn = dsn
        self.feeds = list(feeds)
        self.sites = sites
        self.broker = broker
        self.push_dir = push_dir
        self.clock = clock
        self.tick_s = tick_s
        self.answer_every_s = answer_every_s
        self.caches: dict[str, dict[str, Any]] = {f.id: {} for f in self.feeds}
        self.due: dict[str, float] = {}        # feed -> monotonic time of its next import
        self.sent: dict[str, int] = {}         # site -> last change sent (this process's memory)
        self.answered: dict[str, float] = {}   # site -> monotonic time of the last "since" answer
        self.asked: set[str] = set()           # feeds asked to import now (fetch on demand)
        self.inbox: queue.Queue[Any] = queue.Queue()
        self.link = None
        if broker is not None:
            self.link = link_for(broker, topics.client_id(client_id), self.inbox,
                                 subscriptions=[(topics.bookings_since_all(), 1)])

    def import_now(self, feed_id: str) -> None:
        """Fetch this feed at the next round, whatever its schedule (the fleet view's button)."""
        self.asked.add(feed_id)

    # --- one round ---------------------------------------------------------------------------------

    def run_once(self, conn: psycopg.Connection, now_mono: float | None = None) -> dict[str, Any]:
        now_mono = time.monotonic() if now_mono is None else now_mono
        sites = self.sites(conn)
        for site_id in {f.site for f in self.feeds} - set(self.sent):
            # After a start: what this process sent before is unknown; the site has the retained
            # last batch and asks for anything it lacks. From here on, every new change is sent.
            row = conn.execute("SELECT max(seq) FROM booking_changes WHERE site = %s", (site_id,)).fetchone()
            self.sent[site_id] = int(row[0]) if row and row[0] is not None else 0
        done = []
        for feed in self.feeds:
            if feed.id not in self.asked and now_mono < self.due.get(feed.id, 0.0):
                continue
            self.asked.discard(feed.id)
            self.due[feed.id] = now_mono + feed.every_min * 60
            site = sites.get(feed.site)
            if site is None:
                log.warning("bookings: feed %s: the centre has no configuration of site %s", feed.id, feed.site)
                continue
            out = import_feed(conn, feed, site, self.clock(), push_dir=self.push_dir, cache=self.caches[feed.id])
            done.append(out)
            if out.ok:
                log.info("bookings: %s: %d bookings, %d skipped, %d changes", feed.id, out.imported, out.skipped,
                         out.changes)
            else:
                log.warning("bookings: %s: %s", feed.id, out.reason)
        published = self._publish_new(conn, {f.site for f in self.feeds})
        answered = self._answer(conn, now_mono)
        return {"imports": done, "published": published, "answered": answered}

    def _publish(self, site: str, changes: list[tuple[int, Any]]) -> None:
        if self.link is None or not changes:
            return
        self.link.publish(topics.bookings(site), batch_payload(changes), qos=1, retain=True)

    def _publish_new(self, conn: psycopg.Connection, sites: set[str]) -> dict[str, int]:
        out = {}
        for site in sorted(sites):
            new = changes_since(conn, site, self.sent.get(site, 0), BATCH_MAX)
            if new:
                self._publish(site, new)
                self.sent[site] = new[-1][0]
                out[site] = len(new)
        return out

    def _answer(self, conn: psycopg.Connection, now_mono: float) -> dict[str, int]:
        """The sites that asked for the changes since a number: answered, each at most so often."""
        asks: dict[str, int] = {}
        while True:
            try:
                item = self.inbox.get_nowait()
            except queue.Empty:
                break
            if not isinstance(item, Message):
                continue
            site = topics.parse_site_topic(item.topic.rsplit("/", 1)[0], "bookings")
            try:
                seq = json.loads(item.payload)["seq"]
            except (ValueError, KeyError, TypeError):
                continue
            if site is None or not isinstance(seq, int) or isinstance(seq, bool) or seq < 0:
                continue
            asks[site] = min(seq, asks.get(site, seq))
        out = {}
        for site, seq in asks.items():
            if now_mono < self.answered.get(site, 0.0) + self.answer_every_s:
                continue
            self.answered[site] = now_mono
            changes = changes_since(conn, site, seq, BATCH_MAX)
            if changes:
                self._publish(site, changes)
                out[site] = len(changes)
        return out

    # --- the process ---------------------------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        if self.link is not None:
            self.link.start()
        try:
            with psycopg.connect(self.dsn, autocommit=False) as conn:
                while not stop.is_set():
                    try:
                        self.run_once(conn)
                        conn.commit()
                    except psycopg.Error:
                        log.exception("bookings: database error; trying again next round")
                        conn.rollback()
                    stop.wait(self.tick_s)
        finally:
            if self.link is not None:
                self.link.stop()
