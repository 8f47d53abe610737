"""The queue engine: a pure state machine. Commands in, events out, state = fold over events.

Nothing here does I/O or reads the clock: the caller passes `now` (UTC ms) and a `commit`
function that makes events durable and returns them as stored. So the hub can be killed at
any instant: replaying its store through `QueueState.apply` gives exactly the queue it had.

Ticket ids are "<local day>/<number>", unique because numbers never repeat within a day for a
service and prefixes are unique per site.
"""
from __future__ import annotations

import datetime as _dt
import hashlib
import heapq
import hmac
import math
import secrets
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from . import hours
from .config import Site
from .errors import WireError as W
from .errors import error_reply
from .estimate import APPT, TRANSFER, WALK_IN, CounterPlan, Eta, Waiting, play_forward
from .events import Event
from .servicetimes import NoShows, ServiceTimes

#: The wait shown: quantiles of a log-normal wait with the play-forward mean and spread (`shown`).
#: The figure promised is the high one: the median for a wait up to MARGIN_FROM_S, rising to
#: ESTIMATE_HIGH spreads above it in log space (about the 66th percentile) from twice that on:
#: rarely exceeded by much, not an optimistic mean. The range starts ESTIMATE_LOW spreads below
#: the median (about the 25th). Tuned on bench/eta_bench.py (bench/RESULTS.md): higher breaks
#: fewer promises on busy days and makes quiet-day figures worse than the plain predictor's.
ESTIMATE_HIGH = 0.4
MARGIN_FROM_S = 600
ESTIMATE_LOW = 0.67
#: Transfers into a service since the day's opening tell how many more to expect, counted over at
#: least INFLOW_MIN_SPAN_MIN (two early transfers are not a rate of twenty an hour). The whole day,
#: not the last hour or two: transfers are rare, and a short window makes one of them a rate that
#: puts an hour of phantom work before the walk-ins (bench/RESULTS.md).
INFLOW_MIN_SPAN_MIN = 60
#: Transfers remembered per service (more than a day's).
INFLOW_KEPT = 1024
#: Order of a probe (a would-be newcomer): after every real arrival.
_PROBE_ORDER = 1 << 60
RECENT_CALLS = 12
#: Open help requests the live state lists (the newest); it always carries how many are open.
HELP_SHOWN = 5

WAITING, CALLED, PARKED = "waiting", "called", "parked"
FINISHED, NO_SHOW, CANCELLED = "finished", "no_show", "cancelled"
#: A parked ticket is set aside by its clerk (fetching a document, a phone call to make) and called
#: back by number; it is still open: the day's close cancels it like a waiting one.
OPEN_STATES = (WAITING, CALLED, PARKED)
#: Today's no-shows the live state lists, newest first, for a clerk to put back in the queue.
NO_SHOWS_SHOWN = 10


# --- commands ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Needs:
    """What the clerk should know in advance. Never a name or an identity code."""
    interpreter: str | None = None  # language code
    hearing_loop: bool = False
    accessible_room: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"interpreter": self.interpreter, "hearing_loop": self.hearing_loop,
                "accessible_room": self.accessible_room}

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> "Needs":
        d = d or {}
        return cls(d.get("interpreter"), bool(d.get("hearing_loop")), bool(d.get("accessible_room")))

    def any(self) -> bool:
        return bool(self.interpreter or self.hearing_loop or self.accessible_room)


@dataclass(frozen=True)
class TakeTicket:
    service: str
    lang: str = "fi"
    needs: Needs = Needs()


@dataclass(frozen=True)
class CheckIn:
    code: str
    lang: str = "fi"
    needs: Needs = Needs()


@dataclass(frozen=True)
class CallNext:
    counter: str


@dataclass(frozen=True)
class Recall:
    counter: str


@dataclass(frozen=True)
class Finish:
    counter: str
    outcome: str | None = None  # one of the service's [[outcomes]], tapped by the clerk


@dataclass(frozen=True)
class CallNumber:
    """Call a given number: the customer at the desk shows their ticket, or a parked one returns."""
    counter: str
    number: str


@dataclass(frozen=True)
class Park:
    """Set the customer at the counter aside, to be called back by number."""
    counter: str


@dataclass(frozen=True)
class Requeue:
    """A no-show of today who turned up after all: back in the queue, at its front."""
    counter: str
    number: str


@dataclass(frozen=True)
class NoShow:
    counter: str


@dataclass(frozen=True)
class Transfer:
    counter: str
    to_service: str


@dataclass(frozen=True)
class Cancel:
    ticket: str
    reason: str = "cancelled"


@dataclass(frozen=True)
class OpenCounter:
    counter: str


@dataclass(frozen=True)
class CloseCounter:
    counter: str


@dataclass(frozen=True)
class RequestHelp:
    device: str
    lang: str = "fi"


@dataclass(frozen=True)
class AnswerHelp:
    request: str
    counter: str | None = None


@dataclass(frozen=True)
class HelpLimits:
    """How many help requests stay open, and for how long (the hub's [hub] section sets them).

    A device keeps at most `per_device` open: a new one replaces its oldest, so the kiosk where a
    citizen is standing stays on the staff's list and the citizen hears that help is coming (a
    refusal would tell the one who pressed last that nobody comes, while staff are on their way
    to that very kiosk). A request within `repeat_s` of the device's newest open one joins it: no
    new request, no event, the same answer, so a citizen pressing again, or a kiosk gone wrong,
    cannot flood the store or the staff's list. The site takes at most `per_site` open requests
    from devices without one: beyond that the answer is `help_full` (nobody else's request is
    dropped for it). A request older than `expire_s` is closed by the fold itself."""
    per_device: int = 3
    per_site: int = 20
    repeat_s: float = 30.0
    expire_s: float = 30 * 60.0


Command = (TakeTicket | CheckIn | CallNext | Recall | Finish | NoShow | Transfer | Cancel
           | OpenCounter | CloseCounter | RequestHelp | AnswerHelp | CallNumber | Park | Requeue)


@dataclass(frozen=True)
class Appointment:
    """One booking as the booking system exports it: a code, a service, a time. No names.

    A booking from a feed (central/bookings) comes without its code: only its reference `ref`
    (the HMAC of the code with the site's key, the hub's `ref_key`), and may carry the room it
    was booked in, what the customer needs, whether the authority cancelled it and whether it
    was moved from another time."""
    code: str
    service: str
    at_ms: int
    ref: str | None = None
    room: str | None = None
    needs: "Needs | None" = None
    cancelled: bool = False
    moved: bool = False


@dataclass(frozen=True)
class Reject:
    """The command was refused; nothing happened. A result, not an exception: refusing is one of
    the engine's ordinary answers. `code` is stable, for UIs to translate."""
    code: W
    message: str
    detail: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return error_reply(self.code, self.message, **self.detail)


@dataclass
class Decision:
    events: list[tuple[str, dict[str, Any]]]
    reply: dict[str, Any]


# --- state ------------------------------------------------------------------------------------

@dataclass(slots=True)
class Ticket:
    id: str
    number: str
    service: str
    day: str
    kind: str  # "walk_in" or "appointment"
    order: int  # arrival order across the site, from the fold
    issued_ms: int
    queued_ms: int = 0  # when it entered the queue it waits in now: issue, transfer or re-queue
    lang: str = "fi"
    needs: dict[str, Any] = field(default_factory=dict)
    token: str = ""
    appointment_ms: int | None = None
    state: str = WAITING
    transferred: bool = False
    counter: str | None = None
    called_ms: int | None = None
    served_s: int = 0  # service time before it was last parked (a parked ticket's service goes on later)
    was_parked: bool = False
    calls: int = 0
    queue_key: tuple | None = None  # the heap entry that is currently valid for this ticket
    cancel_reason: str | None = None  # the ticket.cancelled's reason (the phone page tells a customer's own)
    room: str | None = None  # the room its booking was made in: the displays send the customer there


@dataclass(slots=True)
class CounterState:
    id: str
    open: bool = False
    current: str | None = None


def _day_start(state: "QueueState", now: int) -> int:
    day = hours.local_date(state.site, now)
    return int(_dt.datetime.combine(day, _dt.time(0), tzinfo=state.tz).timestamp() * 1000)


def local_day(ms: int, tz: _dt.tzinfo) -> str:
    return _dt.datetime.fromtimestamp(ms / 1000, tz=_dt.timezone.utc).astimezone(tz).date().isoformat()


def appointment_ref(key: bytes, code: str) -> str:
    """A reference to an appointment code that can be stored and synced: the code itself is
    matched on site and never stored, printed or sent in full. Keyed (HMAC-SHA256) with the
    hub's own secret (`QueueState.ref_key`, kept in the hub's store, never sent): a plain hash
    of a 6-digit code is reversed by trying all of them; without the key nothing can be tried."""
    return hmac.new(key, code.encode("utf-8"), hashlib.sha256).hexdigest()[:32]


def format_number(prefix: str, n: int) -> str:
    return f"{prefix}{n:03d}"


class QueueState:
    """The queue of one site: built only by `apply`-ing events in sequence order."""

    def __init__(self, site: Site, appointments: Iterable[Appointment] = (), ref_key: bytes | None = None,
                 help_limits: HelpLimits | None = None) -> None:
        self.site = site
        # Part of the fold (replacement and expiry): a restart with the same limits gives the same
        # open requests.
        self.help_limits = help_limits or HelpLimits()
        # Without the hub's persistent key (tests, a desk tool) a random one: never a public value.
        self._ref_key = ref_key or secrets.token_bytes(32)
        self.tz = site.tz
        self.tickets: dict[str, Ticket] = {}
        self.last_number: dict[tuple[str, str], int] = {}
        self.counters: dict[str, CounterState] = {c: CounterState(c) for c in site.counters}
        self.times = ServiceTimes({s.id: s.default_service_min * 60 for s in site.services.values()})
        # When transfers came into each service lately (the estimates expect more at that rate).
        self.transfers_in: dict[str, deque[int]] = {}
        self.no_shows_seen = NoShows()
        # Per service, three heaps with lazy deletion (an entry is valid while it equals the
        # ticket's queue_key): due-time ordered appointments, transfers, walk-ins by arrival.
        self._appt: dict[str, list] = {}
        self._transferred: dict[str, list] = {}
        self._walkin: dict[str, list] = {}
        self.waiting_count: dict[str, int] = {}
        # The open tickets by state, so that estimates and the snapshot never walk the tickets of
        # every day the hub has run (`tickets` keeps them all, for late events and replies).
        self._waiting_ids: set[str] = set()
        self._parked_ids: set[str] = set()
        self.open_by_day: dict[str, set[str]] = {}
        self.order = 0
        self.recent_calls: deque[dict[str, Any]] = deque(maxlen=RECENT_CALLS)
        self.no_shows: deque[str] = deque(maxlen=NO_SHOWS_SHOWN)  # ticket ids, newest first
        self.checked_in: dict[str, str] = {}  # appointment ref -> ticket id
        self.help: dict[str, dict[str, Any]] = {}  # request id -> request, oldest first; see open_help
        self.appointments: dict[str, Appointment] = {}
        self.applied = 0
        self.new_token: Callable[[], str] = lambda: secrets.token_urlsafe(12)
        self._spans_of: dict[_dt.date, dict[str, list[tuple[int, int]]]] = {}  # counter spans per day
        self.set_appointments(appointments)

    @property
    def ref_key(self) -> bytes:
        return self._ref_key

    @ref_key.setter
    def ref_key(self, key: bytes) -> None:
        self._ref_key = key
        self.set_appointments(list(self.appointments.values()))  # the references change with it

    def set_appointments(self, appointments: Iterable[Appointment]) -> None:
        given = list(appointments)
        self.appointments = {a.code: a for a in given if a.code}
        # Every booking by its reference: a code typed at the kiosk finds a feed's booking too.
        self.by_ref = {self.ref_of(a): a for a in given}
        # What the estimates need of each booking, worked out once: (day, ref, appointment) by time.
        self._booked = [(local_day(a.at_ms, self.tz), ref, a)
                        for ref, a in sorted(self.by_ref.items(), key=lambda kv: (kv[1].at_ms, kv[0]))
                        if not a.cancelled]

    def ref_of(self, a: Appointment) -> str:
        return a.ref or appointment_ref(self.ref_key, a.code)

    def booking_for(self, code: str) -> Appointment | None:
        """The booking a typed or scanned code names: by the code itself, or by its reference."""
        code = code.strip()
        return self.appointments.get(code) or self.by_ref.get(appointment_ref(self.ref_key, code))

    # --- fold -----------------------------------------------------------------------------

    def apply(self, ev: Event) -> None:
        handler = _APPLY.get(ev.type)
        if handler is not None:
            handler(self, ev.data, ev.ts)
        self.applied += 1

    def apply_all(self, events: Iterable[Event]) -> "QueueState":
        for ev in events:
            self.apply(ev)
        return self

    def _counter(self, cid: str) -> CounterState:
        c = self.counters.get(cid)
        if c is None:  # a counter removed from the configuration still folds
            c = self.counters[cid] = CounterState(cid)
        return c

    def _enqueue(self, t: Ticket, kind: str) -> None:
        s = t.service
        key: tuple[Any, ...]
        if kind == "appointment":
            key = ("a", s, t.appointment_ms or 0, t.order)
            heap = self._appt.setdefault(s, [])
        elif kind == "transferred":
            self.order += 1
            key = ("t", s, self.order)
            heap = self._transferred.setdefault(s, [])
        else:
            key = ("w", s, t.order)
            heap = self._walkin.setdefault(s, [])
        t.queue_key = key
        heapq.heappush(heap, (key[2:], t.id, key))
        self.waiting_count[s] = self.waiting_count.get(s, 0) + 1
        self._waiting_ids.add(t.id)

    def _dequeue(self, t: Ticket) -> None:
        if t.queue_key is not None:
            self.waiting_count[t.service] -= 1
            t.queue_key = None
        self._waiting_ids.discard(t.id)

    def _close(self, t: Ticket, state: str) -> None:
        if t.state == WAITING:
            self._dequeue(t)
        self._parked_ids.discard(t.id)
        if t.counter is not None:
            c = self._counter(t.counter)
            if c.current == t.id:
                c.current = None
        t.state = state
        day = self.open_by_day.get(t.day)
        if day is not None:
            day.discard(t.id)
            if not day:
                del self.open_by_day[t.day]

    def _learn(self, service: str, seconds: Any, counter: Any = None) -> None:
        self.times.learn(service, seconds, counter if isinstance(counter, str) else None)

    def _on_issued(self, d: dict, ts: int) -> None:
        if d["ticket"] in self.tickets:
            return
        self.order += 1
        t = Ticket(id=d["ticket"], number=d["number"], service=d["service"], day=d["day"],
                   kind=d["kind"], order=self.order, issued_ms=ts, queued_ms=ts, lang=d.get("lang", "fi"),
                   needs=d.get("needs") or {}, token=d.get("token", ""),
                   appointment_ms=d.get("appointment_ms"), room=d.get("room"))
        self.tickets[t.id] = t
        key = (t.service, t.day)
        self.last_number[key] = max(self.last_number.get(key, 0), int(d.get("n", 0)))
        self.open_by_day.setdefault(t.day, set()).add(t.id)
        if d.get("appointment_ref"):
            self.checked_in[d["appointment_ref"]] = t.id
        self._enqueue(t, "appointment" if t.kind == "appointment" else "walk_in")

    def _on_called(self, d: dict, ts: int) -> None:
        t = self.tickets.get(d["ticket"])
        if t is None:
            return
        if t.state == WAITING:
            self._dequeue(t)
        self._parked_ids.discard(t.id)
        c = self._counter(d["counter"])
        c.current, c.open = t.id, True
        t.state, t.counter, t.called_ms = CALLED, c.id, ts
        t.calls += 1
        self.recent_calls.appendleft({"ticket": t.id, "number": t.number, "service": t.service,
                                      "counter": t.room or c.id, "ts": ts, "recall": False,
                                      "kind": t.kind})

    def _on_recalled(self, d: dict, ts: int) -> None:
        t = self.tickets.get(d["ticket"])
        if t is None:
            return
        t.calls += 1
        self.recent_calls.appendleft({"ticket": t.id, "number": t.number, "service": t.service,
                                      "counter": t.room or d["counter"], "ts": ts, "recall": True,
                                      "kind": t.kind})

    def _on_finished(self, d: dict, ts: int) -> None:
        t = self.tickets.get(d["ticket"])
        if t is None:
            return
        self._learn(t.service, d.get("service_s"), d.get("counter"))
        if t.state == CALLED:
            self.no_shows_seen.served()
        self._close(t, FINISHED)

    def _on_no_show(self, d: dict, ts: int) -> None:
        t = self.tickets.get(d["ticket"])
        if t is not None:
            if t.state == CALLED:
                self.no_shows_seen.missed((ts - t.called_ms) / 1000 if t.called_ms is not None else None)
            self._close(t, NO_SHOW)
            if t.id in self.no_shows:
                self.no_shows.remove(t.id)
            self.no_shows.appendleft(t.id)

    def _on_parked(self, d: dict, ts: int) -> None:
        t = self.tickets.get(d["ticket"])
        if t is None or t.state != CALLED:
            return
        c = self._counter(t.counter) if t.counter else None
        if c is not None and c.current == t.id:
            c.current = None
        t.state, t.was_parked = PARKED, True  # t.counter stays: the clerk who parked it calls it back
        self._parked_ids.add(t.id)
        if isinstance(d.get("service_s"), int):
            t.served_s = d["service_s"]

    def _on_requeued(self, d: dict, ts: int) -> None:
        t = self.tickets.get(d["ticket"])
        if t is None or t.state != NO_SHOW:
            return
        if t.id in self.no_shows:
            self.no_shows.remove(t.id)
        t.state, t.counter, t.queued_ms = WAITING, None, ts
        self.open_by_day.setdefault(t.day, set()).add(t.id)
        self._enqueue(t, "transferred")  # at the front: they were called already

    def _on_cancelled(self, d: dict, ts: int) -> None:
        t = self.tickets.get(d["ticket"])
        if t is not None and t.state in OPEN_STATES:
            self._close(t, CANCELLED)
            t.cancel_reason = d.get("reason")

    def _on_transferred(self, d: dict, ts: int) -> None:
        t = self.tickets.get(d["ticket"])
        if t is None or t.state not in OPEN_STATES:
            return
        self._learn(t.service, d.get("service_s"), d.get("counter"))
        self.transfers_in.setdefault(d["to_service"], deque(maxlen=INFLOW_KEPT)).append(ts)
        if t.state == CALLED:
            self.no_shows_seen.served()
        if t.state == WAITING:
            self._dequeue(t)
        if t.counter is not None:
            c = self._counter(t.counter)
            if c.current == t.id:
                c.current = None
        t.service, t.state, t.counter, t.transferred = d["to_service"], WAITING, None, True
        t.queued_ms = ts
        self._enqueue(t, "transferred")

    def _on_counter_opened(self, d: dict, ts: int) -> None:
        self._counter(d["counter"]).open = True

    def _on_counter_closed(self, d: dict, ts: int) -> None:
        self._counter(d["counter"]).open = False

    def _on_help_requested(self, d: dict, ts: int) -> None:
        lim = self.help_limits
        # Expired requests go first, measured at this event's time: the same for every replay.
        gone = ts - int(lim.expire_s * 1000)
        for rid in [r for r, h in self.help.items() if h["ts"] <= gone]:
            del self.help[rid]
        device = d["device"]
        self.help[d["request"]] = {"request": d["request"], "device": device, "ts": ts, "lang": d.get("lang")}
        mine = [h for h in self.help.values() if h["device"] == device]
        for h in mine[:max(0, len(mine) - lim.per_device)]:  # the device's oldest make room
            del self.help[h["request"]]

    def _on_help_answered(self, d: dict, ts: int) -> None:
        self.help.pop(d["request"], None)

    # --- queries --------------------------------------------------------------------------

    def open_help(self, now: int) -> list[dict[str, Any]]:
        """The help requests open at `now`, oldest first (the fold keeps them in event order)."""
        gone = now - int(self.help_limits.expire_s * 1000)
        return [h for h in self.help.values() if h["ts"] > gone]

    def _head(self, heap: list | None) -> tuple | None:
        """The first valid entry of a lazily-deleted heap (stale ones are dropped on the way)."""
        if not heap:
            return None
        tickets = self.tickets
        while heap:
            sort_key, tid, key = heap[0]
            t = tickets.get(tid)
            if t is not None and t.state == WAITING and t.queue_key == key:
                head: tuple[Any, ...] = heap[0]
                return head
            heapq.heappop(heap)
        return None

    def pick_next(self, counter: str, now: int) -> Ticket | None:
        """Who a counter calls next: due appointments by time, then transfers, then walk-ins by
        arrival, then appointments not yet due (better than an idle counter)."""
        c = self.site.counters.get(counter)
        if c is None:
            return None
        due = transfer = walk = early = None
        for s in c.services:
            h = self._head(self._appt.get(s))
            if h is not None:
                if h[0][0] <= now:
                    due = h if due is None or h[0] < due[0] else due
                else:
                    early = h if early is None or h[0] < early[0] else early
            h = self._head(self._transferred.get(s))
            if h is not None and (transfer is None or h[0] < transfer[0]):
                transfer = h
            h = self._head(self._walkin.get(s))
            if h is not None and (walk is None or h[0] < walk[0]):
                walk = h
        best = due or transfer or walk or early
        return self.tickets[best[1]] if best else None

    def by_number(self, number: str, now: int) -> Ticket | None:
        """Today's ticket with this number (numbers run per local day)."""
        return self.tickets.get(f"{local_day(now, self.tz)}/{number}")

    # --- estimates --------------------------------------------------------------------------

    def _waiting(self, now: int, skip_code: str | None = None) -> list[Waiting]:
        """Everyone the counters will call: the waiting tickets in the engine's classes and order,
        and today's booked appointments not checked in yet (they come, and go first when due)."""
        out = []
        for t in self.waiting():
            if t.queue_key is None:
                continue
            k = t.queue_key
            rank = APPT if k[0] == "a" else TRANSFER if k[0] == "t" else WALK_IN
            out.append(Waiting(t.id, t.service, rank, k[-1], t.queued_ms,
                               due_ms=t.appointment_ms if rank == APPT else None))
        today = local_day(now, self.tz)
        late = self.site.appointments.late_min * 60_000
        for i, (day, ref, a) in enumerate(self._booked):
            if day != today or a.at_ms + late < now or ref == skip_code or ref in self.checked_in \
                    or a.service not in self.site.services:
                continue
            out.append(Waiting(f"booked:{a.code}", a.service, APPT, _PROBE_ORDER - 1_000_000 + i, a.at_ms,
                               due_ms=a.at_ms, present=False))
        return out

    def _spans(self, day: _dt.date) -> dict[str, list[tuple[int, int]]]:
        got = self._spans_of.get(day)
        if got is None:
            if len(self._spans_of) > 8:
                self._spans_of.clear()
            got = self._spans_of[day] = {cid: hours.counter_spans(self.site, cid, day) for cid in self.site.counters}
        return got

    def _plans(self, now: int) -> list[CounterPlan]:
        spans = self._spans(hours.local_date(self.site, now))
        plans = []
        for cid, c in self.site.counters.items():
            st = self._counter(cid)
            busy = None
            if st.current is not None:
                cur = self.tickets[st.current]
                busy = (cur.service, (_service_s(cur, now) or 0))
            plans.append(CounterPlan(cid, c.services, st.open, list(spans[cid]), busy))
        return plans

    def estimates(self, now: int, newcomer: Waiting | None = None, skip_code: str | None = None) -> dict[str, Eta | None]:
        """Play the site forward from `now` (core.estimate): every waiting ticket's wait, and under
        "probe:<service>" a newcomer's in each service. `newcomer` adds one more (a check-in being
        decided), `skip_code` leaves out that booked appointment (it is the newcomer)."""
        waiting = self._waiting(now, skip_code)
        waiting += [Waiting(f"probe:{sid}", sid, WALK_IN, _PROBE_ORDER, now, probe=True) for sid in self.site.services]
        if newcomer is not None:
            waiting.append(newcomer)
        day = hours.site_interval(self.site, hours.local_date(self.site, now))
        return play_forward(now, waiting, self._plans(now), self.times.at, self.times.remaining,
                            self._inflow(now, day), until_ms=day[1] if day else now,
                            no_show=(self.no_shows_seen.rate(), self.no_shows_seen.cost_s()))

    def _inflow(self, now: int, day: tuple[int, int] | None) -> dict[str, float]:
        """Transfers per hour into each service today, since the site opened (`day`: today's
        opening interval; None, a closed day: since midnight)."""
        start = _day_start(self, now) if day is None else min(day[0], now)
        span_h = max((now - start) / 3600_000, INFLOW_MIN_SPAN_MIN / 60)
        out = {}
        for sid, times in self.transfers_in.items():
            n = sum(1 for ts in times if start <= ts <= now)
            if n:
                out[sid] = n / span_h
        return out

    def open_counters_for(self, service: str) -> list[str]:
        return [cid for cid, c in self.site.counters.items()
                if service in c.services and self._counter(cid).open]

    def waiting(self) -> list[Ticket]:
        """Every waiting ticket, in arrival order."""
        return sorted((self.tickets[i] for i in self._waiting_ids), key=lambda t: t.order)

    def waiting_tickets(self, service: str | None = None) -> list[Ticket]:
        return [t for t in self.waiting() if service is None or t.service == service]

    def position(self, ticket_id: str) -> int | None:
        """People ahead of a waiting ticket within its service (appointments, then transfers,
        then walk-ins; the same order call-next uses, apart from the due time of appointments)."""
        t = self.tickets.get(ticket_id)
        if t is None or t.state != WAITING or t.queue_key is None:
            return None
        rank, key = _CLASS_RANK[t.queue_key[0]], t.queue_key[2:]
        n = 0
        for o in (self.tickets[i] for i in self._waiting_ids):
            if o.service != t.service or o is t or o.queue_key is None:
                continue
            r = _CLASS_RANK[o.queue_key[0]]
            if r < rank or (r == rank and o.queue_key[2:] < key):
                n += 1
        return n

    def snapshot(self, now: int) -> dict[str, Any]:
        """The live site state that the hub publishes (retained) for displays and panels."""
        etas = self.estimates(now)
        services = {}
        for sid in self.site.services:
            n = self.waiting_count.get(sid, 0)
            rng = shown(etas.get(f"probe:{sid}"))
            # est_wait_s None: no counter of the service works any more today.
            services[sid] = {"waiting": n, "est_wait_s": None if rng is None else rng[1], "est_range_s": rng,
                             "open_counters": len(self.open_counters_for(sid))}
        counters = {}
        for cid, c in self.counters.items():
            cur = self.tickets.get(c.current) if c.current else None
            counters[cid] = {"open": c.open, "current": None if cur is None else {
                "ticket": cur.id, "number": cur.number, "service": cur.service, "kind": cur.kind,
                # max(): a clock stepped back between issue and call must not show a negative wait.
                # Back from being parked: no queue wait to show (the first call measured it).
                "called_ms": cur.called_ms, "waited_s": max(0, (cur.called_ms - cur.queued_ms) // 1000)
                if cur.called_ms and not cur.was_parked else None, "needs": cur.needs, "lang": cur.lang,
                **({"room": cur.room} if cur.room else {})}}
        helps = self.open_help(now)
        today = local_day(now, self.tz)
        parked = [{"ticket": t.id, "number": t.number, "service": t.service, "counter": t.counter}
                  for t in sorted((self.tickets[i] for i in self._parked_ids), key=lambda t: t.order)
                  if t.day == today]
        no_shows = [{"ticket": t.id, "number": t.number, "service": t.service}
                    for t in (self.tickets[i] for i in self.no_shows) if t.state == NO_SHOW and t.day == today]
        eta = {t.number: shown(etas.get(t.id)) for t in self.waiting()}
        is_open = hours.is_open(self.site, now)
        return {"ts": now, "open": is_open, "opens_ms": None if is_open else hours.next_opening(self.site, now),
                "services": services, "counters": counters, "calls": list(self.recent_calls),
                "help": helps[-HELP_SHOWN:], "help_count": len(helps), "parked": parked, "no_shows": no_shows,
                "eta": eta}


_CLASS_RANK = {"a": 0, "t": 1, "w": 2}


def shown(eta: Eta | None) -> list[int] | None:
    """The wait shown for an estimate: [low, high] seconds (high is the figure promised), or None
    when no counter reaches it today. Quantiles of a log-normal wait of the estimate's mean and
    spread: waits are never negative and have a long tail, so a short wait with a wide spread is
    not inflated the way mean + z × spread would."""
    if eta is None:
        return None
    if eta.mean_s <= 0:
        return [0, 0]
    s2 = math.log(1 + (eta.sd_s / eta.mean_s) ** 2)
    mu, s = math.log(eta.mean_s) - s2 / 2, math.sqrt(s2)
    # A short wait needs no margin: a promise counts as broken by ten minutes and more, which a wait
    # of a few minutes hardly reaches, and a margin there only makes the figure worse.
    z = ESTIMATE_HIGH * min(1.0, max(0.0, (eta.mean_s - MARGIN_FROM_S) / MARGIN_FROM_S))
    return [int(math.exp(mu - ESTIMATE_LOW * s)), int(math.ceil(math.exp(mu + z * s)))]


_APPLY: dict[str, Callable[[QueueState, dict, int], None]] = {
    "ticket.issued": QueueState._on_issued,
    "ticket.called": QueueState._on_called,
    "ticket.recalled": QueueState._on_recalled,
    "ticket.finished": QueueState._on_finished,
    "ticket.no_show": QueueState._on_no_show,
    "ticket.cancelled": QueueState._on_cancelled,
    "ticket.transferred": QueueState._on_transferred,
    "ticket.parked": QueueState._on_parked,
    "ticket.requeued": QueueState._on_requeued,
    "counter.opened": QueueState._on_counter_opened,
    "counter.closed": QueueState._on_counter_closed,
    "help.requested": QueueState._on_help_requested,
    "help.answered": QueueState._on_help_answered,
}


# --- decide -----------------------------------------------------------------------------------

def housekeeping(state: QueueState, now: int) -> list[tuple[str, dict[str, Any]]]:
    """Tickets still open from an earlier local day are closed as the new day's first events,
    so nobody is called on Tuesday for Monday's number."""
    today = local_day(now, state.tz)
    out = []
    for day in sorted(d for d in state.open_by_day if d < today):
        for tid in sorted(state.open_by_day[day], key=lambda i: state.tickets[i].order):
            out.append(("ticket.cancelled", {"ticket": tid, "reason": "day_closed"}))
    return out


def _issue(state: QueueState, service: str, now: int, lang: str, needs: Needs, kind: str,
           extra: dict[str, Any] | None = None, code: str | None = None) -> Decision:
    svc = state.site.services[service]
    day = local_day(now, state.tz)
    n = state.last_number.get((service, day), 0) + 1
    number = format_number(svc.prefix, n)
    ticket = f"{day}/{number}"
    ahead = state.waiting_count.get(service, 0)
    if kind == "appointment" and extra and extra.get("appointment_ms") is not None:
        # The newcomer as the engine will queue it: an appointment, called first once due.
        new = Waiting("new", service, APPT, state.order + 1, now, due_ms=extra["appointment_ms"])
        rng = shown(state.estimates(now, new, skip_code=code).get("new"))
    else:
        rng = shown(state.estimates(now).get(f"probe:{service}"))
    est = None if rng is None else rng[1]
    data = {"ticket": ticket, "number": number, "n": n, "service": service, "day": day, "kind": kind,
            "lang": lang, "needs": needs.to_dict(), "token": state.new_token(),
            "ahead": ahead, "est_wait_s": est}
    if extra:
        data.update(extra)
    reply = {"ok": True, "ticket": ticket, "number": number, "service": service, "kind": kind,
             "ahead": ahead, "est_wait_s": est, "est_range_s": rng, "token": data["token"], "issued_ms": now,
             "open_counters": len(state.open_counters_for(service))}
    if "appointment_ms" in data:
        reply["appointment_ms"] = data["appointment_ms"]
    if "room" in data:
        reply["room"] = data["room"]
    return Decision([("ticket.issued", data)], reply)


def _current(state: QueueState, counter: str) -> Ticket | Reject:
    if counter not in state.site.counters:
        return Reject(W.UNKNOWN_COUNTER, f"no counter {counter!r} at this site")
    c = state._counter(counter)
    if c.current is None:
        return Reject(W.NO_CURRENT_TICKET, f"counter {counter} is not serving anyone")
    return state.tickets[c.current]


def _call(state: QueueState, t: Ticket, counter: str, now: int, by_number: bool = False) -> Decision:
    """Call `t` to `counter`, finishing whoever the counter was serving."""
    events: list[tuple[str, dict[str, Any]]] = []
    c = state._counter(counter)
    if c.current is not None:
        cur = state.tickets[c.current]
        events.append(("ticket.finished", {"ticket": cur.id, "counter": counter,
                                           "service": cur.service, "service_s": _service_s(cur, now)}))
    data: dict[str, Any] = {"ticket": t.id, "counter": counter, "service": t.service, "number": t.number,
                            "kind": t.kind}
    if t.state == PARKED:
        # Back from being parked: no queue wait (the first call measured it).
        data["waited_s"], data["from"] = None, "parked"
    else:
        # The wait in this queue: since the ticket entered it (issue, transfer or re-queue), so a
        # transferred customer's wait at the second authority is that authority's alone.
        data["waited_s"] = max(0, (now - t.queued_ms) // 1000)
    if by_number:
        data["by_number"] = True
    events.append(("ticket.called", data))
    reply = {"ok": True, "ticket": t.id, "number": t.number, "service": t.service, "counter": counter,
             "kind": t.kind, "needs": t.needs, "lang": t.lang, "waited_s": data["waited_s"]}
    if t.room:
        reply["room"] = t.room  # booked there: the displays send the customer to it
    return Decision(events, reply)


def _service_s(t: Ticket, now: int) -> int | None:
    """The service time so far, parts before a park included."""
    return None if t.called_ms is None else max(0, (now - t.called_ms) // 1000) + t.served_s


def _request_help(state: QueueState, device: str, lang: str, now: int) -> Decision | Reject:
    """A new help request, the device's newest one again (a repeat), or `help_full`: see HelpLimits."""
    lim = state.help_limits
    helps = state.open_help(now)
    mine = [h for h in helps if h["device"] == device]
    # A clock stepped back makes the difference negative: a repeat too, never a way around the limit.
    if mine and now - mine[-1]["ts"] < lim.repeat_s * 1000:
        return Decision([], {"ok": True, "request": mine[-1]["request"], "repeat": True, "open": len(helps)})
    if len(mine) < lim.per_device and len(helps) >= lim.per_site:
        return Reject(W.HELP_FULL, f"{len(helps)} help requests are open at this site; no more are taken",
                      {"open": len(helps)})
    # A random part: two requests in one millisecond, or after the clock stepped back, must not
    # merge into one.
    req = f"{device}-{now}-{state.new_token()[:6]}"
    replaces = [h["request"] for h in mine[:max(0, len(mine) + 1 - lim.per_device)]]
    reply: dict[str, Any] = {"ok": True, "request": req, "open": len(helps) + 1 - len(replaces)}
    if replaces:
        reply["replaces"] = replaces
    return Decision([("help.requested", {"request": req, "device": device, "lang": lang})], reply)


def decide(state: QueueState, cmd: Command, now: int) -> Decision | Reject:
    site = state.site
    t: Ticket | Reject | None  # one name for "the ticket this command is about", across the cases
    match cmd:
        case TakeTicket(service=service, lang=lang, needs=needs):
            if service not in site.services:
                return Reject(W.UNKNOWN_SERVICE, f"no service {service!r} at this site")
            return _issue(state, service, now, lang, needs, "walk_in")

        case CheckIn(code=code, lang=lang, needs=needs):
            appt = state.booking_for(code)
            if appt is None or appt.service not in site.services:
                return Reject(W.UNKNOWN_CODE, "no appointment with this code")
            ref = state.ref_of(appt)
            detail: dict[str, Any] = {"service": appt.service, "appointment_ms": appt.at_ms}
            if appt.moved:
                detail["moved"] = True
            if appt.cancelled:
                return Reject(W.BOOKING_CANCELLED, "the authority cancelled this appointment", detail)
            if ref in state.checked_in:
                t = state.tickets[state.checked_in[ref]]
                if t.state in OPEN_STATES:
                    return Reject(W.ALREADY_CHECKED_IN, "this appointment is already checked in",
                                  {**detail, "number": t.number, "ticket": t.id})
            if local_day(appt.at_ms, state.tz) != local_day(now, state.tz):
                return Reject(W.OTHER_DAY, "the appointment is on another day", detail)
            opens = appt.at_ms - site.appointments.early_min * 60_000
            if now < opens:
                return Reject(W.TOO_EARLY, "check-in for this appointment has not opened yet",
                              {**detail, "opens_ms": opens})
            if now > appt.at_ms + site.appointments.late_min * 60_000:
                return Reject(W.TOO_LATE, "the appointment time has passed; a walk-in number is possible",
                              detail)
            booked = appt.needs or Needs()
            # What was told at booking, and what the customer chose at the kiosk: both.
            needs = Needs(interpreter=needs.interpreter or booked.interpreter,
                          hearing_loop=needs.hearing_loop or booked.hearing_loop,
                          accessible_room=needs.accessible_room or booked.accessible_room)
            extra: dict[str, Any] = {"appointment_ms": appt.at_ms, "appointment_ref": ref}
            if appt.room in site.counters:
                extra["room"] = appt.room
            return _issue(state, appt.service, now, lang, needs, "appointment", extra, code=ref)

        case CallNext(counter=counter):
            if counter not in site.counters:
                return Reject(W.UNKNOWN_COUNTER, f"no counter {counter!r} at this site")
            c = state._counter(counter)
            if not c.open:
                return Reject(W.COUNTER_CLOSED, f"counter {counter} is closed; open it first")
            t = state.pick_next(counter, now)
            if t is None:
                return Reject(W.NOTHING_WAITING, "nobody is waiting for the services of this counter")
            return _call(state, t, counter, now)

        case CallNumber(counter=counter, number=number):
            if counter not in site.counters:
                return Reject(W.UNKNOWN_COUNTER, f"no counter {counter!r} at this site")
            if not state._counter(counter).open:
                return Reject(W.COUNTER_CLOSED, f"counter {counter} is closed; open it first")
            t = state.by_number(number, now)
            if t is None:
                return Reject(W.UNKNOWN_NUMBER, f"no ticket {number} today")
            if t.state not in (WAITING, PARKED):
                return Reject(W.NOT_CALLABLE, f"ticket {t.number} is {t.state}, not waiting or parked",
                              {"state": t.state})
            return _call(state, t, counter, now, by_number=True)

        case Park(counter=counter):
            t = _current(state, counter)
            if isinstance(t, Reject):
                return t
            return Decision([("ticket.parked", {"ticket": t.id, "counter": counter, "service": t.service,
                                                "number": t.number, "service_s": _service_s(t, now)})],
                            {"ok": True, "ticket": t.id, "number": t.number, "service": t.service, "counter": counter})

        case Requeue(counter=counter, number=number):
            if counter not in site.counters:
                return Reject(W.UNKNOWN_COUNTER, f"no counter {counter!r} at this site")
            t = state.by_number(number, now)
            if t is None:
                return Reject(W.UNKNOWN_NUMBER, f"no ticket {number} today")
            if t.state != NO_SHOW:
                return Reject(W.NOT_NO_SHOW, f"ticket {t.number} is {t.state}, not a no-show", {"state": t.state})
            return Decision([("ticket.requeued", {"ticket": t.id, "counter": counter, "service": t.service,
                                                  "number": t.number})],
                            {"ok": True, "ticket": t.id, "number": t.number, "service": t.service})

        case Recall(counter=counter):
            t = _current(state, counter)
            if isinstance(t, Reject):
                return t
            return Decision([("ticket.recalled", {"ticket": t.id, "counter": counter, "number": t.number})],
                            {"ok": True, "ticket": t.id, "number": t.number, "counter": counter})

        case Finish(counter=counter, outcome=outcome):
            t = _current(state, counter)
            if isinstance(t, Reject):
                return t
            data = {"ticket": t.id, "counter": counter, "service": t.service, "service_s": _service_s(t, now)}
            if outcome is not None:
                offered = site.services[t.service].outcomes if t.service in site.services else ()
                if outcome not in offered:
                    return Reject(W.UNKNOWN_OUTCOME, f"{outcome!r} is not an outcome of service {t.service}",
                                  {"outcomes": list(offered)})
                data["outcome"] = outcome
            return Decision([("ticket.finished", data)], {"ok": True, "ticket": t.id, "number": t.number})

        case NoShow(counter=counter):
            t = _current(state, counter)
            if isinstance(t, Reject):
                return t
            return Decision([("ticket.no_show", {"ticket": t.id, "counter": counter, "service": t.service})],
                            {"ok": True, "ticket": t.id, "number": t.number})

        case Transfer(counter=counter, to_service=to):
            t = _current(state, counter)
            if isinstance(t, Reject):
                return t
            if to not in site.services:
                return Reject(W.UNKNOWN_SERVICE, f"no service {to!r} at this site")
            if to == t.service:
                return Reject(W.SAME_SERVICE, "the ticket is already in that service")
            return Decision([("ticket.transferred", {"ticket": t.id, "counter": counter, "from_service": t.service,
                                                     "to_service": to, "service_s": _service_s(t, now)})],
                            {"ok": True, "ticket": t.id, "number": t.number, "service": to})

        case Cancel(ticket=tid, reason=reason):
            t = state.tickets.get(tid)
            if t is None:
                return Reject(W.UNKNOWN_TICKET, f"no ticket {tid!r}")
            if t.state not in OPEN_STATES:
                return Reject(W.NOT_OPEN, f"ticket {t.number} is already {t.state}")
            return Decision([("ticket.cancelled", {"ticket": t.id, "reason": reason, "service": t.service})],
                            {"ok": True, "ticket": t.id, "number": t.number})

        case OpenCounter(counter=counter):
            if counter not in site.counters:
                return Reject(W.UNKNOWN_COUNTER, f"no counter {counter!r} at this site")
            if state._counter(counter).open:
                return Decision([], {"ok": True, "counter": counter, "open": True})
            return Decision([("counter.opened", {"counter": counter})], {"ok": True, "counter": counter, "open": True})

        case CloseCounter(counter=counter):
            if counter not in site.counters:
                return Reject(W.UNKNOWN_COUNTER, f"no counter {counter!r} at this site")
            c = state._counter(counter)
            events = []
            if c.current is not None:
                cur = state.tickets[c.current]
                events.append(("ticket.finished", {"ticket": cur.id, "counter": counter, "service": cur.service,
                                                   "service_s": _service_s(cur, now)}))
            if c.open:
                events.append(("counter.closed", {"counter": counter}))
            return Decision(events, {"ok": True, "counter": counter, "open": False})

        case RequestHelp(device=device, lang=lang):
            return _request_help(state, device, lang, now)

        case AnswerHelp(request=req, counter=counter):
            if req not in {h["request"] for h in state.open_help(now)}:
                return Reject(W.UNKNOWN_REQUEST, "no open help request with this id")
            return Decision([("help.answered", {"request": req, "counter": counter})], {"ok": True, "request": req})

    # Unreachable for the type checker; a caller outside it (a fuzzer, a plugin) may still pass anything.
    return Reject(W.UNKNOWN_COMMAND, f"unknown command {type(cmd).__name__}")  # type: ignore[unreachable]


class Engine:
    """Runs commands against a QueueState: housekeeping, decide, make durable, apply.

    `commit(items)` must store the events durably (in one transaction) and return them as
    Events; only then are they applied and the reply returned. If commit raises (a full disk),
    the state is unchanged and the error goes to the caller.
    """

    def __init__(self, state: QueueState, commit: Callable[[list[tuple[str, dict[str, Any]]], int], list[Event]]):
        self.state = state
        self._commit = commit

    def handle(self, cmd: Command, now: int) -> dict[str, Any]:
        hk = housekeeping(self.state, now)
        if hk:
            self.state.apply_all(self._commit(hk, now))
        d = decide(self.state, cmd, now)
        if isinstance(d, Reject):
            return d.to_dict()
        if d.events:
            stored = self._commit(d.events, now)
            self.state.apply_all(stored)
            d.reply["seq"] = stored[-1].seq
        return d.reply
