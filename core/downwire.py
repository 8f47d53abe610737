"""What comes down the wire from the centre: the site configuration and the appointment list,
checked the same way by the publisher and by every device that receives them. Pure: no I/O."""
from __future__ import annotations

import json
from typing import Any

from core.appointments import AppointmentFileError, appointments_from_json, appointments_to_json, parse_appointments
from core.config import ConfigError, Site, loads_site

MAX_CONFIG_BYTES = 256 * 1024
MAX_APPOINTMENTS_BYTES = 4 * 1024 * 1024


class DownwireError(Exception):
    """A file that is refused; the message names the field or line that is wrong."""


def validate_site_config(site_id: str, text: str, source: str = "<config>") -> Site:
    """The site TOML as a Site, or DownwireError naming every wrong field."""
    if len(text.encode("utf-8")) > MAX_CONFIG_BYTES:
        raise DownwireError(f"{source}: file larger than {MAX_CONFIG_BYTES} bytes")
    try:
        site = loads_site(text, source)
    except ConfigError as exc:
        raise DownwireError(f"{source}: " + "; ".join(str(i) for i in exc.issues)) from None
    if site.id != site_id:
        raise DownwireError(f"{source}: site.id: the file is for site {site.id!r}, not {site_id!r}")
    return site


def validate_appointments(site: Site, text: str, fmt: str = "auto", source: str = "<appointments>") -> list[dict[str, Any]]:
    """An appointment file (CSV or JSON) as the JSON list that goes on the wire."""
    try:
        appts = parse_appointments(text, site, fmt)
    except AppointmentFileError as exc:
        raise DownwireError(f"{source}: {exc}") from None
    return appointments_to_json(appts)


def check_appointments_payload(payload: bytes, site: Site | None = None) -> list[dict[str, Any]]:
    """What the device accepts from the wire: a JSON list of {code, service, at_ms}."""
    if len(payload) > MAX_APPOINTMENTS_BYTES:
        raise DownwireError(f"appointment list larger than {MAX_APPOINTMENTS_BYTES} bytes")
    try:
        items = json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise DownwireError(f"appointments: not valid JSON: {exc}") from None
    if not isinstance(items, list):
        raise DownwireError("appointments: expected a JSON list")
    for i, it in enumerate(items):
        if not isinstance(it, dict) or not isinstance(it.get("code"), str) or not isinstance(it.get("service"), str) \
                or not isinstance(it.get("at_ms"), int) or isinstance(it.get("at_ms"), bool):
            raise DownwireError(f"appointments: item {i + 1}: needs code, service (text) and at_ms (integer)")
        if site is not None and it["service"] not in site.services:
            raise DownwireError(f"appointments: item {i + 1}: unknown service {it['service']!r}")
    appointments_from_json(items)  # the hub's own reader must take it
    return items


def appointments_bytes(items: list[dict[str, Any]]) -> bytes:
    return json.dumps(items, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
