"""Property tests of the queue engine over random command sequences.

A clock that mostly moves forward, but also steps back and crosses local midnight in
Europe/Helsinki (and the DST nights); appointments generated around it. After every command:
no number twice per service per local day, numbers in sequence, every ticket in exactly one
state, call-next picks exactly what the rules say; at the end: fold(events) equals the live
state, and a restart from the events at any command boundary gives the same state and carries
on exactly as the original did.
"""
from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.config import loads_site
from core.engine import (
    CALLED,
    CANCELLED,
    FINISHED,
    NO_SHOW,
    OPEN_STATES,
    WAITING,
    AnswerHelp,
    Appointment,
    CallNext,
    Cancel,
    CheckIn,
    CloseCounter,
    Finish,
    NoShow,
    OpenCounter,
    QueueState,
    Recall,
    RequestHelp,
    TakeTicket,
    Transfer,
    format_number,
    local_day,
)
from core.store import EventStore
from hub.authority import QueueAuthority
from tests.test_engine import HEL, MIN, SMALL_SITE, Mem, dump, hel

SITE = loads_site(SMALL_SITE)
SERVICES = sorted(SITE.services)
COUNTERS = sorted(SITE.counters)
HOUR = 60 * MIN

STARTS = [
    hel(2026, 11, 23, 21, 30),  # a winter evening: midnight comes soon
    hel(2026, 3, 28, 22, 0),    # the night clocks go forward (29 March 2026, 03:00 -> 04:00)
    hel(2026, 10, 24, 22, 0),   # the night clocks go back (25 October 2026, 04:00 -> 03:00)
    hel(2026, 6, 15, 8, 0),     # an ordinary summer morning
]

# Mostly small steps forward; now and then a longer pause, a step back (NTP fixing a clock that
# ran ahead) or a jump over midnight (a night, or the hub off for a day).
clock_step = st.sampled_from(["small"] * 24 + ["pause", "pause", "back", "jump"]).flatmap(lambda kind: {
    "small": st.integers(0, 5 * MIN),
    "pause": st.integers(0, 60 * MIN),
    "back": st.integers(-3 * HOUR, -1),
    "jump": st.integers(6 * HOUR, 30 * HOUR),
}[kind])


def _op(name, *args):
    return st.tuples(st.just(name), *args)


counter = st.sampled_from(COUNTERS)
service = st.sampled_from(SERVICES)
# A counter given as ("open", i) / ("busy", i) means the i-th open / busy counter at that moment
# (any counter when there is none), so that most calls and finishes have something to act on.
some_counter = st.one_of(counter, st.tuples(st.sampled_from(["open", "busy"]), st.integers(0, 7)))
# Repeated branches weight the mix: mostly tickets taken and called, the rest now and then.
ops = st.one_of(
    _op("take", service), _op("take", service), _op("take", service), _op("take", service),
    _op("checkin", st.integers(0, 11)), _op("checkin", st.integers(0, 11)),
    _op("call", some_counter), _op("call", some_counter), _op("call", some_counter), _op("call", some_counter),
    _op("recall", some_counter), _op("finish", some_counter), _op("finish", some_counter),
    _op("no_show", some_counter), _op("transfer", some_counter, service), _op("transfer", some_counter, service),
    _op("cancel", st.integers(0, 500)),
    _op("open", counter), _op("open", counter), _op("close", counter),
    _op("help", st.sampled_from(["kiosk-1", "kiosk-2"])), _op("help_answered", st.integers(0, 50)),
)

# Appointments mostly in the first hours of the run, where the clock is; a few far off (other
# days) and a few for "gone", a service that is not at this site.
appointments = st.lists(st.tuples(st.sampled_from(SERVICES * 3 + ["gone"]),
                                  st.one_of(st.integers(0, 5 * HOUR), st.integers(0, 5 * HOUR),
                                            st.integers(0, 5 * HOUR), st.integers(-3 * HOUR, 40 * HOUR))),
                        min_size=1, max_size=10)


def make_appointments(start: int, spec) -> list[Appointment]:
    # Times on whole minutes, as a booking system gives them; "gone" is a service not at this site.
    return [Appointment(f"C{i:04d}", s, (start + off) // MIN * MIN) for i, (s, off) in enumerate(spec)]


def pick_counter(c, st_: QueueState) -> str:
    if isinstance(c, str):
        return c
    which, i = c
    pool = [cid for cid in COUNTERS if (st_.counters[cid].open if which == "open" else st_.counters[cid].current)]
    return (pool or COUNTERS)[i % len(pool or COUNTERS)]


def to_command(op, st_: QueueState, appts: list[Appointment]):
    kind = op[0]
    if kind in ("call", "recall", "finish", "no_show", "transfer"):
        op = (kind, pick_counter(op[1], st_), *op[2:])
    if kind == "take":
        return TakeTicket(op[1])
    if kind == "checkin":
        return CheckIn(appts[op[1]].code if op[1] < len(appts) else f"BAD{op[1]}")
    if kind == "transfer":
        return Transfer(op[1], op[2])
    if kind == "cancel":
        ids = sorted(st_.tickets)
        return Cancel(ids[op[1] % len(ids)] if ids else "2026-01-01/K001")
    if kind == "help":
        return RequestHelp(op[1])
    if kind == "help_answered":
        reqs = sorted(st_.help)
        return AnswerHelp(reqs[op[1] % len(reqs)] if reqs else "none")
    return {"call": CallNext, "recall": Recall, "finish": Finish, "no_show": NoShow,
            "open": OpenCounter, "close": CloseCounter}[kind](op[1])


# --- oracles -------------------------------------------------------------------------------

def enqueue_keys(events) -> dict[str, tuple[str, tuple]]:
    """Per ticket, how it last joined a queue: ("a", (due time, arrival)), ("t", (transfer)),
    or ("w", (arrival)), with event positions as arrival order."""
    keys = {}
    for i, ev in enumerate(events):
        d = ev.data
        if ev.type == "ticket.issued":
            keys[d["ticket"]] = ("a", (d["appointment_ms"], i)) if d["kind"] == "appointment" else ("w", (i,))
        elif ev.type == "ticket.transferred":
            keys[d["ticket"]] = ("t", (i,))
    return keys


def expected_call(state: QueueState, events, counter: str, now: int) -> str | None:
    """Who the rules say `counter` calls now: due appointments by time, then transfers by
    transfer order, then walk-ins by arrival, then appointments not yet due. Yesterday's
    tickets are gone (housekeeping runs first)."""
    today = local_day(now, HEL)
    served = SITE.counters[counter].services
    keys = enqueue_keys(events)
    best = None
    for t in state.tickets.values():
        if t.state != WAITING or t.day < today or t.service not in served:
            continue
        cls, key = keys[t.id]
        group = {"t": 1, "w": 2}.get(cls) if cls != "a" else (0 if key[0] <= now else 3)
        cand = ((group, key), t.id)
        best = cand if best is None or cand < best else best
    return best[1] if best else None


def model_states(events) -> dict[str, str]:
    """Ticket states from the events alone, checking each transition is one the rules allow."""
    s: dict[str, str] = {}
    for ev in events:
        d, t = ev.data, ev.type
        if t == "ticket.issued":
            assert d["ticket"] not in s, f"ticket {d['ticket']} issued twice"
            s[d["ticket"]] = WAITING
        elif t == "ticket.called":
            assert s[d["ticket"]] == WAITING, f"called a ticket that was {s[d['ticket']]}"
            s[d["ticket"]] = CALLED
        elif t == "ticket.recalled":
            assert s[d["ticket"]] == CALLED
        elif t in ("ticket.finished", "ticket.no_show", "ticket.transferred"):
            assert s[d["ticket"]] == CALLED, f"{t} for a ticket that was {s[d['ticket']]}"
            s[d["ticket"]] = {"ticket.finished": FINISHED, "ticket.no_show": NO_SHOW,
                              "ticket.transferred": WAITING}[t]
        elif t == "ticket.cancelled":
            assert s[d["ticket"]] in OPEN_STATES, f"cancelled a ticket that was {s[d['ticket']]}"
            s[d["ticket"]] = CANCELLED
    return s


def check_numbers(events) -> None:
    """No number twice per service per local day, and each day's numbers run 1, 2, 3..."""
    seen: dict[tuple[str, str], list[int]] = {}
    ids = set()
    for ev in events:
        if ev.type != "ticket.issued":
            continue
        d = ev.data
        key = (d["service"], d["day"])
        seen.setdefault(key, []).append(d["n"])
        assert d["number"] == format_number(SITE.services[d["service"]].prefix, d["n"])
        assert d["ticket"] == f"{d['day']}/{d['number']}"
        assert d["day"] == local_day(ev.ts, HEL)
        assert d["ticket"] not in ids
        ids.add(d["ticket"])
    for key, ns in seen.items():
        assert ns == list(range(1, len(ns) + 1)), f"numbers of {key}: {ns}"


def check_state(state: QueueState, events) -> None:
    """Every ticket in exactly one state, and the indexes agree with the tickets."""
    assert {tid: t.state for tid, t in state.tickets.items()} == model_states(events)
    waiting: dict[str, int] = {}
    open_ids = set()
    for t in state.tickets.values():
        assert t.state in (WAITING, CALLED, FINISHED, NO_SHOW, CANCELLED)
        if t.state == WAITING:
            waiting[t.service] = waiting.get(t.service, 0) + 1
            assert t.queue_key is not None and t.queue_key[1] == t.service
        else:
            assert t.queue_key is None
        if t.state == CALLED:
            holders = [cid for cid, c in state.counters.items() if c.current == t.id]
            assert holders == [t.counter], f"{t.id} called but held by {holders}"
        if t.state in OPEN_STATES:
            open_ids.add(t.id)
            assert t.id in state.open_by_day.get(t.day, ())
    for cid, c in state.counters.items():
        if c.current is not None:
            assert state.tickets[c.current].state == CALLED and state.tickets[c.current].counter == cid
    assert {s: n for s, n in state.waiting_count.items() if n} == waiting
    assert set().union(*state.open_by_day.values()) == open_ids if state.open_by_day else not open_ids


def strip_tokens(x):
    if isinstance(x, dict):
        return {k: strip_tokens(v) for k, v in x.items() if k not in ("token", "seq")}
    if isinstance(x, list):
        return [strip_tokens(v) for v in x]
    return x


# --- the run -------------------------------------------------------------------------------

def run(q: Mem, seq, appts, now: int, checks: bool = True):
    """Run (op, step) pairs; returns the replies, (events, dump, clock) after each command, and
    the final clock."""
    replies, dumps = [], []
    for op, step in seq:
        now += step
        cmd = to_command(op, q.state, appts)
        want = expected_call(q.state, q.events, cmd.counter, now) if isinstance(cmd, CallNext) else None
        r = q(cmd, now)
        replies.append(r)
        if isinstance(cmd, CallNext):
            if r["ok"]:
                assert r["ticket"] == want
                assert r["service"] in SITE.counters[cmd.counter].services
            elif r["error"] == "nothing_waiting":
                assert want is None
            else:
                assert r["error"] == "counter_closed" and not q.state.counters[cmd.counter].open
        if r.get("ok") and isinstance(cmd, (TakeTicket, CheckIn)):
            key = (r["service"], local_day(now, HEL))
            assert q.state.last_number[key] == int(r["number"][1:])
        if checks:
            check_state(q.state, q.events)
        dumps.append((len(q.events), dump(q.state, 0), now))
    return replies, dumps, now


def deterministic(q: Mem) -> Mem:
    # Tokens from the state, so that a state rebuilt from events hands out the same ones.
    q.state.new_token = lambda st=q.state: f"t{st.applied}"
    return q


@given(start=st.sampled_from(STARTS) | st.integers(hel(2026, 1, 1), hel(2027, 1, 1)),
       appt_spec=appointments,
       seq=st.lists(st.tuples(ops, clock_step), min_size=20, max_size=80),
       crash_at=st.floats(0, 1), cut_at=st.floats(0, 1), first_open=st.sets(counter, min_size=2))
@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_random_command_sequences(start, appt_spec, seq, crash_at, cut_at, first_open):
    appts = make_appointments(start, appt_spec)
    q = deterministic(Mem(SITE, appts))
    for cid in sorted(first_open):
        q(OpenCounter(cid), start)
    initial = (len(q.events), dump(q.state, 0), start)
    replies, dumps, end = run(q, seq, appts, start)
    check_numbers(q.events)

    # fold(events) equals the live state.
    assert dump(q.replay(), 0) == dump(q.state, 0)
    assert q.replay(appointments=appts).snapshot(end) == q.state.snapshot(end)

    # Crash after command k: the store holds exactly the events of commands 1..k. Restart from
    # them: the same state, and the remaining commands do exactly what they did the first time.
    k = int(crash_at * len(seq))
    n_events, state_k, now_k = dumps[k - 1] if k else initial
    b = Mem(SITE, appts)
    b.state.ref_key = q.state.ref_key  # a restarted hub has the same store, so the same key
    b.events = list(q.events[:n_events])
    b.state = b.replay(appointments=appts)
    b.engine.state = b.state
    deterministic(b)
    assert dump(b.state, 0) == state_k
    replies_b, _, _ = run(b, seq[k:], appts, now_k, checks=False)
    assert strip_tokens(replies_b) == strip_tokens(replies[k:])
    assert dump(b.state, 0) == dump(q.state, 0)
    assert [(e.type, strip_tokens(e.data), e.ts) for e in b.events] == \
           [(e.type, strip_tokens(e.data), e.ts) for e in q.events]
    check_numbers(b.events)

    # A cut anywhere, even inside a multi-event commit (which the store never leaves behind),
    # still folds to a consistent state, and the queue carries on from it without reusing a number.
    cut = int(cut_at * len(q.events))
    c = Mem(SITE, appts)
    c.events = list(q.events[:cut])
    c.state = c.replay(appointments=appts)
    c.engine.state = c.state
    deterministic(c)
    check_state(c.state, c.events)
    run(c, seq[k:], appts, c.events[-1].ts if c.events else start)
    check_numbers(c.events)
    assert dump(c.replay(), 0) == dump(c.state, 0)


@given(start=st.sampled_from(STARTS),
       appt_spec=appointments,
       seq=st.lists(st.tuples(ops, clock_step), min_size=10, max_size=40),
       restarts=st.lists(st.integers(0, 39), max_size=3), first_open=st.sets(counter))
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_random_sequences_against_the_real_store(start, appt_spec, seq, restarts, first_open):
    """The same, with the hub's real EventStore on disk, restarted (closed, reopened, folded)
    at random points. The numbers continue across restarts, and the store's own replay equals
    the live state at the end."""
    appts = make_appointments(start, appt_spec)
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "hub.sqlite"
        store = EventStore(path, SITE.id, "hub-1")
        auth = QueueAuthority(SITE, store, appts)
        now = start
        try:
            for cid in sorted(first_open):
                auth.handle(OpenCounter(cid), now)
            for i, (op, step) in enumerate(seq):
                if i in restarts:
                    before = dump(auth.state, 0)
                    store.close()
                    store = EventStore(path, SITE.id, "hub-1")
                    auth = QueueAuthority(SITE, store, appts)
                    assert dump(auth.state, 0) == before
                now += step
                cmd = to_command(op, auth.state, appts)
                events = store.events()
                want = expected_call(auth.state, events, cmd.counter, now) if isinstance(cmd, CallNext) else None
                r = auth.handle(cmd, now)
                assert r.get("error") != "store_failed", r
                if isinstance(cmd, CallNext) and r["ok"]:
                    assert r["ticket"] == want
            events = store.events()
            assert [e.seq for e in events] == list(range(1, len(events) + 1))
            check_numbers(events)
            check_state(auth.state, events)
            # The hub's own key (its store keeps it): only with it are checked-in bookings recognised.
            folded = QueueState(SITE, appts, ref_key=auth.state.ref_key).apply_all(store.iter_events())
            assert dump(folded, 0) == dump(auth.state, 0)
            assert folded.snapshot(now) == auth.state.snapshot(now)
        finally:
            store.close()
