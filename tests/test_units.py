"""The systemd units, the Kivy configuration and sd_notify.

* systemd-analyze verify (the real one) accepts every unit and the Mosquitto drop-in with no
  warning at all; skipped, saying why, where systemd-analyze is not installed.
* Each unit is what systemd/README.md promises: notify + watchdog, Restart=always with a start
  limit, own user, NoNewPrivileges, ProtectSystem=strict, the data dir via StateDirectory, only
  the role's device groups; the Kivy units run SDL2 on KMS/DRM.
* The real Kivy reads the provisioned config.ini and sees exactly one input provider and no cursor,
  without upgrading (rewriting) it.
* sd_notify datagrams arrive on a real Unix socket, as systemd would read them.
"""
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from runtime import sdnotify
from appliance import units as U

REPO = Path(__file__).resolve().parent.parent


def _verify(paths: list[Path], env: dict | None = None) -> subprocess.CompletedProcess:
    exe = shutil.which("systemd-analyze")
    if exe is None:
        pytest.skip("systemd-analyze is not installed (apt-get install systemd); units not verified")
    return subprocess.run([exe, "verify", *map(str, paths)], capture_output=True, text=True, timeout=60,
                          env={**os.environ, **(env or {})})


def _assert_clean(r: subprocess.CompletedProcess) -> None:
    assert r.returncode == 0, r.stderr + r.stdout
    # systemd-analyze exits 0 on unknown keys and bad values ("..., ignoring"): any line is a finding.
    assert r.stderr.strip() == "", r.stderr


@pytest.fixture
def fake_bin(tmp_path) -> Path:
    b = tmp_path / "bin" / "palvelupiste"
    b.parent.mkdir()
    b.write_text("#!/bin/sh\nexit 0\n")
    b.chmod(0o755)
    return b


def test_every_unit_passes_systemd_analyze_verify(tmp_path, fake_bin):
    unit_dir = tmp_path / "units"
    unit_dir.mkdir()
    for name in U.all_units():
        (unit_dir / name).write_text(U.render_unit(name, bin=str(fake_bin)))
    dropin = unit_dir / "mosquitto.service.d"
    dropin.mkdir()
    (dropin / "palvelupiste.conf").write_text(U.mosquitto_dropin())
    r = _verify(sorted(unit_dir.glob("*.service")))
    _assert_clean(r)
    # The drop-in is read from a unit search path: verify mosquitto.service with it.
    if not Path("/lib/systemd/system/mosquitto.service").exists():
        pytest.skip("Debian's mosquitto.service is not installed: the drop-in is not verified")
    r = _verify([Path("mosquitto.service")], env={"SYSTEMD_UNIT_PATH": f"{unit_dir}:"})
    _assert_clean(r)


def test_verify_catches_a_mistake(tmp_path, fake_bin):
    """The verification above would notice a bad unit (so its silence means something)."""
    bad = tmp_path / "palvelupiste-kiosk.service"
    bad.write_text(U.render_unit("palvelupiste-kiosk.service", bin=str(fake_bin)).replace(
        "WatchdogSec=30", "WatchdogSecs=30"))
    r = _verify([bad])
    assert "Unknown key" in r.stderr
    missing = tmp_path / "palvelupiste-sync.service"
    missing.write_text(U.render_unit("palvelupiste-sync.service", bin=str(tmp_path / "nowhere")))
    r = _verify([missing])
    assert r.returncode != 0 and "not executable" in r.stderr


def test_render_with_defaults_is_the_file_in_the_repository():
    for name in U.all_units():
        assert U.render_unit(name) == (REPO / "systemd" / name).read_text()
    assert U.mosquitto_dropin() == (REPO / "systemd" / "mosquitto.service.d" / "palvelupiste.conf").read_text()


def _keys(text: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for line in text.splitlines():
        if "=" in line and not line.startswith("#"):
            k, v = line.split("=", 1)
            out.setdefault(k, []).append(v)
    return out


@pytest.mark.parametrize("name", U.all_units())
def test_unit_contents_are_what_the_readme_promises(name):
    text = U.render_unit(name)
    k = _keys(text)
    for key, value in {"Type": "notify", "NotifyAccess": "main", "Restart": "always", "User": U.SERVICE_USER,
                       "NoNewPrivileges": "yes", "ProtectSystem": "strict", "StateDirectory": "palvelupiste",
                       "StandardOutput": "journal", "StandardError": "journal", "CapabilityBoundingSet": "",
                       "ProtectHome": "yes", "PrivateTmp": "yes", "WantedBy": "multi-user.target"}.items():
        assert k.get(key) == [value], (name, key, k.get(key))
    assert int(k["WatchdogSec"][0]) >= 10
    # a rate guard, not a give-up: restarts paced by RestartSec never reach the start limit
    interval, burst, pace = (int(k[x][0]) for x in ("StartLimitIntervalSec", "StartLimitBurst", "RestartSec"))
    assert interval > 0 and pace > 0 and burst > interval / pace
    assert U.exec_start(text)[0] == U.DEFAULT_BIN
    assert U.exec_start(text)[1:] == [*U.UNIT_COMMANDS[name], "--config", U.DEVICE_CONFIG]
    assert sorted(U.unit_groups(text)) == sorted(U.UNIT_GROUPS[name])
    assert set(U.UNIT_GROUPS[name]) <= {"dialout", "input", "video", "render", "audio", "lp"}
    screen = name in {U.ROLE_UNITS[r] for r in U.SCREEN_ROLES}
    if screen:
        assert "SDL_VIDEODRIVER=kmsdrm" in k["Environment"]
        assert "KIVY_WINDOW=sdl2" in k["Environment"]
        assert f"KIVY_HOME={U.KIVY_HOME}" in k["Environment"]
        assert {"video", "render", "input"} <= set(U.unit_groups(text))
        assert k["Conflicts"] == ["getty@tty1.service"]
        assert "PrivateDevices" not in k  # the app needs /dev/dri and /dev/input
    else:
        assert k["PrivateDevices"] == ["yes"] and U.unit_groups(text) == []


@pytest.mark.parametrize("name", U.all_units())
def test_the_command_of_every_unit_exists(name):
    """ExecStart runs a subcommand the CLI has (skipped while that subcommand is not written yet)."""
    import argparse
    import importlib

    cmd = U.UNIT_COMMANDS[name]
    module = {"hub": "cli.hub_cmd", "kiosk": "cli.kiosk_cmd", "display": "cli.display_cmd",
              "counter": "cli.counter_cmd", "feedback": "cli.feedback_cmd", "sync": "cli.sync_cmd"}[cmd[0]]
    try:
        mod = importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name == module:
            pytest.skip(f"{module} is not written yet")
        raise
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command")
    mod.register(sub)
    args = parser.parse_args([*cmd, "--config", U.DEVICE_CONFIG])
    assert getattr(args, "func", None) is not None


_APP_SOURCES = {"hub": ("hub", "cli/hub_cmd.py"), "kiosk": ("kiosk", "cli/kiosk_cmd.py"),
                "display": ("display", "cli/display_cmd.py"), "counter": ("counter", "cli/counter_cmd.py"),
                "feedback": ("feedback_terminal", "cli/feedback_cmd.py"), "sync": ("sync/agent.py", "cli/sync_cmd.py")}


@pytest.mark.parametrize("name", U.all_units())
def test_the_app_of_every_unit_talks_to_systemd(name):
    """Type=notify + WatchdogSec: an app that never says READY=1 is killed after TimeoutStartSec, one that
    never pings after WatchdogSec. Marked xfail (with the reason in the summary) until the app does it."""
    text = ""
    for src in _APP_SOURCES[U.UNIT_COMMANDS[name][0]]:
        p = REPO / src
        files = sorted(p.rglob("*.py")) if p.is_dir() else [p] if p.exists() else []
        text += "".join(f.read_text(encoding="utf-8", errors="replace") for f in files)
    # Kivy apps do both through uikit.appsupport.install(app, name) (READY=1 after the first
    # frame, pings from the UI clock); that module is checked by test_appsupport_talks_to_systemd.
    via_appsupport = "appsupport.install(" in text
    ready = "sdnotify.ready(" in text or via_appsupport
    pings = via_appsupport or any(x in text for x in ("start_watchdog_pings(", "WatchdogPinger(", "sdnotify.watchdog("))
    if not (ready and pings):
        pytest.xfail(f"{name}: its app does not call runtime.sdnotify yet "
                     f"({'no READY=1' if not ready else ''}{', ' if not ready and not pings else ''}"
                     f"{'no watchdog pings' if not pings else ''}): under systemd it would be restarted")


def test_unit_paths_are_checked():
    with pytest.raises(U.UnitError):
        U.render_unit("palvelupiste-hub.service", bin="relative/palvelupiste")
    for bad in ("/opt/my dir/palvelupiste", "/opt/%n/palvelupiste", "/opt/$HOME/p", '/opt/"x"/p'):
        with pytest.raises(U.UnitError):
            U.render_unit("palvelupiste-hub.service", bin=bad)
    text = U.render_unit("palvelupiste-kiosk.service", bin="/usr/local/bin/palvelupiste", config="/etc/pp/kiosk.toml")
    assert U.exec_start(text) == ["/usr/local/bin/palvelupiste", "kiosk", "--fullscreen", "--config",
                                  "/etc/pp/kiosk.toml"]
    assert "PALVELUPISTE_CONFIG=/etc/pp/kiosk.toml" in text


@pytest.mark.parametrize("setting,expected", [
    (None, ("mouse", "mouse,disable_multitouch")),
    ("mouse", ("mouse", "mouse,disable_multitouch")),
    ("hidinput:/dev/input/event3", ("touch", "hidinput,/dev/input/event3")),
    ("mtdev:/dev/input/by-id/usb-touch-event", ("touch", "mtdev,/dev/input/by-id/usb-touch-event")),
    ("mtdev", ("touch", "probesysfs,provider=mtdev")),
])
def test_kivy_input_is_one_provider(setting, expected):
    assert U.kivy_input(setting) == expected
    text = U.kivy_config("kiosk", setting)
    section = text.split("[input]\n", 1)[1].split("\n\n", 1)[0]
    assert section.splitlines() == [f"{expected[0]} = {expected[1]}"]


def test_kivy_input_refuses_two_providers():
    for bad in ("mouse,hidinput", "wm_touch", "hidinput:relative"):
        with pytest.raises(U.UnitError):
            U.kivy_input(bad)


@pytest.mark.parametrize("role,setting", [("kiosk", "hidinput:/dev/input/event7"), ("display", None),
                                          ("feedback", None), ("counter", None)])
def test_real_kivy_reads_the_config_as_written(tmp_path, role, setting):
    """Kivy itself: exactly one input provider, no cursor, no screensaver, full screen, and the file
    is not upgraded (an upgrade would add probesysfs, a second provider)."""
    pytest.importorskip("kivy")
    home = tmp_path / "kivy"
    home.mkdir()
    text = U.kivy_config(role, setting)
    (home / "config.ini").write_text(text)
    probe = ("import json; from kivy.config import Config, KIVY_CONFIG_VERSION; "
             "print(json.dumps({'input': Config.items('input'), 'cursor': Config.get('graphics', 'show_cursor'), "
             "'saver': Config.get('graphics', 'allow_screensaver'), 'full': Config.get('graphics', 'fullscreen'), "
             "'escape': Config.get('kivy', 'exit_on_escape'), 'version': KIVY_CONFIG_VERSION, "
             "'width': Config.getint('graphics', 'width')}))")
    env = {**os.environ, "KIVY_HOME": str(home), "KIVY_NO_ARGS": "1", "KIVY_NO_CONSOLELOG": "1",
           "KIVY_NO_FILELOG": "1"}
    r = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, timeout=60,
                       cwd=str(tmp_path))
    assert r.returncode == 0, r.stderr
    got = json.loads(r.stdout.strip().splitlines()[-1])
    assert got["version"] == U.KIVY_CONFIG_VERSION, "Kivy's config version changed: update units._KIVY_DEFAULTS"
    key, value = U.kivy_input(setting if role == "kiosk" else None)
    assert got["input"] == [[key, value]]
    assert (got["cursor"], got["saver"], got["full"], got["escape"]) == ("0", "0", "auto", "0")
    assert (home / "config.ini").read_text() == text  # not rewritten by an upgrade


def test_sysusers_and_tmpfiles_lines():
    assert U.sysusers_conf().splitlines()[-1].split()[:2] == ["u", U.SERVICE_USER]
    t = U.tmpfiles_conf([("/etc/palvelupiste/site-broker.password", U.SERVICE_USER)])
    assert "z /etc/palvelupiste/site-broker.password 0600 palvelupiste palvelupiste -" in t
    assert f"Z {U.DATA_DIR} - {U.SERVICE_USER} {U.SERVICE_USER} -" in t


# --- sd_notify ------------------------------------------------------------------------------------

@pytest.fixture
def notify_socket(tmp_path, monkeypatch):
    path = tmp_path / "notify"
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(str(path))
    s.settimeout(2)
    monkeypatch.setenv("NOTIFY_SOCKET", str(path))
    yield s
    s.close()


def test_sdnotify_sends_what_systemd_reads(notify_socket, monkeypatch):
    assert sdnotify.ready("kiosk up")
    assert notify_socket.recv(4096) == b"READY=1\nSTATUS=kiosk up"
    assert sdnotify.watchdog()
    assert notify_socket.recv(4096) == b"WATCHDOG=1"
    assert sdnotify.status("printer:\npaper out")
    assert notify_socket.recv(4096) == b"STATUS=printer: paper out"
    assert sdnotify.stopping()
    assert notify_socket.recv(4096) == b"STOPPING=1"


def test_sdnotify_abstract_socket(monkeypatch):
    name = f"pp-test-{os.getpid()}"
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind("\0" + name)
    s.settimeout(2)
    try:
        monkeypatch.setenv("NOTIFY_SOCKET", "@" + name)
        assert sdnotify.watchdog()
        assert s.recv(64) == b"WATCHDOG=1"
    finally:
        s.close()


def test_sdnotify_outside_systemd_is_a_no_op(monkeypatch, tmp_path):
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    assert not sdnotify.ready() and not sdnotify.watchdog()
    assert sdnotify.watchdog_interval() is None
    assert sdnotify.start_watchdog_pings(lambda fn, s: pytest.fail("scheduled outside systemd")) is None
    monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / "gone"))
    assert not sdnotify.watchdog()  # a vanished socket never raises


def test_watchdog_pings_run_on_the_apps_own_timer(notify_socket, monkeypatch):
    monkeypatch.setenv("WATCHDOG_USEC", "30000000")
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid()))
    scheduled = []
    every = sdnotify.start_watchdog_pings(lambda fn, s: scheduled.append((fn, s)))
    assert every == 15.0 and scheduled[0][1] == 15.0
    assert notify_socket.recv(64) == b"WATCHDOG=1"   # one at once
    scheduled[0][0](0.016)                           # Kivy's Clock passes dt
    assert notify_socket.recv(64) == b"WATCHDOG=1"
    monkeypatch.setenv("WATCHDOG_PID", "1")           # meant for another process: nothing
    assert sdnotify.watchdog_interval() is None


def test_watchdog_pinger_for_service_loops(notify_socket, monkeypatch):
    monkeypatch.setenv("WATCHDOG_USEC", "4000000")
    monkeypatch.delenv("WATCHDOG_PID", raising=False)
    now = [100.0]
    p = sdnotify.WatchdogPinger(clock=lambda: now[0])
    assert p.enabled and p.every == 2.0
    assert p.tick() and notify_socket.recv(64) == b"WATCHDOG=1"
    now[0] += 1.0
    assert not p.tick()
    now[0] += 1.5
    assert p.tick() and notify_socket.recv(64) == b"WATCHDOG=1"


def test_appsupport_talks_to_systemd():
    text = (REPO / "uikit" / "appsupport.py").read_text(encoding="utf-8")
    assert "sdnotify.ready(" in text and "start_watchdog_pings(Clock.schedule_interval)" in text
