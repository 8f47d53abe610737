"""`palvelupiste provision --role central`: make a server (or a folder) into the central host.

    palvelupiste provision --role central --central-broker mqtts://central.example.fi:8883 \\
        --tls-cert server.crt --tls-key server.key --tls-ca ca.pem [--workers 2] [--db DSN] \\
        [--reader ROLE] [--small-cell N] [--retention-days N] [--listen ADDRESS] [--root DIR] [--dry-run]

The same three steps as a device (appliance.provision): validate everything (every problem named,
exit 2, nothing written), plan each file, link and command as create / update / unchanged, apply
only what differs (or print it all with --dry-run). A second run with the same arguments changes
nothing. Options not given keep what /etc/palvelupiste/central.toml already says, so after editing
that file a run without options brings the units and the broker in line with it.

It needs Debian's `mosquitto` and `postgresql` packages (and palvelupiste installed with its
`central` extra, psycopg). Layout (central/settings.py holds the paths; the configuration may move
the files):

    /etc/palvelupiste/central.toml                  the central host's one configuration file
    /etc/palvelupiste/central/tls/{ca.pem,server.crt,server.key}   copies of --tls-ca/-cert/-key
    /etc/palvelupiste/central/{ingest,publisher}.password          the services' passwords (0600)
    /etc/palvelupiste/central/web.password          the web service's broker password (user "web": reads
                                                    the sites' follow snapshots and bridge states, publishes
                                                    cancels), 0600, owned by palvelupiste (the web unit's user)
    /etc/mosquitto/palvelupiste-central.conf        the central broker (bus.brokerconf, the template
                                                    systemd/mosquitto/central-broker.conf.in): the
                                                    devices' TLS listener and the services' loopback one
    /etc/mosquitto/palvelupiste-central.passwd      the devices and the site brokers' bridges ("<site>.bridge")
                                                    (palvelupiste central devices add|remove;
                                                    provisioning never changes it, only makes it)
    /etc/mosquitto/palvelupiste-central-services.passwd   ingest, publisher and web
    /etc/mosquitto/palvelupiste-central.acl         rendered from the device list
    /etc/systemd/system/mosquitto.service.d/palvelupiste.conf   Debian's mosquitto runs that file
    /etc/systemd/system/palvelupiste-central-db.service         oneshot, as postgres: database ready
    /etc/systemd/system/palvelupiste-ingest@.service            enabled as @1 … @N
    /etc/systemd/system/palvelupiste-central-prune.{service,timer}   daily retention
    /etc/systemd/system/palvelupiste-central-alerts.{service,timer}  the fleet's alerts, every minute
    /etc/systemd/system/palvelupiste-central-bookings.service    the booking feeds (enabled with [[feeds]])
    /etc/sysusers.d/palvelupiste.conf, /etc/tmpfiles.d/palvelupiste.conf
"""
from __future__ import annotations

import ipaddress
import os
import re
import ssl
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import tomlkit
from tomlkit.exceptions import TOMLKitError

from bus import brokerconf
from central import settings as S
from core import resources
from core.config import Broker, ConfigError

from . import provision as P
from . import units as U

CENTRAL_UNIT_DIR = "central"     # under systemd/ (core.resources.template)
INGEST_TEMPLATE = "palvelupiste-ingest@.service"
DB_UNIT = "palvelupiste-central-db.service"
PRUNE_UNIT = "palvelupiste-central-prune.service"
PRUNE_TIMER = "palvelupiste-central-prune.timer"
ALERTS_UNIT = "palvelupiste-central-alerts.service"
BOOKINGS_UNIT = "palvelupiste-central-bookings.service"
ALERTS_TIMER = "palvelupiste-central-alerts.timer"
TIMERS_TARGET = "timers.target"
MOSQUITTO_DROPIN_TEMPLATE = "mosquitto.service.d/palvelupiste-central.conf"
#: the units provisioning writes (the ingest template once; its instances are enabled by links)
WEB_UNIT = "palvelupiste-central-web.service"
#: where the web service listens (loopback: a reverse proxy with TLS publishes it)
WEB_PORT = 8080
#: The web service's user on the services' listener (the phone pages: every site's follow snapshot and
#: bridge state, and the cancels; bus.brokerconf.render_central_acl) and its password, readable by the
#: web unit's user (palvelupiste), as the ingest's is by the workers.
WEB_USER = brokerconf.WEB_USER
WEB_PASSWORD = f"{S.CENTRAL_DIR}/web.password"
UNIT_FILES = (INGEST_TEMPLATE, DB_UNIT, PRUNE_UNIT, PRUNE_TIMER, ALERTS_UNIT, ALERTS_TIMER, WEB_UNIT)
CONFIG_HEADER = (
    "palvelupiste central host configuration, written by `palvelupiste provision --role central`.",
    "Running it again sets only the keys given as options; every other key and comment is kept.",
    "After editing, run `palvelupiste provision --role central` (no options) to bring the units and the",
    "broker in line. Reference: central/settings.py. No secret belongs here.",
)

#: options of --role central alone: (flag, argparse dest)
CENTRAL_FLAGS = (("--tls-cert", "tls_cert"), ("--tls-key", "tls_key"), ("--tls-ca", "tls_ca"),
                 ("--workers", "workers"), ("--db", "db"), ("--reader", "reader"), ("--small-cell", "small_cell"),
                 ("--retention-days", "retention_days"))
#: options of the devices alone
DEVICE_FLAGS = (("--site", "site"), ("--device", "device"), ("--site-broker", "site_broker"),
                ("--printer", "printer"), ("--site-config", "site_config"),
                ("--site-password-file", "site_password_file"), ("--central-password-file", "central_password_file"),
                ("--central-ca", "central_ca"), ("--insecure-central-link", "insecure_central_link"))


def _given(args: Any, flags: Iterable[tuple[str, str]]) -> tuple[str, ...]:
    return tuple(flag for flag, dest in flags if getattr(args, dest, None) not in (None, False))


def central_flags_given(args: Any) -> tuple[str, ...]:
    return _given(args, CENTRAL_FLAGS)


@dataclass
class CentralOptions:
    root: str = "/"
    dry_run: bool = False
    bin: str | None = None
    central_broker: str | None = None   # the devices' TLS listener as the devices reach it
    listen: str | None = None
    tls_cert: str | None = None
    tls_key: str | None = None
    tls_ca: str | None = None
    workers: int | None = None
    db: str | None = None
    reader: str | None = None
    small_cell: int | None = None
    retention_days: int | None = None
    device_only: tuple[str, ...] = field(default_factory=tuple)
    role: str = "central"


def options_from_args(args: Any) -> CentralOptions:
    return CentralOptions(root=args.root, dry_run=args.dry_run, bin=args.bin, central_broker=args.central_broker,
                          listen=args.listen, tls_cert=args.tls_cert, tls_key=args.tls_key, tls_ca=args.tls_ca,
                          workers=args.workers, db=args.db, reader=args.reader, small_cell=args.small_cell,
                          retention_days=args.retention_days, device_only=_given(args, DEVICE_FLAGS))


# --- the unit files --------------------------------------------------------------------------------

def unit_template(name: str) -> str:
    try:
        return resources.template(f"{CENTRAL_UNIT_DIR}/{name}").read_text(encoding="utf-8")
    except FileNotFoundError:
        raise U.UnitError(f"no unit file systemd/{CENTRAL_UNIT_DIR}/{name}") from None


def unit_word(value: str) -> str:
    """One argument of an ExecStart= line as systemd reads it back: % and $ doubled (systemd expands
    them), quoted when it holds a space; quotes and backslashes are refused."""
    if any(c in value for c in "\"'\\\n\r\t") or not value:
        raise U.UnitError(f"{value!r} cannot be written into a unit file (quotes, backslashes, empty)")
    value = value.replace("%", "%%").replace("$", "$$")
    return f'"{value}"' if " " in value else value


def _with_exec(name: str, argv: list[str], tail: str = "") -> str:
    text = unit_template(name)
    line = "ExecStart=" + " ".join(unit_word(a) for a in argv) + tail
    new, n = re.subn(r"(?m)^ExecStart=\S.*$", lambda _: line, text)
    if n != 1:
        raise U.UnitError(f"systemd/{CENTRAL_UNIT_DIR}/{name}: needs exactly one ExecStart= line")
    return new


def render_ingest_unit(s: S.CentralSettings, bin: str = U.DEFAULT_BIN) -> str:
    """The ingest workers' template: `palvelupiste central ingest` on the services' listener, the
    instance (%i) as its client id "ingest/%i"."""
    U.check_unit_path(bin, "the palvelupiste executable")
    return _with_exec(INGEST_TEMPLATE, [bin, "central", "ingest", "--db", s.dsn, "--broker", s.service_url,
                                        "--username", S.INGEST_USER, "--password-file", s.ingest_password_file],
                      " --client-id %i")


def render_db_unit(bin: str = U.DEFAULT_BIN, config: str = S.CENTRAL_CONFIG) -> str:
    U.check_unit_path(bin, "the palvelupiste executable")
    U.check_unit_path(config, "the central configuration")
    return _with_exec(DB_UNIT, [bin, "central", "setup-db", "--config", config])


def render_prune_unit(s: S.CentralSettings, bin: str = U.DEFAULT_BIN) -> str:
    U.check_unit_path(bin, "the palvelupiste executable")
    return _with_exec(PRUNE_UNIT, [bin, "central", "prune", "--db", s.dsn])


def render_alerts_unit(bin: str = U.DEFAULT_BIN, config: str = S.CENTRAL_CONFIG) -> str:
    """`palvelupiste central alerts`: the database and where the alerts go come from central.toml."""
    U.check_unit_path(bin, "the palvelupiste executable")
    U.check_unit_path(config, "the central configuration")
    return _with_exec(ALERTS_UNIT, [bin, "central", "alerts", "--config", config])


def render_bookings_unit(bin: str = U.DEFAULT_BIN, config: str = S.CENTRAL_CONFIG) -> str:
    """`palvelupiste central bookings`: the feeds, the database and the publisher from central.toml."""
    U.check_unit_path(bin, "the palvelupiste executable")
    U.check_unit_path(config, "the central configuration")
    return _with_exec(BOOKINGS_UNIT, [bin, "central", "bookings", "--config", config])


def render_web_unit(s: S.CentralSettings, bin: str = U.DEFAULT_BIN) -> str:
    """`palvelupiste central web` on loopback, publishing uploaded site configurations as the publisher
    and following the sites' tickets for the phone pages as the web user."""
    U.check_unit_path(bin, "the palvelupiste executable")
    return _with_exec(WEB_UNIT, [bin, "central", "web", "--db", s.dsn, "--port", str(WEB_PORT), "--broker",
                                 s.service_url, "--username", S.PUBLISHER_USER, "--password-file",
                                 s.publisher_password_file, "--follow-username", WEB_USER,
                                 "--follow-password-file", WEB_PASSWORD, "--feeds-config", S.CENTRAL_CONFIG])


def mosquitto_dropin(conf: str = S.MOSQUITTO_CONF) -> str:
    U.check_unit_path(conf, "the Mosquitto configuration")
    return unit_template(MOSQUITTO_DROPIN_TEMPLATE).replace(S.MOSQUITTO_CONF, conf)


def render_broker_conf(s: S.CentralSettings) -> str:
    """The central Mosquitto, from the project's one template (bus.brokerconf)."""
    from bus import brokerconf

    svc = Broker(url=s.service_url)
    return brokerconf.render_central_broker_conf(
        data_dir=U.MOSQUITTO_DATA, password_file=s.password_file, service_password_file=s.service_password_file,
        acl_file=s.acl_file, tls=brokerconf.TlsFiles(s.ca_file, s.cert_file, s.key_file), port=svc.port,
        bind_address=svc.host, device_port=Broker(url=s.url).port, device_bind_address=s.listen,
        require_certificate=s.require_certificate, user=U.MOSQUITTO_USER)


# --- validation ------------------------------------------------------------------------------------

def tls_problem(cert: Path, key: Path, ca: Path, host: str) -> str | None:
    """Whether a device trusting `ca` accepts `cert` for `host`: a real TLS handshake between two
    in-memory endpoints (ssl.MemoryBIO), the same checks a device's sync agent makes."""
    try:
        server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        server.load_cert_chain(str(cert), str(key))
    except ssl.SSLError as exc:
        return f"--tls-cert/--tls-key: not a PEM certificate and its own key ({exc.reason or exc})"
    except OSError as exc:
        return f"--tls-cert/--tls-key: cannot read ({exc.strerror or exc})"
    try:
        client = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        client.load_verify_locations(cafile=str(ca))
    except ssl.SSLError as exc:
        return f"--tls-ca {ca}: not a PEM CA certificate ({exc.reason or exc})"
    except OSError as exc:
        return f"--tls-ca {ca}: cannot read ({exc.strerror or exc})"
    c_in, c_out, s_in, s_out = ssl.MemoryBIO(), ssl.MemoryBIO(), ssl.MemoryBIO(), ssl.MemoryBIO()
    c = client.wrap_bio(c_in, c_out, server_hostname=host)
    srv = server.wrap_bio(s_in, s_out, server_side=True)
    for _ in range(10):
        done = True
        for end, inbox, outbox, peer_in in ((c, c_in, c_out, s_in), (srv, s_in, s_out, c_in)):
            try:
                end.do_handshake()
            except ssl.SSLWantReadError:
                done = False
            except ssl.SSLCertVerificationError as exc:
                return (f"--tls-cert: a device trusting --tls-ca would refuse it for {host!r}: "
                        f"{exc.verify_message or exc.reason}")
            except ssl.SSLError as exc:
                return f"--tls-cert: the TLS handshake fails ({exc.reason or exc})"
            data = outbox.read()
            if data:
                peer_in.write(data)
        if done:
            return None
    return "--tls-cert: the TLS handshake did not finish"


def _read_doc(root: Path, problems: list[str]) -> Any:
    conf = P.host_path(root, S.CENTRAL_CONFIG)
    if not conf.exists():
        return None
    try:
        text = conf.read_text(encoding="utf-8")
        tomllib.loads(text)
        return tomlkit.parse(text)
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError, TOMLKitError) as exc:
        problems.append(f"{S.CENTRAL_CONFIG} exists but cannot be read as TOML ({exc}): fix or remove it")
        return None


def central_toml(opts: CentralOptions, doc: Any) -> str:
    """The configuration: the existing one with the given options set, or a new one with every
    default written out (so the file shows what the host runs with)."""
    new = doc is None
    if new:
        doc = tomlkit.document()
        for line in CONFIG_HEADER:
            doc.add(tomlkit.comment(line))
        doc.add(tomlkit.nl())
    central: dict[str, Any] = {"workers": 2} if new else {}
    database: dict[str, Any] = {"dsn": S.DEFAULT_DSN, "admin_dsn": S.DEFAULT_ADMIN_DSN,
                                "reader": S.DEFAULT_READER} if new else {}
    broker: dict[str, Any] = {}
    if new:
        broker = {"url": opts.central_broker or "", "listen": "0.0.0.0", "service_url": S.DEFAULT_SERVICE_URL,
                  "ca_file": f"{S.TLS_DIR}/ca.pem", "cert_file": f"{S.TLS_DIR}/server.crt",
                  "key_file": f"{S.TLS_DIR}/server.key", "require_certificate": False,
                  "password_file": S.MOSQUITTO_PASSWD, "service_password_file": S.MOSQUITTO_SERVICE_PASSWD,
                  "acl_file": S.MOSQUITTO_ACL, "ingest_password_file": S.INGEST_PASSWORD,
                  "publisher_password_file": S.PUBLISHER_PASSWORD, "reload": list(S.DEFAULT_RELOAD)}
    for key, value in (("workers", opts.workers), ("small_cell", opts.small_cell),
                       ("retention_days", opts.retention_days)):
        if value is not None:
            central[key] = value
    if opts.db is not None:
        database["dsn"] = opts.db
    if opts.reader is not None:
        database["reader"] = opts.reader
    if opts.central_broker is not None:
        broker["url"] = opts.central_broker
    if opts.listen is not None:
        broker["listen"] = opts.listen
    for name, values in (("central", central), ("database", database), ("broker", broker)):
        if values or (new and name not in doc):
            P._set_keys(doc, name, values)
    return tomlkit.dumps(doc)


def validate(opts: CentralOptions) -> tuple[list[str], dict]:
    problems: list[str] = []
    ctx: dict[str, Any] = {"notes": []}
    root = ctx["root"] = P.check_root(opts.root, opts.dry_run, problems)
    for flag in opts.device_only:
        problems.append(f"{flag}: only for the devices' roles, not for --role central")
    if opts.central_broker is not None:
        try:
            b = Broker(url=opts.central_broker)
            if not b.tls:
                problems.append("--central-broker: the devices' listener is TLS: mqtts://host:8883 "
                                "(the host name devices use; its certificate must name it)")
        except ValueError as exc:
            problems.append(f"--central-broker: {exc}")
    if opts.listen is not None:
        try:
            ipaddress.ip_address(opts.listen)
        except ValueError:
            problems.append(f"--listen {opts.listen!r}: must be an IP address such as 0.0.0.0")
    if opts.workers is not None and not 1 <= opts.workers <= S.MAX_WORKERS:
        problems.append(f"--workers {opts.workers}: must be 1 to {S.MAX_WORKERS}")
    for flag, value in (("--small-cell", opts.small_cell), ("--retention-days", opts.retention_days)):
        if value is not None and value < 0:
            problems.append(f"{flag} {value}: must be 0 or more")
    if opts.db is not None:
        p = S.dsn_parts_problem(opts.db, need_user=True)
        if p:
            problems.append(f"--db: {p}")
    if opts.reader is not None:
        p = S._role_problem(opts.reader)
        if p:
            problems.append(f"--reader {opts.reader!r}: {p}")

    given: dict[str, tuple[Path, bytes]] = {}
    for flag, path in (("--tls-cert", opts.tls_cert), ("--tls-key", opts.tls_key), ("--tls-ca", opts.tls_ca)):
        if path is not None:
            try:
                given[flag] = (Path(path), Path(path).read_bytes())
            except OSError as exc:
                problems.append(f"{flag} {path}: cannot read ({exc.strerror or exc})")

    bin_ = ctx["bin"] = opts.bin or P.default_bin()
    try:
        U.check_unit_path(bin_, "--bin")
    except U.UnitError as exc:
        problems.append(str(exc))

    doc = _read_doc(root, problems) if root.is_dir() else None
    if doc is None and opts.central_broker is None and not any("cannot be read" in p for p in problems):
        problems.append(f"--central-broker URL is needed: no {S.CENTRAL_CONFIG} yet "
                        "(the devices' TLS listener, e.g. mqtts://central.example.fi:8883)")
    if problems:
        return problems, ctx
    text = central_toml(opts, doc)
    try:
        s = S.parse_central(tomllib.loads(text), S.CENTRAL_CONFIG)
    except ConfigError as exc:
        problems += [f"{S.CENTRAL_CONFIG}: {i}" for i in exc.issues]
        return problems, ctx
    ctx["settings"], ctx["conf_text"] = s, text

    # the TLS files: the ones given, else the copies an earlier run made
    tls: dict[str, tuple[Path, bytes | None]] = {}
    for flag, target, what in (("--tls-cert", s.cert_file, "certificate"), ("--tls-key", s.key_file, "key"),
                               ("--tls-ca", s.ca_file, "CA certificate")):
        if flag in given:
            tls[target] = given[flag]
        elif P.host_path(root, target).is_file():
            tls[target] = (P.host_path(root, target), None)
        else:
            problems.append(f"{flag} FILE is needed: no broker {what} at {target} yet")
    if len(tls) == 3:
        p = tls_problem(tls[s.cert_file][0], tls[s.key_file][0], tls[s.ca_file][0], Broker(url=s.url).host)
        if p:
            problems.append(p)
        else:
            from .central_checks import certificate_days_left

            left = certificate_days_left(tls[s.cert_file][0])
            if left is not None and left < 30:
                ctx["notes"].append(f"the broker's certificate expires in {left:.0f} days: renew it and provision "
                                    "again with --tls-cert/--tls-key")
    ctx["tls"] = {target: data for target, (_, data) in tls.items() if data is not None}

    if str(root) == "/" and not opts.dry_run and P.systemd_running():
        from runtime.pgbin import pg_program

        missing = [pkg for pkg, ok in (("mosquitto", Path("/usr/sbin/mosquitto").exists()),
                                       ("postgresql", pg_program("postgres") is not None)) if not ok]
        if missing:
            problems.append(f"Debian's {' and '.join(missing)} not installed: apt-get install {' '.join(missing)}")
    return problems, ctx


# --- the plan --------------------------------------------------------------------------------------

def _worker_link(i: int) -> str:
    return f"{U.UNIT_DIR}/{U.WANTS_TARGET}.wants/palvelupiste-ingest@{i}.service"


def make_plan(opts: CentralOptions) -> P.Plan:
    problems, ctx = validate(opts)
    if problems:
        raise P.ProvisionError(problems)
    root: Path = ctx["root"]
    s: S.CentralSettings = ctx["settings"]
    plan = P.Plan(opts, root, notes=list(ctx["notes"]), title=f"the central host ({s.url})")
    plan.live = str(root) == "/" and P.systemd_running()
    from bus import brokerconf
    from central.credentials import DeviceRegistry

    def d(path: str, mode: int = 0o755) -> None:
        if any(i.kind == "dir" and i.path == path for i in plan.items):
            return
        plan.items.append(P.Item("dir", path, "unchanged" if plan.host(path).is_dir() else "create", mode=mode))

    def f(path: str, content: str | bytes, mode: int = 0o644, *, secret: bool = False, show: bool = True,
          note: str = "") -> None:
        data = content.encode("utf-8") if isinstance(content, str) else content
        plan.items.append(P.Item("file", path, P._file_state(plan.host(path), data, mode), data, mode,
                                 secret=secret, show=show and not secret, note=note))

    def link(path: str, dest: str) -> None:
        h = plan.host(path)
        state = "unchanged" if h.is_symlink() and os.readlink(h) == dest else \
            ("update" if h.is_symlink() or h.exists() else "create")
        plan.items.append(P.Item("link", path, state, target=dest))

    files = [S.CENTRAL_CONFIG, s.ca_file, s.cert_file, s.key_file, s.ingest_password_file,
             s.publisher_password_file, WEB_PASSWORD, s.password_file, s.service_password_file, s.acl_file,
             S.MOSQUITTO_CONF]
    for path in [U.CONFIG_DIR, *sorted({str(Path(p).parent) for p in files}), U.UNIT_DIR,
                 f"{U.UNIT_DIR}/{U.WANTS_TARGET}.wants", f"{U.UNIT_DIR}/{TIMERS_TARGET}.wants",
                 f"{U.UNIT_DIR}/mosquitto.service.d", "/etc/sysusers.d", "/etc/tmpfiles.d"]:
        d(path)

    # configuration and TLS files
    f(S.CENTRAL_CONFIG, ctx["conf_text"])
    for target, data in ctx["tls"].items():
        key = target == s.key_file
        f(target, data, 0o600 if key else 0o644, secret=key, show=False,
          note="the broker's TLS key" if key else "copy")

    # the services' passwords (kept once made) and their Mosquitto entries (kept while they match)
    passwords = {}
    for user, path in ((S.INGEST_USER, s.ingest_password_file), (S.PUBLISHER_USER, s.publisher_password_file),
                       (WEB_USER, WEB_PASSWORD)):
        pw = P._existing_secret(root, path) or P._new_password()
        passwords[user] = pw
        f(path, pw + "\n", 0o600, secret=True, note=f"the {user}'s broker password")
    old = {}
    try:
        for line in plan.host(s.service_password_file).read_text(encoding="utf-8").splitlines():
            old[line.split(":", 1)[0]] = line
    except OSError:
        pass
    entries = [old[u] if u in old and brokerconf.verify_password_entry(old[u], pw) else
               brokerconf.password_entry(u, pw) for u, pw in passwords.items()]
    f(s.service_password_file, "".join(e + "\n" for e in entries), 0o600, secret=True,
      note="Mosquitto password file of the services' listener: ingest, publisher and web")

    # the devices: the list is `palvelupiste central devices`'s; provisioning only makes the file
    registry = DeviceRegistry(plan.host(s.password_file), plan.host(s.acl_file),
                              ingest_user=S.INGEST_USER, publisher_user=S.PUBLISHER_USER, web_user=WEB_USER)
    try:
        devices_text = plan.host(s.password_file).read_bytes()
    except FileNotFoundError:
        devices_text = b""
    devices = registry.devices()
    f(s.password_file, devices_text, 0o600, secret=True,
      note=f"Mosquitto password file of the devices: {len(devices)} (palvelupiste central devices add)")
    f(s.acl_file, registry.render_acl(devices), 0o600, show=False,
      note=f"ACL: the services and {len(devices)} devices and bridges (bus.brokerconf.render_central_acl)")
    others = registry.others()
    if others:
        plan.notes.append(f"{s.password_file} has users that are no device ({', '.join(others[:5])}): they can log "
                          "in but the ACL grants them nothing")
    f(S.MOSQUITTO_CONF, render_broker_conf(s))
    f(U.MOSQUITTO_DROPIN, mosquitto_dropin())
    if not devices:
        plan.notes.append("no device may log in yet: add each device's central-broker.entry with "
                          "palvelupiste central devices add FILE")

    # systemd
    bin_ = ctx["bin"]
    f(f"{U.UNIT_DIR}/{INGEST_TEMPLATE}", render_ingest_unit(s, bin_))
    f(f"{U.UNIT_DIR}/{DB_UNIT}", render_db_unit(bin_))
    f(f"{U.UNIT_DIR}/{PRUNE_UNIT}", render_prune_unit(s, bin_))
    f(f"{U.UNIT_DIR}/{PRUNE_TIMER}", unit_template(PRUNE_TIMER))
    f(f"{U.UNIT_DIR}/{ALERTS_UNIT}", render_alerts_unit(bin_))
    f(f"{U.UNIT_DIR}/{ALERTS_TIMER}", unit_template(ALERTS_TIMER))
    f(f"{U.UNIT_DIR}/{WEB_UNIT}", render_web_unit(s, bin_))
    link(f"{U.UNIT_DIR}/{U.WANTS_TARGET}.wants/{WEB_UNIT}", f"{U.UNIT_DIR}/{WEB_UNIT}")
    f(f"{U.UNIT_DIR}/{BOOKINGS_UNIT}", render_bookings_unit(bin_))
    if s.feeds:  # nothing to run without a feed
        link(f"{U.UNIT_DIR}/{U.WANTS_TARGET}.wants/{BOOKINGS_UNIT}", f"{U.UNIT_DIR}/{BOOKINGS_UNIT}")
    link(f"{U.UNIT_DIR}/{U.WANTS_TARGET}.wants/{DB_UNIT}", f"{U.UNIT_DIR}/{DB_UNIT}")
    for i in range(1, s.workers + 1):
        link(_worker_link(i), f"{U.UNIT_DIR}/{INGEST_TEMPLATE}")
    link(f"{U.UNIT_DIR}/{TIMERS_TARGET}.wants/{PRUNE_TIMER}", f"{U.UNIT_DIR}/{PRUNE_TIMER}")
    link(f"{U.UNIT_DIR}/{TIMERS_TARGET}.wants/{ALERTS_TIMER}", f"{U.UNIT_DIR}/{ALERTS_TIMER}")
    wants = plan.host(f"{U.UNIT_DIR}/{U.WANTS_TARGET}.wants")
    if wants.is_dir():
        for h in sorted(wants.glob("palvelupiste-ingest@*.service")):
            instance = h.name[len("palvelupiste-ingest@"):-len(".service")]
            if not (instance.isdigit() and 1 <= int(instance) <= s.workers):
                plan.items.append(P.Item("remove", f"{U.UNIT_DIR}/{U.WANTS_TARGET}.wants/{h.name}", "remove"))
    f(U.SYSUSERS_FILE, U.sysusers_conf())
    secret_owners = [(s.ingest_password_file, U.SERVICE_USER), (s.publisher_password_file, U.SERVICE_USER),
                     (WEB_PASSWORD, U.SERVICE_USER), (s.key_file, U.MOSQUITTO_USER),
                     (s.password_file, U.MOSQUITTO_USER), (s.service_password_file, U.MOSQUITTO_USER),
                     (s.acl_file, U.MOSQUITTO_USER)]
    if s.alerts.smtp_password_file:  # read by palvelupiste-central-alerts.service
        secret_owners.append((s.alerts.smtp_password_file, U.SERVICE_USER))
    f(U.TMPFILES_FILE, U.tmpfiles_conf(secret_owners))

    plan.commands = _commands(plan, s)
    if not plan.live and plan.changes:
        why = "the root is not /" if str(root) != "/" else "systemd is not running here"
        plan.notes.append(f"no systemctl ({why}): the units are enabled by their links and start at the next boot; "
                          "systemd-sysusers and systemd-tmpfiles make the user and set the owners then")
    return plan


def _commands(plan: P.Plan, s: S.CentralSettings) -> list[list[str]]:
    if not plan.live:
        return []
    changed = {i.path for i in plan.changes}
    if not changed:
        return []
    cmds: list[list[str]] = []
    if U.SYSUSERS_FILE in changed or P._missing_user():
        cmds.append(["systemd-sysusers", U.SYSUSERS_FILE])
    cmds.append(["systemd-tmpfiles", "--create", U.TMPFILES_FILE])
    if any(p.startswith(U.UNIT_DIR) for p in changed):
        cmds.append(["systemctl", "daemon-reload"])
    removed = [Path(i.path).name for i in plan.items if i.kind == "remove"]
    if removed:
        cmds.append(["systemctl", "disable", "--now", *removed])
    broker_files = {S.MOSQUITTO_CONF, U.MOSQUITTO_DROPIN, s.ca_file, s.cert_file, s.key_file, s.password_file,
                    s.service_password_file, s.acl_file}
    if changed & broker_files:
        cmds.append(["systemctl", "restart", U.MOSQUITTO_UNIT])
    workers = list(s.worker_units)
    cmds.append(["systemctl", "enable", "--now", U.MOSQUITTO_UNIT, DB_UNIT, *workers, PRUNE_TIMER])
    cmds.append(["systemctl", "enable", "--now", ALERTS_TIMER, WEB_UNIT])
    if changed & {S.CENTRAL_CONFIG, f"{U.UNIT_DIR}/{DB_UNIT}"}:
        # the database unit is a oneshot: restarting runs it again (new settings); its workers follow
        cmds.append(["systemctl", "restart", DB_UNIT])
    cmds.append(["systemctl", "try-restart", *workers, WEB_UNIT])
    return cmds


def run(opts: CentralOptions, out: TextIO | None = None, err: TextIO | None = None) -> int:
    return P.execute(lambda: make_plan(opts), opts.dry_run, out, err)
