"""The doctor's printer check: does the ticket printer answer, and with paper?

Asked over the printer's own connection (DLE EOT), unless the kiosk app runs: it holds the port
and keeps <data_dir>/printer-status.json current, so its reading is reported instead.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from runtime.checks import FAIL, OK, SKIP, WARN, Check, Context, Result
from runtime.status import PRINTER_STATUS_FILE


def printer_status(url: str, section: dict[str, Any]) -> str:
    """The printer's PrinterStatus value, asked over its connection (DLE EOT)."""
    # escpos is imported only here: a device without a printer never pays for it
    from .device import TicketPrinter

    st = section.get("status_timeout", 0.5)
    tp = TicketPrinter(url, section.get("profile"), status_timeout=float(st) if isinstance(st, (int, float)) else 0.5)
    try:
        return tp.status().value
    finally:
        tp.close()


_PRINTER = {
    "ok": ("online, paper ok", OK, ""),
    "paper_near_end": ("paper near end", WARN, "put a new roll in soon"),
    "unchecked": ("status queries are off (status=off): printing blind", WARN,
                  "use a printer with a back channel to notice paper out"),
    "paper_out": ("PAPER OUT", FAIL,
                  "open the cover, put in a new roll the way the label inside the printer shows, close the cover"),
    "cover_open": ("COVER OPEN", FAIL, "close the printer's cover until it clicks"),
    "error": ("printer error (cutter jam, head too hot or a mechanical fault)", FAIL,
              "open the cover, remove jammed paper, close; switch the printer off and on"),
    "offline": ("offline", FAIL, "the printer's power and its feed button; switch it off and on"),
    "no_answer": ("NO ANSWER to status queries", FAIL,
                  "the printer's power, the cable, the baud rate in the URL (the printer's self-test page shows it)"),
    "disconnected": ("cannot open the connection", FAIL,
                     "the cable and the device path in the URL (ls -l /dev/serial/by-id/); the kiosk's user "
                     "needs the dialout (serial) or lp (usb lp) group"),
}


def _app_reading(ctx: Context) -> str | None:
    """The status the running app reports, or None when the app does not run (or says nothing)."""
    if not ctx.units:
        return None
    app = ctx.units[0]
    states = ctx.sources.unit_states([app])
    if not states or states.get(app, {}).get("ActiveState") != "active":
        return None
    try:
        return json.loads((Path(ctx.device.data_dir) / PRINTER_STATUS_FILE).read_text())["status"]
    except (OSError, ValueError, KeyError, TypeError):
        return None


def check_printer(ctx: Context) -> Result:
    name = "printer"
    d = ctx.device
    if d is None:
        return Result(name, SKIP, "no valid device configuration")
    sec = d.section("printer")
    url = sec.get("url")
    if not url:
        return Result(name, WARN, "no [printer] configured: tickets are shown on screen only",
                      "palvelupiste provision --printer URL (e.g. serial:/dev/ttyUSB0?baudrate=19200)")
    if ctx.root is not None:
        return Result(name, SKIP, f"{url}: the printer hangs on the device, not checked with --root")
    reported = ""
    # asking the printer while the app polls it too would mix our answers with its own
    status = _app_reading(ctx)
    if status is not None:
        reported = " (as the running kiosk app reports it)"
    else:
        try:
            status = ctx.sources.printer_status(url, sec)
        except ValueError as exc:
            return Result(name, FAIL, f"{url}: {exc}", "fix [printer] url in the device configuration")
        except Exception as exc:  # a driver error is a finding, not a crash of the doctor
            status, reported = "disconnected", f" ({type(exc).__name__}: {exc})"
    text, st, hint = _PRINTER.get(status, (status, FAIL, "see the printer's manual"))
    if st == OK:
        # Latin tickets would print, but Arabic or Chinese ones would not be readable.
        from .raster import missing_support

        lacking = missing_support()
        if lacking:
            return Result(name, WARN, f"{url}: {text}{reported}; cannot draw every script: "
                          + ", ".join(lacking), "make install (or apt-get install the packages named)")
    return Result(name, st, f"{url}: {text}{reported}", hint)


PRINTER = Check("printer", check_printer)
