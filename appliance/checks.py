"""The doctor's checks of any device, whatever its role: configuration, clock, disk, event store,
and the role's systemd units. The role's own checks live beside what they check (printer/,
kiosk/, feedback_terminal/, uikit/, sync/, hub/ checks.py); appliance.roles says which apply.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import dataclasses
import datetime as _dt
import os
import re
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from core.config import Broker, ConfigError, Device, load_device, load_site, read_toml
from runtime.checks import FAIL, OK, SKIP, WARN, Check, Context, Result, ask
from sync.checks import open_store_ro

from . import units as U

DISK_WARN_BYTES = 1 << 30          # 1 GiB
DISK_FAIL_BYTES = 100 << 20        # 100 MiB
#: a clock before this date is wrong, whatever any source says (the Pi has no RTC: 1970 or the
#: last shutdown's time until NTP answers)
CLOCK_FLOOR = _dt.datetime(2025, 1, 1, tzinfo=_dt.timezone.utc)


# --- configuration ---------------------------------------------------------------------------------

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
    """Reads the device and site configuration into `ctx` (every later check needs them)."""
    # looked up when run: the sections' schemas import every app's settings (evdev's key names for
    # the feedback buttons among them), and importing the doctor must stay cheap on a broken device
    from .sections import check_device_doc

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
    # every section the file has, as `palvelupiste check-config --device` checks it (its schema, its
    # role, the site's parts it names); the site file is the one read above (inside --root too)
    doc = read_toml(ctx.config_path)
    doc["device"] = {**doc["device"], "site_config": d.site_config}
    problems = check_device_doc(doc, ctx.config_path, base=Path(ctx.config_path).parent).issues
    if problems:
        return Result(name, FAIL, f"{d.role} settings: {_issues(ConfigError(ctx.config_path, problems))}",
                      "fix the named field in the device configuration "
                      "(palvelupiste check-config --device FILE lists every problem)")
    return Result(name, OK, f"device {d.id} ({d.role}) of site {d.site}: {len(site.services)} services, "
                            f"{len(site.counters)} counters, {len(site.devices)} devices")


# --- clock -----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ClockInfo:
    synchronized: bool | None  # None: cannot be told here
    source: str
    detail: str = ""


class _Timex(ctypes.Structure):
    _fields_ = [("modes", ctypes.c_uint), ("offset", ctypes.c_long), ("freq", ctypes.c_long),
                ("maxerror", ctypes.c_long), ("esterror", ctypes.c_long), ("status", ctypes.c_int),
                ("constant", ctypes.c_long), ("precision", ctypes.c_long), ("tolerance", ctypes.c_long),
                ("time_sec", ctypes.c_long), ("time_usec", ctypes.c_long), ("tick", ctypes.c_long),
                ("ppsfreq", ctypes.c_long), ("jitter", ctypes.c_long), ("shift", ctypes.c_int),
                ("stabil", ctypes.c_long), ("jitcnt", ctypes.c_long), ("calcnt", ctypes.c_long),
                ("errcnt", ctypes.c_long), ("stbcnt", ctypes.c_long), ("tai", ctypes.c_int),
                ("_pad", ctypes.c_int * 11)]


def clock_status() -> ClockInfo:
    """Ask, in order: systemd-timesyncd's flag file, timedatectl, chronyc, the kernel (adjtimex)."""
    if Path("/run/systemd/timesync/synchronized").exists():
        return ClockInfo(True, "systemd-timesyncd")
    if Path("/run/systemd/system").is_dir():
        out = ask(["timedatectl", "show", "-p", "NTPSynchronized", "--value"])
        if out and out.strip() in ("yes", "no"):
            return ClockInfo(out.strip() == "yes", "timedatectl")
    out = ask(["chronyc", "-n", "tracking"])
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


def check_clock(ctx: Context) -> Result:
    name = "clock"
    if ctx.root is not None:
        return Result(name, SKIP, "the clock is the device's, not checked with --root")
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


# --- disk ------------------------------------------------------------------------------------------

def disk_usage(path: str) -> tuple[int, int]:
    """(total, free for unprivileged writers) bytes of the file system holding `path`."""
    st = os.statvfs(path)
    return st.f_blocks * st.f_frsize, st.f_bavail * st.f_frsize


def _size(n: int) -> str:
    for unit, div in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= div:
            return f"{n / div:.1f} {unit}"
    return f"{n} B"


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


# --- event store -----------------------------------------------------------------------------------

_CORRUPT_HINT = ("stop the app and the sync agent, keep the file, and recover it: sqlite3 events.sqlite "
                 "'.recover' | sqlite3 recovered.sqlite; never start an empty store under the same device id "
                 "(the central side would take its new events for duplicates)")


def check_store(ctx: Context) -> Result:
    name = "event store"
    d = ctx.device
    if d is None:
        return Result(name, SKIP, "no valid device configuration")
    if not Path(d.store).is_file():
        return Result(name, FAIL, f"no event store at {d.store}", "run palvelupiste provision again: it creates the store")
    try:
        with open_store_ro(d.store) as conn:
            qc = "; ".join(r[0] for r in conn.execute("PRAGMA quick_check").fetchall())
            meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
            count = conn.execute("SELECT count(*) FROM events").fetchone()[0]
    except sqlite3.DatabaseError as exc:
        if "locked" in str(exc) or "busy" in str(exc):
            return Result(name, WARN, f"{d.store}: busy ({exc})", "run the doctor again in a moment")
        return Result(name, FAIL, f"{d.store}: cannot be read: {exc}", _CORRUPT_HINT)
    if qc != "ok":
        return Result(name, FAIL, f"{d.store}: integrity check failed: {qc[:200]}", _CORRUPT_HINT)
    if (meta.get("site"), meta.get("device")) != (d.site, d.id):
        return Result(name, FAIL, f"{d.store} belongs to site {meta.get('site')!r} device {meta.get('device')!r}",
                      "this store is another device's: move it away and provision this device again")
    return Result(name, OK, f"quick_check ok, {count} events kept, last sequence {int(meta.get('last_seq', 0))}")


# --- services --------------------------------------------------------------------------------------

def unit_states(names: list[str]) -> dict[str, dict[str, str]] | None:
    """systemctl's view of the units; None when systemd is not running here."""
    if not Path("/run/systemd/system").is_dir():
        return None
    out: dict[str, dict[str, str]] = {}
    for name in names:
        text = ask(["systemctl", "show", name, "-p", "ActiveState,SubState,UnitFileState,NRestarts,Result"])
        if text is None:
            return None
        out[name] = dict(line.split("=", 1) for line in text.splitlines() if "=" in line)
    return out


def check_services(ctx: Context) -> Result:
    name = "services"
    if ctx.device is None:
        return Result(name, SKIP, "no valid device configuration")
    names = [*ctx.units, *ctx.needed_units]
    states = None if ctx.root is not None else ctx.sources.unit_states(names)
    if states is None:
        # without systemd only what provisioning installs can be judged: files and enable links
        base = ctx.root or Path("/")
        units = base / U.UNIT_DIR.lstrip("/")
        missing = [n for n in ctx.units if not (units / n).is_file()]
        off = [n for n in ctx.units if n not in missing and not (units / f"{U.WANTS_TARGET}.wants" / n).is_symlink()]
        if missing or off:
            return Result(name, FAIL, "; ".join([*(f"{n} not installed" for n in missing),
                                                 *(f"{n} not enabled" for n in off)]),
                          "run palvelupiste provision again (it installs and enables the units)")
        return Result(name, OK, f"{', '.join(ctx.units)} installed and enabled (systemd is not running here, "
                                "so not started)")
    return judge_units(name, states, "all active", "restarts mean crashes or a frozen UI (watchdog)")


def judge_units(name: str, states: dict[str, dict[str, str]], fine: str, restart_meaning: str) -> Result:
    """The doctor's verdict on running units (systemctl show's ActiveState, Result, NRestarts):
    any not active fails, restarts warn; `fine` is the detail when all are active."""
    bad = [f"{n} {st.get('ActiveState', '?')} ({st.get('Result', '?')})" for n, st in states.items()
           if st.get("ActiveState") != "active"]
    restarts = {n: st.get("NRestarts", "0") for n, st in states.items() if st.get("NRestarts", "0") not in ("0", "")}
    detail = fine if not bad else "; ".join(bad)
    if restarts:
        detail += "; restarted: " + ", ".join(f"{n} ×{c}" for n, c in restarts.items())
    if bad:
        first = bad[0].split()[0]
        return Result(name, FAIL, detail, f"journalctl -b -u {first} shows why; systemctl reset-failed {first} && "
                                          f"systemctl start {first} tries again")
    return Result(name, WARN if restarts else OK, detail,
                  f"{restart_meaning}: journalctl -b -u UNIT" if restarts else "")


CONFIGURATION = Check("configuration", check_config)
CLOCK = Check("clock", check_clock)
DISK = Check("disk", check_disk)
STORE = Check("event store", check_store)
SERVICES = Check("services", check_services)
