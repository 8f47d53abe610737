"""Drive a real Kivy app window with simulated touches, from inside the app's own process.

Kivy keeps global state across App().run() calls, so each UI test runs its scenario in a
fresh Python process under the test run's X server (make test runs pytest under Xvfb):

    # in the test module
    def test_walk_in(tmp_path):
        run_scenario("tests.ui_scenarios.kiosk:walk_in", tmp_path)   # asserts the child passed

    # in tests/ui_scenarios/kiosk.py
    def walk_in(ctx):            # a generator run on Kivy's clock
        app = ctx.start(KioskApp(...))
        yield ctx.until(lambda: app.root is not None)
        ctx.tap(ctx.find(app.root, "take_number"))
        yield ctx.until(lambda: app.screen_name == "services", "services screen shown")
        ctx.screenshot("kiosk-services-fi")

A scenario yields conditions (callables); each is polled every frame until true or the
scenario's deadline passes. Assertion errors inside fail the child, which fails the test.
"""
from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import time
import traceback
from pathlib import Path
from typing import Any, Callable

REPO = Path(__file__).resolve().parents[2]


class SteppedClock:
    """An app's clock (`clock=` of the kiosk and feedback apps) that a scenario moves forward:
    the monotonic time plus whatever `advance` added, so idle timing is tested without waiting
    on the wall clock (a loaded machine would make such waits race)."""

    def __init__(self) -> None:
        self.ahead = 0.0

    def __call__(self) -> float:
        return time.monotonic() + self.ahead

    def advance(self, seconds: float) -> None:
        self.ahead += seconds


class Until:
    def __init__(self, cond: Callable[[], bool], what: str, timeout: float) -> None:
        self.cond, self.what, self.timeout = cond, what, timeout


class Frames:
    def __init__(self, n: int) -> None:
        self.n = n


class Context:
    def __init__(self, workdir: Path, output_dir: Path, params: dict[str, Any]) -> None:
        self.workdir = workdir
        self.output_dir = output_dir
        self.params = params
        self.app = None
        self.screenshots: list[str] = []
        self.result: dict[str, Any] = {}  # what the scenario reports to its test (JSON)

    def start(self, app):
        self.app = app
        return app

    @staticmethod
    def until(cond: Callable[[], bool], what: str = "condition", timeout: float = 15.0) -> Until:
        return Until(cond, what, timeout)

    @staticmethod
    def frames(n: int = 3) -> Frames:
        """Let Kivy draw `n` frames (layout and canvas settle) — not a timed sleep."""
        return Frames(n)

    @staticmethod
    def find(root, ident: str | Callable[[Any], bool]):
        """The first widget under `root` whose `ids` name or `pp_id` property is `ident`, or for
        which the predicate is true."""
        pred = ident if callable(ident) else (lambda w: getattr(w, "pp_id", None) == ident)
        for w in root.walk(restrict=True):
            if pred(w):
                return w
        if isinstance(ident, str):
            for w in root.walk(restrict=True):
                if ident in getattr(w, "ids", {}):
                    return w.ids[ident]
        raise AssertionError(f"no widget {ident!r} on screen")

    @staticmethod
    def find_all(root, pred: Callable[[Any], bool]) -> list:
        return [w for w in root.walk(restrict=True) if pred(w)]

    @staticmethod
    def tap(widget, double: bool = False) -> None:
        """A touch down + up at the widget's centre, in window coordinates, through the
        window's normal event dispatch (as a finger would)."""
        from kivy.tests.common import UnitTestTouch

        x, y = widget.to_window(*widget.center)
        for _ in range(2 if double else 1):
            t = UnitTestTouch(x, y)
            t.touch_down()
            t.touch_up()

    @staticmethod
    def key(text: str) -> None:
        """Type text as a keyboard-emulating barcode reader would (window key events)."""
        from kivy.core.window import Window

        for ch in text:
            Window.dispatch("on_key_down", ord(ch) if ch != "\n" else 13, 0, ch if ch != "\n" else None, [])
            Window.dispatch("on_textinput", ch) if ch != "\n" else None
            Window.dispatch("on_key_up", ord(ch) if ch != "\n" else 13, 0)

    def screenshot(self, name: str) -> Path:
        from kivy.core.window import Window

        self.output_dir.mkdir(parents=True, exist_ok=True)
        path = self.output_dir / f"{name}.png"
        Window.screenshot(name=str(self.output_dir / f"{name}-.png"))
        # Window.screenshot numbers its files; give the newest one the stable name.
        shots = sorted(self.output_dir.glob(f"{name}-*.png"), key=lambda p: p.stat().st_mtime)
        if shots:
            shots[-1].replace(path)
            for extra in shots[:-1]:
                extra.unlink(missing_ok=True)
        self.screenshots.append(str(path))
        return path


def _child_main(target: str, workdir: str, output_dir: str, params_json: str, timeout: float) -> int:
    from kivy.app import App
    from kivy.clock import Clock

    mod_name, func_name = target.split(":")
    ctx = Context(Path(workdir), Path(output_dir), json.loads(params_json))
    gen = getattr(importlib.import_module(mod_name), func_name)(ctx)
    result: dict[str, Any] = {"ok": False}
    deadline = time.monotonic() + timeout
    state: dict[str, Any] = {"waiting": None, "frames": 0, "until_deadline": None}

    def finish(ok: bool, error: str | None = None) -> None:
        result.update(ctx.result)
        result.update(ok=ok, error=error, screenshots=ctx.screenshots)
        app = App.get_running_app()
        if app is not None:
            app.stop()

    def step(dt: float) -> None:
        try:
            if time.monotonic() > deadline:
                raise AssertionError(f"scenario exceeded {timeout}s")
            w = state["waiting"]
            if isinstance(w, Until):
                if not w.cond():
                    if time.monotonic() > state["until_deadline"]:
                        raise AssertionError(f"timed out after {w.timeout}s waiting for: {w.what}")
                    Clock.schedule_once(step, 0)
                    return
            elif isinstance(w, Frames):
                if state["frames"] < w.n:
                    state["frames"] += 1
                    Clock.schedule_once(step, 0)
                    return
            nxt = next(gen)
            state["waiting"] = nxt
            state["frames"] = 0
            if isinstance(nxt, Until):
                state["until_deadline"] = time.monotonic() + nxt.timeout
            Clock.schedule_once(step, 0)
        except StopIteration:
            finish(True)
        except BaseException:
            finish(False, traceback.format_exc())

    first = next(gen)  # runs up to the first yield: creates the app via ctx.start(...)
    state["waiting"] = first
    if isinstance(first, Until):
        state["until_deadline"] = time.monotonic() + first.timeout
    if ctx.app is None:
        raise RuntimeError("scenario must call ctx.start(app) before its first yield")
    Clock.schedule_once(step, 0)
    try:
        ctx.app.run()
    finally:
        try:
            gen.close()
        except Exception:
            pass
    if not result.get("ok") and result.get("error") is None:
        result["error"] = "the app stopped before the scenario finished"
    print("SCENARIO-RESULT " + json.dumps(result), flush=True)
    return 0 if result.get("ok") else 1


def run_scenario(target: str, workdir: Path, output_dir: Path | None = None, params: dict | None = None,
                 timeout: float = 90.0, env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run a scenario in its own process; fails the calling test with the child's traceback."""
    import pytest

    if not os.environ.get("DISPLAY"):
        pytest.skip("no X display: run the UI tests under Xvfb (make test does)")
    out = output_dir or (REPO / "test-output" / "screenshots")
    e = dict(os.environ)
    e.update({"KIVY_NO_ARGS": "1", "KIVY_NO_CONSOLELOG": "1", "KIVY_NO_FILELOG": "1",
              "KIVY_HOME": str(Path(workdir) / "kivy-home"), "PYTHONPATH": str(REPO)})
    e.update(env or {})
    proc = subprocess.run(
        [sys.executable, "-m", "tests.support.kivy_driver", target, str(workdir), str(out),
         json.dumps(params or {}), str(timeout)],
        cwd=REPO, env=e, capture_output=True, text=True, timeout=timeout + 60)
    line = next((l for l in proc.stdout.splitlines() if l.startswith("SCENARIO-RESULT ")), None)
    result = json.loads(line.split(" ", 1)[1]) if line else {"ok": False, "error": "no result"}
    if proc.returncode != 0 or not result.get("ok"):
        raise AssertionError(f"UI scenario {target} failed (exit {proc.returncode}):\n"
                             f"{result.get('error')}\n--- stderr ---\n{proc.stderr[-4000:]}\n--- stdout ---\n{proc.stdout[-6000:]}")
    return result


if __name__ == "__main__":
    sys.exit(_child_main(sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], float(sys.argv[5])))
