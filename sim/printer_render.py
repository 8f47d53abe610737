"""A recorded print job as the paper would look: plain text, or a PNG (for the demo).

Approximates an 80 mm thermal printer at 203 dpi: 576 dots wide, font A 12x24 dots, size
multipliers as pixel scaling (blocky, like the real head), the QR drawn from its payload with the
`qrcode` library at the module size the job asked for.
"""
from __future__ import annotations

import functools
from pathlib import Path

import qrcode
from PIL import Image, ImageDraw, ImageFont

from sim.escpos_decode import Cut, DecodedJob, Line, QrCode, Raster, decode

WIDTH = 576
CELL_W, CELL_H = 12, 24
LINE_GAP = 6  # default line spacing is 30 dots for 24-dot font A
PAPER = (250, 249, 244)
INK = (28, 28, 32)
_FONT_CANDIDATES = (
    "/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf",
    "/usr/share/fonts/truetype/noto/NotoSansMono-Regular.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationMono-Regular.ttf",
)
_BOLD_CANDIDATES = (
    "/usr/share/fonts/truetype/dejavu/DejaVuSansMono-Bold.ttf",
    "/usr/share/fonts/truetype/noto/NotoSansMono-Bold.ttf",
)


def job_text(job: bytes | DecodedJob, profile: str | None = None) -> str:
    d = job if isinstance(job, DecodedJob) else decode(job, profile)
    out = []
    for b in d.blocks:
        if isinstance(b, Line):
            out.append(b.text)
        elif isinstance(b, QrCode):
            out.append(f"[QR {b.payload}]")
        elif isinstance(b, Raster):
            out.append(f"[image {b.width}x{b.height}]")
        elif isinstance(b, Cut):
            out.append("-- cut --")
    return "\n".join(out)


def render_png(job: bytes | DecodedJob, path: str | Path | None = None,
               profile: str | None = None) -> Image.Image:
    """The job as an image; also written to `path` as PNG when given."""
    d = job if isinstance(job, DecodedJob) else decode(job, profile)
    parts: list[tuple[Image.Image, str]] = []
    for b in d.blocks:
        if isinstance(b, Line):
            parts.append((_line_image(b), b.align))
        elif isinstance(b, QrCode):
            parts.append((_qr_image(b), b.align))
        elif isinstance(b, Raster):
            parts.append((_raster_image(b), b.align))
        elif isinstance(b, Cut):
            parts.append((_cut_image(), "left"))
    height = 16 + sum(im.height for im, _ in parts) + 16
    page = Image.new("RGB", (WIDTH, max(height, 64)), PAPER)
    y = 16
    for im, align in parts:
        x = {"center": (WIDTH - im.width) // 2, "right": WIDTH - im.width}.get(align, 0)
        page.paste(im, (max(0, x), y))
        y += im.height
    if path is not None:
        page.save(str(path), format="PNG")
    return page


@functools.lru_cache(maxsize=4)
def _font(bold: bool) -> ImageFont.ImageFont:
    for p in (_BOLD_CANDIDATES if bold else ()) + _FONT_CANDIDATES:
        if Path(p).exists():
            return ImageFont.truetype(p, 20)
    return ImageFont.load_default(20)


def _line_image(line: Line) -> Image.Image:
    text = line.text
    glyphs = Image.new("L", (max(1, len(text)) * CELL_W, CELL_H), 0)
    draw = ImageDraw.Draw(glyphs)
    font = _font(line.bold)
    for i, ch in enumerate(text):  # one cell per character, like the printer's font
        draw.text((i * CELL_W, 1), ch, font=font, fill=255)
    # A thermal head burns a dot or not: threshold, then scale dots up as the printer does.
    dots = glyphs.point(lambda v: 255 if v >= 100 else 0).resize(
        (glyphs.width * line.width, CELL_H * line.height), Image.NEAREST)
    scaled = Image.new("RGB", dots.size, PAPER)
    scaled.paste(INK, (0, 0), dots)
    w = min(WIDTH, scaled.width)
    out = Image.new("RGB", (w, scaled.height + LINE_GAP), PAPER)
    out.paste(scaled.crop((0, 0, w, scaled.height)), (0, 0))
    return out


def _qr_image(q: QrCode) -> Image.Image:
    code = qrcode.QRCode(box_size=max(1, q.module), border=0,
                         error_correction=qrcode.constants.ERROR_CORRECT_M)
    code.add_data(q.payload)
    code.make(fit=True)
    img = code.make_image(fill_color=INK, back_color=PAPER).get_image().convert("RGB")
    out = Image.new("RGB", (min(WIDTH, img.width), img.height + LINE_GAP), PAPER)
    out.paste(img, (0, 0))
    return out


def _raster_image(r: Raster) -> Image.Image:
    # ESC/POS raster: bit 1 = burn a dot; read as PIL "1" it is white, so it is the ink mask.
    ink = Image.frombytes("1", (r.width, r.height), bytes(r.data)).convert("L")
    img = Image.new("RGB", ink.size, PAPER)
    img.paste(INK, (0, 0), ink)
    return img.crop((0, 0, min(WIDTH, img.width), img.height))


def raster_on_paper(r: Raster, width: int) -> Image.Image:
    """A decoded image line where the printer puts it on a `width`-dot line (ESC a applied),
    as a mode "1" image with ink = 1: comparable pixel for pixel with printer.raster's."""
    ink = Image.frombytes("1", (r.width, r.height), bytes(r.data))
    x = {"center": (width - r.width) // 2, "right": width - r.width}.get(r.align, 0)
    paper = Image.new("1", (width, r.height), 0)
    paper.paste(ink, (x, 0))
    return paper


def cap_height_dots(line: Line) -> int:
    """Dots from top to bottom of a capital "H" printed in `line`'s size, as drawn here
    (font A's 24-dot cell, capitals ~15 dots: the emulator errs on the small side)."""
    img = _line_image(Line("H", line.width, line.height, "left", line.bold)).convert("L")
    box = img.point(lambda v: 255 if v < 128 else 0).getbbox()
    return 0 if box is None else box[3] - box[1]


def _cut_image() -> Image.Image:
    im = Image.new("RGB", (WIDTH, 12), PAPER)
    d = ImageDraw.Draw(im)
    for x in range(0, WIDTH, 16):
        d.line([(x, 6), (x + 8, 6)], fill=(150, 150, 150), width=1)
    return im
