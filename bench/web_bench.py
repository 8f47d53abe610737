"""Benchmark of the central web service (issue 14; not a test). Progress goes to stderr; the LAST
line of stdout is one JSON object:

    report_page_p95_ms   the national month report page (GET /reports/nation?month=M, logged in
                         as a national user), 95th percentile of --requests; target ≤ 300
                         (report_page_cold_ms: the first one, before the web service's report
                         cache holds it; report_page_changing_median_ms: while the month's data
                         change before every request)
    site_page_p95_ms     the busiest site's month report page; target ≤ 150
    csv_export_s         the national report's per-site table as CSV
    pdf_report_s         the national month report as a PDF (WeasyPrint); target ≤ 5
    web_rss_mb           peak resident memory (VmHWM) of the web service process

The data are the national month of bench/central_bench.py (the same generator and the same path
into PostgreSQL: ingest workers with their roll-ups), 150 sites and ~1.5 M events by default.
The web service is the real `palvelupiste central web` process (uvicorn), requests come one at a
time over loopback HTTP.

    .venv/bin/python bench/web_bench.py                         # the full run
    .venv/bin/python bench/web_bench.py --sites 10 --scale 0.2  # quick
"""
from __future__ import annotations

import argparse
import http.cookiejar
import json
import multiprocessing as mp
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path[:0] = [str(REPO), str(HERE)]

import central_bench as cb  # noqa: E402  (the national month's generator and ingest)


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def p95(xs: list[float]) -> float:
    return sorted(xs)[max(0, round(0.95 * len(xs)) - 1)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sites", type=int, default=150)
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--requests", type=int, default=40, help="requests of each page timed")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()

    import psycopg

    from central import accounts
    from central.store import CentralStore
    from core.config import loads_site
    from sim.localnet import free_port, wait_port
    from sim.postgres import PostgresCluster

    ctx = mp.get_context("spawn")
    (y, m), = cb.recent_months(1)
    month = f"{y}-{m:02d}"
    sites = cb.profiles(args.sites, args.scale, args.seed)
    work = Path(tempfile.mkdtemp(prefix="web-bench-"))
    out: dict = {"sites": len(sites), "month": month, "requests": args.requests}
    with PostgresCluster() as pg:
        dsn = pg.create_database("central")
        db = CentralStore(dsn)
        db.begin()
        for p in sites:
            db.register_site(loads_site(p.text(), p.id), p.text())
        db.commit()
        shares: list[list] = [[], []]
        for i, p in enumerate(sites):
            for j, device in enumerate(cb.DEVICES):
                shares[(i + j // 2) % 2].append((p, device, 0))
        spools = [str(work / f"w{w}.spool") for w in range(2)]
        with ctx.Pool(2) as pool:
            gens = pool.map(cb.generate_share, [(share, y, m, spools[w], 100) for w, share in enumerate(shares)])
        log(f"{sum(sum(g['counts'].values()) for g in gens):,} events generated; ingesting")
        r = cb.run_month(ctx, dsn, spools, 200)
        out["events"] = r["stored"]
        log(f"stored {r['stored']:,} events in {r['wall_s']:.0f} s")
        db.conn.execute("ANALYZE")
        accounts.add_user(db.conn, "bench", "national", "bench password 123")
        busiest = max(sites, key=lambda p: p.tickets_per_day)
        db.close()

        port = free_port()
        web = subprocess.Popen([sys.executable, "-m", "cli", "central", "web", "--db", dsn, "--port", str(port),
                                "--insecure-cookies"], cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            assert wait_port(port, 30), "the web service did not start"
            base = f"http://127.0.0.1:{port}"
            jar = http.cookiejar.CookieJar()
            opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
            login = opener.open(base + "/login").read().decode()
            csrf = re.search(r'name="csrf" value="([^"]+)"', login).group(1)  # type: ignore[union-attr]
            # The login lands on the national report of the latest month: the first report made
            # from the views, before the web service's report cache holds it.
            t = time.perf_counter()
            opener.open(base + "/login", data=urllib.parse.urlencode(
                {"csrf": csrf, "name": "bench", "password": "bench password 123", "next": "/"}).encode()).read()
            out["login_to_first_report_ms"] = round((time.perf_counter() - t) * 1000, 1)

            def timed(path: str, n: int) -> list[float]:
                times = []
                for _ in range(n):
                    t = time.perf_counter()
                    with opener.open(base + path) as resp:
                        body = resp.read()
                        assert resp.status == 200 and body, path
                    times.append((time.perf_counter() - t) * 1000)
                return times

            # Then each kind once more (the national one is in the cache since the login; the
            # site's and the PDF are made now); then a few while the month's data change before
            # every request (a batch from any site moves the month's stamp: within a minute the
            # report is shown again, REPORT_MAX_STALE_S); then the steady state.
            out["report_page_cold_ms"] = round(timed(f"/reports/nation?month={month}", 1)[0], 1)
            out["site_page_cold_ms"] = round(timed(f"/reports/site/{busiest.id}?month={month}", 1)[0], 1)
            out["pdf_report_cold_s"] = round(timed(f"/reports/nation?month={month}&format=pdf", 1)[0] / 1000, 2)
            changing = []
            with psycopg.connect(dsn, autocommit=True) as conn:
                for _ in range(5):
                    conn.execute("UPDATE rollup_stamps SET version = version + 1 WHERE month = %s AND site = %s",
                                 (month, busiest.id))
                    changing += timed(f"/reports/nation?month={month}", 1)
            out["report_page_changing_median_ms"] = round(statistics.median(changing), 1)
            nation = timed(f"/reports/nation?month={month}", args.requests)
            site = timed(f"/reports/site/{busiest.id}?month={month}", args.requests)
            out["report_page_p95_ms"] = round(p95(nation), 1)
            out["report_page_median_ms"] = round(statistics.median(nation), 1)
            out["site_page_p95_ms"] = round(p95(site), 1)
            out["site_page_median_ms"] = round(statistics.median(site), 1)
            out["csv_export_s"] = round(min(timed(f"/reports/nation?month={month}&csv=sites", 3)) / 1000, 3)
            out["pdf_report_s"] = round(statistics.median(timed(f"/reports/nation?month={month}&format=pdf", 3))
                                        / 1000, 2)
            status = Path(f"/proc/{web.pid}/status").read_text()
            out["web_rss_mb"] = round(int(re.search(r"VmHWM:\s+(\d+)", status).group(1)) / 1024, 1)  # type: ignore[union-attr]
        finally:
            web.terminate()
            web.wait(10)
        with psycopg.connect(dsn) as conn:
            out["postgresql"] = conn.execute("SHOW server_version").fetchone()[0]  # type: ignore[index]
    out["nproc"] = os.cpu_count()
    log(json.dumps(out, indent=2))
    print(json.dumps(out))


if __name__ == "__main__":
    main()
