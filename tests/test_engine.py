"""The queue engine, command by command: replies, events, state, estimates, day rollover."""
from __future__ import annotations

import datetime as _dt
import itertools
import json
from zoneinfo import ZoneInfo

import pytest

from core.config import loads_site
from core.engine import (
    CALLED,
    CANCELLED,
    FINISHED,
    HELP_SHOWN,
    NO_SHOW,
    WAITING,
    AnswerHelp,
    Appointment,
    CallNext,
    Cancel,
    CheckIn,
    CloseCounter,
    Engine,
    Finish,
    HelpLimits,
    Needs,
    NoShow,
    OpenCounter,
    QueueState,
    Recall,
    RequestHelp,
    TakeTicket,
    Transfer,
    appointment_ref,
    decide,
    local_day,
)
from core.events import Event
from core.store import EventStore, StoreFullError
from hub.authority import QueueAuthority

HEL = ZoneInfo("Europe/Helsinki")

SMALL_SITE = """
[site]
id = "test-pp"
timezone = "Europe/Helsinki"
languages = ["fi", "sv", "en"]
name = { fi = "Testi", sv = "Test", en = "Test" }

[appointments]
early_min = 30
late_min = 10

[[services]]
id = "neuvonta"
prefix = "N"
general_advice = true
default_service_min = 8
name = { fi = "Palveluneuvonta", sv = "Servicerådgivning", en = "General service advice" }

[[services]]
id = "kela"
prefix = "K"
default_service_min = 12
name = { fi = "Kela", sv = "FPA", en = "Kela" }

[[services]]
id = "poliisi"
prefix = "P"
default_service_min = 10
name = { fi = "Poliisi", sv = "Polisen", en = "Police" }

[[services]]
id = "dvv"
prefix = "D"
default_service_min = 10
name = { fi = "DVV", sv = "MDB", en = "DVV" }

[[counters]]
id = "1"
name = { fi = "Tiski 1", sv = "Lucka 1", en = "Counter 1" }
services = ["neuvonta", "kela"]

[[counters]]
id = "2"
name = { fi = "Tiski 2", sv = "Lucka 2", en = "Counter 2" }
services = ["kela"]

[[counters]]
id = "3"
name = { fi = "Tiski 3", sv = "Lucka 3", en = "Counter 3" }
services = ["poliisi", "dvv"]

[[counters]]
id = "H1"
kind = "room"
name = { fi = "Huone 1", sv = "Rum 1", en = "Room 1" }
services = ["dvv", "neuvonta"]
"""


@pytest.fixture(scope="session")
def site():
    return loads_site(SMALL_SITE)


def hel(y, mo, d, h=0, mi=0, s=0) -> int:
    """Epoch ms of a wall-clock time in Helsinki."""
    return int(_dt.datetime(y, mo, d, h, mi, s, tzinfo=HEL).timestamp() * 1000)


MIN = 60_000
T0 = hel(2026, 11, 23, 9, 0)  # a Monday


class Mem:
    """An Engine whose commit builds Events in memory (what the store would return)."""

    def __init__(self, site, appointments=()):
        self.site = site
        self.events: list[Event] = []
        self.batches: list[int] = []  # len(events) after each commit: where a crash can cut
        self.state = QueueState(site, appointments)
        self._tokens = itertools.count(1)
        self.state.new_token = lambda: f"tok{next(self._tokens)}"
        self.engine = Engine(self.state, self.commit)
        self.fail_next_commit = False

    def commit(self, items, now):
        if self.fail_next_commit:
            self.fail_next_commit = False
            raise StoreFullError("disk full (simulated)")
        out = []
        for etype, data in items:
            seq = len(self.events) + 1
            ev = Event(id=f"ev{seq:012d}", site=self.site.id, device="hub-1", seq=seq, type=etype, ts=now,
                       data=data)
            self.events.append(ev)
            out.append(ev)
        self.batches.append(len(self.events))
        return out

    def __call__(self, cmd, now):
        return self.engine.handle(cmd, now)

    def replay(self, upto: int | None = None, appointments=()) -> QueueState:
        """A fresh state folded from the events as the store would give them back (JSON)."""
        st = QueueState(self.site, appointments, ref_key=self.state.ref_key)  # the hub keeps its key
        for ev in self.events[:upto]:
            st.apply(Event(ev.id, ev.site, ev.device, ev.seq, ev.type, ev.ts, json.loads(json.dumps(ev.data))))
        return st

    def types(self, since: int = 0) -> list[str]:
        return [e.type for e in self.events[since:]]


def dump(st: QueueState, now: int) -> dict:
    """Everything of a state that a fold must reproduce."""
    return {
        "snapshot": st.snapshot(now),
        "tickets": {tid: (t.number, t.service, t.day, t.kind, t.state, t.counter, t.calls, t.transferred,
                          t.order, t.issued_ms, t.called_ms, t.queue_key, t.appointment_ms, t.token)
                    for tid, t in st.tickets.items()},
        "last_number": dict(st.last_number),
        "counters": {cid: (c.open, c.current) for cid, c in st.counters.items()},
        "times": st.times.learnt(),
        "waiting": {k: v for k, v in st.waiting_count.items() if v},
        "open_by_day": {d: sorted(s) for d, s in st.open_by_day.items()},
        "checked_in": dict(st.checked_in), "help": dict(st.help), "order": st.order,
    }


@pytest.fixture
def q(site):
    return Mem(site)


def open_all(q, now=T0):
    for cid in q.site.counters:
        assert q(OpenCounter(cid), now)["ok"]


# --- local day -----------------------------------------------------------------------------

def test_local_day_follows_helsinki_midnight_in_winter_and_summer():
    assert local_day(hel(2026, 1, 15, 23, 59, 59) + 999, HEL) == "2026-01-15"
    assert local_day(hel(2026, 1, 16, 0, 0), HEL) == "2026-01-16"
    # 22:30 UTC is already the next day in Helsinki (UTC+2 in winter, +3 in summer).
    utc = _dt.timezone.utc
    assert local_day(int(_dt.datetime(2026, 1, 15, 22, 30, tzinfo=utc).timestamp() * 1000), HEL) == "2026-01-16"
    assert local_day(int(_dt.datetime(2026, 7, 15, 21, 30, tzinfo=utc).timestamp() * 1000), HEL) == "2026-07-16"
    assert local_day(int(_dt.datetime(2026, 7, 15, 20, 59, tzinfo=utc).timestamp() * 1000), HEL) == "2026-07-15"


# --- take ----------------------------------------------------------------------------------

def test_take_numbers_run_per_service(q):
    r1 = q(TakeTicket("kela", "sv", Needs("ru", True)), T0)
    r2 = q(TakeTicket("kela"), T0 + MIN)
    r3 = q(TakeTicket("neuvonta"), T0 + 2 * MIN)
    assert (r1["number"], r2["number"], r3["number"]) == ("K001", "K002", "N001")
    assert r1["ticket"] == "2026-11-23/K001" and r1["kind"] == "walk_in" and r1["ok"] is True
    assert (r1["ahead"], r2["ahead"], r3["ahead"]) == (0, 1, 0)
    assert r1["seq"] == 1 and r3["seq"] == 3
    t = q.state.tickets[r1["ticket"]]
    assert t.state == WAITING and t.lang == "sv" and t.needs == {"interpreter": "ru", "hearing_loop": True,
                                                                "accessible_room": False}
    ev = q.events[0]
    assert ev.type == "ticket.issued" and ev.data["n"] == 1 and ev.data["day"] == "2026-11-23"
    assert q(TakeTicket("nope"), T0) == {"ok": False, "error": "unknown_service",
                                        "message": "no service 'nope' at this site"}
    assert len(q.events) == 3


def test_numbers_restart_each_local_day(q):
    q(TakeTicket("kela"), hel(2026, 11, 23, 23, 59))
    r = q(TakeTicket("kela"), hel(2026, 11, 24, 0, 1))
    assert r["number"] == "K001" and r["ticket"] == "2026-11-24/K001"
    # The clock steps back over midnight: the old day's sequence continues, no number repeats.
    r = q(TakeTicket("kela"), hel(2026, 11, 23, 23, 58))
    assert r["ticket"] == "2026-11-23/K002"


# --- check-in ------------------------------------------------------------------------------

APPT_AT = hel(2026, 11, 23, 10, 0)


@pytest.fixture
def qa(site):
    return Mem(site, [Appointment("ABC123", "kela", APPT_AT), Appointment("XYZ999", "dvv", APPT_AT + 86_400_000),
                      Appointment("GONE01", "verohallinto", APPT_AT)])


def test_checkin_valid(qa):
    r = qa(CheckIn(" ABC123 ", "en"), APPT_AT - 30 * MIN)  # opens exactly now; spaces are forgiven
    assert r["ok"] and r["kind"] == "appointment" and r["number"] == "K001" and r["service"] == "kela"
    assert r["appointment_ms"] == APPT_AT
    data = qa.events[-1].data
    assert data["appointment_ref"] == appointment_ref(qa.state.ref_key, "ABC123")
    # The code itself is stored nowhere.
    assert "ABC123" not in json.dumps([e.data for e in qa.events])


def test_checkin_answers(qa):
    assert qa(CheckIn("NOPE00"), APPT_AT)["error"] == "unknown_code"
    assert qa(CheckIn("GONE01"), APPT_AT)["error"] == "unknown_code"  # service not at this site
    r = qa(CheckIn("XYZ999"), APPT_AT)
    assert r["error"] == "other_day" and r["appointment_ms"] == APPT_AT + 86_400_000 and r["service"] == "dvv"
    r = qa(CheckIn("ABC123"), APPT_AT - 30 * MIN - 1)
    assert r["error"] == "too_early" and r["opens_ms"] == APPT_AT - 30 * MIN
    r = qa(CheckIn("ABC123"), APPT_AT + 10 * MIN + 1)
    assert r["error"] == "too_late" and r["appointment_ms"] == APPT_AT
    assert qa.events == []  # refusals store nothing
    assert qa(CheckIn("ABC123"), APPT_AT + 10 * MIN)["ok"]  # the last allowed moment
    r = qa(CheckIn("ABC123"), APPT_AT + 10 * MIN)
    assert r["error"] == "already_checked_in" and r["number"] == "K001" and r["ticket"] == "2026-11-23/K001"
    assert len(qa.events) == 1


def test_checkin_survives_a_restart(qa):
    qa(CheckIn("ABC123"), APPT_AT)
    st = qa.replay(appointments=qa.state.appointments.values())
    assert decide(st, CheckIn("ABC123"), APPT_AT).code == "already_checked_in"


# --- call ----------------------------------------------------------------------------------

def test_call_needs_an_open_known_counter_and_someone_waiting(q):
    assert q(CallNext("9"), T0)["error"] == "unknown_counter"
    assert q(CallNext("1"), T0)["error"] == "counter_closed"
    q(OpenCounter("1"), T0)
    assert q(CallNext("1"), T0)["error"] == "nothing_waiting"
    q(TakeTicket("poliisi"), T0)
    assert q(CallNext("1"), T0)["error"] == "nothing_waiting"  # counter 1 does not serve the police


def test_call_order_due_appointments_then_transfers_then_walk_ins(site):
    appts = [Appointment("EARLY1", "kela", T0 + 20 * MIN), Appointment("DUE001", "kela", T0 + 5 * MIN),
             Appointment("DUE002", "neuvonta", T0 + 2 * MIN)]
    q = Mem(site, appts)
    open_all(q)
    w1 = q(TakeTicket("kela"), T0)["ticket"]
    w2 = q(TakeTicket("neuvonta"), T0 + 1)["ticket"]
    w3 = q(TakeTicket("kela"), T0 + 2)["ticket"]
    a_early = q(CheckIn("EARLY1"), T0 + 3)["ticket"]
    a_due1 = q(CheckIn("DUE001"), T0 + 4)["ticket"]
    a_due2 = q(CheckIn("DUE002"), T0 + 5)["ticket"]
    # Make a transfer: police counter serves a walk-in, sends it on to Kela.
    p = q(TakeTicket("poliisi"), T0 + 6)["ticket"]
    assert q(CallNext("3"), T0 + 7)["ticket"] == p
    assert q(Transfer("3", "kela"), T0 + 8)["ok"]
    now = T0 + 6 * MIN  # DUE002 (T0+2) and DUE001 (T0+5) are due, EARLY1 (T0+20) is not
    called = [q(CallNext("1"), now + i)["ticket"] for i in range(7)]
    assert called == [a_due2, a_due1, p, w1, w2, w3, a_early]
    assert q(CallNext("1"), now + 10)["error"] == "nothing_waiting"


def test_walk_ins_of_different_services_by_arrival(q):
    open_all(q)
    ts = [q(TakeTicket(s), T0 + i)["ticket"] for i, s in enumerate(["kela", "neuvonta", "neuvonta", "kela"])]
    assert [q(CallNext("1"), T0 + 10 + i)["ticket"] for i in range(4)] == ts


def test_call_finishes_the_current_customer(q):
    open_all(q)
    a = q(TakeTicket("kela"), T0)["ticket"]
    b = q(TakeTicket("kela"), T0)["ticket"]
    r = q(CallNext("2"), T0 + MIN)
    assert r["ticket"] == a and r["counter"] == "2" and r["waited_s"] == 60 and r["needs"]["hearing_loop"] is False
    since = len(q.events)
    q(CallNext("2"), T0 + 11 * MIN)
    assert q.types(since) == ["ticket.finished", "ticket.called"]
    assert q.events[since].data["service_s"] == 600
    assert q.state.tickets[a].state == FINISHED and q.state.tickets[b].state == CALLED
    assert q.state.counters["2"].current == b
    snap = q.state.snapshot(T0 + 11 * MIN)
    assert snap["counters"]["2"]["current"]["number"] == "K002" and snap["calls"][0]["ticket"] == b


def test_recall(q):
    open_all(q)
    assert q(Recall("1"), T0)["error"] == "no_current_ticket"
    assert q(Recall("7"), T0)["error"] == "unknown_counter"
    t = q(TakeTicket("kela"), T0)["ticket"]
    q(CallNext("1"), T0)
    r = q(Recall("1"), T0 + MIN)
    assert r == {"ok": True, "ticket": t, "number": "K001", "counter": "1", "seq": len(q.events)}
    assert q.events[-1].type == "ticket.recalled"
    assert q.state.tickets[t].calls == 2 and q.state.tickets[t].state == CALLED
    assert q.state.recent_calls[0]["recall"] is True and q.state.recent_calls[1]["recall"] is False


def test_finish_and_no_show(q):
    open_all(q)
    assert q(Finish("1"), T0)["error"] == "no_current_ticket"
    assert q(NoShow("1"), T0)["error"] == "no_current_ticket"
    a = q(TakeTicket("kela"), T0)["ticket"]
    b = q(TakeTicket("kela"), T0)["ticket"]
    q(CallNext("1"), T0)
    assert q(Finish("1"), T0 + 5 * MIN)["ticket"] == a
    assert q.state.tickets[a].state == FINISHED and q.state.counters["1"].current is None
    q(CallNext("1"), T0 + 5 * MIN)
    assert q(NoShow("1"), T0 + 7 * MIN)["ticket"] == b
    assert q.state.tickets[b].state == NO_SHOW and q.state.counters["1"].current is None
    assert q.types()[-1] == "ticket.no_show"
    assert q.state.times.samples("kela") == 1  # a no-show teaches nothing about service times


def test_transfer_keeps_the_number_and_goes_before_walk_ins(q):
    open_all(q)
    w = q(TakeTicket("dvv"), T0)["ticket"]
    t = q(TakeTicket("kela"), T0 + 1)["ticket"]
    q(CallNext("2"), T0 + MIN)
    assert q(Transfer("2", "kela"), T0 + 2 * MIN)["error"] == "same_service"
    assert q(Transfer("2", "nope"), T0 + 2 * MIN)["error"] == "unknown_service"
    assert q(Transfer("1", "dvv"), T0 + 2 * MIN)["error"] == "no_current_ticket"
    r = q(Transfer("2", "dvv"), T0 + 3 * MIN)
    assert r["ok"] and r["number"] == "K001" and r["service"] == "dvv"
    tk = q.state.tickets[t]
    assert (tk.state, tk.service, tk.transferred, tk.number) == (WAITING, "dvv", True, "K001")
    assert q.state.counters["2"].current is None
    assert q.state.waiting_count == {"kela": 0, "dvv": 2}
    assert q.state.position(t) == 0 and q.state.position(w) == 1
    # Kela's numbering is not affected, and the transferred ticket is called first at DVV.
    assert q(TakeTicket("kela"), T0 + 4 * MIN)["number"] == "K002"
    assert q(CallNext("3"), T0 + 5 * MIN)["ticket"] == t
    assert q(CallNext("3"), T0 + 6 * MIN)["ticket"] == w


def test_cancel(q):
    open_all(q)
    assert q(Cancel("2026-11-23/K999"), T0)["error"] == "unknown_ticket"
    a = q(TakeTicket("kela"), T0)["ticket"]
    b = q(TakeTicket("kela"), T0)["ticket"]
    r = q(Cancel(a, "left"), T0 + MIN)
    assert r["ok"] and q.events[-1].data["reason"] == "left"
    assert q.state.tickets[a].state == CANCELLED and q.state.waiting_count["kela"] == 1
    assert q(Cancel(a), T0 + MIN)["error"] == "not_open"
    q(CallNext("1"), T0 + 2 * MIN)
    assert q(Cancel(b), T0 + 3 * MIN)["ok"]
    assert q.state.counters["1"].current is None and q.state.tickets[b].state == CANCELLED
    assert q(CallNext("1"), T0 + 4 * MIN)["error"] == "nothing_waiting"


def test_open_and_close(q):
    assert q(OpenCounter("X"), T0)["error"] == "unknown_counter"
    assert q(CloseCounter("X"), T0)["error"] == "unknown_counter"
    assert q(OpenCounter("1"), T0) == {"ok": True, "counter": "1", "open": True, "seq": 1}
    assert q(OpenCounter("1"), T0) == {"ok": True, "counter": "1", "open": True}  # nothing to store
    assert len(q.events) == 1 and q.state.counters["1"].open
    assert q(CloseCounter("1"), T0)["open"] is False and not q.state.counters["1"].open
    assert q.types() == ["counter.opened", "counter.closed"]
    assert q(CloseCounter("1"), T0) == {"ok": True, "counter": "1", "open": False}
    assert len(q.events) == 2


def test_close_counter_finishes_the_current_customer(q):
    q(OpenCounter("2"), T0)
    t = q(TakeTicket("kela"), T0)["ticket"]
    q(CallNext("2"), T0)
    since = len(q.events)
    q(CloseCounter("2"), T0 + 4 * MIN)
    assert q.types(since) == ["ticket.finished", "counter.closed"]
    assert q.events[since].data["service_s"] == 240
    assert q.state.tickets[t].state == FINISHED
    assert q.state.counters["2"].current is None and not q.state.counters["2"].open


def test_help(q):
    r = q(RequestHelp("kiosk-1", "sv"), T0)
    assert r["ok"] and q.state.help[r["request"]]["lang"] == "sv"
    assert q.state.snapshot(T0)["help"][0]["device"] == "kiosk-1"
    assert q(AnswerHelp("nope"), T0)["error"] == "unknown_request"
    assert q(AnswerHelp(r["request"], "2"), T0)["ok"]
    assert q.state.help == {} and q.types() == ["help.requested", "help.answered"]


SEC = 1000


def help_mem(site, **limits) -> Mem:
    m = Mem(site)
    m.state.help_limits = HelpLimits(**limits)  # before any event: the fold runs with these
    return m


def help_replay(m: Mem) -> QueueState:
    """The state a restarted hub with the same limits folds from the stored events."""
    st = QueueState(m.site, help_limits=m.state.help_limits)
    st.apply_all(Event(e.id, e.site, e.device, e.seq, e.type, e.ts, json.loads(json.dumps(e.data))) for e in m.events)
    return st


def test_help_over_the_device_cap_replaces_that_devices_oldest(site):
    q = help_mem(site, per_device=2, repeat_s=0)
    first, second = (q(RequestHelp("kiosk-1"), T0 + i * SEC)["request"] for i in range(2))
    other = q(RequestHelp("kiosk-2"), T0 + 2 * SEC)["request"]
    r = q(RequestHelp("kiosk-1"), T0 + 3 * SEC)
    assert r["ok"] and r["replaces"] == [first] and r["open"] == 3
    assert [h["request"] for h in q.state.open_help(T0 + 3 * SEC)] == [second, other, r["request"]]
    # The replaced one is closed: answering it is refused, the others stay answerable.
    assert q(AnswerHelp(first), T0 + 4 * SEC)["error"] == "unknown_request"
    assert q(AnswerHelp(second, "1"), T0 + 4 * SEC)["ok"]
    assert q.types().count("help.requested") == 4


def test_help_over_the_site_cap_is_refused_for_a_device_without_one(site):
    q = help_mem(site, per_device=2, per_site=3, repeat_s=0)
    for i, dev in enumerate(["kiosk-1", "kiosk-1", "kiosk-2"]):
        assert q(RequestHelp(dev), T0 + i * SEC)["ok"]
    before = len(q.events)
    r = q(RequestHelp("kiosk-3"), T0 + 5 * SEC)
    assert r["error"] == "help_full" and r["open"] == 3 and len(q.events) == before  # nothing stored
    # A device already on the list still gets through: its newest replaces its oldest.
    r = q(RequestHelp("kiosk-1"), T0 + 6 * SEC)
    assert r["ok"] and len(r["replaces"]) == 1 and len(q.state.open_help(T0 + 6 * SEC)) == 3
    # Once one is answered there is room again.
    assert q(AnswerHelp(q.state.open_help(T0 + 6 * SEC)[0]["request"]), T0 + 7 * SEC)["ok"]
    assert q(RequestHelp("kiosk-3"), T0 + 8 * SEC)["ok"]


def test_help_repeated_within_repeat_s_joins_the_open_request_and_stores_nothing(site):
    q = help_mem(site, repeat_s=30)
    first = q(RequestHelp("kiosk-1"), T0)
    # A kiosk flooding: 10,000 requests, one a millisecond, all within the first 10 seconds.
    answers = [q(RequestHelp("kiosk-1"), T0 + i) for i in range(1, 10_001)]
    assert all(a["ok"] and a["request"] == first["request"] and a["repeat"] for a in answers)
    assert q.types() == ["help.requested"]
    # A clock stepped back is a repeat too, never a way around the limit.
    assert q(RequestHelp("kiosk-1"), T0 - 3600 * SEC)["repeat"]
    # After repeat_s a new request is made (someone else may need help at the same kiosk).
    later = q(RequestHelp("kiosk-1"), T0 + 30 * SEC)
    assert later["request"] != first["request"] and "repeat" not in later
    assert q.types() == ["help.requested", "help.requested"]


def test_help_expires_in_the_fold_and_a_restart_gives_the_same_open_requests(site):
    q = help_mem(site, per_device=2, per_site=4, repeat_s=0, expire_s=600)
    for i, dev in enumerate(["kiosk-1", "kiosk-2", "kiosk-1", "kiosk-1", "kiosk-3"]):
        assert q(RequestHelp(dev), T0 + i * 60 * SEC)["ok"]
    assert q(AnswerHelp(q.state.open_help(T0 + 5 * 60 * SEC)[1]["request"], "2"), T0 + 5 * 60 * SEC)["ok"]
    # Ten minutes after it was made a request is no longer open, with or without a new event.
    at = T0 + 11 * 60 * SEC + 1
    left = [h["request"] for h in q.state.open_help(at)]
    assert len(left) == 2 and q.state.snapshot(at)["help_count"] == 2
    assert q(AnswerHelp(q.events[0].data["request"]), at)["error"] == "unknown_request"
    assert q(RequestHelp("kiosk-4"), at)["ok"]
    for now in (T0, T0 + 5 * 60 * SEC, at, at + 5 * 60 * SEC, at + 20 * 60 * SEC):
        again = help_replay(q)
        assert again.open_help(now) == q.state.open_help(now), now
        assert again.snapshot(now)["help"] == q.state.snapshot(now)["help"]
        assert again.help == q.state.help
    # The fold forgets what expired (the requests of the first minutes): memory stays bounded.
    assert q.events[0].data["request"] not in q.state.help and len(q.state.help) == 3


def test_the_state_carries_a_count_and_the_newest_few(site):
    q = help_mem(site, per_site=50)
    reqs = [q(RequestHelp(f"kiosk-{i}"), T0 + i * SEC)["request"] for i in range(12)]
    snap = q.state.snapshot(T0 + 12 * SEC)
    assert snap["help_count"] == 12 and len(snap["help"]) == HELP_SHOWN
    assert [h["request"] for h in snap["help"]] == reqs[-HELP_SHOWN:]


# --- estimated wait: tests/test_estimate.py -------------------------------------------------

# --- day rollover --------------------------------------------------------------------------

def test_yesterdays_open_tickets_are_cancelled_with_day_closed(q):
    q(OpenCounter("2"), T0)
    a = q(TakeTicket("kela"), T0)["ticket"]
    b = q(TakeTicket("kela"), T0 + 1)["ticket"]
    c = q(TakeTicket("neuvonta"), T0 + 2)["ticket"]
    q(CallNext("2"), T0 + 3)  # a is at counter 2 when the day ends
    q(TakeTicket("dvv"), T0 + 4)
    d = q.state.tickets["2026-11-23/D001"].id
    q(NoShow("2"), T0 + 5)  # a: closed already, not cancelled again
    q(CallNext("2"), T0 + 6)  # b called
    since = len(q.events)
    tomorrow = hel(2026, 11, 24, 8, 0)
    r = q(TakeTicket("kela"), tomorrow)
    assert r["number"] == "K001" and r["ahead"] == 0
    cancelled = [e for e in q.events[since:] if e.type == "ticket.cancelled"]
    assert [e.data["ticket"] for e in cancelled] == [b, c, d]  # in arrival order, before the new ticket
    assert {e.data["reason"] for e in cancelled} == {"day_closed"}
    assert q.types(since) == ["ticket.cancelled"] * 3 + ["ticket.issued"]
    for t in (b, c, d):
        assert q.state.tickets[t].state == CANCELLED
    assert q.state.tickets[a].state == NO_SHOW
    assert q.state.counters["2"].current is None
    assert set(q.state.open_by_day) == {"2026-11-24"}
    assert q.state.waiting_count["kela"] == 1 and q.state.waiting_count["neuvonta"] == 0
    # Housekeeping runs before any command, even one that is refused, and only once.
    q2 = Mem(q.site)
    q2(TakeTicket("kela"), T0)
    assert q2(CallNext("1"), tomorrow)["error"] == "counter_closed"
    assert q2.types() == ["ticket.issued", "ticket.cancelled"]
    q2(CallNext("1"), tomorrow + 1)
    assert q2.types() == ["ticket.issued", "ticket.cancelled"]


def test_a_clock_stepped_back_does_not_cancel_todays_tickets(q):
    t = q(TakeTicket("kela"), T0)["ticket"]
    q(TakeTicket("kela"), hel(2026, 11, 22, 23, 0))  # NTP fixes a clock that ran ahead
    assert q.state.tickets[t].state == WAITING
    assert "ticket.cancelled" not in q.types()


# --- durability hand-off -------------------------------------------------------------------

def test_a_failed_commit_changes_nothing(q):
    open_all(q)
    q(TakeTicket("kela"), T0)
    before = dump(q.state, T0)
    n = len(q.events)
    q.fail_next_commit = True
    with pytest.raises(StoreFullError):
        q(CallNext("1"), T0 + MIN)
    assert dump(q.state, T0) == before and len(q.events) == n
    assert q(CallNext("1"), T0 + 2 * MIN)["number"] == "K001"


def test_authority_answers_store_failed_and_keeps_state(tmp_path, site, monkeypatch):
    with EventStore(tmp_path / "hub.sqlite", site.id, "hub-1") as store:
        auth = QueueAuthority(site, store)
        assert auth.handle(TakeTicket("kela"), T0)["number"] == "K001"

        def full(*a, **kw):
            raise StoreFullError("disk full")
        monkeypatch.setattr(store, "append_many", full)
        r = auth.handle(TakeTicket("kela"), T0 + 1)
        assert r["ok"] is False and r["error"] == "store_failed"
        monkeypatch.undo()
        assert auth.handle(TakeTicket("kela"), T0 + 2)["number"] == "K002"
        assert auth.last_events[-1].seq == 2


def test_authority_restart_folds_the_store(tmp_path, site):
    path = tmp_path / "hub.sqlite"
    with EventStore(path, site.id, "hub-1") as store:
        auth = QueueAuthority(site, store, clock=lambda: T0)
        for cid in site.counters:
            auth.handle(OpenCounter(cid))
        for s in ("kela", "kela", "neuvonta", "dvv"):
            auth.handle(TakeTicket(s))
        auth.handle(CallNext("1"), T0 + MIN)
        auth.handle(Transfer("1", "dvv"), T0 + 3 * MIN)
        before = dump(auth.state, T0 + 5 * MIN)
    with EventStore(path, site.id, "hub-1") as store:
        again = QueueAuthority(site, store, clock=lambda: T0 + 5 * MIN)
        assert dump(again.state, T0 + 5 * MIN) == before
        assert again.handle(TakeTicket("kela"))["number"] == "K003"
        assert again.handle(CallNext("3"))["number"] == "K001"  # the transfer, first at DVV


def test_position_and_waiting_tickets(q):
    a = q(TakeTicket("kela"), T0)["ticket"]
    b = q(TakeTicket("neuvonta"), T0)["ticket"]
    c = q(TakeTicket("kela"), T0)["ticket"]
    assert q.state.position(a) == 0 and q.state.position(c) == 1 and q.state.position(b) == 0
    assert q.state.position("nope") is None
    assert [t.id for t in q.state.waiting_tickets()] == [a, b, c]
    assert [t.id for t in q.state.waiting_tickets("kela")] == [a, c]


def test_authority_housekeep_closes_yesterdays_tickets_without_a_command(tmp_path, example_site):
    """The hub calls this on its heartbeat: at a new local day yesterday's queue disappears from
    the displays even before the first command of the morning."""
    import datetime as _dt

    from core.engine import TakeTicket
    from core.store import EventStore
    from hub.authority import QueueAuthority

    tz = example_site.tz
    evening = int(_dt.datetime(2026, 11, 23, 17, 0, tzinfo=tz).timestamp() * 1000)
    morning = int(_dt.datetime(2026, 11, 24, 7, 0, tzinfo=tz).timestamp() * 1000)
    with EventStore(tmp_path / "hub.sqlite", example_site.id, "hub-1") as store:
        auth = QueueAuthority(example_site, store)
        auth.handle(TakeTicket("kela"), evening)
        assert auth.housekeep(evening + 1000) == 0
        assert auth.housekeep(morning) == 1
        assert auth.state.waiting_count["kela"] == 0
        assert store.events()[-1].data == {"ticket": "2026-11-23/K001", "reason": "day_closed"}
        assert auth.housekeep(morning + 1000) == 0
