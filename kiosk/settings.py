"""The kiosk's own settings: the [kiosk] section of the device configuration.

    [kiosk]
    idle_s = 90              # no touch for this long: back to the start screen and default language
    idle_warn_s = 30         # the last seconds of that show a "more time?" prompt (spoken when speech is on)
    ticket_idle_s = 60       # the ticket screen stays this long (to read or photograph it)
    orientation = "portrait" # or "landscape"; window = "1080x1920" sets the size exactly
    ticket_url = "https://queue.example.org/t/{site}/{token}"   # QR on screen and paper
    where_to_wait = { fi = "Odota aulassa.", sv = "Vänta i aulan.", en = "Wait in the lobby." }
    reprint_s = 120          # how long the last ticket can be printed again
    hub_timeout_s = 5        # no answer from the hub within this: the kiosk says so
    input = "mouse"          # exactly ONE touch input provider (two give double touches)
    dpi = 0                  # the screen's real DPI when it reports a wrong one (0 = trust it)
    screen_inches = 21.5     # or the panel's diagonal: sizes in mm (targets, text) hold on the glass
    interpreter_languages = ["ru", "uk", "ar", "so", "fa", "ku", "et", "en", "fse"]

Declared once, as data (KIOSK, core.schema): every problem is reported at once, naming the key.

Time limits (WCAG 2.2.1, issue 16): the "more time?" prompt comes after at least
`MIN_WARN_AFTER_S` (60 s) without a touch and leaves at least `MIN_ANSWER_S` (20 s) to answer:
idle_warn_s >= 20 and idle_s - idle_warn_s >= 60. An older configuration with shorter times
(the old defaults were 30 and 10) still loads: the times are RAISED to those minimums and a
notice is logged naming the values used (`KioskSettings.notices`). Values outside the
schema's ranges (idle_s under 10, idle_warn_s under 3) are still errors, as before.
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Any

from core.config import Device, Site
from core.schema import (
    Choice,
    Field,
    Int,
    ListOf,
    Number,
    Section,
    Text,
    Texts,
    load,
)
from uikit.launch import INPUT_PATTERN

log = logging.getLogger(__name__)

#: WCAG 2.2.1 "Timing adjustable": the warning leaves at least this long to answer ...
MIN_ANSWER_S = 20.0
#: ... and comes after at least this long without a touch (issue 16).
MIN_WARN_AFTER_S = 60.0
DEFAULT_IDLE_S = 90.0
DEFAULT_IDLE_WARN_S = 30.0
DEFAULT_TICKET_IDLE_S = 60.0
DEFAULT_TICKET_URL = "https://queue.example.org/t/{site}/{token}"
PORTRAIT = (1080, 1920)
LANDSCAPE = (1920, 1080)
DEFAULT_INTERPRETER_LANGS = ("ru", "uk", "ar", "so", "fa", "ku", "et", "en", "fse")


@dataclass(frozen=True)
class KioskSettings:
    idle_s: float = DEFAULT_IDLE_S
    idle_warn_s: float = DEFAULT_IDLE_WARN_S
    ticket_idle_s: float = 60.0
    window: tuple[int, int] = PORTRAIT
    ticket_url: str = DEFAULT_TICKET_URL
    where_to_wait: dict[str, str] = field(default_factory=dict)
    reprint_s: float = 120.0
    max_reprints: int = 2
    hub_timeout_s: float = 5.0
    input: str = "mouse"
    dpi: float = 0.0
    interpreter_languages: tuple[str, ...] = DEFAULT_INTERPRETER_LANGS
    printer_poll_s: float = 5.0
    speech_speed: int = 140
    speech_volume: int = 100         # espeak-ng amplitude on the loudspeaker (keys + and - change it)
    headphones: str = ""             # an ALSA device for speech when its card is there
    headphone_volume: int = 60
    notices: tuple[str, ...] = ()   # what loading changed (times raised to the WCAG minimums)

    @property
    def warn_after_s(self) -> float:
        """Quiet seconds before the "more time?" prompt (at least MIN_WARN_AFTER_S)."""
        return self.idle_s - self.idle_warn_s

    @property
    def portrait(self) -> bool:
        return self.window[1] >= self.window[0]

    def wait_text(self, lang: str) -> str | None:
        """The site's own words for where to wait in `lang`; None: the generic text, which is
        translated (never another language's words without saying so)."""
        return self.where_to_wait.get(lang) or None

    def qr_url(self, site: str, token: str, number: str = "") -> str:
        return self.ticket_url.format(site=site, token=token, number=number)


def _ticket_url_problem(url: str) -> str | None:
    if "{token}" not in url:
        return "must be a URL template containing {token} (and usually {site})"
    try:
        url.format(site="s", token="t", number="n")
    except (KeyError, IndexError, ValueError) as exc:
        return f"only {{site}}, {{token}} and {{number}} may be used ({exc})"
    return None


def raise_to_minimums(idle_s: float, idle_warn_s: float) -> tuple[float, float, list[str]]:
    """(idle_s, idle_warn_s, notices): the times raised where they are below the WCAG minimums."""
    notices = []
    answer = idle_warn_s
    if answer < MIN_ANSWER_S:
        answer = MIN_ANSWER_S
        notices.append(f"idle_warn_s = {idle_warn_s:g} is below the {MIN_ANSWER_S:g} s a customer must have to "
                       f"answer the \"more time?\" prompt (WCAG 2.2.1): {answer:g} is used")
    total = idle_s
    if total - answer < MIN_WARN_AFTER_S:
        total = answer + MIN_WARN_AFTER_S
        notices.append(f"idle_s = {idle_s:g} would show the \"more time?\" prompt after less than "
                       f"{MIN_WARN_AFTER_S:g} s without a touch: {total:g} is used (the prompt after "
                       f"{MIN_WARN_AFTER_S:g} s, then {answer:g} s to answer)")
    return total, answer, notices


def _make(v: dict[str, Any]) -> KioskSettings:
    v = dict(v)
    orientation, window = v.pop("orientation"), v.pop("window")
    if window:
        w, h = window.split("x")
        v["window"] = (int(w), int(h))
    else:
        v["window"] = LANDSCAPE if orientation == "landscape" else PORTRAIT
    idle_s, warn_s = float(v["idle_s"]), float(v["idle_warn_s"])
    if v["ticket_idle_s"] is None:
        # As before: 60, or a longer idle_s when one is configured (the new default of idle_s, 90,
        # does not lengthen the ticket screen).
        v["ticket_idle_s"] = DEFAULT_TICKET_IDLE_S if idle_s == DEFAULT_IDLE_S else max(DEFAULT_TICKET_IDLE_S, idle_s)
    v["idle_s"], v["idle_warn_s"], notices = raise_to_minimums(idle_s, warn_s)
    for n in notices:
        log.warning("[kiosk] %s", n)
    v["notices"] = tuple(notices)
    v["interpreter_languages"] = tuple(dict.fromkeys(v["interpreter_languages"]))
    inches = v.pop("screen_inches")
    if inches and not v["dpi"]:
        # The panel's diagonal, as its data sheet gives it: millimetres on the glass follow.
        v["dpi"] = round(math.hypot(*v["window"]) / inches, 1)
    return KioskSettings(**v)


KIOSK = Section("kiosk", (
    Field("idle_s", Number(10, 1200, unit="seconds"), DEFAULT_IDLE_S,
          "no touch for this long: back to the start screen and the default language; the prompt comes "
          "after at least 60 s (a shorter time is raised, with a notice)"),
    Field("idle_warn_s", Number(3, 600, unit="seconds"), DEFAULT_IDLE_WARN_S,
          'the last seconds of that show a spoken "more time?" prompt; at least 20 (a shorter time is raised, '
          "with a notice)"),
    Field("ticket_idle_s", Number(15, 600, unit="seconds"), None,
          "the ticket screen stays this long (to read or photograph it); default 60, or idle_s when one "
          "longer and other than its default is configured",
          example=60),
    Field("orientation", Choice("portrait", "landscape"), "portrait", "how the screen hangs"),
    Field("window", Text(pattern=r"(\d{3,4})x(\d{3,4})", message='must look like "1080x1920" (width x height)',
                         label='"WIDTHxHEIGHT"'), None, "the window size exactly (instead of orientation)",
          example="1080x1920"),
    Field("ticket_url", Text(test=_ticket_url_problem, label="a URL template with {token}"), DEFAULT_TICKET_URL,
          "the QR code on screen and paper; {site}, {token} and {number} are filled in"),
    Field("where_to_wait", Texts(), {}, "the site's own words for where to wait, per language",
          example={"fi": "Odota aulassa.", "en": "Wait in the lobby."}),
    Field("reprint_s", Number(0, 3600, unit="seconds"), 120.0, "how long the last ticket can be printed again"),
    Field("max_reprints", Int(0, 10), 2, "how many times it can be printed again"),
    Field("hub_timeout_s", Number(0.5, 60, unit="seconds"), 5.0, "no answer from the hub within this: the kiosk says so"),
    Field("input", Text(pattern=INPUT_PATTERN, label="one input provider",
                        message='must be one provider: "mouse", "hidinput:/dev/input/eventN" or '
                                '"mtdev:/dev/input/eventN"'),
          "mouse", "exactly ONE touch input provider (two give double touches)"),
    Field("dpi", Number(0, 1000), 0.0, "the screen's real DPI when it reports a wrong one (0: trust it)"),
    Field("screen_inches", Number(0, 100), 0.0,
          "the panel's diagonal in inches (e.g. 21.5): targets and text sizes in millimetres are kept on the "
          "glass (sets dpi from the window size; 0: dpi or what the screen reports)", example=21.5),
    Field("interpreter_languages", ListOf(Text(pattern=r"[a-z]{2,3}", label="a language code"), min_len=1,
                                          what="language codes"),
          DEFAULT_INTERPRETER_LANGS, "languages an interpreter can be asked for"),
    Field("printer_poll_s", Number(0.2, 600, unit="seconds"), 5.0, "how often the printer's status is asked"),
    Field("speech_speed", Int(80, 300), 140, "words per minute of the spoken texts"),
    Field("speech_volume", Int(20, 200), 100, "the voice's volume on the loudspeaker (espeak-ng amplitude; "
          "the customer's + and - keys change it for their visit)"),
    Field("headphones", Text(label="an ALSA device name"), "",
          "a headphone output for speech, used when its sound card is there, e.g. "
          '"plughw:CARD=Headphones" (empty: none)', example="plughw:CARD=Headphones"),
    Field("headphone_volume", Int(20, 200), 60, "the voice's volume in the headphones"),
), make=_make,
    description="the check-in kiosk")


def parse_kiosk(sec: dict[str, Any], source: str = "[kiosk]") -> KioskSettings:
    return load(KIOSK, sec, source)


def kiosk_settings(device: Device) -> KioskSettings:
    return parse_kiosk(device.section("kiosk"), f"{device.id}: [kiosk]")


def kiosk_languages(site: Site) -> tuple[str, ...]:
    """The languages the kiosk offers: the site's, in the site's order."""
    return site.languages
