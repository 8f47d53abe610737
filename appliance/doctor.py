"""`palvelupiste doctor`: is this device fit to serve? One table, a fix hint for each problem.

Checks, for the device's role (appliance.roles says which apply; each lives beside what it checks):

    configuration   device and site configuration valid, the device listed in the site with its role,
                    the role's own sections ([kiosk], [printer], [display], [counter], [feedback]) valid
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

On the central host (a central.toml: appliance/central_checks.py) the checks are its own: the
configuration, the clock, PostgreSQL migrated to the newest version, the broker's TLS listener and
the services' listener, the TLS certificate's expiry and the units (mosquitto, the database set-up,
every ingest worker).

Statuses: OK, WARN (works, look at it soon), FAIL (something is wrong), SKIP (cannot be judged
here, e.g. after a failure it depends on, or with --root). Exit code: 1 when any check FAILs,
0 otherwise — a warning alone exits 0, so that scripts and monitoring stop only on real faults.

Everything a check asks the machine goes through `Sources`, which tests (and the kiosk's
technician screen, which already holds the printer) replace piece by piece.
"""
from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import feedback_terminal.checks
import printer.checks
import sync.checks
import uikit.checks
from runtime.checks import FAIL, OK, SKIP, WARN, Check, Context, Result

from . import central_checks
from . import checks as device_checks
from .roles import CENTRAL, COMMON_CHECKS, ROLES

_RANK = {OK: 0, SKIP: 0, WARN: 1, FAIL: 2}
EXIT_OK, EXIT_FAIL = 0, 1


@dataclass
class Sources:
    """Everything the checks ask the machine. Replace any field to test or to reuse what an app has."""
    now: Callable[[], float] = time.time
    clock: Callable[[], device_checks.ClockInfo] = device_checks.clock_status
    disk_usage: Callable[[str], tuple[int, int]] = device_checks.disk_usage
    mqtt_probe: Callable[..., sync.checks.ProbeResult] = sync.checks.mqtt_probe
    printer_status: Callable[[str, dict], str] = printer.checks.printer_status
    input_devices: Callable[[], list[uikit.checks.InputDev] | None] = uikit.checks.input_devices
    button_source: Callable[[Any], Any] = feedback_terminal.checks.button_source
    screens: Callable[[], list[uikit.checks.Screen] | None] = uikit.checks.screens
    consoleblank: Callable[[], int | None] = uikit.checks.consoleblank
    unit_states: Callable[[list[str]], dict | None] = device_checks.unit_states
    db_probe: Callable[[str, float], central_checks.DbInfo] = central_checks.db_probe


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


def _guarded(check: Check, ctx: Context) -> Result | None:
    """Run one check; an exception becomes that check's FAIL instead of ending the doctor."""
    try:
        return check.run(ctx)
    except PermissionError as exc:
        return Result(check.name, FAIL, f"permission denied: {exc.filename or exc}",
                      "run the doctor as root: sudo palvelupiste doctor")
    except Exception as exc:  # noqa: BLE001 — a finding to show, never a crash of the self-test
        return Result(check.name, FAIL, f"the check itself failed: {type(exc).__name__}: {exc}",
                      "report this with the doctor's output")


def _run_together(checks: list[Check], ctx: Context) -> list[Result | None]:
    """Checks that wait on the network, at the same time, each bounded by the timeout."""
    out: dict[int, Result | None] = {}
    threads = [threading.Thread(target=lambda i=i, c=c: out.__setitem__(i, _guarded(c, ctx)), daemon=True)
               for i, c in enumerate(checks)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(ctx.timeout * 3 + 5)
    return [out[i] if i in out else Result(c.name, FAIL, "the check did not finish", "")
            for i, c in enumerate(checks)]


def is_central_config(path: str | Path) -> bool:
    """Whether `path` is a central host's configuration (central.toml) rather than a device's."""
    from central.settings import looks_central
    from core.config import ConfigError, read_toml

    try:
        return looks_central(read_toml(path))
    except ConfigError:
        return False


def _run_in_order(checks: list[Check], ctx: Context) -> None:
    i = 0
    while i < len(checks):
        batch = [checks[i]]
        while checks[i].network and i + len(batch) < len(checks) and checks[i + len(batch)].network:
            batch.append(checks[i + len(batch)])
        found = _run_together(batch, ctx) if len(batch) > 1 else [_guarded(batch[0], ctx)]
        ctx.results.extend(r for r in found if r is not None)
        i += len(batch)


def run_central_checks(config_path: str, sources: Sources | None = None, *, root: str | Path | None = None,
                       timeout: float = 3.0) -> Report:
    """The central host's checks (appliance.roles.CENTRAL)."""
    from runtime.status import software_version

    ctx = central_checks.CentralContext(str(config_path), sources or Sources(),
                                        Path(root).absolute() if root else None, timeout)
    _run_in_order(list(CENTRAL.checks), ctx)
    return Report(str(config_path), ctx.results, None, CENTRAL.name, None, software_version())


def run_checks(config_path: str, sources: Sources | None = None, *, root: str | Path | None = None,
               timeout: float = 3.0) -> Report:
    from runtime.status import software_version

    if is_central_config(config_path):
        return run_central_checks(config_path, sources, root=root, timeout=timeout)
    ctx = Context(str(config_path), sources or Sources(), Path(root).absolute() if root else None, timeout)
    first, rest = COMMON_CHECKS[0], COMMON_CHECKS[1:]
    # the configuration says which role, and so which checks, this device has
    ctx.results.append(_guarded(first, ctx) or Result(first.name, SKIP, "nothing to check"))
    d = ctx.device
    role = ROLES.get(d.role) if d is not None else None
    checks = list(role.all_checks[1:] if role else rest)
    if role is not None:
        ctx.units, ctx.needed_units = role.unit_names, role.needed_units
    _run_in_order(checks, ctx)
    return Report(str(config_path), ctx.results, d.id if d else None, d.role if d else None, d.site if d else None,
                  software_version())


def print_table(report: Report, out: TextIO | None = None) -> None:
    out = out or sys.stdout
    who = f"{report.device} ({report.role}) of site {report.site}" if report.device else \
        (f"central host ({report.config})" if report.role == CENTRAL.name else report.config)
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
