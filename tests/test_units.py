"""The systemd units, the Kivy configuration and sd_notify.

* The role registry (appliance.roles) covers exactly core.config.ROLES, and its units are the
  unit files in systemd/.
* systemd-analyze verify (the real one) accepts every unit and the Mosquitto drop-in with no
  warning at all; skipped, saying why, where systemd-analyze is not installed.
* Each unit is what systemd/README.md promises, read section by section as systemd reads it:
  notify + watchdog, Restart=always with a start limit, own user, NoNewPrivileges,
  ProtectSystem=strict, the data dir via StateDirectory, only the role's device groups; the Kivy
  units run SDL2 on KMS/DRM.
* Each unit runs a subcommand the CLI has, and that command's code path reaches READY=1 and the
  watchdog pings (read from the code's syntax tree: a comment or a string does not count).
* The real Kivy reads the provisioned config.ini and sees exactly one input provider and no cursor,
  without upgrading (rewriting) it.
* sd_notify datagrams arrive on a real Unix socket, as systemd would read them.
"""
from __future__ import annotations

import ast
import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from appliance import roles as R
from appliance import units as U
from core.config import ROLES
from runtime import sdnotify

REPO = Path(__file__).resolve().parent.parent
UNITS = [u.name for u in R.all_units()]


# --- the registry ---------------------------------------------------------------------------------

def test_the_registry_covers_exactly_the_configured_roles():
    assert tuple(R.ROLES) == ROLES
    assert {r.name for r in R.ROLES.values()} == set(ROLES)


def test_the_registry_units_are_the_unit_files():
    shipped = sorted(p.name for p in (REPO / "systemd").glob("palvelupiste-*.service"))
    assert sorted(UNITS) == shipped
    assert len(set(UNITS)) == len(UNITS)
    for name in ROLES:
        assert R.units_for(name) == [R.role(name).app.name, R.SYNC.name]
        assert R.allowed_sections(name)[:len(R.COMMON_SECTIONS)] == R.COMMON_SECTIONS
    with pytest.raises(KeyError, match="unknown role 'printer'"):
        R.role("printer")


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
    for name in UNITS:
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
    for name in UNITS:
        assert U.render_unit(name) == (REPO / "systemd" / name).read_text()
    assert U.mosquitto_dropin() == (REPO / "systemd" / "mosquitto.service.d" / "palvelupiste.conf").read_text()


@pytest.mark.parametrize("name", UNITS)
def test_unit_contents_are_what_the_readme_promises(name):
    text = U.render_unit(name)
    units = U.parse_unit(text)
    assert set(units) == {"Unit", "Service", "Install"}
    unit, service, install = units["Unit"], units["Service"], units["Install"]
    for key, value in {"Type": "notify", "NotifyAccess": "main", "Restart": "always", "User": U.SERVICE_USER,
                       "NoNewPrivileges": "yes", "ProtectSystem": "strict", "StateDirectory": "palvelupiste",
                       "StandardOutput": "journal", "StandardError": "journal", "CapabilityBoundingSet": "",
                       "ProtectHome": "yes", "PrivateTmp": "yes"}.items():
        assert service.get(key) == [value], (name, key, service.get(key))
    assert install.get("WantedBy") == ["multi-user.target"]
    assert int(service["WatchdogSec"][0]) >= 10
    # a rate guard, not a give-up: restarts paced by RestartSec never reach the start limit
    interval, burst = (int(unit[x][0]) for x in ("StartLimitIntervalSec", "StartLimitBurst"))
    pace = int(service["RestartSec"][0])
    assert interval > 0 and pace > 0 and burst > interval / pace
    spec = R.unit(name)
    assert U.exec_start(text)[0] == U.DEFAULT_BIN
    assert U.exec_start(text)[1:] == [*spec.command, "--config", U.DEVICE_CONFIG]
    assert sorted(U.unit_groups(text)) == sorted(spec.groups)
    assert set(spec.groups) <= {"dialout", "input", "video", "render", "audio", "lp"}
    env = U.unit_environment(text)
    assert env["PALVELUPISTE_CONFIG"] == U.DEVICE_CONFIG
    screen = any(r.app.name == name and r.screen for r in R.ROLES.values())
    if screen:
        assert (env["SDL_VIDEODRIVER"], env["KIVY_WINDOW"], env["KIVY_HOME"]) == ("kmsdrm", "sdl2", U.KIVY_HOME)
        assert {"video", "render", "input"} <= set(U.unit_groups(text))
        assert unit["Conflicts"] == ["getty@tty1.service"]
        assert "PrivateDevices" not in service  # the app needs /dev/dri and /dev/input
    else:
        assert service["PrivateDevices"] == ["yes"] and U.unit_groups(text) == []


def test_the_unit_reader_reads_as_systemd_does():
    """Comments (# and ;) never count, keys belong to their section, continuations join, quoted
    Environment= assignments split as systemd splits them."""
    text = ("[Unit]\n# Type=simple\n; User=root\nDescription=x\n\n[Service]\nType=notify\n"
            "Environment=A=1 \"B=two words\"\nEnvironment=C=3\nExecStart=/bin/p kiosk \\\n  --config /etc/d.toml\n"
            "\n[Install]\nWantedBy=multi-user.target graphical.target\n")
    parsed = U.parse_unit(text)
    assert parsed["Unit"] == {"Description": ["x"]}
    assert parsed["Service"]["Type"] == ["notify"] and "User" not in parsed["Service"]
    assert U.unit_environment(text) == {"A": "1", "B": "two words", "C": "3"}
    assert U.exec_start(text) == ["/bin/p", "kiosk", "--config", "/etc/d.toml"]
    assert U.wanted_by(text) == ["multi-user.target", "graphical.target"]
    assert U.directive(text, "Install", "Type") == []
    with pytest.raises(U.UnitError):
        U.parse_unit("Type=notify\n")   # a key outside any section


@pytest.mark.parametrize("name", UNITS)
def test_the_command_of_every_unit_exists(name):
    """ExecStart runs a subcommand the real `palvelupiste` parser has."""
    from cli.main import build_parser

    cmd = R.unit(name).command
    args = build_parser().parse_args([*cmd, "--config", U.DEVICE_CONFIG])
    assert args.command == cmd[0]
    assert callable(getattr(args, "func", None))
    assert args.config == U.DEVICE_CONFIG


# --- the code path of each unit's command reaches sd_notify ------------------------------------------

PACKAGES = ("core", "runtime", "bus", "hub", "sync", "central", "printer", "uikit", "kiosk", "display",
            "counter", "feedback_terminal", "appliance", "cli")


class CallGraph:
    """Who calls whom in the project, from the syntax tree (comments and strings never count).

    Functions are named module.function or module.Class.method; the calls of a nested function
    (a callback handed to a clock, a thread target) count for the function that defines it, and
    calling a class reaches all its methods (an instance's methods are not resolved, so this
    over-approximates what a constructed object can run)."""

    def __init__(self, sources: dict[str, str]) -> None:
        self.calls: dict[str, set[str]] = {}
        self.classes: dict[str, list[str]] = {}
        # a package is a module others live under (its relative imports start from itself)
        self.packages = {m for m in sources if "." not in m or any(o.startswith(m + ".") for o in sources)}
        for module, text in sources.items():
            self._read(module, ast.parse(text))

    @classmethod
    def of_project(cls) -> "CallGraph":
        sources = {}
        for pkg in PACKAGES:
            for path in (REPO / pkg).rglob("*.py"):
                parts = path.relative_to(REPO).with_suffix("").parts
                module = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
                sources[module] = path.read_text(encoding="utf-8")
        return cls(sources)

    def _read(self, module: str, tree: ast.Module) -> None:
        package = module if module in self.packages else module.rsplit(".", 1)[0]
        aliases: dict[str, str] = {}
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for a in node.names:
                    aliases[a.asname or a.name.split(".")[0]] = a.name if a.asname else a.name.split(".")[0]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    up = package.split(".")[: max(1, len(package.split(".")) - node.level + 1)]
                    base = ".".join(up + ([node.module] if node.module else []))
                for a in node.names:
                    aliases[a.asname or a.name] = f"{base}.{a.name}"
        top = {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))}

        def resolve(expr: ast.expr, cls: str | None) -> str | None:
            if isinstance(expr, ast.Name):
                if expr.id in aliases:
                    return aliases[expr.id]
                return f"{module}.{expr.id}" if expr.id in top else None
            if isinstance(expr, ast.Attribute):
                if isinstance(expr.value, ast.Name) and expr.value.id in ("self", "cls") and cls:
                    return f"{cls}.{expr.attr}"
                head = resolve(expr.value, cls)
                return f"{head}.{expr.attr}" if head else None
            return None

        def called(node: ast.AST, cls: str | None) -> set[str]:
            found = set()
            for n in ast.walk(node):
                if isinstance(n, ast.Call):
                    name = resolve(n.func, cls)
                    if name:
                        found.add(name)
            return found

        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                self.calls[f"{module}.{node.name}"] = called(node, None)
            elif isinstance(node, ast.ClassDef):
                qual = f"{module}.{node.name}"
                methods = [n for n in node.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
                self.classes[qual] = [f"{qual}.{m.name}" for m in methods]
                for m in methods:
                    self.calls[f"{qual}.{m.name}"] = called(m, qual)

    def reachable(self, start: str) -> set[str]:
        seen, todo = set(), [start]
        while todo:
            name = todo.pop()
            if name in seen:
                continue
            seen.add(name)
            for callee in self.calls.get(name, ()):
                todo.append(callee)
                todo.extend(self.classes.get(callee, ()))
        return seen


READY = "runtime.sdnotify.ready"
PING = "runtime.sdnotify.watchdog"   # start_watchdog_pings and WatchdogPinger.tick both end here


@pytest.fixture(scope="module")
def project_graph() -> CallGraph:
    return CallGraph.of_project()


@pytest.mark.parametrize("name", UNITS)
def test_the_app_of_every_unit_talks_to_systemd(name, project_graph):
    """Type=notify + WatchdogSec: an app that never says READY=1 is killed after TimeoutStartSec, one that
    never pings after WatchdogSec. Followed from the subcommand's handler through the project's calls."""
    from cli.main import build_parser

    args = build_parser().parse_args([*R.unit(name).command, "--config", U.DEVICE_CONFIG])
    start = f"{args.func.__module__}.{args.func.__qualname__}"
    reached = project_graph.reachable(start)
    assert READY in reached, f"{name}: {start} never reaches {READY}"
    assert PING in reached, f"{name}: {start} never reaches {PING}"


def test_the_call_graph_ignores_comments_and_strings():
    """The reader above: a READY=1 that is only a comment or a string is not a call; a real one,
    even inside a callback handed to a clock, is."""
    sdn = "def ready():\n    pass\n"
    only_words = ("from runtime import sdnotify\n\n"
                  "def run():\n    # sdnotify.ready() once the window is up\n    return 'sdnotify.ready()'\n")
    g = CallGraph({"runtime.sdnotify": sdn, "app.main": only_words})
    assert READY not in g.reachable("app.main.run")
    real = ("from runtime import sdnotify as sd\n\n"
            "class App:\n    def build(self):\n        def later(dt):\n            sd.ready()\n"
            "        schedule(later)\n\n"
            "def run():\n    App().start()\n")
    g = CallGraph({"runtime.sdnotify": sdn, "app.main": real})
    assert READY in g.reachable("app.main.run")


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
    text = U.kivy_config(setting)
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
    text = U.kivy_config(setting if role == "kiosk" else None)
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


def test_kivy_apps_ping_from_the_ui_clock(project_graph):
    """The Kivy apps' pings are scheduled on Kivy's own Clock (a frozen UI stops them), after READY=1."""
    tree = ast.parse((REPO / "uikit" / "appsupport.py").read_text(encoding="utf-8"))
    install = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "install")
    pings = [n for n in ast.walk(install) if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)
             and n.func.attr == "start_watchdog_pings"]
    assert len(pings) == 1
    assert ast.unparse(pings[0].args[0]) == "Clock.schedule_interval"
    assert READY in project_graph.reachable("uikit.appsupport.install")
