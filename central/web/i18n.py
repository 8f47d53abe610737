"""The web service's catalogs: "web" (the reports and the fleet view, fi/sv/en) and "phone" (the
public page behind each ticket's QR code, in every language the kiosk offers): which strings the
source holds, and bringing the catalogs up to date with it.

    python -m central.web.i18n update    # en.po = the source's strings; the other languages keep
                                         # their translations, get the new strings empty

The strings are `_()`/`gettext()`/`ngettext()` calls in the templates and the Python files here,
and labels marked with `_N()` (central/web/report.py) that a page translates when it shows them.
The phone page's files are those named follow*; everything else is the "web" domain's.
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from babel.messages.catalog import Catalog
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.pofile import read_po, write_po

from core.i18n import DOMAINS, LOCALE_DIR

HERE = Path(__file__).resolve().parent
WEB, PHONE = "web", "phone"
#: `t` is how the pages call their translator (t = page.t.gettext)
KEYWORDS = {**DEFAULT_KEYWORDS, "_N": None, "t": None}
METHODS = [("**.py", "python"), ("templates/**.html", "jinja2")]


def domain_of(path: str) -> str:
    return PHONE if Path(path).name.startswith("follow") else WEB


def source_ids(domain: str = WEB) -> list[str | tuple[str, str]]:
    """Every msgid of the domain (a (singular, plural) pair for ngettext), in the order first met."""
    seen: dict[str | tuple[str, str], None] = {}
    for file, _line, msg, _comments, _ctx in extract_from_dir(str(HERE), method_map=METHODS, keywords=KEYWORDS):
        if domain_of(file) != domain:
            continue
        if isinstance(msg, str) and msg:
            seen.setdefault(msg, None)
        elif isinstance(msg, tuple) and len(msg) >= 2 and msg[0] and msg[1]:
            seen.setdefault((msg[0], msg[1]), None)
    return list(seen)


def _po(lang: str, domain: str) -> Path:
    return LOCALE_DIR / lang / "LC_MESSAGES" / f"{domain}.po"


def update(domain: str = WEB) -> dict[str, int]:
    """Writes every language's catalog of `domain`; returns per language how many strings lack a
    translation."""
    ids = source_ids(domain)
    out = {}
    for lang in DOMAINS[domain]:
        old: dict[Any, Any] = {}
        if _po(lang, domain).exists():
            with _po(lang, domain).open("rb") as f:
                old = {m.id: m.string for m in read_po(f) if m.id}
        cat = Catalog(locale=lang, project="palvelupiste", domain=domain)
        for msgid in ids:
            cat.add(msgid, msgid if lang == "en" else old.get(msgid, "" if isinstance(msgid, str) else ()))
        _po(lang, domain).parent.mkdir(parents=True, exist_ok=True)
        with _po(lang, domain).open("wb") as f:
            write_po(f, cat, width=100, omit_header=False)
        out[lang] = 0 if lang == "en" else sum(1 for m in ids if not _done(old.get(m)))
    return out


def _done(string: Any) -> bool:
    return bool(string) and (isinstance(string, str) or all(string))


if __name__ == "__main__":
    if sys.argv[1:] != ["update"]:
        print(__doc__)
        sys.exit(2)
    for domain in (WEB, PHONE):
        for lang, missing in update(domain).items():
            print(f"{domain} {lang}: {missing} to translate")
