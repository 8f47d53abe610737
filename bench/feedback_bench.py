"""Feedback terminal benchmark (issue 6): press → durable feedback.given event, and memory.

Runs the real app (1280×800 window) in its own process under X — without $DISPLAY it starts
its own Xvfb — through the UI scenario tests/ui_scenarios/feedback_bench.py:

- touch: a simulated touch on a face (window touch dispatch → FaceButton → Terminal.press →
  recorder thread → SQLite WAL commit with synchronous=FULL) until the recorder reports the
  event durable; then "back to start" for the next one (not timed).
- button: a key press pushed into the button source (FakeSource, real evdev InputEvents) →
  reader thread → decoder → Terminal.press (misuse guard) → recorder → durable. This is the
  physical buttons' path without the kernel.
- rss_mb: the app process's peak resident memory (VmHWM) after all presses, Kivy, SDL2, the
  GL driver (Mesa under Xvfb) and fonts included. For scale, bare_kivy_window_rss_mb is the
  same measure for a Kivy app that shows one label in a window of the same size: the part of
  rss_mb that no feedback-terminal code can change on this machine (Mesa's llvmpipe software
  renderer maps libLLVM and keeps its buffers in process memory; a Pi's V3D driver does not).

The store lives in a temporary directory on this machine's disk. The last line of output is
one JSON object: press_to_durable_p99_ms (touches and buttons together), rss_mb, and more.
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
TOUCHES = int(os.environ.get("BENCH_TOUCHES", "150"))
BUTTONS = int(os.environ.get("BENCH_BUTTONS", "300"))


def _xvfb():
    """$DISPLAY, or a private Xvfb (sim.xvfb, shared with the demo)."""
    from sim.xvfb import display_or_xvfb

    return display_or_xvfb((1920, 1080))


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(p / 100 * len(s) + 0.5) - 1))]


def main() -> int:
    xvfb, display = _xvfb()
    work = Path(tempfile.mkdtemp(prefix="feedback-bench-"))
    out = work / "measurements.json"
    params = {"touches": TOUCHES, "buttons": BUTTONS, "out": str(out), "tag": "bench",
              "feedback": {"settle_s": 0, "follow_ups": [], "thanks_s": 60, "idle_s": 600, "warn_s": 10,
                           "buttons": {"device_name": "fake", "debounce_s": 0,
                                       "keymap": {f"KEY_{i}": i for i in range(1, 6)}}}}
    env = dict(os.environ, DISPLAY=display, KIVY_NO_ARGS="1", KIVY_NO_CONSOLELOG="1", KIVY_NO_FILELOG="1",
               KIVY_HOME=str(work / "kivy-home"), PYTHONPATH=str(REPO))
    t0 = time.monotonic()
    base_out = work / "baseline.json"
    try:
        proc = subprocess.run([sys.executable, "-m", "tests.support.kivy_driver",
                               "tests.ui_scenarios.feedback_bench:bench", str(work), str(work / "shots"),
                               json.dumps(params), "600"], cwd=REPO, env=env, capture_output=True, text=True,
                              timeout=700)
        subprocess.run([sys.executable, "-m", "tests.support.kivy_driver", "tests.ui_scenarios.feedback_bench:baseline",
                        str(work), str(work / "shots"), json.dumps({"out": str(base_out)}), "60"],
                       cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    finally:
        if xvfb is not None:
            xvfb.stop()
    if proc.returncode != 0 or not out.exists():
        print(proc.stdout[-3000:], proc.stderr[-3000:], file=sys.stderr)
        print("feedback_bench: the app scenario failed", file=sys.stderr)
        return 1
    m = json.loads(out.read_text())
    base = json.loads(base_out.read_text()) if base_out.exists() else {}
    touch, button = m["touch_ms"], m["button_ms"]
    both = touch + button
    result = {
        "press_to_durable_p99_ms": round(pct(both, 99), 2),
        "press_to_durable_p50_ms": round(statistics.median(both), 2),
        "touch_p50_ms": round(statistics.median(touch), 2), "touch_p99_ms": round(pct(touch, 99), 2),
        "button_p50_ms": round(statistics.median(button), 2), "button_p99_ms": round(pct(button, 99), 2),
        "max_ms": round(max(both), 2),
        "rss_mb": round(m["rss_peak_mb"], 1), "rss_now_mb": round(m["rss_mb"], 1),
        "rss_anon_mb": round(m["mem_end"].get("RssAnon", 0), 1), "rss_file_mb": round(m["mem_end"].get("RssFile", 0), 1),
        "rss_ready_mb": round(m["mem_ready"].get("VmRSS", 0), 1),
        "bare_kivy_window_rss_mb": round(base["VmHWM"], 1) if base else None,
        "presses": len(both), "stored": m["stored"], "seconds": round(time.monotonic() - t0, 1),
    }
    print(f"press → durable over {len(both)} presses ({len(touch)} touches, {len(button)} buttons): "
          f"p50 {result['press_to_durable_p50_ms']} ms, p99 {result['press_to_durable_p99_ms']} ms "
          f"(target < 30), max {result['max_ms']} ms")
    print(f"touch p50/p99 {result['touch_p50_ms']}/{result['touch_p99_ms']} ms; "
          f"button p50/p99 {result['button_p50_ms']}/{result['button_p99_ms']} ms")
    print(f"app resident memory: peak {result['rss_mb']} MB, at the end {result['rss_now_mb']} MB (target < 120); "
          f"a bare Kivy window of the same size here: {result['bare_kivy_window_rss_mb']} MB")
    if os.environ.get("BENCH_VERBOSE"):
        print("touch ms:", [round(x, 1) for x in touch], file=sys.stderr)
        print("button ms:", [round(x, 1) for x in button], file=sys.stderr)
        print("touch split (to submit, submit to durable):", [(round(a, 1), round(b, 1)) for a, b in m["split"]],
              file=sys.stderr)
    shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
