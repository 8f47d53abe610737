"""ESC/POS real-time status (DLE EOT n) and what the answers mean. Pure: no I/O.

Every answer byte has bits 1 and 4 set and bits 0 and 7 clear; a byte that does not fit is
not a status answer (XON/XOFF, a late byte, line noise) and is ignored by the reader.

We read the bytes ourselves: python-escpos 3.1's `paper_status()` returns 2 ("paper
adequate") when the printer does not answer at all, and `is_online()` returns False for both
"offline" and "no answer". A dead printer must never look like one with paper, and "nobody
answered" must stay apart from "paper out" — the technician's fix is a different one.
"""
from __future__ import annotations

from enum import Enum

DLE_EOT = b"\x10\x04"
PRINTER, OFFLINE_CAUSE, ERROR_CAUSE, PAPER_SENSOR = 1, 2, 3, 4


def query(n: int) -> bytes:
    """The DLE EOT n request: 1 printer, 2 offline cause, 3 error cause, 4 paper roll sensor."""
    if n not in (1, 2, 3, 4):
        raise ValueError(f"DLE EOT n: n must be 1..4, not {n!r}")
    return DLE_EOT + bytes([n])


def is_status_byte(b: int) -> bool:
    return (b & 0x93) == 0x12


class PrinterStatus(str, Enum):
    """One word for the printer's state. When several conditions hold at once, `combine`
    picks the one to fix first (cover, then paper, then error)."""

    OK = "ok"
    PAPER_NEAR_END = "paper_near_end"  # prints; change the roll soon
    UNCHECKED = "unchecked"            # status queries switched off in the URL; printed blind
    PAPER_OUT = "paper_out"
    COVER_OPEN = "cover_open"
    ERROR = "error"                    # cutter jam, head hot, mechanical or unrecoverable error
    OFFLINE = "offline"                # offline for a reason the printer does not tell
    NO_ANSWER = "no_answer"            # connected, but no status byte within the timeout
    DISCONNECTED = "disconnected"      # the connection itself could not be opened or broke

    @property
    def can_print(self) -> bool:
        return self in (PrinterStatus.OK, PrinterStatus.PAPER_NEAR_END, PrinterStatus.UNCHECKED)

    @property
    def is_fault(self) -> bool:
        return not self.can_print

    @property
    def paper(self) -> str:
        """For the device health message: ok / near_end / out / unknown."""
        return {PrinterStatus.OK: "ok", PrinterStatus.PAPER_NEAR_END: "near_end",
                PrinterStatus.PAPER_OUT: "out"}.get(self, "unknown")


def printer_offline(b: int) -> bool:
    """DLE EOT 1, bit 3: the printer is offline."""
    return bool(b & 0x08)


def offline_causes(b: int) -> set[str]:
    """DLE EOT 2: bit 2 cover open, bit 3 paper fed by the button, bit 5 stopped at paper end,
    bit 6 an error occurred."""
    out = set()
    if b & 0x04:
        out.add("cover_open")
    if b & 0x20:
        out.add("paper_out")
    if b & 0x40:
        out.add("error")
    return out


def error_causes(b: int) -> set[str]:
    """DLE EOT 3: bit 3 autocutter error, bit 5 unrecoverable, bit 6 auto-recoverable (head
    temperature)."""
    out = set()
    if b & 0x08:
        out.add("cutter")
    if b & 0x20:
        out.add("unrecoverable")
    if b & 0x40:
        out.add("auto_recoverable")
    return out


def paper_state(b: int) -> str:
    """DLE EOT 4: bits 5-6 roll end (out), bits 2-3 near end. Some printers set only one bit of
    each pair, so either bit counts."""
    if b & 0x60:
        return "out"
    if b & 0x0C:
        return "near_end"
    return "ok"


def combine(printer: int | None, offline: int | None = None, error: int | None = None,
            paper: int | None = None) -> PrinterStatus:
    """The answers to DLE EOT 1..4 (None = not asked or not answered) -> one status.

    No answer to the first question means NO_ANSWER whatever else is known; the later ones
    only refine it. The paper sensor is trusted even when the printer says it is online, because
    some printers stay "online" with the roll gone until the next print fails.
    """
    if printer is None:
        return PrinterStatus.NO_ANSWER
    causes = offline_causes(offline) if offline is not None else set()
    roll = paper_state(paper) if paper is not None else "ok"
    if "cover_open" in causes:
        return PrinterStatus.COVER_OPEN
    if "paper_out" in causes or roll == "out":
        return PrinterStatus.PAPER_OUT
    if "error" in causes or (error is not None and error_causes(error)):
        return PrinterStatus.ERROR
    if printer_offline(printer):
        return PrinterStatus.OFFLINE
    if roll == "near_end":
        return PrinterStatus.PAPER_NEAR_END
    return PrinterStatus.OK


def status_byte(n: int, *, paper: str = "ok", cover_open: bool = False,
                error: bool = False) -> int:
    """The byte a healthy Epson-style printer sends for DLE EOT n in the given state.

    Used by the emulator in tests and the demo; kept here so both sides share one definition.
    """
    offline = cover_open or paper == "out" or error
    b = 0x12
    if n == PRINTER:
        b |= 0x08 if offline else 0
    elif n == OFFLINE_CAUSE:
        b |= (0x04 if cover_open else 0) | (0x20 if paper == "out" else 0) \
            | (0x40 if error else 0)
    elif n == ERROR_CAUSE:
        b |= 0x40 if error else 0  # modelled as an auto-recoverable error (head temperature)
    elif n == PAPER_SENSOR:
        b |= {"ok": 0, "near_end": 0x0C, "out": 0x60}[paper]
    return b
