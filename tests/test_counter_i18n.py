"""Every string of the counter panel and CLI goes through gettext (domain "counter") and is
translated in Finnish, Swedish and English; a string added without a translation fails here."""
from core.i18n import Translator, compile_all
from tests.ui_scenarios.display_support import REPO, catalog_problems, source_msgids

SOURCES = sorted((REPO / "counter").glob("*.py")) + [REPO / "cli" / "counter_cmd.py"]


def test_counter_strings_are_translated_in_fi_sv_en():
    assert len(source_msgids(SOURCES)) >= 40
    assert catalog_problems("counter", SOURCES) == []


def test_compiled_counter_catalogs_translate():
    compile_all()
    assert Translator("fi", "counter")("Call next customer") == "Kutsu seuraava asiakas"
    assert Translator("sv", "counter").ngettext("{n} waiting", "{n} waiting", 2) == "{n} väntar"
