"""The kiosk's own settings: the [kiosk] section of the device configuration.

    [kiosk]
    idle_s = 30              # no touch for this long: back to the start screen and default language
    idle_warn_s = 10         # the last seconds of that show a "more time?" prompt
    ticket_idle_s = 60       # the ticket screen stays this long (to read or photograph it)
    orientation = "portrait" # or "landscape"; window = "1080x1920" sets the size exactly
    ticket_url = "https://queue.example.org/{site}/{token}"   # QR on screen and paper
    where_to_wait = { fi = "Odota aulassa.", sv = "Vänta i aulan.", en = "Wait in the lobby." }
    reprint_s = 120          # how long the last ticket can be printed again
    hub_timeout_s = 5        # no answer from the hub within this: the kiosk says so
    input = "mouse"          # exactly ONE touch input provider (two give double touches)
    dpi = 0                  # the screen's real DPI when it reports a wrong one (0 = trust it)
    interpreter_languages = ["ru", "uk", "ar", "so", "fa", "ku", "et", "en", "fse"]

Every problem is reported at once, naming the key, like the site configuration.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from core.config import ConfigError, Device, Issue, Site

DEFAULT_TICKET_URL = "https://queue.example.org/{site}/{token}"
PORTRAIT = (1080, 1920)
LANDSCAPE = (1920, 1080)
DEFAULT_INTERPRETER_LANGS = ("ru", "uk", "ar", "so", "fa", "ku", "et", "en", "fse")
_WINDOW_RE = re.compile(r"^(\d{3,4})x(\d{3,4})$")
_LANG_RE = re.compile(r"^[a-z]{2,3}$")


@dataclass(frozen=True)
class KioskSettings:
    idle_s: float = 30.0
    idle_warn_s: float = 10.0
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

    @property
    def portrait(self) -> bool:
        return self.window[1] >= self.window[0]

    def wait_text(self, lang: str) -> str | None:
        """The site's own words for where to wait, in `lang` or English; None: the generic text."""
        return self.where_to_wait.get(lang) or self.where_to_wait.get("en") or None

    def qr_url(self, site: str, token: str, number: str = "") -> str:
        return self.ticket_url.format(site=site, token=token, number=number)


def _num(sec: dict, key: str, default: float, lo: float, hi: float, issues: list[Issue]) -> float:
    v = sec.get(key, default)
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not lo <= v <= hi:
        issues.append(Issue(f"kiosk.{key}", f"must be a number from {lo:g} to {hi:g}"))
        return default
    return float(v)


def parse_kiosk(sec: dict[str, Any], source: str = "[kiosk]") -> KioskSettings:
    issues: list[Issue] = []
    known = {"idle_s", "idle_warn_s", "ticket_idle_s", "orientation", "window", "ticket_url", "where_to_wait",
             "reprint_s", "max_reprints", "hub_timeout_s", "input", "dpi", "interpreter_languages",
             "printer_poll_s", "speech_speed"}
    for k in sec:
        if k not in known:
            issues.append(Issue(f"kiosk.{k}", f"unknown key (known: {', '.join(sorted(known))})"))
    idle = _num(sec, "idle_s", 30, 10, 600, issues)
    warn = _num(sec, "idle_warn_s", 10, 3, 60, issues)
    if warn >= idle:
        issues.append(Issue("kiosk.idle_warn_s", "must be shorter than idle_s"))
        warn = min(10.0, idle / 3)
    ticket_idle = _num(sec, "ticket_idle_s", max(60, idle), 15, 600, issues)

    window = PORTRAIT
    orient = sec.get("orientation", "portrait")
    if orient == "landscape":
        window = LANDSCAPE
    elif orient != "portrait":
        issues.append(Issue("kiosk.orientation", 'must be "portrait" or "landscape"'))
    if "window" in sec:
        m = _WINDOW_RE.match(str(sec["window"]))
        if not m:
            issues.append(Issue("kiosk.window", 'must look like "1080x1920" (width x height)'))
        else:
            window = (int(m[1]), int(m[2]))

    url = sec.get("ticket_url", DEFAULT_TICKET_URL)
    if not isinstance(url, str) or "{token}" not in url:
        issues.append(Issue("kiosk.ticket_url", "must be a URL template containing {token} (and usually {site})"))
        url = DEFAULT_TICKET_URL
    else:
        try:
            url.format(site="s", token="t", number="n")
        except (KeyError, IndexError, ValueError) as exc:
            issues.append(Issue("kiosk.ticket_url", f"only {{site}}, {{token}} and {{number}} may be used ({exc})"))
            url = DEFAULT_TICKET_URL

    wait = sec.get("where_to_wait", {})
    if not isinstance(wait, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in wait.items()):
        issues.append(Issue("kiosk.where_to_wait", "must be a table of texts per language: { fi = \"...\", ... }"))
        wait = {}

    inp = sec.get("input", "mouse")
    if not isinstance(inp, str) or not re.match(r"^(mouse|hidinput|mtdev|linuxwacom)(:\S+)?$", inp):
        issues.append(Issue("kiosk.input", 'must be one provider: "mouse", "hidinput:/dev/input/eventN" or '
                                           '"mtdev:/dev/input/eventN"'))
        inp = "mouse"

    langs = sec.get("interpreter_languages", list(DEFAULT_INTERPRETER_LANGS))
    if not isinstance(langs, list) or not langs or not all(isinstance(x, str) and _LANG_RE.match(x) for x in langs):
        issues.append(Issue("kiosk.interpreter_languages", "must be a list of language codes like \"ar\""))
        langs = list(DEFAULT_INTERPRETER_LANGS)

    s = KioskSettings(
        idle_s=idle, idle_warn_s=warn, ticket_idle_s=ticket_idle, window=window, ticket_url=url,
        where_to_wait={k: v.strip() for k, v in wait.items() if v.strip()},
        reprint_s=_num(sec, "reprint_s", 120, 0, 3600, issues),
        max_reprints=int(_num(sec, "max_reprints", 2, 0, 10, issues)),
        hub_timeout_s=_num(sec, "hub_timeout_s", 5, 0.5, 60, issues),
        input=inp, dpi=_num(sec, "dpi", 0, 0, 1000, issues),
        interpreter_languages=tuple(dict.fromkeys(langs)),
        printer_poll_s=_num(sec, "printer_poll_s", 5, 0.2, 600, issues),
        speech_speed=int(_num(sec, "speech_speed", 140, 80, 300, issues)),
    )
    if issues:
        raise ConfigError(source, issues)
    return s


def kiosk_settings(device: Device) -> KioskSettings:
    return parse_kiosk(device.section("kiosk"), f"{device.id}: [kiosk]")


def kiosk_languages(site: Site) -> tuple[str, ...]:
    """The languages the kiosk offers: the site's, in the site's order."""
    return site.languages
