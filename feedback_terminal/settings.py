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
    large_text = false
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

Languages, the default language and the time zone come from the site configuration.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from core.config import ConfigError, Device, Issue, Site
from core.i18n import DOMAINS
from uikit.theme import PALETTES

from .buttons import ButtonConfig
from .flow import FOLLOW_UPS, FlowSettings

_KNOWN = {"scale", "follow_ups", "idle_s", "warn_s", "thanks_s", "settle_s", "comment_max",
          "button_follow_up", "palette", "large_text", "fullscreen", "misuse", "buttons", "attribution"}
_MISUSE = {"min_interval_s", "burst_count", "burst_window_s"}
_ATTRIBUTION = {"enabled", "gap_s"}


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


def _num(sec: dict, key: str, default: float, lo: float, hi: float, where: str, issues: list[Issue],
         integer: bool = False) -> Any:
    v = sec.get(key, default)
    ok = not isinstance(v, bool) and isinstance(v, (int, float)) and lo <= v <= hi
    if integer and ok and int(v) != v:
        ok = False
    if not ok:
        issues.append(Issue(f"{where}.{key}", f"must be a{'n integer' if integer else ' number'} from {lo:g} to {hi:g}"))
        return default
    return int(v) if integer else float(v)


def _bool(sec: dict, key: str, default: bool, where: str, issues: list[Issue]) -> bool:
    v = sec.get(key, default)
    if not isinstance(v, bool):
        issues.append(Issue(f"{where}.{key}", "must be true or false"))
        return default
    return v


def load_settings(device: Device, site: Site) -> FeedbackSettings:
    """Raises ConfigError naming every problem of the [feedback] table."""
    issues: list[Issue] = []
    sec = device.section("feedback")
    for key in sec:
        if key not in _KNOWN:
            issues.append(Issue(f"feedback.{key}", f"unknown setting (known: {', '.join(sorted(_KNOWN))})"))
    scale = sec.get("scale", 5)
    if scale not in (3, 4, 5) or isinstance(scale, bool):
        issues.append(Issue("feedback.scale", "must be 3, 4 or 5"))
        scale = 5
    follow = sec.get("follow_ups", list(FOLLOW_UPS))
    if not isinstance(follow, list) or any(f not in FOLLOW_UPS for f in follow):
        issues.append(Issue("feedback.follow_ups", f"must be a list of {', '.join(FOLLOW_UPS)}"))
        follow = list(FOLLOW_UPS)
    idle_s = _num(sec, "idle_s", 25.0, 5, 600, "feedback", issues)
    warn_s = _num(sec, "warn_s", 8.0, 1, 120, "feedback", issues)
    if warn_s >= idle_s:
        issues.append(Issue("feedback.warn_s", "must be shorter than idle_s"))
        warn_s = min(8.0, idle_s / 2)
    thanks_s = _num(sec, "thanks_s", 6.0, 1, 120, "feedback", issues)
    settle_s = _num(sec, "settle_s", 0.35, 0, 3, "feedback", issues)
    comment_max = _num(sec, "comment_max", 500, 1, 2000, "feedback", issues, integer=True)
    palette = sec.get("palette", "standard")
    if palette not in PALETTES:
        issues.append(Issue("feedback.palette", f"must be one of {', '.join(PALETTES)}"))
        palette = "standard"

    m = sec.get("misuse", {})
    if not isinstance(m, dict):
        issues.append(Issue("feedback.misuse", "must be a table"))
        m = {}
    for key in m:
        if key not in _MISUSE:
            issues.append(Issue(f"feedback.misuse.{key}", f"unknown setting (known: {', '.join(sorted(_MISUSE))})"))
    misuse = MisuseSettings(
        min_interval_s=_num(m, "min_interval_s", 5.0, 0, 3600, "feedback.misuse", issues),
        burst_count=_num(m, "burst_count", 6, 1, 1000, "feedback.misuse", issues, integer=True),
        burst_window_s=_num(m, "burst_window_s", 20.0, 0.1, 3600, "feedback.misuse", issues),
    )

    buttons = None
    b = sec.get("buttons")
    if b is not None:
        if not isinstance(b, dict):
            issues.append(Issue("feedback.buttons", "must be a table"))
        else:
            try:
                buttons = ButtonConfig.from_dict(b)
            except ValueError as exc:
                issues.append(Issue("feedback.buttons", str(exc)))
            else:
                too_high = sorted({r for r in buttons.keymap.values() if r > scale})
                if too_high:
                    issues.append(Issue("feedback.buttons.keymap",
                                        f"rating(s) {too_high} above the scale of {scale}"))

    a = sec.get("attribution", {})
    if not isinstance(a, dict):
        issues.append(Issue("feedback.attribution", "must be a table"))
        a = {}
    for key in a:
        if key not in _ATTRIBUTION:
            issues.append(Issue(f"feedback.attribution.{key}", f"unknown setting (known: {', '.join(sorted(_ATTRIBUTION))})"))
    attribution = _bool(a, "enabled", False, "feedback.attribution", issues)
    scan_gap_s = _num(a, "gap_s", 0.08, 0.005, 1, "feedback.attribution", issues)

    supported = DOMAINS["feedback"]
    langs = tuple(lang for lang in site.languages if lang in supported)
    dropped = [lang for lang in site.languages if lang not in supported]
    if dropped:
        issues.append(Issue("site.languages", f"the feedback terminal has no translation for {dropped}"))
    if device.role != "feedback":
        issues.append(Issue("device.role", f"is {device.role!r}; the feedback terminal needs role \"feedback\""))
    if device.site != site.id:
        issues.append(Issue("device.site", f"is {device.site!r} but the site configuration is {site.id!r}"))
    button_follow_up = _bool(sec, "button_follow_up", True, "feedback", issues)
    large_text = _bool(sec, "large_text", False, "feedback", issues)
    fullscreen = _bool(sec, "fullscreen", True, "feedback", issues)
    if issues:
        raise ConfigError("[feedback]", issues)
    flow = FlowSettings(scale=scale, languages=langs, default_language=site.default_language,
                        follow_ups=tuple(follow), idle_s=idle_s, warn_s=warn_s, thanks_s=thanks_s,
                        settle_s=settle_s, comment_max=comment_max)
    return FeedbackSettings(
        flow=flow, site=site.id, device=device.id, tz=site.timezone, store=device.store,
        data_dir=device.data_dir,
        services={sid: s.prefix for sid, s in site.services.items()},
        service_names={sid: dict(s.name) for sid, s in site.services.items()},
        misuse=misuse, buttons=buttons, attribution=attribution, scan_gap_s=scan_gap_s,
        button_follow_up=button_follow_up, palette=palette, large_text=large_text, fullscreen=fullscreen,
    )
