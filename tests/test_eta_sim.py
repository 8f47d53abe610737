"""The wait-estimate simulator (bench/eta_sim.py) and its benchmark's output, not the estimates'
quality: the simulated days must be what the benchmark claims they are."""
from __future__ import annotations

import json
import math
from dataclasses import replace

import pytest

from bench import eta_bench
from bench.eta_sim import (
    SCENARIOS,
    Day,
    DayResult,
    at,
    calls_by_counter,
    compare,
    metrics,
    offered_load,
    plan_keys_accepted,
    scaled,
    simulate,
    site_toml,
    work_s,
)
from core.config import loads_site
from core.engine import CallNext, OpenCounter, TakeTicket
from core.servicetimes import WINDOW

MIN = 60


@pytest.fixture(scope="module")
def days() -> dict[str, DayResult]:
    """One whole day of every scenario (a tenth of a second each)."""
    return {name: simulate(scn, 1) for name, scn in SCENARIOS.items()}


def test_same_seed_same_day():
    scn = scaled(SCENARIOS["busy"], 3)
    a, b = simulate(scn, 7), simulate(scn, 7)
    assert a.records == b.records
    assert [(e.type, e.ts, e.data) for e in a.events] == [(e.type, e.ts, e.data) for e in b.events]
    assert simulate(scn, 8).records != a.records


def test_every_called_customer_has_a_record(days):
    for r in days.values():
        assert r.records
        called = {e.data["ticket"] for e in r.events if e.type == "ticket.called"}
        assert {x.ticket for x in r.records} == called
        assert all(x.called_ms is not None and x.called_ms >= x.issued_ms for x in r.records)


def test_shared_counters_serve_several_services(days):
    for name, r in days.items():
        shared = [c.id for c in SCENARIOS[name].counters if len(c.services) > 1]
        assert shared, name
        calls = calls_by_counter(r.events)
        for cid in shared:
            assert len(calls[cid]) > 1, (name, cid, calls[cid])


def test_site_declares_hours_and_breaks():
    scn = SCENARIOS["breaks"]
    assert loads_site(site_toml(scn, plan=False)).counters["1"].breaks == ()  # the fallback parses
    if not plan_keys_accepted():
        pytest.skip("core.config does not know counter hours and breaks yet")
    site = loads_site(site_toml(scn))
    for c in scn.counters:
        got = site.counters[c.id]
        assert [(a.strftime("%H:%M"), b.strftime("%H:%M")) for a, b in got.breaks] == list(c.breaks)
    assert site.counters["4"].hours is not None and site.counters["4"].hours["*"][0].hour == 9


def test_no_call_during_a_break_and_the_counter_closes_for_it(days):
    for name, r in days.items():
        for c in SCENARIOS[name].counters:
            for a, b in c.breaks:
                start, end = at(a), at(b)
                assert not [e for e in r.events if e.type == "ticket.called" and e.data["counter"] == c.id
                            and start <= e.ts < end], (name, c.id, a)
                closed = [e.ts for e in r.events if e.type == "counter.closed" and e.data["counter"] == c.id]
                assert any(start <= ts < end for ts in closed), (name, c.id, a)


def test_counter_four_starts_at_nine(days):
    for r in days.values():
        first = min(e.ts for e in r.events if e.type == "ticket.called" and e.data["counter"] == "4")
        assert first >= at("09:00")


def test_transfers_and_no_shows_happen(days):
    assert sum(r.tally("ticket.transferred") for r in days.values()) > 0
    assert sum(r.tally("ticket.no_show") for r in days.values()) > 0
    assert sum(r.tally("ticket.issued") - len([x for x in r.records if x.kind == "walk_in"])
               for r in days.values()) > 0  # appointments checked in
    assert all(any(x.kind == "appointment" for x in r.records) for r in days.values())


def test_busy_is_busier_than_quiet(days):
    assert days["busy"].utilisation() > days["quiet"].utilisation()
    assert days["busy"].max_waiting >= 10
    assert days["overload"].max_waiting > days["busy"].max_waiting  # the same day with more customers


def test_the_hub_has_served_earlier_days():
    """A hub in use has its earlier days in its fold: the measured day starts with every service's
    window of learnt times and a learnt no-show rate, but those days are not measured."""
    d = Day(SCENARIOS["quiet"], 1)
    d.history()
    for s in SCENARIOS["quiet"].services:
        assert d.state.times.samples(s.id) == WINDOW, s.id
    assert 0 < d.state.no_shows_seen.rate() < 0.1
    r = simulate(SCENARIOS["quiet"], 1)
    assert min(e.ts for e in r.events) >= at("00:00")  # only the measured day's events
    first = next(e for e in r.events if e.type == "ticket.issued")
    assert first.data["n"] == 1  # numbers start afresh on the day


def test_metrics_on_hand_made_numbers():
    # Promised 10 min, waited 25: 15 min late, a broken promise.
    m = metrics([(10 * MIN, 25 * MIN)])
    assert m == {"mae_min": 15.0, "bias_min": -15.0, "within5_share": 0.0, "broken10_share": 1.0}
    # Promised 10, waited 20: exactly 10 late is not broken; 5 pessimistic is within five.
    m = metrics([(10 * MIN, 20 * MIN), (10 * MIN, 5 * MIN)])
    assert m == {"mae_min": 7.5, "bias_min": -2.5, "within5_share": 0.5, "broken10_share": 0.0}
    assert metrics([])["mae_min"] == 0.0


def test_ql_predictor_counts_busy_counters():
    d = Day(SCENARIOS["quiet"], 1)
    now = at("09:00")
    d.engine.handle(OpenCounter("3"), now)  # the one poliisi counter open, idle
    assert d.ql_wait_s("poliisi", 0, now) == 0.0
    d.engine.handle(TakeTicket("poliisi"), now)
    d.engine.handle(CallNext("3"), now)
    m = SCENARIOS["quiet"].true_mean_s("poliisi")
    assert math.isclose(d.ql_wait_s("poliisi", 2, now), 3 * m)
    assert math.isclose(d.ql_wait_s("te", 1, now), 2 * SCENARIOS["quiet"].true_mean_s("te"))  # none open: s = 1


def test_old_predictor_is_the_estimate_issue_12_measured():
    """ahead × mean / open counters, plus half a service when every one is busy or none is open."""
    d = Day(SCENARIOS["quiet"], 1)
    now = at("09:00")
    m = SCENARIOS["quiet"].true_mean_s("poliisi")
    assert math.isclose(d.old_wait_s("poliisi", 2, now), 2 * m + m / 2)  # none open: one assumed
    d.engine.handle(OpenCounter("3"), now)
    assert d.old_wait_s("poliisi", 0, now) == 0.0  # open and idle
    d.engine.handle(TakeTicket("poliisi"), now)
    d.engine.handle(CallNext("3"), now)
    assert math.isclose(d.old_wait_s("poliisi", 2, now), 2.5 * m)


def test_offered_load_orders_the_scenarios():
    """The work customers bring against the counters working: without transfers and no-shows it is
    the services' true means weighed by their shares; overload brings more than the counters can
    serve, busy more than quiet."""
    plain = replace(SCENARIOS["quiet"], transfer_p=0, advice_transfer_p=0, noshow_p=0, appt_share=0)
    want = sum(s.share * plain.true_mean_s(s.id) for s in plain.services) / sum(s.share for s in plain.services)
    assert math.isclose(work_s(plain), want)
    assert work_s(SCENARIOS["quiet"]) > want  # transfers bring more work than no-shows save
    loads = {name: offered_load(scn) for name, scn in SCENARIOS.items()}
    assert loads["quiet"] < 1 < loads["busy"] < loads["overload"]


def test_compare_uses_the_same_customers(days):
    r = days["quiet"]
    out = compare(r.records)
    assert set(out) == {"engine", "ql", "old"}


def test_bench_prints_one_json_line_of_the_right_shape(capsys):
    assert eta_bench.main(["--days", "1", "--hours", "1.5"]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    out = json.loads(last)
    assert list(out) == ["quiet", "busy", "breaks", "overload", "reestimate_p99_ms"]
    for name in ("quiet", "busy", "breaks", "overload"):
        assert list(out[name]) == ["engine", "ql", "old"]
        for pred in out[name].values():
            assert list(pred) == ["mae_min", "bias_min", "within5_share", "broken10_share"]
            assert all(isinstance(v, float | int) for v in pred.values())
    assert out["reestimate_p99_ms"] > 0
