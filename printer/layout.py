"""The ticket as plain data: what goes on the paper, in which order, how big. No I/O.

Every citizen-facing string goes through gettext (domain "printer"). The ticket carries only
what the customer needs to wait: no name, identity code, phone or appointment code is ever an
input here, so none can leak onto paper.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Literal, Union

from babel import dates as babel_dates

from core.i18n import translator

Size = Literal["normal", "double", "large"]
Align = Literal["left", "center", "right"]

#: The official languages a service name is always printed in, besides the customer's own:
#: the clerk and the display speak these, so the customer can match what is called.
OFFICIAL_SERVICE_LANGS = ("fi", "sv")


@dataclass(frozen=True)
class Text:
    text: str
    size: Size = "normal"
    align: Align = "left"
    bold: bool = False


@dataclass(frozen=True)
class Rule:
    """A thin separator across the paper."""


@dataclass(frozen=True)
class Qr:
    payload: str


@dataclass(frozen=True)
class Feed:
    lines: int = 1


@dataclass(frozen=True)
class Cut:
    pass


Element = Union[Text, Rule, Qr, Feed, Cut]


@dataclass(frozen=True)
class TicketLayout:
    elements: tuple[Element, ...]
    lang: str = "fi"

    def __iter__(self) -> Iterator[Element]:
        return iter(self.elements)

    def __len__(self) -> int:
        return len(self.elements)

    def texts(self) -> list[str]:
        return [e.text for e in self.elements if isinstance(e, Text)]

    def plain_text(self) -> str:
        return "\n".join(self.texts())


@dataclass(frozen=True)
class TicketInfo:
    site_name: str
    number: str
    service_names: dict[str, str]
    lang: str
    people_ahead: int
    est_wait_min: int | None
    issued_ms: int
    tz: str = "Europe/Helsinki"
    where_to_wait: str | None = None
    qr_url: str | None = None
    appointment_time_ms: int | None = None


def service_lines(names: dict[str, str], lang: str) -> list[tuple[str, str]]:
    """(lang, name) to print: the customer's language first, then fi and sv, no repeats.

    A language without its own name for the service falls back to English (the site config
    always has fi, sv and en), and a name equal to one already printed is not printed twice
    (e.g. "Kela" in several languages).
    """
    first = names.get(lang) or names.get("en") or next(iter(names.values()), "")
    out: list[tuple[str, str]] = [(lang, first)]
    for other in OFFICIAL_SERVICE_LANGS:
        name = names.get(other)
        if name and other != lang and all(name != n for _, n in out):
            out.append((other, name))
    return [(lg, n) for lg, n in out if n]


def build_ticket(info: TicketInfo) -> TicketLayout:
    t = translator(info.lang, "printer", info.tz)
    _ = t.gettext
    el: list[Element] = [
        Text(info.site_name, align="center", bold=True),
        Rule(),
        Text(_("Your number"), align="center"),
        Text(info.number, size="large", align="center", bold=True),
    ]
    for i, (_lang, name) in enumerate(service_lines(info.service_names, info.lang)):
        # The customer's own language stands out; the official ones are there for matching.
        el.append(Text(name, align="center", bold=(i == 0)))
    el.append(Rule())

    if info.people_ahead <= 0:
        el.append(Text(_("You are next in line.")))
    else:
        el.append(Text(_("People ahead of you: {count}").format(
            count=t.format_number(info.people_ahead))))
    if info.est_wait_min is not None:
        if info.est_wait_min < 1:
            el.append(Text(_("Estimated wait: less than a minute")))
        else:
            el.append(Text(_("Estimated wait: {duration}").format(
                duration=t.format_minutes(info.est_wait_min))))
    if info.appointment_time_ms is not None:
        el.append(Text(_("Appointment time: {time}").format(
            time=t.format_time(info.appointment_time_ms))))
    if info.where_to_wait:
        el.append(Text(info.where_to_wait))

    el.append(Feed(1))
    el.append(Text(_("Follow the screen. Your number will be called when it is your turn.")))
    if info.qr_url:
        el.append(Feed(1))
        el.append(Qr(info.qr_url))
        el.append(Text(_("Scan the code to follow your turn on your phone."), align="center"))
    el.append(Feed(1))
    el.append(Text(f"{_format_date(t, info.issued_ms)}  {t.format_time(info.issued_ms)}",
                   align="center"))
    el.append(Cut())
    return TicketLayout(tuple(el), info.lang)


def _format_date(t, when_ms: int) -> str:
    # "medium", not Translator.format_date's "short": English short is the US m/d/yy, which a
    # reader in Finland takes for d/m. Medium spells the month ("Jul 1, 2025", "1.7.2025").
    return babel_dates.format_date(t.local(when_ms), format="medium", locale=t.locale)
