"""The hub's live messages on the site bus: the retained state and the call messages.

Both are plain JSON objects, built here (by the hub) and checked here (by the apps), so the
shape lives in one place.

State, retained on ``pp/<site>/state`` (QoS 1)::

    {"v": 1, "site": "example-pp", "hub": "hub-1",
     "ts": 1763884800000,          # the hub's clock (UTC ms) when this copy was published
     "rev": 1763884800123,         # strictly increasing per publication (see below)
     "seq": 42,                    # the last event of the hub's store folded into this state
     "heartbeat_s": 10,            # the hub re-publishes at least this often
     "services": {"kela": {"waiting": 3, "est_wait_s": 540, "open_counters": 2}, ...},
     "counters": {"1": {"open": true, "current": null | {"ticket", "number", "service", "kind",
                                                         "called_ms", "waited_s", "needs", "lang"}}, ...},
     "calls": [{"ticket", "number", "service", "counter", "ts", "recall", "kind"}, ...],  # newest first
     "help": [{"request", "device", "ts", "lang"}, ...]}

``seq`` changes exactly when the queue changes and survives a hub restart (the store's sequence
is durable); ``rev`` grows with every state message the hub builds (publications, heartbeats
and answers to the ``state`` command). ``rev`` is based on the
hub's millisecond clock, so it also keeps growing across a hub restart as long as the clock is
sane. A display judges staleness by the time since it last *received* a state (its own
monotonic clock), not by comparing clocks: see ``HubClient.is_stale``.

Call, on ``pp/<site>/calls`` (QoS 1, not retained), one per ticket.called / ticket.recalled::

    {"v": 1, "site": "example-pp", "ticket": "2026-11-23/K002", "number": "K002",
     "counter": "1", "service": "kela", "kind": "walk_in" | "appointment",
     "recall": false, "lang": "fi", "ts": 1763884800000, "seq": 43}
"""
from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from core.engine import QueueState
from core.events import Event

LIVE_VERSION = 1
CALL_EVENTS = ("ticket.called", "ticket.recalled")


def state_message(snapshot: dict[str, Any], *, site: str, hub: str, rev: int, seq: int,
                  heartbeat_s: float) -> dict[str, Any]:
    """The retained state: `QueueState.snapshot(now)` plus who, which version and how fresh."""
    msg = {"v": LIVE_VERSION, "site": site, "hub": hub, "rev": rev, "seq": seq,
           "heartbeat_s": heartbeat_s}
    msg.update(snapshot)  # ts, services, counters, calls, help
    return msg


def call_message(ev: Event, state: QueueState, site: str) -> dict[str, Any] | None:
    """The call message for one ticket.called / ticket.recalled event (None for other events)."""
    if ev.type not in CALL_EVENTS:
        return None
    d = ev.data
    ticket = d.get("ticket")
    t = state.tickets.get(ticket) if isinstance(ticket, str) else None
    number = d.get("number") or (t.number if t else None)
    return {"v": LIVE_VERSION, "site": site, "ticket": d.get("ticket"), "number": number,
            "counter": d.get("counter"), "service": d.get("service") or (t.service if t else None),
            "kind": d.get("kind") or (t.kind if t else "walk_in"),
            "recall": ev.type == "ticket.recalled", "lang": t.lang if t else None,
            "ts": ev.ts, "seq": ev.seq}


def call_messages(events: Iterable[Event], state: QueueState, site: str) -> list[dict[str, Any]]:
    out = []
    for ev in events:
        m = call_message(ev, state, site)
        if m is not None:
            out.append(m)
    return out


def dumps(msg: dict[str, Any]) -> bytes:
    return json.dumps(msg, ensure_ascii=False, separators=(",", ":")).encode()


def _obj(payload: bytes | str) -> dict[str, Any] | None:
    try:
        obj = json.loads(payload)
    except (ValueError, UnicodeDecodeError, TypeError, RecursionError):
        return None
    return obj if isinstance(obj, dict) else None


def parse_state(payload: bytes | str) -> dict[str, Any] | None:
    """A state message as an app receives it, or None when it does not have the state's shape."""
    obj = _obj(payload)
    if obj is None:
        return None
    if not isinstance(obj.get("services"), dict) or not isinstance(obj.get("counters"), dict):
        return None
    if not isinstance(obj.get("calls", []), list) or not isinstance(obj.get("ts"), int):
        return None
    return obj


def parse_call(payload: bytes | str) -> dict[str, Any] | None:
    """A call message, or None when it lacks a number, a counter or the recall flag."""
    obj = _obj(payload)
    if obj is None:
        return None
    if not isinstance(obj.get("number"), str) or not isinstance(obj.get("counter"), str):
        return None
    if not isinstance(obj.get("recall"), bool):
        return None
    return obj
