"""The [counter] section of a counter device's configuration.

    [counter]
    counter = "3"            # the counter or room this panel serves; missing: the clerk picks one
    lang = "fi"              # the panel's language (fi, sv, en)
    palette = "standard"     # or "high_contrast"
    fullscreen = false       # a clerk PC usually runs the panel in a window
    width = 1280             # window size when not fullscreen
    height = 800
    timeout_s = 5            # how long to wait for the hub's answer
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from core.config import ConfigError, Issue

PANEL_LANGS = ("fi", "sv", "en")


@dataclass(frozen=True)
class CounterSettings:
    counter: str | None = None
    lang: str = "fi"
    palette: str = "standard"
    fullscreen: bool = False
    width: int = 1280
    height: int = 800
    timeout_s: float = 5.0


def parse_counter(section: dict[str, Any], known_counters: set[str] | None = None,
                  source: str = "[counter]") -> CounterSettings:
    issues: list[Issue] = []
    out: dict[str, Any] = {}
    d = dict(section or {})
    known = {"counter", "lang", "palette", "fullscreen", "width", "height", "timeout_s"}
    for k in d:
        if k not in known:
            issues.append(Issue(f"counter.{k}", f"unknown key (known: {', '.join(sorted(known))})"))
    if "counter" in d:
        c = d["counter"]
        if not isinstance(c, str) or not c:
            issues.append(Issue("counter.counter", "must be a counter id (text), e.g. \"3\""))
        elif known_counters is not None and c not in known_counters:
            issues.append(Issue("counter.counter", f"unknown counter {c!r} (the site has {', '.join(sorted(known_counters))})"))
        else:
            out["counter"] = c
    if "lang" in d:
        if d["lang"] not in PANEL_LANGS:
            issues.append(Issue("counter.lang", f"must be one of {', '.join(PANEL_LANGS)}"))
        else:
            out["lang"] = d["lang"]
    if "palette" in d:
        from uikit.theme import PALETTES

        if d["palette"] not in PALETTES:
            issues.append(Issue("counter.palette", f"must be one of {', '.join(PALETTES)}"))
        else:
            out["palette"] = d["palette"]
    if "fullscreen" in d:
        if not isinstance(d["fullscreen"], bool):
            issues.append(Issue("counter.fullscreen", "must be true or false"))
        else:
            out["fullscreen"] = d["fullscreen"]
    for k, lo, hi in (("width", 640, 7680), ("height", 480, 4320)):
        if k in d:
            v = d[k]
            if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
                issues.append(Issue(f"counter.{k}", f"must be a whole number from {lo} to {hi}"))
            else:
                out[k] = v
    if "timeout_s" in d:
        v = d["timeout_s"]
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0.5 <= v <= 60:
            issues.append(Issue("counter.timeout_s", "must be a number of seconds from 0.5 to 60"))
        else:
            out["timeout_s"] = float(v)
    if issues:
        raise ConfigError(source, issues)
    return CounterSettings(**out)
