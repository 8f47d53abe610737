"""TicketLayout -> ESC/POS bytes, through python-escpos's Dummy printer.

One job is built in memory and sent in one write, so a ticket is never half-sent by us and its
size can be measured. Rules every job follows:

* `ESC @` first: the printer keeps style and code-page state between jobs, and a previous job
  (or a power glitch mid-job) must not leak bold, size or code page into this one.
* The code page is selected explicitly right after `ESC @` (the printer's power-on page is a
  DIP/memory-switch setting, not necessarily page 0). python-escpos's "magic encode" is NOT
  used: it picks a page per character run and e.g. switches to ISO-8859-7 (Greek) for "€".
  We force CP858 (ä ö å Ä Ö Å like CP437/850, plus €) and only step out of it, explicitly and
  for a whole line, when a line cannot be written in it at all (Cyrillic for ru/uk customers).
* A fresh Dummy per job: MagicEncode remembers the page it last selected and does not know
  that `ESC @` resets the printer, so a reused object would skip the select in the next job.
* QR with the printer's own `GS ( k` command (tens of bytes) when the profile has it; a
  raster image (kilobytes) only for profiles without native QR.
* A text element that no code page can carry (Sámi đ ŋ ŧ, Arabic script, Chinese, Vietnamese)
  is printed as raster images (`GS v 0`, drawn by printer.raster with shaping and right-to-left
  order); every other line stays text, so Latin-script tickets stay small. A right-to-left
  line that the layout puts on the left goes to the right.
* Body text is double height (`GS ! 0x01`): font A's capitals are then at least 3 mm tall on
  a 203 dpi head (issue 16: 1.9 mm was too small to read), and the width, so the number of
  characters per line, stays.
"""
from __future__ import annotations

import contextlib
import io
import textwrap
import unicodedata
from typing import Any

from escpos.constants import HW_INIT, QR_ECLEVEL_M
from escpos.printer import Dummy
from PIL import Image

from . import raster
from .layout import Cut, Feed, Qr, Rule, Text, TicketLayout

__all__ = ["render"]

#: The page every job is written in; the others in order if a profile lacks CP858.
PRIMARY_CODE_PAGES = ("CP858", "CP850", "CP437", "CP865")
#: Pages tried, in order, for a line the primary page cannot write. CP1251 covers Russian and
#: Ukrainian (і ї є ґ); CP866 lacks Ukrainian і; CP1257 covers Estonian š ž.
EXTRA_CODE_PAGES = ("CP1251", "CP1125", "CP866", "CP1257", "CP775", "CP1250", "CP852")
#: Character (width, height) multipliers (GS ! n). Font A is 12x24 dots, its capitals ~15-17
#: dots: double height makes body capitals >= 3.75 mm at 203 dpi; 4x4 is ~12 mm high.
SIZE_FACTOR = {"normal": (1, 2), "double": (2, 2), "large": (4, 4)}
#: Rules stay single height: they separate, they are not read.
RULE_SIZE = (1, 1)
#: Font A dots per column: a text line is columns x 12 dots wide, so is an image line.
FONT_A_WIDTH = 12
#: Format characters a raster line keeps: Persian needs ZWNJ between letters that must not
#: join, and bidi marks (which babel puts in Arabic dates) steer the right-to-left order.
_SHAPING_MARKS = frozenset("\u200c\u200d\u200e\u200f\u061c")
#: QR module size in dots (GS ( k fn 167) and error correction: ~25 mm wide for a short URL.
QR_MODULE = 6
DEFAULT_COLUMNS = 42


def render(layout: TicketLayout, profile: str | None = None, *, columns: int | None = None,
           native_qr: bool | None = None) -> bytes:
    """The whole job for one ticket. `native_qr=None` follows the profile's qrCode feature."""
    return _Renderer(profile, columns, native_qr).render(layout)


class _Renderer:
    def __init__(self, profile: str | None, columns: int | None, native_qr: bool | None):
        self.p = Dummy(profile=profile)
        prof = self.p.profile
        self.columns = columns or _profile_columns(prof)
        self.native_qr = prof.supports("qrCode") if native_qr is None else native_qr
        pages = prof.get_code_pages()
        self.primary = next((cp for cp in PRIMARY_CODE_PAGES if cp in pages), "CP437")
        self.extras = [cp for cp in EXTRA_CODE_PAGES if cp in pages]
        self.pages = set(pages)
        # Dots an image line may use: the text area (columns of font A), within the head.
        self.dot_width = _dot_width(prof, self.columns)
        self.can_raster = prof.supports("bitImageRaster")
        # Printer state as we have set it since ESC @ (None = not yet known/sent).
        self.size = (1, 1)
        self.bold = False
        self.align = "left"
        self.page: str | None = None

    def render(self, layout: TicketLayout) -> bytes:
        p = self.p
        p._raw(HW_INIT)
        self._page(self.primary)
        for el in layout:
            if isinstance(el, Text):
                self._text(el)
            elif isinstance(el, Rule):
                self._style(RULE_SIZE, False, "left")
                p.text("-" * self.columns + "\n")
            elif isinstance(el, Feed):
                p.text("\n" * max(0, el.lines))
            elif isinstance(el, Qr):
                self._qr(el.payload)
            elif isinstance(el, Cut):
                self._style((1, 1), False, "left")
                p.cut()
        return p.output

    # -- state changes: only what differs is sent, every byte counts toward the 1 KB target --
    def _style(self, size: tuple[int, int], bold: bool, align: str) -> None:
        if size != self.size:
            self.p.set(custom_size=True, width=size[0], height=size[1])  # GS ! n
            self.size = size
        if bold != self.bold:
            self.p.set(bold=bold)  # ESC E n
            self.bold = bold
        if align != self.align:
            self.p.set(align=align)  # ESC a n
            self.align = align

    def _page(self, page: str) -> None:
        if page != self.page:
            # charcode() emits ESC t n and pins MagicEncode to this page (no auto switching).
            self.p.charcode(page)
            self.page = page

    def _text(self, el: Text) -> None:
        size = SIZE_FACTOR.get(el.size, SIZE_FACTOR["normal"])
        width = max(1, self.columns // size[0])
        lines = textwrap.wrap(_plain(el.text), width) or [""]
        pages = [self._page_for(line) for line in lines]
        if None in pages and self.can_raster:
            self._raster(el)
            return
        self._style(size, el.bold, el.align)
        for line, page in zip(lines, pages):
            self._page(page or self.primary)  # no raster: unprintable characters become "?"
            self.p.text(line + "\n")

    def _page_for(self, line: str) -> str | None:
        enc = self.p.magic.encoder
        if all(enc.can_encode(self.primary, ch) for ch in line):
            return self.primary
        for cp in self.extras:
            if all(enc.can_encode(cp, ch) for ch in line):
                return cp
        return None

    def _raster(self, el: Text) -> None:
        text = _plain(el.text, keep=_SHAPING_MARKS)
        align = raster_align(text, el.align)
        # ESC a places the image as python-escpos' image(center=True) does; the blank margin
        # is cut off only on the side(s) the justification restores, so a centred or right
        # line lands where the full-width image would have put it (a printer that ignored
        # ESC a for images would print it on the left: still readable). Images are body
        # size whatever el.size says: only the number is "large", and it is always Latin.
        self._style(self.size, self.bold, align)
        for line in raster.wrap(text, self.dot_width, el.bold):
            img = trim_margins(raster.render_line(line, self.dot_width, align, el.bold), align)
            if img is not None:
                self.p._raw(raster_command(img))

    def _qr(self, payload: str) -> None:
        self._style((1, 1), False, "center")  # native QR follows ESC a; python-escpos's center= does not
        if self.native_qr:
            self.p.qr(payload, ec=QR_ECLEVEL_M, size=QR_MODULE, native=True)
            self.p.text("\n")
        elif self.p.profile.supports("bitImageRaster"):
            # python-escpos print()s a notice to stdout for profiles without a media width.
            with contextlib.redirect_stdout(io.StringIO()):
                self.p.qr(payload, ec=QR_ECLEVEL_M, size=4, native=False,
                          image_arguments={"impl": "bitImageRaster", "center": False})
        # A printer with neither (impact printers) prints the ticket without the code.


def raster_align(text: str, align: str) -> str:
    """Where an image line sits: a right-to-left line mirrors "left" to "right"."""
    if raster.is_rtl(text) and align == "left":
        return "right"
    return align


def trim_margins(img: Image.Image, align: str) -> Image.Image | None:
    """The image without the blank byte columns that justification `align` puts back: an
    image line is ~8 times the bytes of a text line, and at 19200 baud every byte counts
    (a full-width Arabic ticket would take more than the 10 s write timeout)."""
    box = img.getbbox()
    if box is None:
        return None
    cols = img.width // 8
    left, right = box[0] // 8, cols - (box[2] + 7) // 8
    if align == "center":
        left = right = min(left, right)
    elif align == "right":
        right = 0
    else:
        left = 0
    return img.crop((left * 8, 0, (cols - right) * 8, img.height))


def raster_command(img: Image.Image) -> bytes:
    """GS v 0 (normal density) for a mode "1" image whose ink is bit 1, width a multiple of 8."""
    xb, h = img.width // 8, img.height
    return b"\x1dv0\x00" + bytes([xb & 0xFF, xb >> 8, h & 0xFF, h >> 8]) + bytes(img.tobytes())


def _dot_width(prof: Any, columns: int) -> int:
    dots = columns * FONT_A_WIDTH
    try:
        dots = min(dots, int(prof.profile_data["media"]["width"]["pixels"]))
    except (KeyError, TypeError, ValueError):  # "Unknown" in generic profiles
        pass
    return max(8, dots // 8 * 8)


def _profile_columns(prof) -> int:
    try:
        return int(prof.get_columns("a"))
    except Exception:  # profiles without font data
        return DEFAULT_COLUMNS


def _plain(text: str, keep: frozenset[str] = frozenset()) -> str:
    """Text as the printer can take it: composed characters, plain spaces, no control codes.

    Babel puts U+202F/U+00A0 in times and numbers ("12:05 PM", "1 234"); CP858 has no U+202F.
    A control character in data (a site name, say) must not become a printer command.
    `keep`: format characters (Cf) kept for a line that is drawn, not sent as text.
    """
    text = unicodedata.normalize("NFC", text)
    out = []
    for ch in text:
        cat = unicodedata.category(ch)
        if cat == "Zs" or ch in "\t\r\n":
            out.append(" ")
        elif cat in ("Cc", "Cf") and ch not in keep:
            continue
        elif ch in "\u2010\u2011\u2012\u2013\u2014\u2212":
            out.append("-")
        elif ch in "\u2018\u2019":
            out.append("'")
        elif ch in "\u201c\u201d\u201e":
            out.append('"')
        elif ch == "\u2026":
            out.append("...")
        else:
            out.append(ch)
    return " ".join("".join(out).split())
