"""The [display] section of a display device's configuration, validated like core.config does:
every problem named by its field, all at once.

    [display]
    orientation = "landscape"        # or "portrait" (the TV hangs on its side)
    services = ["kela", "neuvonta"]  # zone: only these services (empty or missing: all)
    appointments_only = false        # zone: only appointment customers
    walk_ins_only = false            # zone: only walk-in customers
    languages = ["fi", "sv", "en"]   # the labels cycle through these and calls are spoken in them, in this order:
                                     #   only languages the site offers ([site] languages) that have a
                                     #   complete display catalog; one without a voice (so) is shown, not spoken
                                     #   ("label_languages" is accepted as another name)
    chime = true                     # a chime before each spoken call
    speech = true                    # speak the calls at all ("speak" is accepted as another name)
    audio_player = "auto"            # "auto" (pw-play / aplay / paplay), "none", or a command list
    highlight_s = 8                  # how long a new call stays highlighted in the big area
    history = 7                      # rows in the list of the last calls (at least 6)
    stale_after_s = 0                # 0: judged from the hub's heartbeat (2.5 × heartbeat + 2 s)
    label_cycle_s = 8                # how long each language stays on the fixed labels
    shift_px = 6                     # burn-in protection: the layout moves by up to this much
    shift_interval_s = 120           #   this often
    palette = "standard"             # or "high_contrast"
    max_fps = 10                     # the frame loop's ceiling when nothing happens (calls wake it at once)
    fullscreen = true                # false: a 1920×1080 (or 1080×1920) window
    frame_log = ""                   # a file to log "call shown on a frame" times (the benchmark uses it)
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from core.config import KNOWN_LANGS, Site
from core.i18n import DOMAINS
from core.schema import AnyOf, Bool, Check, Choice, ConfigError, Field, Int, Issue, ListOf, Number, Section, Text, load
from uikit.theme import PALETTES

#: Languages the display can show: a complete "display" catalog (core.i18n check keeps them complete).
DISPLAY_LANGS: tuple[str, ...] = DOMAINS["display"]


@dataclass(frozen=True)
class DisplaySettings:
    orientation: str = "landscape"
    services: tuple[str, ...] = ()
    appointments_only: bool = False
    walk_ins_only: bool = False
    languages: tuple[str, ...] = ("fi", "sv", "en")
    chime: bool = True
    speech: bool = True
    audio_player: str | tuple[str, ...] = "auto"
    highlight_s: float = 8.0
    history: int = 7
    stale_after_s: float = 0.0
    label_cycle_s: float = 8.0
    shift_px: int = 6
    shift_interval_s: float = 120.0
    palette: str = "standard"
    max_fps: int = 10
    fullscreen: bool = True
    frame_log: str = ""
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def portrait(self) -> bool:
        return self.orientation == "portrait"

    @property
    def size(self) -> tuple[int, int]:
        return (1080, 1920) if self.portrait else (1920, 1080)

    def shows(self, service: str | None, kind: str | None) -> bool:
        """Whether a call (or a service's queue, with kind None) belongs to this display's zone."""
        if self.services and service not in self.services:
            return False
        if kind is not None:
            if self.appointments_only and kind != "appointment":
                return False
            if self.walk_ins_only and kind == "appointment":
                return False
        return True


def _one_zone_kind(v: dict[str, Any], ctx: Mapping[str, Any]) -> list[tuple[str, str]]:
    if v["appointments_only"] and v["walk_ins_only"]:
        return [("walk_ins_only", "cannot be set together with appointments_only")]
    return []


def _services_of_the_site(v: dict[str, Any], ctx: Mapping[str, Any]) -> list[tuple[str, str]]:
    """ctx["services"]: the site's service ids, when the site file is at hand."""
    known = ctx.get("services")
    if known is None:
        return []
    return [("services", f"unknown service {s!r}") for s in v["services"] if s not in known]


def _languages_the_display_can_show(v: dict[str, Any], ctx: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Every language needs a complete display catalog, and (ctx["languages"], when the site file
    is at hand) must be one the site offers ([site] languages)."""
    out = []
    for lang in v["languages"]:
        if lang not in DISPLAY_LANGS:
            out.append(("languages", f"{lang!r} has no complete display catalog "
                                     f"(assets/locale/{lang}/LC_MESSAGES/display.po); the display can show: "
                                     f"{', '.join(DISPLAY_LANGS)}"))
    offered = ctx.get("languages")
    if offered is not None:
        out += [("languages", f"{lang!r} is not offered by the site ([site] languages: {', '.join(offered)})")
                for lang in v["languages"] if lang not in offered]
    return out


_SECONDS = "seconds"

DISPLAY = Section("display", (
    Field("orientation", Choice("landscape", "portrait"), "landscape", "portrait: the TV hangs on its side"),
    Field("services", ListOf(Text(label="a service id"), what="service ids"), (),
          "zone: only these services (empty: all)"),
    Field("appointments_only", Bool(), False, "zone: only appointment customers"),
    Field("walk_ins_only", Bool(), False, "zone: only walk-in customers"),
    Field("languages", ListOf(Choice(*KNOWN_LANGS, message="is not a known language code "
                                     f"(known: {', '.join(KNOWN_LANGS)})"),
                              min_len=1, unique=True, what="language codes"), ("fi", "sv", "en"),
          "the fixed labels cycle through these and each call is spoken in those of them that have a voice, "
          "in this order (only languages the site offers and the display has a catalog for)",
          aliases=("label_languages",)),
    Field("chime", Bool(), True, "a chime before each spoken call"),
    Field("speech", Bool(), True, "speak the calls at all", aliases=("speak",)),
    Field("audio_player", AnyOf(Choice("auto", "none"), ListOf(Text(nonempty=True), min_len=1),
                                message='must be "auto", "none" or a command list like ["aplay", "-q"]'),
          "auto", '"auto" (pw-play / aplay / paplay), "none", or a command list'),
    Field("highlight_s", Number(1, 120, unit=_SECONDS), 8.0, "how long a new call stays highlighted in the big area"),
    Field("history", Int(6, 20), 7, "rows in the list of the last calls"),
    Field("stale_after_s", Number(0, 3600, unit=_SECONDS), 0.0,
          "no word from the hub this long: shown as stale (0: 2.5 × the hub's heartbeat + 2 s)"),
    Field("label_cycle_s", Number(2, 120, unit=_SECONDS), 8.0,
          "how long each language stays on the fixed labels (the numbers do not move)"),
    Field("shift_px", Int(0, 40), 6, "burn-in protection: the layout moves by up to this much"),
    Field("shift_interval_s", Number(5, 3600, unit=_SECONDS), 120.0, "how often it moves"),
    Field("palette", Choice(*PALETTES), "standard", "colours"),
    Field("max_fps", Int(1, 60), 10, "the frame loop's ceiling when nothing happens (calls wake it at once)"),
    Field("fullscreen", Bool(), True, "false: a 1920×1080 (or 1080×1920) window"),
    Field("frame_log", Text(message="must be a file path (text)"), "",
          'a file to log "call shown on a frame" times (the benchmark uses it)'),
), checks=(Check(("appointments_only", "walk_ins_only"), _one_zone_kind),
           Check(("services",), _services_of_the_site),
           Check(("languages",), _languages_the_display_can_show)),
    make=lambda v: DisplaySettings(**v), description="the waiting-room number display")


def parse_display(section: dict[str, Any], known_services: set[str] | None = None,
                  source: str = "[display]", site_languages: tuple[str, ...] | None = None) -> DisplaySettings:
    """`site_languages`: the site's [site] languages; a display language outside them is refused."""
    return load(DISPLAY, section or {}, source, ctx={"services": known_services, "languages": site_languages})


def site_issues(settings: DisplaySettings, site: Site) -> list[Issue]:
    """What the display's settings ask of the site that it does not offer (checked again when the
    display starts: a configuration read without the site file has not been checked against it)."""
    return [Issue(f"display.{where}", message)
            for where, message in _languages_the_display_can_show({"languages": settings.languages},
                                                                   {"languages": site.languages})]


def check_against_site(settings: DisplaySettings, site: Site, source: str = "[display]") -> None:
    """ConfigError naming every display language the site does not offer or that has no catalog."""
    issues = site_issues(settings, site)
    if issues:
        raise ConfigError(source, issues)
