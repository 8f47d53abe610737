"""The monthly figures (DESIGN.md "What is measured") from events: waiting and service times,
tickets per open hour, satisfaction counted once per response without misuse-flagged presses,
matter done, could-do-it-yourself; per site, month (local time) and service."""
import datetime as _dt
import json
import subprocess
import sys
from pathlib import Path
from zoneinfo import ZoneInfo

from core.events import Event
from core.figures import SITE_LEVEL, Row, figures, latest_feedback

HEL = ZoneInfo("Europe/Helsinki")
REPO = Path(__file__).resolve().parent.parent


def ms(y, mo, d, h, mi=0):
    return int(_dt.datetime(y, mo, d, h, mi, tzinfo=HEL).timestamp() * 1000)


def day_of_events():
    t = ms(2026, 11, 23, 9)
    rows = []
    for i, (service, wait_min, serve_min) in enumerate([("kela", 10, 12), ("kela", 20, 8), ("poliisi", 5, 10)]):
        tid = f"2026-11-23/X{i}"
        rows.append(Row("s1", "ticket.issued", t + i * 60_000, {"ticket": tid, "service": service, "kind": "walk_in"}))
        rows.append(Row("s1", "ticket.called", t + wait_min * 60_000,
                        {"ticket": tid, "service": service, "counter": "1", "waited_s": wait_min * 60}))
        rows.append(Row("s1", "ticket.recalled", t + wait_min * 60_000 + 5, {"ticket": tid, "counter": "1"}))
        rows.append(Row("s1", "ticket.finished", t + (wait_min + serve_min) * 60_000,
                        {"ticket": tid, "service": service, "service_s": serve_min * 60}))
    rows.append(Row("s1", "ticket.issued", ms(2026, 11, 23, 13), {"ticket": "n", "service": "kela", "kind": "appointment"}))
    rows.append(Row("s1", "ticket.no_show", ms(2026, 11, 23, 13, 30), {"ticket": "n", "service": "kela"}))
    # one response in three snapshots (counts once, with its last answers), one flagged press,
    # one three-face scale response, one attributed to a service
    fb = [
        {"response": "r1", "rev": 1, "rating": 5, "scale": 5, "outcome": None, "self_service": None, "flags": []},
        {"response": "r1", "rev": 2, "rating": 5, "scale": 5, "outcome": "done", "self_service": None, "flags": []},
        {"response": "r1", "rev": 3, "rating": 5, "scale": 5, "outcome": "done", "self_service": "no", "flags": []},
        {"response": "r2", "rev": 1, "rating": 1, "scale": 5, "flags": ["burst"]},
        {"response": "r3", "rev": 1, "rating": 1, "scale": 3, "outcome": "not_done", "flags": []},
        {"response": "r4", "rev": 1, "rating": 4, "scale": 5, "service": "kela", "self_service": "yes", "flags": []},
    ]
    rows += [Row("s1", "feedback.given", ms(2026, 11, 23, 15) + i, d) for i, d in enumerate(fb)]
    rows.append(Row("s1", "printer.fault", ms(2026, 11, 23, 10), {"reason": "paper_out"}))
    # another month, another site: kept apart
    rows.append(Row("s1", "ticket.issued", ms(2026, 12, 1, 9), {"ticket": "d", "service": "kela", "kind": "walk_in"}))
    rows.append(Row("s2", "ticket.issued", ms(2026, 11, 23, 9), {"ticket": "e", "service": "kela", "kind": "walk_in"}))
    return rows


def test_waiting_service_and_tickets_per_site_month_and_service():
    f = figures(day_of_events())
    nov = f["s1"]["2026-11"]
    site = nov["services"][SITE_LEVEL]
    assert site["tickets"] == 4 and site["walk_in"] == 3 and site["appointment"] == 1
    assert site["waiting"]["n"] == 3 and site["waiting"]["median_min"] == 10.0  # recalls don't count again
    assert site["service"]["median_min"] == 10.0
    assert site["no_show"] == 1
    assert site["tickets_per_open_hour"] == 2.0  # 4 tickets in the hours 9 and 13
    assert nov["services"]["kela"]["waiting"]["median_min"] == 15.0
    assert nov["services"]["poliisi"]["tickets"] == 1
    assert nov["printer_faults"] == 1
    assert f["s1"]["2026-12"]["services"][SITE_LEVEL]["tickets"] == 1
    assert f["s2"]["2026-11"]["services"][SITE_LEVEL]["tickets"] == 1
    assert figures(day_of_events(), month="2026-12")["s1"].keys() == {"2026-12"}


def test_feedback_counts_each_response_once_and_leaves_misuse_out():
    sat = figures(day_of_events())["s1"]["2026-11"]["services"][SITE_LEVEL]
    s = sat["satisfaction"]
    assert s["n"] == 3 and s["flagged_left_out"] == 1
    assert (s["positive"], s["negative"]) == (2, 1)  # 5 and 4 of 5 positive; 1 of 3 negative
    assert s["mean_of_5"] == round((5 + 4 + 1) / 3, 2)
    assert sat["matter"]["done"] == 1 and sat["matter"]["not_done"] == 1 and sat["matter"]["done_share"] == 0.5
    assert sat["could_do_it_yourself"]["yes"] == 1 and sat["could_do_it_yourself"]["no"] == 1
    kela = figures(day_of_events())["s1"]["2026-11"]["services"]["kela"]["satisfaction"]
    assert kela["n"] == 1 and kela["positive"] == 1  # the attributed response counts for its service too


def test_latest_feedback_takes_the_last_snapshot():
    rows = [{"response": "a", "rev": 1, "rating": 2}, {"response": "a", "rev": 2, "rating": 2, "outcome": "done"},
            {"response": "b", "rev": 1, "rating": 5}]
    got = latest_feedback(rows)
    assert got["a"]["outcome"] == "done" and got["b"]["rating"] == 5 and len(got) == 2


def store_rows(dsn, rows):
    from central.store import CentralStore

    with CentralStore(dsn) as c:
        c.begin()
        c.insert_events([Event(id=f"ev{i:08d}", site=r.site, device="hub-1" if r.site == "s1" else "hub-2", seq=i + 1,
                               type=r.type, ts=r.ts, data=r.data)
                         for i, r in enumerate(rows)])
        c.commit()
        c.set_setting("small_cell", "1")  # these few tickets are the test's own, not people's


def cli(*args, check=True):
    return subprocess.run([sys.executable, "-m", "cli", "central", *args], cwd=REPO, capture_output=True, text=True,
                          check=check)


def test_figures_cli_on_a_central_database(tmp_path, central_dsn):
    store_rows(central_dsn, day_of_events())
    fig = json.loads(cli("figures", "--db", central_dsn, "--site", "s1", "--month", "2026-11", "--json").stdout)
    whole = fig["s1"]["2026-11"]["services"][SITE_LEVEL]
    direct = figures(day_of_events())["s1"]["2026-11"]["services"][SITE_LEVEL]
    assert list(fig) == ["s1"] and whole["tickets"] == 4
    for key in ("tickets", "walk_in", "appointment", "no_show", "tickets_per_open_hour", "outcomes"):
        assert whole[key] == direct[key], key
    assert whole["satisfaction"] == direct["satisfaction"] and whole["matter"] == direct["matter"]
    assert whole["could_do_it_yourself"] == direct["could_do_it_yourself"]
    table = cli("figures", "--db", central_dsn).stdout
    assert "(whole site)" in table and "s2 2026-11" in table
    bad = cli("figures", "--db", central_dsn, "--month", "11/2026", check=False)
    assert bad.returncode == 2 and "YYYY-MM" in bad.stderr
    not_pg = cli("figures", "--db", str(tmp_path / "central.sqlite"), check=False)
    assert not_pg.returncode == 2 and "PostgreSQL" in not_pg.stderr
    # With the site's configuration registered: over its opening hours (Monday 08:00-16:15),
    # against its targets (the roll-ups of the site are recomputed).
    cfg = tmp_path / "s1.toml"
    cfg.write_text((REPO / "assets" / "sites" / "example.toml").read_text().replace('id = "example-pp"', 'id = "s1"', 1))
    assert "registered site s1" in cli("sites", "--db", central_dsn, str(cfg)).stdout
    fig = json.loads(cli("figures", "--db", central_dsn, "--site", "s1", "--month", "2026-11", "--json").stdout)
    whole = fig["s1"]["2026-11"]["services"][SITE_LEVEL]
    assert whole["tickets_per_open_hour"] == round(4 / 8.25, 1) and whole["within_target_share"] == 1.0
    region = json.loads(cli("figures", "--db", central_dsn, "--level", "region", "--month", "2026-11",
                            "--json").stdout)
    assert {r["region"]: r["tickets"] for r in region} == {"MK01": 4, "": 1}  # s2 has no configuration
    broken = tmp_path / "broken.toml"
    broken.write_text("[site]\nid = 3\n")
    bad = cli("sites", "--db", central_dsn, str(broken), check=False)
    assert bad.returncode == 2 and "site.id" in bad.stderr


#: Every kind of malformed data a stored event could carry (an older writer, a forged event from
#: before the ingest validated): the issue's five, and their relatives for every key the figures read.
MALFORMED = [
    ("feedback.given", {"rev": "x", "rating": 1, "scale": 5}),
    ("feedback.given", {"response": [1], "rating": 1, "scale": 5}),
    ("feedback.given", {"service": ["kela"], "rating": 1, "scale": 5}),
    ("feedback.given", {"response": {"a": 1}, "rev": [2], "rating": "1", "scale": 5}),
    ("feedback.given", {"rating": 1e308, "scale": 5}), ("feedback.given", {"rating": 9, "scale": 0}),
    ("feedback.given", {"rating": 2, "scale": 5, "outcome": ["done"], "self_service": {"y": 1}}),
    ("feedback.given", {"rating": float("nan"), "scale": 5}), ("feedback.given", [1, 2]),
    ("feedback.given", "text"), ("feedback.given", None),
    ("ticket.issued", {"kind": {}, "service": "kela"}), ("ticket.issued", {"kind": [1], "service": {"a": 1}}),
    ("ticket.called", {"ticket": [1], "service": ["kela"], "waited_s": "10"}),
    ("ticket.called", {"ticket": "t", "service": "kela", "waited_s": float("inf")}),
    ("ticket.finished", {"service": {}, "service_s": [1]}), ("ticket.no_show", {"service": [1]}),
    ("ticket.cancelled", {"service": {}, "reason": []}), ("ticket.transferred", {"from_service": [1]}),
    ("printer.fault", 5),
]


def test_figures_never_crash_on_a_malformed_stored_event():
    good = day_of_events()
    expected = figures(good)
    t = ms(2026, 11, 23, 16)
    bad = [Row("s1", etype, t + i, data) for i, (etype, data) in enumerate(MALFORMED)]
    bad += [Row("s1", "ticket.issued", ts, {"service": "kela"}) for ts in (2**53 - 1, -1, 10**20)]
    bad += [Row("s1", "ticket.issued", "2026", {"service": "kela"}), Row(["s1"], "ticket.issued", t, {})]
    got = figures(good + bad)  # must not raise
    for service in ("kela", "poliisi"):
        want = expected["s1"]["2026-11"]["services"][service]
        have = got["s1"]["2026-11"]["services"][service]
        # Only the malformed rows' own counts may differ; the waits, service times and
        # satisfaction of the good rows are exactly what they were.
        assert have["waiting"] == want["waiting"] and have["service"] == want["service"], service
    # A malformed row counts only where its own rating is a usable one (rows 0, 1, 2 and 6: a
    # response id or rev that cannot be read makes the row its own response).
    have, want = (f["s1"]["2026-11"]["services"][SITE_LEVEL] for f in (got, expected))
    assert have["satisfaction"]["n"] == want["satisfaction"]["n"] + 4
    assert have["matter"] == want["matter"] and have["could_do_it_yourself"] == want["could_do_it_yourself"]
    assert list(got) == list(expected)


def test_central_figures_exits_0_on_a_database_with_malformed_events(central_dsn):
    from central.store import CentralStore

    t = ms(2026, 11, 23, 16)
    with CentralStore(central_dsn) as c:
        c.begin()
        c.insert_events([Event(id=f"bad{i:08d}", site="s1", device="kiosk-1", seq=i + 1, type=etype, ts=t + i,
                               data=data) for i, (etype, data) in enumerate(MALFORMED)])
        c.insert_events([Event(id="huge0000001", site="s1", device="kiosk-1", seq=999, type="ticket.issued",
                               ts=2**53 - 1, data={"service": "kela"})])
        c.conn.execute("INSERT INTO events(site, device, seq, id, type, ts, data, v, received_ms) "
                       "VALUES ('s1', 'kiosk-1', 1000, 'notjson00', 'feedback.given', 1, '{nope', 1, 1)")
        c.commit()
    assert cli("rebuild", "--db", central_dsn).returncode == 0  # reads the row that is no JSON, too
    for args in (["--json"], []):
        out = cli("figures", "--db", central_dsn, *args, check=False)
        assert out.returncode == 0, out.stderr
