"""The hub's follow snapshot (hub/follow.py), without a broker: core/follow.py's shape, keys from
the tokens, the place in the queue and the displays' own estimate, each state as the page names
it, today only, the budget (finished tickets go first), the ticket a customer's cancel is about,
and the customer's cancel reason as an event and a fold."""
from __future__ import annotations

import itertools
import json

import pytest

from core import commands
from core.config import loads_site
from core.engine import (
    CallNext,
    Cancel,
    Finish,
    NoShow,
    OpenCounter,
    Park,
    TakeTicket,
    Transfer,
)
from core.events import CANCEL_REASONS, Event, EventError, check_event, new_event_id
from core.follow import CUSTOMER_CANCEL_REASON, check_snapshot, follow_key
from hub import follow
from tests.test_engine import MIN, SMALL_SITE, Mem, hel

T0 = hel(2026, 11, 23, 9, 0)
SITE = "test-pp"


@pytest.fixture(scope="module")
def site():
    return loads_site(SMALL_SITE)


@pytest.fixture
def q(site):
    m = Mem(site)
    n = itertools.count(1)
    m.state.new_token = lambda: f"token-{next(n):012d}"  # as long as the engine's real ones
    return m


def snap(q, now, **kw) -> dict:
    s = follow.build(q.state, SITE, now, **kw)
    doc = check_snapshot(s.body, SITE)
    assert len(doc["tickets"]) == s.tickets
    return doc


def entry(q, doc, ticket_id) -> dict:
    return doc["tickets"][follow_key(q.state.tickets[ticket_id].token)]


def test_waiting_tickets_carry_their_place_and_the_displays_estimate(q):
    q(OpenCounter("1"), T0)
    q(OpenCounter("2"), T0)
    ids = [q(TakeTicket("kela", lang), T0 + i * MIN)["ticket"] for i, lang in enumerate(("fi", "sv", "en"))]
    other = q(TakeTicket("poliisi"), T0 + 3 * MIN)["ticket"]
    now = T0 + 4 * MIN
    doc = snap(q, now)
    assert (doc["v"], doc["site"], doc["day"], doc["ts"]) == (1, SITE, "2026-11-23", now)
    shown = q.state.snapshot(now)["eta"]  # what the displays show
    for i, tid in enumerate(ids):
        t = q.state.tickets[tid]
        e = entry(q, doc, tid)
        assert e == {"n": t.number, "s": "kela", "st": "waiting", "a": i, "e": shown[t.number], "l": t.lang}
        assert e["a"] == q.state.position(tid)
    # Poliisi has no counter open today: nobody ahead, and no estimate.
    assert entry(q, doc, other)["a"] == 0 and entry(q, doc, other)["e"] == shown["P001"]
    # The token itself is nowhere in the message, only its key.
    body = follow.build(q.state, SITE, now).body.decode()
    assert all(q.state.tickets[t].token not in body for t in ids + [other])


def test_each_state_as_the_page_names_it(q):
    for c in ("1", "2"):
        q(OpenCounter(c), T0)
    called, done, missed, parked, by_clerk, by_customer, moved = (
        q(TakeTicket("kela"), T0 + i)["ticket"] for i in range(7))
    assert q(CallNext("1"), T0 + MIN)["ticket"] == called
    assert q(CallNext("2"), T0 + 2 * MIN)["ticket"] == done
    assert q(Finish("2"), T0 + 3 * MIN)["ok"]
    assert q(CallNext("2"), T0 + 4 * MIN)["ticket"] == missed
    assert q(NoShow("2"), T0 + 5 * MIN)["ok"]
    assert q(CallNext("2"), T0 + 6 * MIN)["ticket"] == parked
    assert q(Park("2"), T0 + 7 * MIN)["ok"]
    assert q(Cancel(by_clerk, "left"), T0 + 8 * MIN)["ok"]
    assert q(Cancel(by_customer, CUSTOMER_CANCEL_REASON), T0 + 8 * MIN)["ok"]
    assert q(CallNext("2"), T0 + 9 * MIN)["ticket"] == moved
    assert q(Transfer("2", "dvv"), T0 + 10 * MIN)["ok"]
    doc = snap(q, T0 + 11 * MIN)
    t = q.state.tickets
    assert entry(q, doc, called) == {"n": "K001", "s": "kela", "st": "called", "c": "1", "ct": T0 + MIN, "l": "fi"}
    assert entry(q, doc, done) == {"n": "K002", "s": "kela", "st": "done", "c": "2", "ct": T0 + 2 * MIN, "l": "fi"}
    assert entry(q, doc, missed) == {"n": "K003", "s": "kela", "st": "missed", "l": "fi"}
    assert entry(q, doc, parked)["st"] == "called" and entry(q, doc, parked)["c"] == "2"
    assert entry(q, doc, by_clerk) == {"n": "K005", "s": "kela", "st": "cancelled", "l": "fi"}
    assert entry(q, doc, by_customer) == {"n": "K006", "s": "kela", "st": "cancelled", "x": True, "l": "fi"}
    assert entry(q, doc, moved)["st"] == "waiting" and entry(q, doc, moved)["s"] == "dvv"
    assert t[moved].number == entry(q, doc, moved)["n"] == "K007"
    # The customer's reason is part of the fold: a hub started again tells the page the same.
    again = q.replay()
    assert again.tickets[by_customer].cancel_reason == CUSTOMER_CANCEL_REASON
    assert json.loads(follow.build(again, SITE, T0 + 11 * MIN).body) == doc


def test_only_todays_tickets_with_a_token_and_a_new_day_starts_empty(q):
    q(OpenCounter("1"), T0)
    yesterday = q(TakeTicket("kela"), T0 - 24 * 60 * MIN)["ticket"]
    today = q(TakeTicket("kela"), T0)["ticket"]
    q.state.new_token = lambda: ""  # a ticket without a token cannot be followed
    untokened = q(TakeTicket("kela"), T0 + MIN)["ticket"]
    doc = snap(q, T0 + 2 * MIN)
    assert set(doc["tickets"]) == {follow_key(q.state.tickets[today].token)}
    assert yesterday not in [t.id for t in follow.todays_tickets(q.state, T0)]
    assert untokened not in [t.id for t in follow.todays_tickets(q.state, T0)]
    tomorrow = snap(q, hel(2026, 11, 24, 0, 0, 1))
    assert tomorrow["day"] == "2026-11-24" and tomorrow["tickets"] == {}


def test_the_budget_leaves_out_the_oldest_finished_tickets_first(q):
    q(OpenCounter("2"), T0)
    finished = []
    for i in range(30):
        q(TakeTicket("kela"), T0 + i * MIN)
        finished.append(q(CallNext("2"), T0 + i * MIN)["ticket"])
    q(Finish("2"), T0 + 30 * MIN)
    waiting = [q(TakeTicket("kela"), T0 + 31 * MIN)["ticket"] for _ in range(5)]
    now = T0 + 32 * MIN
    full = follow.build(q.state, SITE, now)
    assert full.left_out == 0 and full.tickets == 35
    budget = len(full.body) - 1000
    s = follow.build(q.state, SITE, now, budget=budget)
    assert len(s.body) <= budget and s.left_out > 0 and s.active_left_out == 0
    doc = check_snapshot(s.body, SITE)
    kept = {t for t in finished if follow_key(q.state.tickets[t].token) in doc["tickets"]}
    assert kept == set(finished[s.left_out:])  # the oldest went, the newest stayed
    assert all(follow_key(q.state.tickets[t].token) in doc["tickets"] for t in waiting)
    # Unavoidable: nothing finished left to leave out; the last in the queue go first, and it says so.
    tiny = follow.build(q.state, SITE, now, budget=400)
    assert len(tiny.body) <= 400 and tiny.active_left_out > 0
    left = check_snapshot(tiny.body, SITE)["tickets"]
    assert follow_key(q.state.tickets[waiting[0]].token) in left
    assert follow_key(q.state.tickets[waiting[-1]].token) not in left


def test_the_ticket_a_cancel_is_about(q):
    q(OpenCounter("1"), T0)
    a = q(TakeTicket("kela"), T0)["ticket"]
    b = q(TakeTicket("kela"), T0)["ticket"]
    key = lambda tid: follow_key(q.state.tickets[tid].token)  # noqa: E731
    assert follow.waiting_ticket(q.state, key(b), T0 + MIN) == b
    q(CallNext("1"), T0 + MIN)
    assert follow.waiting_ticket(q.state, key(a), T0 + 2 * MIN) is None  # called: no longer waiting
    assert follow.waiting_ticket(q.state, "0" * 32, T0 + 2 * MIN) is None
    assert follow.waiting_ticket(q.state, key(b), hel(2026, 11, 24, 8, 0)) is None  # yesterday's


def test_an_estimate_beyond_the_checked_bound_is_shown_as_the_longest(q):
    q(OpenCounter("1"), T0)
    t = q(TakeTicket("kela"), T0)["ticket"]
    e = follow.ticket_entry(q.state.tickets[t], 0, [100, 10**9])
    assert e["e"] == [100, 86_400 * 2 - 1]
    assert follow.ticket_entry(q.state.tickets[t], 0, None)["e"] is None


def test_the_customers_reason_is_a_valid_event_but_no_clerk_can_send_it():
    ev = Event(id=new_event_id(), site="s1", device="hub-1", seq=1, type="ticket.cancelled", ts=T0,
               data={"ticket": "2026-11-23/K001", "reason": CUSTOMER_CANCEL_REASON, "service": "kela"})
    assert check_event(ev, "hub", T0) is ev
    with pytest.raises(EventError):
        check_event(Event(ev.id, ev.site, ev.device, 1, ev.type, ev.ts, {**ev.data, "reason": "whim"}), "hub", T0)
    assert CUSTOMER_CANCEL_REASON not in CANCEL_REASONS
    with pytest.raises(commands.CommandError):
        commands.parse_command_json(json.dumps({"cmd": "cancel", "ticket": "2026-11-23/K001",
                                                "reason": CUSTOMER_CANCEL_REASON}))

