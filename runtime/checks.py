"""The vocabulary of `palvelupiste doctor`'s checks, low in the stack so that each check can live
beside what it checks (printer/checks.py, sync/checks.py, ...) and the doctor (appliance/) can
gather them from the role registry.

A check is a function `Context -> Result | None` (None: nothing to judge on this device, e.g. no
button box configured). Everything a check asks the machine goes through `ctx.sources`, an object
with one substitutable function per question (appliance.doctor.Sources), so that tests and a
running app that already holds a device can answer in its place.

Check modules import neither Kivy nor anything slow at module level: the doctor runs on a broken
device and must answer fast.
"""
from __future__ import annotations

import dataclasses
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.config import Device, Site

OK, WARN, FAIL, SKIP = "OK", "WARN", "FAIL", "SKIP"


@dataclass(frozen=True)
class Result:
    check: str
    status: str
    detail: str
    hint: str = ""

    def as_dict(self) -> dict[str, str]:
        return dataclasses.asdict(self)


@dataclass
class Context:
    """What the checks share: the configuration as read so far, the machine's sources, --root, and
    the results before this one (a check may depend on an earlier one)."""
    config_path: str
    sources: Any
    root: Path | None = None
    timeout: float = 3.0
    device: Device | None = None
    site: Site | None = None
    units: tuple[str, ...] = ()          # the systemd units this role installs, its app's unit first
    needed_units: tuple[str, ...] = ()   # services the role needs that other packages install
    results: list[Result] = field(default_factory=list)

    def path(self, p: str | None) -> str | None:
        """A path of the device configuration as seen from here (inside --root)."""
        if p is None or self.root is None or not p.startswith("/"):
            return p
        return str(self.root / p.lstrip("/"))

    def result(self, name: str) -> Result | None:
        return next((r for r in self.results if r.check == name), None)


@dataclass(frozen=True)
class Check:
    name: str
    run: Callable[[Context], Result | None]
    #: waits on the network (a broker): such checks next to each other run at the same time, so
    #: that a dead network costs one timeout, not one per check
    network: bool = False


def age(seconds: float) -> str:
    """A duration as a technician reads it: 45 s, 12 min, 3 h 5 min, 4 days."""
    s = int(max(0, seconds))
    if s < 120:
        return f"{s} s"
    if s < 7200:
        return f"{s // 60} min"
    if s < 172800:
        return f"{s // 3600} h {s % 3600 // 60} min"
    return f"{s // 86400} days"


def ask(argv: list[str], timeout: float = 3.0) -> str | None:
    """The standard output of a command that answers a question about the machine; None when the
    command is not installed, fails or does not answer in time (the check then says "unknown")."""
    if shutil.which(argv[0]) is None:
        return None
    try:
        r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return r.stdout if r.returncode == 0 else None
