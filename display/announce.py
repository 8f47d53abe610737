"""The spoken call: a chime, then "Numero K 42, tiski 3" in Finnish, "Nummer K 42, lucka 3" in
Swedish, and so on in every language of the display's `languages` that has a voice (uikit.speech
VOICES), in that order, through uikit.speech.Speaker — rendered with espeak-ng and played by a
separate process, queued so that no call cuts off another. A language without a voice (Somali) is
left out of the spoken call, never read by another language's voice; the display logs once which
languages it shows but cannot speak (it cannot say so on screen to everyone).

The number is spoken as its letters and a plain number ("K 42", not "K042"): espeak-ng reads a
separate capital letter as its name in the voice's language and 42 as a number; "K042" would come
out as a word or as "zero forty-two".
"""
from __future__ import annotations

import logging
import re
from collections.abc import Callable
from pathlib import Path

from core.config import Site
from core.i18n import Translator
from uikit.speech import Speaker, Utterance, has_voice

from .model import Call, counter_label

log = logging.getLogger(__name__)

_NUMBER_RE = re.compile(r"^([A-Za-z]+)0*(\d+)$")


def spoken_number(number: str) -> str:
    """'K042' → 'K 42'; 'AB007' → 'A B 7'; anything else as it is."""
    m = _NUMBER_RE.match(number.strip())
    if not m:
        return number
    return " ".join(m[1].upper()) + " " + str(int(m[2]))


def spoken_languages(langs: tuple[str, ...]) -> tuple[str, ...]:
    """The display's languages that have a voice, in the display's order."""
    return tuple(lang for lang in langs if has_voice(lang))


def unvoiced_languages(langs: tuple[str, ...]) -> tuple[str, ...]:
    """The display's languages that have no voice: shown on the labels, not spoken."""
    return tuple(lang for lang in langs if not has_voice(lang))


def announcement(call: Call, site: Site, langs: tuple[str, ...]) -> list[tuple[str, str]]:
    """(language, text) to speak for one call, in the display's order of languages, leaving out
    the languages without a voice."""
    out = []
    for lang in spoken_languages(langs):
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
        self.unvoiced = unvoiced_languages(langs)
        if self.unvoiced:  # once, when the display starts: not with every call
            log.warning("display languages without a voice, shown but not spoken: %s (spoken: %s)",
                        ", ".join(self.unvoiced), ", ".join(spoken_languages(langs)) or "none")
        self.speaker = Speaker(work_dir, player=player, on_done=on_done, speed=speed, keep_files=keep_files)

    def announce(self, call: Call) -> None:
        tag = f"{call.number}@{call.counter}{' recall' if call.recall else ''}#{call.ts}"
        self.speaker.say(announcement(call, self.site, self.langs), chime=self.chime, tag=tag)

    def close(self, timeout: float = 5.0) -> None:
        self.speaker.close(timeout)
