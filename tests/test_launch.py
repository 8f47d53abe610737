"""The one start-up path of the Kivy apps (uikit.launch): the role check of every app's command,
Kivy's settings, and a whole run through sim/apps.py — drivers handed in, the first frame
notified, SIGTERM ending the app cleanly."""
from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.kivy_driver import REPO
from tests.support.wait import WaitTimeout, wait_until
from tests.ui_scenarios.display_support import device_toml

#: (command line of the app, the role its configuration must have)
APPS = [(["kiosk"], "kiosk"), (["display"], "display"), (["feedback"], "feedback"),
        (["counter", "panel"], "counter")]


def _env(tmp_path: Path) -> dict[str, str]:
    # No DISPLAY: an app that got past the role check would fail to open a window, not hang.
    env = {k: v for k, v in os.environ.items() if k != "DISPLAY"}
    env.update(PYTHONPATH=str(REPO), KIVY_HOME=str(tmp_path / "kivy"), PALVELUPISTE_CONFIG="")
    return env


@pytest.mark.parametrize("argv, role", APPS, ids=[r for _, r in APPS])
@pytest.mark.parametrize("runner", [["-m", "cli"], ["-m", "sim.apps"]], ids=["palvelupiste", "sim.apps"])
def test_every_app_refuses_a_configuration_of_another_role(tmp_path, argv, role, runner):
    other = "display" if role == "kiosk" else "kiosk"
    conf = device_toml(tmp_path / "device.toml", device=f"{other}-1", role=other, broker_url="mqtt://127.0.0.1:1",
                       data_dir=tmp_path / "data")
    r = subprocess.run([sys.executable, *runner, *argv, "--config", str(conf)], cwd=REPO, env=_env(tmp_path),
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2, r.stderr
    assert "device.role" in r.stderr and repr(other) in r.stderr and repr(role) in r.stderr, r.stderr
    assert "Traceback" not in r.stderr
    assert not (tmp_path / "data" / "kivy").exists(), "Kivy was set up for a configuration of the wrong role"


def test_kivy_gets_one_input_provider_and_the_apps_window(tmp_path):
    """configure_kivy in a fresh process: whatever the Kivy home held, exactly one provider."""
    home = tmp_path / "kivy"
    home.mkdir()
    # A Kivy home as Kivy's first run writes it on a desk: a second provider for the same screen.
    (home / "config.ini").write_text("[input]\nmouse = mouse\n%(name)s = probesysfs\n")
    code = ("from uikit import launch\n"
            "launch.configure_kivy(launch.KivySettings(size=(1080, 1920), input='hidinput:/dev/input/event3', "
            "clock='interrupt', max_fps=10))\n"
            "from kivy.config import Config\n"
            "import kivy.clock\n"
            "print(dict(Config.items('input')), Config.get('graphics', 'width'), Config.get('graphics', 'height'),"
            " Config.get('graphics', 'maxfps'), Config.get('kivy', 'exit_on_escape'),"
            " kivy.clock.Clock.__class__.__name__)\n")
    env = _env(tmp_path)
    env.pop("KIVY_CLOCK", None)
    r = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["{'touch':", "'hidinput,/dev/input/event3'}", "1080", "1920", "10", "0",
                                "ClockBaseInterrupt"], r.stdout


def _wait(cond, what: str, timeout: float, proc: subprocess.Popen, log: Path) -> None:
    """wait_until, failing at once (with the app's log) when the app ends first."""
    def ready() -> object:
        assert proc.poll() is None, f"the app ended while waiting for {what}:\n{log.read_text()[-3000:]}"
        return cond()

    try:
        wait_until(ready, timeout, what, interval=0.1)
    except WaitTimeout as exc:
        raise AssertionError(f"{exc}:\n{log.read_text()[-3000:]}") from None


def _issued(store: Path) -> int:
    if not store.exists():
        return 0
    conn = sqlite3.connect(f"file:{store}?mode=ro", uri=True)
    try:
        return conn.execute("SELECT count(*) FROM events WHERE type = 'ticket.issued'").fetchone()[0]
    except sqlite3.OperationalError:  # the table is not there yet
        return 0
    finally:
        conn.close()


@pytest.mark.ui
def test_the_demo_launcher_hands_in_drivers_and_sigterm_stops_the_app(tmp_path):
    """`python -m sim.apps kiosk --local --customers-every 3 --ready-file P`: the first frame is
    announced, the simulated customers take numbers through the kiosk's own screens, SIGTERM ends
    the app through its on_stop (exit 0)."""
    if not os.environ.get("DISPLAY"):
        pytest.skip("no X display: run the UI tests under Xvfb (make test does)")
    data = tmp_path / "data"
    conf = device_toml(tmp_path / "kiosk.toml", device="kiosk-1", role="kiosk", broker_url="mqtt://127.0.0.1:1",
                       data_dir=data, extra="\n[kiosk]\nwindow = \"540x960\"\n")
    ready = tmp_path / "first-frame"
    env = dict(_env(tmp_path), DISPLAY=os.environ["DISPLAY"])
    env.pop("KIVY_HOME")  # the launcher's default: the device's data directory
    log = tmp_path / "kiosk.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "sim.apps", "kiosk", "--config", str(conf), "--local",
                                 "--customers-every", "3", "--ready-file", str(ready), "--log-level", "info"],
                                cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        t0 = time.time()
        _wait(ready.exists, "the first frame", 60, proc, log)
        assert t0 < float(ready.read_text()) <= time.time()
        assert (data / "kivy").is_dir()
        _wait(lambda: _issued(data / "local-hub.sqlite") >= 1, "a simulated customer's ticket", 60, proc, log)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0, log.read_text()[-3000:]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    text = log.read_text()
    assert "kiosk-1: SIGTERM, stopping" in text and "kiosk-1: stopped" in text, text[-3000:]
