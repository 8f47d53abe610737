"""Number display benchmark (issue 5): call → frame latency, memory, idle CPU.

Runs the real pieces as separate processes on this machine: Mosquitto, the hub
(`palvelupiste hub`), the display (`palvelupiste display`, 1920×1080 window, speech rendered with
espeak-ng but not played), and a counter client (a HubClient in this process). Without $DISPLAY it
starts its own Xvfb.

- call_to_frame: from just before the counter client publishes "call" to the swap of the first
  frame that shows the called number (the display logs each such frame with CLOCK_MONOTONIC,
  which is shared by all processes of the machine). The path: client → broker → hub (event made
  durable in SQLite) → broker → display → frame. Calls are 0.4 s apart.
- rss_mb: the display's resident memory after the calls.
- idle_cpu_pct: the display's CPU time (user + system, its children included) over 20 s with no
  calls (the hub's state heartbeat still arrives), in % of one core.

The last line of output is one JSON object with call_to_frame_p50_ms, call_to_frame_p99_ms, rss_mb,
idle_cpu_pct (and a few more figures).
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

CALLS = int(os.environ.get("BENCH_CALLS", "60"))
GAP_S = 0.4
IDLE_S = float(os.environ.get("BENCH_IDLE_S", "20"))


def _xvfb():
    """$DISPLAY, or a private Xvfb (sim.xvfb, shared with the demo)."""
    from sim.xvfb import display_or_xvfb

    return display_or_xvfb((1920, 1080))


def _cpu_s(pid: int) -> float:
    """utime + stime + cutime + cstime of a process, in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = sum(int(x) for x in fields[11:15])
    return ticks / os.sysconf("SC_CLK_TCK")


def _rss_mb(pid: int) -> tuple[float, float]:
    st = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return int(st["VmRSS"].split()[0]) / 1024, int(st["VmHWM"].split()[0]) / 1024


def _pct(values: list[float], q: float) -> float:
    s = sorted(values)
    k = (len(s) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def bare_kivy(out: str) -> None:
    """A bare Kivy window of the same size, redrawing one label: the floor this machine's GL
    (software rendering under Xvfb here) puts under any Kivy screen, for comparison."""
    os.environ.setdefault("KIVY_NO_ARGS", "1")
    from kivy.config import Config

    Config.set("graphics", "width", "1920")
    Config.set("graphics", "height", "1080")
    from kivy.app import App
    from kivy.clock import Clock
    from kivy.core.window import Window
    from kivy.uix.label import Label

    flips: list[float] = []

    class Bare(App):
        def build(self):
            orig = Window.flip

            def flip():
                t0 = time.perf_counter()
                orig()
                flips.append((time.perf_counter() - t0) * 1000)
            Window.flip = flip
            self.n = 0
            Clock.schedule_interval(self.step, 0.2)
            return Label(text="0", font_size=200)

        def step(self, dt):
            self.n += 1
            self.root.text = str(self.n)
            if self.n >= 20:
                rss, _ = _rss_mb(os.getpid())
                Path(out).write_text(json.dumps({"frame_ms_p50": statistics.median(flips[2:]), "rss_mb": rss}))
                self.stop()

    Bare().run()


def main() -> int:
    from bus.hubclient import HubClient
    from tests.support.broker import MosquittoBroker
    from tests.ui_scenarios.display_support import device_toml

    work = Path(tempfile.mkdtemp(prefix="pp-display-bench-"))
    xvfb, display = _xvfb()
    env = dict(os.environ, DISPLAY=display, KIVY_NO_ARGS="1", KIVY_NO_CONSOLELOG="1", KIVY_NO_FILELOG="1",
               KIVY_HOME=str(work / "kivy-home"), PYTHONPATH=str(REPO), PALVELUPISTE_LOG="WARNING")
    broker = MosquittoBroker(work / "broker").start()
    procs: list[subprocess.Popen] = []
    frames = work / "frames.jsonl"
    try:
        hub_conf = device_toml(work / "hub.toml", device="hub-1", role="hub", broker_url=broker.url,
                               data_dir=work / "hub", extra="[hub]\nheartbeat_s = 10\n")
        disp_conf = device_toml(work / "display.toml", device="display-1", role="display", broker_url=broker.url,
                                data_dir=work / "display",
                                extra=f'[display]\nfullscreen = false\naudio_player = "none"\nframe_log = "{frames}"\n')
        procs.append(subprocess.Popen([sys.executable, "-m", "cli", "hub", "--config", str(hub_conf),
                                       "--log-level", "WARNING"], cwd=REPO, env=env))
        mute = ["--mute"] if os.environ.get("BENCH_SPEECH", "1") == "0" else []
        disp = subprocess.Popen([sys.executable, "-m", "cli", "display", "--config", str(disp_conf), *mute],
                                cwd=REPO, env=env, stderr=subprocess.PIPE if os.environ.get("BENCH_QUIET") else None)
        procs.append(disp)

        kiosk = HubClient(broker.url, "example-pp", "kiosk-1").start()
        clerk = HubClient(broker.url, "example-pp", "counter-1").start()
        assert kiosk.wait_connected(10) and clerk.wait_connected(10)
        t_end = time.monotonic() + 30
        while not clerk.request({"cmd": "open", "counter": "1"}, timeout=1.0).get("ok"):
            if time.monotonic() > t_end:  # the hub is a process of its own: it may still be starting
                raise SystemExit("display_bench: the hub does not answer")
        for _ in range(CALLS + 30):
            assert kiosk.request({"cmd": "take", "service": "kela"})["ok"]

        breakdown: list[dict] = []

        def frame_of(number: str, after: int, timeout: float) -> tuple[float | None, int]:
            t_wait = time.monotonic() + timeout
            while time.monotonic() < t_wait:
                text = frames.read_text() if frames.exists() else ""
                lines = text.split("\n")[:-1]  # complete lines only: the display may be writing one
                for line in lines[after:]:
                    rec = json.loads(line)
                    if rec["number"] == number:
                        breakdown.append(rec)
                        return rec["shown"], len(lines)
                time.sleep(0.002)
            return None, after

        # warm-up: call until one call reaches the display's frame log (the display is up)
        t_end = time.monotonic() + 60
        while True:
            if disp.poll() is not None:
                raise SystemExit(f"display_bench: the display exited with {disp.returncode}")
            if time.monotonic() > t_end:
                raise SystemExit("display_bench: the display never showed a call")
            r = clerk.request({"cmd": "call", "counter": "1"})
            shown, _ = frame_of(r["number"], 0, 2.0)
            if shown is not None:
                break
        time.sleep(1.0)

        latencies, rx_ms, reply_ms, render_ms = [], [], [], []
        cpu0 = _cpu_s(disp.pid)
        seen = len(frames.read_text().split("\n")[:-1])
        for _ in range(CALLS):
            t0 = time.monotonic()
            r = clerk.request({"cmd": "call", "counter": "1"})
            t_reply = time.monotonic()
            assert r.get("ok"), r
            shown, seen = frame_of(r["number"], seen, 5.0)
            if shown is None:
                raise SystemExit(f"display_bench: {r['number']} never reached a frame")
            latencies.append((shown - t0) * 1000)
            rx_ms.append((breakdown[-1]["rx"] - t0) * 1000)
            render_ms.append((breakdown[-1]["shown"] - breakdown[-1]["rx"]) * 1000)
            reply_ms.append((t_reply - t0) * 1000)
            time.sleep(max(0.0, GAP_S - (time.monotonic() - t0)))

        cpu_calls = _cpu_s(disp.pid) - cpu0
        rss, hwm = _rss_mb(disp.pid)
        bare_out = work / "bare.json"
        subprocess.run([sys.executable, __file__, "--bare-kivy", str(bare_out)], cwd=REPO, env=env,
                       capture_output=True, timeout=120)
        bare = json.loads(bare_out.read_text()) if bare_out.exists() else {}
        time.sleep(8)  # the last highlight ends, speech rendering finishes
        c0, w0 = _cpu_s(disp.pid), time.monotonic()
        time.sleep(IDLE_S)
        c1, w1 = _cpu_s(disp.pid), time.monotonic()
        idle = (c1 - c0) / (w1 - w0) * 100
        kiosk.close()
        clerk.close()
    finally:
        for p in procs:
            if p.poll() is None:
                p.terminate()
        for p in procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
        broker.stop()
        if xvfb is not None:
            xvfb.stop()
        shutil.rmtree(work, ignore_errors=True)

    result = {
        "call_to_frame_p50_ms": round(statistics.median(latencies), 1),
        "call_to_frame_p99_ms": round(_pct(latencies, 0.99), 1),
        "call_to_frame_max_ms": round(max(latencies), 1),
        "calls": len(latencies),
        "call_to_display_rx_p50_ms": round(statistics.median(rx_ms), 1),
        "call_reply_p50_ms": round(statistics.median(reply_ms), 1),
        "display_rx_to_frame_p50_ms": round(statistics.median(render_ms), 1),
        "display_cpu_ms_per_call": round(cpu_calls / len(latencies) * 1000, 1),
        "load_avg_1min": round(os.getloadavg()[0], 2),
        "rss_mb": round(rss, 1),
        "rss_peak_mb": round(hwm, 1),
        "bare_kivy_rss_mb": round(bare.get("rss_mb", 0), 1),
        "bare_kivy_frame_ms_p50": round(bare.get("frame_ms_p50", 0), 1),
        "idle_cpu_pct": round(idle, 2),
        "idle_window_s": IDLE_S,
        "cores": os.cpu_count(),
        "speech": not mute,
    }
    print(f"display bench: {len(latencies)} calls, p50 {result['call_to_frame_p50_ms']} ms, "
          f"p99 {result['call_to_frame_p99_ms']} ms; RSS {result['rss_mb']} MB; idle CPU {result['idle_cpu_pct']} %")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--bare-kivy":
        bare_kivy(sys.argv[2])
        sys.exit(0)
    sys.exit(main())
