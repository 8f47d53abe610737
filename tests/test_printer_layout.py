"""The ticket's content: languages, numbers, site-local times, privacy, catalogs."""
from __future__ import annotations

import ast
import datetime as dt
import re
import string
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from core.i18n import CITIZEN, DOMAINS, LOCALE_DIR, missing_translations
from printer.layout import Cut, Qr, Text, TicketInfo, build_ticket, service_lines

REPO = Path(__file__).resolve().parent.parent
HELSINKI_SUMMER = int(dt.datetime(2025, 7, 1, 9, 5, tzinfo=dt.timezone.utc).timestamp() * 1000)
NAMES = {
    "fi": "Digi- ja väestötietovirasto",
    "sv": "Myndigheten för digitalisering och befolkningsdata",
    "en": "Digital and Population Data Services Agency",
}


def info(**kw) -> TicketInfo:
    base = dict(site_name="Yhteispalvelupiste Kallio", number="D007", service_names=NAMES,
                lang="fi", people_ahead=4, est_wait_min=20, issued_ms=HELSINKI_SUMMER,
                tz="Europe/Helsinki", where_to_wait=None, qr_url="https://pp.example/t/D007")
    base.update(kw)
    return TicketInfo(**base)


def texts(**kw) -> list[str]:
    return build_ticket(info(**kw)).texts()


def test_finnish_ticket_has_everything_in_order():
    lay = build_ticket(info(lang="fi"))
    t = lay.texts()
    assert t[0] == "Yhteispalvelupiste Kallio"
    assert "Vuoronumerosi" in t
    number = next(e for e in lay if isinstance(e, Text) and e.text == "D007")
    assert number.size == "large" and number.bold
    # Service: Finnish (the customer's) first and bold, then Swedish; no English, no repeat.
    i = t.index(NAMES["fi"])
    assert t[i + 1] == NAMES["sv"] and NAMES["en"] not in t and t.count(NAMES["fi"]) == 1
    assert "Edelläsi jonossa: 4" in t
    assert "Arvioitu odotusaika: 20 minuuttia" in t
    assert "Seuraa näyttöä. Numerosi kutsutaan, kun on vuorosi." in t
    assert t[-1] == "1.7.2025  12.05"  # 09:05 UTC is 12:05 in Helsinki summer time
    assert [e.payload for e in lay if isinstance(e, Qr)] == ["https://pp.example/t/D007"]
    assert isinstance(lay.elements[-1], Cut)


def test_swedish_ticket_service_in_swedish_then_finnish():
    t = texts(lang="sv")
    i = t.index(NAMES["sv"])
    assert t[i + 1] == NAMES["fi"] and t.count(NAMES["sv"]) == 1 and NAMES["en"] not in t
    assert "Ditt könummer" in t
    assert "Före dig i kön: 4" in t
    assert "Beräknad väntetid: 20 minuter" in t
    assert "Följ skärmen. Ditt nummer ropas upp när det är din tur." in t
    assert t[-1] == "1 juli 2025  12:05"


def test_english_ticket_has_all_three_service_names():
    lay = build_ticket(info(lang="en"))
    t = lay.texts()
    i = t.index(NAMES["en"])
    assert t[i + 1:i + 3] == [NAMES["fi"], NAMES["sv"]]
    bold = {e.text: e.bold for e in lay if isinstance(e, Text)}
    assert bold[NAMES["en"]] and not bold[NAMES["fi"]] and not bold[NAMES["sv"]]
    assert "People ahead of you: 4" in t and "Estimated wait: 20 minutes" in t
    # Medium date: "Jul 1, 2025", never the ambiguous US short "7/1/25".
    assert t[-1].startswith("Jul 1, 2025") and "7/1/25" not in t[-1]


def test_same_name_in_several_languages_is_printed_once():
    lines = service_lines({"fi": "Kela", "sv": "FPA", "en": "Kela"}, "en")
    assert lines == [("en", "Kela"), ("sv", "FPA")]
    assert service_lines({"fi": "Digituki", "sv": "Digistöd", "en": "Digital support"}, "ru")[0] \
        == ("ru", "Digital support")  # no Russian name in the config: English, then fi, sv


@pytest.mark.parametrize("utc, local", [
    # Finland leaves EET for EEST at 01:00 UTC on the last Sunday of March.
    (dt.datetime(2025, 3, 30, 0, 30), "2.30"),
    (dt.datetime(2025, 3, 30, 1, 30), "4.30"),
    # ...and returns at 01:00 UTC on the last Sunday of October.
    (dt.datetime(2025, 10, 26, 0, 30), "3.30"),
    (dt.datetime(2025, 10, 26, 1, 30), "3.30"),
    (dt.datetime(2025, 12, 31, 22, 15), "0.15"),  # next day locally
])
def test_time_is_site_local_across_dst(utc, local):
    ms = int(utc.replace(tzinfo=dt.timezone.utc).timestamp() * 1000)
    assert texts(issued_ms=ms)[-1].endswith(f"  {local}")
    if utc.month == 12:
        assert texts(issued_ms=ms)[-1] == "1.1.2026  0.15"


def test_next_in_line_unknown_wait_and_short_wait():
    t = texts(people_ahead=0, est_wait_min=None)
    assert "Olet seuraavana vuorossa." in t
    assert not any(s.startswith("Arvioitu odotusaika") for s in t)
    assert "Arvioitu odotusaika: alle minuutti" in texts(est_wait_min=0)
    assert "Beräknad väntetid: 1 minut" in texts(lang="sv", est_wait_min=1)


def test_appointment_where_to_wait_and_no_qr():
    appt = int(dt.datetime(2025, 7, 1, 10, 30, tzinfo=dt.timezone.utc).timestamp() * 1000)
    lay = build_ticket(info(appointment_time_ms=appt, where_to_wait="Odota aulassa B",
                            qr_url=None))
    t = lay.texts()
    assert "Varattu aika: klo 13.30" in t and "Odota aulassa B" in t
    assert not any(isinstance(e, Qr) for e in lay)
    assert not any("Skannaa" in s for s in t)


@pytest.mark.parametrize("lang, words", [
    ("ru", ["Ваш номер", "Перед вами в очереди: 4", "Примерное время ожидания: 20 минут"]),
    ("uk", ["Ваш номер", "Перед вами в черзі: 4", "Орієнтовний час очікування: 20 хвилин"]),
    ("et", ["Teie järjekorranumber", "Teie ees järjekorras: 4", "Eeldatav ooteaeg: 20 minutit"]),
    ("so", ["Lambarkaaga", "Dadka kaa horreeya: 4"]),
])
def test_other_citizen_languages(lang, words):
    t = texts(lang=lang)
    for w in words:
        assert w in t
    # Service: English (no own name in this config), then Finnish and Swedish.
    i = t.index(NAMES["en"])
    assert t[i + 1:i + 3] == [NAMES["fi"], NAMES["sv"]]


def test_nothing_personal_can_reach_the_ticket():
    fields = set(TicketInfo.__dataclass_fields__)
    assert fields == {"site_name", "number", "service_names", "lang", "people_ahead",
                      "est_wait_min", "issued_ms", "tz", "where_to_wait", "qr_url",
                      "appointment_time_ms"}
    assert not fields & {"name", "customer", "ssn", "hetu", "identity_code", "phone",
                         "appointment_code", "email"}
    body = "\n".join(texts(lang="fi"))
    assert not re.search(r"\d{6}[-+A]\d{3}[0-9A-Y]", body)  # a Finnish identity code
    assert not re.search(r"\+?358|\b04\d{7,8}\b", body)     # a phone number


# -- catalogs ---------------------------------------------------------------------------------

def _catalog(lang: str):
    with (LOCALE_DIR / lang / "LC_MESSAGES" / "printer.po").open("rb") as f:
        return read_po(f)


@pytest.mark.parametrize("lang", DOMAINS["printer"])
def test_printer_catalog_complete(lang):
    assert set(DOMAINS["printer"]) == set(CITIZEN) and len(CITIZEN) == 13
    assert missing_translations("printer", lang) == []


@pytest.mark.parametrize("lang", DOMAINS["printer"])
def test_translations_keep_placeholders_and_fit_the_printer(lang):
    fields = lambda s: {f for _, f, _, _ in string.Formatter().parse(s) if f}  # noqa: E731
    # Latin-script tickets of these languages print in CP858 alone, Cyrillic ones in CP1251 (small
    # and fast); the others' lines go as shaped images where no code page has their letters
    # (printer/raster.py; tests/test_printer_scripts.py).
    page = {"ru": "cp1251", "uk": "cp1251", "fi": "cp858", "sv": "cp858", "en": "cp858", "et": "cp858",
            "so": "cp858"}.get(lang)
    for m in _catalog(lang):
        if not m.id:
            continue
        assert fields(m.string) == fields(m.id), (lang, m.id)
        if page:
            m.string.encode(page)  # raises on a character the printer cannot print


def test_every_layout_string_goes_through_gettext():
    """Any literal with words in printer/layout.py sits inside a gettext call, and no Text()
    anywhere in printer/ is built from a bare literal."""
    for path in sorted((REPO / "printer").glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        docstrings = {id(n.body[0].value) for n in ast.walk(tree)
                      if isinstance(n, (ast.Module, ast.ClassDef, ast.FunctionDef))
                      and n.body and isinstance(n.body[0], ast.Expr)
                      and isinstance(n.body[0].value, ast.Constant)}
        in_gettext: set[int] = set()
        for n in ast.walk(tree):
            if isinstance(n, ast.Call):
                fn = n.func.id if isinstance(n.func, ast.Name) else getattr(n.func, "attr", "")
                if fn in ("_", "gettext", "ngettext", "pgettext"):
                    in_gettext.update(id(c) for a in n.args for c in ast.walk(a))
                if fn == "Text" and n.args:
                    a = n.args[0]
                    bare = isinstance(a, ast.Constant) or (
                        isinstance(a, ast.JoinedStr) and any(
                            isinstance(v, ast.Constant) and re.search(r"[A-Za-z]", v.value)
                            for v in a.values))
                    assert not bare, f"{path.name}:{n.lineno}: Text() from a bare literal"
        if path.name != "layout.py":
            continue
        for n in ast.walk(tree):
            if isinstance(n, ast.Constant) and isinstance(n.value, str) \
                    and re.search(r"[A-Za-z]{2,} [A-Za-z]{2,}", n.value) \
                    and id(n) not in docstrings and id(n) not in in_gettext:
                pytest.fail(f"layout.py:{n.lineno}: {n.value!r} is not translated")
