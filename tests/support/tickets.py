"""A printed ticket decoded from the emulated printer, checked against the layout it was made from:
Latin-script lines as text, every other line as an image equal, dot for dot, to printer.raster's
drawing of the expected string (tests/test_printer_scripts.py, the kiosk's per-language walk)."""
from __future__ import annotations

from printer import escpos_render, raster
from printer.layout import Text, TicketLayout
from sim.escpos_decode import DecodedJob, Line, Raster
from sim.printer_render import raster_on_paper

COLUMNS = 42
DOT_WIDTH = COLUMNS * escpos_render.FONT_A_WIDTH  # the default profile: 42 columns of font A
#: Python's own codecs for the renderer's code pages: an oracle independent of python-escpos.
TEXT_CODECS = ("cp858", "cp1251", "cp1125", "cp866", "cp1257", "cp775", "cp1250", "cp852")



def as_text(s: str) -> bool:
    """Whether a line can go as text: one code page has all of it (after the renderer's
    clean-up of spaces and invisible marks)."""
    plain = escpos_render._plain(s)
    for codec in TEXT_CODECS:
        try:
            plain.encode(codec)
            return True
        except UnicodeEncodeError:
            continue
    return False


def content(job: DecodedJob) -> list:
    """Lines and images the reader reads: no rules, blank feeds, QR or cut."""
    return [b for b in job.blocks
            if isinstance(b, Raster) or (isinstance(b, Line) and b.text.strip("- "))]


def check_against_layout(lay: TicketLayout, job: DecodedJob) -> tuple[int, int]:
    """Walks the layout's text elements and the decoded job together. Returns (texts, images)."""
    blocks = content(job)
    n_text = n_img = 0
    for el in (e for e in lay if isinstance(e, Text)):
        if as_text(el.text):
            want = escpos_render._plain(el.text)
            got: list[str] = []
            while " ".join(got) != want:
                assert blocks, f"missing text line {want!r}"
                b = blocks.pop(0)
                assert isinstance(b, Line), f"{want!r} came as an image"
                got.append(b.text)
                assert want.startswith(" ".join(got)), (want, got)
            n_text += 1
            continue
        text = escpos_render._plain(el.text, keep=escpos_render._SHAPING_MARKS)
        align = "right" if (raster.is_rtl(text) and el.align == "left") else el.align
        for line in raster.wrap(text, DOT_WIDTH, el.bold):
            b = blocks.pop(0)
            assert isinstance(b, Raster), f"{line!r} came as text: {getattr(b, 'text', b)!r}"
            expected = raster.render_line(line, DOT_WIDTH, align, el.bold)
            paper = raster_on_paper(b, DOT_WIDTH)
            assert paper.size == expected.size, line
            assert paper.tobytes() == expected.tobytes(), f"image of {line!r} differs"
            n_img += 1
    assert blocks == [], f"unexpected extra lines: {blocks}"
    return n_text, n_img
