"""The feedback terminal's settings: the device TOML's [feedback] table, checked in one pass.

    [feedback]
    scale = 5                    # 3, 4 or 5 faces
    follow_ups = ["outcome", "self_service", "comment"]   # any of them, or [] for faces only
    idle_s = 25                  # back to the start and the default language after this
    warn_s = 8                   # "are you still there?" this long before
    thanks_s = 6                 # the thank-you screen stays this long
    comment_max = 500            # characters
    button_follow_up = true      # a physical button press shows the follow-up questions
    palette = "standard"         # or "high_contrast"
    large_text = false           # larger type from the start (the customer can switch it too)
    read_aloud = false           # speech on from the start (the customer can switch it too)
    speech_speed = 140           # words per minute
    dpi = 0                      # the screen's real DPI (0 = trust what it reports): targets are sized in mm
    fullscreen = true

    [feedback.misuse]            # presses are never dropped: they are stored with flags
    min_interval_s = 5
    burst_count = 6
    burst_window_s = 20

    [feedback.buttons]           # optional: physical buttons (see buttons.py)
    device_path = "/dev/input/by-id/usb-…-event-kbd"
    keymap = { KEY_1 = 1, KEY_2 = 2, KEY_3 = 3, KEY_4 = 4, KEY_5 = 5 }

    [feedback.attribution]       # optional: a QR/barcode reader that types like a keyboard
    enabled = true

Declared once, as data (FEEDBACK, core.schema). Languages, the default language and the time zone come from the site configuration.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from core.config import ConfigError, Device, Issue, Site
from core.i18n import DOMAINS
from core.privacy import COMMENT_MAX_DEFAULT, COMMENT_MAX_LIMIT
from core.schema import Bool, Check, Choice, Field, Int, Invalid, ListOf, Number, Section, Table, Type, load
from uikit.theme import PALETTES

from .buttons import ButtonConfig
from .flow import FOLLOW_UPS, FlowSettings


@dataclass(frozen=True)
class MisuseSettings:
    min_interval_s: float = 5.0
    burst_count: int = 6
    burst_window_s: float = 20.0


@dataclass(frozen=True)
class FeedbackSettings:
    flow: FlowSettings
    site: str
    device: str
    tz: str
    store: str
    data_dir: str
    services: dict[str, str]             # service id → ticket prefix (attribution)
    service_names: dict[str, dict[str, str]]
    misuse: MisuseSettings
    buttons: ButtonConfig | None
    attribution: bool
    scan_gap_s: float
    button_follow_up: bool
    palette: str
    large_text: bool
    fullscreen: bool
    read_aloud: bool = False
    speech_speed: int = 140
    dpi: float = 0.0


class Buttons(Type):
    """[feedback.buttons]: checked by ButtonConfig.from_dict, the one reader of that table (the
    doctor uses it too), so its rules are not declared twice."""

    label = ("a table: device_name or device_path, keymap = { KEY_1 = 1, ... }, "
             "optional stuck_after_s, debounce_s, rescan_interval_s")

    def check(self, value, ctx):
        if not isinstance(value, dict):
            raise Invalid("must be a table")
        try:
            return ButtonConfig.from_dict(value)
        except ValueError as exc:
            raise Invalid(str(exc)) from None


def _warn_before_idle(v: dict[str, Any], ctx: Mapping[str, Any]) -> list[tuple[str, str]]:
    return [("warn_s", "must be shorter than idle_s")] if v["warn_s"] >= v["idle_s"] else []


def _keys_within_scale(v: dict[str, Any], ctx: Mapping[str, Any]) -> list[tuple[str, str]]:
    too_high = sorted({r for r in v["buttons"].keymap.values() if r > v["scale"]}) if v["buttons"] else []
    return [("buttons.keymap", f"rating(s) {too_high} above the scale of {v['scale']}")] if too_high else []


_SECONDS = "seconds"

MISUSE = Section("misuse", (
    Field("min_interval_s", Number(0, 3600, unit=_SECONDS), 5.0, "presses closer together than this are flagged"),
    Field("burst_count", Int(1, 1000), 6, "this many presses within burst_window_s are flagged as a burst"),
    Field("burst_window_s", Number(0.1, 3600, unit=_SECONDS), 20.0, "the time burst_count is counted over"),
), make=lambda v: MisuseSettings(**v), description="presses are never dropped: they are stored with flags")

ATTRIBUTION = Section("attribution", (
    Field("enabled", Bool(), False, "a QR/barcode reader that types like a keyboard links feedback to a ticket"),
    Field("gap_s", Number(0.005, 1, unit=_SECONDS), 0.08, "the longest gap between a scanner's keystrokes"),
))

FEEDBACK = Section("feedback", (
    Field("scale", Choice(3, 4, 5), 5, "how many faces"),
    Field("follow_ups", ListOf(Choice(*FOLLOW_UPS)), FOLLOW_UPS, "the follow-up questions, or [] for faces only"),
    Field("idle_s", Number(5, 600, unit=_SECONDS), 25.0, "back to the start and the default language after this"),
    Field("warn_s", Number(1, 120, unit=_SECONDS), 8.0, '"are you still there?" this long before'),
    Field("thanks_s", Number(1, 120, unit=_SECONDS), 6.0, "the thank-you screen stays this long"),
    Field("settle_s", Number(0, 3, unit=_SECONDS), 0.35, "a second tap within this is not a new answer"),
    Field("comment_max", Int(1, COMMENT_MAX_LIMIT), COMMENT_MAX_DEFAULT, "characters in a comment"),
    Field("button_follow_up", Bool(), True, "a physical button press shows the follow-up questions"),
    Field("palette", Choice(*PALETTES), "standard", "colours"),
    Field("large_text", Bool(), False, "larger type throughout from the start (the customer can switch it too)"),
    Field("read_aloud", Bool(), False, "speech on from the start (the customer can switch it too)"),
    Field("speech_speed", Int(80, 300), 140, "words per minute of the spoken texts"),
    Field("dpi", Number(0, 1000), 0.0,
          "the screen's real DPI when it reports a wrong one (0: trust it); touch targets are sized in mm from it"),
    Field("fullscreen", Bool(), True, "false: a window"),
    Field("misuse", Table(MISUSE), description="misuse flags"),
    Field("buttons", Buttons(), None, "physical smiley buttons (evdev)",
          example={"device_path": "/dev/input/by-id/…-event-kbd", "keymap": {"KEY_1": 1, "KEY_2": 2}}),
    Field("attribution", Table(ATTRIBUTION), description="an optional QR/barcode reader"),
), checks=(Check(("idle_s", "warn_s"), _warn_before_idle), Check(("scale", "buttons"), _keys_within_scale)),
    description="the feedback terminal at the exit")


def load_settings(device: Device, site: Site) -> FeedbackSettings:
    """Raises ConfigError naming every problem of the [feedback] table, and of the device and site
    files where they do not fit a feedback terminal."""
    issues: list[Issue] = []
    try:
        v = load(FEEDBACK, device.section("feedback"), "[feedback]")
    except ConfigError as exc:
        issues += exc.issues
        v = None
    issues += site_issues(device, site)
    if issues:
        raise ConfigError("[feedback]", issues)
    supported = DOMAINS["feedback"]
    flow = FlowSettings(scale=v["scale"], languages=tuple(lang for lang in site.languages if lang in supported),
                        default_language=site.default_language, follow_ups=tuple(v["follow_ups"]),
                        idle_s=v["idle_s"], warn_s=v["warn_s"], thanks_s=v["thanks_s"], settle_s=v["settle_s"],
                        comment_max=v["comment_max"], large_text=v["large_text"], speak=v["read_aloud"])
    a = v["attribution"]
    return FeedbackSettings(
        flow=flow, site=site.id, device=device.id, tz=site.timezone, store=device.store,
        data_dir=device.data_dir,
        services={sid: s.prefix for sid, s in site.services.items()},
        service_names={sid: dict(s.name) for sid, s in site.services.items()},
        misuse=v["misuse"], buttons=v["buttons"], attribution=a["enabled"], scan_gap_s=a["gap_s"],
        button_follow_up=v["button_follow_up"], palette=v["palette"], large_text=v["large_text"],
        fullscreen=v["fullscreen"], read_aloud=v["read_aloud"], speech_speed=v["speech_speed"], dpi=v["dpi"],
    )


def site_issues(device: Device, site: Site) -> list[Issue]:
    """Where the device and site files do not fit a feedback terminal."""
    issues = []
    dropped = [lang for lang in site.languages if lang not in DOMAINS["feedback"]]
    if dropped:
        issues.append(Issue("site.languages", f"the feedback terminal has no translation for {dropped}"))
    if device.role != "feedback":
        issues.append(Issue("device.role", f"is {device.role!r}; the feedback terminal needs role \"feedback\""))
    if device.site != site.id:
        issues.append(Issue("device.site", f"is {device.site!r} but the site configuration is {site.id!r}"))
    return issues
