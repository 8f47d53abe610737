"""Benchmark of the booking feeds' import (issue 17; not a test). Progress goes to stderr; the LAST
line of stdout is one JSON object:

    import_s          fetch (HTTPS, from a server of the bench's own with a throw-away CA), parse and
                      change computation for every feed: --sites feeds of --bookings bookings each,
                      spread over --days days from today, with names, phone numbers and e-mail
                      addresses in every event as booking systems send them; target <= 5 s
    parse_s_per_feed  the parse of one feed, median
    changes           the changes the second import found (one booking moved per feed)
    bytes_per_change  what one site receives for one moved booking (the change as sent)
    workers           processes importing (fetch and parse), each feed always in the same one
                      (the machine's cores)

The feeds are imported twice: the first time everything is new, the second time one booking of
each feed has moved; import_s is the second (the steady state: every feed fetched every few
minutes). Storing in PostgreSQL is not included (central/bookings/store.py adds one transaction
per feed; tests/test_booking_import.py covers it).

    .venv/bin/python bench/booking_bench.py                          # 150 feeds x 5,000 bookings
    .venv/bin/python bench/booking_bench.py --sites 20 --bookings 500
"""
from __future__ import annotations

import argparse
import concurrent.futures as cf
import datetime as dt
import http.server
import json
import os
import socketserver
import ssl
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from central.bookings.delta import change_bytes, changes_for_days  # noqa: E402
from central.bookings.fetch import fetch  # noqa: E402
from central.bookings.ical import FeedMapping, parse_feed  # noqa: E402
from sim.tlsca import make_ca  # noqa: E402

KEY = b"k" * 32
TZ = "Europe/Helsinki"
MAPPING = FeedMapping(service="kela", tz=TZ, rooms={"Huone 2": "H2"})


def log(*a) -> None:
    print(*a, file=sys.stderr, flush=True)


def make_feed(site: int, n: int, days: int, today: dt.date, moved: bool) -> bytes:
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//Bench//Ajanvaraus//FI"]
    for i in range(n):
        day = today + dt.timedelta(days=i % days)
        minute = 8 * 60 + (i // days) * 15 % (8 * 60)
        if moved and i == 0:
            minute += 60
        lines += ["BEGIN:VEVENT", f"UID:{site}-{i}@varaus.example",
                  f"DTSTART;TZID={TZ}:{day:%Y%m%d}T{minute // 60:02d}{minute % 60:02d}00", "DURATION:PT15M",
                  f"X-BOOKING-CODE:{site:03d}{i:05d}", "LOCATION:Huone 2", "X-BOOKING-NEEDS:hearing_loop",
                  f"SUMMARY:Matti Meikäläinen {i}", "DESCRIPTION:Puh. +358 40 123 4567\\, matti@example.fi",
                  "ATTENDEE;CN=Matti Meikäläinen:mailto:matti@example.fi", "END:VEVENT"]
    lines.append("END:VCALENDAR")
    return ("\r\n".join(lines) + "\r\n").encode()


def serve(feeds: dict[str, bytes], tls: Path):
    files = make_ca(tls)

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *a):
            pass

        def do_GET(self):
            body = feeds[self.path]
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(body)

    class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
        daemon_threads = True
        request_queue_size = 256

    httpd = Server(("127.0.0.1", 0), Handler)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(files.certfile, files.keyfile)
    httpd.socket = ctx.wrap_socket(httpd.socket, server_side=True)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd, files.cafile


_CACHES: dict[str, dict] = {}  # per feed, in the worker process that parses it (as the daemon keeps them)


def _import(args: tuple[str, str, list[dt.date], list[str]]):
    """One feed end to end in a worker: fetched (TLS decrypted on this core) and parsed."""
    url, ca, days, known = args
    data = fetch(url, ca_file=ca, timeout_s=60, max_bytes=200 * 2**20).body
    assert data is not None
    t = time.perf_counter()
    got = parse_feed(data, MAPPING, KEY, days, known_refs=known, cache=_CACHES.setdefault(url, {}))
    return got.bookings, time.perf_counter() - t


def run_once(urls: list[str], ca: str, days: list[dt.date], previous: dict[str, tuple], pool: list) -> tuple[float, list, dict]:
    t0 = time.perf_counter()
    # Each feed always to the same worker process: its cache is there.
    futures = [pool[i % len(pool)].submit(_import, (u, ca, days, [x.ref for x in previous.get(u, ())]))
               for i, u in enumerate(urls)]
    parsed = [f.result() for f in futures]
    changes = []
    result = {}
    for url, (bookings, _s) in zip(urls, parsed):
        changes += changes_for_days(previous.get(url, ()), bookings, days)
        result[url] = bookings
    return time.perf_counter() - t0, [s for _, s in parsed], {"changes": changes, "result": result}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sites", type=int, default=150)
    ap.add_argument("--bookings", type=int, default=5000)
    ap.add_argument("--days", type=int, default=60, help="the bookings spread over this many days")
    a = ap.parse_args()
    today = dt.date.today()
    days = [today, today + dt.timedelta(days=1)]
    log(f"making {a.sites} feeds of {a.bookings} bookings")
    first = {f"/feed-{s}.ics": make_feed(s, a.bookings, a.days, today, False) for s in range(a.sites)}
    second = {k: make_feed(int(k[6:-4]), a.bookings, a.days, today, True) for k in first}
    log(f"feed size {len(next(iter(first.values()))) / 1e6:.2f} MB")
    feeds = dict(first)
    with tempfile.TemporaryDirectory() as tmp:
        httpd, ca = serve(feeds, Path(tmp) / "tls")
        urls = [f"https://127.0.0.1:{httpd.server_address[1]}{p}" for p in first]
        workers = os.cpu_count() or 1
        pool = [cf.ProcessPoolExecutor(1) for _ in range(workers)]
        try:
            s1, _, r1 = run_once(urls, ca, days, {}, pool)
            log(f"first import {s1:.2f} s, {len(r1['changes'])} changes")
            feeds.update(second)
            s2, parse_times, r2 = run_once(urls, ca, days, r1["result"], pool)
            log(f"second import {s2:.2f} s, {len(r2['changes'])} changes")
        finally:
            for p in pool:
                p.shutdown()
        httpd.shutdown()
    moved = [c for c in r2["changes"] if c.kind == "moved"]
    out = {"import_s": round(s2, 2), "first_import_s": round(s1, 2),
           "parse_s_per_feed": round(statistics.median(parse_times), 3), "changes": len(r2["changes"]),
           "bytes_per_change": len(change_bytes(moved[0])) if moved else None, "workers": workers,
           "sites": a.sites, "bookings_per_feed": a.bookings}
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
