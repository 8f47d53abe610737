"""The follow snapshot (core/follow.py's format) from the hub's queue, and the ticket a customer's
cancel is about. Pure: the queue and a time in, bytes and ids out; the hub service publishes.

Only today's tickets with a token are in it (a ticket is known outside the site only by the key of
its token). Each says what its phone page shows: waiting with its place in the queue and the
engine's estimate (the very numbers the displays show: core.engine.shown over the same play
forward), called or done with its counter, cancelled (x when the customer did it from the page),
missed. A parked ticket is "called": its customer is with the clerk who set it aside and will be
called back to that counter (core/follow.py has no word for it, and the page needs none).

Over SNAPSHOT_BUDGET the oldest finished tickets (done, cancelled, missed) are left out first;
only when they are all gone do called and then waiting ones go (the last in the queue first), and
`Snapshot.active_left_out` says how many, for the hub to log.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from core.engine import (
    CALLED,
    CANCELLED,
    FINISHED,
    NO_SHOW,
    PARKED,
    WAITING,
    QueueState,
    Ticket,
    local_day,
    shown,
)
from core.follow import CUSTOMER_CANCEL_REASON, SNAPSHOT_BUDGET, follow_key, snapshot_bytes, valid_token

#: The engine's ticket states as the page names them.
_STATUS = {WAITING: "waiting", CALLED: "called", PARKED: "called", FINISHED: "done",
           CANCELLED: "cancelled", NO_SHOW: "missed"}
#: core.follow.check_ticket's bound on an estimate: a longer one is shown as the longest.
_MAX_E = 86_400 * 2 - 1
#: The queue classes in the engine's call order (core.engine._CLASS_RANK, QueueState.position).
_RANK = {"a": 0, "t": 1, "w": 2}

#: The key of a token, remembered: the same few hundred tokens are hashed at every publish.
_key = lru_cache(maxsize=8192)(follow_key)


@dataclass(frozen=True)
class Snapshot:
    body: bytes               # what goes on pp/<site>/follow
    day: str                  # the local day it is about
    tickets: int              # tickets in it
    left_out: int = 0         # tickets the budget left out (finished ones first)
    active_left_out: int = 0  # of them waiting or called: only when nothing else was left to leave out


def todays_tickets(state: QueueState, now: int) -> list[Ticket]:
    """Today's tickets with a token that can be followed, in arrival order. Tickets are kept in the
    order they were issued, so the walk goes back from the newest and stops at the first of an
    earlier day, never through the days before (the hub keeps every ticket it ever folded)."""
    today = local_day(now, state.tz)
    out = []
    for t in reversed(state.tickets.values()):
        if t.day < today:
            break
        if t.day == today and valid_token(t.token):
            out.append(t)
    out.reverse()
    return out


def _ahead(tickets: list[Ticket]) -> dict[str, int]:
    """Tickets ahead of each waiting one within its service, in the engine's call order: what
    QueueState.position gives, for all of them in one sort instead of one walk each."""
    lines: dict[str, list[Ticket]] = {}
    for t in tickets:
        if t.state == WAITING and t.queue_key is not None:
            lines.setdefault(t.service, []).append(t)
    out = {}
    for line in lines.values():
        line.sort(key=lambda t: (_RANK[t.queue_key[0]], t.queue_key[2:]))  # type: ignore[index]
        for i, t in enumerate(line):
            out[t.id] = i
    return out


def ticket_entry(t: Ticket, ahead: int | None, estimate: list[int] | None) -> dict[str, Any]:
    """One ticket as its page sees it (core.follow.check_ticket's shape)."""
    st = _STATUS.get(t.state, "cancelled")
    e: dict[str, Any] = {"n": t.number, "s": t.service, "st": st}
    if st == "waiting":
        e["a"] = ahead or 0
        e["e"] = None if estimate is None else [min(max(0, int(x)), _MAX_E) for x in estimate]
    elif st in ("called", "done"):
        if t.counter is not None:
            e["c"] = t.counter
        if t.called_ms is not None:
            e["ct"] = t.called_ms
    elif st == "cancelled" and t.cancel_reason == CUSTOMER_CANCEL_REASON:
        e["x"] = True
    if t.lang:
        e["l"] = t.lang
    return e


def _size(key: str, entry: dict[str, Any]) -> int:
    """Bytes `"key":{...},` adds to the snapshot (the comma is one too many for the last one)."""
    return len(json.dumps({key: entry}, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))


def _leave_out_order(tickets: list[Ticket]) -> list[Ticket]:
    """Which tickets go first when the snapshot is too large: finished ones oldest first, then the
    called ones (their customers are at a counter already), then the waiting ones from the back."""
    finished = [t for t in tickets if t.state not in (WAITING, CALLED, PARKED)]
    called = [t for t in tickets if t.state in (CALLED, PARKED)]
    waiting = [t for t in tickets if t.state == WAITING]
    return finished + called + waiting[::-1]


def build(state: QueueState, site: str, now: int, budget: int = SNAPSHOT_BUDGET) -> Snapshot:
    """The follow snapshot of `state` at `now` (UTC ms), at most `budget` bytes."""
    day = local_day(now, state.tz)
    tickets = todays_tickets(state, now)
    ahead = _ahead(tickets)
    etas = state.estimates(now) if ahead else {}
    entries = {t.id: (_key(t.token), ticket_entry(t, ahead.get(t.id), shown(etas.get(t.id)))) for t in tickets}
    body = snapshot_bytes(site, day, now, dict(entries.values()))
    left = active = 0
    if len(body) > budget:
        # Leave out until the sum of the entries' sizes fits, then build again; the sum counts a
        # comma too many per entry, so what it says fits does.
        over = len(body) - budget
        for t in _leave_out_order(tickets):
            if over <= 0:
                break
            key, entry = entries.pop(t.id)
            over -= _size(key, entry)
            left += 1
            active += t.state in (WAITING, CALLED, PARKED)
        body = snapshot_bytes(site, day, now, dict(entries.values()))
    return Snapshot(body, day, len(entries), left, active)


def waiting_ticket(state: QueueState, key: str, now: int) -> str | None:
    """The id of today's waiting ticket whose follow key is `key`, or None (no such ticket today,
    or it is no longer waiting: a cancel then changes nothing)."""
    for t in todays_tickets(state, now):
        if t.state == WAITING and _key(t.token) == key:
            return t.id
    return None
