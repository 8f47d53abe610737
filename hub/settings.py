"""The [hub] section of the hub device's configuration, declared once (core.schema).

    [hub]
    heartbeat_s = 10     # the live state is published at least this often; displays judge staleness by it
"""
from __future__ import annotations

from dataclasses import dataclass

from core.config import Device
from core.schema import Field, Number, Section, load

DEFAULT_HEARTBEAT_S = 10.0


@dataclass(frozen=True)
class HubSettings:
    heartbeat_s: float = DEFAULT_HEARTBEAT_S


HUB = Section("hub", (
    Field("heartbeat_s", Number(0, None, lo_open=True, unit="seconds"), DEFAULT_HEARTBEAT_S,
          "the live state is published at least this often; displays judge staleness by it"),
), make=lambda v: HubSettings(**v), description="the site's queue authority")


def hub_settings(device: Device) -> HubSettings:
    settings: HubSettings = load(HUB, device.section("hub"), f"{device.id}: [hub]")
    return settings
