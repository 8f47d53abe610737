"""What the counter panel shows, as plain data: built from the hub's live state for one counter, in
the clerk's language. No Kivy, no network; the panel and the CLI both use it.

Also decided here, so that the panel stays a thin drawing of it: which buttons can be tapped
(`buttons`), what "Finish" offers (`finish_label`, the current customer's `outcomes`), the parked
customers and today's no-shows as lists with their actions, and the number keypad (`NumberEntry`).
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

from core.config import Site
from core.errors import WireError
from core.events import NUMBER_PATTERN
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
    WireError.UNKNOWN_NUMBER: N_("There is no ticket with that number today. Check the number on the customer's "
                                 "ticket."),
    WireError.NOT_CALLABLE: N_("That number cannot be called: it is neither waiting in the queue nor parked."),
    WireError.NOT_NO_SHOW: N_("Only a number that did not come can be put back in the queue."),
    WireError.UNKNOWN_OUTCOME: N_("That outcome is not offered for this customer's service. Choose another one or "
                                  "finish without an outcome."),
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


#: The words for a ticket the hub would not call (not_callable) or put back (not_no_show), by the
#: ticket's state that the answer carries; said only when the number sent is known.
STATE_ERRORS: dict[str, str] = {
    "called": N_("{number} is already being served at a counter."),
    "finished": N_("{number} has already been served today."),
    "cancelled": N_("{number} has been cancelled."),
    "no_show": N_("{number} did not come when called. Put it back in the queue first (list “Did not come "
                  "today”), then call it."),
    "waiting": N_("{number} is already waiting in the queue."),
    "parked": N_("{number} is parked. Call it back from the list of parked customers."),
}
UNKNOWN_NUMBER_SENT = N_("There is no ticket {number} today. Check the number on the customer's ticket.")
OUTCOMES_OFFERED = N_("This service's outcomes: {outcomes}.")
NO_OUTCOMES_OFFERED = N_("This service has no outcomes: finish without one.")


def error_text(t: Translator, reply: dict[str, Any], *, sent: dict[str, Any] | None = None,
               site: Site | None = None) -> str:
    """The hub's refusal in the clerk's words. With the command as sent (`sent`) and the site, the
    words name the number and, where the answer carries them, the ticket's state or the
    service's outcomes."""
    code = reply.get("error") or "unknown"
    if code == WireError.TIMEOUT and reply.get("connected") is False:
        return t(NO_CONNECTION)
    number = (sent or {}).get("number")
    if isinstance(number, str) and number:
        if code == WireError.UNKNOWN_NUMBER:
            return t(UNKNOWN_NUMBER_SENT).format(number=number)
        state = reply.get("state")
        if code in (WireError.NOT_CALLABLE, WireError.NOT_NO_SHOW) and state in STATE_ERRORS:
            return t(STATE_ERRORS[state]).format(number=number)
    msg = ERRORS.get(code)
    if not msg:
        return t(GENERIC_ERROR).format(code=code)
    text = t(msg)
    offered = reply.get("outcomes")
    if code == WireError.UNKNOWN_OUTCOME and site is not None and isinstance(offered, list):
        names = [outcome_name(site, o, t.lang) for o in offered if isinstance(o, str)]
        text += " " + (t(OUTCOMES_OFFERED).format(outcomes=", ".join(names)) if names else t(NO_OUTCOMES_OFFERED))
    return text


def outcome_name(site: Site, outcome: str, lang: str) -> str:
    """An outcome's name in `lang` (the site file's names; English, else the id, when missing)."""
    names = site.outcomes.get(outcome) or {}
    return names.get(lang) or names.get("en") or outcome


def success_text(t: Translator, site: Site, cmd: str, reply: dict[str, Any],
                 sent: dict[str, Any] | None = None) -> str:
    number = reply.get("number", "")
    if cmd in ("call", "call_number"):
        return t("Called {number}.").format(number=number)
    if cmd == "park":
        return t("{number} parked. Call them back from the list when they return.").format(number=number)
    if cmd == "requeue":
        return t("{number} is back in the queue, first in line.").format(number=number)
    if cmd == "finish" and (sent or {}).get("outcome"):
        return t("Finished {number}: {outcome}.").format(
            number=number, outcome=outcome_name(site, sent["outcome"], t.lang))
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
class OutcomeChoice:
    id: str
    name: str  # in the panel's language


@dataclass(frozen=True)
class CurrentCustomer:
    number: str
    service: str
    service_name: str
    waited: str
    kind: str
    needs: list[Need] = field(default_factory=list)
    #: What "Finish" offers for the customer's service, in the site's order (none: one tap finishes).
    outcomes: list[OutcomeChoice] = field(default_factory=list)


@dataclass(frozen=True)
class ParkedLine:
    """A parked customer, to be called back by number ("Call back")."""
    number: str
    service: str
    counter: str | None
    own: bool   # parked at this counter
    text: str   # "Kela · here" / "Kela · Counter 3"


@dataclass(frozen=True)
class NoShowLine:
    """Today's no-show, to be put back in the queue ("Back in queue")."""
    number: str
    service: str
    text: str   # the service's name


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
    parked: list[ParkedLine] = field(default_factory=list)
    no_shows: list[NoShowLine] = field(default_factory=list)


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


def booked_room(t: Translator, site: Site, room: Any) -> list[Need]:
    """The room the customer's booking was made in (the displays send them there)."""
    if not isinstance(room, str) or room not in site.counters:
        return []
    return [Need("room", "\u2302", t("Booked room: {room}").format(room=site.counters[room].label(t.lang)))]


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
            kind=cur.get("kind", "walk_in"),
            needs=needs_of(t, cur.get("needs"), cur.get("lang")) + booked_room(t, site, cur.get("room")),
            outcomes=outcome_choices(t, site, sid))
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
                     services=services, current=current, help=helps, waiting_total=total,
                     parked=parked_lines(t, site, counter, st.get("parked")),
                     no_shows=no_show_lines(t, site, st.get("no_shows")))


def _service_name(t: Translator, site: Site, sid: Any) -> str:
    svc = site.services.get(sid) if isinstance(sid, str) else None
    return svc.label(t.lang) if svc else str(sid or "")


def _number_of(item: Any) -> str | None:
    n = item.get("number") if isinstance(item, dict) else None
    return n if isinstance(n, str) and NUMBER_RE.fullmatch(n) else None


def outcome_choices(t: Translator, site: Site, service: str) -> list[OutcomeChoice]:
    """The outcomes a clerk may tap on finishing a customer of `service`, named in the panel's
    language. Nothing about the person: only what the visit came to."""
    svc = site.services.get(service)
    return [OutcomeChoice(o, outcome_name(site, o, t.lang)) for o in (svc.outcomes if svc else ())]


def parked_lines(t: Translator, site: Site, counter: str, parked: Any) -> list[ParkedLine]:
    """The state's parked customers, this counter's own first (each group in the hub's order)."""
    own, others = [], []
    for p in parked if isinstance(parked, list) else []:
        number = _number_of(p)
        if number is None:
            continue
        where = p.get("counter")
        mine = where == counter
        c = site.counters.get(where) if isinstance(where, str) else None
        place = t("here") if mine else (c.label(t.lang) if c else t("another counter"))
        line = ParkedLine(number, str(p.get("service") or ""), where if isinstance(where, str) else None, mine,
                          f"{_service_name(t, site, p.get('service'))} · {place}")
        (own if mine else others).append(line)
    return own + others


def no_show_lines(t: Translator, site: Site, no_shows: Any) -> list[NoShowLine]:
    """Today's no-shows as the state lists them (newest first)."""
    out = []
    for n in no_shows if isinstance(no_shows, list) else []:
        number = _number_of(n)
        if number is not None:
            out.append(NoShowLine(number, str(n.get("service") or ""), _service_name(t, site, n.get("service"))))
    return out


# --- what can be tapped -------------------------------------------------------------------------

def buttons(v: PanelView | None, *, busy: bool, known: bool) -> dict[str, bool]:
    """Every button of the panel by its id → whether it can be tapped now. While a command is on its
    way nothing can (one command at a time); the customer's buttons need a customer at the counter;
    open and close follow the counter's state once the hub's state is known. Calling (next, a
    number, a parked customer back) stays possible when the counter is closed: the hub then says
    in words to open it first."""
    if v is None:
        return {}
    serving = v.current is not None
    out = {"call_next": not busy, "call_number": not busy,
           "open": not busy and not (known and v.open), "close": not busy and not (known and not v.open)}
    for ident in ("recall", "finish", "no_show", "transfer", "park"):
        out[ident] = not busy and serving
    for p in v.parked:
        out[f"call_back_{p.number}"] = not busy
    for n in v.no_shows:
        out[f"requeue_{n.number}"] = not busy
    for h in v.help:
        out[f"help_go_{h.request}"] = not busy
    return out


def finish_label(t: Translator, v: PanelView | None) -> str:
    """ "Finish…" when it opens the outcome chooser (the customer's service has outcomes)."""
    return t("Finish…") if v is not None and v.current is not None and v.current.outcomes else t("Finish")


# --- the number keypad ------------------------------------------------------------------------------

NUMBER_RE = re.compile(NUMBER_PATTERN)
MAX_LETTERS, MAX_DIGITS = 2, 7
BACK, CLEAR = "back", "clear"


def keypad_letters(site: Site, counter: str) -> list[str]:
    """The prefix letters of the counter's services, in the counter's order, each once."""
    out: list[str] = []
    for sid in site.counters[counter].services:
        p = site.services[sid].prefix
        if p not in out:
            out.append(p)
    return out


def keypad_keys(letters: list[str]) -> list[str]:
    """The keys of the on-screen keypad: the letters first, then a phone-like block of digits with
    "erase one" and "clear" on either side of the 0."""
    return list(letters) + ["1", "2", "3", "4", "5", "6", "7", "8", "9", BACK, "0", CLEAR]


def normalize_number(text: str) -> str | None:
    """A ticket number as the hub knows it, from what a clerk typed: "k12" → "K012"; None when it
    is not one (no letter, no digit, letters after digits, a zero number, too long)."""
    m = re.fullmatch(r"\s*([A-Za-z]{1,%d})\s*0*(\d{1,%d})\s*" % (MAX_LETTERS, MAX_DIGITS), text or "")
    if not m or int(m[2]) == 0:
        return None
    number = f"{m[1].upper()}{int(m[2]):03d}"
    return number if NUMBER_RE.fullmatch(number) else None


class NumberEntry:
    """What the clerk has typed on the keypad (or a keyboard): a prefix of one or two letters, then
    digits. Letters go to the front; a letter after a complete number starts a new one; with a
    single letter on the keypad it is there from the start. `number` is the number to call
    ("K12" → "K012"), None while incomplete."""

    def __init__(self, letters: list[str], prefixes: set[str] | None = None) -> None:
        self.letters = list(letters)
        self.prefixes = set(prefixes) if prefixes is not None else set(letters)
        self.prefix = self.letters[0] if len(self.letters) == 1 else ""
        self.digits = ""

    @property
    def text(self) -> str:
        return self.prefix + self.digits

    def press(self, key: str) -> bool:
        """One key: a letter, a digit, BACK or CLEAR. Returns whether the entry changed."""
        before = self.text
        if key == BACK:
            if self.digits:
                self.digits = self.digits[:-1]
            else:
                self.prefix = self.prefix[:-1]
        elif key == CLEAR:
            self.prefix = self.digits = ""
        elif len(key) == 1 and key.isascii() and key.isdigit():
            if len(self.digits) < MAX_DIGITS:
                self.digits += key
        elif len(key) == 1 and key.isascii() and key.isalpha():
            letter = key.upper()
            if self.prefix and self.digits:
                self.prefix, self.digits = letter, ""          # a new number
            elif len(self.prefix) < MAX_LETTERS and any(p.startswith(self.prefix + letter) for p in self.prefixes):
                self.prefix += letter                           # K, then a two-letter prefix KA
            else:
                self.prefix = letter                            # another letter replaces it
        return self.text != before

    def type_text(self, text: str) -> None:
        for ch in text:
            self.press(ch)

    @property
    def number(self) -> str | None:
        n = normalize_number(self.text)
        return n if n is not None and (not self.prefixes or n.rstrip("0123456789") in self.prefixes) else None

    def problem(self, t: Translator) -> str:
        """What is still missing, in words ("" when the number can be called)."""
        if self.number is not None:
            return ""
        if not self.prefix:
            return t("Type the letter and the digits of the number on the customer's ticket.")
        if self.prefix not in self.prefixes:
            return t("No service of this site has the letter {letter}.").format(letter=self.prefix)
        if not self.digits.strip("0"):
            return t("Type the digits of the number.")
        return ""
