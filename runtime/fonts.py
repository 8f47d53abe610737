"""Which installed font draws a piece of text: one font per script, chosen from the text itself.

Pillow (the printer's raster lines, the apps' shaped labels) draws a string in a single font and
has no fallback, and no one font on a Debian machine has Latin, Arabic and Chinese together. So
the text picks: Chinese (and any CJK) in WenQuanYi Micro Hei, which has Latin and digits too;
Arabic script alone in Noto Sans Arabic; Arabic mixed with Latin letters or punctuation that
Noto Sans Arabic lacks in DejaVu Sans, which has both; everything else in Noto Sans (or the
caller's own Latin font). Debian packages: fonts-noto-core, fonts-wqy-microhei, fonts-dejavu-core
(scripts/system-deps.sh; `missing_fonts()` names what a machine lacks).
"""
from __future__ import annotations

import functools
import unicodedata
from pathlib import Path

__all__ = ["KINDS", "script_kind", "font_path", "missing_fonts", "is_rtl_text", "REFERENCE"]

_NOTO = "/usr/share/fonts/truetype/noto/"
_DEJAVU = "/usr/share/fonts/truetype/dejavu/"
#: Fonts per kind of text, best first; (regular, bold). DejaVu (fonts-dejavu-core, always
#: installed) is the last resort: it has Latin, Sámi, Vietnamese and Arabic, but no Chinese.
#: wqy-microhei is the smallest Debian font with Chinese (5 MB against fonts-noto-cjk's 90 MB).
FONTS: dict[str, tuple[tuple[str, str], ...]] = {
    "cjk": (("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",) * 2,
            ("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
             "/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc")),
    "arabic": ((_NOTO + "NotoSansArabic-Regular.ttf", _NOTO + "NotoSansArabic-Bold.ttf"),
               (_DEJAVU + "DejaVuSans.ttf", _DEJAVU + "DejaVuSans-Bold.ttf")),
    "mixed": ((_DEJAVU + "DejaVuSans.ttf", _DEJAVU + "DejaVuSans-Bold.ttf"),),
    "latin": ((_NOTO + "NotoSans-Regular.ttf", _NOTO + "NotoSans-Bold.ttf"),
              (_DEJAVU + "DejaVuSans.ttf", _DEJAVU + "DejaVuSans-Bold.ttf")),
}
KINDS = tuple(FONTS)
#: A glyph whose ink height stands for the text's size in each kind: a capital (Latin), alef
#: (Arabic script), a full ideograph (Chinese).
REFERENCE = {"cjk": "国", "arabic": "ا", "mixed": "H", "latin": "H"}

#: All that Noto Sans Arabic has besides Arabic script (and the marks raqm consumes): text
#: with anything else, "(" or "/" say, is drawn in DejaVu Sans, which has both.
_ARABIC_FONT_EXTRAS = frozenset(" !,-.0123456789:\u00a0\u200c\u200d\u200e\u200f\u061c")


def script_kind(text: str) -> str:
    """"cjk", "arabic", "mixed" (Arabic script with Latin) or "latin" for this text."""
    arabic = latin = False
    for ch in text:
        o = ord(ch)
        if (0x2E80 <= o <= 0x9FFF or 0xF900 <= o <= 0xFAFF or 0xFF00 <= o <= 0xFFEF
                or 0x20000 <= o <= 0x3FFFF or 0xAC00 <= o <= 0xD7AF):
            return "cjk"  # wqy-microhei has Latin and digits too
        if 0x0600 <= o <= 0x08FF or 0xFB50 <= o <= 0xFDFF or 0xFE70 <= o <= 0xFEFF:
            arabic = True
        elif ch not in _ARABIC_FONT_EXTRAS:
            latin = True
    if arabic:
        return "mixed" if latin else "arabic"
    return "latin"


@functools.lru_cache(maxsize=64)
def _installed(kind: str, bold: bool) -> str:
    for regular, heavy in FONTS[kind]:
        path = heavy if bold else regular
        if Path(path).exists():
            return path
    return _DEJAVU + ("DejaVuSans-Bold.ttf" if bold else "DejaVuSans.ttf")


def font_path(text: str, bold: bool = False, kind: str | None = None) -> str:
    """The first installed font for this text's script (DejaVu Sans when none is)."""
    return _installed(kind or script_kind(text), bold)


def missing_fonts() -> list[str]:
    """The fonts this machine lacks for Arabic script and Chinese (they would show as boxes)."""
    out = []
    if not Path(FONTS["arabic"][0][0]).exists():
        out.append("Noto Sans Arabic (fonts-noto-core)")
    if not any(Path(regular).exists() for regular, _ in FONTS["cjk"]):
        out.append("a Chinese font (fonts-wqy-microhei)")
    return out


def is_rtl_text(text: str) -> bool:
    """True when the first strong character is right-to-left (the text's base direction)."""
    for ch in text:
        bidi = unicodedata.bidirectional(ch)
        if bidi in ("R", "AL"):
            return True
        if bidi == "L":
            return False
    return False
