"""Every string of the number display goes through gettext (domain "display") and is translated
in Finnish, Swedish and English; a string added to the code without a translation fails here."""
from core.i18n import Translator, compile_all
from tests.ui_scenarios.display_support import REPO, catalog_problems, source_msgids

SOURCES = sorted((REPO / "display").glob("*.py")) + [REPO / "cli" / "display_cmd.py"]


def test_display_strings_are_translated_in_fi_sv_en():
    assert len(source_msgids(SOURCES)) >= 12  # the extraction sees the strings at all
    assert catalog_problems("display", SOURCES) == []


def test_compiled_display_catalogs_translate():
    compile_all()
    assert Translator("fi", "display")("Now calling") == "Vuorossa nyt"
    assert Translator("sv", "display")("Now calling") == "Nu i tur"
    assert Translator("sv", "display").ngettext("waiting", "waiting", 3) == "väntar"
