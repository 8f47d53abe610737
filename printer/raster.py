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

from PIL import Image, ImageDraw, ImageFont, features

from runtime import fonts

__all__ = ["DOTS_PER_MM", "CAP_DOTS", "is_rtl", "render_line", "wrap", "raqm_available",
           "font_path", "missing_support"]

#: A 203 dpi head: 8 dots per millimetre.
DOTS_PER_MM = 8
#: Body text is at least 3 mm high (issue 16): capitals (Latin), alef (Arabic script) or a full
#: ideograph (Chinese) reach this many dots.
CAP_DOTS = 3 * DOTS_PER_MM
#: Blank dots kept above and below the ink, so consecutive image lines do not touch.
PAD = 4

#: The glyph whose ink height sets the font size: it must be at least CAP_DOTS tall.
_REFERENCE = fonts.REFERENCE


def raqm_available() -> bool:
    return bool(features.check("raqm"))


def missing_support() -> list[str]:
    """What this machine lacks to print every script right (the doctor warns about it):
    without raqm Arabic comes out unjoined and left to right, without the fonts as boxes."""
    out = []
    if not raqm_available():
        out.append("text shaping (Pillow's raqm needs the Debian package libfribidi0)")
    out.extend(fonts.missing_fonts())
    return out


is_rtl = fonts.is_rtl_text
_kind = fonts.script_kind
font_path = fonts.font_path


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
