"""Reports of the web service kept while their figures cannot have changed.

A national month report reads the analysts' views a dozen times (the month, its comparison, twelve
months of trend, every breakdown) and takes about a second and a half on a national database; the
same report is asked for again and again while nothing changes (every month before this one, and
this one between batches). An entry is reused only while the *stamp* of what it was made from is
the same: the sum of the change counters of its months (rollup_stamps, moved on by every
transaction that adds to a site's roll-ups of a month, by a rebuild and by the feedback trigger),
the sites' registrations (a site that moves to another region or maps a service to another
authority) and the small-cell setting. The stamp is one indexed query.

While a month's data keep arriving (the current month in opening hours: a batch from some site
every second) its stamp never stands still; `max_stale_s` lets a report made less than that long
ago be shown anyway, so a report is at most that old and costs its full price once per period,
not on every view. With 0 a report older than its data is never shown. Entries live in the web
process's memory, least recently used first out.
"""
from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable
from typing import Any, TypeVar

import psycopg

T = TypeVar("T")


def stamp(conn: psycopg.Connection, months: Iterable[str]) -> tuple[Any, ...]:
    row = conn.execute(
        "SELECT (SELECT coalesce(sum(version), 0) FROM rollup_stamps WHERE month = ANY(%s)), "
        "(SELECT count(*) FROM rollup_stamps WHERE month = ANY(%s)), "
        "(SELECT coalesce(sum(updated_ms), 0) FROM sites), (SELECT count(*) FROM sites), pp_small_cell()",
        (sorted(set(months)), sorted(set(months)))).fetchone()
    return tuple(row) if row else ()


class FigureCache:
    def __init__(self, entries: int = 64, max_stale_s: float = 0.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.entries, self.max_stale_s, self.clock = entries, max_stale_s, clock
        self._d: OrderedDict[Hashable, tuple[tuple[Any, ...], Any, float]] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def get(self, conn: psycopg.Connection, months: Iterable[str], key: Hashable, make: Callable[[], T]) -> T:
        """`make()`'s value for `key`, made again when the stamp of `months` has changed."""
        now = stamp(conn, months)
        with self._lock:
            hit = self._d.get(key)
            if hit is not None and (hit[0] == now or self.clock() - hit[2] < self.max_stale_s):
                self._d.move_to_end(key)
                self.hits += 1
                return hit[1]  # type: ignore[no-any-return]
        made = self.clock()
        value = make()
        with self._lock:
            self.misses += 1
            self._d[key] = (now, value, made)
            self._d.move_to_end(key)
            while len(self._d) > self.entries:
                self._d.popitem(last=False)
        return value
