"""Kiosk benchmark (issue 4): tap to printed ticket, ticket size, cold start, memory.

Runs the real pieces as separate processes on this machine: Mosquitto, the hub
(`palvelupiste hub`, durable SQLite store), and the kiosk (a 1080×1920 Kivy window driven by
simulated touches). The printer is an emulated ESC/POS printer on a real pseudo-terminal in this
process, answering the kiosk's DLE EOT status queries. Without $DISPLAY it starts its own Xvfb.

- tap_to_print: from the touch on the last step ("Get my number") to the moment the last byte of
  that ticket (its cut command) arrives at the printer end of the serial line. Both ends read
  CLOCK_MONOTONIC, which all processes of the machine share. The path: touch → flow → hub link
  thread → broker → hub (ticket.issued durable in its store) → broker → kiosk (next frame) →
  printer worker → status query over the line → the job written to the line.
- ticket_bytes: the largest ESC/POS job of the run (a Finnish ticket with QR).
- cold_start_s: from starting `palvelupiste kiosk --config ...` to its first frame (median of 3).
- rss_mb: the kiosk's resident memory after the tickets (the larger of the driven kiosk and the
  CLI-started one). rss_bare_kivy_mb is a bare Kivy window of the same size and settings, for
  comparison: with Mesa's software GL (llvmpipe, as under Xvfb) that floor alone is ~150 MB.

Knobs: BENCH_TICKETS (80). The last line of output is one JSON object.
"""
from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

TICKETS = int(os.environ.get("BENCH_TICKETS", "80"))
CUT = b"\x1dV"


def _xvfb():
    """$DISPLAY, or a private Xvfb (sim.xvfb, shared with the demo)."""
    from sim.xvfb import display_or_xvfb

    return display_or_xvfb((1920, 1080))


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _pct(values: list[float], q: float) -> float:
    s = sorted(values)
    k = (len(s) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def _timed_printer():
    """The package's pty printer, noting when each job's cut arrived (CLOCK_MONOTONIC)."""
    from sim.printer_emulator import PtyPrinter

    class TimedPrinter(PtyPrinter):
        def __init__(self) -> None:
            super().__init__()
            self.cut_times: list[float] = []
            self._tail = b""

        def _feed(self, data: bytes) -> None:
            t = time.monotonic()
            super()._feed(data)
            buf = self._tail + data
            self.cut_times += [t] * buf.count(CUT)
            self._tail = buf[-1:]

    return TimedPrinter()


def _device_toml(path: Path, broker_url: str, data_dir: Path, printer_url: str) -> Path:
    site = REPO / "assets" / "sites" / "example.toml"
    path.write_text(
        "[device]\nid = \"kiosk-1\"\nrole = \"kiosk\"\nsite = \"example-pp\"\n"
        f"site_config = \"{site}\"\ndata_dir = \"{data_dir}\"\n\n"
        f"[site_broker]\nurl = \"{broker_url}\"\n\n"
        "[kiosk]\nidle_s = 120\nticket_idle_s = 120\nprinter_poll_s = 5\n\n"
        f"[printer]\nurl = \"{printer_url}\"\nstatus_timeout = 0.3\n", encoding="utf-8")
    return path


# --- the driven kiosk (runs in its own process through tests/support/kivy_driver.py) -----------

def drive(ctx):
    """A kiosk scenario: TICKETS walk-ins; the time of each last tap goes to taps.json."""
    from cli.kiosk_cmd import kivy_settings
    from core.config import load_device
    from kiosk import flow as F
    from kiosk.app import build_from_device
    from kiosk.settings import kiosk_settings
    from uikit.launch import configure_kivy

    configure_kivy(kivy_settings(kiosk_settings(load_device(ctx.params["config"]))))  # as `palvelupiste kiosk`
    app = ctx.start(build_from_device(ctx.params["config"], speech_player=None, settle_s=0.05))
    n = int(ctx.params["tickets"])

    def ready(pp_id):
        def cond():
            if not app.settled() or not app.flow.ready(app.now()):
                return False
            try:
                return not ctx.find(app.root, pp_id).disabled
            except AssertionError:
                return False
        return cond

    yield ctx.until(lambda: app.root is not None and app.settled(), "built")
    yield ctx.until(lambda: app.hub.connected and app.flow.printer_ok is True, "hub and printer", timeout=30)
    taps = []
    services = [s for s in app.flow.services()]
    for i in range(n):
        yield ctx.until(ready("take_number"), "start")
        ctx.tap(ctx.find(app.root, "take_number"))
        sid = services[i % len(services)]
        yield ctx.until(ready(f"service_{sid}"), "services")
        ctx.tap(ctx.find(app.root, f"service_{sid}"))
        yield ctx.until(ready("get_number"), "needs")
        w = ctx.find(app.root, "get_number")
        t0 = time.monotonic()
        ctx.tap(w)
        taps.append(t0)
        yield ctx.until(lambda: app.flow.screen == F.TICKET and app.flow.c.print_status == "printed", "printed",
                        timeout=20)
        yield ctx.until(ready("done"), "done")
        ctx.tap(ctx.find(app.root, "done"))
    Path(ctx.params["out"]).write_text(json.dumps({"taps": taps, "rss_mb": _rss_mb(os.getpid())}))


def bare_kivy(out: str) -> None:
    """A bare Kivy window of the kiosk's size and settings, one label: the memory this machine's
    GL stack (software rendering under Xvfb here) costs any Kivy app, for comparison."""
    from cli.kiosk_cmd import kivy_settings
    from kiosk.settings import parse_kiosk
    from uikit.launch import configure_kivy

    configure_kivy(kivy_settings(parse_kiosk({})))
    from kivy.app import App
    from kivy.clock import Clock
    from kivy.uix.label import Label

    class Bare(App):
        def build(self):
            def done(_dt):
                Path(out).write_text(json.dumps({"rss_mb": _rss_mb(os.getpid())}))
                self.stop()
            Clock.schedule_once(done, 2.0)
            return Label(text="0", font_size=200)

    Bare().run()


# --- the bench ------------------------------------------------------------------------------

def main() -> int:
    from tests.support.broker import MosquittoBroker
    from tests.support.hubproc import HubProcess

    work = Path(tempfile.mkdtemp(prefix="pp-kiosk-bench-"))
    xvfb, display = _xvfb()
    env = dict(os.environ, DISPLAY=display, KIVY_NO_ARGS="1", KIVY_NO_CONSOLELOG="1", KIVY_NO_FILELOG="1",
               KIVY_HOME=str(work / "kivy-home"), PYTHONPATH=str(REPO), PALVELUPISTE_LOG="WARNING")
    broker = MosquittoBroker(work / "broker").start()
    hub = HubProcess(work / "hub", broker.port)
    printer = _timed_printer().start()
    try:
        hub.start()
        config = _device_toml(work / "kiosk.toml", broker.url, work / "kiosk", printer.url())
        out = work / "taps.json"
        params = {"config": str(config), "tickets": TICKETS, "out": str(out)}
        proc = subprocess.run([sys.executable, "-m", "tests.support.kivy_driver", "bench.kiosk_bench:drive",
                               str(work / "drive"), str(work / "shots"), json.dumps(params), str(60 + TICKETS * 3)],
                              cwd=REPO, env=env, capture_output=True, text=True, timeout=120 + TICKETS * 3)
        if proc.returncode != 0 or not out.exists():
            print(proc.stdout[-3000:], proc.stderr[-3000:], file=sys.stderr)
            raise SystemExit("kiosk_bench: the driven kiosk failed")
        driven = json.loads(out.read_text())
        taps = driven["taps"]
        cuts = printer.cut_times
        if len(cuts) != len(taps):
            raise SystemExit(f"kiosk_bench: {len(taps)} taps but {len(cuts)} tickets printed")
        lat = [(c - t) * 1000 for t, c in zip(taps, cuts)]
        jobs = printer.jobs()
        ticket_bytes = max(len(j) for j in jobs)

        # cold start: the kiosk command's start-up path, as on the device, to its first frame
        starts, rss_cli = [], 0.0
        for i in range(3):
            ready = work / f"ready-{i}"
            t0 = time.time()
            p = subprocess.Popen([sys.executable, "-m", "sim.apps", "kiosk", "--config", str(config),
                                  "--log-level", "WARNING", "--ready-file", str(ready)], cwd=REPO, env=env,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            deadline = time.monotonic() + 30
            while not ready.exists() and time.monotonic() < deadline and p.poll() is None:
                time.sleep(0.005)
            if ready.exists():
                starts.append(float(ready.read_text()) - t0)
                time.sleep(1.0)
                rss_cli = max(rss_cli, _rss_mb(p.pid))
            p.terminate()
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(5)
        if not starts:
            raise SystemExit("kiosk_bench: the kiosk never drew a frame")
        bare_out = work / "bare.json"
        subprocess.run([sys.executable, __file__, "--bare-kivy", str(bare_out)], cwd=REPO, env=env,
                       capture_output=True, timeout=120)
        bare = json.loads(bare_out.read_text()).get("rss_mb", 0.0) if bare_out.exists() else 0.0
        result = {
            "tap_to_print_p50_ms": round(statistics.median(lat), 1),
            "tap_to_print_p99_ms": round(_pct(lat, 0.99), 1),
            "tap_to_print_max_ms": round(max(lat), 1),
            "tickets": len(lat),
            "ticket_bytes": ticket_bytes,
            "cold_start_s": round(statistics.median(starts), 3),
            "cold_start_runs_s": [round(s, 3) for s in starts],
            "rss_mb": round(max(driven["rss_mb"], rss_cli), 1),
            "rss_driven_mb": round(driven["rss_mb"], 1),
            "rss_cli_mb": round(rss_cli, 1),
            "rss_bare_kivy_mb": round(bare, 1),
        }
        print(f"tap to print: p50 {result['tap_to_print_p50_ms']} ms, p99 {result['tap_to_print_p99_ms']} ms "
              f"over {len(lat)} tickets; ticket {ticket_bytes} bytes; cold start {result['cold_start_s']} s; "
              f"rss {result['rss_mb']} MB (a bare Kivy window of the same size: {result['rss_bare_kivy_mb']} MB)")
        print(json.dumps(result))
        return 0
    finally:
        printer.stop()
        hub.terminate()
        broker.stop()
        if xvfb is not None:
            xvfb.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--bare-kivy":
        bare_kivy(sys.argv[2])
        sys.exit(0)
    sys.exit(main())
