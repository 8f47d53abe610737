"""Wait estimates (issue 12): the play-forward estimator (core/estimate.py), the learnt service
times (core/servicetimes.py), the opening hours and counter plans (core/hours.py), and how the
engine shows them (est_wait_s, est_range_s, eta per number). Pure: no window, broker or database."""
from __future__ import annotations

import datetime as _dt

import pytest

from core import hours
from core.config import ConfigError, loads_site
from core.engine import (
    Appointment,
    CallNext,
    CheckIn,
    Finish,
    NoShow,
    OpenCounter,
    TakeTicket,
    Transfer,
    shown,
)
from core.estimate import APPT, TRANSFER, WALK_IN, CounterPlan, Waiting, play_forward
from core.servicetimes import DEFAULT_NO_SHOW_S, MAX_SAMPLE_S, NO_SHOW_PRIOR, Estimate, NoShows, ServiceTimes
from tests.test_engine import HEL, MIN, Mem, hel

# Two services on one shared counter: Kela slow (20 min), advice quick (5 min); counter 2 is
# Kela's own, with a lunch break.
SITE = """
[site]
id = "est-pp"
timezone = "Europe/Helsinki"
name = { fi = "E", sv = "E", en = "E" }

[opening_hours]
mon = "08:00-16:00"
tue = "08:00-16:00"
wed = "08:00-16:00"
thu = "08:00-16:00"
fri = "08:00-16:00"

[[opening_exceptions]]
date = "2026-12-24"
hours = "closed"

[[opening_exceptions]]
date = "2026-12-23"
hours = "08:00-12:00"

[[services]]
id = "neuvonta"
prefix = "N"
general_advice = true
default_service_min = 5
name = { fi = "N", sv = "N", en = "N" }

[[services]]
id = "kela"
prefix = "K"
default_service_min = 20
name = { fi = "K", sv = "K", en = "K" }

[[services]]
id = "poliisi"
prefix = "P"
default_service_min = 10
name = { fi = "P", sv = "P", en = "P" }

[[counters]]
id = "1"
name = { fi = "1", sv = "1", en = "1" }
services = ["kela", "neuvonta"]

[[counters]]
id = "2"
name = { fi = "2", sv = "2", en = "2" }
services = ["kela"]
breaks = ["11:00-12:00"]

[[counters]]
id = "3"
name = { fi = "3", sv = "3", en = "3" }
services = ["poliisi"]
hours = { mon = "08:00-12:00", tue = "08:00-12:00", wed = "08:00-12:00", thu = "08:00-12:00", fri = "08:00-12:00" }
"""

TUE = _dt.date(2026, 11, 24)  # a Tuesday


@pytest.fixture
def site():
    return loads_site(SITE)


def at(h, m=0, date=TUE):
    return hel(date.year, date.month, date.day, h, m)


def fixed(means: dict[str, float]):
    """Service times without spread: estimates are then exact sums."""
    def times(counter, service):
        return Estimate(means[service], 0.0)

    def remaining(counter, service, elapsed):
        return Estimate(max(means[service] - elapsed, 0.0), 0.0)
    return times, remaining


def plan(cid, services, *, open_=True, spans=None, busy=None, now=0):
    return CounterPlan(cid, tuple(services), open_, list(spans or [(now, now + 10 * 3600_000)]), busy)


# --- opening hours and plans -------------------------------------------------------------------

def test_opening_hours_with_dated_exceptions(site):
    assert hours.site_interval(site, TUE) == (at(8), at(16))
    assert hours.site_interval(site, _dt.date(2026, 11, 28)) is None  # a Saturday: no line, closed
    assert hours.site_interval(site, _dt.date(2026, 12, 24)) is None  # Christmas Eve, a Thursday
    assert hours.site_interval(site, _dt.date(2026, 12, 23)) == (at(8, 0, _dt.date(2026, 12, 23)),
                                                                  at(12, 0, _dt.date(2026, 12, 23)))
    assert hours.is_open(site, at(9)) and not hours.is_open(site, at(16)) and not hours.is_open(site, at(7, 59))
    # Tuesday evening: opens Wednesday 08:00; Christmas Eve (closed): the next opening is Friday the 25th
    # (this site has no exception for it); Saturday: Monday.
    assert hours.next_opening(site, at(17)) == at(8, 0, _dt.date(2026, 11, 25))
    assert hours.next_opening(site, at(9, 0, _dt.date(2026, 12, 24))) == at(8, 0, _dt.date(2026, 12, 25))
    assert hours.next_opening(site, at(9, 0, _dt.date(2026, 11, 28))) == at(8, 0, _dt.date(2026, 11, 30))
    assert hours.next_opening(site, at(9)) == at(9)  # open now
    assert hours.closing(site, at(9)) == at(16) and hours.closing(site, at(17)) is None


def test_counter_plans_cut_breaks_out_and_stay_within_the_sites_hours(site):
    assert hours.counter_spans(site, "1", TUE) == [(at(8), at(16))]
    assert hours.counter_spans(site, "2", TUE) == [(at(8), at(11)), (at(12), at(16))]
    assert hours.counter_spans(site, "3", TUE) == [(at(8), at(12))]
    short = _dt.date(2026, 12, 23)  # the site closes at 12: the counter's plan is clipped to it
    assert hours.counter_spans(site, "2", short) == [(at(8, 0, short), at(11, 0, short))]
    assert hours.counter_spans(site, "1", _dt.date(2026, 12, 24)) == []


def test_a_site_without_opening_hours_is_always_open():
    text = SITE.split("[opening_hours]")[0] + "[[services]]" + SITE.split("[[services]]", 1)[1]
    s = loads_site(text)
    assert not s.hours_configured and hours.is_open(s, at(3)) and hours.is_open(s, at(23, 30))
    assert hours.counter_spans(s, "1", TUE)[0][0] == at(0)


@pytest.mark.parametrize("bad, where", [
    ('[[counters]]\nid = "9"\nname = { fi = "9", sv = "9", en = "9" }\nservices = ["kela"]\nbreaks = ["12:00-11:00"]\n',
     "breaks"),
    ('[[counters]]\nid = "9"\nname = { fi = "9", sv = "9", en = "9" }\nservices = ["kela"]\nhours = { someday = "08:00-12:00" }\n',
     "hours"),
    ('[[opening_exceptions]]\ndate = "2026-02-30"\nhours = "closed"\n', "date"),
    ('[[opening_exceptions]]\ndate = "2026-12-24"\nhours = "08:00-10:00"\n', "listed twice"),
])
def test_bad_plans_are_named(bad, where):
    with pytest.raises(ConfigError) as exc:
        loads_site(SITE + bad)
    assert where in str(exc.value)


def test_until_midnight():
    s = loads_site(SITE.replace('mon = "08:00-16:00"', 'mon = "00:00-24:00"'))
    mon = _dt.date(2026, 11, 23)
    assert hours.is_open(s, at(23, 59, mon)) and hours.is_open(s, at(0, 0, mon))


# --- the play-forward estimator ------------------------------------------------------------------

def test_a_shared_counter_gives_the_later_ticket_of_the_slower_service_the_longer_wait():
    """Counter 1 serves Kela (20 min) and advice (5 min) in arrival order: the advice ticket that
    came after two Kela tickets waits for both of them, the counter's own service notwithstanding."""
    times, remaining = fixed({"kela": 1200, "neuvonta": 300})
    now = 0
    waiting = [Waiting("k1", "kela", WALK_IN, 1, now), Waiting("n1", "neuvonta", WALK_IN, 2, now),
               Waiting("k2", "kela", WALK_IN, 3, now), Waiting("n2", "neuvonta", WALK_IN, 4, now)]
    got = play_forward(now, waiting, [plan("1", ["kela", "neuvonta"])], times, remaining)
    assert [got[k].mean_s for k in ("k1", "n1", "k2", "n2")] == [0, 1200, 1500, 2700]
    # The slower service's later ticket waits longer than the quicker one's earlier ticket.
    assert got["k2"].mean_s > got["n1"].mean_s
    # The old rule (same service only, a shared counter as dedicated) gave n2 one advice ahead: 5 min.
    assert got["n2"].mean_s == 2700


def test_a_customer_in_service_counts_with_how_long_they_have_been_there():
    times, remaining = fixed({"kela": 1200})
    waiting = [Waiting("k1", "kela", WALK_IN, 1, 0)]
    fresh = play_forward(0, waiting, [plan("1", ["kela"], busy=("kela", 0))], times, remaining)
    late = play_forward(0, waiting, [plan("1", ["kela"], busy=("kela", 1000))], times, remaining)
    assert fresh["k1"].mean_s == 1200 and late["k1"].mean_s == 200


def test_a_lunch_break_pushes_the_waits_past_it():
    times, remaining = fixed({"kela": 1200})
    now = at(10, 50)
    waiting = [Waiting(f"k{i}", "kela", WALK_IN, i, now) for i in range(3)]
    got = play_forward(now, waiting, [plan("2", ["kela"], spans=[(at(8), at(11)), (at(12), at(16))])],
                       times, remaining)
    # k0 at 10:50, served until 11:10, ten minutes into the break; the break is then taken in
    # full (an hour from 11:10): k1 at 12:10, k2 at 12:30.
    assert [got[f"k{i}"].mean_s / 60 for i in range(3)] == [0, 80, 100]
    # A counter free before its break starts goes at 11:00 and is back at 12:00.
    got = play_forward(at(10, 30), [Waiting("k", "kela", WALK_IN, 1, at(10, 30))],
                       [plan("2", ["kela"], busy=("kela", 1200), spans=[(at(8), at(11)), (at(12), at(16))])],
                       times, remaining)
    assert got["k"].mean_s == 0  # the one in the chair is done already: called at once
    got = play_forward(at(10, 50), [Waiting("a", "kela", WALK_IN, 1, at(10, 50)),
                                    Waiting("b", "kela", WALK_IN, 2, at(10, 50))],
                       [plan("2", ["kela"], busy=("kela", 1200 - 300), spans=[(at(8), at(11)), (at(12), at(16))])],
                       times, remaining)
    assert got["a"].mean_s == 5 * 60 and got["b"].mean_s == (5 + 20 + 60) * 60  # a till 11:15, an hour off


def test_a_counter_due_to_open_counts_from_its_opening_and_a_closed_one_in_its_hours_soon():
    times, remaining = fixed({"kela": 1200})
    now = at(7, 30)
    waiting = [Waiting("k1", "kela", WALK_IN, 1, now)]
    got = play_forward(now, waiting, [plan("1", ["kela"], open_=False, spans=[(at(8), at(16))])], times, remaining)
    assert got["k1"].mean_s == 30 * 60
    from core.estimate import ABSENT_S
    got = play_forward(at(9), [Waiting("k1", "kela", WALK_IN, 1, at(9))],
                       [plan("1", ["kela"], open_=False, spans=[(at(8), at(16))])], times, remaining)
    assert got["k1"].mean_s == ABSENT_S


def test_due_appointments_and_transfers_go_first_and_booked_ones_count_when_due():
    times, remaining = fixed({"kela": 600})
    now = at(9)
    waiting = [Waiting("w1", "kela", WALK_IN, 1, now), Waiting("w2", "kela", WALK_IN, 2, now),
               Waiting("t1", "kela", TRANSFER, 3, now),
               # Booked for 9:15, not here yet: it goes before the walk-ins once due.
               Waiting("b1", "kela", APPT, 10, at(9, 15), due_ms=at(9, 15), present=False)]
    got = play_forward(now, waiting, [plan("1", ["kela"], now=now)], times, remaining)
    assert got["t1"].mean_s == 0           # the transfer first
    assert got["w1"].mean_s == 600         # 9:10
    assert got["b1"].mean_s == 1200        # 9:20: due at 9:15, called at the next free moment
    assert got["w2"].mean_s == 1800        # after the appointment that skipped it


def test_probes_take_no_time_and_move_nobody():
    times, remaining = fixed({"kela": 600, "neuvonta": 300})
    now = 0
    waiting = [Waiting("k1", "kela", WALK_IN, 1, now), Waiting("n1", "neuvonta", WALK_IN, 2, now)]
    probes = [Waiting("probe:kela", "kela", WALK_IN, 1 << 60, now, probe=True),
              Waiting("probe:neuvonta", "neuvonta", WALK_IN, 1 << 60, now, probe=True)]
    without = play_forward(now, waiting, [plan("1", ["kela", "neuvonta"])], times, remaining)
    with_ = play_forward(now, waiting + probes, [plan("1", ["kela", "neuvonta"])], times, remaining)
    assert {k: with_[k] for k in without} == without
    assert with_["probe:kela"].mean_s == with_["probe:neuvonta"].mean_s == 900


def test_after_the_last_span_the_queue_is_served_but_not_who_came_later():
    times, remaining = fixed({"poliisi": 3600})
    now = at(11)
    waiting = [Waiting("p1", "poliisi", WALK_IN, 1, at(10)), Waiting("p2", "poliisi", WALK_IN, 2, at(10, 30))]
    probe = Waiting("probe", "poliisi", WALK_IN, 1 << 60, now, probe=True)
    got = play_forward(now, waiting + [probe], [plan("3", ["poliisi"], spans=[(at(8), at(12))])], times, remaining)
    assert got["p1"].mean_s == 0 and got["p2"].mean_s == 3600  # p2 after closing: served all the same
    assert got["probe"].mean_s == 7200  # a newcomer now still comes before 12
    late = Waiting("late", "poliisi", WALK_IN, 1 << 60, at(12, 30), probe=True)
    closed = plan("3", ["poliisi"], open_=False, spans=[(at(8), at(12))])
    got = play_forward(at(12, 30), [late], [closed], times, remaining)
    assert got["late"] is None  # nobody serves Poliisi any more today
    # Still open at 12:30 (the clerk works on): a newcomer is served after all.
    got = play_forward(at(12, 30), [late], [plan("3", ["poliisi"], spans=[(at(8), at(12))])], times, remaining)
    assert got["late"].mean_s == 0


def test_the_spread_grows_with_the_services_ahead():
    def times(counter, service):
        return Estimate(600.0, 300.0 ** 2)
    waiting = [Waiting(f"k{i}", "kela", WALK_IN, i, 0) for i in range(5)]
    got = play_forward(0, waiting, [plan("1", ["kela"])], times, lambda c, s, e: times(c, s))
    sds = [got[f"k{i}"].sd_s for i in range(5)]
    assert sds == sorted(sds) and sds[0] == 0 and sds[4] == pytest.approx(600.0)  # sqrt(4 × 300²)
    lo, hi = shown(got["k4"])
    assert lo < 2400 < hi  # around the mean; the high end is the one promised
    assert shown(got["k0"]) == [0, 0]  # the first in line, at an idle counter: now


# --- learnt service times ------------------------------------------------------------------------

def test_service_times_start_from_the_default_and_shrug_off_outliers():
    st = ServiceTimes({"kela": 1200})
    assert st.service("kela").mean_s == 1200
    for _ in range(30):
        st.learn("kela", 600)
    st.learn("kela", 3 * 3600)   # a two-hour case: trimmed away
    st.learn("kela", 5)          # a mistaken "finish": not learnt at all
    st.learn("kela", MAX_SAMPLE_S + 1)
    assert st.samples("kela") == 31
    assert 600 <= st.service("kela").mean_s < 700
    assert st.service("poliisi").mean_s == 600  # no default configured: ten minutes


def test_a_counter_with_its_own_pace_gets_its_own_figure():
    st = ServiceTimes({"kela": 600})
    for _ in range(20):
        st.learn("kela", 600, "1")
        st.learn("kela", 1200, "2")   # a trainee at counter 2
    one, two = st.at("1", "kela").mean_s, st.at("2", "kela").mean_s
    assert one < st.service("kela").mean_s < two and two > 1000


# --- the engine shows them -------------------------------------------------------------------------

def test_the_engine_estimates_every_waiting_ticket_and_a_newcomer_per_service(site):
    q = Mem(site)
    now = at(9)
    q(OpenCounter("1"), now)
    r1 = q(TakeTicket("kela"), now)
    r2 = q(TakeTicket("neuvonta"), now)
    # Counter 2 is closed although its plan says it works: assumed to open soon; counter 1 takes K001.
    snap = q.state.snapshot(now)
    assert set(snap["eta"]) == {r1["number"], r2["number"]}
    assert snap["services"]["kela"]["est_range_s"] == shown(q.state.estimates(now)["probe:kela"])
    assert snap["open"] is True and snap["opens_ms"] is None
    # The reply's figure is the newcomer's estimate of the moment before.
    r3 = q(TakeTicket("neuvonta"), now)
    assert r3["est_wait_s"] == snap["services"]["neuvonta"]["est_wait_s"]
    assert r3["est_range_s"][0] <= r3["est_wait_s"] == r3["est_range_s"][1]


def test_after_hours_the_state_says_when_the_site_opens_and_closed_services_have_no_wait(site):
    q = Mem(site)
    snap = q.state.snapshot(at(17))
    assert snap["open"] is False and snap["opens_ms"] == at(8, 0, _dt.date(2026, 11, 25))
    assert all(s["est_wait_s"] is None for s in snap["services"].values())
    # Poliisi's only counter works mornings: in the afternoon the service is closed for the day.
    snap = q.state.snapshot(at(13))
    assert snap["services"]["poliisi"]["est_wait_s"] is None
    assert snap["services"]["kela"]["est_wait_s"] is not None


def test_a_checked_in_appointment_gets_its_own_estimate_not_the_walk_ins(site):
    appts = [Appointment("BOOK01", "kela", at(9, 30))]
    q = Mem(site, appts)
    now = at(9, 20)
    q(OpenCounter("1"), now)
    for _ in range(4):
        q(TakeTicket("kela"), now)
    walk_in = q.state.snapshot(now)["services"]["kela"]["est_wait_s"]
    r = q(CheckIn("BOOK01"), now)
    assert r["ok"] and r["est_wait_s"] < walk_in  # due at 9:30, it goes before the walk-ins


def test_learnt_times_come_from_finishes_and_the_first_authority_of_a_transfer(site):
    q = Mem(site)
    now = at(9)
    q(OpenCounter("1"), now)
    q(TakeTicket("kela"), now)
    q(CallNext("1"), now)
    q(Transfer("1", "neuvonta"), now + 10 * MIN)
    q(CallNext("1"), now + 10 * MIN)
    q(Finish("1"), now + 13 * MIN)
    assert q.state.times.learnt() == {"kela": (600.0,), "neuvonta": (180.0,), "1/kela": (600.0,),
                                      "1/neuvonta": (180.0,)}
    assert q.replay().times.learnt() == q.state.times.learnt()
    assert HEL is not None


def test_a_call_costs_a_service_or_as_often_as_customers_do_not_come_the_clerks_wait():
    times, remaining = fixed({"kela": 600})
    waiting = [Waiting(f"k{i}", "kela", WALK_IN, i, 0) for i in range(4)]
    plain = play_forward(0, waiting, [plan("1", ["kela"])], times, remaining)
    half = play_forward(0, waiting, [plan("1", ["kela"])], times, remaining, no_show=(0.5, 60.0))
    assert plain["k3"].mean_s == 3 * 600
    assert half["k3"].mean_s == 3 * (0.5 * 600 + 0.5 * 60)  # three calls ahead, each 330 s on average
    assert half["k3"].sd_s > 0  # come or not: a call's time varies even when services do not


def test_no_shows_are_learnt_from_the_fold_and_shorten_the_waits(site):
    """A called customer who does not come costs the clerk the wait before "no-show", not a
    service: learnt from the site's own calls (rate pulled towards none by NO_SHOW_PRIOR calls),
    folded like the service times, so a replay gives the same figures."""
    q = Mem(site)
    now = at(9)
    q(OpenCounter("1"), now)
    t = now
    for i in range(10):
        q(TakeTicket("kela"), t)
        q(CallNext("1"), t)
        if i % 2:
            t += 2 * MIN
            q(NoShow("1"), t)
        else:
            t += 10 * MIN
            q(Finish("1"), t)
    seen = q.state.no_shows_seen
    assert seen.rate() == 5 / (10 + NO_SHOW_PRIOR) and seen.cost_s() == 120.0
    replayed = q.replay().no_shows_seen
    assert (replayed.rate(), replayed.cost_s()) == (seen.rate(), seen.cost_s())
    for _ in range(6):
        q(TakeTicket("kela"), t)
    with_ = q.state.estimates(t)["probe:kela"].mean_s
    q.state.no_shows_seen = NoShows()  # the same queue, nobody ever missing
    assert with_ < q.state.estimates(t)["probe:kela"].mean_s


def test_no_show_figures_ignore_nonsense_and_start_from_none():
    n = NoShows()
    assert n.rate() == 0.0 and n.cost_s() == DEFAULT_NO_SHOW_S
    for waited in (None, True, -5, 0, MAX_SAMPLE_S + 1, "60"):
        n.missed(waited)  # still a no-show, but no wait to learn from
    assert n.cost_s() == DEFAULT_NO_SHOW_S and n.rate() == 6 / (6 + NO_SHOW_PRIOR)
    n.missed(90.0)
    n.served()
    assert n.cost_s() == 90.0 and n.rate() == 7 / (8 + NO_SHOW_PRIOR)


def test_transfers_to_come_pass_a_long_wait_at_the_rate_they_came():
    """Four transfers an hour came into Kela lately: a walk-in facing an hour's queue sees about
    four of them go first (transfers go before walk-ins)."""
    times, remaining = fixed({"kela": 600})
    now = 0
    waiting = [Waiting(f"w{i}", "kela", WALK_IN, i, now) for i in range(6)]
    without = play_forward(now, waiting, [plan("1", ["kela"])], times, remaining)
    with_ = play_forward(now, waiting, [plan("1", ["kela"])], times, remaining, inflow={"kela": 4.0},
                         until_ms=now + 8 * 3600_000)
    assert without["w5"].mean_s == 3000
    # They come every 15 minutes from 7.5 on, and each one served makes the walk-ins wait longer,
    # so that more come before them: nine pass w5 before it is called at 140 min.
    assert with_["w5"].mean_s == 3000 + 9 * 600
    assert set(with_) == set(without)  # the transfers to come are no tickets of their own


def test_the_engine_learns_the_transfer_rate_from_its_own_transfers(site):
    q = Mem(site)
    now = at(9)
    q(OpenCounter("1"), now)
    for i in range(3):
        q(TakeTicket("neuvonta"), now + i * 10 * MIN)
        q(CallNext("1"), now + i * 10 * MIN)
        assert q(Transfer("1", "poliisi"), now + i * 10 * MIN + 5 * MIN)["ok"]
    def inflow(t: int) -> dict[str, float]:
        return q.state._inflow(t, hours.site_interval(site, hours.local_date(site, t)))

    # Three since the site opened at 8:00, an hour and a half ago: two an hour.
    assert inflow(now + 30 * MIN) == {"poliisi": 2.0}
    # The day's rate, not the last hour's: at 14:00, three in six hours (rare transfers are not a
    # rate of twenty an hour after one, nor none an hour later).
    assert inflow(now + 5 * 3600_000) == {"poliisi": 0.5}
    assert inflow(now + 24 * 3600_000) == {}  # the next day: today's only
