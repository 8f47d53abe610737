"""The web service's catalog ("web" domain): which strings the source holds, and bringing the
catalogs up to date with it.

    python -m central.web.i18n update    # en.po = the source's strings; fi/sv keep their
                                         # translations, get the new strings empty (to translate)

The strings are `_()`/`gettext()` calls in the templates and the Python files here, and labels
marked with `_N()` (central/web/report.py) that a page translates when it shows them.
"""
from __future__ import annotations

import sys
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.pofile import read_po, write_po

from core.i18n import DOMAINS, LOCALE_DIR

HERE = Path(__file__).resolve().parent
DOMAIN = "web"
#: `t` is how the pages call their translator (t = page.t.gettext)
KEYWORDS = {**DEFAULT_KEYWORDS, "_N": None, "t": None}
METHODS = [("**.py", "python"), ("templates/**.html", "jinja2")]


def source_ids() -> list[str]:
    """Every msgid of the domain, in the order first met."""
    seen: dict[str, None] = {}
    for _file, _line, msg, _comments, _ctx in extract_from_dir(str(HERE), method_map=METHODS, keywords=KEYWORDS):
        if isinstance(msg, str) and msg:
            seen.setdefault(msg, None)
    return list(seen)


def _po(lang: str) -> Path:
    return LOCALE_DIR / lang / "LC_MESSAGES" / f"{DOMAIN}.po"


def update() -> dict[str, int]:
    """Writes every language's catalog; returns per language how many strings lack a translation."""
    ids = source_ids()
    out = {}
    for lang in DOMAINS[DOMAIN]:
        old = {}
        if _po(lang).exists():
            with _po(lang).open("rb") as f:
                old = {m.id: m.string for m in read_po(f) if m.id}
        cat = Catalog(locale=lang, project="palvelupiste", domain=DOMAIN)
        for msgid in ids:
            cat.add(msgid, msgid if lang == "en" else old.get(msgid, ""))
        _po(lang).parent.mkdir(parents=True, exist_ok=True)
        with _po(lang).open("wb") as f:
            write_po(f, cat, width=100, omit_header=False)
        out[lang] = 0 if lang == "en" else sum(1 for m in ids if not old.get(m))
    return out


if __name__ == "__main__":
    if sys.argv[1:] != ["update"]:
        print(__doc__)
        sys.exit(2)
    for lang, missing in update().items():
        print(f"{lang}: {missing} to translate")
