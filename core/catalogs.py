"""Compiling gettext catalogs (.po → .mo) in a directory tree <lang>/LC_MESSAGES/<domain>.po.

Kept apart from core.i18n so that the wheel build (setup.py) can compile the catalogs it packs
without importing anything that expects the package to be installed already.
"""
from __future__ import annotations

from pathlib import Path


def compile_catalogs(locale_dir: Path, *, force: bool = False) -> list[Path]:
    """Compile every <lang>/LC_MESSAGES/*.po under `locale_dir` whose .mo is missing or older
    (every one with `force`). Returns the .mo files written."""
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    written = []
    for po in sorted(Path(locale_dir).glob("*/LC_MESSAGES/*.po")):
        mo = po.with_suffix(".mo")
        if not force and mo.exists() and mo.stat().st_mtime >= po.stat().st_mtime:
            continue
        with po.open("rb") as f:
            catalog = read_po(f, locale=po.parent.parent.name, domain=po.stem)
        # Written aside and renamed: a reader never sees half a catalog.
        tmp = mo.with_suffix(".mo.tmp")
        with tmp.open("wb") as f:
            write_mo(f, catalog, use_fuzzy=False)
        tmp.replace(mo)
        written.append(mo)
    return written
