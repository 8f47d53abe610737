"""ESC/POS bytes -> what a printer would put on paper (lines, QR codes, images, cuts).

For tests and the demo emulator: understands the commands our renderer and python-escpos
emit, and skips other ESC/GS commands by their known lengths. Text is decoded with the code
page the job selected (`ESC t n`, looked up in the python-escpos profile), through the same
character tables python-escpos encodes with, so a round trip checks the real bytes.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from escpos.capabilities import get_profile
from escpos.magicencode import Encoder

ESC, GS, DLE, LF = 0x1B, 0x1D, 0x10, 0x0A
INIT = b"\x1b@"
#: Total lengths of the fixed-length ESC / GS commands we may meet (default: 2 bytes).
_ESC_LEN = {**dict.fromkeys(b" !-3EGJMRUVadet{r", 3), **dict.fromkeys(b"$\\c", 4), ord("p"): 5}
_GS_LEN = {**dict.fromkeys(b"!BHIabfhrw", 3), **dict.fromkeys(b"LWP", 4)}


@dataclass
class Line:
    text: str
    width: int = 1
    height: int = 1
    align: str = "left"
    bold: bool = False


@dataclass
class QrCode:
    payload: str
    module: int = 3
    align: str = "left"


@dataclass
class Raster:
    width: int  # dots
    height: int
    data: bytes  # row-major, 1 bit per dot, MSB first, width//8 bytes per row
    align: str = "left"


@dataclass
class Cut:
    partial: bool = False


@dataclass
class DecodedJob:
    blocks: list = field(default_factory=list)
    codepage_selects: list[int] = field(default_factory=list)
    inits: int = 0
    status_queries: list[int] = field(default_factory=list)

    @property
    def lines(self) -> list[Line]:
        return [b for b in self.blocks if isinstance(b, Line)]

    @property
    def text(self) -> str:
        return "\n".join(b.text for b in self.lines)

    @property
    def qr_payloads(self) -> list[str]:
        return [b.payload for b in self.blocks if isinstance(b, QrCode)]

    @property
    def cuts(self) -> int:
        return sum(isinstance(b, Cut) for b in self.blocks)


def split_jobs(data: bytes) -> list[bytes]:
    """Jobs as the printer sees them: each starts with ESC @ (bytes before the first are dropped)."""
    parts = data.split(INIT)
    return [INIT + p for p in parts[1:]]


def decode_text(data: bytes, profile: str | None = None) -> str:
    return decode(data, profile).text


def extract_qr_payloads(data: bytes, profile: str | None = None) -> list[str]:
    return decode(data, profile).qr_payloads


def decode(data: bytes, profile: str | None = None) -> DecodedJob:
    return _Decoder(profile).run(data)


class _Decoder:
    def __init__(self, profile: str | None):
        prof = get_profile(profile)
        self.slots = {int(slot): name for slot, name in prof.codePages.items()}
        self.encoder = Encoder(prof.get_code_pages())
        self.job = DecodedJob()
        self._reset()
        self.line = bytearray()
        self.line_style: tuple | None = None
        self.qr_store = b""

    def _reset(self) -> None:
        self.page = self.slots.get(0, "CP437")
        self.width = self.height = 1
        self.esc_mode = 0
        self.bold = False
        self.align = "left"
        self.qr_module = 3

    def _chars(self) -> list[str]:
        try:
            return self.encoder._get_codepage_char_list(self.page)
        except Exception:  # unknown page: show the high half as "?"
            return ["?"] * 128

    def _put(self, b: int) -> None:
        if not self.line:
            self.line_style = (self.width, self.height, self.align, self.bold)
        chars = self._chars()
        ch = chr(b) if b < 0x80 else chars[b - 0x80]
        self.line += ch.encode("utf-8")

    def _newline(self) -> None:
        w, h, a, bold = self.line_style or (self.width, self.height, self.align, self.bold)
        self.job.blocks.append(Line(self.line.decode("utf-8"), w, h, a, bold))
        self.line = bytearray()
        self.line_style = None

    def _flush(self) -> None:
        if self.line:
            self._newline()

    def run(self, d: bytes) -> DecodedJob:
        i, n = 0, len(d)
        while i < n:
            b = d[i]
            if b == LF:
                self._newline()
                i += 1
            elif b == ESC and i + 1 < n:
                i = self._esc(d, i)
            elif b == GS and i + 1 < n:
                i = self._gs(d, i)
            elif b == DLE and i + 2 < n and d[i + 1] == 0x04:
                self.job.status_queries.append(d[i + 2])
                i += 3
            elif b < 0x20 or b == 0x7F:
                i += 1  # other control characters print nothing
            else:
                self._put(b)
                i += 1
        self._flush()
        return self.job

    def _esc(self, d: bytes, i: int) -> int:
        c = d[i + 1]
        arg = d[i + 2] if i + 2 < len(d) else 0
        if c == ord("@"):
            self._flush()
            self._reset()
            self.job.inits += 1
            return i + 2
        if c == ord("t"):
            self.job.codepage_selects.append(arg)
            self.page = self.slots.get(arg, "Unknown")
        elif c == ord("!"):
            self.esc_mode = arg
            self.bold = bool(arg & 0x08)
            self.height = 2 if arg & 0x10 else 1
            self.width = 2 if arg & 0x20 else 1
        elif c == ord("E"):
            self.bold = bool(arg & 1)
        elif c == ord("a"):
            self.align = {0: "left", 1: "center", 2: "right", 48: "left", 49: "center",
                          50: "right"}.get(arg, "left")
        elif c == ord("d"):
            self._flush()
            self.job.blocks.extend(Line("", 1, 1, self.align, False) for _ in range(arg))
        if c == ord("*"):  # ESC * m nL nH data (column image): skip
            cols = d[i + 3] + 256 * d[i + 4] if i + 4 < len(d) else 0
            return i + 5 + cols * (3 if arg in (32, 33) else 1)
        return i + _ESC_LEN.get(c, 2)

    def _gs(self, d: bytes, i: int) -> int:
        c = d[i + 1]
        if c == ord("!"):
            arg = d[i + 2]
            self.width, self.height = (arg >> 4) + 1, (arg & 0x0F) + 1
            return i + 3
        if c == ord("V"):
            m = d[i + 2]
            self._flush()
            self.job.blocks.append(Cut(partial=m in (1, 49, 66)))
            return i + (4 if m in (65, 66) else 3)
        if c == ord("(") and i + 4 < len(d):
            length = d[i + 3] + 256 * d[i + 4]
            body = d[i + 5:i + 5 + length]
            if d[i + 2] == ord("k"):
                self._symbol(body)
            return i + 5 + length
        if c == ord("v") and d[i + 2] == ord("0") and i + 7 < len(d):
            xb = d[i + 4] + 256 * d[i + 5]
            h = d[i + 6] + 256 * d[i + 7]
            data = d[i + 8:i + 8 + xb * h]
            self._flush()
            self.job.blocks.append(Raster(xb * 8, h, bytes(data), self.align))
            return i + 8 + xb * h
        return i + _GS_LEN.get(c, 2)

    def _symbol(self, body: bytes) -> None:
        """GS ( k with cn=49 (QR): 67 module size, 80 store data, 81 print what is stored."""
        if len(body) < 2 or body[0] != 49:
            return
        fn = body[1]
        if fn == 67 and len(body) > 2:
            self.qr_module = body[2]
        elif fn == 80:
            self.qr_store = body[3:]  # after cn, fn, m
        elif fn == 81:
            self._flush()
            self.job.blocks.append(
                QrCode(self.qr_store.decode("utf-8", "replace"), self.qr_module, self.align))
