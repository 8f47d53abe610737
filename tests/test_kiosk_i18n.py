"""Every word the kiosk shows is in the gettext catalogs, translated in all seven languages,
and no user-facing text in kiosk/ bypasses gettext."""
from __future__ import annotations

import ast
import re
import string
from pathlib import Path

import pytest
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.pofile import read_po

from core.i18n import DOMAINS, LOCALE_DIR, missing_translations, translator

REPO = Path(__file__).resolve().parent.parent
KIOSK = REPO / "kiosk"
LANGS = DOMAINS["kiosk"]


def _source_ids() -> set:
    return {m[2] for m in extract_from_dir(str(KIOSK), method_map=[("**.py", "python")], keywords=DEFAULT_KEYWORDS)}


def _catalog(lang: str):
    with (LOCALE_DIR / lang / "LC_MESSAGES" / "kiosk.po").open("rb") as f:
        return read_po(f)


def test_the_kiosk_offers_every_language_with_a_catalog():
    # Languages are data: a catalog makes a language offerable (core.i18n), and then it must be
    # complete in every citizen domain (the tests below, `python -m core.i18n check`).
    assert set(LANGS) == {"fi", "sv", "en", "ru", "et", "uk", "so", "ar", "fa", "ckb", "zh", "vi", "se"}
    assert LANGS[:3] == ("fi", "sv", "en")


def test_the_english_catalog_has_exactly_the_strings_of_the_source():
    ids = {m.id for m in _catalog("en") if m.id}
    src = _source_ids()
    assert src - ids == set(), "strings in kiosk/ missing from the catalog (update the .po files)"
    assert ids - src == set(), "catalog strings no longer used in kiosk/"


@pytest.mark.parametrize("lang", LANGS)
def test_no_untranslated_string(lang):
    assert missing_translations("kiosk", lang) == []


def _fields(s: str) -> set[str]:
    return {f for _, f, _, _ in string.Formatter().parse(s) if f}


@pytest.mark.parametrize("lang", LANGS)
def test_translations_keep_the_placeholders(lang):
    for m in _catalog(lang):
        if not m.id:
            continue
        ids = m.id if isinstance(m.id, tuple) else (m.id,)
        strs = m.string if isinstance(m.string, tuple) else (m.string,)
        want = set().union(*(_fields(i) for i in ids))
        for s in strs:
            assert _fields(s) == want, (lang, m.id, s)


@pytest.mark.parametrize("lang", ["ru", "uk"])
def test_slavic_plurals_have_three_forms(lang):
    t = translator(lang, "kiosk")
    forms = {n: t.ngettext("The screen will start over in {n} second.",
                           "The screen will start over in {n} seconds.", n).format(n=n) for n in (1, 2, 5)}
    assert len(set(f.replace(str(n), "") for n, f in forms.items())) == 3, forms


#: Widget constructors whose text a person reads: (class name, index of the text argument).
_SHOWN = {"Txt": 1, "Btn": 1, "Notice": 1, "Label": 0, "Button": 0}


def test_no_user_facing_literal_bypasses_gettext():
    """A string literal with letters given as the text of a widget (or `text=`) is a string
    the catalogs never see: it must go through _() or come from data (site config)."""
    bad = []
    for path in KIOSK.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            name = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", "")
            cands = [kw.value for kw in node.keywords if kw.arg == "text"]
            if name in _SHOWN and len(node.args) > _SHOWN[name]:
                cands.append(node.args[_SHOWN[name]])
            for v in cands:
                lits = [v] if isinstance(v, ast.Constant) else \
                    [x for x in ast.walk(v) if isinstance(x, ast.Constant)] if isinstance(v, ast.JoinedStr) else []
                for lit in lits:
                    if isinstance(lit.value, str) and re.search(r"[^\W\d_]", lit.value):
                        bad.append(f"{path.relative_to(REPO)}:{lit.lineno}: {lit.value!r}")
    assert bad == []


def test_catalogs_are_compiled_and_load():
    for lang in LANGS:
        assert translator(lang, "kiosk").gettext("Take a number")
        if lang != "en":
            assert translator(lang, "kiosk").gettext("Take a number") != "Take a number", lang
