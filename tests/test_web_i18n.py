"""The web service's catalogs: "web" (reports, fleet) and "phone" (the page behind a ticket's QR
code). The English catalog holds exactly the source's strings, every language the domain must
offer is complete (fi, sv, en; and for the phone page every language the kiosk offers), and the
translations keep the placeholders."""
import string

import pytest
from babel.messages.pofile import read_po

from central.web.i18n import PHONE, WEB, source_ids
from core.i18n import DOMAINS, LOCALE_DIR, missing_translations

CASES = [(d, lang) for d in (WEB, PHONE) for lang in DOMAINS[d]]


def _catalog(lang, domain):
    with (LOCALE_DIR / lang / "LC_MESSAGES" / f"{domain}.po").open("rb") as f:
        return read_po(f)


@pytest.mark.parametrize("domain", [WEB, PHONE])
def test_the_english_catalog_has_exactly_the_strings_of_the_source(domain):
    ids = {m.id for m in _catalog("en", domain) if m.id}
    src = set(source_ids(domain))
    assert src - ids == set(), "strings in central/web missing from the catalog: python -m central.web.i18n update"
    assert ids - src == set(), "catalog strings no longer used in central/web: python -m central.web.i18n update"


@pytest.mark.parametrize("domain,lang", CASES)
def test_no_untranslated_string(domain, lang):
    assert missing_translations(domain, lang) == []


def _fields(s):
    return {f for _, f, _, _ in string.Formatter().parse(s) if f}


@pytest.mark.parametrize("domain,lang", CASES)
def test_translations_keep_the_placeholders(domain, lang):
    for m in _catalog(lang, domain):
        if not m.id:
            continue
        ids = m.id if isinstance(m.id, tuple) else (m.id,)
        strings = m.string if isinstance(m.string, tuple) else (m.string,)
        want = set().union(*(_fields(i) for i in ids))
        for s in strings:
            assert _fields(s) == want, (lang, m.id, s)
