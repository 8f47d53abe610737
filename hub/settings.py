"""The [hub] section of the hub device's configuration, declared once (core.schema).

    [hub]
    heartbeat_s = 10          # the live state is published at least this often; displays judge staleness by it
    help_per_device = 3       # open help requests per device; a new one replaces the device's oldest
    help_per_site = 20        # open help requests per site; beyond, a device without one gets help_full
    help_repeat_s = 30        # a request this soon after the device's newest open one joins it
    help_expire_min = 30      # a help request nobody answered closes after this long
"""
from __future__ import annotations

from dataclasses import dataclass

from core.config import Device
from core.engine import HelpLimits
from core.schema import Field, Int, Number, Section, Text, load

DEFAULT_HEARTBEAT_S = 10.0
_HELP = HelpLimits()


@dataclass(frozen=True)
class HubSettings:
    heartbeat_s: float = DEFAULT_HEARTBEAT_S
    help_per_device: int = _HELP.per_device
    help_per_site: int = _HELP.per_site
    help_repeat_s: float = _HELP.repeat_s
    help_expire_min: float = _HELP.expire_s / 60
    booking_key_file: str = ""

    @property
    def help_limits(self) -> HelpLimits:
        return HelpLimits(per_device=self.help_per_device, per_site=self.help_per_site,
                          repeat_s=self.help_repeat_s, expire_s=self.help_expire_min * 60)


HUB = Section("hub", (
    Field("heartbeat_s", Number(0, None, lo_open=True, unit="seconds"), DEFAULT_HEARTBEAT_S,
          "the live state is published at least this often; displays judge staleness by it"),
    Field("help_per_device", Int(1, 10), _HELP.per_device,
          "open help requests per device; a new one replaces that device's oldest"),
    Field("help_per_site", Int(1, 100), _HELP.per_site,
          "open help requests per site; beyond it, a device without an open one is answered help_full"),
    Field("help_repeat_s", Number(0, 600, unit="seconds"), _HELP.repeat_s,
          "a help request this soon after the device's newest open one joins it (nothing new is stored)"),
    Field("help_expire_min", Number(1, 24 * 60, unit="minutes"), _HELP.expire_s / 60,
          "a help request nobody answered closes after this long"),
    Field("booking_key_file", Text(label="a path"), "",
          "the site's key for booking references, from `palvelupiste central site-key SITE` (the feeds' "
          "bookings are found by it; empty: the hub's own key, for appointment lists only)"),
), make=lambda v: HubSettings(**v), description="the site's queue authority")


def hub_settings(device: Device) -> HubSettings:
    settings: HubSettings = load(HUB, device.section("hub"), f"{device.id}: [hub]")
    return settings
