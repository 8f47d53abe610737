"""The role registry: for each role a device can have, the sections its device file may carry,
the systemd units it runs and the doctor's checks that apply to it. Declared once, here;
provisioning, `check-config` and `palvelupiste doctor` read it."""
from __future__ import annotations

from dataclasses import dataclass

#: sections every device file has
COMMON_SECTIONS = ("device", "site_broker", "central_broker", "sync")


@dataclass(frozen=True)
class Role:
    name: str
    sections: tuple[str, ...]   # beyond COMMON_SECTIONS
    units: tuple[str, ...]      # systemd units (systemd/<name>), the sync agent's included
    screen: bool = False        # draws on a screen (Kivy on KMS/DRM)


ROLES: dict[str, Role] = {r.name: r for r in (
    Role("hub", ("hub",), ("palvelupiste-hub.service", "palvelupiste-sync.service")),
    Role("kiosk", ("kiosk", "printer"), ("palvelupiste-kiosk.service", "palvelupiste-sync.service"), screen=True),
    Role("display", ("display",), ("palvelupiste-display.service", "palvelupiste-sync.service"), screen=True),
    Role("counter", ("counter",), ("palvelupiste-counter.service", "palvelupiste-sync.service"), screen=True),
    Role("feedback", ("feedback",), ("palvelupiste-feedback.service", "palvelupiste-sync.service"), screen=True),
)}


def role(name: str) -> Role:
    """The role called `name`; KeyError names the known ones."""
    try:
        return ROLES[name]
    except KeyError:
        raise KeyError(f"unknown role {name!r} (one of {', '.join(ROLES)})") from None


def allowed_sections(name: str) -> tuple[str, ...]:
    return COMMON_SECTIONS + role(name).sections
