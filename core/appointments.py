"""Appointment lists as a booking system exports them: code, service, time — no names.

A file is taken whole or refused whole, naming the line that is wrong. Columns that would
carry personal data are refused outright, so they never reach a device.
"""
from __future__ import annotations

import csv
import datetime as _dt
import io
import json
import re
from pathlib import Path
from typing import Any

from .config import Site
from .engine import Appointment

PERSONAL_COLUMNS = {"name", "first_name", "last_name", "surname", "nimi", "namn", "hetu", "ssn",
                    "personal_id", "henkilotunnus", "henkilötunnus", "phone", "puhelin", "email", "sahkoposti"}
#: An appointment code as a booking system gives it (and as the kiosk may send it to the hub).
CODE_RE = re.compile(r"[A-Za-z0-9-]{3,32}")


class AppointmentFileError(ValueError):
    def __init__(self, where: str, message: str) -> None:
        self.where = where
        super().__init__(f"{where}: {message}")


def _time(value: Any, tz: _dt.tzinfo, where: str) -> int:
    if not isinstance(value, str):
        raise AppointmentFileError(where, "time must be an ISO 8601 text like 2026-11-23T10:30")
    try:
        t = _dt.datetime.fromisoformat(value.strip())
    except ValueError:
        raise AppointmentFileError(where, f"time {value!r} is not ISO 8601 (2026-11-23T10:30)") from None
    if t.tzinfo is None:
        t = t.replace(tzinfo=tz)
    return int(t.timestamp() * 1000)


def _row(obj: dict[str, Any], site: Site, where: str) -> Appointment:
    personal = PERSONAL_COLUMNS & {k.strip().lower() for k in obj}
    if personal:
        raise AppointmentFileError(where, f"personal data is not accepted (column {sorted(personal)[0]!r})")
    for key in ("code", "service", "time"):
        if obj.get(key) in (None, ""):
            raise AppointmentFileError(where, f"missing {key}")
    code = str(obj["code"]).strip()
    if not CODE_RE.fullmatch(code):
        raise AppointmentFileError(where, "code must be 3 to 32 letters, digits or '-'")
    service = str(obj["service"]).strip()
    if service not in site.services:
        raise AppointmentFileError(where, f"unknown service {service!r}")
    return Appointment(code=code, service=service, at_ms=_time(obj["time"], site.tz, where))


def parse_appointments(text: str, site: Site, fmt: str = "auto") -> list[Appointment]:
    if fmt == "auto":
        fmt = "json" if text.lstrip().startswith(("[", "{")) else "csv"
    out: list[Appointment] = []
    if fmt == "json":
        try:
            doc = json.loads(text)
        except ValueError as exc:
            raise AppointmentFileError(f"line {getattr(exc, 'lineno', '?')}", f"not valid JSON: {exc}") from None
        items = doc.get("appointments") if isinstance(doc, dict) else doc
        if not isinstance(items, list):
            raise AppointmentFileError("file", "expected a list of {code, service, time}")
        for i, obj in enumerate(items):
            if not isinstance(obj, dict):
                raise AppointmentFileError(f"item {i + 1}", "must be an object")
            out.append(_row(obj, site, f"item {i + 1}"))
    else:
        reader = csv.DictReader(io.StringIO(text))
        if not reader.fieldnames:
            raise AppointmentFileError("line 1", "empty file: expected a header code,service,time")
        for row in reader:
            where = f"line {reader.line_num}"
            if None in row:
                raise AppointmentFileError(where, "more fields than the header has")
            out.append(_row(row, site, where))
    seen: dict[str, int] = {}
    for i, a in enumerate(out):
        if a.code in seen:
            raise AppointmentFileError(f"entry {i + 1}", f"code {a.code!r} appears twice")
        seen[a.code] = i
    return out


def load_appointments(path: str | Path, site: Site) -> list[Appointment]:
    p = Path(path)
    fmt = "json" if p.suffix.lower() == ".json" else "csv" if p.suffix.lower() == ".csv" else "auto"
    try:
        text = p.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise AppointmentFileError(str(p), f"cannot read: {exc.strerror or exc}") from None
    return parse_appointments(text, site, fmt)


def appointments_to_json(appts: list[Appointment]) -> list[dict[str, Any]]:
    return [{"code": a.code, "service": a.service, "at_ms": a.at_ms} for a in appts]


def appointments_from_json(items: list[dict[str, Any]]) -> list[Appointment]:
    return [Appointment(code=i["code"], service=i["service"], at_ms=int(i["at_ms"])) for i in items]
