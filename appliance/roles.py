"""The role registry: for each role a device can have, the sections its device file may carry,
the systemd units it runs (with the command and the device groups of each), whether it draws on a
screen and the doctor's checks that apply to it. Declared once, here; provisioning,
`check-config` (appliance.sections, which holds each section's schema) and `palvelupiste doctor`
read it.

The checks themselves live beside what they check (printer/checks.py, sync/checks.py, ...): this
module only says which apply where, and in which order the doctor shows them.
"""
from __future__ import annotations

from dataclasses import dataclass

import feedback_terminal.checks
import hub.checks
import kiosk.checks
import printer.checks
import sync.checks
import uikit.checks
from central.settings import CENTRAL_CONFIG
from core.config import COMMON_SECTIONS, ROLE_SECTIONS, allowed_sections  # noqa: F401  (part of the registry's face)
from runtime.checks import Check

from . import central_checks
from . import checks as device_checks
from . import units as U

#: the doctor's checks of every device, in the order it shows them; the role's own follow
COMMON_CHECKS: tuple[Check, ...] = (
    device_checks.CONFIGURATION, device_checks.CLOCK, device_checks.DISK, device_checks.STORE,
    sync.checks.BACKLOG, sync.checks.SITE_BROKER, sync.checks.CENTRAL_BROKER, device_checks.SERVICES,
)


@dataclass(frozen=True)
class Unit:
    name: str                   # systemd/<name>
    command: tuple[str, ...]    # the `palvelupiste` subcommand ExecStart runs, then --config FILE
    #: device groups: the only extra rights the unit gets (systemd/README.md says why)
    groups: tuple[str, ...] = ()


#: the sync agent: every device runs it beside its role's own unit
SYNC = Unit("palvelupiste-sync.service", ("sync",))
_SCREEN_GROUPS = ("video", "render", "input")


@dataclass(frozen=True)
class Role:
    name: str
    app: Unit                   # the role's own unit
    screen: bool = False        # draws on a screen (Kivy on KMS/DRM)
    checks: tuple[Check, ...] = ()          # the doctor's checks beyond COMMON_CHECKS
    needed_units: tuple[str, ...] = ()      # services it needs that other packages install

    @property
    def sections(self) -> tuple[str, ...]:
        """Its sections beyond COMMON_SECTIONS (declared with the device file, core.config)."""
        return ROLE_SECTIONS[self.name]

    @property
    def units(self) -> tuple[Unit, ...]:
        return (self.app, SYNC)

    @property
    def unit_names(self) -> tuple[str, ...]:
        return tuple(u.name for u in self.units)

    @property
    def all_checks(self) -> tuple[Check, ...]:
        return COMMON_CHECKS + self.checks


ROLES: dict[str, Role] = {r.name: r for r in (
    Role("hub", Unit("palvelupiste-hub.service", ("hub",)),
         checks=(hub.checks.site_broker_files(U.MOSQUITTO_CONF, U.MOSQUITTO_PASSWD, U.MOSQUITTO_ACL,
                                                 U.MOSQUITTO_HUB_PASSWD),),
         needed_units=(U.MOSQUITTO_UNIT,)),
    Role("kiosk",
         Unit("palvelupiste-kiosk.service", ("kiosk", "--fullscreen"), (*_SCREEN_GROUPS, "audio", "dialout", "lp")),
         screen=True,
         checks=(printer.checks.PRINTER, kiosk.checks.TOUCH, uikit.checks.SCREEN, uikit.checks.BLANKING,
                 uikit.checks.SCRIPTS)),
    Role("display", Unit("palvelupiste-display.service", ("display",), (*_SCREEN_GROUPS, "audio")),
         screen=True,
         checks=(uikit.checks.SCREEN, uikit.checks.BLANKING)),
    Role("counter", Unit("palvelupiste-counter.service", ("counter", "panel"), _SCREEN_GROUPS),
         screen=True,
         # a counter is often a clerk's PC, whose console blanking is the clerk's business
         checks=(uikit.checks.SCREEN,)),
    Role("feedback", Unit("palvelupiste-feedback.service", ("feedback",), (*_SCREEN_GROUPS, "audio")),
         screen=True,
         checks=(feedback_terminal.checks.BUTTONS, feedback_terminal.checks.TOUCH, uikit.checks.SCREEN,
                 uikit.checks.BLANKING, uikit.checks.SCRIPTS)),
)}


@dataclass(frozen=True)
class HostRole:
    """A server's role rather than a service-point device's: no device.toml, no site, no sync agent;
    its own configuration file, provisioning (appliance/central_role.py) and doctor checks."""
    name: str
    config: str                 # its configuration file
    checks: tuple[Check, ...]   # the doctor's checks, in the order it shows them


#: the central host: the central broker, the ingest workers, PostgreSQL (`provision --role central`)
CENTRAL = HostRole("central", CENTRAL_CONFIG, checks=(
    central_checks.CONFIGURATION, device_checks.CLOCK, central_checks.DATABASE, central_checks.TLS_LISTENER,
    central_checks.SERVICE_LISTENER, central_checks.CERTIFICATE, central_checks.SERVICES))
HOST_ROLES: dict[str, HostRole] = {CENTRAL.name: CENTRAL}


def role_names() -> tuple[str, ...]:
    """Every role `palvelupiste provision --role` takes: the devices', then the hosts'."""
    return (*ROLES, *HOST_ROLES)


def role(name: str) -> Role:
    """The role called `name`; KeyError names the known ones."""
    try:
        return ROLES[name]
    except KeyError:
        raise KeyError(f"unknown role {name!r} (one of {', '.join(ROLES)})") from None


def units_for(name: str) -> list[str]:
    """The role's own unit, then the sync agent every device runs."""
    return list(role(name).unit_names)


def all_units() -> list[Unit]:
    """Every unit any role installs, each once: the roles' own, then the sync agent."""
    return [*(r.app for r in ROLES.values()), SYNC]


def unit(name: str) -> Unit:
    return next(u for u in all_units() if u.name == name)


def screen_roles() -> tuple[str, ...]:
    return tuple(r.name for r in ROLES.values() if r.screen)
