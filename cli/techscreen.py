"""What the technician screen of the kiosk and the display shows beyond what the app knows: the
version, the network addresses and the doctor's verdict (appliance.techinfo).

The apps may not import appliance/ (it sits above them); the commands that start them hand them
this function (uikit.techoverlay.InfoSource).
"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any


def tech_info(config_path: str | Path, *, device: Any = None, run_doctor: bool = True,
              printer_status: Callable[[], str] | None = None, timeout: float = 2.0):
    """appliance.techinfo.collect; `printer_status` is the app's own reading of its printer,
    so that the doctor does not open the port the app holds a second time."""
    from appliance import techinfo
    from appliance.doctor import Sources

    sources = None
    if printer_status is not None:
        sources = Sources(printer_status=lambda _url, _section: printer_status())
    return techinfo.collect(config_path, device=device, run_doctor=run_doctor, sources=sources, timeout=timeout)
