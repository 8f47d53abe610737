"""The web service's catalog: the English one holds exactly the source's strings, and Finnish,
Swedish and English are complete, with the placeholders kept."""
import string

import pytest
from babel.messages.pofile import read_po

from central.web.i18n import DOMAIN, source_ids
from core.i18n import DOMAINS, LOCALE_DIR, missing_translations


def _catalog(lang):
    with (LOCALE_DIR / lang / "LC_MESSAGES" / f"{DOMAIN}.po").open("rb") as f:
        return read_po(f)


def test_the_english_catalog_has_exactly_the_strings_of_the_source():
    ids = {m.id for m in _catalog("en") if m.id}
    src = set(source_ids())
    assert src - ids == set(), "strings in central/web missing from the catalog: python -m central.web.i18n update"
    assert ids - src == set(), "catalog strings no longer used in central/web: python -m central.web.i18n update"


@pytest.mark.parametrize("lang", DOMAINS[DOMAIN])
def test_no_untranslated_string(lang):
    assert missing_translations(DOMAIN, lang) == []


def _fields(s):
    return {f for _, f, _, _ in string.Formatter().parse(s) if f}


@pytest.mark.parametrize("lang", DOMAINS[DOMAIN])
def test_translations_keep_the_placeholders(lang):
    for m in _catalog(lang):
        if m.id:
            assert _fields(m.string) == _fields(m.id), (lang, m.id, m.string)
