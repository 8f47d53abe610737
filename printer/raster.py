"""A ticket line the printer's code pages cannot carry -> a 1-bit image for GS v 0.

Thermal printers only know their code pages: Sámi đ ŋ ŧ, Arabic, Persian, Sorani, Chinese and
Vietnamese would print as "?". Such a line is drawn here with Pillow and libraqm, which shapes
Arabic script (joined letters, ligatures, ZWNJ) and orders right-to-left text with FriBiDi.
Pillow's wheels bundle raqm and HarfBuzz and load the system's libfribidi (Debian libfribidi0)
at run time; without it `PIL.features.check("raqm")` is False and letters would come out
unjoined and left to right, which `raqm_available()` lets the doctor report.

An image is as wide as the printer's printable area (`width` dots, a multiple of 8) with the text
placed in it as the line is aligned, and only as tall as its ink plus a small margin: every row
costs width/8 bytes on a 19200-baud serial line. Ink is bit 1, as ESC/POS burns it.
"""
from __future__ import annotations

import functools
import unicodedata
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont, features

__all__ = ["DOTS_PER_MM", "CAP_DOTS", "is_rtl", "render_line", "wrap", "raqm_available",
           "font_path", "missing_support"]

#: A 203 dpi head: 8 dots per millimetre.
DOTS_PER_MM = 8
#: Body text is at least 3 mm high (issue 16): capitals (Latin), alef (Arabic script) or a full
#: ideograph (Chinese) reach this many dots.
CAP_DOTS = 3 * DOTS_PER_MM
#: Blank dots kept above and below the ink, so consecutive image lines do not touch.
PAD = 4

_NOTO = "/usr/share/fonts/truetype/noto/"
_DEJAVU = "/usr/share/fonts/truetype/dejavu/"
#: Fonts per kind of line, best first; (regular, bold). DejaVu (fonts-dejavu-core, always
#: installed) is the last resort: it has Latin, Sámi, Vietnamese and Arabic, but no Chinese.
#: wqy-microhei is the smallest Debian font with Chinese (5 MB against fonts-noto-cjk's 90 MB).
_FONTS: dict[str, tuple[tuple[str, str], ...]] = {
    "cjk": (("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",) * 2,
            ("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
             "/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc")),
    # Noto Sans Arabic has no Latin letters and little punctuation: a line mixing them needs
    # one font with both ("mixed"), because Pillow draws a line in a single font.
    "arabic": ((_NOTO + "NotoSansArabic-Regular.ttf", _NOTO + "NotoSansArabic-Bold.ttf"),
               (_DEJAVU + "DejaVuSans.ttf", _DEJAVU + "DejaVuSans-Bold.ttf")),
    "mixed": ((_DEJAVU + "DejaVuSans.ttf", _DEJAVU + "DejaVuSans-Bold.ttf"),),
    "latin": ((_NOTO + "NotoSans-Regular.ttf", _NOTO + "NotoSans-Bold.ttf"),
              (_DEJAVU + "DejaVuSans.ttf", _DEJAVU + "DejaVuSans-Bold.ttf")),
}
#: The glyph whose ink height sets the font size: it must be at least CAP_DOTS tall.
_REFERENCE = {"cjk": "国", "arabic": "ا", "mixed": "H", "latin": "H"}


def raqm_available() -> bool:
    return bool(features.check("raqm"))


def missing_support() -> list[str]:
    """What this machine lacks to print every script right (the doctor warns about it):
    without raqm Arabic comes out unjoined and left to right, without the fonts as boxes."""
    out = []
    if not raqm_available():
        out.append("text shaping (Pillow's raqm needs the Debian package libfribidi0)")
    if not Path(_FONTS["arabic"][0][0]).exists():
        out.append("Noto Sans Arabic (fonts-noto-core)")
    if not any(Path(regular).exists() for regular, _ in _FONTS["cjk"]):
        out.append("a Chinese font (fonts-wqy-microhei)")
    return out


def is_rtl(text: str) -> bool:
    """True when the first strong character is right-to-left (the line's base direction)."""
    for ch in text:
        bidi = unicodedata.bidirectional(ch)
        if bidi in ("R", "AL"):
            return True
        if bidi == "L":
            return False
    return False


#: All that Noto Sans Arabic has besides Arabic script (and the marks raqm consumes): a line
#: with anything else, "(" or "/" say, is drawn in DejaVu Sans, which has both.
_ARABIC_FONT_EXTRAS = frozenset(" !,-.0123456789:\u00a0\u200c\u200d\u200e\u200f\u061c")


def _kind(text: str) -> str:
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


def font_path(text: str, bold: bool = False) -> str:
    """The first installed font for this line's script (DejaVu Sans when none is)."""
    for regular, heavy in _FONTS[_kind(text)]:
        path = heavy if bold else regular
        if Path(path).exists():
            return path
    return _DEJAVU + ("DejaVuSans-Bold.ttf" if bold else "DejaVuSans.ttf")


@functools.lru_cache(maxsize=16)
def _font(path: str, ref: str) -> ImageFont.FreeTypeFont:
    """The smallest size at which `ref` is CAP_DOTS tall: measured, as fonts differ."""
    engine = ImageFont.Layout.RAQM if raqm_available() else ImageFont.Layout.BASIC
    size = CAP_DOTS
    while True:
        font = ImageFont.truetype(path, size, layout_engine=engine)
        if _ink_height(font, ref) >= CAP_DOTS or size > 4 * CAP_DOTS:
            return font
        size += 1


def _ink_height(font: ImageFont.FreeTypeFont, text: str) -> int:
    """Rows of burnt dots (after the threshold the head applies), not the font's box."""
    size = int(font.size)
    canvas = Image.new("L", (4 * size * max(1, len(text)), 4 * size), 0)
    ImageDraw.Draw(canvas).text((size, 2 * size), text, font=font, fill=255, anchor="ls")
    box = _burn(canvas).getbbox()
    return 0 if box is None else box[3] - box[1]


def _burn(img: Image.Image) -> Image.Image:
    # A head burns a dot or not: threshold at half grey (no dithering: it blurs small letters).
    return img.point(lambda v: 255 if v >= 128 else 0).convert("1")


def _font_for(text: str, bold: bool) -> ImageFont.FreeTypeFont:
    kind = _kind(text)
    path = font_path(text, bold)
    ref = _REFERENCE[kind] if kind != "arabic" or "Arabic" in path else "H"
    return _font(path, ref)


def wrap(text: str, width: int, bold: bool = False) -> list[str]:
    """Greedy word wrap measured in dots; a word wider than the paper (Chinese has no spaces)
    is broken between characters."""
    font = _font_for(text, bold)

    def fits(s: str) -> bool:
        return font.getlength(s) <= width

    lines: list[str] = []
    cur = ""
    for word in text.split():
        cand = f"{cur} {word}" if cur else word
        if fits(cand):
            cur = cand
            continue
        if cur:
            lines.append(cur)
            cur = ""
        while not fits(word) and len(word) > 1:
            cut = len(word) - 1
            while cut > 1 and not fits(word[:cut]):
                cut -= 1
            lines.append(word[:cut])
            word = word[cut:]
        cur = word
    if cur:
        lines.append(cur)
    return lines


def render_line(text: str, width: int, align: str = "left", bold: bool = False) -> Image.Image:
    """One line (already wrapped to fit) as a mode "1" image `width` dots wide, ink = 1.

    `align` is where the line sits on the paper; the caller mirrors "left" to "right" for a
    right-to-left line. The text is shaped and ordered by raqm (direction from the text).
    """
    font = _font_for(text, bold)
    size = int(font.size)
    # Baseline two ems down a four-em canvas: room for stacked marks (Vietnamese ấ, Arabic
    # shadda with a vowel) above and deep descenders below; the crop keeps only the ink.
    canvas = Image.new("L", (width, 4 * size), 0)
    draw = ImageDraw.Draw(canvas)
    length = font.getlength(text)
    x = {"center": (width - length) / 2, "right": width - length}.get(align, 0.0)
    draw.text((max(0.0, x), 2 * size), text, font=font, fill=255, anchor="ls")
    ink = _burn(canvas).getbbox()
    if ink is None:
        top, bottom = size, size + 1
    else:
        top, bottom = ink[1], ink[3]
    band = canvas.crop((0, max(0, top - PAD), width, min(canvas.height, bottom + PAD)))
    return _burn(band)
