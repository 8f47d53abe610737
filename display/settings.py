"""The [display] section of a display device's configuration, validated like core.config does:
every problem named by its field, all at once.

    [display]
    orientation = "landscape"        # or "portrait" (the TV hangs on its side)
    services = ["kela", "neuvonta"]  # zone: only these services (empty or missing: all)
    appointments_only = false        # zone: only appointment customers
    walk_ins_only = false            # zone: only walk-in customers
    languages = ["fi", "sv"]         # spoken, in this order ("en" adds English)
    chime = true                     # a chime before each spoken call
    speech = true                    # speak the calls at all ("speak" is accepted as another name)
    audio_player = "auto"            # "auto" (pw-play / aplay / paplay), "none", or a command list
    highlight_s = 8                  # how long a new call stays highlighted in the big area
    history = 7                      # rows in the list of the last calls (at least 6)
    stale_after_s = 0                # 0: judged from the hub's heartbeat (2.5 × heartbeat + 2 s)
    label_cycle_s = 8                # the fixed labels change language this often (fi → sv → en)
    label_languages = ["fi", "sv", "en"]
    shift_px = 6                     # burn-in protection: the layout moves by up to this much
    shift_interval_s = 120           #   this often
    palette = "standard"             # or "high_contrast"
    max_fps = 10                     # the frame loop's ceiling when nothing happens (calls wake it at once)
    fullscreen = true                # false: a 1920×1080 (or 1080×1920) window
    frame_log = ""                   # a file to log "call shown on a frame" times (the benchmark uses it)
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from core.config import KNOWN_LANGS, ConfigError, Issue

SPEECH_LANGS = ("fi", "sv", "en")


@dataclass(frozen=True)
class DisplaySettings:
    orientation: str = "landscape"
    services: tuple[str, ...] = ()
    appointments_only: bool = False
    walk_ins_only: bool = False
    languages: tuple[str, ...] = ("fi", "sv")
    chime: bool = True
    speech: bool = True
    audio_player: str | tuple[str, ...] = "auto"
    highlight_s: float = 8.0
    history: int = 7
    stale_after_s: float = 0.0
    label_cycle_s: float = 8.0
    label_languages: tuple[str, ...] = ("fi", "sv", "en")
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


_KEYS = {"orientation", "services", "appointments_only", "walk_ins_only", "languages", "chime", "speech",
         "audio_player", "highlight_s", "history", "stale_after_s", "label_cycle_s", "label_languages",
         "shift_px", "shift_interval_s", "palette", "max_fps", "fullscreen", "frame_log"}


def parse_display(section: dict[str, Any], known_services: set[str] | None = None,
                  source: str = "[display]") -> DisplaySettings:
    issues: list[Issue] = []
    out: dict[str, Any] = {}
    d = dict(section or {})
    if "speak" in d:  # another name for "speech" (the demo's configuration uses it)
        if "speech" in d:
            issues.append(Issue("display.speak", "set either speech or speak, not both"))
        d["speech"] = d.pop("speak")

    def where(k: str) -> str:
        return f"display.{k}"

    for k in d:
        if k not in _KEYS:
            issues.append(Issue(where(k), f"unknown key (known: {', '.join(sorted(_KEYS))})"))

    if "orientation" in d:
        if d["orientation"] not in ("landscape", "portrait"):
            issues.append(Issue(where("orientation"), 'must be "landscape" or "portrait"'))
        else:
            out["orientation"] = d["orientation"]

    for k in ("appointments_only", "walk_ins_only", "chime", "speech", "fullscreen"):
        if k in d:
            if not isinstance(d[k], bool):
                issues.append(Issue(where(k), "must be true or false"))
            else:
                out[k] = d[k]
    if out.get("appointments_only") and out.get("walk_ins_only"):
        issues.append(Issue(where("walk_ins_only"), "cannot be set together with appointments_only"))

    if "services" in d:
        v = d["services"]
        if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
            issues.append(Issue(where("services"), "must be a list of service ids"))
        else:
            for s in v:
                if known_services is not None and s not in known_services:
                    issues.append(Issue(where("services"), f"unknown service {s!r}"))
            out["services"] = tuple(v)

    for k, allowed in (("languages", SPEECH_LANGS), ("label_languages", KNOWN_LANGS)):
        if k in d:
            v = d[k]
            if not isinstance(v, list) or not all(isinstance(x, str) for x in v) or (k == "label_languages" and not v):
                issues.append(Issue(where(k), "must be a list of language codes"))
                continue
            bad = [x for x in v if x not in allowed]
            if bad:
                issues.append(Issue(where(k), f"unsupported language(s) {bad} (supported: {', '.join(allowed)})"))
                continue
            out[k] = tuple(v)

    if "audio_player" in d:
        v = d["audio_player"]
        if isinstance(v, str) and v in ("auto", "none"):
            out["audio_player"] = v
        elif isinstance(v, list) and v and all(isinstance(x, str) and x for x in v):
            out["audio_player"] = tuple(v)
        else:
            issues.append(Issue(where("audio_player"), 'must be "auto", "none" or a command list like ["aplay", "-q"]'))

    for k, lo, hi, integer in (("highlight_s", 1, 120, False), ("history", 6, 20, True),
                               ("stale_after_s", 0, 3600, False), ("label_cycle_s", 2, 120, False),
                               ("shift_px", 0, 40, True), ("shift_interval_s", 5, 3600, False),
                               ("max_fps", 1, 60, True)):
        if k in d:
            v = d[k]
            ok = not isinstance(v, bool) and isinstance(v, (int, float)) and lo <= v <= hi
            if integer and ok and not isinstance(v, int):
                ok = False
            if not ok:
                issues.append(Issue(where(k), f"must be {'a whole number' if integer else 'a number'} from {lo} to {hi}"))
            else:
                out[k] = int(v) if integer else float(v)

    if "palette" in d:
        from uikit.theme import PALETTES

        if d["palette"] not in PALETTES:
            issues.append(Issue(where("palette"), f"must be one of {', '.join(PALETTES)}"))
        else:
            out["palette"] = d["palette"]
    if "frame_log" in d:
        if not isinstance(d["frame_log"], str):
            issues.append(Issue(where("frame_log"), "must be a file path (text)"))
        else:
            out["frame_log"] = d["frame_log"]

    if issues:
        raise ConfigError(source, issues)
    return DisplaySettings(**out)
