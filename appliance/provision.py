"""`palvelupiste provision`: make a machine (or a folder) into one device of a service point.
(`--role central`, the central host, is appliance/central_role.py; it reuses the plan and apply here.)

    palvelupiste provision --role kiosk --site example-pp --device kiosk-1 \\
        --site-broker mqtt://hub.local:1883 --central-broker mqtts://central.example.fi:8883 \\
        --site-config example.toml --printer serial:/dev/ttyUSB0?baudrate=19200 [--root DIR] [--dry-run]

Three steps, so that a bad argument changes nothing and a second run changes nothing:

1. **validate** every argument and everything already on the machine that the run depends on
   (the site configuration, an existing store's identity, an existing device configuration) —
   all problems are reported together, exit 2, nothing written;
2. **plan** every directory, file, link, store and command, each marked create / update /
   unchanged by comparing with what is there (secrets: an existing password is kept, never
   generated again; a Mosquitto password entry that still matches its password is kept, so the
   random salt does not change the file);
3. **apply** only what differs (identical files are not rewritten: same bytes, same mtimes), or with
   --dry-run print the plan — every file with its contents (secrets: never) and every command.

`--root DIR` puts everything under DIR as if DIR were `/` (an SD card image, a test). The files
name the target's paths (/etc/palvelupiste/..., never DIR/...). `systemctl` runs only when the
root is `/` and systemd is running; otherwise the enable links are made by hand (what
`systemctl enable` does) and systemd-sysusers / systemd-tmpfiles create the user and set owners at
the next boot from the files written here.

Layout on the device (appliance.units has the names):
    /etc/palvelupiste/device.toml               device configuration (core.config.load_device)
    /etc/palvelupiste/site-broker.password      0600, this device's site broker password
    /etc/palvelupiste/central-broker.password   0600, its central broker password
    /etc/palvelupiste/central-broker.entry      its Mosquitto password-file line (a hash) to send
                                                to the central broker's administrators; on the hub
                                                also the line of the site broker's bridge
    /etc/palvelupiste/site-credentials/<id>.password   hub only: every site device's password
    /etc/palvelupiste/central-bridge.password   hub only, 0600: the central broker password of the
                                                site broker's bridge, user "<site>.bridge"
    /var/lib/palvelupiste/                      data dir (StateDirectory): events.sqlite, site.toml,
                                                kivy/config.ini
    /etc/systemd/system/palvelupiste-<role>.service, palvelupiste-sync.service (+ enable links)
    /etc/mosquitto/palvelupiste-site.{conf,passwd,acl}, mosquitto.service.d/palvelupiste.conf  (hub;
                                                the .conf holds the bridge to the central broker and
                                                its password: 0600, owned by mosquitto)
    /etc/sysusers.d/palvelupiste.conf, /etc/tmpfiles.d/palvelupiste.conf

Site broker passwords: the hub makes one for every device of the site (its site-credentials
folder). Provision the hub first and give each device its file with --site-password-file; or
provision a device first, copy its site-broker.password to the hub's site-credentials/<id>.password
and provision the hub again.

The bridge (following one's turn on a phone, core/follow.py): the hub's site broker connects to the
central broker itself, as "<site>.bridge", with the central CA the sync agents trust
(bus.brokerconf.render_site_bridge_conf). Its password is made once and kept; its password-file line
goes into the hub's central-broker.entry beside the hub's own, so the central administrators add
both with one `palvelupiste central devices add`.
"""
from __future__ import annotations

import dataclasses
import ipaddress
import json
import os
import secrets
import shutil
import sqlite3
import subprocess
import sys
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import tomlkit
from tomlkit.exceptions import TOMLKitError
from tomlkit.items import Table

from core.config import Broker, ConfigError, device_id_problem, load_site, parse_device
from core.events import valid_id
from runtime.files import atomic_write

from . import roles as R
from . import units as U

EXIT_OK, EXIT_USAGE = 0, 2

SITE_PASSWORD = f"{U.CONFIG_DIR}/site-broker.password"
CENTRAL_PASSWORD = f"{U.CONFIG_DIR}/central-broker.password"
CENTRAL_ENTRY = f"{U.CONFIG_DIR}/central-broker.entry"
CENTRAL_CA = f"{U.CONFIG_DIR}/central-ca.pem"
#: hub only: the central broker password of the site broker's bridge ("<site>.bridge")
CENTRAL_BRIDGE_PASSWORD = f"{U.CONFIG_DIR}/central-bridge.password"
SITE_CREDENTIALS = f"{U.CONFIG_DIR}/site-credentials"
SITE_TOML = f"{U.DATA_DIR}/site.toml"
STORE = f"{U.DATA_DIR}/events.sqlite"
KIVY_CONFIG = f"{U.KIVY_HOME}/config.ini"
DEVICE_TOML_HEADER = (
    "palvelupiste device configuration, written by `palvelupiste provision`. Running it again sets",
    "the keys it writes in [device], [site_broker], [central_broker] and [printer]; every other key,",
    "table and comment is kept. Check it: palvelupiste check-config --device FILE",
)


class ProvisionError(Exception):
    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("; ".join(problems))


@dataclass
class Options:
    role: str
    # required for every device role (validate() says so by name); None only on the command line
    site: str
    device: str
    site_broker: str
    central_broker: str
    printer: str | None = None
    root: str = "/"
    dry_run: bool = False
    site_config: str | None = None
    bin: str | None = None
    listen: str | None = None
    site_password_file: str | None = None
    central_password_file: str | None = None
    central_ca: str | None = None
    insecure_central_link: bool = False
    #: options of --role central given for a device (each is refused by name)
    central_only: tuple[str, ...] = ()


# --- plan items ------------------------------------------------------------------------------------

@dataclass
class Item:
    kind: str            # dir | file | link | remove | store
    path: str            # on the target, e.g. /etc/palvelupiste/device.toml
    state: str = ""      # create | update | unchanged | mode
    content: bytes = b""
    mode: int = 0o644
    secret: bool = False
    show: bool = True    # dry-run prints the content (not for copies and secrets)
    note: str = ""
    target: str = ""     # link target
    site: str = ""       # store identity
    device: str = ""
    #: what dry-run prints instead of `content` (a file that holds a secret among much that is not)
    preview: bytes | None = None


@dataclass
class Plan:
    opts: Options
    root: Path
    items: list[Item] = field(default_factory=list)
    commands: list[list[str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    live: bool = False
    #: what is provisioned, for the messages (default: the device, its role and site)
    title: str = ""

    def host(self, target: str) -> Path:
        return host_path(self.root, target)

    @property
    def what(self) -> str:
        o = self.opts
        return self.title or f"{o.device} ({o.role}) of site {o.site}"

    @property
    def changes(self) -> list[Item]:
        return [i for i in self.items if i.state != "unchanged"]


def host_path(root: Path, target: str) -> Path:
    return root / target.lstrip("/")


def systemd_running() -> bool:
    return Path("/run/systemd/system").is_dir()


def default_bin() -> str:
    """The palvelupiste executable to put in ExecStart: the one running now, else the one next to
    this Python (a venv), else one on PATH, else the documented place /opt/palvelupiste/venv."""
    argv0 = Path(sys.argv[0]) if sys.argv and sys.argv[0] else None
    if argv0 is not None and argv0.name == "palvelupiste" and argv0.exists():
        return str(argv0.absolute())
    beside = Path(sys.executable).parent / "palvelupiste"
    if beside.exists():
        return str(beside)
    found = shutil.which("palvelupiste")
    return str(Path(found).absolute()) if found else U.DEFAULT_BIN


# --- validation ------------------------------------------------------------------------------------

def _read_secret(path: str, what: str, problems: list[str]) -> str | None:
    try:
        text = Path(path).read_text(encoding="utf-8").strip()
    except OSError as exc:
        problems.append(f"{what} {path}: cannot read ({exc.strerror or exc})")
        return None
    if not text or "\n" in text:
        problems.append(f"{what} {path}: must hold exactly one line, the password")
        return None
    return text


def _broker_url(url: str, what: str, problems: list[str]) -> Broker | None:
    b = Broker(url=url)
    try:
        b.port  # noqa: B018 — parses the URL
    except ValueError as exc:
        problems.append(f"{what}: {exc}")
        return None
    return b


def _toml_str(s: str) -> str:
    return json.dumps(s, ensure_ascii=False)


def _store_identity(path: Path) -> tuple[str | None, str | None] | str:
    """(site, device) of an existing store, read without writing anything; or an error text."""
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro&immutable=1", uri=True)
        try:
            meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
        finally:
            conn.close()
    except sqlite3.Error as exc:
        return f"cannot read it ({exc})"
    return meta.get("site"), meta.get("device")


def check_root(root_arg: str, dry_run: bool, problems: list[str]) -> Path:
    """--root as an absolute path; its problems (missing, not writable, / without root) appended."""
    root = Path(root_arg)
    if not root.is_absolute():
        root = root.absolute()
    if not root.is_dir():
        problems.append(f"--root {root_arg}: no such directory")
    elif not dry_run:
        if str(root) == "/" and os.geteuid() != 0:
            problems.append("provisioning the running system needs root: run it with sudo (or use --root DIR)")
        elif not os.access(root, os.W_OK):
            problems.append(f"--root {root_arg}: not writable by this user")
    return root


def validate(opts: Options) -> tuple[list[str], dict]:
    """Every problem with the arguments and the machine, and what was read on the way."""
    problems: list[str] = []
    ctx: dict = {}
    root = ctx["root"] = check_root(opts.root, opts.dry_run, problems)

    if opts.role not in R.ROLES:
        problems.append(f"--role {opts.role!r}: unknown role (one of {', '.join(R.role_names())})")
    for flag in opts.central_only:
        problems.append(f"{flag}: only for --role central (the central host), not for a {opts.role}")
    missing = [flag for flag, value in (("--site", opts.site), ("--device", opts.device),
                                        ("--site-broker", opts.site_broker), ("--central-broker", opts.central_broker))
               if value is None]
    if missing:
        problems += [f"{flag} is required for a device (every role but central)" for flag in missing]
        return problems, ctx
    for what, value in (("--site", opts.site), ("--device", opts.device)):
        if not valid_id(value):
            problems.append(f"{what} {value!r}: must be a short id of letters, digits, '-' or '_'")
    device_problem = device_id_problem(opts.device) if valid_id(opts.device) else None
    if device_problem:
        problems.append(f"--device {device_problem}")
    ctx["site_b"] = _broker_url(opts.site_broker, "--site-broker", problems)
    ctx["central_b"] = _broker_url(opts.central_broker, "--central-broker", problems)
    if ctx["central_b"] is not None and not ctx["central_b"].tls:
        # The central link crosses the internet with the device's password and its events: plain
        # MQTT only when someone asks for it by name (a test bench, a closed lab network).
        if not opts.insecure_central_link:
            problems.append("--central-broker: plain mqtt:// sends the device's password and events unencrypted; "
                            "use mqtts:// (TLS), or give --insecure-central-link for a test bench")
        else:
            ctx.setdefault("notes", []).append(
                "--insecure-central-link: the central link is plain MQTT, not encrypted; never in production")

    from bus.brokerconf import SITE_HUB_PORT

    if opts.role == "hub" and ctx["site_b"] is not None and ctx["site_b"].port == SITE_HUB_PORT:
        problems.append(f"--site-broker: port {SITE_HUB_PORT} is the hub's own listener on the site "
                        "broker; the devices need another (1883)")
    if opts.role == "hub" and ctx["site_b"] is not None and ctx["site_b"].tls:
        problems.append("--site-broker: the site broker on the hub listens without TLS on the site's own network "
                        "(systemd/mosquitto/site-broker.conf.in): use mqtt://")
    if opts.printer is not None:
        if opts.role != "kiosk":
            problems.append(f"--printer: only a kiosk has a ticket printer (role is {opts.role!r})")
        else:
            from printer.connection import parse_connection_url

            try:
                parse_connection_url(opts.printer)
            except ValueError as exc:
                problems.append(f"--printer: {exc}")
    if opts.listen is not None:
        if opts.role != "hub":
            problems.append("--listen: only the hub runs the site broker")
        else:
            try:
                ipaddress.ip_address(opts.listen)
            except ValueError:
                problems.append(f"--listen {opts.listen!r}: must be an IP address such as 0.0.0.0")

    bin_ = opts.bin or default_bin()
    ctx["bin"] = bin_
    try:
        U.check_unit_path(bin_, "--bin")
    except U.UnitError as exc:
        problems.append(str(exc))
    else:
        if not host_path(root, bin_).exists() and not Path(bin_).exists():
            ctx.setdefault("notes", []).append(
                f"{bin_} does not exist yet: the units start it (install palvelupiste there, or give --bin)")

    if opts.site_password_file is not None:
        if opts.role == "hub":
            problems.append("--site-password-file: the hub makes the site's passwords itself "
                            f"(in {SITE_CREDENTIALS}/); give the file to the other devices")
        else:
            ctx["site_password"] = _read_secret(opts.site_password_file, "--site-password-file", problems)
    if opts.central_password_file is not None:
        ctx["central_password"] = _read_secret(opts.central_password_file, "--central-password-file", problems)
    if opts.central_ca is not None:
        if ctx["central_b"] is not None and not ctx["central_b"].tls:
            problems.append("--central-ca: only for an mqtts:// central broker")
        try:
            ctx["central_ca"] = Path(opts.central_ca).read_bytes()
        except OSError as exc:
            problems.append(f"--central-ca {opts.central_ca}: cannot read ({exc.strerror or exc})")

    # The site configuration: the one given, else the one already on the device.
    site = None
    existing_site = host_path(root, SITE_TOML)
    src = Path(opts.site_config) if opts.site_config else (existing_site if existing_site.is_file() else None)
    if src is None:
        problems.append(f"--site-config FILE is needed: no site configuration at {SITE_TOML} yet")
    else:
        try:
            site = load_site(src)
            ctx["site_bytes"] = src.read_bytes()
        except ConfigError as exc:
            problems.append(f"--site-config {src}: " + "; ".join(str(i) for i in exc.issues))
        except OSError as exc:  # pragma: no cover — load_site reports unreadable files itself
            problems.append(f"--site-config {src}: {exc}")
    if site is not None and valid_id(opts.site) and valid_id(opts.device) and not device_problem:
        if site.id != opts.site:
            problems.append(f"--site-config {src}: it is site {site.id!r}, not {opts.site!r}")
        elif opts.device not in site.devices:
            problems.append(f"--site-config {src}: device {opts.device!r} is not in its [[devices]] "
                            f"(add id = {_toml_str(opts.device)}, role = {_toml_str(opts.role)}); "
                            "the hub accepts only the site's devices")
        elif site.devices[opts.device] != opts.role and opts.role in R.ROLES:
            problems.append(f"--site-config {src}: device {opts.device!r} has role "
                            f"{site.devices[opts.device]!r} there, not {opts.role!r}")
    ctx["site"] = site

    # An existing store must be this device's: a store of another device would be refused by
    # EventStore, and its events would be synced under the wrong name.
    store = host_path(root, STORE)
    if store.exists():
        ident = _store_identity(store)
        if isinstance(ident, str):
            problems.append(f"{STORE} exists but {ident}: move it away (it may hold unsynced events)")
        elif ident != (opts.site, opts.device):
            problems.append(f"{STORE} belongs to site {ident[0]!r} device {ident[1]!r}: move it away "
                            f"before making this machine {opts.device!r} (it may hold unsynced events)")
        ctx["store_exists"] = True

    # An existing device configuration is edited, not replaced: a technician's own keys, tables
    # and comments stay. Tables of another role would make it invalid for this one.
    conf = host_path(root, U.DEVICE_CONFIG)
    ctx["doc"] = None
    if conf.exists():
        try:
            text = conf.read_text(encoding="utf-8")
            tomllib.loads(text)
            ctx["doc"] = tomlkit.parse(text)
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError, TOMLKitError) as exc:
            problems.append(f"{U.DEVICE_CONFIG} exists but cannot be read as TOML ({exc}): fix or remove it")
        else:
            if opts.role in R.ROLES:
                foreign = [k for k in ctx["doc"] if k not in R.allowed_sections(opts.role)]
                if foreign:
                    problems.append(f"{U.DEVICE_CONFIG} has {', '.join(f'[{k}]' for k in foreign)}, which a "
                                    f"{opts.role} does not have: remove or move it (it belongs to another role)")
    return problems, ctx


# --- planning --------------------------------------------------------------------------------------

def _existing_secret(root: Path, target: str) -> str | None:
    try:
        text = host_path(root, target).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        return None
    return text or None


def _new_password() -> str:
    return secrets.token_urlsafe(24)


def _set_keys(doc: Any, name: str, values: dict[str, Any]) -> None:
    """Sets `values` in the table [name] where it stands; its other keys and comments stay."""
    tbl = doc.get(name)
    if not isinstance(tbl, dict):
        if name in doc:
            del doc[name]
        new = tomlkit.table()
        for k, v in values.items():
            new.add(k, v)
        doc.add(name, new)
        return
    for k, v in values.items():
        if k in tbl:
            if tbl[k] != v:
                tbl[k] = v
        elif isinstance(tbl, Table):
            # comments and blank lines at a table's end stand above the next table's header:
            # a new key goes before them, not under the next table's comment
            body = tbl.value.body
            trailing = []
            while body and body[-1][0] is None:
                trailing.insert(0, body.pop())
            tbl.add(k, v)
            body.extend(trailing)
        else:
            tbl[k] = v


#: what a dry run shows in place of the bridge's password in the site broker's configuration
BRIDGE_PASSWORD_SHOWN = "(secret-not-shown)"


def _central_ca_known(ctx: dict) -> bool:
    """Whether the device trusts the central broker through CENTRAL_CA (given now, or copied by an
    earlier run) rather than the system's CAs."""
    return ctx.get("central_ca") is not None or host_path(ctx["root"], CENTRAL_CA).exists()


def device_toml(opts: Options, ctx: dict) -> str:
    """The device configuration: the existing one with provisioning's keys set, or a new one."""
    doc = ctx.get("doc")
    if doc is None:
        doc = tomlkit.document()
        for line in DEVICE_TOML_HEADER:
            doc.add(tomlkit.comment(line))
        doc.add(tomlkit.nl())
    central: dict[str, Any] = {"url": opts.central_broker, "username": f"{opts.site}.{opts.device}",
                               "password_file": CENTRAL_PASSWORD}
    if _central_ca_known(ctx):
        central["ca_file"] = CENTRAL_CA
    _set_keys(doc, "device", {"id": opts.device, "role": opts.role, "site": opts.site, "data_dir": U.DATA_DIR})
    # The hub reaches its broker on its own loopback listener; --site-broker is where the devices do.
    from bus.brokerconf import site_hub_url

    site_url = site_hub_url() if opts.role == "hub" else opts.site_broker
    _set_keys(doc, "site_broker", {"url": site_url, "username": opts.device, "password_file": SITE_PASSWORD})
    _set_keys(doc, "central_broker", central)
    if opts.printer is not None:
        _set_keys(doc, "printer", {"url": opts.printer})
    if opts.role == "counter" and "counter" not in doc:
        # the panel of a counter device fills its screen (on a clerk's PC it runs in a window instead)
        _set_keys(doc, "counter", {"fullscreen": True})
    return tomlkit.dumps(doc)


def _file_state(path: Path, content: bytes, mode: int) -> str:
    try:
        st = path.lstat()
    except FileNotFoundError:
        return "create"
    if path.is_symlink() or not path.is_file():
        return "update"
    try:
        if path.read_bytes() != content:
            return "update"
    except OSError:
        return "update"
    return "unchanged" if (st.st_mode & 0o7777) == mode else "mode"


def make_plan(opts: Options) -> Plan:
    problems, ctx = validate(opts)
    if problems:
        raise ProvisionError(problems)
    root: Path = ctx["root"]
    plan = Plan(opts, root, notes=list(ctx.get("notes", [])))
    plan.live = str(root) == "/" and systemd_running()
    site = ctx["site"]
    from bus import brokerconf, topics

    def d(path: str, mode: int = 0o755) -> None:
        p = plan.host(path)
        plan.items.append(Item("dir", path, "unchanged" if p.is_dir() else "create", mode=mode))

    def f(path: str, content: str | bytes, mode: int = 0o644, *, secret: bool = False, show: bool = True,
          note: str = "", preview: str | None = None) -> None:
        data = content.encode("utf-8") if isinstance(content, str) else content
        plan.items.append(Item("file", path, _file_state(plan.host(path), data, mode), data, mode,
                               secret=secret, show=show and not secret, note=note,
                               preview=None if preview is None else preview.encode("utf-8")))

    # directories
    for path, mode in ((U.CONFIG_DIR, 0o755), (U.DATA_DIR, 0o750), (U.UNIT_DIR, 0o755),
                       (f"{U.UNIT_DIR}/{U.WANTS_TARGET}.wants", 0o755), ("/etc/sysusers.d", 0o755),
                       ("/etc/tmpfiles.d", 0o755)):
        d(path, mode)
    if R.role(opts.role).screen:
        d(U.KIVY_HOME, 0o750)
    if opts.role == "hub":
        d(SITE_CREDENTIALS, 0o700)
        d("/etc/mosquitto", 0o755)
        d(f"{U.UNIT_DIR}/mosquitto.service.d", 0o755)

    # secrets
    secret_owners = [(SITE_PASSWORD, U.SERVICE_USER), (CENTRAL_PASSWORD, U.SERVICE_USER)]
    if opts.role == "hub":
        site_passwords: dict[str, str] = {}
        for dev in sorted(site.devices):
            target = f"{SITE_CREDENTIALS}/{dev}.password"
            pw = _existing_secret(root, target)
            if pw is None and dev == opts.device:
                pw = _existing_secret(root, SITE_PASSWORD)
            pw = pw or _new_password()
            site_passwords[dev] = pw
            f(target, pw + "\n", 0o600, secret=True, note=f"site broker password of {dev}")
        site_pw = site_passwords[opts.device]
    else:
        site_pw = ctx.get("site_password") or _existing_secret(root, SITE_PASSWORD)
        if site_pw is None:
            site_pw = _new_password()
            plan.notes.append(
                f"the hub does not know {opts.device}'s new site broker password yet: copy {SITE_PASSWORD} "
                f"to the hub as {SITE_CREDENTIALS}/{opts.device}.password and provision the hub again "
                "(or provision the hub first and pass its file here with --site-password-file)")
    f(SITE_PASSWORD, site_pw + "\n", 0o600, secret=True, note="site broker password")
    central_pw = ctx.get("central_password") or _existing_secret(root, CENTRAL_PASSWORD) or _new_password()
    f(CENTRAL_PASSWORD, central_pw + "\n", 0o600, secret=True, note="central broker password")
    central_users = {topics.central_username(opts.site, opts.device): central_pw}
    if opts.role == "hub":
        # the site broker's bridge to the central broker: a user of its own, its password kept once made
        bridge_pw = _existing_secret(root, CENTRAL_BRIDGE_PASSWORD) or _new_password()
        f(CENTRAL_BRIDGE_PASSWORD, bridge_pw + "\n", 0o600, secret=True,
          note="central broker password of the site broker's bridge")
        central_users[brokerconf.bridge_username(opts.site)] = bridge_pw
    old_entries: dict[str, str] = {}
    for line in (_existing_secret(root, CENTRAL_ENTRY) or "").splitlines():
        old_entries.setdefault(line.split(":", 1)[0].strip(), line.strip())
    entries = []
    for user, pw in central_users.items():
        old = old_entries.get(user)
        entries.append(old if old and brokerconf.verify_password_entry(old, pw)
                       else brokerconf.password_entry(user, pw))
    entry_text = "".join(e + "\n" for e in entries)
    f(CENTRAL_ENTRY, entry_text, 0o644,
      note="a hash, safe to send: the central broker's password-file line"
           + (" for this device and the site broker's bridge" if opts.role == "hub" else " for this device"))
    if _file_state(plan.host(CENTRAL_ENTRY), entry_text.encode(), 0o644) != "unchanged":
        what = ("two Mosquitto password-file lines, the hub's and the site broker's bridge's"
                if opts.role == "hub" else "one Mosquitto password-file line")
        plan.notes.append(f"send {CENTRAL_ENTRY} ({what}, hashes: safe to send) to the central broker's "
                          "administrators (palvelupiste central devices add FILE), so that the sync agent "
                          + ("and the bridge can" if opts.role == "hub" else "can") + " log in")
    if ctx.get("central_ca") is not None:
        f(CENTRAL_CA, ctx["central_ca"], 0o644, show=False, note=f"copy of {opts.central_ca}")

    # configuration and data
    conf_text = device_toml(opts, ctx)
    try:
        parse_device(tomllib.loads(conf_text), U.DEVICE_CONFIG, base=Path(U.CONFIG_DIR))
    except tomllib.TOMLDecodeError as exc:
        raise ProvisionError([f"{U.DEVICE_CONFIG}: the edited file is no longer valid TOML ({exc}): fix or "
                              "remove the file"]) from None
    except ConfigError as exc:  # pragma: no cover — every value was validated above
        raise ProvisionError([f"{U.DEVICE_CONFIG}: {i}" for i in exc.issues]) from None
    f(U.DEVICE_CONFIG, conf_text)
    f(SITE_TOML, ctx["site_bytes"], 0o644, show=False,
      note=f"copy of {opts.site_config}" if opts.site_config else "kept")
    if R.role(opts.role).screen:
        doc = tomllib.loads(conf_text)
        kiosk = doc.get("kiosk", {}) if isinstance(doc.get("kiosk"), dict) else {}
        try:
            f(KIVY_CONFIG, U.kivy_config(kiosk.get("input") if opts.role == "kiosk" else None))
        except U.UnitError as exc:
            raise ProvisionError([f"{U.DEVICE_CONFIG} [kiosk] {exc}"]) from None
    plan.items.append(Item("store", STORE, "unchanged" if ctx.get("store_exists") else "create",
                           site=opts.site, device=opts.device))

    # systemd
    names = R.units_for(opts.role)
    for name in names:
        text = U.render_unit(name, bin=ctx["bin"], config=U.DEVICE_CONFIG)
        f(f"{U.UNIT_DIR}/{name}", text)
        for target in U.wanted_by(text):
            link = f"{U.UNIT_DIR}/{target}.wants/{name}"
            dest = f"{U.UNIT_DIR}/{name}"
            h = plan.host(link)
            state = "unchanged" if h.is_symlink() and os.readlink(h) == dest else \
                ("update" if h.is_symlink() or h.exists() else "create")
            plan.items.append(Item("link", link, state, target=dest))
    for name in (u.name for u in R.all_units()):  # another role's units (the device had another role before)
        if name in names:
            continue
        for path in (f"{U.UNIT_DIR}/{U.WANTS_TARGET}.wants/{name}", f"{U.UNIT_DIR}/{name}"):
            h = plan.host(path)
            if h.is_symlink() or h.exists():
                plan.items.append(Item("remove", path, "remove"))
    f(U.SYSUSERS_FILE, U.sysusers_conf())

    if opts.role == "hub":
        port = ctx["site_b"].port
        old_lines = {}
        try:
            for line in plan.host(U.MOSQUITTO_PASSWD).read_text(encoding="utf-8").splitlines():
                if ":" in line:
                    old_lines[line.split(":", 1)[0]] = line
        except OSError:
            pass
        entries = {}
        for dev, pw in sorted(site_passwords.items()):
            old = old_lines.get(dev)
            entries[dev] = (old if old and brokerconf.verify_password_entry(old, pw)
                            else brokerconf.password_entry(dev, pw))
        f(U.MOSQUITTO_PASSWD, "".join(e + "\n" for e in entries.values()), 0o600, secret=True,
          note=f"Mosquitto password file: {len(entries)} devices of site {opts.site}")
        f(U.MOSQUITTO_HUB_PASSWD, entries[opts.device] + "\n", 0o600, secret=True,
          note="Mosquitto password file of the hub's own listener: the hub alone")
        f(U.MOSQUITTO_ACL, brokerconf.render_site_acl(opts.site, site.devices), 0o600)
        central_b: Broker = ctx["central_b"]
        bridge = brokerconf.SiteBridge(opts.site, central_b.host, central_b.port, bridge_pw, tls=central_b.tls,
                                       cafile=CENTRAL_CA if _central_ca_known(ctx) else None)
        conf_kw: dict[str, Any] = dict(
            data_dir=U.MOSQUITTO_DATA, password_file=U.MOSQUITTO_PASSWD, hub_password_file=U.MOSQUITTO_HUB_PASSWD,
            acl_file=U.MOSQUITTO_ACL, port=port, bind_address=opts.listen or "0.0.0.0", user=U.MOSQUITTO_USER)
        try:
            conf = brokerconf.render_site_broker_conf(**conf_kw, bridge=bridge)
            # dry-run shows the same text with the password left out
            preview = brokerconf.render_site_broker_conf(**conf_kw, bridge=dataclasses.replace(
                bridge, password=BRIDGE_PASSWORD_SHOWN))
        except brokerconf.BrokerConfError as exc:
            raise ProvisionError([f"{U.MOSQUITTO_CONF}: {exc}"]) from None
        f(U.MOSQUITTO_CONF, conf, 0o600, preview=preview,
          note="with the bridge to the central broker and its password (0600, owned by mosquitto)")
        f(U.MOSQUITTO_DROPIN, U.mosquitto_dropin())
        secret_owners += [(U.MOSQUITTO_PASSWD, U.MOSQUITTO_USER), (U.MOSQUITTO_HUB_PASSWD, U.MOSQUITTO_USER),
                          (U.MOSQUITTO_ACL, U.MOSQUITTO_USER), (U.MOSQUITTO_CONF, U.MOSQUITTO_USER)]
    f(U.TMPFILES_FILE, U.tmpfiles_conf(secret_owners))

    plan.commands = _commands(plan, names)
    if not plan.live and plan.changes:
        why = "the root is not /" if str(root) != "/" else "systemd is not running here"
        plan.notes.append(f"no systemctl ({why}): the units are enabled by their links and start at the next "
                          "boot; systemd-sysusers and systemd-tmpfiles make the user and set the owners then")
    return plan


def _commands(plan: Plan, names: list[str]) -> list[list[str]]:
    if not plan.live:
        return []
    changed = {i.path for i in plan.changes}
    cmds: list[list[str]] = []
    if U.SYSUSERS_FILE in changed or _missing_user():
        cmds.append(["systemd-sysusers", U.SYSUSERS_FILE])
    if changed:
        cmds.append(["systemd-tmpfiles", "--create", U.TMPFILES_FILE])
    if any(p.startswith(U.UNIT_DIR) for p in changed):
        cmds.append(["systemctl", "daemon-reload"])
    removed = [Path(i.path).name for i in plan.items if i.kind == "remove" and i.path.startswith(U.UNIT_DIR + "/palv")]
    if removed:
        cmds.append(["systemctl", "disable", "--now", *removed])
    if plan.opts.role == "hub" and any(p.startswith("/etc/mosquitto") or "mosquitto.service.d" in p for p in changed):
        cmds.append(["systemctl", "restart", U.MOSQUITTO_UNIT])
    if changed:
        # start what is not running; restart what runs with an old configuration
        cmds.append(["systemctl", "enable", "--now", *names])
        cmds.append(["systemctl", "try-restart", *names])
    return cmds


def _missing_user() -> bool:
    import pwd

    try:
        pwd.getpwnam(U.SERVICE_USER)
        return False
    except KeyError:
        return True


# --- apply -----------------------------------------------------------------------------------------

def _same_owner_as_data_dir(plan: Plan, path: Path) -> None:
    """Running as root, a file made inside the data directory gets the directory's owner, so that
    the services (which own it once systemd has started them) can still write next to it."""
    if os.geteuid() != 0:
        return
    data = plan.host(U.DATA_DIR)
    try:
        st = data.stat()
        if st.st_uid == 0 or not path.is_relative_to(data):
            return
        for p in [path, *(path.parent / (path.name + s) for s in ("-wal", "-shm"))]:
            if p.exists() and p.stat().st_uid != st.st_uid:
                os.chown(p, st.st_uid, st.st_gid)
    except OSError:
        pass


def apply(plan: Plan, out: TextIO | None = None) -> list[Item]:
    out = out or sys.stdout
    from core.store import EventStore

    done: list[Item] = []
    for item in plan.items:
        h = plan.host(item.path)
        if item.state == "unchanged":
            continue
        if item.kind == "dir":
            h.mkdir(mode=item.mode, parents=True, exist_ok=True)
            os.chmod(h, item.mode)  # not the umask's choice
        elif item.kind == "file":
            h.parent.mkdir(parents=True, exist_ok=True)
            if item.state == "mode":
                os.chmod(h, item.mode)
            else:
                if h.is_symlink() or h.is_dir():
                    raise ProvisionError([f"{item.path}: a link or folder is in the way; remove it"])
                atomic_write(h, item.content, mode=item.mode)  # the temporary file is 0600 from the start
            _same_owner_as_data_dir(plan, h)
        elif item.kind == "link":
            h.parent.mkdir(parents=True, exist_ok=True)
            if h.is_symlink() or h.exists():
                h.unlink()
            os.symlink(item.target, h)
        elif item.kind == "remove":
            h.unlink(missing_ok=True)
        elif item.kind == "store":
            EventStore(h, item.site, item.device).close()
            _same_owner_as_data_dir(plan, h)
        done.append(item)
    for cmd in plan.commands:
        print("run:", " ".join(cmd), file=out)
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode != 0:
            print(f"  failed ({r.returncode}): {(r.stderr or r.stdout).strip()[:500]}", file=out)
    return done


# --- output ----------------------------------------------------------------------------------------

def _describe(item: Item) -> str:
    if item.kind == "dir":
        return f"directory {item.path} (mode {item.mode:04o})"
    if item.kind == "link":
        return f"link {item.path} -> {item.target}"
    if item.kind == "remove":
        return f"remove {item.path}"
    if item.kind == "store":
        return f"event store {item.path} (site {item.site}, device {item.device})"
    extra = f", {item.note}" if item.note else ""
    if item.secret:
        extra += ", secret: not shown"
    return f"file {item.path} ({len(item.content)} bytes, mode {item.mode:04o}{extra})"


def print_plan(plan: Plan, out: TextIO) -> None:
    print(f"dry run: provision {plan.what} into {plan.root} — nothing is written", file=out)
    for item in plan.items:
        print(f"  {item.state:9} {_describe(item)}", file=out)
        if item.kind == "file" and item.show and item.state in ("create", "update"):
            shown = item.content if item.preview is None else item.preview
            for line in shown.decode("utf-8", "replace").splitlines():
                print(f"            | {line}", file=out)
    if plan.commands:
        for cmd in plan.commands:
            print(f"  would run {' '.join(cmd)}", file=out)
    else:
        print("  no commands would run" + ("" if plan.live else " (systemd is not managing this root)"),
              file=out)
    for note in plan.notes:
        print(f"note: {note}", file=out)


def run(opts: Options, out: TextIO | None = None, err: TextIO | None = None) -> int:
    return execute(lambda: make_plan(opts), opts.dry_run, out, err)


def execute(make: Callable[[], Plan], dry_run: bool, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Plan (problems: exit 2, nothing changed), then print the plan (--dry-run) or apply it."""
    out = out or sys.stdout
    err = err or sys.stderr
    try:
        plan = make()
    except ProvisionError as exc:
        print(f"palvelupiste provision: {len(exc.problems)} problem(s), nothing was changed:", file=err)
        for p in exc.problems:
            print(f"  {p}", file=err)
        return EXIT_USAGE
    if dry_run:
        print_plan(plan, out)
        return EXIT_OK
    try:
        done = apply(plan, out)
    except ProvisionError as exc:
        print("palvelupiste provision: stopped: " + "; ".join(exc.problems), file=err)
        return 1
    except OSError as exc:
        print(f"palvelupiste provision: stopped: {exc}", file=err)
        return 1
    print(f"provisioned {plan.what} in {plan.root}: {len(done)} change(s), {len(plan.items) - len(done)} unchanged",
          file=out)
    for item in done:
        print(f"  {item.state:9} {_describe(item)}", file=out)
    for note in plan.notes:
        print(f"note: {note}", file=out)
    return EXIT_OK


def options_from_args(args) -> Options:
    from .central_role import central_flags_given

    return Options(role=args.role, site=args.site, device=args.device, site_broker=args.site_broker,
                   central_broker=args.central_broker, printer=args.printer, root=args.root,
                   dry_run=args.dry_run, site_config=args.site_config, bin=args.bin, listen=args.listen,
                   site_password_file=args.site_password_file,
                   central_password_file=args.central_password_file, central_ca=args.central_ca,
                   insecure_central_link=args.insecure_central_link, central_only=central_flags_given(args))
