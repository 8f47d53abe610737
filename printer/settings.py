"""The [printer] section of a kiosk's device configuration, declared once (core.schema):

    [printer]
    url = "serial:/dev/ttyUSB0?baudrate=19200"   # or usb:VID:PID, tcp:host:port, file:/dev/usb/lp0
    profile = "TM-T88V"                          # python-escpos printer profile (optional)
    columns = 42                                 # characters per line (optional)

Without [printer] the kiosk works without paper: every ticket is shown on screen only.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from core.schema import REQUIRED, Field, Int, Number, Section, Text, load


@dataclass(frozen=True)
class PrinterConfig:
    url: str | None
    profile: str | None = None
    columns: int | None = None
    status_timeout: float = 0.5


def _url_problem(url: str) -> str | None:
    # Imported here: the connection module pulls in python-escpos, which only the check needs.
    from .connection import parse_connection_url

    try:
        parse_connection_url(url)
    except ValueError as exc:
        return str(exc)
    return None


PRINTER = Section("printer", (
    Field("url", Text(nonempty=True, test=_url_problem, label="a printer connection URL"), REQUIRED,
          "serial:/dev/ttyUSB0?baudrate=19200, usb:VID:PID, tcp:host:port or file:/dev/usb/lp0",
          missing='missing: e.g. "serial:/dev/ttyUSB0?baudrate=19200"', example="serial:/dev/ttyUSB0?baudrate=19200"),
    Field("profile", Text(message="must be a python-escpos profile name", label="a profile name"), None,
          "the python-escpos printer profile", example="TM-T88V"),
    Field("columns", Int(24, 80), None, "characters per line (default: the profile's)", example=42),
    Field("status_timeout", Number(0.05, 5, unit="seconds"), 0.5, "how long to wait for the printer's status answer"),
), make=lambda v: PrinterConfig(**v), description="the kiosk's ticket printer (without it: tickets on screen only)")


def printer_config(section: dict[str, Any], source: str = "[printer]") -> PrinterConfig:
    if not section:
        return PrinterConfig(None)
    return load(PRINTER, section, source)
