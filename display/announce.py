"""The spoken call: a chime, then "Numero K 42, tiski 3" in Finnish, "Nummer K 42, lucka 3" in
Swedish (and English where the display is set to), through uikit.speech.Speaker — rendered with
espeak-ng and played by a separate process, queued so that no call cuts off another.

The number is spoken as its letters and a plain number ("K 42", not "K042"): espeak-ng reads a
separate capital letter as its name in the voice's language and 42 as a number; "K042" would come
out as a word or as "zero forty-two".
"""
from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from core.config import Site
from core.i18n import Translator
from uikit.speech import Speaker, Utterance

from .model import Call, counter_label

_NUMBER_RE = re.compile(r"^([A-Za-z]+)0*(\d+)$")


def spoken_number(number: str) -> str:
    """'K042' → 'K 42'; 'AB007' → 'A B 7'; anything else as it is."""
    m = _NUMBER_RE.match(number.strip())
    if not m:
        return number
    return " ".join(m[1].upper()) + " " + str(int(m[2]))


def announcement(call: Call, site: Site, langs: tuple[str, ...]) -> list[tuple[str, str]]:
    """(language, text) to speak for one call, in the display's order of languages."""
    out = []
    for lang in langs:
        t = Translator(lang, "display", site.timezone)
        text = t("Number {number}, {counter}").format(number=spoken_number(call.number),
                                                       counter=counter_label(site, call.counter, lang))
        out.append((lang, text))
    return out


class Announcer:
    """Turns calls into queued utterances. `player`: a command list, None (render only) or "auto"."""

    def __init__(self, site: Site, langs: tuple[str, ...], work_dir: Path, *, chime: bool = True,
                 player: list[str] | str | None = "auto",
                 on_done: Callable[[Utterance, list[Path]], None] | None = None,
                 keep_files: bool = False, speed: int = 140) -> None:
        self.site = site
        self.langs = langs
        self.chime = chime
        self.speaker = Speaker(work_dir, player=player, on_done=on_done, speed=speed, keep_files=keep_files)

    def announce(self, call: Call) -> None:
        tag = f"{call.number}@{call.counter}{' recall' if call.recall else ''}#{call.ts}"
        self.speaker.say(announcement(call, self.site, self.langs), chime=self.chime, tag=tag)

    def close(self, timeout: float = 5.0) -> None:
        self.speaker.close(timeout)
