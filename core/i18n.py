"""Languages: gettext catalogs per component, a translator per customer, Babel formatting.

Catalogs live in assets/locale/<lang>/LC_MESSAGES/<domain>.po, one domain per component that
shows text (kiosk, printer, display, counter, feedback), so that each component's strings can be
checked for completeness on their own. A domain without a catalog (e.g. "core", which only
formats dates and numbers) translates nothing. `python -m core.i18n compile` builds the .mo
files; `python -m core.i18n check` lists untranslated strings.

The kiosk switches language per customer, not per process: nothing here touches the process
locale or installs `_` into builtins. Ask for a Translator for the language you need.
"""
from __future__ import annotations

import datetime as _dt
import functools
import gettext
import sys
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

from babel import Locale
from babel import dates as babel_dates
from babel import numbers as babel_numbers

from core import resources
from core.catalogs import compile_catalogs

LOCALE_DIR = resources.asset("locale")

#: Languages that must always be complete in every domain.
OFFICIAL = ("fi", "sv", "en")


def _citizen_extra() -> tuple[str, ...]:
    """Languages the citizen-facing devices may offer besides the official ones: every language
    with a kiosk catalog. A language is added as data (its catalogs, the site's texts), and
    `python -m core.i18n check` then holds it to every citizen domain below."""
    found = {p.parent.parent.name for p in LOCALE_DIR.glob("*/LC_MESSAGES/kiosk.po")}
    return tuple(sorted(found - set(OFFICIAL)))


CITIZEN_EXTRA = _citizen_extra()
#: The languages a site may offer, official ones first.
CITIZEN = OFFICIAL + CITIZEN_EXTRA
#: Domains with a catalog and the languages each must be complete in.
DOMAINS: dict[str, tuple[str, ...]] = {
    "kiosk": CITIZEN,
    "printer": CITIZEN,
    "feedback": CITIZEN,
    "display": CITIZEN,
    "counter": OFFICIAL,
    "web": OFFICIAL,  # the central web service's pages (central/web/i18n.py updates its catalogs)
    "phone": CITIZEN,  # the page behind a ticket's QR code (central/web/follow.py)
}

#: Each language named in its own language (never a flag), as a language menu shows it; a
#: language missing here is named by Babel (CLDR).
NATIVE_NAMES = {
    "fi": "Suomi",
    "sv": "Svenska",
    "en": "English",
    "ru": "Русский",
    "et": "Eesti",
    "uk": "Українська",
    "so": "Soomaali",
    "ar": "العربية",
    "fa": "فارسی",
    "ckb": "کوردیی ناوەندی",
    "zh": "中文",
    "vi": "Tiếng Việt",
    "se": "Davvisámegiella",
}


def is_rtl(lang: str) -> bool:
    """True for a language written right to left (Arabic, Persian, Sorani): its screens are
    mirrored, not only its letters (CLDR's character order)."""
    return _babel_locale(lang).character_order == "right-to-left"


@functools.lru_cache(maxsize=None)
def _translations(lang: str, domain: str) -> gettext.NullTranslations:
    try:
        return gettext.translation(domain, localedir=str(LOCALE_DIR), languages=[lang])
    except FileNotFoundError:
        # English is the source language: the msgids are the English text.
        if lang != "en" and (LOCALE_DIR / lang / "LC_MESSAGES" / f"{domain}.po").exists():
            raise RuntimeError(
                f"catalog {lang}/{domain} is not compiled: run `make locale` "
                "(or python -m core.i18n compile)"
            ) from None
        return gettext.NullTranslations()


@dataclass(frozen=True)
class Translator:
    """Translations and formatting for one language and one component."""

    lang: str
    domain: str
    tz: str = "Europe/Helsinki"

    @property
    def _t(self) -> gettext.NullTranslations:
        return _translations(self.lang, self.domain)

    def gettext(self, message: str) -> str:
        return self._t.gettext(message)

    __call__ = gettext

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        return self._t.ngettext(singular, plural, n)

    def pgettext(self, context: str, message: str) -> str:
        return self._t.pgettext(context, message)

    @property
    def locale(self) -> Locale:
        return _babel_locale(self.lang)

    def local(self, when: _dt.datetime | int) -> _dt.datetime:
        """A UTC datetime or epoch milliseconds, in the site's time zone."""
        if isinstance(when, int):
            when = _dt.datetime.fromtimestamp(when / 1000, tz=_dt.timezone.utc)
        return when.astimezone(ZoneInfo(self.tz))

    def format_time(self, when: _dt.datetime | int) -> str:
        return babel_dates.format_time(self.local(when), format="short", locale=self.locale)

    def format_date(self, when: _dt.datetime | int) -> str:
        return babel_dates.format_date(self.local(when), format="short", locale=self.locale)

    def format_datetime(self, when: _dt.datetime | int) -> str:
        return babel_dates.format_datetime(self.local(when), format="short", locale=self.locale)

    def format_number(self, n: float | int) -> str:
        return babel_numbers.format_decimal(n, locale=self.locale)

    def format_minutes(self, minutes: int) -> str:
        """A duration in whole minutes, e.g. '15 min' / '15 minutes', per the locale."""
        return babel_dates.format_timedelta(
            _dt.timedelta(minutes=minutes), threshold=10_000, granularity="minute",
            format="long", locale=self.locale,
        )


@functools.lru_cache(maxsize=None)
def _babel_locale(lang: str) -> Locale:
    try:
        return Locale.parse(lang)
    except Exception:
        return Locale.parse("en")


def translator(lang: str, domain: str, tz: str = "Europe/Helsinki") -> Translator:
    return Translator(lang, domain, tz)


def native_name(lang: str) -> str:
    if lang in NATIVE_NAMES:
        return NATIVE_NAMES[lang]
    try:
        name = Locale.parse(lang).get_display_name(lang)
    except Exception:
        return lang
    return name[:1].upper() + name[1:] if name else lang


# --- catalog tooling -------------------------------------------------------------------------

def po_files() -> list[Path]:
    return sorted(LOCALE_DIR.glob("*/LC_MESSAGES/*.po"))


def compile_all(verbose: bool = False) -> int:
    """Compile every .po to .mo where the .mo is missing or older. Returns the number compiled."""
    written = compile_catalogs(LOCALE_DIR)
    if verbose:
        for mo in written:
            print(f"compiled {mo.relative_to(LOCALE_DIR)}")
    _translations.cache_clear()
    return len(written)


def missing_translations(domain: str, lang: str) -> list[str]:
    """msgids of `domain` that have no (non-fuzzy) translation in `lang`.

    The English catalog's msgids are the reference list of the domain's strings. A catalog
    that does not exist at all counts every string as missing.
    """
    from babel.messages.pofile import read_po

    ref = LOCALE_DIR / "en" / "LC_MESSAGES" / f"{domain}.po"
    if not ref.exists():
        return [f"<no English catalog for domain {domain}>"]
    with ref.open("rb") as f:
        ids = [m.id for m in read_po(f) if m.id]
    po = LOCALE_DIR / lang / "LC_MESSAGES" / f"{domain}.po"
    if not po.exists():
        return [i if isinstance(i, str) else i[0] for i in ids]
    with po.open("rb") as f:
        cat = read_po(f)
    missing = []
    for i in ids:
        m = cat.get(i)
        s = m.string if m else None
        if m is None or m.fuzzy or not s or (isinstance(s, tuple) and not all(s)):
            missing.append(i if isinstance(i, str) else i[0])
    return missing


def _main(argv: list[str]) -> int:
    cmd = argv[0] if argv else "compile"
    if cmd == "compile":
        n = compile_all(verbose="-v" in argv)
        print(f"i18n: {n} catalog(s) compiled")
        return 0
    if cmd == "check":
        bad = 0
        for po in po_files():
            if po.stem not in DOMAINS:
                print(f"{po.relative_to(LOCALE_DIR)}: domain {po.stem!r} is not in core.i18n.DOMAINS")
                bad += 1
        for domain, langs in DOMAINS.items():
            for lang in langs:
                for m in missing_translations(domain, lang):
                    print(f"{lang}/{domain}: untranslated: {m!r}")
                    bad += 1
        return 1 if bad else 0
    print("usage: python -m core.i18n [compile|check]", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(_main(sys.argv[1:]))
