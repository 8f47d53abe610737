"""Benchmark of the central store on PostgreSQL (issue 13; not a test). Progress goes to stderr;
the LAST line of stdout is one JSON object:

    ingest_events_per_s        a national month (by default 150 sites, ~1.5 M events) into an
                               empty database through
                               --workers (2) ingest worker processes, each its own CentralStore +
                               Ingest, `Ingest.handle_many` over the devices' batches exactly as
                               they come off the wire (JSON text, ~100 events per device message,
                               --group messages per transaction as the MQTT worker groups what
                               it drained): events stored ÷ wall seconds from the go signal to the
                               last worker's last commit; target ≥ 10,000
    month_figures_national_s   month 1's national figures with three months stored: the views
                               monthly_nation, monthly_authority and monthly_region WHERE month = M,
                               read one after the other with central.monthly.level_rows (what
                               `palvelupiste central figures` reads); median of --runs (5); ≤ 1.0 s
    month_figures_site_s       one site's month 1 (the busiest site): monthly_site and
                               monthly_site_service WHERE site = S AND month = M; median; ≤ 0.2 s
    history_growth_ratio       month_figures_national_s with three months stored ÷ the same with
                               only month 1 stored; target ≤ 1.3
    central_rss_mb             peak resident memory (VmHWM) of one ingest worker process (the
                               larger of the workers, over all months)

What is generated (deterministic from --seed): --sites sites, each the example site
(assets/sites/example.toml) with its own id, region (core.national.REGIONS) and municipality, and a
second kiosk; per site a hub, 2 kiosks and a feedback terminal. Sites differ in size (tickets per
day log-normal, ≈ 130 on average at --scale 1), offer 3–8 of the configured services with their own
mix, open on weekdays per the configured opening hours. The hub writes what the engine writes:
counter.opened/closed, ticket.issued (walk-in and appointment) / called / recalled / finished (with
the clerk's outcome where the service has outcomes) / no_show / transferred (called again in the
new service) / cancelled (also "day_closed" for whoever is still waiting at closing); the feedback
terminal 1–4 snapshots per response (rating, outcome, self-service, comment; some flagged by the
misuse guard); the kiosks printer.fault / printer.recovered. The months are the three whole months
before the current one: the ingest checks every event's time against the receive time
(core.events.check_event: at most 400 days old), so the events are of the recent past, as a real
backlog would be, and pass the same validation as live ones.

Months 2 and 3 go through the same path (the ingest workers), so the roll-ups are filled the same
way; their rates are reported too. Also in the JSON, per month: deadlock retries between the workers
and the time they cost (a failed group is handled again after a random pause), the CPU seconds of
the workers and of the PostgreSQL backends serving them; per number of months stored: every timing
also with `SET jit = off`, and the median of each view. The database is a throw-away cluster (sim/postgres.py: the test
harness, fsync off); ANALYZE runs before the figures are timed (what autovacuum does on its own
within a minute of a bulk load).

    .venv/bin/python bench/central_bench.py                      # the full run
    .venv/bin/python bench/central_bench.py --sites 10 --scale 0.2 --months 2 --runs 3   # quick
"""
from __future__ import annotations

import argparse
import datetime as _dt
import json
import multiprocessing as mp
import os
import pickle
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bus import topics  # noqa: E402
from core.config import Site, loads_site  # noqa: E402
from core.hours import site_interval  # noqa: E402
from core.national import REGIONS  # noqa: E402

EXAMPLE_TEXT = (REPO / "assets" / "sites" / "example.toml").read_text(encoding="utf-8")
DEVICES = ("hub-1", "kiosk-1", "kiosk-2", "feedback-1")
#: tickets per site and day on average at --scale 1: with ≈ 3.45 events per ticket (feedback
#: included) 150 sites make ≈ 1.5 M events in a month of 22 weekdays
TICKETS_PER_DAY = 131.0
#: how often each service is offered and how much it is asked for
POPULARITY = {"neuvonta": 10, "kela": 9, "vero": 8, "poliisi": 7, "te": 6, "dvv": 5, "digituki": 5, "migri": 4,
              "ulosotto": 3, "mml": 2, "oikeusapu": 2, "avi": 1, "ely": 1, "rise": 1}
LANGS = ("fi",) * 14 + ("sv", "sv", "en", "ru", "et", "uk", "so")
COMMENTS = ("Kiitos!", "Nopea ja ystävällinen palvelu.", "Jonotus kesti liian kauan.",
            "Asia hoitui hyvin", "Tack för hjälpen", "Vaikea löytää oikea jono")


def log(msg: str) -> None:
    print(f"[central_bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def proc_cpu_s(pid: int) -> float | None:
    """User + system CPU seconds of a process (None if /proc does not say)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def vm_hwm_mb() -> float:
    """This process's peak resident memory."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


# --- the sites ----------------------------------------------------------------------------------

@dataclass
class Profile:
    """What makes one site's month: its size and mix."""
    id: str
    region: str
    municipality: str
    tickets_per_day: float
    services: list[str]
    cum_weights: list[float]
    busy: float                 # scales the waits
    feedback_rate: float        # responses per ticket
    scale: int                  # the feedback terminal's scale (3, 4 or 5)
    appointments: float         # share of booked tickets
    seed: int = 0

    def text(self) -> str:
        """The site's configuration: the example with this id, region and municipality, 2 kiosks."""
        text = EXAMPLE_TEXT.replace('id = "example-pp"', f'id = "{self.id}"', 1)
        text = text.replace('region = "MK01"', f'region = "{self.region}"', 1)
        text = text.replace('municipality = "Esimerkkikaupunki"', f'municipality = "{self.municipality}"', 1)
        return text + '\n[[devices]]\nid = "kiosk-2"\nrole = "kiosk"\n'


def profiles(n: int, scale: float, seed: int) -> list[Profile]:
    rng = random.Random(f"sites/{seed}")
    regions = sorted(REGIONS)
    # Uusimaa and the big regions have more service points.
    region_w = [6 if r == "MK01" else 3 if r in ("MK02", "MK06", "MK17") else 1 for r in regions]
    sizes = [rng.lognormvariate(0, 0.6) for _ in range(n)]
    norm = TICKETS_PER_DAY * scale * n / sum(sizes)
    names, weights = list(POPULARITY), list(POPULARITY.values())
    out = []
    for i in range(n):
        k = rng.randint(3, 8)
        chosen: list[str] = []
        while len(chosen) < k:
            s = rng.choices(names, weights)[0]
            if s not in chosen:
                chosen.append(s)
        w = [POPULARITY[s] * rng.lognormvariate(0, 0.4) for s in chosen]
        cum, acc = [], 0.0
        for x in w:
            acc += x
            cum.append(acc)
        out.append(Profile(
            id=f"pp-{i + 1:03d}", region=rng.choices(regions, region_w)[0], municipality=f"Kunta {i + 1}",
            tickets_per_day=sizes[i] * norm, services=chosen, cum_weights=cum, busy=rng.uniform(0.5, 1.6),
            feedback_rate=rng.uniform(0.08, 0.22), scale=rng.choices((5, 4, 3), (8, 1, 1))[0],
            appointments=rng.uniform(0.0, 0.15), seed=seed))
    return out


_SITE: Site | None = None


def example_site() -> Site:
    """The example configuration (every site has its services, counters and opening hours)."""
    global _SITE
    if _SITE is None:
        _SITE = loads_site(EXAMPLE_TEXT, "example.toml")
    return _SITE


def month_days(year: int, month: int) -> list[tuple[_dt.date, int, int]]:
    """(day, opens ms, closes ms) of the open days of a month (weekdays, per the opening hours)."""
    site = example_site()
    d, out = _dt.date(year, month, 1), []
    while d.month == month:
        span = site_interval(site, d)
        if span is not None and d.weekday() < 5:
            out.append((d, span[0], span[1]))
        d += _dt.timedelta(days=1)
    return out


def day_volume(p: Profile, d: _dt.date) -> int:
    """Tickets of the day (the hub's and the feedback terminal's generators agree on it)."""
    r = random.Random(f"{p.seed}/{p.id}/{d}")
    factor = (1.15, 1.0, 0.95, 1.05, 0.85)[d.weekday()]
    return max(0, round(p.tickets_per_day * factor * r.uniform(0.8, 1.2)))


# --- the devices' events ------------------------------------------------------------------------

def _token(rng: random.Random) -> str:
    return f"{rng.getrandbits(96):024x}"


def hub_events(p: Profile, year: int, month: int, rng: random.Random) -> list[tuple[int, str, dict]]:
    site = example_site()
    counters_of: dict[str, list[str]] = {s: [c.id for c in site.counters.values() if s in c.services]
                                         for s in site.services}
    out: list[tuple[int, str, dict]] = []
    for d, opens, closes in month_days(year, month):
        day = d.isoformat()
        last_number: Counter = Counter()
        events: list[tuple[int, str, dict]] = []
        counter_last: dict[str, int] = {}
        span = closes - opens - 15 * 60_000
        cutoff = closes + 30 * 60_000    # still waiting then: cancelled at the day's close

        def call(ticket: str, number: str, kind: str, service: str, queued: int, t: int) -> tuple[int, str] | None:
            """The ticket called at `t` (None: the day closed first)."""
            if t > cutoff:
                events.append((cutoff, "ticket.cancelled", {"ticket": ticket, "reason": "day_closed",
                                                            "service": service}))
                return None
            counter = rng.choice(counters_of[service])
            events.append((t, "ticket.called", {"ticket": ticket, "counter": counter, "service": service,
                                                "number": number, "kind": kind,
                                                "waited_s": (t - queued) // 1000}))
            return t, counter

        for _ in range(day_volume(p, d)):
            service = rng.choices(p.services, cum_weights=p.cum_weights)[0]
            svc = site.services[service]
            last_number[service] += 1
            n = last_number[service]
            number = f"{svc.prefix}{n:03d}"
            ticket = f"{day}/{number}"
            # Arrivals: a morning and an afternoon peak.
            t0 = opens + int(span * (rng.betavariate(2, 3) if rng.random() < 0.6 else rng.betavariate(3, 1.6)))
            kind = "appointment" if rng.random() < p.appointments else "walk_in"
            data = {"ticket": ticket, "number": number, "n": n, "service": service, "day": day, "kind": kind,
                    "lang": rng.choice(LANGS),
                    "needs": {"interpreter": None, "hearing_loop": rng.random() < 0.01, "accessible_room": False},
                    "token": _token(rng), "ahead": rng.randrange(0, 12),
                    "est_wait_s": rng.randrange(60, 3600, 60)}
            if kind == "appointment":
                data["appointment_ms"] = t0 + rng.randrange(0, 30) * 60_000
                data["appointment_ref"] = _token(rng)
            events.append((t0, "ticket.issued", data))
            wait = rng.lognormvariate(6.0, 0.8) * p.busy * (0.3 if kind == "appointment" else 1.0)
            if rng.random() < 0.025:
                events.append((t0 + int(rng.uniform(0.2, 1.0) * wait * 1000), "ticket.cancelled",
                               {"ticket": ticket, "reason": rng.choice(("left", "left", "cancelled", "mistake")),
                                "service": service}))
                continue
            called = call(ticket, number, kind, service, t0, t0 + int(wait * 1000))
            if called is None:
                continue
            t, counter = called
            if rng.random() < 0.06:
                t += 60_000
                events.append((t, "ticket.recalled", {"ticket": ticket, "counter": counter, "number": number}))
            if rng.random() < 0.04:
                t += 120_000
                events.append((t, "ticket.no_show", {"ticket": ticket, "counter": counter, "service": service}))
                counter_last[counter] = t
                continue
            served = int(rng.lognormvariate(0, 0.55) * svc.default_service_min * 54)
            t += served * 1000
            if rng.random() < 0.04 and len(p.services) > 1:
                to = rng.choice([s for s in p.services if s != service])
                events.append((t, "ticket.transferred", {"ticket": ticket, "counter": counter,
                                                         "from_service": service, "to_service": to,
                                                         "service_s": served}))
                counter_last[counter] = t
                service, svc = to, site.services[to]
                called = call(ticket, number, kind, service, t, t + int(rng.lognormvariate(5.5, 0.8) * 1000))
                if called is None:
                    continue
                t, counter = called
                served = int(rng.lognormvariate(0, 0.55) * svc.default_service_min * 54)
                t += served * 1000
            done = {"ticket": ticket, "counter": counter, "service": service, "service_s": served}
            if svc.outcomes and rng.random() < 0.7:
                done["outcome"] = rng.choice(svc.outcomes)
            events.append((t, "ticket.finished", done))
            counter_last[counter] = t
        for c, last in counter_last.items():
            events.append((opens - rng.randrange(1, 10) * 60_000, "counter.opened", {"counter": c}))
            events.append((max(closes, last) + 60_000, "counter.closed", {"counter": c}))
        events.sort(key=lambda e: e[0])
        out += events
    return out


def feedback_events(p: Profile, year: int, month: int, rng: random.Random) -> list[tuple[int, str, dict]]:
    tz = ZoneInfo("Europe/Helsinki")
    ratings = {5: (5, 7, 15, 33, 40), 4: (7, 15, 38, 40), 3: (10, 25, 65)}[p.scale]
    out: list[tuple[int, str, dict]] = []
    for d, opens, closes in month_days(year, month):
        events = []
        for _ in range(round(day_volume(p, d) * p.feedback_rate * rng.uniform(0.7, 1.3))):
            t = rng.randrange(opens + 10 * 60_000, closes + 20 * 60_000)
            base = {"response": f"{rng.getrandbits(64):016x}", "part": "rating", "rev": 1,
                    "rating": rng.choices(range(1, p.scale + 1), ratings)[0], "scale": p.scale,
                    "outcome": None, "self_service": None, "comment": None, "language": rng.choice(LANGS),
                    "input": "touch" if rng.random() < 0.85 else "button",
                    "flags": [] if rng.random() < 0.96 else [rng.choice(("burst", "interval"))],
                    "local_time": _dt.datetime.fromtimestamp(t / 1000, tz).replace(second=0, microsecond=0)
                    .isoformat(timespec="minutes"),
                    "service": rng.choice(p.services) if rng.random() < 0.4 else None}
            snaps = rng.choices((1, 2, 3, 4), (35, 30, 25, 10))[0]
            events.append((t, "feedback.given", base))
            for rev, (part, value) in enumerate((("outcome", rng.choice(("done", "done", "started", "not_done"))),
                                                 ("self_service", rng.choice(("yes", "no", "no"))),
                                                 ("comment", rng.choice(COMMENTS)))[:snaps - 1], start=2):
                base = {**base, part: value, "part": part, "rev": rev}
                events.append((t + rev * 8000, "feedback.given", base))
        events.sort(key=lambda e: e[0])
        out += events
    return out


def kiosk_events(p: Profile, year: int, month: int, rng: random.Random) -> list[tuple[int, str, dict]]:
    out: list[tuple[int, str, dict]] = []
    for _d, opens, closes in month_days(year, month):
        if rng.random() < 0.08:
            reason = "paper_out" if rng.random() < 0.7 else "cover_open"
            t = rng.randrange(opens, closes)
            lasted = rng.randrange(60, 1800) * 1000
            out.append((t, "printer.fault", {"reason": reason, "status": reason}))
            out.append((t + lasted, "printer.recovered", {"reason": reason, "fault_ms": lasted}))
    return out


def device_events(p: Profile, device: str, year: int, month: int) -> list[tuple[int, str, dict]]:
    rng = random.Random(f"{p.seed}/{p.id}/{device}/{year}-{month:02d}")
    if device == "hub-1":
        return hub_events(p, year, month, rng)
    if device == "feedback-1":
        return feedback_events(p, year, month, rng)
    return kiosk_events(p, year, month, rng)


def generate_share(args: tuple) -> dict:
    """One worker's share of a month: its devices' batches as they go on the wire, written to a
    spool file, with an index in arrival order (by the time of a batch's first event)."""
    devices, year, month, spool, batch = args
    entries: list[tuple[int, str, int, int]] = []
    counts: dict[tuple[str, str], int] = {}
    types: Counter = Counter()
    with open(spool, "wb") as f:
        for p, device, start in devices:
            evs = device_events(p, device, year, month)
            rng = random.Random(f"ids/{p.seed}/{p.id}/{device}/{year}-{month}")
            topic = topics.events(p.id, device)
            for i in range(0, len(evs), batch):
                chunk = [{"v": 1, "id": f"{rng.getrandbits(128):032x}", "site": p.id, "device": device,
                          "seq": start + i + j + 1, "type": etype, "ts": ts, "data": data}
                         for j, (ts, etype, data) in enumerate(evs[i:i + batch])]
                payload = json.dumps({"site": p.id, "device": device, "events": chunk}, ensure_ascii=False,
                                     separators=(",", ":")).encode()
                entries.append((chunk[0]["ts"], topic, f.tell(), len(payload)))
                f.write(payload)
            counts[(p.id, device)] = len(evs)
            types.update(e[1] for e in evs)
    entries.sort(key=lambda e: e[0])  # stable: a device's batches stay in order
    with open(spool + ".index", "wb") as f:
        pickle.dump([(topic, off, n) for _, topic, off, n in entries], f)
    return {"counts": counts, "types": dict(types), "messages": len(entries), "bytes": os.path.getsize(spool)}


# --- the ingest workers -------------------------------------------------------------------------

def ingest_worker(index: int, dsn: str, spool: str, group: int, go, out) -> None:
    """One ingest worker process: its own CentralStore and Ingest, the spool's messages in order,
    `group` messages per transaction (as central.ingest.IngestWorker groups what it drained)."""
    from central.ingest import Ingest
    from central.store import CentralStore, db_errors

    try:
        db = CentralStore(dsn)
        ingest = Ingest(db)
        backend = db.conn.info.backend_pid  # the PostgreSQL process serving this worker (same machine)
        with open(spool + ".index", "rb") as f:
            entries = pickle.load(f)
        src = open(spool, "rb")
        out.put(("ready", index, None))
        go.wait()
        cpu0, backend0 = time.process_time(), proc_cpu_s(backend)
        t0 = last = time.perf_counter()
        stored = duplicates = dead = retries = 0
        lost = 0.0
        jitter = random.Random(index)
        for i in range(0, len(entries), group):
            msgs = []
            for topic, off, n in entries[i:i + group]:
                src.seek(off)
                msgs.append((topic, src.read(n)))
            for attempt in range(30):
                t = time.perf_counter()
                try:
                    res = ingest.handle_many(msgs)
                    break
                except db_errors() as exc:
                    # A deadlock with the other worker: the group is rolled back and handled again
                    # (central.ingest.IngestWorker waits 0.5 s × attempt and gives up after 5, leaving
                    # the devices to send again; here the wait is random, so the two workers do not
                    # meet again in step, and nothing is given up).
                    retries += 1
                    log(f"worker {index}: database error, again ({attempt + 1}): {str(exc).splitlines()[0][:80]}")
                    time.sleep(jitter.uniform(0, 0.5))
                    lost += time.perf_counter() - t
            else:
                raise RuntimeError("the database kept failing")
            stored += res.stored
            duplicates += res.duplicates
            dead += res.dead
            now = time.perf_counter()
            if now - last > 15:
                log(f"worker {index}: {i + len(msgs)}/{len(entries)} messages, {stored} events, "
                    f"{stored / (now - t0):,.0f}/s")
                last = now
        dt = time.perf_counter() - t0
        cpu, backend1 = time.process_time() - cpu0, proc_cpu_s(backend)
        backend_cpu = None if backend0 is None or backend1 is None else backend1 - backend0
        src.close()
        db.close()
        out.put(("done", index, {"stored": stored, "duplicates": duplicates, "dead": dead, "retries": retries,
                                 "seconds": dt, "rss_mb": vm_hwm_mb(), "messages": len(entries),
                                 "cpu_s": cpu, "backend_cpu_s": backend_cpu, "lost_s": lost}))
    except BaseException as exc:
        out.put(("error", index, f"{type(exc).__name__}: {exc}"))
        raise


def run_month(ctx, dsn: str, spools: list[str], group: int) -> dict:
    go = ctx.Event()
    out = ctx.Queue()
    procs = [ctx.Process(target=ingest_worker, args=(i, dsn, s, group, go, out), daemon=True)
             for i, s in enumerate(spools)]
    for pr in procs:
        pr.start()
    ready = 0
    while ready < len(procs):
        kind, i, info = out.get(timeout=300)
        if kind == "error":
            raise RuntimeError(f"worker {i}: {info}")
        ready += 1
    t0 = time.perf_counter()
    go.set()
    results: dict[int, dict] = {}
    while len(results) < len(procs):
        kind, i, info = out.get(timeout=7200)
        if kind == "error":
            raise RuntimeError(f"worker {i}: {info}")
        results[i] = info
    wall = time.perf_counter() - t0
    for pr in procs:
        pr.join(30)
    stored = sum(r["stored"] for r in results.values())
    return {"stored": stored, "wall_s": wall, "events_per_s": stored / wall,
            "duplicates": sum(r["duplicates"] for r in results.values()),
            "dead": sum(r["dead"] for r in results.values()),
            "retries": sum(r["retries"] for r in results.values()),
            "retry_lost_s": sum(r["lost_s"] for r in results.values()),
            "rss_mb": max(r["rss_mb"] for r in results.values()),
            "workers": [results[i] for i in sorted(results)]}


# --- the figures --------------------------------------------------------------------------------

NATIONAL = ("nation", "authority", "region")
SITE = ("site", "site_service")


def time_figures(conn, levels: tuple[str, ...], month: str, site: str | None, runs: int) -> dict:
    """Median of `runs` of reading `levels` one after the other (each timed too)."""
    from central.monthly import level_rows

    totals, parts, rows = [], {lv: [] for lv in levels}, {}
    for _ in range(runs):
        total = 0.0
        for lv in levels:
            t = time.perf_counter()
            got = level_rows(conn, lv, month, site)
            dt = time.perf_counter() - t
            parts[lv].append(dt)
            rows[lv] = len(got)
            total += dt
        totals.append(total)
    return {"median_s": statistics.median(totals), "first_s": totals[0],
            "parts_median_s": {lv: round(statistics.median(v), 4) for lv, v in parts.items()}, "rows": rows}


def explain(conn, levels: tuple[str, ...], month: str, site: str | None, path: Path, title: str) -> None:
    with open(path, "a", encoding="utf-8") as f:
        for lv in levels:
            where = "month = %s" + (" AND site = %s" if site and "site" in lv else "")
            args = [month] + ([site] if site and "site" in lv else [])
            plan = conn.execute(f"EXPLAIN (ANALYZE, BUFFERS) SELECT * FROM monthly_{lv} WHERE {where}", args)
            f.write(f"=== {title}: monthly_{lv} WHERE {where} {args}\n")
            f.write("\n".join(r[0] for r in plan.fetchall()) + "\n\n")


# --- main ---------------------------------------------------------------------------------------

def recent_months(n: int) -> list[tuple[int, int]]:
    """The n whole months before the current one, oldest first."""
    today = _dt.date.today()
    y, m, out = today.year, today.month, []
    for _ in range(n):
        y, m = (y - 1, 12) if m == 1 else (y, m - 1)
        out.append((y, m))
    return out[::-1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sites", type=int, default=150)
    ap.add_argument("--scale", type=float, default=1.0, help="site size factor (1: ~1.5 M events/month at 150 sites)")
    ap.add_argument("--months", type=int, default=3)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--batch", type=int, default=100, help="events per device message")
    ap.add_argument("--group", type=int, default=200, help="messages per ingest transaction")
    ap.add_argument("--runs", type=int, default=5, help="runs of each figures query (the median is reported)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--dir", default=os.environ.get("BENCH_DIR"), help="where the spool files go")
    ap.add_argument("--explain", type=Path, help="append EXPLAIN ANALYZE of the figures' queries to this file")
    args = ap.parse_args()

    import psycopg

    from central.store import CentralStore
    from sim.postgres import PostgresCluster

    ctx = mp.get_context("spawn")  # fresh interpreters: no inherited connection, an honest RSS
    months = recent_months(args.months)
    sites = profiles(args.sites, args.scale, args.seed)
    work = Path(tempfile.mkdtemp(prefix="central-bench-", dir=args.dir))
    out: dict = {"sites": len(sites), "workers": args.workers, "batch_events": args.batch,
                 "group_messages": args.group, "months": [f"{y}-{m:02d}" for y, m in months]}
    # Devices to workers: one device's batches always to the same worker; a site's devices spread
    # over the workers (hub and first kiosk to one, second kiosk and feedback terminal to the
    # next), as a shared subscription spreads them.
    shares: list[list[tuple[Profile, str]]] = [[] for _ in range(args.workers)]
    for i, p in enumerate(sites):
        for j, device in enumerate(DEVICES):
            shares[(i + j // 2) % args.workers].append((p, device))
    seq_start: dict[tuple[str, str], int] = {}
    t_start = time.perf_counter()
    try:
        with PostgresCluster() as pg:
            dsn = pg.create_database("central")
            with psycopg.connect(dsn, autocommit=True) as conn:
                out["postgresql"] = conn.execute("SHOW server_version").fetchone()[0]
            db = CentralStore(dsn)
            db.begin()
            for p in sites:
                text = p.text()
                db.register_site(loads_site(text, p.id), text)
            db.commit()
            db.close()
            log(f"PostgreSQL {out['postgresql']}, {len(sites)} sites registered; months {out['months']}")
            busiest = max(sites, key=lambda p: p.tickets_per_day)
            out["site_timed"] = busiest.id
            figures: dict[str, dict] = {}
            totals: Counter = Counter()
            for mi, (y, m) in enumerate(months, start=1):
                month = f"{y}-{m:02d}"
                t = time.perf_counter()
                spools = [str(work / f"w{w}-{month}.spool") for w in range(args.workers)]
                jobs = [([(p, d, seq_start.get((p.id, d), 0)) for p, d in share], y, m, spools[w], args.batch)
                        for w, share in enumerate(shares)]
                with ctx.Pool(args.workers) as pool:
                    gens = pool.map(generate_share, jobs)
                generated = 0
                types: Counter = Counter()
                for g in gens:
                    for key, n in g["counts"].items():
                        seq_start[key] = seq_start.get(key, 0) + n
                        generated += n
                    types.update(g["types"])
                gen_s = time.perf_counter() - t
                log(f"month {mi} ({month}): {generated:,} events in {sum(g['messages'] for g in gens):,} messages "
                    f"({sum(g['bytes'] for g in gens) / 1e6:.0f} MB) generated in {gen_s:.1f} s; ingesting")
                r = run_month(ctx, dsn, spools, args.group)
                for s in spools:
                    os.unlink(s)
                    os.unlink(s + ".index")
                log(f"month {mi}: stored {r['stored']:,} in {r['wall_s']:.1f} s = {r['events_per_s']:,.0f} events/s "
                    f"(dead letters {r['dead']}, duplicates {r['duplicates']}, retries {r['retries']} costing "
                    f"{r['retry_lost_s']:.1f} s, "
                    f"worker peak RSS {r['rss_mb']:.0f} MB)")
                totals.update(types)
                out[f"month{mi}"] = {"events": generated, "stored": r["stored"], "ingest_s": round(r["wall_s"], 1),
                                     "events_per_s": round(r["events_per_s"]), "dead_letters": r["dead"],
                                     "duplicates": r["duplicates"], "retries": r["retries"],
                                     "retry_lost_s": round(r["retry_lost_s"], 1),
                                     "generate_s": round(gen_s, 1), "worker_rss_mb": round(r["rss_mb"], 1),
                                     "worker_seconds": [round(w["seconds"], 1) for w in r["workers"]],
                                     # CPU seconds while ingesting: the worker processes (Python) and
                                     # the PostgreSQL backends serving them
                                     "worker_cpu_s": [round(w["cpu_s"], 1) for w in r["workers"]],
                                     "backend_cpu_s": [None if w["backend_cpu_s"] is None else round(w["backend_cpu_s"], 1)
                                                       for w in r["workers"]],
                                     "types": dict(sorted(types.items()))}
                if r["stored"] != generated or r["dead"]:
                    raise SystemExit(f"month {mi}: {generated} generated, {r['stored']} stored, {r['dead']} dead letters")
                if mi == 1 or mi == len(months):
                    with psycopg.connect(dsn, autocommit=True) as conn:
                        t = time.perf_counter()
                        conn.execute("ANALYZE")
                        analyze_s = time.perf_counter() - t
                        first = months[0]
                        m1 = f"{first[0]}-{first[1]:02d}"
                        nat = time_figures(conn, NATIONAL, m1, None, args.runs)
                        one = time_figures(conn, SITE, m1, busiest.id, args.runs)
                        # Diagnosis, not the figure: the same without PostgreSQL's JIT compilation.
                        conn.execute("SET jit = off")
                        nat_nojit = time_figures(conn, NATIONAL, m1, None, args.runs)
                        one_nojit = time_figures(conn, SITE, m1, busiest.id, args.runs)
                        conn.execute("RESET jit")
                        if args.explain:
                            explain(conn, NATIONAL, m1, None, args.explain, f"{mi} month(s) stored")
                            explain(conn, SITE, m1, busiest.id, args.explain, f"{mi} month(s) stored")
                        size = conn.execute("SELECT pg_database_size(current_database())").fetchone()[0]
                        stored_all = conn.execute("SELECT count(*) FROM events").fetchone()[0]
                    figures[f"{mi}"] = {"national": nat, "site": one, "national_jit_off": nat_nojit,
                                        "site_jit_off": one_nojit}
                    out[f"month{mi}"].update({"db_mb": round(size / 1e6), "events_in_db": stored_all,
                                              "analyze_s": round(analyze_s, 1)})
                    log(f"with {mi} month(s) stored ({stored_all:,} events, {size / 1e6:,.0f} MB): month 1's national "
                        f"figures {nat['median_s']:.3f} s {nat['parts_median_s']}, site {busiest.id} "
                        f"{one['median_s']:.3f} s {one['parts_median_s']}; with jit off {nat_nojit['median_s']:.3f} s "
                        f"{nat_nojit['parts_median_s']} and {one_nojit['median_s']:.3f} s")
    finally:
        shutil.rmtree(work, ignore_errors=True)  # the spool files of a month that failed
    last = figures[str(len(months))]
    out.update({
        "ingest_events_per_s": out["month1"]["events_per_s"],
        "month_figures_national_s": round(last["national"]["median_s"], 3),
        "month_figures_site_s": round(last["site"]["median_s"], 4),
        "history_growth_ratio": round(last["national"]["median_s"] / figures["1"]["national"]["median_s"], 2),
        "central_rss_mb": round(max(out[f"month{i}"]["worker_rss_mb"] for i in range(1, len(months) + 1)), 1),
        "events_month1": out["month1"]["events"],
        "events_total": sum(out[f"month{i}"]["events"] for i in range(1, len(months) + 1)),
        # per number of months stored: each timing's median, first run, median per view, rows
        "figures": {k: {name: {"median_s": round(f["median_s"], 4), "first_s": round(f["first_s"], 4),
                               "parts_median_s": f["parts_median_s"], "rows": f["rows"]}
                        for name, f in v.items()}
                    for k, v in figures.items()},
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "event_types": dict(sorted(totals.items())),
        "bench_s": round(time.perf_counter() - t_start),
        "nproc": os.cpu_count(),
    })
    print(json.dumps(out, ensure_ascii=False))


if __name__ == "__main__":
    main()
