"""`palvelupiste doctor` on provisioned devices.

Real parts: two real Mosquittos — the site broker started on the configuration the hub provisioning
wrote, and a central broker whose password file holds the line the device provisioning wrote for
the central administrators — a real MQTT connect per check; the printer emulator on a real
pseudo-terminal (tests/support/pty_printer.py) answering DLE EOT with and without paper; the real
event store; a real full file system (a small tmpfs, skipped where it cannot be mounted) besides
a substituted disk-usage source. What the container cannot have (a touch screen, a DRM screen,
systemd) comes from substituted sources, each named in the test.
"""
from __future__ import annotations

import getpass
import io
import json
import os
import subprocess
import time
from dataclasses import replace
from pathlib import Path

import pytest

from appliance import checks as A
from appliance import doctor as D
from appliance import provision as P
from appliance import techinfo
from appliance import units as U
from runtime.checks import Context
from tests.support.broker import MosquittoBroker, free_port
from tests.test_provision import in_root, needs_mosquitto, provision, run_cli, site_broker_conf, snapshot
from uikit import checks as UI

pytestmark = pytest.mark.broker


def good_sources(**kw) -> D.Sources:
    """This machine as a healthy kiosk would look: synced clock, a touch screen, an HDMI screen,
    no console blanking, the units active. Tests replace what they are about."""
    base = dict(
        clock=lambda: A.ClockInfo(True, "test clock"),
        input_devices=lambda: [UI.InputDev("/dev/input/event0", "gpio-keys", False),
                               UI.InputDev("/dev/input/event3", "ILITEK ILITEK-TOUCH", True)],
        screens=lambda: [UI.Screen("HDMI-A-1", True, "1920x1080"), UI.Screen("HDMI-A-2", False)],
        consoleblank=lambda: 0,
        unit_states=lambda names: {n: {"ActiveState": "active", "NRestarts": "0"} for n in names},
    )
    base.update(kw)
    return D.Sources(**base)


class Site:
    """A provisioned hub and kiosk, their two brokers, and a printer emulator."""

    def __init__(self, tmp: Path, fake_bin: Path, printer_url: str | None) -> None:
        self.tmp = tmp
        self.port, self.central_port = free_port(), free_port()
        self.hub, self.kiosk = tmp / "hub", tmp / "kiosk"
        self.hub.mkdir()
        self.kiosk.mkdir()
        rc, _, err = provision(self.hub, "hub", bin=fake_bin, site_port=self.port, central_port=self.central_port,
                               extra=("--listen", "127.0.0.1"))
        assert rc == 0, err
        extra = ("--site-password-file", str(in_root(self.hub, f"{P.SITE_CREDENTIALS}/kiosk-1.password")))
        if printer_url:
            extra += ("--printer", printer_url)
        rc, _, err = provision(self.kiosk, "kiosk", bin=fake_bin, site_port=self.port,
                               central_port=self.central_port, extra=extra)
        assert rc == 0, err
        self.site_broker: MosquittoBroker | None = None
        self.central_broker: MosquittoBroker | None = None

    def start_site_broker(self) -> None:
        work = self.tmp / "site-broker"
        self.site_broker = MosquittoBroker(work, port=self.port, config_text=site_broker_conf(self.hub, work)).start()

    def start_central_broker(self) -> None:
        from bus import brokerconf

        work = self.tmp / "central-broker"
        work.mkdir(exist_ok=True)
        # what the central administrators do with the line the device provisioning wrote for them
        (work / "passwd").write_text(in_root(self.kiosk, P.CENTRAL_ENTRY).read_text())
        (work / "passwd").chmod(0o600)
        (work / "acl").write_text(brokerconf.render_central_acl({"example-pp": ["kiosk-1"]}))
        brokerconf.write_password_file(work / "service-passwd", {"publisher": "unused"})
        conf = brokerconf.render_central_broker_conf(data_dir=work, password_file=work / "passwd",
                                                     service_password_file=work / "service-passwd",
                                                     acl_file=work / "acl", tls=None, port=free_port(),
                                                     device_port=self.central_port, device_bind_address="127.0.0.1",
                                                     user=getpass.getuser())
        self.central_broker = MosquittoBroker(work, port=self.central_port, config_text=conf).start()

    def stop(self) -> None:
        for b in (self.site_broker, self.central_broker):
            if b is not None:
                b.stop()

    def local_config(self, root: Path | None = None, extra: str = "") -> Path:
        """The device's configuration with its paths moved into the test root, so the doctor runs
        as on the device itself (no --root: every check is on)."""
        root = root or self.kiosk
        text = in_root(root, U.DEVICE_CONFIG).read_text()
        text = text.replace(f'"{U.DATA_DIR}"', f'"{root}{U.DATA_DIR}"').replace(
            f'"{U.CONFIG_DIR}/', f'"{root}{U.CONFIG_DIR}/')
        path = root / "local-device.toml"
        path.write_text(text + extra)
        return path


@pytest.fixture
def emulator():
    from tests.support.pty_printer import PtyPrinter

    p = PtyPrinter().start()
    yield p
    p.stop()


@pytest.fixture
def site(tmp_path, fake_bin, emulator):
    needs_mosquitto()
    s = Site(tmp_path, fake_bin, emulator.url())
    s.start_site_broker()
    s.start_central_broker()
    yield s
    s.stop()


def by_check(report: D.Report) -> dict[str, D.Result]:
    return {r.check: r for r in report.results}


def run(config: Path, sources: D.Sources | None = None, **kw) -> tuple[D.Report, dict[str, D.Result]]:
    report = D.run_checks(str(config), sources or good_sources(), timeout=kw.pop("timeout", 3.0), **kw)
    return report, by_check(report)


# --- the whole device -----------------------------------------------------------------------------

def test_a_healthy_kiosk_is_all_ok_and_exits_0(site):
    report, r = run(site.local_config())
    assert [x.check for x in report.results] == [
        "configuration", "clock", "disk", "event store", "sync backlog", "site broker", "central broker",
        "services", "printer", "touch screen", "screen", "screen blanking", "every script on screen"]
    bad = [x for x in report.results if x.status != D.OK]
    assert bad == [], bad
    assert report.exit_code == 0
    assert "as 'kiosk-1'" in r["site broker"].detail and "as 'example-pp.kiosk-1'" in r["central broker"].detail
    assert "online, paper ok" in r["printer"].detail
    assert "ILITEK" in r["touch screen"].detail and "1920x1080" in r["screen"].detail
    out = io.StringIO()
    D.print_table(report, out)
    assert out.getvalue().splitlines()[1].split() == ["CHECK", "STATUS", "DETAIL"]
    assert "result: OK" in out.getvalue() and "(exit 0)" in out.getvalue()


def test_brokers_down_fail_with_their_hints(site):
    site.stop()
    t0 = time.monotonic()
    report, r = run(site.local_config())
    assert time.monotonic() - t0 < 8
    assert r["site broker"].status == D.FAIL and "Connection refused" in r["site broker"].detail
    assert "hub" in r["site broker"].hint and "systemctl status mosquitto" in r["site broker"].hint
    assert r["central broker"].status == D.FAIL and "offline" in r["central broker"].hint
    assert report.exit_code == 1
    out = io.StringIO()
    D.print_table(report, out)
    text = out.getvalue()
    assert "fix: is the hub on" in text and "result: FAIL — 2 failed" in text


def test_a_refused_password_is_its_own_failure(site):
    in_root(site.kiosk, P.SITE_PASSWORD).write_text("not-the-password\n")
    in_root(site.kiosk, P.CENTRAL_PASSWORD).write_text("not-this-one-either\n")
    report, r = run(site.local_config())
    assert r["site broker"].status == D.FAIL and r["site broker"].detail.startswith("password refused")
    assert "site-credentials/kiosk-1.password" in r["site broker"].hint
    assert r["central broker"].status == D.FAIL and r["central broker"].detail.startswith("password refused")
    assert "central-broker.entry" in r["central broker"].hint
    assert report.exit_code == 1


def test_an_unreachable_host_is_bounded_by_the_timeout(site):
    """A host that never answers (TEST-NET-1, RFC 5737): a timeout, not a hang."""
    cfg = site.local_config()
    cfg.write_text(cfg.read_text().replace(f"mqtt://127.0.0.1:{site.central_port}", "mqtt://192.0.2.1:1883"))
    t0 = time.monotonic()
    report, r = run(cfg, timeout=1.0)
    assert time.monotonic() - t0 < 6
    assert r["central broker"].status == D.FAIL
    assert r["site broker"].status == D.OK


# --- printer --------------------------------------------------------------------------------------

@pytest.mark.parametrize("state,status,words", [
    (dict(paper="out"), D.FAIL, "PAPER OUT"),
    (dict(paper="near_end"), D.WARN, "paper near end"),
    (dict(cover_open=True), D.FAIL, "COVER OPEN"),
    (dict(error=True), D.FAIL, "printer error"),
    (dict(silent=True), D.FAIL, "NO ANSWER"),
])
def test_printer_states_through_the_emulator(site, emulator, state, status, words):
    emulator.set_state(**state)
    report, r = run(site.local_config())
    assert r["printer"].status == status and words in r["printer"].detail, r["printer"]
    assert r["printer"].hint
    assert report.exit_code == (1 if status == D.FAIL else 0)


def test_printer_missing_or_unconfigured(site, emulator, tmp_path):
    cfg = site.local_config()
    cfg.write_text(cfg.read_text().replace(emulator.path, str(tmp_path / "no-such-tty")))
    _, r = run(cfg)
    assert r["printer"].status == D.FAIL and "cannot open the connection" in r["printer"].detail
    assert "dialout" in r["printer"].hint
    cfg.write_text("\n".join(line for line in cfg.read_text().splitlines() if not line.startswith("url = \"serial")
                             and line != "[printer]") + "\n")
    _, r = run(cfg)
    assert r["printer"].status == D.WARN and "no [printer]" in r["printer"].detail


def test_running_kiosk_app_is_not_disturbed(site, emulator):
    """With the kiosk service active, its own printer-status.json is reported; the port is not asked."""
    (in_root(site.kiosk, P.SITE_TOML).parent / "printer-status.json").write_text(
        json.dumps({"status": "paper_out", "can_print": False}))
    emulator.clear()
    _, r = run(site.local_config())
    assert r["printer"].status == D.FAIL and "as the running kiosk app reports it" in r["printer"].detail
    assert emulator.queries() == []


# --- disk, store, backlog, clock --------------------------------------------------------------------

def test_full_disk_from_the_disk_usage_source(site):
    report, r = run(site.local_config(), good_sources(disk_usage=lambda p: (16 << 30, 20 << 20)))
    assert r["disk"].status == D.FAIL and "20.0 MiB free" in r["disk"].detail
    assert "never delete" in r["disk"].hint
    assert report.exit_code == 1
    _, r = run(site.local_config(), good_sources(disk_usage=lambda p: (16 << 30, 600 << 20)))
    assert r["disk"].status == D.WARN


def test_full_disk_for_real_on_a_small_tmpfs(tmp_path, fake_bin):
    mnt = tmp_path / "fs"
    mnt.mkdir()
    try:
        m = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mnt)], capture_output=True,
                           text=True, timeout=10)
    except (OSError, subprocess.SubprocessError) as exc:
        pytest.skip(f"cannot mount a tmpfs here ({exc})")
    if m.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({m.stderr.strip()}); needs root or CAP_SYS_ADMIN")
    try:
        rc, _, err = provision(mnt, "display", bin=fake_bin)
        assert rc == 0, err
        with open(mnt / "filler", "wb") as f:
            try:
                while True:
                    f.write(b"\0" * 65536)
                    f.flush()
            except OSError:
                pass
        rc, out, _ = run_cli("doctor", "--root", str(mnt), "--timeout", "0.5")
        assert rc == 1
        disk = next(line for line in out.splitlines() if line.startswith("disk"))
        assert "FAIL" in disk and "events may not be stored" in disk
        assert "fix: free space" in out
    finally:
        subprocess.run(["umount", str(mnt)], capture_output=True, timeout=10)


def test_store_damaged_or_missing(site):
    cfg = site.local_config()
    store = in_root(site.kiosk, P.STORE)
    data = bytearray(store.read_bytes())
    data[100:4096] = b"\xff" * (4096 - 100)  # the header's tail and the first page's b-tree
    store.write_bytes(bytes(data))
    report, r = run(cfg)
    assert r["event store"].status == D.FAIL and ".recover" in r["event store"].hint
    assert report.exit_code == 1
    store.unlink()
    _, r = run(cfg)
    assert r["event store"].status == D.FAIL and "no event store" in r["event store"].detail
    assert "provision" in r["event store"].hint


def test_sync_backlog_ages(site):
    from core.store import EventStore

    cfg = site.local_config()
    store = in_root(site.kiosk, P.STORE)
    now = time.time()
    with EventStore(store, "example-pp", "kiosk-1") as s:
        s.append("help.requested", {"kind": "test"}, ts=int((now - 120) * 1000))
    _, r = run(cfg, good_sources(now=lambda: now))
    assert r["sync backlog"].status == D.OK and "1 events not yet acknowledged" in r["sync backlog"].detail
    _, r = run(cfg, good_sources(now=lambda: now + 3600))
    assert r["sync backlog"].status == D.WARN
    _, r = run(cfg, good_sources(now=lambda: now + 2 * 86400))
    assert r["sync backlog"].status == D.FAIL and "palvelupiste-sync" in r["sync backlog"].hint
    with EventStore(store, "example-pp", "kiosk-1") as s:
        s.ack(s.last_seq)
    _, r = run(cfg, good_sources(now=lambda: now + 2 * 86400))
    assert r["sync backlog"].status == D.OK and "all 1 events acknowledged" in r["sync backlog"].detail


def test_clock(site):
    _, r = run(site.local_config(), good_sources(now=lambda: 86400.0 * 365))  # 1971: a Pi without RTC
    assert r["clock"].status == D.FAIL and "wrong" in r["clock"].detail
    _, r = run(site.local_config(), good_sources(clock=lambda: A.ClockInfo(None, "none", "nobody answers")))
    assert r["clock"].status == D.WARN and "unknown" in r["clock"].detail
    _, r = run(site.local_config(), good_sources(clock=lambda: A.ClockInfo(False, "chronyc", "Not synchronised")))
    assert r["clock"].status == D.WARN and "NOT synchronised" in r["clock"].detail
    info = A.clock_status()  # the real sources of this machine: an answer, even if "unknown"
    assert info.synchronized in (True, False, None) and info.source


# --- configuration ---------------------------------------------------------------------------------

def test_configuration_problems(site, tmp_path):
    rc, out, _ = run_cli("doctor", "--config", str(tmp_path / "missing.toml"))
    assert rc == 1 and "cannot read" in out and "fix: provision the device" in out
    cfg = site.local_config()
    cfg.write_text(cfg.read_text().replace('id = "kiosk-1"', 'id = "kiosk-9"'))
    report, r = run(cfg)
    assert r["configuration"].status == D.FAIL and "not in the site's [[devices]]" in r["configuration"].detail
    assert 'id = "kiosk-9", role = "kiosk"' in r["configuration"].hint
    cfg = site.local_config(extra='\n[kiosk]\nidle_s = 2\n')
    _, r = run(cfg)
    assert r["configuration"].status == D.FAIL and "kiosk.idle_s" in r["configuration"].detail


# --- input devices, screen ---------------------------------------------------------------------------

def test_touch_screen_missing_or_wrong(site):
    _, r = run(site.local_config(), good_sources(input_devices=lambda: [UI.InputDev("/dev/input/event0", "kbd", False)]))
    assert r["touch screen"].status == D.FAIL and "no touch device among 1" in r["touch screen"].detail
    assert "input group" in r["touch screen"].hint
    _, r = run(site.local_config(), good_sources(input_devices=lambda: None))
    assert r["touch screen"].status == D.FAIL
    cfg = site.local_config(extra='\n[kiosk]\ninput = "hidinput:/dev/input/event9"\n')
    _, r = run(cfg)
    assert r["touch screen"].status == D.FAIL and "event9 is not present" in r["touch screen"].detail


def test_feedback_buttons_through_a_substituted_source(tmp_path, fake_bin):
    from sim.fake_buttons import FakeSource

    root = tmp_path / "fb"
    root.mkdir()
    assert provision(root, "feedback", bin=fake_bin)[0] == 0
    s = Site.__new__(Site)
    cfg = Site.local_config(s, root, extra='\n[feedback.buttons]\ndevice_name = "Smiley box"\n'
                                            'keymap = { KEY_1 = 1, KEY_2 = 2, KEY_3 = 3, KEY_4 = 4, KEY_5 = 5 }\n')

    class Plugged(FakeSource):
        def open(self):
            return _Dev(), "Smiley box at /dev/input/event4"

    class _Dev:
        def close(self):
            pass

    _, r = run(cfg, good_sources(button_source=lambda c: Plugged(), input_devices=lambda: []), timeout=0.3)
    assert r["buttons"].status == D.OK and "Smiley box" in r["buttons"].detail
    assert r["touch screen"].status == D.WARN  # buttons only: a missing touch screen is no failure
    unplugged = lambda c: FakeSource(plugged=False)  # noqa: E731
    _, r = run(cfg, good_sources(button_source=unplugged), timeout=0.3)
    assert r["buttons"].status == D.FAIL and "button box not found" in r["buttons"].detail
    # the real evdev source on this machine (no such device here): a failure, named
    _, r = run(cfg, good_sources(), timeout=0.3)
    assert r["buttons"].status == D.FAIL


def test_screens_from_sysfs(tmp_path):
    drm = tmp_path / "drm"
    for name, status, modes in (("card1-HDMI-A-1", "connected", "1920x1080\n1280x720\n"),
                                ("card1-HDMI-A-2", "disconnected", "")):
        (drm / name).mkdir(parents=True)
        (drm / name / "status").write_text(status + "\n")
        (drm / name / "modes").write_text(modes)
    assert UI.screens(str(drm)) == [UI.Screen("HDMI-A-1", True, "1920x1080"), UI.Screen("HDMI-A-2", False, None)]
    ctx = Context("x", good_sources(screens=lambda: UI.screens(str(drm))))
    assert UI.check_screen(ctx).status == D.OK
    (drm / "card1-HDMI-A-1" / "status").write_text("disconnected\n")
    r = UI.check_screen(ctx)
    assert r.status == D.FAIL and "HDMI" in r.hint
    ctx = Context("x", good_sources(screens=lambda: UI.screens(str(tmp_path / "none"))))
    if not os.environ.get("DISPLAY"):
        assert UI.check_screen(ctx).status == D.WARN and "unknown" in UI.check_screen(ctx).detail
    ctx = Context("x", good_sources(screens=lambda: [UI.Screen("DSI-1", True, "800x480")]))
    assert UI.check_screen(ctx).status == D.WARN


def test_input_devices_from_proc(tmp_path):
    proc = tmp_path / "devices"
    proc.write_text(
        'I: Bus=0019 Vendor=0001 Product=0001 Version=0100\nN: Name="gpio-keys"\nH: Handlers=kbd event0\n'
        "B: EV=3\nB: KEY=10000000000000 0\n\n"
        'I: Bus=0003 Vendor=222a Product=0001 Version=0110\nN: Name="ILITEK ILITEK-TOUCH"\n'
        "H: Handlers=mouse0 event3\nB: EV=1b\nB: KEY=400 0 0 0 0 0\nB: ABS=260800000000003\n\n")
    devs = UI.input_devices(str(proc))
    assert [(d.path, d.touch) for d in devs] == [("/dev/input/event0", False), ("/dev/input/event3", True)]
    assert UI.input_devices(str(tmp_path / "none")) is None


def test_blanking(site):
    _, r = run(site.local_config(), good_sources(consoleblank=lambda: 600))
    assert r["screen blanking"].status == D.WARN and "consoleblank=0" in r["screen blanking"].hint


# --- the hub, --root, --json, techinfo ------------------------------------------------------------

def test_hub_under_root_and_json(site):
    rc, out, _ = run_cli("doctor", "--root", str(site.hub), "--json", "--timeout", "2")
    doc = json.loads(out)
    checks = {c["check"]: c for c in doc["checks"]}
    assert doc["role"] == "hub" and rc == doc["exit_code"]
    assert checks["site broker"]["status"] == "OK"        # the hub's own password, on its own broker
    assert checks["site broker files"]["status"] == "OK"
    assert checks["services"]["status"] == "OK" and "installed and enabled" in checks["services"]["detail"]
    assert checks["clock"]["status"] == "SKIP"
    # the central broker here knows only the kiosk: the hub's password is refused there
    assert checks["central broker"]["status"] == "FAIL" and rc == 1
    passwd = in_root(site.hub, U.MOSQUITTO_PASSWD)
    passwd.write_text("".join(line + "\n" for line in passwd.read_text().splitlines()
                              if not line.startswith("display-1:")))
    (in_root(site.hub, f"{U.UNIT_DIR}/multi-user.target.wants") / "palvelupiste-sync.service").unlink()
    rc, out, _ = run_cli("doctor", "--root", str(site.hub), "--timeout", "2")
    assert "no password entry for display-1" in out and "palvelupiste-sync.service not enabled" in out


def test_doctor_writes_nothing_into_the_device(site):
    before = snapshot(site.kiosk)
    time.sleep(0.01)
    run_cli("doctor", "--root", str(site.kiosk), "--timeout", "1")
    after = snapshot(site.kiosk)
    changed = {k for k in set(before) | set(after) if before.get(k) != after.get(k)}
    # at most SQLite's shared-memory index next to the store (and the folder entry for it)
    assert changed <= {"var/lib/palvelupiste", "var/lib/palvelupiste/events.sqlite-shm",
                       "var/lib/palvelupiste/events.sqlite-wal"}, changed


def test_techinfo_for_the_technician_screen(site):
    info = techinfo.collect(site.local_config(), sources=good_sources(), timeout=2)
    assert (info.device, info.role, info.site) == ("kiosk-1", "kiosk", "example-pp")
    assert info.doctor_result == D.OK and info.problems == ()
    lines = techinfo.lines(info)
    assert lines[0] == "Device kiosk-1 — kiosk — site example-pp"
    assert any(line.startswith("Addresses: ") for line in lines)
    assert json.dumps(info.as_dict())  # plain data
    site.stop()
    info = techinfo.collect(site.local_config(), sources=good_sources(), timeout=1)
    assert info.doctor_result == D.FAIL
    assert {p[0] for p in info.problems} == {"site broker", "central broker"}
    assert any(line.strip().startswith("fix:") for line in techinfo.lines(info))
    quick = techinfo.collect(site.local_config(), run_doctor=False)
    assert quick.doctor_result is None and "Self-test: not run" in techinfo.lines(quick)
    assert replace(quick, hostname="x").hostname == "x"


def test_a_check_that_breaks_is_a_named_failure_not_a_crash(site):
    def denied():
        raise PermissionError(13, "Permission denied", "/dev/input/event3")

    def broken(*a):
        raise RuntimeError("driver exploded")

    report, r = run(site.local_config(), good_sources(input_devices=denied, screens=broken))
    assert r["touch screen"].status == D.FAIL and "permission denied" in r["touch screen"].detail
    assert "sudo palvelupiste doctor" in r["touch screen"].hint
    assert r["screen"].status == D.FAIL and "RuntimeError: driver exploded" in r["screen"].detail
    assert r["site broker"].status == D.OK and report.exit_code == 1


# --- the registry: which checks, from where -----------------------------------------------------------

@pytest.mark.parametrize("role", ["hub", "kiosk", "display", "counter", "feedback"])
def test_each_role_gets_the_checks_the_registry_names(role, tmp_path, fake_bin):
    """The doctor runs exactly the registry's checks for the role, in its order (a feedback terminal
    without a button box has no "buttons" row: nothing to judge)."""
    from appliance import roles as R
    from sync.checks import ProbeResult
    from tests.test_provision import DEVICES

    root = tmp_path / role
    root.mkdir()
    assert provision(root, role, bin=fake_bin)[0] == 0
    s = Site.__new__(Site)
    cfg = Site.local_config(s, root)
    probe = lambda *a: ProbeResult("ok", "connected")  # noqa: E731 — the brokers are not what this is about
    report, r = run(cfg, good_sources(mqtt_probe=probe), timeout=0.3)
    expected = [c.name for c in R.role(role).all_checks if not (role == "feedback" and c.name == "buttons")]
    assert [x.check for x in report.results] == expected
    assert report.role == role and report.device == DEVICES[role]
    assert r["configuration"].status == D.OK
    # the units checked are the registry's for this role (systemd answers through the source)
    asked: list[list[str]] = []
    run(cfg, good_sources(mqtt_probe=probe, unit_states=lambda names: asked.append(names) or {
        n: {"ActiveState": "active", "NRestarts": "0"} for n in names}), timeout=0.3)
    assert asked[0] == [*R.units_for(role), *R.role(role).needed_units]


def test_a_bad_role_section_is_a_configuration_failure_for_every_app(tmp_path, fake_bin):
    """The role's own sections are parsed by the app's parser, named by the registry."""
    root = tmp_path / "counter"
    root.mkdir()
    assert provision(root, "counter", bin=fake_bin)[0] == 0
    s = Site.__new__(Site)
    cfg = Site.local_config(s, root, extra='lang = "xx"\n')   # inside [counter], the file's last table
    _, r = run(cfg, timeout=0.3)
    assert r["configuration"].status == D.FAIL and "counter.lang" in r["configuration"].detail


def test_the_doctor_imports_no_kivy():
    """The doctor runs on a broken device: no check module may pull in Kivy (or the printer driver)."""
    import subprocess
    import sys

    code = ("import sys, appliance.doctor, appliance.roles; "
            "print(sorted(m for m in ('kivy', 'escpos', 'evdev', 'paho') if m in sys.modules))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                       cwd=Path(__file__).resolve().parent.parent)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]"


def test_the_scripts_the_site_offers_can_be_drawn(monkeypatch, example_site):
    """Arabic script needs raqm (libfribidi0) and Noto Sans Arabic, Chinese a Chinese font: the
    kiosk's and feedback terminal's doctor warns, naming the package, when one is missing."""
    import dataclasses

    from PIL import features

    from runtime import fonts
    from runtime.checks import OK, SKIP, WARN
    from uikit import checks as UI

    ctx = Context("x", good_sources(), site=example_site)
    r = UI.check_scripts(ctx)
    assert r.status == OK and "ar" in r.detail and "zh" in r.detail, r  # make install brought them
    monkeypatch.setattr(features, "check", lambda name: False if name == "raqm" else True)
    monkeypatch.setattr(fonts, "missing_fonts", lambda: ["a Chinese font (fonts-wqy-microhei)"])
    r = UI.check_scripts(ctx)
    assert r.status == WARN and "libfribidi0" in r.detail and "fonts-wqy-microhei" in r.detail, r
    latin = dataclasses.replace(example_site, languages=("fi", "sv", "en", "ru"))
    assert UI.check_scripts(Context("x", good_sources(), site=latin)).status == OK
    assert UI.check_scripts(Context("x", good_sources())).status == SKIP
