"""`palvelupiste provision` in a temporary root, for every role.

Real parts: the CLI itself (in process), `palvelupiste check-config` (a subprocess), the real
`systemd-analyze verify` on the installed unit tree (skipped, saying why, where it is missing), the
real Kivy reading the installed config is in test_units.py, and a real Mosquitto started on the
site configuration the hub provisioning wrote, which must accept the provisioned devices'
passwords and refuse a wrong one.
"""
from __future__ import annotations

import contextlib
import getpass
import io
import os
import re
import shutil
import stat
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from appliance import provision as P
from appliance import roles as R
from appliance import units as U
from tests.support.broker import MosquittoBroker, free_port, mosquitto_binary

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "assets" / "sites" / "example.toml"
DEVICES = {"hub": "hub-1", "kiosk": "kiosk-1", "display": "display-1", "counter": "counter-1",
           "feedback": "feedback-1"}
PRINTER = "serial:/dev/ttyUSB0?baudrate=19200"


# --- helpers (test_doctor.py uses them too) ----------------------------------------------------------

def run_cli(*argv: str) -> tuple[int, str, str]:
    from cli.main import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            rc = main(list(argv))
        except SystemExit as exc:  # argparse
            rc = int(exc.code or 0)
    return rc, out.getvalue(), err.getvalue()


def provision(root: Path, role: str, device: str | None = None, *, bin: Path, site_port: int = 1883,
              central_port: int = 8883, site_config: Path | None = EXAMPLE, site: str = "example-pp",
              extra: tuple[str, ...] = ()) -> tuple[int, str, str]:
    argv = ["provision", "--role", role, "--site", site, "--device", device or DEVICES[role],
            "--site-broker", f"mqtt://127.0.0.1:{site_port}", "--central-broker", f"mqtt://127.0.0.1:{central_port}",
            "--root", str(root), "--bin", str(bin), "--insecure-central-link"]
    if site_config is not None:
        argv += ["--site-config", str(site_config)]
    return run_cli(*argv, *extra)


def snapshot(root: Path) -> dict[str, tuple]:
    """Every entry under root: kind, mode, mtime, and the bytes or the link target."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            st = p.lstat()
            if stat.S_ISLNK(st.st_mode):
                out[str(p.relative_to(root))] = ("link", os.readlink(p))
            elif stat.S_ISDIR(st.st_mode):
                out[str(p.relative_to(root))] = ("dir", st.st_mode, st.st_mtime_ns)
            else:
                out[str(p.relative_to(root))] = ("file", st.st_mode, st.st_mtime_ns, p.read_bytes())
    return out


def in_root(root: Path, target: str) -> Path:
    return root / target.lstrip("/")


def site_broker_conf(hub_root: Path, workdir: Path) -> str:
    """The hub's written site broker configuration, runnable by this test process: the same file with
    its absolute paths moved into the root and the user it drops to set to the test's user."""
    text = in_root(hub_root, U.MOSQUITTO_CONF).read_text()
    text = text.replace("/etc/mosquitto/", f"{hub_root}/etc/mosquitto/")
    text = text.replace(f"persistence_location {U.MOSQUITTO_DATA}/", f"persistence_location {workdir}/")
    return re.sub(r"(?m)^user \S+$", f"user {getpass.getuser()}", text)


@pytest.fixture
def fake_bin(tmp_path) -> Path:
    """The executable ExecStart names (systemd-analyze verify wants it to exist)."""
    b = tmp_path / "opt" / "bin" / "palvelupiste"
    b.parent.mkdir(parents=True)
    b.write_text("#!/bin/sh\nexit 0\n")
    b.chmod(0o755)
    return b


@pytest.fixture
def root(tmp_path) -> Path:
    r = tmp_path / "root"
    r.mkdir()
    return r


def needs_mosquitto():
    if mosquitto_binary() is None:
        pytest.skip("mosquitto is not installed (make install installs it)")


# --- every role --------------------------------------------------------------------------------------

@pytest.mark.parametrize("role", list(DEVICES))
def test_provision_every_role_in_a_temporary_root(role, root, fake_bin):
    extra = ("--printer", PRINTER) if role == "kiosk" else ()
    rc, out, err = provision(root, role, bin=fake_bin, extra=extra)
    assert rc == 0, err
    dev = DEVICES[role]

    # the device configuration: valid for core.config and for `palvelupiste check-config --device`
    conf = in_root(root, U.DEVICE_CONFIG)
    r = subprocess.run([sys.executable, "-m", "cli", "check-config", "--device", str(conf)], cwd=REPO,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    doc = tomllib.loads(conf.read_text())
    assert doc["device"] == {"id": dev, "role": role, "site": "example-pp", "data_dir": U.DATA_DIR}
    assert doc["site_broker"]["username"] == dev
    assert doc["central_broker"]["username"] == f"example-pp.{dev}"
    assert ("printer" in doc) == (role == "kiosk")
    from core.config import load_site

    assert load_site(in_root(root, P.SITE_TOML)).id == "example-pp"

    # data directory and store, with this device's identity
    from core.store import EventStore

    with EventStore(in_root(root, P.STORE), "example-pp", dev) as store:
        assert store.last_seq == 0 and store.integrity_check() == "ok"

    # units and their enable links: exactly the role's and the sync agent's
    units = sorted(p.name for p in in_root(root, U.UNIT_DIR).glob("*.service"))
    assert units == sorted(R.units_for(role))
    wants = in_root(root, f"{U.UNIT_DIR}/multi-user.target.wants")
    assert sorted(p.name for p in wants.iterdir()) == sorted(R.units_for(role))
    for name in R.units_for(role):
        assert os.readlink(wants / name) == f"{U.UNIT_DIR}/{name}"
        assert U.exec_start(in_root(root, f"{U.UNIT_DIR}/{name}").read_text())[0] == str(fake_bin)
    exe = shutil.which("systemd-analyze")
    if exe:
        names = R.units_for(role) + ([U.MOSQUITTO_UNIT] if role == "hub" else [])
        r = subprocess.run([exe, "verify", *names], capture_output=True, text=True, timeout=60,
                           env={**os.environ, "SYSTEMD_UNIT_PATH": f"{in_root(root, U.UNIT_DIR)}:"})
        assert r.returncode == 0 and r.stderr.strip() == "", r.stderr

    # secrets: 0600, one line each, never printed
    secret_paths = [P.SITE_PASSWORD, P.CENTRAL_PASSWORD]
    if role == "hub":
        secret_paths += [f"{P.SITE_CREDENTIALS}/{d}.password" for d in DEVICES.values()] + [
            U.MOSQUITTO_PASSWD, P.CENTRAL_BRIDGE_PASSWORD, U.MOSQUITTO_CONF]   # the conf holds the bridge's password
    for target in secret_paths:
        p = in_root(root, target)
        assert stat.S_IMODE(p.stat().st_mode) == 0o600, target
    for target in secret_paths[:2]:
        pw = in_root(root, target).read_text().strip()
        assert len(pw) >= 24 and "\n" not in pw
        assert pw not in out and pw not in err
    from bus.brokerconf import verify_password_entry

    entry, *more = in_root(root, P.CENTRAL_ENTRY).read_text().splitlines()
    assert entry.startswith(f"example-pp.{dev}:$7$")
    assert verify_password_entry(entry, in_root(root, P.CENTRAL_PASSWORD).read_text().strip())
    if role == "hub":
        # the hub's entry file also carries the site broker's bridge, with a password of its own
        bridge_pw = in_root(root, P.CENTRAL_BRIDGE_PASSWORD).read_text().strip()
        assert len(more) == 1 and more[0].startswith("example-pp.bridge:$7$")
        assert verify_password_entry(more[0], bridge_pw) and len(bridge_pw) >= 24
        assert bridge_pw not in out and bridge_pw not in err
        conf = in_root(root, U.MOSQUITTO_CONF).read_text()
        assert f"remote_password {bridge_pw}\n" in conf and "address 127.0.0.1:8883\n" in conf
        assert f"z {U.MOSQUITTO_CONF} 0600 mosquitto mosquitto -" in in_root(root, U.TMPFILES_FILE).read_text()
    else:
        assert more == []

    # Kivy: screen roles only, exactly one input provider
    kivy = in_root(root, P.KIVY_CONFIG)
    assert kivy.exists() == R.role(role).screen
    if kivy.exists():
        assert kivy.read_text() == U.kivy_config()
    # the hub's site broker
    assert in_root(root, U.MOSQUITTO_CONF).exists() == (role == "hub")
    assert in_root(root, U.MOSQUITTO_DROPIN).exists() == (role == "hub")
    assert in_root(root, U.SYSUSERS_FILE).read_text() == U.sysusers_conf()
    assert f"z {P.SITE_PASSWORD} 0600 palvelupiste" in in_root(root, U.TMPFILES_FILE).read_text()

    # a second run changes nothing: same bytes, same modes, same mtimes, passwords kept
    before = snapshot(root)
    rc, out2, err2 = provision(root, role, bin=fake_bin, extra=extra)
    assert rc == 0, err2
    assert snapshot(root) == before
    assert " 0 change(s)" in out2


def test_dry_run_writes_nothing(root, fake_bin):
    rc, out, err = provision(root, "kiosk", bin=fake_bin, extra=("--printer", PRINTER, "--dry-run"))
    assert rc == 0, err
    assert list(root.iterdir()) == []
    for target in (U.DEVICE_CONFIG, P.SITE_PASSWORD, P.STORE, P.KIVY_CONFIG, U.SYSUSERS_FILE,
                   f"{U.UNIT_DIR}/palvelupiste-kiosk.service", f"{U.UNIT_DIR}/palvelupiste-sync.service",
                   f"{U.UNIT_DIR}/multi-user.target.wants/palvelupiste-kiosk.service"):
        assert target in out, target
    assert "secret: not shown" in out
    assert f'url = "{PRINTER}"' in out          # file contents are shown
    assert "ExecStart=" + str(fake_bin) in out
    assert "no commands would run" in out

    # on a provisioned device: a changed argument shows as an update, and still nothing is written
    assert provision(root, "kiosk", bin=fake_bin, extra=("--printer", PRINTER))[0] == 0
    before = snapshot(root)
    rc, out, err = provision(root, "kiosk", bin=fake_bin, central_port=9999, extra=("--printer", PRINTER, "--dry-run"))
    assert rc == 0, err
    assert snapshot(root) == before
    assert re.search(r"update\s+file /etc/palvelupiste/device.toml", out)
    assert "mqtt://127.0.0.1:9999" in out
    assert re.search(r"unchanged\s+file /etc/palvelupiste/site-broker.password", out)


BAD = [
    (("--role", "printer"), None, "unknown role"),
    (("--device", "kiosk 1"), None, "--device 'kiosk 1'"),
    (("--site-broker", "http://hub:1883"), None, "--site-broker"),
    (("--central-broker", "mqtt://central:99999"), None, "port must be 1 to 65535"),
    (("--role", "display", "--device", "display-1", "--printer", PRINTER), None, "only a kiosk"),
    (("--printer", "serial:ttyUSB0"), None, "--printer"),
    (("--site-config", "/nonexistent/site.toml"), None, "cannot read"),
    (("--device", "kiosk-9"), None, "not in its [[devices]]"),
    (("--role", "display"), None, "has role 'kiosk'"),
    (("--site", "other-pp"), None, "it is site 'example-pp'"),
    (("--site-password-file", "/nonexistent/pw"), None, "--site-password-file"),
    (("--bin", "bin/palvelupiste"), None, "absolute path"),
    (("--listen", "0.0.0.0"), None, "only the hub"),
    (("--central-ca", str(EXAMPLE)), None, "only for an mqtts:// central broker"),
    (("--role", "hub", "--device", "hub-1", "--site-broker", "mqtts://hub:8883"), None, "without TLS"),
]


def _bad_argv(root: Path, fake_bin: Path, override: tuple[str, ...]) -> list[str]:
    args = {"--role": "kiosk", "--site": "example-pp", "--device": "kiosk-1", "--site-broker": "mqtt://127.0.0.1:1883",
            "--central-broker": "mqtt://127.0.0.1:8883", "--root": str(root), "--bin": str(fake_bin),
            "--site-config": str(EXAMPLE)}
    flags = ["--insecure-central-link"]
    it = iter(override)
    for k in it:
        if k.startswith("--") and k not in ("--dry-run", "--insecure-central-link"):
            args[k] = next(it)
        else:
            flags.append(k)
    argv = ["provision"]
    for k, v in args.items():
        argv += [k, v]
    return argv + flags


@pytest.mark.parametrize("override,_,message", BAD, ids=[m for _, _, m in BAD])
def test_bad_arguments_get_a_clear_message_and_change_nothing(root, fake_bin, override, _, message):
    empty = snapshot(root)
    rc, out, err = run_cli(*_bad_argv(root, fake_bin, override))
    assert rc == 2 and message in err, err
    assert "nothing was changed" in err
    assert snapshot(root) == empty
    # and on a provisioned device
    assert provision(root, "kiosk", bin=fake_bin, extra=("--printer", PRINTER))[0] == 0
    before = snapshot(root)
    rc, out, err = run_cli(*_bad_argv(root, fake_bin, override))
    assert rc == 2 and message in err, err
    assert snapshot(root) == before


def test_more_refusals(root, fake_bin, tmp_path):
    # every problem at once
    rc, _, err = run_cli(*_bad_argv(root, fake_bin, ("--role", "nosuch", "--site-broker", "tcp://x")))
    assert rc == 2 and "unknown role" in err and "--site-broker" in err
    # no site configuration anywhere yet
    rc, _, err = provision(root, "kiosk", bin=fake_bin, site_config=None)
    assert rc == 2 and "--site-config FILE is needed" in err
    # a missing required argument (argparse) is a usage error too
    rc, _, err = run_cli("provision", "--role", "kiosk", "--root", str(root))
    assert rc == 2 and "required" in err
    # the hub makes the site's passwords; it takes none
    pw = tmp_path / "pw"
    pw.write_text("secret-from-elsewhere\n")
    rc, _, err = provision(root, "hub", bin=fake_bin, extra=("--site-password-file", str(pw)))
    assert rc == 2 and "the hub makes the site's passwords" in err
    # a store of another device is never taken over
    assert provision(root, "kiosk", bin=fake_bin)[0] == 0
    before = snapshot(root)
    rc, _, err = provision(root, "display", bin=fake_bin)
    assert rc == 2 and "belongs to site 'example-pp' device 'kiosk-1'" in err
    assert snapshot(root) == before
    # a root that does not exist
    rc, _, err = provision(tmp_path / "nowhere", "kiosk", bin=fake_bin)
    assert rc == 2 and "no such directory" in err
    assert not (tmp_path / "nowhere").exists()


def test_tls_central_broker_with_its_ca(root, fake_bin, tmp_path):
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\nnot checked here\n-----END CERTIFICATE-----\n")
    argv = _bad_argv(root, fake_bin, ("--central-broker", "mqtts://central.example.fi:8883", "--central-ca", str(ca)))
    rc, out, err = run_cli(*argv)
    assert rc == 0, err
    from core.config import load_device

    d = load_device(in_root(root, U.DEVICE_CONFIG))
    assert d.central_broker.tls and d.central_broker.ca_file == P.CENTRAL_CA
    assert in_root(root, P.CENTRAL_CA).read_bytes() == ca.read_bytes()
    assert "plain mqtt://" not in out
    before = snapshot(root)
    assert run_cli(*argv)[0] == 0
    assert snapshot(root) == before


def test_other_tables_of_the_device_config_are_kept(root, fake_bin):
    assert provision(root, "kiosk", bin=fake_bin, extra=("--printer", PRINTER))[0] == 0
    conf = in_root(root, U.DEVICE_CONFIG)
    conf.write_text(conf.read_text() + '\n# the entrance is draughty: a little longer\n[kiosk]\nidle_s = 45\ninput = "hidinput:/dev/input/event5"\n'
                    '\n[kiosk.where_to_wait]\nfi = "Odota aulassa."\n')
    rc, out, err = provision(root, "kiosk", bin=fake_bin, extra=("--printer", "tcp:10.0.0.5:9100"))
    assert rc == 0, err
    doc = tomllib.loads(conf.read_text())
    assert "# the entrance is draughty: a little longer\n[kiosk]\n" in conf.read_text()
    assert doc["kiosk"]["idle_s"] == 45 and doc["kiosk"]["where_to_wait"]["fi"] == "Odota aulassa."
    assert doc["printer"] == {"url": "tcp:10.0.0.5:9100"}
    # the Kivy config follows the kiosk's one input setting
    assert "touch = hidinput,/dev/input/event5" in in_root(root, P.KIVY_CONFIG).read_text()
    before = snapshot(root)
    assert provision(root, "kiosk", bin=fake_bin, extra=("--printer", "tcp:10.0.0.5:9100"))[0] == 0
    assert snapshot(root) == before
    # without --printer the printer table is kept too
    assert provision(root, "kiosk", bin=fake_bin)[0] == 0
    assert tomllib.loads(conf.read_text())["printer"] == {"url": "tcp:10.0.0.5:9100"}


def test_a_new_role_replaces_the_old_units(root, fake_bin, tmp_path):
    text = EXAMPLE.read_text()
    as_kiosk = tmp_path / "site-kiosk.toml"
    as_kiosk.write_text(text + '\n[[devices]]\nid = "pi-7"\nrole = "kiosk"\n')
    as_display = tmp_path / "site-display.toml"
    as_display.write_text(text + '\n[[devices]]\nid = "pi-7"\nrole = "display"\n')
    assert provision(root, "kiosk", "pi-7", bin=fake_bin, site_config=as_kiosk)[0] == 0
    rc, out, err = provision(root, "display", "pi-7", bin=fake_bin, site_config=as_display)
    assert rc == 0, err
    assert sorted(p.name for p in in_root(root, U.UNIT_DIR).glob("*.service")) == sorted(R.units_for("display"))
    wants = in_root(root, f"{U.UNIT_DIR}/multi-user.target.wants")
    assert sorted(p.name for p in wants.iterdir()) == sorted(R.units_for("display"))
    assert "remove" in out


def test_live_commands_only_for_what_changed(root, fake_bin, monkeypatch):
    """On / with systemd running, these would run (the plan is computed, nothing runs here)."""
    opts = P.Options(role="hub", site="example-pp", device="hub-1", site_broker="mqtt://127.0.0.1:1883",
                     central_broker="mqtt://127.0.0.1:8883", root=str(root), site_config=str(EXAMPLE),
                     bin=str(fake_bin), insecure_central_link=True)
    monkeypatch.setattr(P, "_missing_user", lambda: False)
    plan = P.make_plan(opts)
    plan.live = True
    cmds = P._commands(plan, R.units_for("hub"))
    assert ["systemctl", "daemon-reload"] in cmds
    assert ["systemctl", "restart", "mosquitto.service"] in cmds
    assert ["systemctl", "enable", "--now", "palvelupiste-hub.service", "palvelupiste-sync.service"] in cmds
    rc = P.run(opts, io.StringIO(), io.StringIO())
    assert rc == 0
    plan = P.make_plan(opts)
    plan.live = True
    assert P._commands(plan, R.units_for("hub")) == []   # nothing changed: nothing to run


# --- the hub's Mosquitto, started on what provisioning wrote ------------------------------------------

@pytest.mark.broker
def test_site_broker_accepts_the_provisioned_devices_and_refuses_a_wrong_password(tmp_path, fake_bin):
    needs_mosquitto()
    from core.config import Broker, load_device
    from sync.checks import mqtt_probe

    port = free_port()
    hub, kiosk, display = (tmp_path / n for n in ("hub", "kiosk", "display"))
    for r in (hub, kiosk, display):
        r.mkdir()
    assert provision(hub, "hub", bin=fake_bin, site_port=port, extra=("--listen", "127.0.0.1"))[0] == 0
    creds = in_root(hub, P.SITE_CREDENTIALS)
    # hub first: the kiosk gets its password from the hub
    rc, out, err = provision(kiosk, "kiosk", bin=fake_bin, site_port=port,
                             extra=("--site-password-file", str(creds / "kiosk-1.password")))
    assert rc == 0, err
    # device first: the display makes its own; the hub learns it on its next run
    rc, out, err = provision(display, "display", bin=fake_bin, site_port=port)
    assert rc == 0 and "the hub does not know display-1's new site broker password" in out

    url = Broker(f"mqtt://127.0.0.1:{port}")

    def probe(root: Path, user: str, password: str | None = None):
        pw = password or in_root(root, P.SITE_PASSWORD).read_text().strip()
        return mqtt_probe(url, user, pw, f"{user}-test", timeout=3).outcome

    work = tmp_path / "broker"
    broker = MosquittoBroker(work, port=port, config_text=site_broker_conf(hub, work)).start()
    try:
        assert probe(kiosk, "kiosk-1") == "ok"
        assert probe(hub, "hub-1") == "ok"
        assert probe(kiosk, "kiosk-1", "wrong-password") == "auth"
        assert probe(kiosk, "display-1") == "auth"           # another device's user, this one's password
        assert probe(display, "display-1") == "auth"         # the hub does not know it yet
        # the device's config names the same user and password file the probe used
        d = load_device(in_root(kiosk, U.DEVICE_CONFIG))
        assert (d.site_broker.username, d.site_broker.url) == ("kiosk-1", f"mqtt://127.0.0.1:{port}")
    finally:
        broker.stop()

    # the technician copies the display's password to the hub and provisions the hub again:
    # only the display's password entry changes
    shutil.copy(in_root(display, P.SITE_PASSWORD), creds / "display-1.password")
    lines_before = in_root(hub, U.MOSQUITTO_PASSWD).read_text().splitlines()
    rc, out, err = provision(hub, "hub", bin=fake_bin, site_port=port, extra=("--listen", "127.0.0.1"))
    assert rc == 0, err
    lines_after = in_root(hub, U.MOSQUITTO_PASSWD).read_text().splitlines()
    changed = [a.split(":")[0] for a, b in zip(lines_before, lines_after) if a != b]
    assert changed == ["display-1"]
    broker = MosquittoBroker(work, port=port, config_text=site_broker_conf(hub, work)).start()
    try:
        assert probe(display, "display-1") == "ok"
        assert probe(kiosk, "kiosk-1") == "ok"
    finally:
        broker.stop()


def test_a_technicians_own_keys_and_comments_in_provisioned_tables_are_kept(root, fake_bin, tmp_path):
    """Provisioning edits device.toml (a real TOML writer), it does not splice text: a comment and a
    key of the technician's inside [central_broker] stay, a new key goes into its own table and
    not under the next table's comment, and the result parses back to the values given."""
    assert provision(root, "kiosk", bin=fake_bin)[0] == 0
    conf = in_root(root, U.DEVICE_CONFIG)
    text = conf.read_text().replace(
        "[central_broker]\n", "[central_broker]\n# client certificate from the regional CA\n"
                              'cert_file = "/etc/palvelupiste/client.pem"\n')
    conf.write_text(text + '\n# the entrance is draughty\n[kiosk]\nidle_s = 45\n')
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\nnot checked here\n-----END CERTIFICATE-----\n")
    rc, _, err = run_cli(*_bad_argv(root, fake_bin, ("--central-broker", "mqtts://central.example.fi:8883",
                                                     "--central-ca", str(ca))))
    assert rc == 0, err
    written = conf.read_text()
    doc = tomllib.loads(written)
    assert doc["central_broker"] == {"url": "mqtts://central.example.fi:8883", "username": "example-pp.kiosk-1",
                                     "password_file": P.CENTRAL_PASSWORD, "cert_file": "/etc/palvelupiste/client.pem",
                                     "ca_file": P.CENTRAL_CA}
    assert "# client certificate from the regional CA\n" in written
    assert "# the entrance is draughty\n[kiosk]\n" in written
    assert doc["kiosk"] == {"idle_s": 45}


def test_tables_of_another_role_are_refused_not_dropped(root, fake_bin, tmp_path):
    """A device that becomes a display keeps no [kiosk] table silently (check-config would refuse
    the file) and loses none either: provisioning names it and changes nothing."""
    text = EXAMPLE.read_text()
    as_kiosk = tmp_path / "site-kiosk.toml"
    as_kiosk.write_text(text + '\n[[devices]]\nid = "pi-7"\nrole = "kiosk"\n')
    as_display = tmp_path / "site-display.toml"
    as_display.write_text(text + '\n[[devices]]\nid = "pi-7"\nrole = "display"\n')
    assert provision(root, "kiosk", "pi-7", bin=fake_bin, site_config=as_kiosk, extra=("--printer", PRINTER))[0] == 0
    before = snapshot(root)
    rc, _, err = provision(root, "display", "pi-7", bin=fake_bin, site_config=as_display)
    assert rc == 2 and "has [printer], which a display does not have" in err
    assert snapshot(root) == before


def test_a_plain_central_link_needs_the_insecure_flag(root, fake_bin):
    """The central link crosses the internet: plain mqtt:// is refused unless asked for by name."""
    empty = snapshot(root)
    argv = [a for a in _bad_argv(root, fake_bin, ()) if a != "--insecure-central-link"]
    rc, _, err = run_cli(*argv)
    assert rc == 2 and "--insecure-central-link" in err and "plain mqtt://" in err, err
    assert snapshot(root) == empty
    rc, out, err = run_cli(*argv, "--insecure-central-link")
    assert rc == 0, err
    assert "never in production" in out
    doc = tomllib.loads(in_root(root, U.DEVICE_CONFIG).read_text())
    assert doc["central_broker"]["url"] == "mqtt://127.0.0.1:8883"
