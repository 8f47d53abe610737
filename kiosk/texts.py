"""What the kiosk says, screen by screen, in the customer's language (gettext domain "kiosk").

Pure functions of the flow state and a Translator, shared by the screens (what is shown) and
by speech (what is read aloud), so the two never disagree. msgids are plain English; every
one of them is in assets/locale/<lang>/LC_MESSAGES/kiosk.po for the seven citizen languages.

Service names and descriptions come from the site configuration, which has fi, sv and en:
for other languages the English name is shown (Service.label falls back to it).
"""
from __future__ import annotations

import functools
from dataclasses import dataclass, field

from babel import Locale
from babel import dates as babel_dates

from core.config import Site
from core.errors import WireError
from core.i18n import Translator, native_name, translator

from . import flow as F

DOMAIN = "kiosk"
#: Babel locale used for dates and times per language: Finland reads the 24-hour clock.
_TIME_LOCALE = {"en": "en_GB"}
#: Scripts the kiosk font draws without a text shaper (Latin, Greek, Cyrillic): a native
#: language name in another script (Arabic, Persian) is shown by its translated name only.
_SIMPLE_SCRIPT_MAX = 0x058F


def N_(message: str) -> str:
    """Marks a msgid for extraction where it is translated later."""
    return message


def tr_for(lang: str, site: Site) -> Translator:
    return translator(lang, DOMAIN, site.timezone)


@functools.lru_cache(maxsize=None)
def _time_locale(lang: str) -> Locale:
    try:
        return Locale.parse(_TIME_LOCALE.get(lang, lang))
    except Exception:
        return Locale.parse("en_GB")


def fmt_time(tr: Translator, ms: int) -> str:
    when = tr.local(int(ms))
    if tr.lang == "so":
        return when.strftime("%H:%M")
    return babel_dates.format_time(when, format="short", locale=_time_locale(tr.lang))


def fmt_date(tr: Translator, ms: int) -> str:
    return babel_dates.format_date(tr.local(int(ms)), format="full", locale=_time_locale(tr.lang))


#: The day of an opening, as it fits the language's sentence ("Opens {date} at {time}."): Finnish
#: says "maanantaina 7. joulukuuta" (CLDR's Finnish weekday in a date is the essive already),
#: Swedish "måndagen den 7 december"; Russian and Ukrainian put the date first in the genitive
#: with the weekday in brackets (a preposition before the weekday would need its case).
_OPENING_DATE = {"fi": "EEEE d. MMMM", "sv": "EEEE'en den' d MMMM", "en": "EEEE d MMMM",
                 "ru": "d MMMM (EEEE)", "uk": "d MMMM (EEEE)", "et": "EEEE, d. MMMM", "so": "EEEE d MMMM"}


def fmt_opening_date(tr: Translator, ms: int) -> str:
    pattern = _OPENING_DATE.get(tr.lang, "EEEE d MMMM")
    return babel_dates.format_date(tr.local(int(ms)), format=pattern, locale=_time_locale(tr.lang))


def opens_text(flow: "F.Flow", tr: Translator) -> str:
    """When the closed service point opens, counted from the hub's date ("" when not known)."""
    ms = flow.hours.opens_ms
    if ms is None:
        return ""
    _ = tr.gettext
    day = F.opening_day(flow.site, ms, flow.hours.day)
    if day == "today":
        return _("Opens today at {time}.").format(time=fmt_time(tr, ms))
    if day == "tomorrow":
        return _("Opens tomorrow at {time}.").format(time=fmt_time(tr, ms))
    # TRANSLATORS: {date} is the weekday and date, e.g. "Monday 7 December"
    return _("Opens {date} at {time}.").format(date=fmt_opening_date(tr, ms), time=fmt_time(tr, ms))


def closed_service_text(tr: Translator) -> str:
    return tr.gettext("No more service today")


def spoken_number(number: str) -> str:
    """'K012' -> 'K 12': speech says the letter and then the number, not 'zero one two'."""
    head = number.rstrip("0123456789")
    tail = number[len(head):]
    return f"{head} {int(tail)}" if tail else number


def simple_script(text: str) -> bool:
    return all(ord(ch) <= _SIMPLE_SCRIPT_MAX for ch in text)


def language_label(code: str, ui_lang: str, tr: Translator) -> tuple[str, str | None]:
    """(name in the customer's language, the language's own name when it differs and the
    kiosk font can draw it) for an interpreter language."""
    _ = tr.gettext
    if code == "fse":
        return _("Finnish Sign Language"), None
    try:
        ui = Locale.parse(_TIME_LOCALE.get(ui_lang, ui_lang)).languages.get(code)
    except Exception:
        ui = None
    name = ui or Locale.parse("en").languages.get(code) or code
    name = name[:1].upper() + name[1:]
    try:
        own = Locale.parse(code).get_display_name(code)
    except Exception:
        own = native_name(code) if native_name(code) != code else None
    if own:
        own = own[:1].upper() + own[1:]
    if not own or own.lower() == name.lower() or not simple_script(own):
        own = None
    return name, own


def wait_text(tr: Translator, est_wait_s: int | None) -> str:
    """The wait to show ("" when the hub gave none: no wait rather than a wrong one)."""
    if est_wait_s is None:
        return ""
    m = F.wait_minutes(est_wait_s)
    if m < 1:
        return tr.gettext("Estimated wait: less than a minute")
    return tr.ngettext("Estimated wait: about {n} minute", "Estimated wait: about {n} minutes", m).format(n=m)


def ahead_text(tr: Translator, ahead: int) -> str:
    if ahead <= 0:
        return tr.gettext("Nobody is ahead of you.")
    return tr.ngettext("{n} person is ahead of you.", "{n} people are ahead of you.", ahead).format(n=ahead)


def where_text(tr: Translator, settings) -> str:
    own = settings.wait_text(tr.lang)
    return own or tr.gettext("Please wait in the waiting area. Your number will be shown on the screen "
                             "and called out.")


def needs_text(tr: Translator, needs: "F.NeedsChoice") -> str:
    """What the customer asked for, as the ticket screen confirms it ('' for nothing)."""
    _ = tr.gettext
    items = []
    if needs.interpreter:
        name = language_label(needs.interpreter, tr.lang, tr)[0]
        items.append(_("Interpreter") + f" ({name})")
    if needs.hearing_loop:
        items.append(_("Hearing loop"))
    if needs.accessible_room:
        items.append(_("Accessible room"))
    return _("You asked for: {needs}").format(needs=", ".join(items)) if items else ""


def print_text(tr: Translator, status: str | None) -> str:
    _ = tr.gettext
    if status == "printing":
        return _("Printing your ticket…")
    if status == "printed":
        return _("Take your ticket from the printer.")
    if status == "failed":
        return _("The printer is not working, so there is no paper ticket. Please take a photo of this "
                 "screen or write down your number.")
    return ""


def printer_notice(tr: Translator) -> str:
    return tr.gettext("The printer is out of order. Your number will be shown on the screen.")


_HUB_DOWN = N_("The queue system is not working right now. Please ask the staff for help.")
_TRY_AGAIN = N_("Your request did not go through. Please try again. If it happens again, please ask the staff "
                "for help.")
_ASK_AT_DESK = N_("We could not call the staff automatically. Please go to the service desk and ask for help.")


def hub_notice(tr: Translator) -> str:
    return tr.gettext(_HUB_DOWN)


#: What the problem screen says for each code the hub or the link can answer a kiosk with
#: (core.errors): "try again" where another try can help, "ask the staff" where it cannot (this
#: kiosk's set-up or software is wrong). The check-in answers have screens of their own
#: (flow.CHECKIN_RESULTS). tests/test_wire_errors.py fails when a code the kiosk can receive has
#: no words here.
PROBLEM_WORDS: dict[WireError, str] = {
    WireError.TIMEOUT: _TRY_AGAIN,
    WireError.CLOSED: _TRY_AGAIN,
    WireError.SEND_FAILED: _TRY_AGAIN,
    WireError.STORE_FAILED: _TRY_AGAIN,
    WireError.INTERNAL: _TRY_AGAIN,
    WireError.BAD_REPLY: _TRY_AGAIN,
    WireError.UNKNOWN_SERVICE: _HUB_DOWN,
    WireError.NOT_ALLOWED: _HUB_DOWN,
    WireError.REFUSED: _HUB_DOWN,
    WireError.MALFORMED: _HUB_DOWN,
    WireError.UNKNOWN_COMMAND: _HUB_DOWN,
    WireError.TOO_LARGE: _HUB_DOWN,
    WireError.RETAINED: _HUB_DOWN,
    WireError.WRONG_THREAD: _HUB_DOWN,
    WireError.HELP_FULL: _ASK_AT_DESK,  # only a help request gets it: another try does not help
}


def idle_text(tr: Translator, seconds: int) -> str:
    return tr.ngettext("The screen will start over in {n} second.",
                       "The screen will start over in {n} seconds.", seconds).format(n=seconds)


def idle_speech(tr: Translator, seconds: int) -> str:
    """The "more time?" prompt as it is read aloud: the same words as on screen."""
    _ = tr.gettext
    return " ".join([_("Do you need more time?"), idle_text(tr, seconds), _("Yes, I need more time")])


def key_help(tr: Translator) -> str:
    """Said when a key turns speech on (kiosk.keys): how to use the kiosk without the screen."""
    return tr.gettext("Speech is on. The arrow keys move from button to button, Enter chooses, Escape goes "
                      "back, the star key repeats, plus and minus change the volume.")


def describe_control(tr: Translator, text: str, sub: str, selected: bool, available: bool) -> str:
    """A control as the keys reach it: its words, its second line, whether it is chosen."""
    parts = [text, sub]
    if selected:
        parts.append(tr.gettext("selected"))
    if not available:
        parts.append(tr.gettext("not available"))
    return ", ".join(p for p in parts if p)


def no_voice_text(tr: Translator) -> str:
    """Shown instead of speaking when read-aloud is on and the language has no voice: never
    another language read out without saying so."""
    return tr.gettext("Read aloud is not available in this language.")


@dataclass
class ScreenText:
    """The words of one screen that are not on buttons: a title, a lead and information lines."""
    title: str
    lead: str = ""
    lines: list[str] = field(default_factory=list)

    def speech(self) -> str:
        parts = [self.title, self.lead, *self.lines]
        return " ".join(p.strip() for p in parts if p and p.strip())


def screen_text(flow: "F.Flow", tr: Translator) -> ScreenText:
    """Title, lead and information lines of the flow's current screen."""
    _ = tr.gettext
    c = flow.c
    site = flow.site
    s = flow.screen
    if s == F.START:
        if not flow.hours.open:
            return ScreenText(_("The service point is closed"), opens_text(flow, tr),
                              [_("If you have an appointment, you can check in here.")])
        if not flow.walk_in_open:
            return ScreenText(_("No more service today"), _("You can no longer get a number today."),
                              [_("If you have an appointment, you can check in here.")])
        return ScreenText(_("Welcome"), _("What would you like to do?"))
    if s == F.SERVICES:
        return ScreenText(_("Choose the service"), _("Which office is your matter about?"))
    if s == F.NEEDS:
        lead = _("This helps the staff to prepare. If you need nothing, just tap “Get my number”.")
        lines = []
        if c.service:
            lines.append(_("Service: {service}").format(service=site.services[c.service].label(tr.lang)))
        if flow.busy is not None:
            lines.append(_("Getting your number…"))
        return ScreenText(_("Do you need any of these?"), lead, lines)
    if s == F.INTERPRETER:
        return ScreenText(_("Interpreter"), _("Which language do you need an interpreter for?"))
    if s == F.APPOINTMENT:
        lines = [_("Checking your booking…")] if flow.busy is not None else []
        return ScreenText(_("Check in for your appointment"),
                          _("Type the booking code from your confirmation. Or show the code on your phone "
                            "or paper to the code reader."), lines)
    if s == F.TICKET and c.ticket is not None:
        t = c.ticket
        lines = [site.services[t.service].label(tr.lang) if t.service in site.services else t.service]
        if t.kind == "appointment" and t.appointment_ms:
            lines.append(_("You are checked in. Your appointment is at {time}.").format(
                time=fmt_time(tr, t.appointment_ms)))
        asked = needs_text(tr, t.needs)
        if asked:
            lines.append(asked)
        lines += [x for x in (ahead_text(tr, t.ahead), wait_text(tr, t.est_wait_s), where_text(tr, flow.settings))
                  if x]
        return ScreenText(_("Your number"), t.number, lines)
    if s == F.HELP:
        if c.help_state == "failed":
            return ScreenText(_("Please ask at the service desk"), _(_ASK_AT_DESK))
        if c.help_state == "sent":
            return ScreenText(_("Help is on the way"),
                              _("A member of staff is coming to you. Please stay here by the screen."))
        return ScreenText(_("Calling for help…"), _("Please wait a moment."))
    if s == F.PROBLEM:
        return ScreenText(_("Something went wrong"), _(PROBLEM_WORDS.get(c.problem, _TRY_AGAIN)))
    o = c.outcome
    walk_in = flow.walk_in_open
    if s == F.NOT_FOUND:
        if not walk_in:
            return ScreenText(_("We could not find your booking"),
                              _("Check the code and try again. If you cannot find your code, please ask "
                                "for help."))
        return ScreenText(_("We could not find your booking"),
                          _("Check the code and try again. If you cannot find your code, take a number "
                            "or ask for help."))
    if s == F.CANCELLED:
        lines = []
        if o.get("appointment_ms"):
            lines.append(_("It was on {date} at {time}.").format(
                date=fmt_date(tr, o["appointment_ms"]), time=fmt_time(tr, o["appointment_ms"])))
        lines.append(_("Please contact the authority that gave you the appointment."))
        if walk_in:
            lines.append(_("If your matter cannot wait, you can take a number now."))
        return ScreenText(_("Your appointment has been cancelled"), "", lines)
    moved = [_("Your appointment has been moved.")] if o.get("moved") else []
    if s == F.OTHER_DAY:
        lines = list(moved)
        if o.get("appointment_ms"):
            lines.append(_("Your appointment is on {date} at {time}.").format(
                date=fmt_date(tr, o["appointment_ms"]), time=fmt_time(tr, o["appointment_ms"])))
        if walk_in:
            lines.append(_("Please come back on that day. If your matter cannot wait, you can take a number now."))
        else:
            lines.append(_("Please come back on that day."))
        return ScreenText(_("Your appointment is on another day"), "", lines)
    if s == F.TOO_EARLY:
        lines = list(moved)
        if o.get("appointment_ms"):
            lines.append(_("Your appointment is at {time}.").format(time=fmt_time(tr, o["appointment_ms"])))
        if o.get("opens_ms"):
            lines.append(_("You can check in from {time}. Please have a seat and come back then.").format(
                time=fmt_time(tr, o["opens_ms"])))
        return ScreenText(_("You are early"), "", lines)
    if s == F.TOO_LATE:
        lines = list(moved)
        if o.get("appointment_ms"):
            lines.append(_("Your appointment was at {time}.").format(time=fmt_time(tr, o["appointment_ms"])))
        if walk_in:
            lines.append(_("You can still get a number and wait for your turn."))
        elif not flow.hours.open:
            lines += [x for x in (_("The service point is closed now."), opens_text(flow, tr)) if x]
        else:
            lines.append(_("You can no longer get a number today."))
        return ScreenText(_("Your appointment time has passed"), "", lines)
    if s == F.ALREADY:
        lines = []
        if o.get("number"):
            lines.append(_("Your number is {number}.").format(number=o["number"]))
        lines.append(_("Please wait for your number to be called."))
        return ScreenText(_("You have already checked in"), "", lines)
    return ScreenText("")


def speech_text(flow: "F.Flow", tr: Translator) -> str:
    """What is read aloud when a screen appears (with the speak toggle on)."""
    _ = tr.gettext
    st = screen_text(flow, tr)
    if flow.screen == F.TICKET and flow.c.ticket is not None:
        t = flow.c.ticket
        parts = [_("Your number is {number}.").format(number=spoken_number(t.number)), *st.lines,
                 print_text(tr, flow.c.print_status)]
        return " ".join(p for p in parts if p)
    if flow.screen == F.START:
        if not flow.walk_in_open:
            return " ".join([st.speech(), _("I have an appointment"), "—", _("I need help")])
        return " ".join([st.speech(), _("Take a number"), "—", _("I have an appointment"), "—",
                         _("I need help")])
    if flow.screen == F.SERVICES:
        closed = closed_service_text(tr)

        def name(sid: str, label: str) -> str:
            return label if flow.service_open(sid) else f"{label}: {closed}"
        names = [name(flow.general_advice, _("I don't know which service"))] + [
            name(s, flow.site.services[s].label(tr.lang)) for s in flow.services()]
        return st.speech() + " " + ", ".join(names) + "."
    return st.speech()
