"""Wait estimates by playing the site forward. Pure: plain data in, estimates out.

From the queue as it is (every waiting ticket in the engine's own call order, each counter with
the services it serves, the customer it is serving and for how long, its planned hours and
breaks for the rest of the day, the booked appointments still to come), the counters are let
call their customers one after another as the engine would (core.engine.QueueState.pick_next):
due appointments by their time, then transfers, then walk-ins by arrival, then appointments not
yet due. Each call takes the service's learnt mean time (core.servicetimes) or, as often as called
customers do not come there, the clerk's wait before "no-show", and adds its variance to the
counter's, so every ticket comes out with a mean wait and a spread, all from one pass.

Transfers still to come count too: customers sent on from another service (general advice does
that by its nature) go before the walk-ins, so a long wait sees some of them pass. They come at
the rate each service has been receiving them today (`inflow`, per hour), spread evenly ahead.

"Probes" stand for a customer who would take a number now in a service: last in arrival order,
taking no counter time (so they move nobody else), they give the wait the kiosk and the displays
show for a newcomer.

Counters call only within their planned spans; after the last one of the day a counter goes on
serving whoever took their number before it ended (the service point serves its queue), but
nobody who came later. A counter that should be working but is closed is assumed to open within
ABSENT_S; one open outside its plan works on for GRACE_S before the plan holds again.
"""
from __future__ import annotations

import heapq
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from .servicetimes import Estimate

#: A counter closed although its plan says it works now: assumed to open within this (a clerk
#: late back, the panel not yet opened).
ABSENT_S = 600
#: A counter open outside its plan (working through a break): assumed to go on this long.
GRACE_S = 600
APPT, TRANSFER, WALK_IN = 0, 1, 2
_SPAWNED = "\0spawned:"   # keys of the transfers to come (no ticket has such an id)
_SPAWN_ORDER = 1 << 50     # after every real transfer, before any probe

Interval = tuple[int, int]
_Cand = tuple[tuple, "Waiting", list]  # (sort key, the waiting one, the heap it heads)


@dataclass(frozen=True)
class Waiting:
    key: str                # ticket id, or any id for a probe or a booked appointment
    service: str
    rank: int               # APPT, TRANSFER or WALK_IN: the engine's classes
    order: int              # arrival (walk-ins, appointments) or transfer order
    issued_ms: int          # when it joined (a probe or a booked appointment: now or its arrival)
    due_ms: int | None = None   # appointments: their time
    present: bool = True    # False: a booked appointment not checked in yet (callable only when due)
    probe: bool = False     # takes no counter time


@dataclass
class CounterPlan:
    id: str
    services: tuple[str, ...]
    open: bool
    spans: list[Interval]   # planned working time from now on, sorted (breaks cut out)
    busy: tuple[str, float] | None = None   # (service, seconds already served) of its customer
    # filled in by play_forward
    free_at: float = 0.0
    var: float = 0.0
    last_end: float = field(default=0.0)


@dataclass(frozen=True)
class Eta:
    mean_s: float
    sd_s: float


Times = Callable[[str, str], Estimate]            # (counter, service) -> one service's time
#: At most this many transfers to come are placed per service (a wait long enough to see more
#: of them is rare, and they cost time to play).
MAX_INFLOW = 40
Remaining = Callable[[str, str, float], Estimate]  # (counter, service, elapsed_s) -> what is left


def _start(c: CounterPlan, now: int, remaining: Remaining) -> None:
    """Where the counter begins: when it can call its first customer, and its spans from then on."""
    spans = [(a, b) for a, b in c.spans if b > now]
    inside = any(a <= now < b for a, b in spans)
    c.last_end = max((b for _, b in c.spans), default=now)
    if c.open and not inside:
        spans = [(now, now + GRACE_S * 1000)] + spans
        c.last_end = max(c.last_end, now + GRACE_S * 1000)
    start = float(now)
    if not c.open and inside:
        start = now + ABSENT_S * 1000.0
    elif not c.open:
        start = float(spans[0][0]) if spans else math.inf
    if c.busy is not None:
        left = remaining(c.id, c.busy[0], c.busy[1])
        start = max(start, now + left.mean_s * 1000)
        c.var = left.var_s2
    c.spans = spans
    c.free_at = start


def _callable_at(c: CounterPlan, t: float) -> tuple[float, bool]:
    """(the first moment from `t` the counter may call, whether that is after its last span).
    A customer still at the counter when a break begins is served to the end, and the break is
    then taken in full: it starts that much later."""
    prev_end = None
    for a, b in c.spans:
        if t < b:
            late = t - prev_end if prev_end is not None and prev_end <= t < a else 0.0
            return max(t, a + late), False
        prev_end = b
    return max(t, c.last_end), True


class _Queues:
    """The waiting tickets by service and class, as heaps, with lazy removal."""

    def __init__(self, waiting: Iterable[Waiting]) -> None:
        self.heaps: dict[tuple[str, int], list[tuple[tuple, Waiting]]] = {}
        # Not here yet: booked appointments (by due time) and transfers to come (by when they come).
        self.future: dict[str, list[tuple[int, int, Waiting]]] = {}
        for w in waiting:
            if w.rank == APPT and not w.present:
                heapq.heappush(self.future.setdefault(w.service, []), (w.due_ms or 0, w.order, w))
                continue
            key = (w.due_ms or 0, w.order) if w.rank == APPT else (w.order,)
            heapq.heappush(self.heaps.setdefault((w.service, w.rank), []), (key, w))

    def pick(self, services: tuple[str, ...], t: float, eligible: Callable[[Waiting], bool]) -> Waiting | None:
        """What the engine's pick_next would call at `t` among `services` (booked appointments
        count once due)."""
        due: _Cand | None = None
        transfer: _Cand | None = None
        walk: _Cand | None = None
        early: _Cand | None = None
        for s in services:
            f = self.future.get(s)
            if f and f[0][0] <= t:
                w = f[0][2]
                if w.rank == APPT and (due is None or (f[0][0], f[0][1]) < due[0]):
                    due = ((f[0][0], f[0][1]), w, f)
                elif w.rank == TRANSFER and (transfer is None or (f[0][1],) < transfer[0]):
                    transfer = ((f[0][1],), w, f)
            for rank in (APPT, TRANSFER, WALK_IN):
                heap = self.heaps.get((s, rank))
                if not heap:
                    continue
                key, w = heap[0]
                if rank == APPT:
                    if (w.due_ms or 0) <= t:
                        if due is None or key < due[0]:
                            due = (key, w, heap)
                    elif early is None or key < early[0]:
                        early = (key, w, heap)
                elif rank == TRANSFER:
                    if transfer is None or key < transfer[0]:
                        transfer = (key, w, heap)
                elif eligible(w) and (walk is None or key < walk[0]):
                    walk = (key, w, heap)
        best = due or transfer or walk or early
        if best is None:
            return None
        heapq.heappop(best[2])
        return best[1]

    def next_due(self, services: tuple[str, ...]) -> float:
        """When the first booked appointment or transfer to come of `services` is there (inf: none)."""
        return min((self.future[s][0][0] for s in services if self.future.get(s)), default=math.inf)

    def coming(self, w: Waiting, at_ms: float) -> None:
        heapq.heappush(self.future.setdefault(w.service, []), (int(at_ms), w.order, w))


def play_forward(now: int, waiting: Iterable[Waiting], counters: Iterable[CounterPlan],
                 times: Times, remaining: Remaining, inflow: dict[str, float] | None = None,
                 until_ms: int | None = None, no_show: tuple[float, float] = (0.0, 0.0)) -> dict[str, Eta | None]:
    """Every waiting key's wait from `now` (mean and spread, seconds), or None when no counter
    reaches it today. `inflow`: transfers to come per hour into each service, up to `until_ms`
    (the day's end). `no_show`: (the share of called customers who do not come, what each of
    those costs the counter in seconds): a call takes a service or, that often, the clerk's wait.
    `counters` are consumed (their plan fields are filled in)."""
    p, cost = no_show
    items = list(waiting)
    queues = _Queues(items)
    horizon = until_ms if until_ms is not None else now + 8 * 3600_000
    n = 0
    for service, per_h in (inflow or {}).items():
        if per_h <= 0:
            continue
        gap = 3600_000 / per_h
        at = now + gap / 2
        while at < horizon and n < MAX_INFLOW * len(inflow or {}):
            n += 1
            queues.coming(Waiting(f"{_SPAWNED}{n}", service, TRANSFER, _SPAWN_ORDER + n, now), at)
            at += gap
    out: dict[str, Eta | None] = {w.key: None for w in items}
    heap: list[tuple[float, int, CounterPlan]] = []
    for i, c in enumerate(counters):
        _start(c, now, remaining)
        if c.free_at < math.inf:
            heap.append((c.free_at, i, c))
    heapq.heapify(heap)
    # A ticket's wait comes from several counters working side by side: its spread is that of the
    # counter that calls it over the square root of how many serve its service (pooled servers).
    serving: dict[str, int] = {}
    for _, _, c in heap:
        for s in c.services:
            serving[s] = serving.get(s, 0) + 1
    while heap:
        t, i, c = heapq.heappop(heap)
        t, after = _callable_at(c, t)
        # After its last span a counter serves only who came before that span ended.
        end = c.last_end if after else math.inf
        w = queues.pick(c.services, t, lambda x: x.issued_ms < end)
        if w is None:
            nxt = queues.next_due(c.services)
            if nxt < math.inf:
                heapq.heappush(heap, (max(nxt, t), i, c))
            continue
        if w.issued_ms >= end:
            continue  # a due appointment booked after closing: not today
        if not w.key.startswith(_SPAWNED):
            out[w.key] = Eta(max(0.0, (t - now) / 1000), math.sqrt(c.var / serving.get(w.service, 1)))
        if not w.probe:
            e = times(c.id, w.service)
            # A mixture: the service with 1 − p, the no-show wait with p.
            c.var += (1 - p) * e.var_s2 + p * (1 - p) * (e.mean_s - cost) ** 2
            t += ((1 - p) * e.mean_s + p * cost) * 1000
        heapq.heappush(heap, (t, i, c))
    return out
