"""What the counter panel shows, as plain data: built from the hub's live state for one counter, in
the clerk's language. No Kivy, no network; the panel and the CLI both use it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from core.config import Site
from core.errors import WireError
from core.i18n import Translator, native_name

DOMAIN = "counter"


def translator(lang: str, site: Site | None = None) -> Translator:
    return Translator(lang, DOMAIN, site.timezone if site else "Europe/Helsinki")


def N_(s: str) -> str:
    """Marks a msgid for extraction; translated when shown."""
    return s


_NOT_UNDERSTOOD = N_("The queue system did not accept the command as sent. Ask the technician to check this "
                     "device's software and settings.")
_FAULT = N_("The queue system ran into an error and did nothing. Try again; if it happens again, call the "
            "technician.")
_SETTINGS = N_("This device's connection settings cannot be used. Ask the technician to check its configuration.")

#: Every code the counter can receive (core.errors: a command the counter sends, or any command),
#: in words for the clerk. tests/test_wire_errors.py fails when one is missing.
ERRORS: dict[WireError, str] = {
    WireError.NOTHING_WAITING: N_("Nobody is waiting for the services of this counter."),
    WireError.COUNTER_CLOSED: N_("This counter is closed. Open it first."),
    WireError.NO_CURRENT_TICKET: N_("You are not serving a customer right now."),
    WireError.UNKNOWN_COUNTER: N_("This counter is not in the site's configuration."),
    WireError.UNKNOWN_SERVICE: N_("That service is not offered at this site."),
    WireError.SAME_SERVICE: N_("The customer is already in that service."),
    WireError.UNKNOWN_REQUEST: N_("This help request has already been answered."),
    WireError.UNKNOWN_TICKET: N_("There is no such ticket."),
    WireError.NOT_OPEN: N_("That ticket is no longer in the queue."),
    WireError.NOT_ALLOWED: N_("This device may not do that. Ask the technician to check its role in the site "
                              "configuration."),
    WireError.STORE_FAILED: N_("The queue system could not save this. Try again; if it happens again, call the "
                               "technician."),
    WireError.TIMEOUT: N_("The queue system did not answer. Check the connection and try again."),
    WireError.REFUSED: N_("The message broker refused the command. Ask the technician to check this device's "
                          "credentials."),
    WireError.CLOSED: N_("The panel is closing; the command was not sent."),
    WireError.SEND_FAILED: N_("The command could not be sent. Check the connection and try again."),
    WireError.MALFORMED: _NOT_UNDERSTOOD,
    WireError.UNKNOWN_COMMAND: _NOT_UNDERSTOOD,
    WireError.TOO_LARGE: _NOT_UNDERSTOOD,
    WireError.RETAINED: _NOT_UNDERSTOOD,
    WireError.BAD_REPLY: _NOT_UNDERSTOOD,
    WireError.INTERNAL: _FAULT,
    WireError.WRONG_THREAD: _FAULT,
    WireError.BAD_BROKER_URL: _SETTINGS,
    WireError.BAD_PASSWORD_FILE: _SETTINGS,
    WireError.BAD_ID: _SETTINGS,
}
#: A timeout while there was no connection at all: nothing was sent (the client says connected false).
NO_CONNECTION = N_("No connection to the queue system. Nothing was sent; try again in a moment.")
GENERIC_ERROR = N_("The command failed (code {code}). Try again; if it happens again, call the technician.")


def error_text(t: Translator, reply: dict[str, Any]) -> str:
    code = reply.get("error") or "unknown"
    if code == WireError.TIMEOUT and reply.get("connected") is False:
        return t(NO_CONNECTION)
    msg = ERRORS.get(code)
    return t(msg) if msg else t(GENERIC_ERROR).format(code=code)


def success_text(t: Translator, site: Site, cmd: str, reply: dict[str, Any]) -> str:
    number = reply.get("number", "")
    if cmd == "call":
        return t("Called {number}.").format(number=number)
    if cmd == "recall":
        return t("Called {number} again.").format(number=number)
    if cmd == "finish":
        return t("Finished {number}.").format(number=number)
    if cmd == "no_show":
        return t("{number} did not come.").format(number=number)
    if cmd == "transfer":
        svc = site.services.get(reply.get("service", ""))
        return t("{number} moved to {service}, keeping the number.").format(
            number=number, service=svc.label(t.lang) if svc else reply.get("service", ""))
    if cmd == "open":
        return t("The counter is open.")
    if cmd == "close":
        return t("The counter is closed.")
    if cmd == "help_answered":
        return t("Help request taken. The others see that someone is on the way.")
    return t("Done.")


@dataclass(frozen=True)
class Need:
    key: str   # interpreter | hearing_loop | accessible_room | lang
    icon: str  # a glyph drawn in a badge next to the words
    text: str


@dataclass(frozen=True)
class ServiceLine:
    id: str
    name: str
    waiting: int
    text: str  # "3 waiting · about 25 min"


@dataclass(frozen=True)
class CurrentCustomer:
    number: str
    service: str
    service_name: str
    waited: str
    kind: str
    needs: list[Need] = field(default_factory=list)


@dataclass(frozen=True)
class HelpLine:
    request: str
    text: str


@dataclass(frozen=True)
class PanelView:
    counter: str
    counter_name: str
    open: bool
    services: list[ServiceLine]
    current: CurrentCustomer | None
    help: list[HelpLine]
    waiting_total: int


def language_name(t: Translator, code: str) -> str:
    """A language's name in the clerk's language, with its own name where that differs
    ('venäjä (Русский)')."""
    local = t.locale.languages.get(code)
    own = native_name(code)
    if not local:
        return own
    return local if own == code or own.lower() == local.lower() else f"{local} ({own})"


def minutes_text(t: Translator, seconds: int | None) -> str:
    m = 0 if not seconds else math.ceil(seconds / 60)
    return t.ngettext("{n} min", "{n} min", m).format(n=m)


def needs_of(t: Translator, needs: dict[str, Any] | None, lang: str | None) -> list[Need]:
    out: list[Need] = []
    needs = needs or {}
    if needs.get("interpreter"):
        out.append(Need("interpreter", "\u21c4",
                        t("Interpreter: {language}").format(language=language_name(t, needs["interpreter"]))))
    if needs.get("hearing_loop"):
        out.append(Need("hearing_loop", "T", t("Hearing loop")))
    if needs.get("accessible_room"):
        out.append(Need("accessible_room", "\u267f", t("Accessible room")))
    if lang:
        out.append(Need("lang", "Aa", t("Customer's language: {language}").format(language=language_name(t, lang))))
    return out


def panel_view(t: Translator, site: Site, counter: str, state: dict[str, Any] | None) -> PanelView:
    c = site.counters[counter]
    st = state or {}
    cstate = (st.get("counters") or {}).get(counter) or {}
    services = []
    total = 0
    svc_state = st.get("services") or {}
    for sid in c.services:
        s = svc_state.get(sid) or {}
        n = int(s.get("waiting") or 0)
        total += n
        est = s.get("est_wait_s")
        text = t.ngettext("{n} waiting", "{n} waiting", n).format(n=n)
        if n and isinstance(est, int):
            text += " · " + t("about {minutes}").format(minutes=minutes_text(t, est))
        services.append(ServiceLine(sid, site.services[sid].label(t.lang), n, text))
    cur = cstate.get("current")
    current = None
    if isinstance(cur, dict) and cur.get("number"):
        sid = cur.get("service", "")
        svc = site.services.get(sid)
        current = CurrentCustomer(
            number=cur["number"], service=sid, service_name=svc.label(t.lang) if svc else sid,
            waited=t("Waited {time}").format(time=minutes_text(t, cur.get("waited_s"))),
            kind=cur.get("kind", "walk_in"), needs=needs_of(t, cur.get("needs"), cur.get("lang")))
    helps = []
    for h in st.get("help") or []:
        if not isinstance(h, dict) or not h.get("request"):
            continue
        when = t.format_time(h["ts"]) if isinstance(h.get("ts"), int) else "?"
        text = t("Help needed at {device} since {time}").format(device=h.get("device", "?"), time=when)
        if h.get("lang"):
            text += " · " + language_name(t, h["lang"])
        helps.append(HelpLine(h["request"], text))
    return PanelView(counter=counter, counter_name=c.label(t.lang), open=bool(cstate.get("open")),
                     services=services, current=current, help=helps, waiting_total=total)
