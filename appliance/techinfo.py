"""What the hidden technician gesture on the kiosk and the display shows: who this device is, where it
can be reached, and the doctor's verdict — as plain data, so any app can lay it out.

    info = techinfo.collect(config_path, device=app_device)      # slow (broker probes): a worker thread
    label.text = "\\n".join(techinfo.lines(info))                 # then on the UI thread

`collect()` runs the doctor (appliance.doctor.run_checks) unless `run_doctor=False`. An app that
already holds the printer passes its own reading so the doctor does not open the port a second time:

    collect(path, sources=doctor.Sources(printer_status=lambda url, sec: worker.status))

No personal data is shown (there is none on the device). The gesture itself (e.g. five taps in a
corner within three seconds) is the app's; nothing here knows about Kivy.
"""
from __future__ import annotations

import fcntl
import socket
import struct
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from core.config import ConfigError, Device, load_device

from .doctor import FAIL, WARN, Report, Sources, run_checks


@dataclass(frozen=True)
class Address:
    interface: str
    address: str
    family: str  # "ipv4" | "ipv6"


@dataclass(frozen=True)
class TechInfo:
    device: str
    role: str
    site: str
    version: str
    hostname: str
    addresses: tuple[Address, ...]
    config_path: str
    data_dir: str
    collected_at: float
    doctor_result: str | None = None          # OK / WARN / FAIL, None when not run
    doctor_counts: dict[str, int] = field(default_factory=dict)
    problems: tuple[tuple[str, str, str, str], ...] = ()   # (check, status, detail, hint) of WARN/FAIL
    doctor: dict[str, Any] | None = None      # the whole report (Report.as_dict())

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def ipv4_addresses() -> list[Address]:
    out = []
    for _index, name in socket.if_nameindex():
        if name == "lo":
            continue
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                req = struct.pack("256s", name.encode()[:15])
                res = fcntl.ioctl(s.fileno(), 0x8915, req)  # SIOCGIFADDR
            out.append(Address(name, socket.inet_ntoa(res[20:24]), "ipv4"))
        except OSError:
            continue  # no IPv4 address on this interface
    return out


def ipv6_addresses(proc: str = "/proc/net/if_inet6") -> list[Address]:
    out = []
    try:
        lines = Path(proc).read_text().splitlines()
    except OSError:
        return out
    for line in lines:
        parts = line.split()
        if len(parts) < 6 or parts[5] == "lo":
            continue
        raw = bytes.fromhex(parts[0])
        addr = socket.inet_ntop(socket.AF_INET6, raw)
        scope = int(parts[3], 16)
        if scope == 0x20:  # link-local: say which interface, as `ping6` needs it
            addr += f"%{parts[5]}"
        out.append(Address(parts[5], addr, "ipv6"))
    return out


def addresses() -> list[Address]:
    return ipv4_addresses() + ipv6_addresses()


def collect(config_path: str | Path, *, device: Device | None = None, run_doctor: bool = True,
            sources: Sources | None = None, timeout: float = 2.0) -> TechInfo:
    """Everything the technician screen shows. Blocks for up to a few seconds (broker probes)."""
    from runtime.status import software_version

    config_path = str(config_path)
    if device is None:
        try:
            device = load_device(config_path)
        except ConfigError:
            device = None
    report: Report | None = run_checks(config_path, sources, timeout=timeout) if run_doctor else None
    problems = tuple((r.check, r.status, r.detail, r.hint) for r in (report.results if report else [])
                     if r.status in (FAIL, WARN))
    return TechInfo(
        device=device.id if device else "?", role=device.role if device else "?",
        site=device.site if device else "?", version=software_version(), hostname=socket.gethostname(),
        addresses=tuple(addresses()), config_path=config_path, data_dir=device.data_dir if device else "?",
        collected_at=time.time(),
        doctor_result=report.worst if report else None, doctor_counts=report.counts() if report else {},
        problems=problems, doctor=report.as_dict() if report else None)


def lines(info: TechInfo) -> list[str]:
    """The screen's text, one line each (English: the technician's screen is not for customers)."""
    out = [f"Device {info.device} — {info.role} — site {info.site}",
           f"palvelupiste {info.version} on {info.hostname}"]
    ips = [a.address for a in info.addresses]
    out.append("Addresses: " + (", ".join(ips) if ips else "none (no network)"))
    out.append(f"Configuration: {info.config_path}   data: {info.data_dir}")
    if info.doctor_result is None:
        out.append("Self-test: not run")
    else:
        c = info.doctor_counts
        out.append(f"Self-test: {info.doctor_result} — {c.get('FAIL', 0)} failed, {c.get('WARN', 0)} warnings, "
                   f"{c.get('OK', 0)} ok")
        for check, status, detail, hint in info.problems:
            out.append(f"  {status} {check}: {detail}")
            if hint:
                out.append(f"       fix: {hint}")
    out.append(time.strftime("Checked %Y-%m-%d %H:%M:%S", time.localtime(info.collected_at)))
    return out
