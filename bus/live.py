"""The hub's live messages on the site bus: the retained state and the call messages.

Both are plain JSON objects, built here (by the hub) and checked here (by the apps), so the
shape lives in one place.

State, retained on ``pp/<site>/state`` (QoS 1)::

    {"v": 1, "site": "example-pp", "hub": "hub-1",
     "ts": 1763884800000,          # the hub's clock (UTC ms) when this copy was published
     "rev": 1763884800123,         # strictly increasing per publication (see below)
     "seq": 42,                    # the last event of the hub's store folded into this state
     "heartbeat_s": 10,            # the hub re-publishes at least this often
     "open": true, "opens_ms": null,   # by the opening hours; when closed, the next opening
     "services": {"kela": {"waiting": 3, "est_wait_s": 540, "est_range_s": [300, 540],
                           "open_counters": 2}, ...},  # est_* null: no counter of it works any more today
     "counters": {"1": {"open": true, "current": null | {"ticket", "number", "service", "kind",
                                                         "called_ms", "waited_s", "needs", "lang"}}, ...},
     "calls": [{"ticket", "number", "service", "counter", "ts", "recall", "kind"}, ...],  # newest first
     "help": [{"request", "device", "ts", "lang"}, ...],   # the newest open ones (at most HELP_SHOWN)
     "help_count": 7,              # how many help requests are open
     "eta": {"K004": [600, 900], ...},  # each waiting number's estimate [low, high] s (core.engine.shown)
     "parked": [{"ticket", "number", "service", "counter"}, ...],  # set aside by a clerk, today
     "no_shows": [{"ticket", "number", "service"}, ...],           # today's newest, for a re-queue
     "shortened": ["help", ...]}   # only when the budget made the hub leave something out (below)

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

Budget: every message the hub publishes (the state, a reply, a call) is at most MESSAGE_BUDGET
bytes, a sixteenth of the broker's max_packet_size (BROKER_MAX_PACKET, which bus/brokerconf.py
renders into the site broker's configuration). The broker disconnects a client that publishes
more, and a retained state it refuses would leave the displays without one. What would exceed the
budget is shortened step by step (the `fit_*` functions below), and the message says what in
"shortened"; the hub logs it. Nothing is left out silently.
"""
from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from core.engine import QueueState
from core.events import Event

LIVE_VERSION = 1
CALL_EVENTS = ("ticket.called", "ticket.recalled")

#: The site broker's max_packet_size: bus/brokerconf.py renders it into site-broker.conf.
BROKER_MAX_PACKET = 1_048_576
#: The most any one message of the hub may weigh, derived from the broker's limit: far below it,
#: so topic, properties and a later field or two never reach it, and a display on a Raspberry Pi
#: parses kilobytes, not a megabyte.
MESSAGE_BUDGET = BROKER_MAX_PACKET // 16
#: A field kept in a shortened reply or call is at most this long as JSON: ids and numbers fit.
_KEPT_FIELD_BYTES = 256
#: The fields of a reply worth keeping when the rest must go: what it was and what came of it.
_REPLY_KEEP = ("ok", "error", "message", "request", "ticket", "number", "service", "counter", "kind",
               "open", "seq", "v", "site", "hub", "rev", "ts", "heartbeat_s")
#: The fields a call message cannot be without (parse_call and the displays read them).
_CALL_KEEP = ("v", "site", "ticket", "number", "counter", "recall", "ts", "seq")
#: Calls kept by the state's second step, after the help list has gone.
_FEW_CALLS = 3


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
            # a booking made for a room: the displays send the customer there, whoever calls
            "counter": (t.room if t and t.room else d.get("counter")),
            "service": d.get("service") or (t.service if t else None),
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


@dataclass(frozen=True)
class Fitted:
    """A message as it goes out: at most MESSAGE_BUDGET bytes, and what had to be shortened
    for that (empty when nothing; the same list is in the message as "shortened")."""
    body: bytes
    shortened: tuple[str, ...] = ()


def _drop_help(m: dict[str, Any]) -> None:
    m["help"] = []  # help_count stays: the panel still knows requests are open


def _few_calls(m: dict[str, Any]) -> None:
    m["calls"] = list(m.get("calls") or [])[:_FEW_CALLS]  # newest first


def _no_calls(m: dict[str, Any]) -> None:
    m["calls"] = []


def _brief_counters(m: dict[str, Any]) -> None:
    out = {}
    for k, c in (m.get("counters") or {}).items():
        cur = c.get("current") if isinstance(c, dict) else None
        if isinstance(cur, dict):
            c = {**c, "current": {f: cur[f] for f in ("ticket", "number", "service", "kind") if f in cur}}
        out[k] = c
    m["counters"] = out


def _bare_counters(m: dict[str, Any]) -> None:
    m["counters"] = {k: {"open": c.get("open")} if isinstance(c, dict) else c
                     for k, c in (m.get("counters") or {}).items()}


def _no_eta(m: dict[str, Any]) -> None:
    m["eta"] = {}


def _few_parked(m: dict[str, Any]) -> None:
    m["parked"] = list(m.get("parked") or [])[:_FEW_CALLS]


def _no_services(m: dict[str, Any]) -> None:
    m["services"], m["counters"] = {}, {}


#: The state's steps, in order; each keeps what the earlier ones left. Help first (the count
#: stays), then each waiting number's estimate (each service's stays) and the longest part of the
#: parked list, then the older calls (displays show the newest), then what the clerk should know of
#: a counter's current customer (the number stays), then every call, then who is at the counters,
#: and at last every service and counter: only a site that configured thousands of them gets there.
_STATE_STEPS: tuple[tuple[str, Callable[[dict[str, Any]], None]], ...] = (
    ("help", _drop_help), ("eta", _no_eta), ("parked", _few_parked),
    ("calls", _few_calls), ("counter_details", _brief_counters), ("calls", _no_calls),
    ("counters", _bare_counters), ("services", _no_services))
_STATE_KEEP = _REPLY_KEEP + ("services", "counters", "calls", "help", "help_count", "open", "opens_ms")


def _small(value: Any) -> bool:
    return len(dumps({"x": value})) <= _KEPT_FIELD_BYTES


def _with_shortened(msg: dict[str, Any], done: list[str]) -> bytes:
    return dumps({**msg, "shortened": list(done)})


def _fit(msg: dict[str, Any], steps: Iterable[tuple[str, Callable[[dict[str, Any]], None]]],
         keep: tuple[str, ...], what: str) -> Fitted:
    body = dumps(msg)
    if len(body) <= MESSAGE_BUDGET:
        return Fitted(body)
    m = dict(msg)
    done: list[str] = []
    for name, step in steps:
        step(m)
        if name not in done:
            done.append(name)
        body = _with_shortened(m, done)
        if len(body) <= MESSAGE_BUDGET:
            return Fitted(body, tuple(done))
    # The last resort: only the short fields that say what the message is. Always fits.
    m = {k: m[k] for k in keep if k in m and _small(m[k])}
    done.append(what)
    return Fitted(_with_shortened(m, done), tuple(done))


def fit_state(msg: dict[str, Any]) -> Fitted:
    """The retained state within the budget (see _STATE_STEPS for what goes first)."""
    return _fit(msg, _STATE_STEPS, _STATE_KEEP, "state")


def fit_reply(reply: dict[str, Any]) -> Fitted:
    """An answer within the budget: the answer to `state` is shortened like the state; any other
    answer is small by construction (its fields are checked ids), and would keep only its short
    fields."""
    is_state = isinstance(reply.get("services"), dict) and isinstance(reply.get("counters"), dict)
    return _fit(reply, _STATE_STEPS, _STATE_KEEP, "reply") if is_state else \
        _fit(reply, (), _REPLY_KEEP, "reply")


def fit_call(msg: dict[str, Any]) -> Fitted:
    """A call message within the budget: only the fields a display needs if it must be shorter."""
    return _fit(msg, (), _CALL_KEEP, "call")


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
