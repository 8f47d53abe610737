"""`palvelupiste provision --role central` in a temporary root.

Real parts: the CLI in process; a certificate authority made by openssl (sim/tlsca.py); the real
Mosquitto started on the configuration provisioning wrote (only its paths moved into the root and
its user set to the test's); the real `systemd-analyze verify` on the central units; the real
PostgreSQL cluster of the run (tests/conftest.py) for `central setup-db`; and, end to end, the ingest
worker started with the very arguments of the installed unit, storing what a provisioned kiosk
publishes over TLS. Without systemd the units are checked by their files and links.
"""
from __future__ import annotations

import getpass
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from appliance import central_role as C
from appliance import provision as P
from appliance import units as U
from central import settings as S
from tests.support.broker import MosquittoBroker, free_port, mosquitto_binary, wait_port
from tests.support.wait import wait_until
from tests.test_provision import PRINTER, in_root, provision, run_cli, snapshot

REPO = Path(__file__).resolve().parent.parent


def tls_args(ca_dir: Path) -> tuple[str, ...]:
    return ("--tls-cert", str(ca_dir / "server.crt"), "--tls-key", str(ca_dir / "server.key"),
            "--tls-ca", str(ca_dir / "ca.crt"))


class CentralHost:
    """A central host provisioned into `tmp/root` with a throw-away CA for 127.0.0.1, on free ports
    (the services' port is set by editing central.toml and provisioning again, as a technician
    would). `start_broker()` runs the real Mosquitto on what was written."""

    def __init__(self, tmp: Path, bin: Path, *, days: int = 400, extra: tuple[str, ...] = ()) -> None:
        from sim.tlsca import make_ca

        self.tmp = tmp
        self.root = tmp / "root"
        self.root.mkdir(parents=True)
        self.ca_dir = tmp / "ca"
        make_ca(self.ca_dir, days=days)
        self.port, self.service_port = free_port(), free_port()
        self.bin = bin
        rc, out, err = self.provision("--central-broker", self.url, *tls_args(self.ca_dir), *extra)
        assert rc == 0, err
        conf = in_root(self.root, S.CENTRAL_CONFIG)
        conf.write_text(conf.read_text().replace(f'"{S.DEFAULT_SERVICE_URL}"',
                                                 f'"mqtt://127.0.0.1:{self.service_port}"'))
        rc, out, err = self.provision()
        assert rc == 0 and "update    file /etc/mosquitto/palvelupiste-central.conf" in out, out + err
        self.broker: MosquittoBroker | None = None

    @property
    def url(self) -> str:
        return f"mqtts://127.0.0.1:{self.port}"

    def provision(self, *extra: str) -> tuple[int, str, str]:
        return run_cli("provision", "--role", "central", "--root", str(self.root), "--bin", str(self.bin), *extra)

    def settings(self) -> S.CentralSettings:
        return S.load_central(in_root(self.root, S.CENTRAL_CONFIG))

    def local_config(self, name: str = "local-central.toml", **database: str) -> Path:
        """central.toml with its paths moved into the root (as the commands see them on the host),
        written to tmp/`name`; `database`: keys of [database] to set."""
        text = in_root(self.root, S.CENTRAL_CONFIG).read_text()
        text = text.replace('"/etc/', f'"{self.root}/etc/')
        for key, value in database.items():
            text = re.sub(rf'(?m)^{key} = .*$', f"{key} = {json.dumps(value)}", text)
        path = self.tmp / name
        path.write_text(text)
        return path

    def start_broker(self) -> MosquittoBroker:
        work = self.tmp / "mosquitto"
        text = in_root(self.root, S.MOSQUITTO_CONF).read_text().replace(" /etc/", f" {self.root}/etc/")
        text = text.replace(f"persistence_location {U.MOSQUITTO_DATA}/", f"persistence_location {work}/")
        text = re.sub(r"(?m)^user \S+$", f"user {getpass.getuser()}", text)
        self.broker = MosquittoBroker(work, port=self.port, config_text=text).start()
        assert wait_port(self.service_port, 10), "the services' listener did not open"
        return self.broker

    def stop(self) -> None:
        if self.broker is not None:
            self.broker.stop()

    def secret(self, path: str) -> str:
        return in_root(self.root, path).read_text().strip()


@pytest.fixture
def host(tmp_path, fake_bin):
    h = CentralHost(tmp_path, fake_bin)
    yield h
    h.stop()


def needs_mosquitto() -> None:
    if mosquitto_binary() is None:
        pytest.fail("mosquitto is not installed (make install installs it)")


def mode(p: Path) -> int:
    return p.stat().st_mode & 0o7777


# --- what is written -------------------------------------------------------------------------------

def test_provision_writes_the_central_host(host):
    root, s = host.root, host.settings()
    assert (s.url, s.workers, s.dsn, s.reader) == (host.url, 2, S.DEFAULT_DSN, S.DEFAULT_READER)
    assert s.service_url == f"mqtt://127.0.0.1:{host.service_port}"
    # the TLS files are copies; the key and every secret 0600
    assert in_root(root, s.cert_file).read_bytes() == (host.ca_dir / "server.crt").read_bytes()
    assert in_root(root, s.ca_file).read_bytes() == (host.ca_dir / "ca.crt").read_bytes()
    for path in (s.key_file, s.ingest_password_file, s.publisher_password_file, s.password_file,
                 s.service_password_file, s.acl_file):
        assert mode(in_root(root, path)) == 0o600, path
    # the central broker: the project's one template, both listeners, TLS for the devices
    conf = in_root(root, S.MOSQUITTO_CONF).read_text()
    assert conf == C.render_broker_conf(s)
    assert f"listener {host.port} 0.0.0.0" in conf and f"listener {host.service_port} 127.0.0.1" in conf
    assert f"certfile {s.cert_file}" in conf and conf.count("allow_anonymous false") == 2
    assert "ExecStart=/usr/sbin/mosquitto -c /etc/mosquitto/palvelupiste-central.conf" in \
        in_root(root, U.MOSQUITTO_DROPIN).read_text()
    # the services' passwords are in the services' file, no device yet
    from bus import brokerconf

    entries = dict(line.split(":", 1) for line in in_root(root, s.service_password_file).read_text().splitlines())
    assert set(entries) == {"ingest", "publisher", "web"}
    assert brokerconf.verify_password_entry(f"ingest:{entries['ingest']}", host.secret(s.ingest_password_file))
    # the web service's (the follow pages): its own password, readable by the web unit's user
    assert brokerconf.verify_password_entry(f"web:{entries['web']}", host.secret(C.WEB_PASSWORD))
    assert mode(in_root(root, C.WEB_PASSWORD)) == 0o600
    assert host.secret(C.WEB_PASSWORD) not in (host.secret(s.ingest_password_file), host.secret(s.publisher_password_file))
    assert f"z {C.WEB_PASSWORD} 0600 palvelupiste palvelupiste -" in in_root(root, U.TMPFILES_FILE).read_text()
    assert U.directive(in_root(root, f"{U.UNIT_DIR}/{C.WEB_UNIT}").read_text(), "Service", "User") == [U.SERVICE_USER]
    assert in_root(root, s.password_file).read_text() == ""
    assert in_root(root, s.acl_file).read_text() == brokerconf.render_central_acl({})

    # the units: ExecStart runs real subcommands with the configuration's values
    ingest = in_root(root, f"{U.UNIT_DIR}/{C.INGEST_TEMPLATE}").read_text()
    argv = U.exec_start(ingest)
    assert argv == [str(host.bin), "central", "ingest", "--db", s.dsn, "--broker", s.service_url, "--username",
                    "ingest", "--password-file", s.ingest_password_file, "--client-id", "%i"]
    db_unit = in_root(root, f"{U.UNIT_DIR}/{C.DB_UNIT}").read_text()
    assert U.exec_start(db_unit) == [str(host.bin), "central", "setup-db", "--config", S.CENTRAL_CONFIG]
    assert U.directive(db_unit, "Service", "User") == ["postgres"]
    assert U.directive(db_unit, "Service", "Type") == ["oneshot"]
    assert U.directive(ingest, "Service", "User") == [U.SERVICE_USER]
    prune = U.exec_start(in_root(root, f"{U.UNIT_DIR}/{C.PRUNE_UNIT}").read_text())
    web = U.exec_start(in_root(root, f"{U.UNIT_DIR}/{C.WEB_UNIT}").read_text())
    assert web[1:3] == ["central", "web"] and "--broker" in web and s.publisher_password_file in web
    from cli.main import build_parser

    for words in (argv[1:-2] + ["--client-id", "1"], U.exec_start(db_unit)[1:], prune[1:], web[1:]):
        args = build_parser().parse_args(words)
        assert callable(args.func), words
    # enabled: the set-up, N worker instances of the template, the web service, the daily prune
    wants = in_root(root, f"{U.UNIT_DIR}/multi-user.target.wants")
    assert {p.name: os.readlink(p) for p in wants.iterdir()} == {
        C.DB_UNIT: f"{U.UNIT_DIR}/{C.DB_UNIT}", C.WEB_UNIT: f"{U.UNIT_DIR}/{C.WEB_UNIT}",
        "palvelupiste-ingest@1.service": f"{U.UNIT_DIR}/{C.INGEST_TEMPLATE}",
        "palvelupiste-ingest@2.service": f"{U.UNIT_DIR}/{C.INGEST_TEMPLATE}"}
    assert os.readlink(in_root(root, f"{U.UNIT_DIR}/timers.target.wants/{C.PRUNE_TIMER}")) == \
        f"{U.UNIT_DIR}/{C.PRUNE_TIMER}"
    tmpfiles = in_root(root, U.TMPFILES_FILE).read_text()
    assert f"z {s.key_file} 0600 mosquitto mosquitto -" in tmpfiles
    assert f"z {s.ingest_password_file} 0600 palvelupiste palvelupiste -" in tmpfiles
    assert f"u {U.SERVICE_USER} " in in_root(root, U.SYSUSERS_FILE).read_text()


def test_a_second_run_changes_nothing_and_a_dry_run_writes_nothing(host, tmp_path):
    before = snapshot(host.root)
    rc, out, err = host.provision(*tls_args(host.ca_dir))
    assert rc == 0, err
    assert "0 change(s)" in out
    assert snapshot(host.root) == before
    # options left out keep what the file says
    rc, out, err = host.provision()
    assert rc == 0 and "0 change(s)" in out, err
    assert snapshot(host.root) == before
    # a dry run on an empty root: every file with its contents, secrets never, nothing written
    empty = tmp_path / "empty"
    empty.mkdir()
    rc, out, err = run_cli("provision", "--role", "central", "--root", str(empty), "--bin", str(host.bin),
                           "--central-broker", host.url, *tls_args(host.ca_dir), "--dry-run")
    assert rc == 0, err
    assert list(empty.iterdir()) == []
    assert "nothing is written" in out
    for path in (S.CENTRAL_CONFIG, S.MOSQUITTO_CONF, f"{U.UNIT_DIR}/{C.INGEST_TEMPLATE}", S.INGEST_PASSWORD,
                 S.MOSQUITTO_ACL, f"{U.UNIT_DIR}/multi-user.target.wants/palvelupiste-ingest@2.service"):
        assert path in out, path
    assert f"| listener {host.port} 0.0.0.0" in out and "| workers = 2" in out
    assert "secret: not shown" in out and "BEGIN PRIVATE KEY" not in out
    # a dry run of a change on the provisioned root names it and changes nothing
    rc, out, err = host.provision("--workers", "3", "--dry-run")
    assert rc == 0 and "create    link /etc/systemd/system/multi-user.target.wants/palvelupiste-ingest@3" in out
    assert host.secret(S.INGEST_PASSWORD) not in out
    assert snapshot(host.root) == before


def test_workers_up_and_down_and_a_technicians_comment_is_kept(host):
    conf = in_root(host.root, S.CENTRAL_CONFIG)
    conf.write_text(conf.read_text().replace("[database]\n", "[database]\n# our DBA: call 555\n"))
    rc, out, err = host.provision("--workers", "3", "--small-cell", "7")
    assert rc == 0, err
    wants = in_root(host.root, f"{U.UNIT_DIR}/multi-user.target.wants")
    assert {p.name for p in wants.glob("palvelupiste-ingest@*")} == {f"palvelupiste-ingest@{i}.service"
                                                                     for i in (1, 2, 3)}
    rc, out, err = host.provision("--workers", "1")
    assert rc == 0, err
    assert {p.name for p in wants.glob("palvelupiste-ingest@*")} == {"palvelupiste-ingest@1.service"}
    assert "remove" in out
    doc = tomllib.loads(conf.read_text())
    assert doc["central"] == {"workers": 1, "small_cell": 7}
    assert "# our DBA: call 555" in conf.read_text()
    s = host.settings()
    assert s.worker_units == ("palvelupiste-ingest@1.service",)


BAD = [
    (("--central-broker", "mqtt://127.0.0.1:8883"), "the devices' listener is TLS"),
    (("--workers", "0"), "--workers 0: must be 1 to 64"),
    (("--db", "host=/run/postgresql dbname=x user=y password=z"), "must not hold a password"),
    (("--db", "host=/run/postgresql"), "must name the database (dbname) and its owner (user)"),
    (("--reader", "Robert'); DROP"), "--reader"),
    (("--small-cell", "-1"), "--small-cell -1: must be 0 or more"),
    (("--listen", "everywhere"), "--listen 'everywhere'"),
    (("--site", "example-pp"), "--site: only for the devices' roles"),
    (("--printer", PRINTER), "--printer: only for the devices' roles"),
    (("--tls-cert", "/nowhere.crt"), "--tls-cert /nowhere.crt: cannot read"),
    (("--bin", "relative/palvelupiste"), "--bin"),
]


@pytest.mark.parametrize("override,message", BAD, ids=[m for _, m in BAD])
def test_bad_arguments_name_the_problem_and_change_nothing(host, override, message):
    before = snapshot(host.root)
    rc, out, err = host.provision(*override)
    assert rc == 2 and message in err and "nothing was changed" in err, err
    assert snapshot(host.root) == before


def test_more_refusals(tmp_path, fake_bin):
    from sim.tlsca import make_ca

    ca = make_ca(tmp_path / "ca")
    root = tmp_path / "root"
    root.mkdir()

    def central(*extra: str) -> tuple[int, str]:
        rc, _, err = run_cli("provision", "--role", "central", "--root", str(root), "--bin", str(fake_bin), *extra)
        return rc, err

    # every problem at once, and nothing written
    rc, err = central("--central-broker", "mqtt://x", "--workers", "99", "--site", "s", "--tls-key", "/no.key")
    assert rc == 2 and all(m in err for m in ("listener is TLS", "--workers 99", "--site:", "--tls-key /no.key"))
    assert list(root.iterdir()) == []
    # the first run needs the URL and all three TLS files
    rc, err = central()
    assert rc == 2 and "--central-broker URL is needed" in err
    rc, err = central("--central-broker", "mqtts://127.0.0.1:8883")
    assert rc == 2 and all(f"{flag} FILE is needed" in err for flag in ("--tls-cert", "--tls-key", "--tls-ca"))
    # a certificate that does not name the host the devices use, or the wrong key, or another CA
    rc, err = central("--central-broker", "mqtts://central.example.fi:8883", "--tls-cert", ca.certfile,
                      "--tls-key", ca.keyfile, "--tls-ca", ca.cafile)
    assert rc == 2 and "would refuse it for 'central.example.fi'" in err, err
    other = make_ca(tmp_path / "other")
    rc, err = central("--central-broker", "mqtts://127.0.0.1:8883", "--tls-cert", ca.certfile,
                      "--tls-key", other.keyfile, "--tls-ca", ca.cafile)
    assert rc == 2 and "not a PEM certificate and its own key" in err, err
    rc, err = central("--central-broker", "mqtts://127.0.0.1:8883", "--tls-cert", ca.certfile,
                      "--tls-key", ca.keyfile, "--tls-ca", other.cafile)
    assert rc == 2 and "would refuse it" in err, err
    assert list(root.iterdir()) == []
    # a broken central.toml is named, field by field
    (root / "etc/palvelupiste").mkdir(parents=True)
    (root / "etc/palvelupiste/central.toml").write_text('[broker]\nurl = "mqtts://127.0.0.1:8883"\nlisten = 7\n'
                                                       '[central]\nworkerz = 2\n')
    rc, err = central("--tls-cert", ca.certfile, "--tls-key", ca.keyfile, "--tls-ca", ca.cafile)
    assert rc == 2 and "central.workerz: unknown key" in err and "broker.listen" in err, err
    # a device's options for the central host, and the central host's for a device
    rc, _, err = provision(tmp_path / "root", "kiosk", bin=fake_bin, extra=("--printer", PRINTER, "--workers", "2"))
    assert rc == 2 and "--workers: only for --role central" in err
    rc, _, err = run_cli("provision", "--role", "kiosk", "--root", str(root))
    assert rc == 2 and "--site is required" in err


def test_live_commands_only_for_what_changed(host, monkeypatch):
    monkeypatch.setattr(P, "_missing_user", lambda: False)
    opts = C.CentralOptions(root=str(host.root), bin=str(host.bin), workers=3)
    plan = C.make_plan(opts)
    plan.live = True
    planned = S.parse_central(tomllib.loads(next(i.content.decode() for i in plan.items
                                                 if i.path == S.CENTRAL_CONFIG)))
    cmds = C._commands(plan, planned)
    assert ["systemctl", "daemon-reload"] in cmds       # a new enable link
    assert ["systemd-tmpfiles", "--create", U.TMPFILES_FILE] in cmds
    workers = [f"palvelupiste-ingest@{i}.service" for i in (1, 2, 3)]
    assert ["systemctl", "enable", "--now", "mosquitto.service", C.DB_UNIT, *workers, C.PRUNE_TIMER] in cmds
    assert ["systemctl", "restart", C.DB_UNIT] in cmds       # central.toml changed: the set-up runs again
    assert ["systemctl", "try-restart", *workers, C.WEB_UNIT] in cmds
    assert not any(c[:2] == ["systemctl", "restart"] and "mosquitto.service" in c for c in cmds)
    assert C.run(opts, io.StringIO(), io.StringIO()) == 0
    plan = C.make_plan(opts)
    plan.live = True
    assert C._commands(plan, host.settings()) == []    # nothing changed: nothing to run
    # a new certificate restarts the broker
    from sim.tlsca import make_ca

    make_ca(host.tmp / "renewed", days=400)
    plan = C.make_plan(C.CentralOptions(root=str(host.root), bin=str(host.bin),
                                        tls_cert=str(host.tmp / "renewed/server.crt"),
                                        tls_key=str(host.tmp / "renewed/server.key"),
                                        tls_ca=str(host.tmp / "renewed/ca.crt")))
    plan.live = True
    assert ["systemctl", "restart", "mosquitto.service"] in C._commands(plan, host.settings())


# --- the units -------------------------------------------------------------------------------------

def test_units_with_defaults_are_the_files_in_the_repository():
    s = S.parse_central({"broker": {"url": "mqtts://central.example.fi:8883"}})
    d = REPO / "systemd" / "central"
    assert C.render_ingest_unit(s) == (d / C.INGEST_TEMPLATE).read_text()
    assert C.render_db_unit() == (d / C.DB_UNIT).read_text()
    assert C.render_prune_unit(s) == (d / C.PRUNE_UNIT).read_text()
    assert C.mosquitto_dropin() == (d / C.MOSQUITTO_DROPIN_TEMPLATE).read_text()
    # a connection string with a space is quoted, % and $ are doubled (systemd would expand them)
    s2 = S.parse_central({"broker": {"url": "mqtts://c:8883"},
                          "database": {"dsn": "host=/run/postgresql dbname=pp user=p%x$y"}})
    line = next(x for x in C.render_ingest_unit(s2).splitlines() if x.startswith("ExecStart="))
    assert '--db "host=/run/postgresql dbname=pp user=p%%x$$y" --broker' in line


def test_units_pass_systemd_analyze_verify(tmp_path, fake_bin):
    exe = shutil.which("systemd-analyze")
    if exe is None:
        pytest.fail("systemd-analyze is not installed (apt-get install systemd)")
    s = S.parse_central({"broker": {"url": "mqtts://central.example.fi:8883"}})
    units = tmp_path / "units"
    (units / "mosquitto.service.d").mkdir(parents=True)
    (units / C.INGEST_TEMPLATE).write_text(C.render_ingest_unit(s, str(fake_bin)))
    (units / C.DB_UNIT).write_text(C.render_db_unit(str(fake_bin)))
    (units / C.PRUNE_UNIT).write_text(C.render_prune_unit(s, str(fake_bin)))
    (units / C.PRUNE_TIMER).write_text(C.unit_template(C.PRUNE_TIMER))
    (units / "mosquitto.service.d" / "palvelupiste.conf").write_text(C.mosquitto_dropin())
    names = ["palvelupiste-ingest@1.service", C.DB_UNIT, C.PRUNE_UNIT, C.PRUNE_TIMER]
    if Path("/lib/systemd/system/mosquitto.service").exists():
        names.append("mosquitto.service")
    r = subprocess.run([exe, "verify", *names], capture_output=True, text=True, timeout=60,
                       env={**os.environ, "SYSTEMD_UNIT_PATH": f"{units}:"})
    assert r.returncode == 0, r.stderr + r.stdout
    # postgresql.service and the network target are the host's business: any other line is a finding
    lines = [x for x in r.stderr.splitlines() if x.strip()]
    assert lines == [], r.stderr


# --- the pieces, running -----------------------------------------------------------------------------

@pytest.mark.broker
def test_the_provisioned_broker_takes_the_services_and_refuses_strangers(host):
    needs_mosquitto()
    host.start_broker()
    from core.config import Broker
    from sync.checks import mqtt_probe

    s = host.settings()
    ingest = Broker(url=s.service_url)
    assert mqtt_probe(ingest, "ingest", host.secret(S.INGEST_PASSWORD), "ingest/t1").outcome == "ok"
    assert mqtt_probe(ingest, "publisher", host.secret(S.PUBLISHER_PASSWORD), "publisher/t1").outcome == "ok"
    assert mqtt_probe(ingest, "ingest", "guess", "ingest/t2").outcome == "auth"
    tls = Broker(url=host.url, ca_file=str(host.ca_dir / "ca.crt"))
    assert mqtt_probe(tls, None, None, "anon").outcome == "auth"          # TLS fine, nobody without a password
    assert mqtt_probe(tls, "ingest", host.secret(S.INGEST_PASSWORD), "x").outcome == "auth"   # not a device


def test_setup_db_makes_the_database_once(host, postgres):
    import psycopg

    from central.dbsetup import newest_version

    admin = postgres.dsn()
    name = f"central_{os.getpid()}_{free_port()}"
    dsn = f"host=127.0.0.1 port={postgres.port} dbname={name} user=pp_owner_{name}"
    conf = host.local_config(admin_dsn=admin, dsn=dsn, reader=f"read_{name}")
    conf.write_text(conf.read_text().replace("[central]\n", "[central]\nsmall_cell = 3\nretention_days = 400\n"))
    rc, out, err = run_cli("central", "setup-db", "--config", str(conf), "--wait", "10")
    assert rc == 0, err
    assert f"database {name}: created" in out and f"schema: version {newest_version()}" in out
    rc, out2, err = run_cli("central", "setup-db", "--config", str(conf), "--wait", "10")
    assert rc == 0 and "created" not in out2 and "up to date" in out2, out2 + err
    with psycopg.connect(dsn) as conn:
        owners = {r[0] for r in conn.execute("SELECT tableowner FROM pg_tables WHERE schemaname = 'public'")}
        assert owners == {f"pp_owner_{name}"}
        settings = dict(conn.execute("SELECT key, value FROM settings").fetchall())
        assert settings["small_cell"] == "3" and settings["retention_days"] == "400"
    reader = f"host=127.0.0.1 port={postgres.port} dbname={name} user=read_{name}"
    with psycopg.connect(reader) as conn:
        conn.execute("SELECT count(*) FROM monthly_nation").fetchone()
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("SELECT count(*) FROM events")
    # a server that does not answer: named, exit 1
    bad = host.local_config("bad.toml", admin_dsn=f"host=127.0.0.1 port={free_port()} dbname=postgres user=pp", dsn=dsn)
    rc, _, err = run_cli("central", "setup-db", "--config", str(bad), "--wait", "0")
    assert rc == 1 and "cannot connect to PostgreSQL" in err


@pytest.mark.broker
@pytest.mark.slow
def test_the_installed_pieces_store_a_kiosks_event(host, postgres, fake_bin, tmp_path):
    """End to end on what provisioning wrote: the broker from its configuration, the database from
    setup-db, one ingest worker started with the installed unit's own arguments, and a kiosk
    provisioned against this central host (its central-broker.entry added with `central devices add`)
    publishing a batch over TLS: the event is stored once and acknowledged."""
    needs_mosquitto()
    import psycopg

    from bus import topics
    from bus.link import Connected, LinkOptions, Message, MqttLink, Tls
    from core.events import Event, new_event_id, now_ms
    from tests.support.wait import next_item

    host.start_broker()
    name = f"e2e_{os.getpid()}_{free_port()}"
    dsn = f"host=127.0.0.1 port={postgres.port} dbname={name} user=owner_{name}"
    conf = host.local_config(admin_dsn=postgres.dsn(), dsn=dsn)
    assert run_cli("central", "setup-db", "--config", str(conf), "--wait", "10")[0] == 0
    # the kiosk, provisioned for this central host; the administrators add the line it printed
    kiosk = tmp_path / "kiosk"
    kiosk.mkdir()
    rc, _, err = provision(kiosk, "kiosk", bin=fake_bin, extra=("--printer", PRINTER))
    assert rc == 0, err
    entry = in_root(kiosk, P.CENTRAL_ENTRY)
    rc, out, err = run_cli("central", "devices", "add", str(entry), "--config", str(conf),
                           "--reload-command", f"kill -HUP {host.broker.proc.pid}")
    assert rc == 0 and "added     example-pp.kiosk-1" in out, err
    # the worker, as palvelupiste-ingest@1.service runs it (its files moved into the root)
    unit = in_root(host.root, f"{U.UNIT_DIR}/{C.INGEST_TEMPLATE}").read_text().replace("%i", "1")
    argv = [w.replace("/etc/", f"{host.root}/etc/") if w.startswith("/etc/") else w for w in U.exec_start(unit)]
    argv[argv.index("--db") + 1] = dsn
    log = open(tmp_path / "ingest.log", "ab")
    worker = subprocess.Popen([sys.executable, "-m", "cli", *argv[1:]], cwd=REPO, stdout=log, stderr=log,
                              env={**os.environ, "PYTHONPATH": str(REPO)})
    try:
        user = topics.central_username("example-pp", "kiosk-1")
        link = MqttLink(LinkOptions("127.0.0.1", host.port, user, username=user,
                                    password=in_root(kiosk, P.CENTRAL_PASSWORD).read_text().strip(),
                                    tls=Tls(str(host.ca_dir / "ca.crt")), min_backoff_s=0.05, max_backoff_s=0.5,
                                    subscriptions=[(topics.ack("example-pp", "kiosk-1"), 1)])).start()
        next_item(link.inbox, lambda i: isinstance(i, Connected), 10, "the kiosk connected over TLS")
        ev = Event(new_event_id(), "example-pp", "kiosk-1", 1, "feedback.given", now_ms(), {"rating": 4, "scale": 5})
        batch = json.dumps({"site": "example-pp", "device": "kiosk-1", "events": [ev.to_dict()]})

        def acked() -> bool:
            link.publish(topics.events("example-pp", "kiosk-1"), batch, qos=1)
            try:
                m = next_item(link.inbox, lambda i: isinstance(i, Message), 1.0, "ack")
            except AssertionError:
                return False
            return json.loads(m.payload) == {"seq": 1}
        wait_until(acked, 30, "the ingest's acknowledgement of seq 1 (the worker subscribed)")
        link.stop()
        with psycopg.connect(dsn) as c:
            assert c.execute("SELECT id FROM events WHERE site = 'example-pp' AND device = 'kiosk-1'").fetchall() \
                == [(ev.id,)]
    finally:
        worker.terminate()
        worker.wait(10)
        log.close()
