"""`palvelupiste check-config --device FILE`, run as the technician runs it (a subprocess of the
real CLI): exit 2 naming the field for each kind of mistake, exit 0 for the device files that
provisioning and the demo write."""
from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "assets" / "sites" / "example.toml"
DEVICE_IDS = {"hub": "hub-1", "kiosk": "kiosk-1", "display": "display-1", "counter": "counter-1",
              "feedback": "feedback-1"}


def check(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cli", "check-config", "--device", str(path)], cwd=REPO,
                          capture_output=True, text=True, timeout=60)


def device_file(tmp_path: Path, role: str, extra: str = "", *, site: bool = True) -> Path:
    """A valid device file of `role` beside a copy of the example site, plus `extra` TOML."""
    if site:
        shutil.copy(EXAMPLE, tmp_path / "site.toml")
    text = (f'[device]\nid = "{DEVICE_IDS[role]}"\nrole = "{role}"\nsite = "example-pp"\ndata_dir = "data"\n'
            f'site_config = "site.toml"\n\n[site_broker]\nurl = "mqtt://127.0.0.1:1883"\n\n'
            f'[sync]\nstatus_interval_s = 5\n\n{extra}\n')
    path = tmp_path / "device.toml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("role,extra,field", [
    ("kiosk", '[kiosk]\nidle_s = "thirty"', "kiosk.idle_s"),
    ("display", '[display]\nhistory = "seven"', "display.history"),
    ("counter", '[counter]\nwidth = "wide"', "counter.width"),
    ("feedback", '[feedback]\nscale = "five"', "feedback.scale"),
    ("feedback", '[feedback.misuse]\nburst_count = "many"', "feedback.misuse.burst_count"),
    ("kiosk", '[printer]\nurl = "serial:/dev/ttyUSB0"\ncolumns = "42"', "printer.columns"),
    ("hub", "[hub]\nheartbeat_s = true", "hub.heartbeat_s"),
    ("kiosk", '[printer]\nurl = "lpt:1"', "printer.url"),
    ("kiosk", "[kiosk]\nidle_seconds = 30", "kiosk.idle_seconds"),
    ("display", '[display]\nservices = ["kela", "pankki"]', "display.services"),
    ("counter", '[counter]\ncounter = "99"', "counter.counter"),
])
def test_a_wrong_section_exits_2_naming_the_field(tmp_path, role, extra, field):
    r = check(device_file(tmp_path, role, extra))
    assert r.returncode == 2, r.stdout + r.stderr
    assert re.search(rf"^  {re.escape(field)}: ", r.stderr, re.M), r.stderr
    assert "ok" not in r.stdout


def test_a_wrong_type_in_sync(tmp_path):
    path = device_file(tmp_path, "kiosk")
    path.write_text(path.read_text().replace("status_interval_s = 5", "window = 2.5"))
    r = check(path)
    assert r.returncode == 2 and re.search(r"^  sync\.window: ", r.stderr, re.M), r.stderr


def test_a_section_of_another_role_and_an_unknown_section(tmp_path):
    r = check(device_file(tmp_path, "kiosk", '[display]\norientation = "portrait"\n\n[toaster]\nslots = 2'))
    assert r.returncode == 2
    assert re.search(r"^  display: does not belong to a kiosk device", r.stderr, re.M), r.stderr
    assert re.search(r"^  toaster: unknown section", r.stderr, re.M), r.stderr


def test_every_problem_is_listed_in_one_run(tmp_path):
    r = check(device_file(tmp_path, "kiosk", '[kiosk]\nidle_s = "thirty"\norientation = "sideways"\n\n'
                                             '[printer]\nurl = "lpt:1"'))
    assert r.returncode == 2 and "3 problem(s)" in r.stderr
    assert {"kiosk.idle_s", "kiosk.orientation", "printer.url"} <= set(re.findall(r"^  (\S+):", r.stderr, re.M))


def test_a_device_the_site_lists_under_another_role(tmp_path):
    path = device_file(tmp_path, "kiosk")
    path.write_text(path.read_text().replace('id = "kiosk-1"', 'id = "display-1"'))
    r = check(path)
    assert r.returncode == 2 and re.search(r"^  device\.role: .*'display'", r.stderr, re.M), r.stderr


def test_without_the_site_file_it_says_what_was_not_checked(tmp_path):
    r = check(device_file(tmp_path, "display", '[display]\nservices = ["pankki"]', site=False))
    assert r.returncode == 0, r.stderr
    assert "not read" in r.stderr and "site.toml" in r.stderr
    assert "site file not read" in r.stdout


def test_a_good_file_is_ok_and_checked_against_its_site(tmp_path):
    r = check(device_file(tmp_path, "kiosk", '[kiosk]\nidle_s = 45\n\n[printer]\nurl = "tcp:10.0.0.5:9100"'))
    assert r.returncode == 0, r.stderr
    assert r.stdout.count("\n") == 1 and ": ok — device kiosk-1, role kiosk" in r.stdout
    assert "checked against site file" in r.stdout and r.stderr == ""


# --- what provisioning and the demo write --------------------------------------------------------

def provisioned_device_toml(tmp_path: Path, role: str) -> str:
    """The device.toml `palvelupiste provision --dry-run` shows it would write."""
    fake_bin = tmp_path / "bin" / "palvelupiste"
    fake_bin.parent.mkdir(exist_ok=True)
    fake_bin.write_text("#!/bin/sh\nexit 0\n")
    fake_bin.chmod(0o755)
    (tmp_path / "root").mkdir()
    argv = [sys.executable, "-m", "cli", "provision", "--role", role, "--site", "example-pp",
            "--device", DEVICE_IDS[role], "--site-broker", "mqtt://127.0.0.1:1883",
            "--central-broker", "mqtt://127.0.0.1:8883", "--root", str(tmp_path / "root"), "--bin", str(fake_bin),
            "--site-config", str(EXAMPLE), "--dry-run", "--insecure-central-link"]
    if role == "kiosk":
        argv += ["--printer", "serial:/dev/ttyUSB0?baudrate=19200"]
    r = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    m = re.search(r"file /etc/palvelupiste/device\.toml [^\n]*\n((?: +\|[^\n]*\n)+)", r.stdout)
    assert m, r.stdout
    return "".join(re.sub(r"^ +\| ?", "", line) + "\n" for line in m[1].splitlines())


@pytest.mark.parametrize("role", list(DEVICE_IDS))
def test_what_provision_writes_is_ok(tmp_path, role):
    text = provisioned_device_toml(tmp_path, role)
    assert f'role = "{role}"' in text
    path = tmp_path / "device.toml"
    path.write_text(text)
    r = check(path)
    assert r.returncode == 0, r.stderr
    assert f"role {role}" in r.stdout


def test_what_the_demo_writes_is_ok(tmp_path):
    from sim.demo import ServicePoint

    sp = ServicePoint(tmp_path / "demo", apps=False)
    sp.prepare()
    assert set(sp.device_configs) >= set(DEVICE_IDS.values())
    for dev, path in sp.device_configs.items():
        # the demo puts its printer emulator's serial line here when it starts it
        path.write_text(path.read_text().replace("{printer_url}", "serial:/dev/pts/9"))
        r = check(path)
        assert r.returncode == 0, (dev, r.stderr)
        assert "checked against site file" in r.stdout, (dev, r.stdout)


def test_the_sections_are_read_without_kivy():
    # check-config runs on every device, the hub included, where no Kivy app is running
    code = ("import sys, appliance.sections, cli.config_cmd; "
            "print(sorted(m for m in ('kivy', 'paho') if m in sys.modules))")
    r = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and r.stdout.strip() == "[]", r.stderr


def test_the_reference_names_every_section_and_parses_as_toml():
    import tomllib

    r = subprocess.run([sys.executable, "-m", "cli", "check-config", "--describe"], cwd=REPO,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    doc = tomllib.loads(r.stdout)
    assert {"device", "sync", "hub", "kiosk", "printer", "display", "counter", "feedback"} <= set(doc)
    assert doc["kiosk"]["idle_s"] == 90 and doc["feedback"]["misuse"]["burst_count"] == 6
