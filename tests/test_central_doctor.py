"""`palvelupiste doctor` on the central host: against the real PostgreSQL cluster of the run (set up by
`palvelupiste central setup-db`), the real Mosquitto started on what `provision --role central` wrote,
with a certificate made by openssl (sim/tlsca.py). Substituted, and named in each test: the systemd
unit states (no systemd in the container) and the clock (for the certificate's expiry)."""
from __future__ import annotations

import json
import re
import time
from pathlib import Path

import psycopg
import pytest

from appliance import central_role as C
from appliance import checks as A
from appliance import doctor as D
from central.dbsetup import newest_version
from central.settings import CENTRAL_CONFIG
from runtime.checks import FAIL, OK, SKIP, WARN
from tests.support.broker import free_port
from tests.test_central_role import CentralHost, needs_mosquitto
from tests.test_provision import in_root, run_cli

pytestmark = pytest.mark.broker


def sources(**kw) -> D.Sources:
    """A healthy central host: synced clock, every unit active. Tests replace what they are about."""
    base = dict(clock=lambda: A.ClockInfo(True, "test clock"),
                unit_states=lambda names: {n: {"ActiveState": "active", "NRestarts": "0"} for n in names})
    base.update(kw)
    return D.Sources(**base)


class Central:
    def __init__(self, tmp: Path, fake_bin: Path, postgres) -> None:
        needs_mosquitto()
        self.host = CentralHost(tmp / "central", fake_bin)
        self.host.start_broker()
        self.postgres = postgres
        self.dsn = postgres.fresh_database()
        # the database set up as palvelupiste-central-db.service would, its owner the test cluster's user
        self.conf = self.host.local_config(admin_dsn=postgres.dsn(), dsn=self.dsn, reader="")
        rc, _, err = run_cli("central", "setup-db", "--config", str(self.conf), "--wait", "10")
        assert rc == 0, err

    def config(self, name: str, **database: str) -> Path:
        return self.host.local_config(name, admin_dsn=self.postgres.dsn(), **{"dsn": self.dsn, "reader": "", **database})


@pytest.fixture
def central(tmp_path, fake_bin, postgres):
    c = Central(tmp_path, fake_bin, postgres)
    yield c
    c.host.stop()


def run(config: Path, src: D.Sources | None = None, **kw) -> tuple[D.Report, dict[str, D.Result]]:
    report = D.run_checks(str(config), src or sources(), timeout=kw.pop("timeout", 3.0), **kw)
    return report, {r.check: r for r in report.results}


def test_a_healthy_central_host_is_all_ok(central):
    report, r = run(central.conf)
    assert report.role == "central"
    assert list(r) == ["configuration", "clock", "database", "broker (TLS)", "broker (services)", "certificate",
                       "services"]
    assert all(x.status == OK for x in report.results), report.results
    assert f"schema version {newest_version()} (the newest)" in r["database"].detail
    assert "refused, as it must be" in r["broker (TLS)"].detail
    assert "2 of 2 ingest workers active" in r["services"].detail
    assert report.exit_code == 0
    # the command, as a technician runs it: a table naming the central host, and JSON
    rc, out, _ = run_cli("doctor", "--config", str(central.conf), "--timeout", "3")
    assert "central host" in out and "result: " in out
    rc, out, _ = run_cli("doctor", "--config", str(central.conf), "--json")
    assert json.loads(out)["role"] == "central"


def test_the_database_not_reachable_not_set_up_or_behind(central):
    dead = central.config("dead.toml", dsn=f"host=127.0.0.1 port={free_port()} dbname=x user=pp")
    report, r = run(dead)
    assert r["database"].status == FAIL and "systemctl status postgresql" in r["database"].hint
    assert report.exit_code == 1
    empty = central.postgres.fresh_database()
    report, r = run(central.config("empty.toml", dsn=empty))
    assert r["database"].status == FAIL and "never migrated" in r["database"].detail
    with psycopg.connect(central.dsn, autocommit=True) as conn:
        conn.execute("DELETE FROM schema_migrations WHERE version = %s", (newest_version(),))
    report, r = run(central.conf)
    assert r["database"].status == FAIL
    assert f"schema version {newest_version() - 1}, this software needs {newest_version()}" in r["database"].detail
    assert "palvelupiste-central-db" in r["database"].hint
    with psycopg.connect(central.dsn, autocommit=True) as conn:
        conn.execute("INSERT INTO schema_migrations VALUES (%s, 0), (%s, 0)", (newest_version(), newest_version() + 1))
    report, r = run(central.conf)
    assert r["database"].status == WARN and "newer than this software" in r["database"].detail


def test_the_broker_down_or_the_wrong_ca(central, tmp_path):
    from sim.tlsca import make_ca

    central.host.broker.stop()
    t0 = time.monotonic()
    report, r = run(central.conf)
    assert r["broker (TLS)"].status == FAIL and "systemctl status mosquitto" in r["broker (TLS)"].hint
    assert r["broker (services)"].status == FAIL
    assert time.monotonic() - t0 < 8          # the two probes run side by side, each bounded
    central.host.start_broker()
    other = make_ca(tmp_path / "other")
    text = central.conf.read_text()
    wrong = tmp_path / "wrong-ca.toml"
    wrong.write_text(re.sub(r'(?m)^ca_file = .*$', f'ca_file = "{other.cafile}"', text))
    report, r = run(wrong)
    assert r["broker (TLS)"].status == FAIL and "certificate_verify_failed" in r["broker (TLS)"].detail.lower()
    # a broker whose devices' listener lets anyone in is a failure of its own (without a user name
    # use_username_as_clientid alone would refuse the client: it is taken out too)
    central.host.broker.stop()
    conf = central.host.broker.conf
    central.host.broker.config_text = conf.read_text().replace(
        "allow_anonymous false\npassword_file " + str(central.host.root), "allow_anonymous true\npassword_file "
        + str(central.host.root)).replace("acl_file", "#acl_file").replace("use_username_as_clientid",
                                                                               "#use_username_as_clientid")
    assert central.host.broker.config_text.count("allow_anonymous true") == 2
    central.host.broker.start()
    report, r = run(central.conf)
    assert r["broker (TLS)"].status == FAIL and "WITHOUT a user and password" in r["broker (TLS)"].detail


def test_the_certificates_expiry(central):
    """The certificate is valid 400 days; the clock is moved (the TLS probe still uses the real time)."""
    _, r = run(central.conf)
    assert r["certificate"].status == OK and re.search(r"\((399|400) days\)", r["certificate"].detail), r
    _, r = run(central.conf, sources(now=lambda: time.time() + 380 * 86400))
    assert r["certificate"].status == WARN and "in 20 days" in r["certificate"].detail
    assert "--tls-cert" in r["certificate"].hint
    report, r = run(central.conf, sources(now=lambda: time.time() + 401 * 86400))
    assert r["certificate"].status == FAIL and "EXPIRED" in r["certificate"].detail
    assert report.exit_code == 1


def test_the_units(central):
    def states(names):
        out = {n: {"ActiveState": "active", "NRestarts": "0"} for n in names}
        out["palvelupiste-ingest@2.service"] = {"ActiveState": "failed", "Result": "exit-code", "NRestarts": "7"}
        return out
    _, r = run(central.conf, sources(unit_states=states))
    assert r["services"].status == FAIL and "palvelupiste-ingest@2.service failed (exit-code)" in r["services"].detail
    assert "journalctl -b -u palvelupiste-ingest@2.service" in r["services"].hint
    assert D.Sources().unit_states is A.unit_states
    asked = []

    def record(names):
        asked.append(list(names))
        return {n: {"ActiveState": "active", "NRestarts": "1" if n == "mosquitto.service" else "0"} for n in names}
    _, r = run(central.conf, sources(unit_states=record))
    assert asked == [["mosquitto.service", C.DB_UNIT, "palvelupiste-ingest@1.service", "palvelupiste-ingest@2.service"]]
    assert r["services"].status == WARN and "mosquitto.service ×1" in r["services"].detail
    # without systemd: what provisioning installed and enabled
    _, r = run(central.conf, sources(unit_states=lambda names: None))
    assert r["services"].status == FAIL and "not installed" in r["services"].detail   # the local config's root is /
    report, r = run(in_root(central.host.root, CENTRAL_CONFIG), sources(), root=central.host.root)
    assert r["services"].status == OK and "installed and enabled" in r["services"].detail
    assert r["database"].status == SKIP and r["clock"].status == SKIP


def test_a_broken_configuration_and_finding_the_file(central, tmp_path):
    bad = tmp_path / "central.toml"
    bad.write_text('[broker]\nurl = "mqtt://plain:1883"\n[central]\nworkers = 0\n')
    report, r = run(bad)
    assert r["configuration"].status == FAIL
    assert "broker.url" in r["configuration"].detail and "central.workers" in r["configuration"].detail
    assert all(x.status == SKIP for x in report.results if x.check not in ("configuration", "clock"))
    # on a host with central.toml and no device.toml, `palvelupiste doctor --root` finds it
    rc, out, _ = run_cli("doctor", "--root", str(central.host.root), "--json")
    doc = json.loads(out)
    assert doc["role"] == "central" and doc["config"].endswith(CENTRAL_CONFIG)
