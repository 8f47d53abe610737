"""`palvelupiste doctor` on the central host (the one with /etc/palvelupiste/central.toml):

    configuration   central.toml valid (central/settings.py), every problem named
    clock           as on a device (certificates and the events' times depend on it)
    database        PostgreSQL answers on the ingest workers' own connection string and the schema is
                    migrated to the newest version this software knows (len(MIGRATIONS))
    broker (TLS)    the devices' listener: a real TLS handshake checked against the CA the devices
                    trust, for the host name they use, and an MQTT 5 connect without credentials that
                    the broker must refuse (a broker that lets it in is open to anyone: FAIL)
    broker (services)  the ingest workers' loopback listener takes the ingest's user and password
    certificate     the broker's certificate: WARN when it expires within 30 days, FAIL once expired
    services        mosquitto, the database set-up and every ingest worker unit active (without
                    systemd, or with --root: installed and enabled)

Everything the checks ask the machine goes through the doctor's Sources (appliance.doctor), as for
the devices: the tests replace the systemd unit states and the clock, and run the rest for real.
"""
from __future__ import annotations

import dataclasses
import datetime as _dt
import os
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runtime.checks import FAIL, OK, SKIP, WARN, Check, Context, Result, ask

from . import units as U
from .checks import judge_units

CERT_WARN_DAYS = 30


@dataclass
class CentralContext(Context):
    central: Any = None     # central.settings.CentralSettings once the configuration is read


# --- configuration ---------------------------------------------------------------------------------

def _rooted(ctx: Context, s: Any) -> Any:
    if ctx.root is None:
        return s
    keys = ("ca_file", "cert_file", "key_file", "password_file", "service_password_file", "acl_file",
            "ingest_password_file", "publisher_password_file")
    return dataclasses.replace(s, **{k: ctx.path(getattr(s, k)) for k in keys})


def check_config(ctx: Context) -> Result:
    from central.settings import load_central
    from core.config import ConfigError

    name = "configuration"
    try:
        s = load_central(ctx.config_path)
    except ConfigError as exc:
        shown = "; ".join(str(i) for i in exc.issues[:6]) + (f"; … {len(exc.issues) - 6} more"
                                                               if len(exc.issues) > 6 else "")
        return Result(name, FAIL, f"{ctx.config_path}: {shown}",
                      "fix the named fields, or run palvelupiste provision --role central again")
    s = _rooted(ctx, s)
    if isinstance(ctx, CentralContext):
        ctx.central = s
    return Result(name, OK, f"central host: devices' listener {s.url}, {s.workers} ingest workers, "
                            f"database {_db_name(s.dsn)}")


def _db_name(dsn: str) -> str:
    from central.settings import dsn_parts

    try:
        parts = dsn_parts(dsn)
    except ValueError:
        return "?"
    return f"{parts.get('dbname', '?')} (user {parts.get('user', '?')})"


def _settings(ctx: Context) -> Any:
    return getattr(ctx, "central", None)


# --- database --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class DbInfo:
    ok: bool
    detail: str
    version: int = 0          # schema version (0: not set up)
    server: str = ""


def db_probe(dsn: str, timeout: float) -> DbInfo:
    """Connect with the workers' own connection string and read the schema version."""
    try:
        import psycopg
    except ImportError:
        return DbInfo(False, "psycopg is not installed (pip install 'palvelupiste[central]')")
    from central.dbsetup import schema_version

    try:
        with psycopg.connect(dsn, connect_timeout=max(1, int(round(timeout)))) as conn:
            server = conn.execute("SHOW server_version").fetchone()
            return DbInfo(True, "connected", schema_version(conn), str(server[0]) if server else "")
    except psycopg.Error as exc:
        return DbInfo(False, str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__)


def check_database(ctx: Context) -> Result:
    name = "database"
    s = _settings(ctx)
    if s is None:
        return Result(name, SKIP, "no valid configuration")
    if ctx.root is not None:
        return Result(name, SKIP, "the database is the running host's, not checked with --root")
    from central.dbsetup import newest_version

    newest = newest_version()
    info = ctx.sources.db_probe(s.dsn, ctx.timeout)
    where = _db_name(s.dsn)
    if not info.ok:
        return Result(name, FAIL, f"{where}: {info.detail}",
                      "is PostgreSQL running (systemctl status postgresql)? did the set-up run "
                      "(systemctl status palvelupiste-central-db; journalctl -u palvelupiste-central-db)?")
    if info.version == 0:
        return Result(name, FAIL, f"{where}: reachable, but no schema (never migrated)",
                      "systemctl restart palvelupiste-central-db (it runs palvelupiste central setup-db)")
    if info.version < newest:
        return Result(name, FAIL, f"{where}: schema version {info.version}, this software needs {newest}",
                      "systemctl restart palvelupiste-central-db (it runs the missing migrations); the ingest "
                      "workers also migrate when they start")
    if info.version > newest:
        return Result(name, WARN, f"{where}: schema version {info.version} is newer than this software's {newest}",
                      "this host runs an older palvelupiste than the one that migrated the database: upgrade it")
    return Result(name, OK, f"{where}: PostgreSQL {info.server}, schema version {info.version} (the newest)")


# --- broker ----------------------------------------------------------------------------------------

def check_tls_listener(ctx: Context) -> Result:
    name = "broker (TLS)"
    s = _settings(ctx)
    if s is None:
        return Result(name, SKIP, "no valid configuration")
    b = s.device_broker
    if not Path(b.ca_file).is_file():
        return Result(name, FAIL, f"no CA file at {b.ca_file}", "provision again with --tls-ca FILE")
    r = ctx.sources.mqtt_probe(b, None, None, f"doctor-{os.getpid()}", ctx.timeout)
    if r.outcome == "auth":
        return Result(name, OK, f"{b.host}:{b.port}: TLS handshake verified against {Path(b.ca_file).name}; "
                                "a connection without a password is refused, as it must be")
    if r.outcome == "ok":
        return Result(name, FAIL, f"{b.host}:{b.port} accepts a connection WITHOUT a user and password",
                      "anyone can read and write: the listener must have allow_anonymous false — provision "
                      "again (it writes /etc/mosquitto/palvelupiste-central.conf) and restart mosquitto")
    if r.outcome == "tls":
        return Result(name, FAIL, r.detail, "the certificate must be signed by the CA the devices trust, name "
                                            f"{b.host!r} and be valid now (see the certificate check and the clock)")
    return Result(name, FAIL, r.detail, "is mosquitto running (systemctl status mosquitto; journalctl -u "
                                        "mosquitto)? does the URL's host name reach this machine?")


def check_service_listener(ctx: Context) -> Result:
    name = "broker (services)"
    s = _settings(ctx)
    if s is None:
        return Result(name, SKIP, "no valid configuration")
    b = s.service_broker
    try:
        password = b.password()
    except OSError as exc:
        return Result(name, FAIL, f"password file {b.password_file}: {exc.strerror or exc}",
                      "run palvelupiste provision --role central again (run the doctor as root)")
    from bus import topics

    r = ctx.sources.mqtt_probe(b, b.username, password, topics.client_id(b.username or "ingest",
                                                                          f"doctor-{os.getpid()}"), ctx.timeout)
    if r.outcome == "ok":
        return Result(name, OK, f"{r.detail} as {b.username!r}" + (f" in {r.ms} ms" if r.ms is not None else ""))
    if r.outcome == "auth":
        return Result(name, FAIL, f"password refused: {r.detail}",
                      "the services' password file and the ingest's password differ: run palvelupiste provision "
                      "--role central again")
    return Result(name, FAIL, r.detail, "is mosquitto running (systemctl status mosquitto)?")


# --- certificate -----------------------------------------------------------------------------------

def certificate_not_after(path: str | Path) -> float | None:
    """The certificate's expiry (seconds since the epoch), or None when it cannot be read."""
    decode = getattr(getattr(ssl, "_ssl", None), "_test_decode_cert", None)
    if decode is not None:
        try:
            return float(ssl.cert_time_to_seconds(decode(str(path))["notAfter"]))
        except (ssl.SSLError, OSError, KeyError, ValueError):
            return None
    out = ask(["openssl", "x509", "-enddate", "-noout", "-in", str(path)])
    if not out or "=" not in out:
        return None
    try:
        return float(ssl.cert_time_to_seconds(out.strip().split("=", 1)[1]))
    except ValueError:
        return None


def certificate_days_left(path: str | Path, now: float | None = None) -> float | None:
    import time

    end = certificate_not_after(path)
    return None if end is None else (end - (time.time() if now is None else now)) / 86400


def check_certificate(ctx: Context) -> Result:
    name = "certificate"
    s = _settings(ctx)
    if s is None:
        return Result(name, SKIP, "no valid configuration")
    if not Path(s.cert_file).is_file():
        return Result(name, FAIL, f"no certificate at {s.cert_file}", "provision again with --tls-cert/--tls-key")
    end = certificate_not_after(s.cert_file)
    if end is None:
        return Result(name, FAIL, f"{s.cert_file}: not a readable PEM certificate",
                      "provision again with --tls-cert/--tls-key")
    left = (end - ctx.sources.now()) / 86400
    until = _dt.datetime.fromtimestamp(end, _dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    hint = ("renew it (the same CA), then palvelupiste provision --role central --tls-cert NEW.crt --tls-key NEW.key "
            "(it restarts the broker)")
    if left <= 0:
        return Result(name, FAIL, f"{s.cert_file} EXPIRED on {until}: no device can sync", hint)
    if left < CERT_WARN_DAYS:
        return Result(name, WARN, f"{s.cert_file} expires on {until}, in {left:.0f} days", hint)
    return Result(name, OK, f"{s.cert_file} valid until {until} ({left:.0f} days)")


# --- services --------------------------------------------------------------------------------------

def central_units(s: Any) -> list[str]:
    from .central_role import DB_UNIT

    return [U.MOSQUITTO_UNIT, DB_UNIT, *s.worker_units]


def check_services(ctx: Context) -> Result:
    from .central_role import DB_UNIT, INGEST_TEMPLATE

    name = "services"
    s = _settings(ctx)
    if s is None:
        return Result(name, SKIP, "no valid configuration")
    names = central_units(s)
    states = None if ctx.root is not None else ctx.sources.unit_states(names)
    if states is None:
        base = ctx.root or Path("/")
        units = base / U.UNIT_DIR.lstrip("/")
        wants = units / f"{U.WANTS_TARGET}.wants"
        problems = [f"{n} not installed" for n in (DB_UNIT, INGEST_TEMPLATE) if not (units / n).is_file()]
        problems += [f"{n} not enabled" for n in (DB_UNIT, *s.worker_units) if not (wants / n).is_symlink()]
        if problems:
            return Result(name, FAIL, "; ".join(problems),
                          "run palvelupiste provision --role central again (it installs and enables the units)")
        return Result(name, OK, f"{DB_UNIT} and {s.workers} ingest workers installed and enabled (systemd is not "
                                "running here, so not started)")
    active_workers = sum(1 for n in s.worker_units if states.get(n, {}).get("ActiveState") == "active")
    return judge_units(name, states, f"mosquitto, the database set-up and {active_workers} of {s.workers} ingest "
                       "workers active", "restarts mean crashes (a lost database or broker connection)")


CONFIGURATION = Check("configuration", check_config)
DATABASE = Check("database", check_database, network=True)
TLS_LISTENER = Check("broker (TLS)", check_tls_listener, network=True)
SERVICE_LISTENER = Check("broker (services)", check_service_listener, network=True)
CERTIFICATE = Check("certificate", check_certificate)
SERVICES = Check("services", check_services)
