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

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from core.schema import Bool, Check, Choice, Field, Int, Number, Section, Text, load
from uikit.theme import PALETTES

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


def _counter_of_the_site(v: dict[str, Any], ctx: Mapping[str, Any]) -> list[tuple[str, str]]:
    """ctx["counters"]: the site's counter ids, when the site file is at hand."""
    known = ctx.get("counters")
    if known is None or v["counter"] is None or v["counter"] in known:
        return []
    return [("counter", f"unknown counter {v['counter']!r} (the site has {', '.join(sorted(known))})")]


COUNTER = Section("counter", (
    Field("counter", Text(nonempty=True, message='must be a counter id (text), e.g. "3"', label="a counter id"), None,
          "the counter or room this panel serves; missing: the clerk picks one", example="3"),
    Field("lang", Choice(*PANEL_LANGS), "fi", "the panel's language"),
    Field("palette", Choice(*PALETTES), "standard", "colours"),
    Field("fullscreen", Bool(), False, "a clerk PC usually runs the panel in a window"),
    Field("width", Int(640, 7680), 1280, "window width when not fullscreen"),
    Field("height", Int(480, 4320), 800, "window height when not fullscreen"),
    Field("timeout_s", Number(0.5, 60, unit="seconds"), 5.0, "how long to wait for the hub's answer"),
), checks=(Check(("counter",), _counter_of_the_site),), make=lambda v: CounterSettings(**v),
    description="the clerk's call panel")


def parse_counter(section: dict[str, Any], known_counters: set[str] | None = None,
                  source: str = "[counter]") -> CounterSettings:
    return load(COUNTER, section or {}, source, ctx={"counters": known_counters})
