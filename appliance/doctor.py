"""`palvelupiste doctor`: is this device fit to serve? One table, a fix hint for each problem.

Checks, for the device's role:

    configuration   device and site configuration valid, the device listed in the site with its role,
                    the role's own section ([kiosk], [printer], [display], [feedback]) valid
    clock           synchronised? (systemd-timesyncd's flag, timedatectl, chronyc, the kernel's
                    adjtimex status — "unknown" when none of them can tell); a date before the
                    software's release is a failure whatever the source says
    disk            free space where the data lives (WARN below 1 GiB, FAIL below 100 MiB)
    event store     present, SQLite quick_check ok, belongs to this device
    sync backlog    events not yet acknowledged by the central side and the age of the oldest
                    (WARN after 15 min, FAIL after 24 h), with what the sync agent last reported
    site broker     a real MQTT 5 connect with the device's own user and password (short timeout);
    central broker  "refused the password" is its own failure with its own fix
    services        the role's systemd units active (or, without systemd, installed and enabled)
    hub: site broker files   Mosquitto configuration, a password entry and ACL for every site device
    kiosk: printer  TicketPrinter.status() over DLE EOT: online, paper near end, paper out, cover
                    open, error, no answer, cannot connect
    kiosk: touch screen, feedback: buttons (the configured evdev device) or a touch screen
    screen          connected screens and their mode (/sys/class/drm, xrandr), or "unknown"
    screen blanking the console must never blank the screen (consoleblank=0)

Statuses: OK, WARN (works, look at it soon), FAIL (something is wrong), SKIP (cannot be judged
here, e.g. after a failure it depends on, or with --root). Exit code: 1 when any check FAILs,
0 otherwise — a warning alone exits 0, so that scripts and monitoring stop only on real faults.

Everything a check asks the machine goes through `Sources`, which tests (and the kiosk's
technician screen, which already holds the printer) replace piece by piece.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import dataclasses
import datetime as _dt
import json
import os
import re
import shutil
import socket
import sqlite3
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from core.config import Broker, ConfigError, Device, Site, load_device, load_site

from . import units as U

OK, WARN, FAIL, SKIP = "OK", "WARN", "FAIL", "SKIP"
_RANK = {OK: 0, SKIP: 0, WARN: 1, FAIL: 2}
EXIT_OK, EXIT_FAIL = 0, 1

DISK_WARN_BYTES = 1 << 30          # 1 GiB
DISK_FAIL_BYTES = 100 << 20        # 100 MiB
BACKLOG_WARN_S = 15 * 60
BACKLOG_FAIL_S = 24 * 3600
#: a clock before this date is wrong, whatever any source says (the Pi has no RTC: 1970 or the
#: last shutdown's time until NTP answers)
CLOCK_FLOOR = _dt.datetime(2025, 1, 1, tzinfo=_dt.timezone.utc)
MIN_SCREEN = (1024, 600)


@dataclass(frozen=True)
class Result:
    check: str
    status: str
    detail: str
    hint: str = ""

    def as_dict(self) -> dict[str, str]:
        return dataclasses.asdict(self)


# --- what the machine tells ------------------------------------------------------------------------

@dataclass(frozen=True)
class ClockInfo:
    synchronized: bool | None  # None: cannot be told here
    source: str
    detail: str = ""


@dataclass(frozen=True)
class ProbeResult:
    outcome: str   # ok | auth | unreachable | tls | timeout | refused | error
    detail: str
    ms: int | None = None


@dataclass(frozen=True)
class InputDev:
    path: str
    name: str
    touch: bool


@dataclass(frozen=True)
class Screen:
    connector: str
    connected: bool
    mode: str | None = None  # "1920x1080"


class _Timex(ctypes.Structure):
    _fields_ = [("modes", ctypes.c_uint), ("offset", ctypes.c_long), ("freq", ctypes.c_long),
                ("maxerror", ctypes.c_long), ("esterror", ctypes.c_long), ("status", ctypes.c_int),
                ("constant", ctypes.c_long), ("precision", ctypes.c_long), ("tolerance", ctypes.c_long),
                ("time_sec", ctypes.c_long), ("time_usec", ctypes.c_long), ("tick", ctypes.c_long),
                ("ppsfreq", ctypes.c_long), ("jitter", ctypes.c_long), ("shift", ctypes.c_int),
                ("stabil", ctypes.c_long), ("jitcnt", ctypes.c_long), ("calcnt", ctypes.c_long),
                ("errcnt", ctypes.c_long), ("stbcnt", ctypes.c_long), ("tai", ctypes.c_int),
                ("_pad", ctypes.c_int * 11)]


def _run(argv: list[str], timeout: float = 3.0) -> str | None:
    if shutil.which(argv[0]) is None:
        return None
    try:
        r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return r.stdout if r.returncode == 0 else None


def clock_status() -> ClockInfo:
    """Ask, in order: systemd-timesyncd's flag file, timedatectl, chronyc, the kernel (adjtimex)."""
    if Path("/run/systemd/timesync/synchronized").exists():
        return ClockInfo(True, "systemd-timesyncd")
    if Path("/run/systemd/system").is_dir():
        out = _run(["timedatectl", "show", "-p", "NTPSynchronized", "--value"])
        if out and out.strip() in ("yes", "no"):
            return ClockInfo(out.strip() == "yes", "timedatectl")
    out = _run(["chronyc", "-n", "tracking"])
    if out:
        m = re.search(r"Leap status\s*:\s*(.+)", out)
        if m:
            return ClockInfo(m[1].strip() != "Not synchronised", "chronyc", m[1].strip())
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        tx = _Timex()
        state = libc.adjtimex(ctypes.byref(tx))
    except (OSError, AttributeError):
        return ClockInfo(None, "none", "no time service answers and the kernel cannot be asked")
    if state < 0:
        return ClockInfo(None, "adjtimex", "the kernel did not answer")
    unsync = bool(tx.status & 0x0040) or state == 5  # STA_UNSYNC, TIME_ERROR
    if unsync:
        return ClockInfo(False, "kernel (adjtimex)",
                         "no time service reports here and the kernel marks the clock unsynchronised "
                         "(in a container this is the host's state)")
    return ClockInfo(True, "kernel (adjtimex)", f"max error {tx.maxerror / 1000:.0f} ms")


def disk_usage(path: str) -> tuple[int, int]:
    """(total, free for unprivileged writers) bytes of the file system holding `path`."""
    st = os.statvfs(path)
    return st.f_blocks * st.f_frsize, st.f_bavail * st.f_frsize


_PROBE_REASONS_AUTH = {134, 135, 140}  # bad user name or password, not authorized, bad auth method


def mqtt_probe(broker: Broker, username: str | None, password: str | None, client_id: str,
               timeout: float = 3.0) -> ProbeResult:
    """One real MQTT 5 connect (and a clean disconnect), within `timeout` seconds."""
    import paho.mqtt.client as paho
    from paho.mqtt.enums import CallbackAPIVersion

    got: dict[str, Any] = {}
    done = threading.Event()

    def on_connect(client, userdata, flags, reason_code, properties):
        got["rc"] = reason_code
        done.set()

    def on_disconnect(client, userdata, flags, reason_code, properties):
        got.setdefault("disc", reason_code)
        done.set()

    c = paho.Client(callback_api_version=CallbackAPIVersion.VERSION2, client_id=client_id,
                    protocol=paho.MQTTv5)
    c.connect_timeout = timeout
    c.on_connect, c.on_disconnect = on_connect, on_disconnect
    if username is not None:
        c.username_pw_set(username, password)
    t0 = time.monotonic()
    try:
        if broker.tls:
            c.tls_set(ca_certs=broker.ca_file, certfile=broker.cert_file, keyfile=broker.key_file,
                      cert_reqs=ssl.CERT_REQUIRED, tls_version=ssl.PROTOCOL_TLS_CLIENT)
        c.connect(broker.host, broker.port, keepalive=10)
    except ssl.SSLError as exc:
        return ProbeResult("tls", f"TLS handshake failed: {exc.reason or exc}")
    except socket.gaierror as exc:
        return ProbeResult("unreachable", f"cannot resolve {broker.host}: {exc.strerror or exc}")
    except (TimeoutError, socket.timeout):
        return ProbeResult("timeout", f"no connection to {broker.host}:{broker.port} within {timeout:g} s")
    except OSError as exc:
        return ProbeResult("unreachable", f"cannot connect to {broker.host}:{broker.port}: {exc.strerror or exc}")
    deadline = t0 + timeout
    try:
        while not done.is_set() and time.monotonic() < deadline:
            rc = c.loop(timeout=0.05)
            if rc not in (paho.MQTT_ERR_SUCCESS,) and not done.is_set():
                if "rc" not in got:
                    got["loop"] = rc
                    break
    except ssl.SSLError as exc:
        return ProbeResult("tls", f"TLS handshake failed: {exc.reason or exc}")
    except OSError as exc:
        return ProbeResult("unreachable", f"connection to {broker.host}:{broker.port} broke: {exc}")
    ms = int((time.monotonic() - t0) * 1000)
    try:
        if "rc" in got and not got["rc"].is_failure:
            c.disconnect()
            c.loop(timeout=0.05)
    except Exception:  # only tidying up
        pass
    finally:
        try:
            c.socket() and c.socket().close()
        except Exception:
            pass
    rc = got.get("rc")
    if rc is None:
        if "loop" in got or "disc" in got:
            return ProbeResult("refused", f"{broker.host}:{broker.port} closed the connection without an answer "
                                          "(not an MQTT broker, or TLS expected?)")
        return ProbeResult("timeout", f"{broker.host}:{broker.port}: no answer to CONNECT within {timeout:g} s")
    if not rc.is_failure:
        return ProbeResult("ok", f"connected to {broker.host}:{broker.port}", ms)
    if rc.value in _PROBE_REASONS_AUTH:
        return ProbeResult("auth", f"{broker.host}:{broker.port} refused user {username!r}: {rc}")
    return ProbeResult("error", f"{broker.host}:{broker.port} refused the connection: {rc}")


def printer_status(url: str, section: dict[str, Any]) -> str:
    """The printer's PrinterStatus value, asked over its connection (DLE EOT)."""
    from printer.device import TicketPrinter

    st = section.get("status_timeout", 0.5)
    tp = TicketPrinter(url, section.get("profile"), status_timeout=float(st) if isinstance(st, (int, float)) else 0.5)
    try:
        return tp.status().value
    finally:
        tp.close()


def _bits(words: str, wordbits: int) -> set[int]:
    out: set[int] = set()
    for i, word in enumerate(reversed(words.split())):
        v = int(word, 16)
        for b in range(wordbits):
            if v >> b & 1:
                out.add(i * wordbits + b)
    return out


def input_devices(proc: str = "/proc/bus/input/devices") -> list[InputDev] | None:
    """Input devices from /proc/bus/input/devices (readable by everyone, opens no device).
    None when there is no input subsystem to ask."""
    try:
        text = Path(proc).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    machine = os.uname().machine
    wordbits = 64 if machine.endswith("64") or machine in ("x86_64", "aarch64") else 32
    out = []
    for block in text.split("\n\n"):
        name, handlers, abs_, key = "", "", "", ""
        for line in block.splitlines():
            if line.startswith("N: Name="):
                name = line.split("=", 1)[1].strip().strip('"')
            elif line.startswith("H: Handlers="):
                handlers = line.split("=", 1)[1]
            elif line.startswith("B: ABS="):
                abs_ = line.split("=", 1)[1]
            elif line.startswith("B: KEY="):
                key = line.split("=", 1)[1]
        ev = next((h for h in handlers.split() if h.startswith("event")), None)
        if not ev:
            continue
        absb = _bits(abs_, wordbits) if abs_ else set()
        keyb = _bits(key, wordbits) if key else set()
        touch = 0x35 in absb or (0 in absb and 0x14A in keyb)  # ABS_MT_POSITION_X, or ABS_X + BTN_TOUCH
        out.append(InputDev(f"/dev/input/{ev}", name, touch))
    return out


def screens(drm: str = "/sys/class/drm") -> list[Screen] | None:
    """Connectors from /sys/class/drm (works without X), else xrandr on $DISPLAY; None: unknown."""
    base = Path(drm)
    found: list[Screen] = []
    if base.is_dir():
        for con in sorted(base.glob("card*-*")):
            try:
                status = (con / "status").read_text().strip()
            except OSError:
                continue
            mode = None
            try:
                modes = (con / "modes").read_text().split()
                mode = modes[0] if modes else None
            except OSError:
                pass
            found.append(Screen(con.name.split("-", 1)[1], status == "connected", mode))
        if found:
            return found
    if os.environ.get("DISPLAY"):
        out = _run(["xrandr", "--current"])
        if out:
            cur = None
            for line in out.splitlines():
                m = re.match(r"^(\S+) (connected|disconnected)", line)
                if m:
                    cur = Screen(m[1], m[2] == "connected")
                    found.append(cur)
                elif cur is not None and "*" in line:
                    mm = re.match(r"\s+(\d+x\d+)", line)
                    if mm:
                        found[-1] = dataclasses.replace(found[-1], mode=mm[1])
            return found or None
    return None


def consoleblank() -> int | None:
    try:
        return int(Path("/sys/module/kernel/parameters/consoleblank").read_text().strip())
    except (OSError, ValueError):
        return None


def unit_states(names: list[str]) -> dict[str, dict[str, str]] | None:
    """systemctl's view of the units; None when systemd is not running here."""
    if not Path("/run/systemd/system").is_dir():
        return None
    out: dict[str, dict[str, str]] = {}
    for name in names:
        text = _run(["systemctl", "show", name, "-p", "ActiveState,SubState,UnitFileState,NRestarts,Result"])
        if text is None:
            return None
        out[name] = dict(line.split("=", 1) for line in text.splitlines() if "=" in line)
    return out


def _button_source(cfg):
    from feedback_terminal.button_source import EvdevSource

    return EvdevSource(cfg)


@dataclass
class Sources:
    """Everything the checks ask the machine. Replace any field to test or to reuse what an app has."""
    now: Callable[[], float] = time.time
    clock: Callable[[], ClockInfo] = clock_status
    disk_usage: Callable[[str], tuple[int, int]] = disk_usage
    mqtt_probe: Callable[..., ProbeResult] = mqtt_probe
    printer_status: Callable[[str, dict], str] = printer_status
    input_devices: Callable[[], list[InputDev] | None] = input_devices
    button_source: Callable[[Any], Any] = _button_source
    screens: Callable[[], list[Screen] | None] = screens
    consoleblank: Callable[[], int | None] = consoleblank
    unit_states: Callable[[list[str]], dict | None] = unit_states


# --- the checks ------------------------------------------------------------------------------------

@dataclass
class Context:
    config_path: str
    sources: Sources
    root: Path | None = None
    timeout: float = 3.0
    device: Device | None = None
    site: Site | None = None
    results: list[Result] = field(default_factory=list)

    def path(self, p: str | None) -> str | None:
        """A path of the device configuration as seen from here (inside --root)."""
        if p is None or self.root is None or not p.startswith("/"):
            return p
        return str(self.root / p.lstrip("/"))


def _age(seconds: float) -> str:
    s = int(max(0, seconds))
    if s < 120:
        return f"{s} s"
    if s < 7200:
        return f"{s // 60} min"
    if s < 172800:
        return f"{s // 3600} h {s % 3600 // 60} min"
    return f"{s // 86400} days"


def _size(n: int) -> str:
    for unit, div in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= div:
            return f"{n / div:.1f} {unit}"
    return f"{n} B"


def _rooted_device(ctx: Context, d: Device) -> Device:
    if ctx.root is None:
        return d

    def broker(b: Broker | None) -> Broker | None:
        if b is None:
            return None
        return dataclasses.replace(b, password_file=ctx.path(b.password_file), ca_file=ctx.path(b.ca_file),
                                   cert_file=ctx.path(b.cert_file), key_file=ctx.path(b.key_file))

    return dataclasses.replace(d, data_dir=ctx.path(d.data_dir), store=ctx.path(d.store),
                               site_config=ctx.path(d.site_config), site_broker=broker(d.site_broker),
                               central_broker=broker(d.central_broker))


def _issues(exc: ConfigError) -> str:
    more = f"; … {len(exc.issues) - 6} more" if len(exc.issues) > 6 else ""
    return "; ".join(str(i) for i in exc.issues[:6]) + more


def check_config(ctx: Context) -> Result:
    name = "configuration"
    try:
        d = load_device(ctx.config_path)
    except ConfigError as exc:
        if exc.issues and exc.issues[0].field == "file":
            return Result(name, FAIL, f"{ctx.config_path}: {exc.issues[0].message}",
                          "provision the device (palvelupiste provision ...) or give --config FILE")
        return Result(name, FAIL, f"{ctx.config_path}: {_issues(exc)}",
                      "fix the named fields, or run palvelupiste provision again "
                      "(palvelupiste check-config --device FILE lists every problem)")
    d = _rooted_device(ctx, d)
    ctx.device = d
    try:
        site = load_site(d.site_config)
    except ConfigError as exc:
        return Result(name, FAIL, f"site configuration {d.site_config}: {_issues(exc)}",
                      "the site configuration comes from provisioning (--site-config) and then from the "
                      "central side; palvelupiste check-config FILE names every problem")
    ctx.site = site
    if site.id != d.site:
        return Result(name, FAIL, f"the site configuration is for site {site.id!r}, the device for {d.site!r}",
                      "provision again with the right --site and --site-config")
    listed = site.devices.get(d.id)
    if listed != d.role:
        what = "is not in the site's [[devices]]" if listed is None else f"has role {listed!r} in the site"
        return Result(name, FAIL, f"device {d.id!r} ({d.role}) {what}",
                      f"add [[devices]] id = \"{d.id}\", role = \"{d.role}\" to the site configuration "
                      "(the hub and the site broker accept only the site's devices)")
    problem = _role_section_problem(d, site)
    if problem:
        return Result(name, FAIL, problem, "fix the named field in the device configuration")
    return Result(name, OK, f"device {d.id} ({d.role}) of site {d.site}: {len(site.services)} services, "
                            f"{len(site.counters)} counters, {len(site.devices)} devices")


def _role_section_problem(d: Device, site: Site) -> str | None:
    try:
        if d.role == "kiosk":
            from kiosk.printing import printer_config
            from kiosk.settings import kiosk_settings

            kiosk_settings(d)
            printer_config(d.section("printer"))
        elif d.role == "display":
            from display.settings import parse_display

            parse_display(d.section("display"), set(site.services))
        elif d.role == "feedback":
            from feedback_terminal.settings import load_settings

            load_settings(d, site)
    except ConfigError as exc:
        return f"{d.role} settings: {_issues(exc)}"
    except ValueError as exc:
        return f"{d.role} settings: {exc}"
    except ImportError:
        return None  # the app is not installed here; its own start names its problems
    return None


def check_clock(ctx: Context) -> Result:
    name = "clock"
    now = ctx.sources.now()
    when = _dt.datetime.fromtimestamp(now, _dt.timezone.utc)
    shown = when.strftime("%Y-%m-%d %H:%M UTC")
    if when < CLOCK_FLOOR:
        return Result(name, FAIL, f"the clock says {shown}: wrong (before {CLOCK_FLOOR:%Y-%m-%d})",
                      "the device has no time yet: check the network and NTP (timedatectl timesync-status); "
                      "ticket numbers and times depend on the date")
    info = ctx.sources.clock()
    if info.synchronized is True:
        return Result(name, OK, f"{shown}, synchronised ({info.source}{', ' + info.detail if info.detail else ''})")
    if info.synchronized is False:
        return Result(name, WARN, f"{shown}, NOT synchronised ({info.source}: {info.detail or 'no sync'})",
                      "enable time sync (timedatectl set-ntp true) and let the device reach an NTP server "
                      "(UDP 123); the site's tickets carry the time")
    return Result(name, WARN, f"{shown}, synchronisation unknown ({info.detail or info.source})",
                  "check the time service yourself: timedatectl status")


def check_disk(ctx: Context) -> Result:
    name = "disk"
    d = ctx.device
    if d is None:
        return Result(name, SKIP, "no valid device configuration")
    if not Path(d.data_dir).is_dir():
        return Result(name, FAIL, f"data directory {d.data_dir} is missing",
                      "run palvelupiste provision again (it creates the data directory and the store)")
    try:
        total, free = ctx.sources.disk_usage(d.data_dir)
    except OSError as exc:
        return Result(name, FAIL, f"cannot tell the free space of {d.data_dir}: {exc}", "")
    detail = f"{_size(free)} free of {_size(total)} at {d.data_dir}"
    hint = ("free space: old logs (journalctl --vacuum-size=100M), apt caches (apt-get clean); the event store "
            "keeps everything not yet synced — never delete it")
    if free < DISK_FAIL_BYTES:
        return Result(name, FAIL, detail + f" (below {_size(DISK_FAIL_BYTES)}: events may not be stored)", hint)
    if free < DISK_WARN_BYTES:
        return Result(name, WARN, detail + f" (below {_size(DISK_WARN_BYTES)})", hint)
    return Result(name, OK, detail)


def _open_store_ro(path: str) -> tuple[sqlite3.Connection, list[Path]]:
    """A read-only connection; returns the WAL/SHM files it made (to give them the store's owner)."""
    side = [Path(path + s) for s in ("-wal", "-shm")]
    before = {p for p in side if p.exists()}
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
    return conn, [p for p in side if p not in before]


def _fix_owner(store: str, made: list[Path]) -> None:
    if os.geteuid() != 0:
        return
    try:
        st = os.stat(store)
        for p in made:
            if p.exists() and p.stat().st_uid != st.st_uid:
                os.chown(p, st.st_uid, st.st_gid)
    except OSError:
        pass


def check_store(ctx: Context) -> list[Result]:
    d = ctx.device
    if d is None:
        return [Result("event store", SKIP, "no valid device configuration"),
                Result("sync backlog", SKIP, "no valid device configuration")]
    if not Path(d.store).is_file():
        return [Result("event store", FAIL, f"no event store at {d.store}",
                       "run palvelupiste provision again: it creates the store"),
                Result("sync backlog", SKIP, "no event store")]
    made: list[Path] = []
    try:
        conn, made = _open_store_ro(d.store)
        try:
            qc = "; ".join(r[0] for r in conn.execute("PRAGMA quick_check").fetchall())
            meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
            last, acked = int(meta.get("last_seq", 0)), int(meta.get("acked_seq", 0))
            oldest = conn.execute("SELECT ts FROM events WHERE seq > ? ORDER BY seq LIMIT 1", (acked,)).fetchone()
            count = conn.execute("SELECT count(*) FROM events").fetchone()[0]
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        if "locked" in str(exc) or "busy" in str(exc):
            return [Result("event store", WARN, f"{d.store}: busy ({exc})", "run the doctor again in a moment"),
                    Result("sync backlog", SKIP, "store busy")]
        return [Result("event store", FAIL, f"{d.store}: cannot be read: {exc}", _CORRUPT_HINT),
                Result("sync backlog", SKIP, "store unreadable")]
    finally:
        _fix_owner(d.store, made)
    if qc != "ok":
        store_res = Result("event store", FAIL, f"{d.store}: integrity check failed: {qc[:200]}", _CORRUPT_HINT)
    elif (meta.get("site"), meta.get("device")) != (d.site, d.id):
        store_res = Result("event store", FAIL,
                           f"{d.store} belongs to site {meta.get('site')!r} device {meta.get('device')!r}",
                           "this store is another device's: move it away and provision this device again")
    else:
        store_res = Result("event store", OK, f"quick_check ok, {count} events kept, last sequence {last}")
    return [store_res, _backlog(ctx, last, acked, oldest[0] if oldest else None)]


_CORRUPT_HINT = ("stop the app and the sync agent, keep the file, and recover it: sqlite3 events.sqlite "
                 "'.recover' | sqlite3 recovered.sqlite; never start an empty store under the same device id "
                 "(the central side would take its new events for duplicates)")


def _backlog(ctx: Context, last: int, acked: int, oldest_ms: int | None) -> Result:
    name = "sync backlog"
    d = ctx.device
    agent = ""
    st_path = Path(d.data_dir) / "sync-status.json"
    try:
        doc = json.loads(st_path.read_text(encoding="utf-8"))
        age = ctx.sources.now() - st_path.stat().st_mtime
        agent = (f"; sync agent {'connected' if doc.get('connected') else 'NOT connected'} "
                 f"({_age(age)} ago)")
    except (OSError, ValueError, AttributeError):
        agent = "; no report from the sync agent yet"
    backlog = last - acked
    if backlog <= 0:
        what = "no events yet" if last == 0 else f"all {last} events acknowledged by the central side"
        return Result(name, OK, what + agent)
    age_s = ctx.sources.now() - oldest_ms / 1000 if oldest_ms else 0.0
    detail = f"{backlog} events not yet acknowledged, the oldest from {_age(age_s)} ago{agent}"
    hint = ("is the sync agent running (systemctl status palvelupiste-sync; journalctl -u palvelupiste-sync)? "
            "the central broker reachable (see above)? nothing is lost: the events wait in the store")
    if age_s > BACKLOG_FAIL_S:
        return Result(name, FAIL, detail, hint)
    if age_s > BACKLOG_WARN_S:
        return Result(name, WARN, detail, hint)
    return Result(name, OK, detail)


def _broker_check(ctx: Context, which: str) -> Result:
    name = f"{which} broker"
    d = ctx.device
    if d is None:
        return Result(name, SKIP, "no valid device configuration")
    b = d.site_broker if which == "site" else d.central_broker
    if b is None:
        return Result(name, FAIL, f"no [{which}_broker] in the device configuration",
                      "run palvelupiste provision again with --site-broker and --central-broker")
    try:
        password = b.password()
    except OSError as exc:
        return Result(name, FAIL, f"password file {b.password_file}: {exc.strerror or exc}",
                      "run palvelupiste provision again (it writes the password files; run the doctor as root "
                      "or as the service user to read them)")
    if b.username and password is None:
        return Result(name, FAIL, f"user {b.username!r} has no password_file", "run palvelupiste provision again")
    cid = f"{b.username or d.id}-doctor-{os.getpid()}"
    r = ctx.sources.mqtt_probe(b, b.username, password, cid, ctx.timeout)
    if r.outcome == "ok":
        who = f" as {b.username!r}" if b.username else " without a user name"
        return Result(name, OK, f"{r.detail}{who}" + (f" in {r.ms} ms" if r.ms is not None else ""))
    if r.outcome == "auth":
        if which == "site":
            hint = (f"the hub's Mosquitto has another password for {b.username!r}: copy the hub's "
                    f"/etc/palvelupiste/site-credentials/{d.id}.password to {b.password_file} (or this file to the "
                    "hub) and run palvelupiste provision on the hub again; the device must be in the site's "
                    "[[devices]]")
        else:
            hint = (f"the central broker does not know this password for {b.username!r}: send "
                    "/etc/palvelupiste/central-broker.entry (a hash, safe to send) to the central administrators")
        return Result(name, FAIL, f"password refused: {r.detail}", hint)
    if r.outcome == "tls":
        return Result(name, FAIL, r.detail, "check ca_file in the device configuration and the clock "
                                            "(certificates are valid only at the right date)")
    if which == "site":
        hint = ("is the hub on and its broker running (on the hub: systemctl status mosquitto)? same network? "
                "the URL in [site_broker]? without the hub the kiosk cannot hand out numbers")
    else:
        hint = ("the internet connection, DNS and the firewall (outgoing port "
                f"{b.port}); the site keeps working offline and the events wait in the store")
    return Result(name, FAIL, r.detail, hint)


def check_services(ctx: Context) -> Result:
    name = "services"
    d = ctx.device
    if d is None:
        return Result(name, SKIP, "no valid device configuration")
    names = U.units_for(d.role) + ([U.MOSQUITTO_UNIT] if d.role == "hub" else [])
    states = None if ctx.root is not None else ctx.sources.unit_states(names)
    if states is None:
        base = ctx.root or Path("/")
        missing = [n for n in names[:2] if not (base / U.UNIT_DIR.lstrip("/") / n).is_file()]
        off = [n for n in names[:2] if n not in missing and
               not (base / U.UNIT_DIR.lstrip("/") / f"{U.WANTS_TARGET}.wants" / n).is_symlink()]
        if missing or off:
            return Result(name, FAIL, "; ".join([*(f"{n} not installed" for n in missing),
                                                 *(f"{n} not enabled" for n in off)]),
                          "run palvelupiste provision again (it installs and enables the units)")
        return Result(name, OK, f"{', '.join(names[:2])} installed and enabled (systemd is not running here, "
                                "so not started)")
    bad = []
    for n, s in states.items():
        if s.get("ActiveState") != "active":
            bad.append(f"{n} {s.get('ActiveState', '?')} ({s.get('Result', '?')})")
    restarts = {n: s.get("NRestarts", "0") for n, s in states.items() if s.get("NRestarts", "0") not in ("0", "")}
    detail = "all active" if not bad else "; ".join(bad)
    if restarts:
        detail += "; restarted: " + ", ".join(f"{n} ×{c}" for n, c in restarts.items())
    if bad:
        first = bad[0].split()[0]
        return Result(name, FAIL, detail, f"journalctl -b -u {first} shows why; systemctl reset-failed {first} && "
                                          f"systemctl start {first} tries again")
    return Result(name, WARN if restarts else OK, detail,
                  "restarts mean crashes or a frozen UI (watchdog): journalctl -b -u UNIT" if restarts else "")


def check_hub_broker_files(ctx: Context) -> Result:
    name = "site broker files"
    d, site = ctx.device, ctx.site
    if d is None or site is None:
        return Result(name, SKIP, "no valid configuration")
    base = ctx.root or Path("/")
    conf, pw, acl = (base / p.lstrip("/") for p in (U.MOSQUITTO_CONF, U.MOSQUITTO_PASSWD, U.MOSQUITTO_ACL))
    hint = "run palvelupiste provision --role hub again (it writes the site broker's configuration)"
    try:
        users = {line.split(":", 1)[0] for line in pw.read_text().splitlines() if ":" in line}
        acl_text = acl.read_text()
        conf.read_text()
    except OSError as exc:
        return Result(name, FAIL, f"{exc.filename}: {exc.strerror}", hint)
    missing = [dev for dev in sorted(site.devices) if dev not in users]
    no_acl = [dev for dev in sorted(site.devices) if f"user {dev}\n" not in acl_text]
    if missing or no_acl:
        return Result(name, FAIL, "; ".join(filter(None, [
            f"no password entry for {', '.join(missing)}" if missing else "",
            f"no ACL for {', '.join(no_acl)}" if no_acl else ""])), hint)
    return Result(name, OK, f"{U.MOSQUITTO_CONF}: {len(users)} devices with password and ACL")


def check_printer(ctx: Context) -> Result:
    name = "printer"
    d = ctx.device
    if d is None:
        return Result(name, SKIP, "no valid device configuration")
    sec = d.section("printer")
    url = sec.get("url")
    if not url:
        return Result(name, WARN, "no [printer] configured: tickets are shown on screen only",
                      "palvelupiste provision --printer URL (e.g. serial:/dev/ttyUSB0?baudrate=19200)")
    if ctx.root is not None:
        return Result(name, SKIP, f"{url}: the printer hangs on the device, not checked with --root")
    reported = ""
    states = ctx.sources.unit_states([U.ROLE_UNITS["kiosk"]])
    running = bool(states) and states.get(U.ROLE_UNITS["kiosk"], {}).get("ActiveState") == "active"
    status = None
    if running:
        # The kiosk app holds the port and keeps <data_dir>/printer-status.json current: asking the
        # printer as well would mix our answers with its own polls.
        try:
            status = json.loads((Path(d.data_dir) / "printer-status.json").read_text())["status"]
            reported = " (as the running kiosk app reports it)"
        except (OSError, ValueError, KeyError, TypeError):
            status = None
    if status is None:
        try:
            status = ctx.sources.printer_status(url, sec)
        except ValueError as exc:
            return Result(name, FAIL, f"{url}: {exc}", "fix [printer] url in the device configuration")
        except Exception as exc:  # a driver error is a finding, not a crash of the doctor
            status, reported = "disconnected", f" ({type(exc).__name__}: {exc})"
    text, st, hint = _PRINTER.get(status, (status, FAIL, "see the printer's manual"))
    return Result(name, st, f"{url}: {text}{reported}", hint)


_PRINTER = {
    "ok": ("online, paper ok", OK, ""),
    "paper_near_end": ("paper near end", WARN, "put a new roll in soon"),
    "unchecked": ("status queries are off (status=off): printing blind", WARN,
                  "use a printer with a back channel to notice paper out"),
    "paper_out": ("PAPER OUT", FAIL,
                  "open the cover, put in a new roll the way the label inside the printer shows, close the cover"),
    "cover_open": ("COVER OPEN", FAIL, "close the printer's cover until it clicks"),
    "error": ("printer error (cutter jam, head too hot or a mechanical fault)", FAIL,
              "open the cover, remove jammed paper, close; switch the printer off and on"),
    "offline": ("offline", FAIL, "the printer's power and its feed button; switch it off and on"),
    "no_answer": ("NO ANSWER to status queries", FAIL,
                  "the printer's power, the cable, the baud rate in the URL (the printer's self-test page shows it)"),
    "disconnected": ("cannot open the connection", FAIL,
                     "the cable and the device path in the URL (ls -l /dev/serial/by-id/); the kiosk's user "
                     "needs the dialout (serial) or lp (usb lp) group"),
}


def check_touch(ctx: Context, required: bool = True) -> Result:
    name = "touch screen"
    if ctx.root is not None:
        return Result(name, SKIP, "input devices are the device's, not checked with --root")
    d = ctx.device
    devs = ctx.sources.input_devices()
    want = None
    if d is not None and d.role == "kiosk":
        setting = d.section("kiosk").get("input", "")
        if isinstance(setting, str) and ":" in setting:
            want = setting.split(":", 1)[1]
    fail = FAIL if required else WARN
    hint = ("plug in the touch panel's USB cable (an HDMI screen carries touch over USB) and check "
            "ls /dev/input/by-id/; the app's user needs the input group")
    if devs is None:
        return Result(name, fail, "no input devices at all (/proc/bus/input/devices is missing)", hint)
    touch = [x for x in devs if x.touch]
    if want:
        hit = next((x for x in devs if x.path == want or Path(want).resolve() == Path(x.path)), None)
        if hit is None:
            return Result(name, fail, f"the configured touch device {want} is not present", hint)
        if not hit.touch:
            return Result(name, fail, f"{want} ({hit.name}) is not a touch device",
                          "set [kiosk] input to the touch screen's device")
        return Result(name, OK, f"{hit.name} at {hit.path}")
    if not touch:
        return Result(name, fail, f"no touch device among {len(devs)} input devices", hint)
    return Result(name, OK, "; ".join(f"{x.name} at {x.path}" for x in touch))


def check_buttons(ctx: Context) -> Result | None:
    """The feedback terminal's physical buttons, if it has any configured (None: none configured)."""
    name = "buttons"
    d = ctx.device
    sec = d.section("feedback").get("buttons") if d is not None else None
    if not isinstance(sec, dict):
        return None
    if ctx.root is not None:
        return Result(name, SKIP, "input devices are the device's, not checked with --root")
    try:
        from feedback_terminal.buttons import ButtonConfig

        cfg = ButtonConfig.from_dict(sec)
    except ImportError as exc:
        return Result(name, SKIP, f"cannot check: {exc}")
    except ValueError as exc:
        return Result(name, FAIL, str(exc), "fix [feedback.buttons] in the device configuration")
    try:
        source = ctx.sources.button_source(cfg)
        dev, label = source.open()
        try:
            dev.close()
        except OSError:
            pass
    except (OSError, LookupError) as exc:
        return Result(name, FAIL, f"button box not found: {exc}",
                      "check the button box's USB cable and ls -l /dev/input/by-id/; device_path or device_name in "
                      "[feedback.buttons]; the app's user needs the input group")
    return Result(name, OK, label)


def check_screen(ctx: Context) -> Result:
    name = "screen"
    if ctx.root is not None:
        return Result(name, SKIP, "the screen is the device's, not checked with --root")
    found = ctx.sources.screens()
    if found is None:
        return Result(name, WARN, "unknown (no /sys/class/drm connectors and no X display to ask)",
                      "look at the screen; on a Pi: ls /sys/class/drm")
    on = [s for s in found if s.connected]
    if not on:
        return Result(name, FAIL, "no screen connected (" + ", ".join(f"{s.connector}: disconnected" for s in found)
                      + ")", "the HDMI cable and the screen's power and input; on a Pi 4/5 use the HDMI port next "
                             "to the power socket (HDMI 0)")
    parts = [f"{s.connector} {s.mode or 'mode unknown'}" for s in on]
    small = [s for s in on if s.mode and _small(s.mode)]
    if small:
        return Result(name, WARN, "; ".join(parts) + f" (smaller than {MIN_SCREEN[0]}x{MIN_SCREEN[1]})",
                      "large type needs a large screen: check the screen's native resolution")
    return Result(name, OK, "; ".join(parts))


def _small(mode: str) -> bool:
    m = re.match(r"(\d+)x(\d+)", mode)
    if not m:
        return False
    w, h = sorted((int(m[1]), int(m[2])), reverse=True)
    return w < MIN_SCREEN[0] or h < MIN_SCREEN[1]


def check_blanking(ctx: Context) -> Result:
    name = "screen blanking"
    if ctx.root is not None:
        return Result(name, SKIP, "kernel settings are the device's, not checked with --root")
    v = ctx.sources.consoleblank()
    if v is None:
        return Result(name, SKIP, "unknown (/sys/module/kernel/parameters/consoleblank not readable)")
    if v == 0:
        return Result(name, OK, "the console never blanks (consoleblank=0)")
    return Result(name, WARN, f"the console blanks the screen after {v} s without keyboard input",
                  "add consoleblank=0 to the kernel command line (/boot/firmware/cmdline.txt) and reboot")


# --- running ---------------------------------------------------------------------------------------

@dataclass
class Report:
    config: str
    results: list[Result]
    device: str | None = None
    role: str | None = None
    site: str | None = None
    version: str = ""

    @property
    def worst(self) -> str:
        return max((r.status for r in self.results), key=lambda s: _RANK[s], default=OK)

    @property
    def exit_code(self) -> int:
        return EXIT_FAIL if any(r.status == FAIL for r in self.results) else EXIT_OK

    def counts(self) -> dict[str, int]:
        out = {OK: 0, WARN: 0, FAIL: 0, SKIP: 0}
        for r in self.results:
            out[r.status] += 1
        return out

    def as_dict(self) -> dict[str, Any]:
        return {"config": self.config, "device": self.device, "role": self.role, "site": self.site,
                "version": self.version, "result": self.worst, "exit_code": self.exit_code,
                "counts": self.counts(), "checks": [r.as_dict() for r in self.results]}


def _guarded(name: str | tuple[str, ...], fn: Callable[[], Any]) -> Any:
    """Run one check; an exception becomes that check's FAIL instead of ending the doctor."""
    try:
        return fn()
    except PermissionError as exc:
        r = Result(name if isinstance(name, str) else name[0], FAIL,
                   f"permission denied: {exc.filename or exc}",
                   "run the doctor as root: sudo palvelupiste doctor")
    except Exception as exc:  # noqa: BLE001 — a finding to show, never a crash of the self-test
        r = Result(name if isinstance(name, str) else name[0], FAIL, f"the check itself failed: "
                   f"{type(exc).__name__}: {exc}", "report this with the doctor's output")
    if isinstance(name, tuple):
        return [r, *(Result(n, SKIP, f"{name[0]} could not be checked") for n in name[1:])]
    return r


def run_checks(config_path: str, sources: Sources | None = None, *, root: str | Path | None = None,
               timeout: float = 3.0) -> Report:
    from runtime.status import software_version

    ctx = Context(str(config_path), sources or Sources(), Path(root).absolute() if root else None, timeout)
    res = ctx.results
    res.append(_guarded("configuration", lambda: check_config(ctx)))
    d = ctx.device
    res.append(_guarded("clock", lambda: check_clock(ctx)) if ctx.root is None else
               Result("clock", SKIP, "the clock is the device's, not checked with --root"))
    res.append(_guarded("disk", lambda: check_disk(ctx)))
    res.extend(_guarded(("event store", "sync backlog"), lambda: check_store(ctx)))
    # the two brokers at the same time: a dead network costs one timeout, not two
    out: dict[str, Result] = {}
    threads = [threading.Thread(target=lambda w=w: out.__setitem__(
        w, _guarded(f"{w} broker", lambda: _broker_check(ctx, w))), daemon=True) for w in ("site", "central")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(ctx.timeout * 3 + 5)
    for w in ("site", "central"):
        res.append(out.get(w) or Result(f"{w} broker", FAIL, "the check did not finish", ""))
    res.append(_guarded("services", lambda: check_services(ctx)))
    if d is not None:
        if d.role == "hub":
            res.append(_guarded("site broker files", lambda: check_hub_broker_files(ctx)))
        if d.role == "kiosk":
            res.append(_guarded("printer", lambda: check_printer(ctx)))
            res.append(_guarded("touch screen", lambda: check_touch(ctx)))
        if d.role == "feedback":
            b = _guarded("buttons", lambda: check_buttons(ctx))
            if b is not None:
                res.append(b)
            res.append(_guarded("touch screen", lambda: check_touch(ctx, required=b is None)))
        if d.role in U.SCREEN_ROLES:
            res.append(_guarded("screen", lambda: check_screen(ctx)))
        if d.role in ("kiosk", "display", "feedback"):
            res.append(_guarded("screen blanking", lambda: check_blanking(ctx)))
    return Report(str(config_path), res, d.id if d else None, d.role if d else None, d.site if d else None,
                  software_version())


def print_table(report: Report, out: TextIO | None = None) -> None:
    out = out or sys.stdout
    who = f"{report.device} ({report.role}) of site {report.site}" if report.device else report.config
    print(f"palvelupiste doctor — {who}, version {report.version}", file=out)
    w = max([len(r.check) for r in report.results] + [5])
    print(f"{'CHECK':<{w}}  STATUS  DETAIL", file=out)
    for r in report.results:
        print(f"{r.check:<{w}}  {r.status:<6}  {r.detail}", file=out)
        if r.hint and r.status in (FAIL, WARN):
            print(f"{'':<{w}}  {'':<6}  fix: {r.hint}", file=out)
    c = report.counts()
    print(f"result: {report.worst} — {c[FAIL]} failed, {c[WARN]} warnings, {c[OK]} ok, {c[SKIP]} skipped "
          f"(exit {report.exit_code})", file=out)


def main(config: str, *, as_json: bool = False, root: str | None = None, timeout: float = 3.0,
         sources: Sources | None = None, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    report = run_checks(config, sources, root=root, timeout=timeout)
    if as_json:
        json.dump(report.as_dict(), out, ensure_ascii=False, indent=1)
        out.write("\n")
    else:
        print_table(report, out)
    return report.exit_code
