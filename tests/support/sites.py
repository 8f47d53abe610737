"""Site files for tests that run on the wall clock.

The example site has real opening hours, so a test that takes numbers "now" would find it closed
at night and at weekends (the estimates then say "not today", the kiosk shows when the site
opens). `always_open(path)` is the same site without [opening_hours]: open all day, every day
(core.hours), with no counter's breaks either. Tests of the hours themselves use fixed times.
"""
from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

from sim.sites import always_open_text

REPO = Path(__file__).resolve().parents[2]


def always_open(path: Path) -> Path:
    """A copy of the site file at `path` without opening hours (written once per content)."""
    text = always_open_text(Path(path).read_text(encoding="utf-8"))
    digest = hashlib.sha256(text.encode()).hexdigest()[:12]
    out = Path(tempfile.gettempdir()) / "palvelupiste-tests" / f"{Path(path).stem}-always-open-{digest}.toml"
    if not out.exists():
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, out)  # atomic: parallel test processes see the whole file or none
    return out


#: The example site, open all day, every day.
EXAMPLE_SITE = always_open(REPO / "assets" / "sites" / "example.toml")
