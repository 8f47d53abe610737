"""The scenario bench/feedback_bench.py runs: the real app, real (simulated) touches and button
presses, each timed from the press to the moment its feedback.given event is durable.

Params: "touches", "buttons" (counts), "out" (where the measurements go, JSON).
"""
from __future__ import annotations

import json
import time
from pathlib import Path

from tests.ui_scenarios.feedback import make_app, ready


def _proc_status() -> dict[str, float]:
    out = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(("VmRSS:", "VmHWM:", "RssAnon:", "RssFile:")):
            key, value = line.split(":", 1)
            out[key] = int(value.split()[0]) / 1024  # kB → MB
    return out


def bench(ctx):
    from evdev import ecodes

    from sim.fake_buttons import FakeSource

    source = FakeSource()
    app = ctx.start(make_app(ctx, button_source=source))
    yield ready(ctx, app)
    yield ctx.frames(3)
    mem_ready = _proc_status()
    durable: list[tuple[str, float]] = []
    app.recorder.on_durable = lambda resp, submitted, done: durable.append((resp.input, done, submitted))
    touch_ms, button_ms, split = [], [], []
    yield ctx.frames(3)
    ctx.tap(app.w["question"])  # warm-up: the first simulated touch imports Kivy's test helpers
    yield ctx.frames(2)
    face = ctx.find(app.root, "face-4")
    for _ in range(int(ctx.params.get("touches", 100))):
        n = len(durable)
        t0 = time.perf_counter()
        ctx.tap(face)
        yield ctx.until(lambda: len(durable) > n, "touch rating durable")
        touch_ms.append((durable[n][1] - t0) * 1000)
        split.append(((durable[n][2] - t0) * 1000, (durable[n][1] - durable[n][2]) * 1000))
        yield ctx.until(lambda: app.flow.screen == "thanks" and app.flow.accepts_input(app.now()), "thanks shown")
        yield ctx.frames(1)
        ctx.tap(ctx.find(app.root, "thanks-back"))
        yield ctx.until(lambda: app.flow.screen == "start" and app.flow.accepts_input(app.now()), "back at start")
        yield ctx.frames(1)

    yield ctx.until(lambda: app.buttons is not None and app.buttons.reader.present, "buttons present")
    keys = [ecodes.KEY_1, ecodes.KEY_2, ecodes.KEY_3, ecodes.KEY_4, ecodes.KEY_5]
    for i in range(int(ctx.params.get("buttons", 200))):
        n = len(durable)
        t0 = time.perf_counter()
        source.tap(keys[i % 5])
        yield ctx.until(lambda: len(durable) > n, "button rating durable")
        button_ms.append((durable[n][1] - t0) * 1000)

    mem = _proc_status()
    Path(ctx.params["out"]).write_text(json.dumps({
        "touch_ms": touch_ms, "button_ms": button_ms, "rss_mb": mem.get("VmRSS"), "rss_peak_mb": mem.get("VmHWM"),
        "stored": app.recorder.written, "split": split, "mem_ready": mem_ready, "mem_end": mem}))


def baseline(ctx):
    """What any Kivy window of the same size costs on this machine (the GL driver included):
    one label, nothing of the feedback terminal."""
    from kivy.app import App
    from kivy.core.window import Window
    from kivy.uix.label import Label

    class _Bare(App):
        def build(self):
            Window.size = tuple(ctx.params.get("size", (1280, 800)))
            return Label(text="palvelupiste", font_size=56)

    app = ctx.start(_Bare())
    yield ctx.until(lambda: app.root is not None, "built")
    yield ctx.frames(10)
    Path(ctx.params["out"]).write_text(json.dumps(_proc_status()))
