"""The central roll-ups (issue 13): figures that add up. Two sites' month of events go into a real
PostgreSQL in shuffled batches; the national and per-authority medians and 90th percentiles of
the views are checked against a direct computation over the raw events, the counts against
core/figures.py, and a rebuild must give identical roll-ups. Then the small-cell rule in the
view, the export and the figures command; the read-only role; retention."""
from __future__ import annotations

import csv
import datetime as _dt
import json
import math
import random
import statistics
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from central import rollups
from central.monthly import level_rows
from central.store import CentralStore, grant_readonly
from core import histogram
from core.config import loads_site
from core.events import Event
from core.figures import SITE_LEVEL, Row, figures
from core.rollup import HOUR_COLUMNS
from tests.support.national import SITES, month_of_events, ms, site_text, store_shuffled

REPO = Path(__file__).resolve().parent.parent
@pytest.fixture
def national(central_dsn):
    """Two sites' November, stored; both configurations registered first."""
    db = CentralStore(central_dsn)
    for site in SITES:
        db.begin()
        db.register_site(loads_site(site_text(site)), site_text(site))
        db.commit()
    events = month_of_events("site-a", 1) + month_of_events("site-b", 2)
    store_shuffled(db, events, random.Random(3))
    yield db, events
    db.close()


def first_call_waits(events: list[Event], service_ids: set[str] | None = None) -> list[float]:
    seen, out = set(), []
    for e in sorted(events, key=lambda e: (e.site, e.device, e.seq)):
        if e.type == "ticket.called" and (service_ids is None or e.data["service"] in service_ids):
            key = (e.site, e.data["ticket"], e.data["service"])
            if key not in seen:
                seen.add(key)
                out.append(e.data["waited_s"])
    return out


def nearest_rank(values: list[float], q: float) -> float:
    v = sorted(values)
    return v[max(1, math.ceil(q * len(v))) - 1]


def within_a_bin(minutes: float, exact_s: float) -> bool:
    lo, hi = histogram.bounds(histogram.bin_of(exact_s))
    return abs(minutes * 60 - exact_s) <= (hi - lo) + 3  # + the view's rounding to 0.1 min


def test_national_and_authority_quantiles_match_the_raw_events(national):
    db, events = national
    nation = level_rows(db.conn, "nation", "2026-11")
    assert len(nation) == 1
    n = nation[0]
    waits = first_call_waits(events)
    assert n["waiting_n"] == len(waits) and n["withheld"] == []
    assert within_a_bin(n["waiting_median_min"], nearest_rank(waits, 0.5))
    assert within_a_bin(n["waiting_p90_min"], nearest_rank(waits, 0.9))
    assert abs(n["waiting_mean_min"] - statistics.fmean(waits) / 60) <= 0.051
    # Kela is one row across both sites, whatever each site calls the service.
    kela = {r["authority"]: r for r in level_rows(db.conn, "authority", "2026-11")}["kela"]
    kela_waits = first_call_waits(events, {"kela", "kansanelake"})
    assert kela["waiting_n"] == len(kela_waits)
    assert within_a_bin(kela["waiting_median_min"], nearest_rank(kela_waits, 0.5))
    assert within_a_bin(kela["waiting_p90_min"], nearest_rank(kela_waits, 0.9))
    # The average of the two sites' medians is not the national median; the roll-ups do not average.
    regions = {r["region"]: r for r in level_rows(db.conn, "region", "2026-11")}
    assert set(regions) == {"MK01", "MK19"}
    assert regions["MK01"]["tickets"] + regions["MK19"]["tickets"] == n["tickets"]


def test_counts_and_feedback_match_the_figures_of_the_raw_events(national):
    db, events = national
    rows = [Row(e.site, e.type, e.ts, e.data) for e in events]
    sites = {s: loads_site(site_text(s)) for s in SITES}
    direct = figures(rows, sites=sites)
    per_site = {r["site"]: r for r in level_rows(db.conn, "site", "2026-11")}
    for site in SITES:
        want = direct[site]["2026-11"]["services"][SITE_LEVEL]
        got = per_site[site]
        assert (got["tickets"], got["walk_in"], got["appointment"], got["no_show"], got["transferred"]) == \
            (want["tickets"], want["walk_in"], want["appointment"], want["no_show"], want["transferred"])
        assert got["tickets_per_open_hour"] == want["tickets_per_open_hour"]
        assert got["within_target_share"] == want["within_target_share"]
        assert got["waiting_n"] == want["waiting"]["n"] and got["service_n"] == want["service"]["n"]
        sat = want["satisfaction"]
        assert (got["responses"], got["positive"], got["neutral"], got["negative"], got["flagged_left_out"]) == \
            (sat["n"], sat["positive"], sat["neutral"], sat["negative"], sat["flagged_left_out"])
        assert got["satisfaction_mean"] == sat["mean_of_5"]
        assert (got["done"], got["started"], got["not_done"]) == tuple(want["matter"][k] for k in
                                                                      ("done", "started", "not_done"))
        assert got["self_service_yes"] == want["could_do_it_yourself"]["yes"]
        assert got["printer_faults"] == direct[site]["2026-11"]["printer_faults"]


def test_a_rebuild_gives_identical_roll_ups(national):
    db, events = national
    before = rollups.snapshot(db.conn)
    assert before["rollup_hours"] and before["rollup_hist"] and before["feedback_responses"]
    assert rollups.rebuild(db.conn) == len(events)
    assert rollups.snapshot(db.conn) == before
    # Only one month again, with a third month stored meanwhile: the other months untouched.
    db.begin()
    db.insert_events(month_of_events("site-a", 4, month=12)[:0])  # nothing: a no-op batch is fine
    db.commit()
    rollups.rebuild(db.conn, since_month="2026-11", sites=["site-b"])
    assert rollups.snapshot(db.conn) == before


def month_tables(conn) -> tuple[list, list, list, list]:
    """rollup_month and feedback_month as stored, and as summed again from their detail."""
    cols = ", ".join(f"sum({c})" for c in HOUR_COLUMNS)
    fb = ("count(*), count(rating), count(rating), coalesce(sum(1 + (rating - 1) * 4.0 / (scale - 1)), 0), "
          "count(*) FILTER (WHERE sentiment = 'positive'), count(*) FILTER (WHERE sentiment = 'neutral'), "
          "count(*) FILTER (WHERE sentiment = 'negative'), count(outcome), "
          "count(*) FILTER (WHERE outcome = 'done'), count(*) FILTER (WHERE outcome = 'started'), "
          "count(*) FILTER (WHERE outcome = 'not_done'), count(self_service), "
          "count(*) FILTER (WHERE self_service = 'yes'), count(*) FILTER (WHERE self_service = 'no'), "
          "count(*) FILTER (WHERE flagged)")
    q = lambda sql: sorted(tuple(r) for r in conn.execute(sql))  # noqa: E731
    return (q(f"SELECT site, service, month, {', '.join(HOUR_COLUMNS)} FROM rollup_month"),
            q(f"SELECT site, service, month, {cols} FROM rollup_hours GROUP BY site, service, month"),
            q("SELECT site, service, month, n, responses, score_n, score_sum, positive, neutral, negative, "
              "matter_n, done, started, not_done, self_service_n, self_service_yes, self_service_no, flagged "
              "FROM feedback_month"),
            q(f"SELECT site, service, month, {fb} FROM feedback_responses GROUP BY site, service, month"))


def test_the_month_tables_are_the_sums_of_their_detail(national):
    db, _ = national
    months, from_hours, feedback, from_responses = month_tables(db.conn)
    assert months and months == from_hours
    assert feedback and feedback == from_responses


def test_a_replaced_response_leaves_its_old_service_and_month(central_dsn):
    """A response's later snapshot moves it to another service and month: the month table takes it
    out of the old row (deleted when empty) and an older snapshot arriving late changes nothing."""
    db = CentralStore(central_dsn)
    db.begin()
    db.register_site(loads_site(site_text("site-a")), site_text("site-a"))
    db.commit()

    def give(seq: int, rev: int, day: _dt.date, service: str, rating: int) -> None:
        db.begin()
        db.insert_events([Event(id=f"fb{seq:06d}", site="site-a", device="feedback-1", seq=seq,
                                type="feedback.given", ts=ms(day, 600),
                                data={"response": "r1", "rev": rev, "rating": rating, "scale": 5,
                                      "service": service, "outcome": "done"})])
        db.commit()

    give(1, 1, _dt.date(2026, 10, 31), "vero", 2)
    give(2, 3, _dt.date(2026, 11, 2), "kela", 5)
    give(3, 2, _dt.date(2026, 11, 2), "vero", 1)  # rev 2 after rev 3: ignored
    months, from_hours, feedback, from_responses = month_tables(db.conn)
    assert feedback == from_responses
    # (site, service, month, n, responses, score_n, score_sum): the rating of rev 3 only
    assert [r[:7] for r in feedback] == [("site-a", "kela", "2026-11", 1, 1, 1, 5)]
    db.close()


def test_migration_4_sums_what_was_stored_before_it(central_dsn):
    """A database made before the month tables: migration 4 fills them from the detail."""
    from central.migrations import MIGRATIONS

    with psycopg.connect(central_dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE schema_migrations (version integer PRIMARY KEY, applied_ms bigint NOT NULL)")
        for version, sql in enumerate(MIGRATIONS[:3], start=1):
            conn.execute(sql)
            conn.execute("INSERT INTO schema_migrations VALUES (%s, 0)", (version,))
        conn.execute("INSERT INTO rollup_hours VALUES ('site-a', 'vero', '2026-11-02', 9, '2026-11', "
                     + ", ".join(str(i + 1) for i in range(len(HOUR_COLUMNS))) + ")")
        conn.execute("INSERT INTO rollup_hours VALUES ('site-a', 'vero', '2026-11-03', 10, '2026-11', "
                     + ", ".join("1" for _ in HOUR_COLUMNS) + ")")
        for i, (rating, flagged) in enumerate([(4, False), (None, True), (2, False)]):
            conn.execute("INSERT INTO feedback_responses VALUES ('site-a', %s, 1, 'feedback-1', %s, 'vero', "
                         "'2026-11-02', '2026-11', 9, %s, 5, NULL, 'done', 'yes', %s)",
                         (f"r{i}", i + 1, rating, flagged))
    db = CentralStore(central_dsn)
    months, from_hours, feedback, from_responses = month_tables(db.conn)
    assert months == from_hours and months[0][3] == 2
    assert feedback == from_responses and feedback[0][3:5] == (3, 2)
    db.close()


def test_the_same_batch_twice_counts_once(national):
    db, events = national
    before = rollups.snapshot(db.conn)
    db.begin()
    assert db.insert_events(events[:500]) == 0
    db.commit()
    assert rollups.snapshot(db.conn) == before


def test_histogram_arithmetic_is_the_same_in_sql_and_python(central_dsn):
    db = CentralStore(central_dsn)
    for b in list(range(0, histogram.OVERFLOW + 1, 7)) + [119, 120, 269, 270, histogram.OVERFLOW]:
        lo, hi = db.conn.execute("SELECT lo, hi FROM pp_bin_bounds(%s)", (b,)).fetchone()
        assert (lo, hi) == histogram.bounds(b), b
    rng = random.Random(5)
    for _ in range(50):
        counts = {rng.randrange(0, histogram.OVERFLOW + 1): rng.randrange(1, 40) for _ in range(rng.randrange(1, 12))}
        bins = sorted(counts)
        for q in (0.5, 0.9):
            sql = db.conn.execute("SELECT pp_quantile(%s::integer[], %s::bigint[], %s)",
                                  (bins, [counts[b] for b in bins], q)).fetchone()[0]
            assert sql == pytest.approx(histogram.quantile(counts, q)), (counts, q)
    db.close()


def four_responses(dsn: str) -> None:
    """One authority's month with 4 feedback responses (and 6 tickets) at site-a."""
    db = CentralStore(dsn)
    db.begin()
    db.register_site(loads_site(site_text("site-a")), site_text("site-a"))
    d = _dt.date(2026, 11, 3)
    evs = [Event(id=f"fb{i:06d}", site="site-a", device="feedback-1", seq=i + 1, type="feedback.given",
                 ts=ms(d, 60 + i), data={"response": f"{i:08x}", "rev": 1, "rating": 4, "scale": 5,
                                         "service": "vero", "outcome": "done"})
           for i in range(4)]
    evs += [Event(id=f"tk{i:06d}", site="site-a", device="hub-1", seq=i + 1, type="ticket.issued", ts=ms(d, i),
                  data={"ticket": f"2026-11-03/V{i:03d}", "service": "vero", "kind": "walk_in"}) for i in range(6)]
    db.insert_events(evs)
    db.commit()
    db.close()


def test_four_responses_are_withheld_in_the_view_the_export_and_the_command(central_dsn, tmp_path):
    four_responses(central_dsn)
    with psycopg.connect(central_dsn) as conn:
        row = [r for r in level_rows(conn, "authority", "2026-11") if r["authority"] == "vero"][0]
    assert row["tickets"] == 6  # six tickets: shown
    assert row["responses"] is None and row["satisfaction_mean"] is None and row["positive_share"] is None
    assert "satisfaction" in row["withheld"] and "matter" in row["withheld"]
    # The export: an empty cell and the group named, never a zero.
    out = subprocess.run([sys.executable, "-m", "cli", "central", "export", "--db", central_dsn, "--month", "2026-11",
                          "--format", "csv", "--out", str(tmp_path / "csv")], cwd=REPO, capture_output=True,
                         text=True)
    assert out.returncode == 0, out.stderr
    with open(tmp_path / "csv" / "monthly_authority-2026-11.csv", newline="") as f:
        vero = [r for r in csv.DictReader(f) if r["authority"] == "vero"][0]
    assert vero["responses"] == "" and vero["satisfaction_mean"] == "" and "satisfaction" in vero["withheld"]
    assert vero["tickets"] == "6"
    out = subprocess.run([sys.executable, "-m", "cli", "central", "export", "--db", central_dsn, "--month", "2026-11",
                          "--format", "parquet", "--out", str(tmp_path / "pq")], cwd=REPO, capture_output=True,
                         text=True)
    assert out.returncode == 0, out.stderr
    import pyarrow.parquet as pq

    table = pq.read_table(tmp_path / "pq" / "monthly_authority-2026-11.parquet").to_pylist()
    pvero = [r for r in table if r["authority"] == "vero"][0]
    assert pvero["responses"] is None and "satisfaction" in pvero["withheld"] and pvero["tickets"] == 6
    assert len(list((tmp_path / "pq").glob("*.parquet"))) == len(list((tmp_path / "csv").glob("*.csv"))) == 10
    # The figures command, as JSON and as a table.
    fig = json.loads(subprocess.run([sys.executable, "-m", "cli", "central", "figures", "--db", central_dsn,
                                     "--month", "2026-11", "--json"], cwd=REPO, capture_output=True, text=True,
                                    check=True).stdout)
    vero_fig = fig["site-a"]["2026-11"]["services"]["vero"]
    assert vero_fig["satisfaction"]["n"] is None and "satisfaction" in vero_fig["withheld"]
    assert vero_fig["tickets"] == 6
    table_text = subprocess.run([sys.executable, "-m", "cli", "central", "figures", "--db", central_dsn],
                                cwd=REPO, capture_output=True, text=True, check=True).stdout
    vero_line = [ln for ln in table_text.splitlines() if ln.startswith("vero")][0]
    assert "withheld" in vero_line
    # The threshold is a setting: at 4 the same responses are shown.
    subprocess.run([sys.executable, "-m", "cli", "central", "settings", "--db", central_dsn, "--small-cell", "4"],
                   cwd=REPO, check=True, capture_output=True)
    with psycopg.connect(central_dsn) as conn:
        row = [r for r in level_rows(conn, "authority", "2026-11") if r["authority"] == "vero"][0]
    assert row["responses"] == 4 and row["withheld"] == []


def test_a_read_only_role_reads_the_views_and_nothing_else(central_dsn, postgres):
    four_responses(central_dsn)
    dbname = psycopg.conninfo.conninfo_to_dict(central_dsn)["dbname"]
    role = f"analyst_{dbname}"[:60]
    with psycopg.connect(central_dsn, autocommit=True) as conn:
        conn.execute(psycopg.sql.SQL("CREATE ROLE {} LOGIN").format(psycopg.sql.Identifier(role)))
        grant_readonly(conn, role)
    # The views are made again on every start: the grant must survive that.
    CentralStore(central_dsn).close()
    reader = central_dsn.replace(f"user={psycopg.conninfo.conninfo_to_dict(central_dsn)['user']}", f"user={role}")
    with psycopg.connect(reader, autocommit=True) as conn:
        assert conn.execute("SELECT count(*) FROM monthly_nation").fetchone()[0] == 1
        assert conn.execute("SELECT count(*) FROM daily_feedback").fetchone()[0] >= 1
        for sql in ("SELECT * FROM events", "SELECT * FROM feedback_responses", "SELECT * FROM dead_letter",
                    "DELETE FROM settings", "UPDATE settings SET value = '0'", "INSERT INTO sites VALUES "
                    "('x', NULL, NULL, 'UTC', '', 0)"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(sql)
        # The small-cell rule holds for the reader too: it cannot lower the threshold.
        row = conn.execute("SELECT responses, withheld FROM monthly_authority WHERE authority = 'vero'").fetchone()
        assert row == (None, ["satisfaction", "matter"])


def test_retention_prunes_raw_events_and_keeps_the_roll_ups(national):
    db, events = national
    before = level_rows(db.conn, "nation", "2026-11")
    db.set_setting("retention_days", "20")
    # As if it were mid-January 2027: November's raw events are older than the retention.
    now = int(_dt.datetime(2027, 1, 15, tzinfo=_dt.timezone.utc).timestamp() * 1000)
    deleted, kept = db.prune(now=now)
    # Whole months go, with a day's margin for the sites' time zones: 30 November stays.
    margin = int(_dt.datetime(2026, 11, 30, tzinfo=_dt.timezone.utc).timestamp() * 1000)
    assert deleted == sum(1 for e in events if e.ts < margin) > 1500 and kept == "2026-12"
    assert db.count_events() == len(events) - deleted
    assert level_rows(db.conn, "nation", "2026-11") == before
    # A rebuild leaves the pruned months as they are ...
    out = subprocess.run([sys.executable, "-m", "cli", "central", "rebuild", "--db", db.dsn], cwd=REPO,
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert level_rows(db.conn, "nation", "2026-11") == before
    refused = subprocess.run([sys.executable, "-m", "cli", "central", "rebuild", "--db", db.dsn, "--since",
                              "2026-11"], cwd=REPO, capture_output=True, text=True)
    assert refused.returncode == 2 and "pruned" in refused.stderr
