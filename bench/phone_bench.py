"""Benchmark of the page behind a ticket's QR code (issue 15; not a test). Progress goes to stderr;
the LAST line of stdout is one JSON object:

    call_to_phone_p50_ms, call_to_phone_p99_ms
                         from the counter's call command (sent over the site broker) to the open
                         page in Chromium showing "go to counter" (its own clock, the same machine):
                         counter → hub → site broker → bridge → central broker → web → event
                         stream → browser; target p99 ≤ 1,000
    page_bytes           the page with everything it loads (HTML, CSS, script); target < 30,720
    page_ttfb_p95_ms     time to the first byte of a ticket's page with --streams event streams
                         open; target ≤ 100
    open_pages_rss_mb    the web service's resident memory with those streams open

Runs the demo's service point without its apps (sim.demo.ServicePoint: both brokers with the
project's ACLs, the site broker bridged to the central one over TLS, hub, ingest, sync agents,
PostgreSQL, the web service with its follow link). Each call: a ticket is taken as the kiosk
(HubClient), its page opened in a fresh browser context, the counter calls it, the page's
MutationObserver notes when "go to counter" appears, the counter finishes it.

    .venv/bin/python bench/phone_bench.py                  # 100 calls, 1,000 open streams
    .venv/bin/python bench/phone_bench.py --calls 20 --streams 100
"""
from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import os
import resource
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bus.hubclient import HubClient  # noqa: E402
from sim.demo import ServicePoint  # noqa: E402

OBSERVE = """() => {
  window.__calledAt = null;
  const live = document.getElementById('live');
  new MutationObserver(() => {
    if (!window.__calledAt && live.querySelector('.called')) window.__calledAt = Date.now();
  }).observe(live, {childList: true, subtree: true});
}"""


def log(msg: str) -> None:
    print(f"[phone_bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def pct(values: list[float], q: float) -> float:
    v = sorted(values)
    return v[min(len(v) - 1, max(0, round(q * len(v)) - 1))]


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


class Streams:
    """`n` event streams held open against the web service (what n open phone pages cost it)."""

    def __init__(self, port: int, paths: list[str]) -> None:
        self.port, self.paths = port, paths
        self.open = 0
        self.loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self._main())

    async def _one(self, path: str) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n".encode())
        await writer.drain()
        head = await reader.readuntil(b"\r\n\r\n")
        if b" 200 " not in head.split(b"\r\n", 1)[0]:
            raise RuntimeError(f"a stream was refused: {head[:80]!r}")
        self.open += 1
        while await reader.read(65536):
            pass

    async def _main(self) -> None:
        tasks = []
        for i, path in enumerate(self.paths):
            tasks.append(asyncio.create_task(self._one(path)))
            if i % 50 == 49:
                await asyncio.sleep(0.05)  # not a thousand SYNs at once
        self._ready.set()
        await asyncio.gather(*tasks, return_exceptions=True)


def ttfb_ms(port: int, path: str) -> float:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    t0 = time.perf_counter()
    conn.request("GET", path)
    r = conn.getresponse()
    r.read(1)
    dt = (time.perf_counter() - t0) * 1000
    r.read()
    conn.close()
    return dt


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--calls", type=int, default=100)
    ap.add_argument("--streams", type=int, default=1000)
    ap.add_argument("--requests", type=int, default=200, help="page requests timed for the TTFB")
    args = ap.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, 8192)), hard))  # the web service inherits it

    from playwright.sync_api import sync_playwright

    from tests.support.web import launch_browser

    out = Path(tempfile.mkdtemp(prefix="phone-bench-"))
    sp = ServicePoint(out / "point", headless=True, apps=False)
    sp.prepare()
    result: dict = {"calls": args.calls, "streams": args.streams, "nproc": os.cpu_count()}
    try:
        sp.start_infrastructure()
        site = sp.site.id
        kiosk = HubClient(f"mqtt://127.0.0.1:{sp.site_port}", site, "kiosk-1",
                          password=sp.secret("kiosk-1").read_text()).start()
        clerk = HubClient(f"mqtt://127.0.0.1:{sp.site_port}", site, "counter-1",
                          password=sp.secret("counter-1").read_text()).start()
        deadline = time.monotonic() + 60
        while not clerk.request({"cmd": "open", "counter": "1"}).get("ok"):
            if time.monotonic() > deadline:
                raise RuntimeError("the hub does not answer")
        web_pid = next(p.popen.pid for p in sp.procs if p.name == "web" and p.popen)

        # Tickets that stay waiting, for the open streams and the TTFB.
        held = [kiosk.request({"cmd": "take", "service": "poliisi", "lang": "fi"}) for _ in range(10)]
        assert all(t.get("ok") for t in held), held
        paths = [f"/t/{site}/{t['token']}" for t in held]
        deadline = time.monotonic() + 30
        while http_status(sp.web.port, paths[-1]) != 200:
            if time.monotonic() > deadline:
                raise RuntimeError("the tickets never reached the web service")
            time.sleep(0.2)
        result["rss_mb_idle"] = round(rss_mb(web_pid), 1)
        streams = Streams(sp.web.port, [paths[i % len(paths)] + "/live?lang=fi" for i in range(args.streams)])
        deadline = time.monotonic() + 120
        while streams.open < args.streams:
            if time.monotonic() > deadline:
                raise RuntimeError(f"only {streams.open} of {args.streams} streams opened")
            time.sleep(0.2)
        log(f"{streams.open} event streams open")
        ttfbs = [ttfb_ms(sp.web.port, paths[i % len(paths)]) for i in range(args.requests)]
        result["page_ttfb_p50_ms"] = round(statistics.median(ttfbs), 1)
        result["page_ttfb_p95_ms"] = round(pct(ttfbs, 0.95), 1)
        result["open_pages_rss_mb"] = round(rss_mb(web_pid), 1)
        log(f"TTFB p95 {result['page_ttfb_p95_ms']} ms, web RSS {result['open_pages_rss_mb']} MB")

        latencies: list[float] = []
        with sync_playwright() as p:
            browser = launch_browser(p)
            for i in range(args.calls):
                t = kiosk.request({"cmd": "take", "service": "kela", "lang": "fi"})
                assert t.get("ok"), t
                # bypass_csp: the page allows no eval, which Playwright's wait_for_function needs
                ctx = browser.new_context(viewport={"width": 360, "height": 640}, bypass_csp=True)
                page = ctx.new_page()
                url = f"{sp.web.url}/t/{site}/{t['token']}"
                deadline = time.monotonic() + 30
                while True:  # until the ticket has reached the centre
                    page.goto(url)
                    if t["number"] in page.inner_text("h1") or time.monotonic() > deadline:
                        break
                    time.sleep(0.1)
                if i == 0:
                    sizes: list = []
                    page.on("response", lambda r: sizes.append(r))
                    page.goto(url, wait_until="load")
                    result["page_bytes"] = sum(len(r.body()) for r in sizes if "/live" not in r.url and r.status == 200)
                page.evaluate(OBSERVE)
                page.wait_for_function("document.getElementById('live').dataset.connected === '1'")
                t0 = time.time() * 1000
                called = clerk.request({"cmd": "call", "counter": "1"})
                assert called.get("number") == t["number"], called
                page.wait_for_function("window.__calledAt", timeout=10_000)
                latencies.append(page.evaluate("window.__calledAt") - t0)
                clerk.request({"cmd": "finish", "counter": "1"})
                ctx.close()
                if i % 10 == 9:
                    log(f"{i + 1} calls, p50 {statistics.median(latencies):.0f} ms, max {max(latencies):.0f} ms")
            browser.close()
        result["call_to_phone_p50_ms"] = round(statistics.median(latencies), 1)
        result["call_to_phone_p99_ms"] = round(pct(latencies, 0.99), 1)
        result["call_to_phone_max_ms"] = round(max(latencies), 1)
        result["open_pages_rss_mb_after_calls"] = round(rss_mb(web_pid), 1)
        result["load_average"] = [round(x, 2) for x in os.getloadavg()]
        kiosk.close()
        clerk.close()
    finally:
        sp.stop()
    print(json.dumps(result))


def http_status(port: int, path: str) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", path)
    status = conn.getresponse().status
    conn.close()
    return status


if __name__ == "__main__":
    main()
