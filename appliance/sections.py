"""Every section a device file may have, by name, with its declared schema (core.schema), gathered
from the packages that own them; and the whole-file check `palvelupiste check-config --device`
runs. Which sections a role may carry is core.config's `allowed_sections`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.config import (
    BROKER,
    DEVICE,
    ROLES,
    SITE_FILE,
    ConfigError,
    Device,
    Issue,
    Site,
    allowed_sections,
    load_site,
    parse_device,
)
from core.schema import Section, describe, parse
from counter.settings import COUNTER
from display.settings import DISPLAY
from feedback_terminal.settings import FEEDBACK
from feedback_terminal.settings import site_issues as feedback_site_issues
from hub.settings import HUB
from kiosk.settings import KIOSK
from printer.settings import PRINTER
from sync.settings import SYNC

#: section name -> schema; the order is the reference's
SECTIONS: dict[str, Section] = {
    "device": DEVICE, "site_broker": BROKER, "central_broker": BROKER, "sync": SYNC,
    "hub": HUB, "kiosk": KIOSK, "printer": PRINTER, "display": DISPLAY, "counter": COUNTER, "feedback": FEEDBACK,
}


def site_context(site: Site | None) -> dict[str, Any]:
    """What sections that name parts of the site (display zones, the counter) are checked against;
    empty without a site file, and those checks are then skipped."""
    if site is None:
        return {}
    return {"services": set(site.services), "counters": set(site.counters), "languages": tuple(site.languages)}


@dataclass
class DeviceCheck:
    """The outcome of checking a whole device file: every problem, and what could not be checked."""
    source: str
    device: Device | None = None
    site: Site | None = None
    issues: list[Issue] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    sections: list[str] = field(default_factory=list)

    def raise_if_bad(self) -> None:
        if self.issues:
            raise ConfigError(self.source, list(dict.fromkeys(self.issues)))


def check_device_doc(doc: dict[str, Any], source: str, base: Path | None = None) -> DeviceCheck:
    """Checks [device] and the brokers, the role, then every other section the file has: a known one
    against its schema (and the site file where it names the site's parts), one that does not belong
    to the role or that nobody knows as an error."""
    out = DeviceCheck(source)
    try:
        out.device = parse_device(doc, source, base)
    except ConfigError as exc:
        out.issues += exc.issues
    raw_role = doc.get("device", {}).get("role") if isinstance(doc.get("device"), dict) else None
    role = raw_role if raw_role in ROLES else None

    if out.device is not None:
        try:
            out.site = load_site(out.device.site_config)
        except ConfigError as exc:
            out.notes.append(f"site file {out.device.site_config} not read ({exc.issues[0]}"
                             f"{'; …' if len(exc.issues) > 1 else ''}): sections are not checked against it")
    ctx = site_context(out.site)
    if out.device is not None and out.site is not None:
        d, site = out.device, out.site
        if d.site != site.id:
            out.issues.append(Issue("device.site", f"is {d.site!r} but the site configuration is {site.id!r}"))
        listed = site.devices.get(d.id)
        if listed is not None and listed != d.role:
            out.issues.append(Issue("device.role", f"is {d.role!r}, but the site file lists {d.id!r} as {listed!r}"))

    own = ("device", "site_broker", "central_broker")
    for name, table in doc.items():
        if name in own:
            continue
        out.sections.append(name)
        if name not in SECTIONS:
            out.issues.append(Issue(name, f"unknown section (known: {', '.join(SECTIONS)})"))
            continue
        if role is not None and name not in allowed_sections(role):
            out.issues.append(Issue(name, f"does not belong to a {role} device (its sections: "
                                          f"{', '.join(allowed_sections(role))})"))
            continue
        _, issues = parse(SECTIONS[name], table, name, ctx)
        out.issues += issues
    if role == "feedback" and out.device is not None and out.site is not None:
        out.issues += feedback_site_issues(out.device, out.site)
    return out


def reference(name: str = "") -> list[str]:
    """The commented TOML reference of one section ("site" for the site file), or of every
    device section when `name` is empty. KeyError names the known ones."""
    if name == "site":
        return describe(SITE_FILE, "")
    if name:
        if name not in SECTIONS:
            raise KeyError(f"unknown section {name!r} (known: site, {', '.join(SECTIONS)})")
        return describe(SECTIONS[name], name)
    lines: list[str] = []
    for n, section in SECTIONS.items():
        if lines:
            lines.append("")
        roles = [r for r in ROLES if n in allowed_sections(r)]
        lines.append(f"# --- [{n}]: " + ("every device" if len(roles) == len(ROLES) else ", ".join(roles)))
        lines += describe(section, n)
    return lines
