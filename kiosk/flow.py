"""The kiosk's screen flow as a pure state machine: inputs in, state and effects out.

No Kivy, no network, no clock: every input carries `now` (monotonic seconds), and what the
outside world must do comes out as effects (`Send` a command to the hub, `Print` a ticket).
The Kivy app only draws `flow` and forwards touches; the tests drive it directly.

Screens::

    start ──take a number──> services ──pick──> needs ──get my number──> (hub) ──> ticket
      │                        └─"I don't know which" = the general-advice service   │
      ├──I have an appointment──> appointment ──check in──> (hub) ──> ticket          │
      │                                   ├─> not_found / other_day / too_early       │
      │                                   ├─> too_late ──take a number──> needs       │
      │                                   └─> already_checked_in                      │
      └──I need help──> (hub) ──> help                        problem (hub trouble)   │
    any screen, no touch for idle_s ──> start, default language, nothing kept <───────┘

Time (issue 16, WCAG 2.2.1): after `warn_after_s` without a touch (default 60, at least 60) a
"more time?" prompt is shown for `idle_warn_s` (default 30, at least 20) and then the kiosk
resets. Any touch keeps the customer; "More time" also doubles the quiet time before the next
prompt (each press again, up to MAX_MORE_TIME times the configured time). The language and the
accessibility choices (`Prefs`) survive the prompt and "More time"; only the reset after the
customer has gone (the prompt expiring, or "Done" on the ticket) drops them. `idle_limits` is
the rule, pure.

Opening hours come from the hub's retained live state (`on_live_state`; before any state has
come the kiosk behaves as open). While the service point is closed the start screen says so and
when it opens, and offers no walk-in number, only the check-in (the hub decides whether the
booking's check-in window is open) and help. A service no counter works for any more today
(its estimate is null) is shown as closed and cannot be chosen, nor reached by "I don't know
which" when general advice itself is closed.

Guards:
  * one request in flight at a time: while `busy`, every action that would send is ignored
    (a double tap never issues two tickets), and the UI disables those buttons;
  * for `settle_s` after a screen change, actions are ignored, so the second tap of a double
    tap cannot press whatever button the next screen has in the same place.
"""
from __future__ import annotations

import datetime as _dt
import re
import urllib.parse
import uuid
from dataclasses import dataclass, field, replace
from typing import Any

from core.config import Site
from core.errors import WireError
from uikit.idle import IdleTimer

from .settings import KioskSettings


def new_request_id() -> str:
    """Sent as the command's MQTT correlation data. "Try again" after a timeout re-sends the
    same payload with the same id, and the hub answers a repeated id with its first answer: a
    number the hub issued while the answer was lost is not issued a second time."""
    return uuid.uuid4().hex


START = "start"
SERVICES = "services"
NEEDS = "needs"
INTERPRETER = "interpreter"
APPOINTMENT = "appointment"
TICKET = "ticket"
HELP = "help"
PROBLEM = "problem"
# The hub's check-in answers (core.errors) each have a screen of that name.
NOT_FOUND = WireError.UNKNOWN_CODE.value
OTHER_DAY = WireError.OTHER_DAY.value
TOO_EARLY = WireError.TOO_EARLY.value
TOO_LATE = WireError.TOO_LATE.value
ALREADY = WireError.ALREADY_CHECKED_IN.value
CANCELLED = WireError.BOOKING_CANCELLED.value
CHECKIN_RESULTS = (NOT_FOUND, OTHER_DAY, TOO_EARLY, TOO_LATE, ALREADY, CANCELLED)
SCREENS = (START, SERVICES, NEEDS, INTERPRETER, APPOINTMENT, TICKET, HELP, PROBLEM) + CHECKIN_RESULTS

PREFS = ("large_text", "high_contrast", "low_layout", "speak")
NEED_FLAGS = ("hearing_loop", "accessible_room")
MAX_KEYPAD_CODE = 16
MIN_CODE = 3
_CODE_RE = re.compile(r"^[A-Za-z0-9-]{3,32}$")
#: After a screen change, actions are ignored this long (seconds): see the module docstring.
SETTLE_S = 0.45
#: "More time" doubles the quiet time before the prompt, at most to this many times the
#: configured time (8: with the defaults 8 minutes; three presses reach it).
MAX_MORE_TIME = 8


# --- effects --------------------------------------------------------------------------------

@dataclass(frozen=True)
class Send:
    """Send `payload` to the hub; answer with `Flow.on_reply(req, reply, now)`."""
    req: int
    payload: dict[str, Any]


@dataclass(frozen=True)
class Print:
    ticket: "TicketView"
    reprint: bool = False


# --- state ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Prefs:
    large_text: bool = False
    high_contrast: bool = False
    low_layout: bool = False
    speak: bool = False


@dataclass(frozen=True)
class NeedsChoice:
    interpreter: str | None = None
    hearing_loop: bool = False
    accessible_room: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"interpreter": self.interpreter, "hearing_loop": self.hearing_loop,
                "accessible_room": self.accessible_room}

    def any(self) -> bool:
        return bool(self.interpreter or self.hearing_loop or self.accessible_room)


@dataclass(frozen=True)
class TicketView:
    """A ticket as the hub issued it, with what the screen and the printer need."""
    ticket: str
    number: str
    service: str
    kind: str
    ahead: int
    est_wait_s: int | None   # None: the hub gave no estimate (the service is closed for the day)
    token: str
    issued_ms: int
    lang: str
    qr_url: str
    appointment_ms: int | None = None
    needs: NeedsChoice = NeedsChoice()

    @property
    def est_wait_min(self) -> int | None:
        return None if self.est_wait_s is None else wait_minutes(self.est_wait_s)


def wait_minutes(est_wait_s: int) -> int:
    """A waiting time as people say it: whole minutes, and from 10 minutes on in steps of 5
    (an estimate shown as "17 minutes" promises more precision than it has)."""
    m = max(0, -(-int(est_wait_s) // 60))
    return m if m < 10 else -(-m // 5) * 5


@dataclass(frozen=True)
class Hours:
    """What the hub's live state says about opening hours (bus/live.py). The default, before any
    state has come: open, every service open."""
    open: bool = True
    opens_ms: int | None = None        # UTC ms of the next opening while closed (None: not within 31 days)
    day: _dt.date | None = None        # the hub's local date: "today" and "tomorrow" count from it
    closed: frozenset[str] = frozenset()   # services no counter works for any more today


def hours_from_state(state: dict[str, Any], site: Site) -> Hours:
    """The opening-hours part of a live state. Anything missing or malformed counts as open: only
    an explicit `"open": false` closes the kiosk, only an explicit null estimate closes a service."""
    is_open = state.get("open", True)
    opens = state.get("opens_ms")
    ts = state.get("ts")
    day = None
    if isinstance(ts, int) and not isinstance(ts, bool):
        day = _dt.datetime.fromtimestamp(ts / 1000, tz=_dt.timezone.utc).astimezone(site.tz).date()
    services = state.get("services")
    closed = frozenset(sid for sid, s in services.items()
                       if sid in site.services and isinstance(s, dict) and "est_wait_s" in s
                       and s["est_wait_s"] is None) if isinstance(services, dict) else frozenset()
    return Hours(open=is_open if isinstance(is_open, bool) else True,
                 opens_ms=opens if isinstance(opens, int) and not isinstance(opens, bool) else None,
                 day=day, closed=closed)


def opening_day(site: Site, opens_ms: int, day: _dt.date | None) -> str:
    """"today", "tomorrow" or "date": how to say when the site opens, counted from the hub's `day`."""
    when = _dt.datetime.fromtimestamp(opens_ms / 1000, tz=_dt.timezone.utc).astimezone(site.tz).date()
    if day is not None and when == day:
        return "today"
    if day is not None and when == day + _dt.timedelta(days=1):
        return "tomorrow"
    return "date"


@dataclass
class Customer:
    """Everything about the person at the kiosk now. Replaced whole on reset: nothing of it stays."""
    service: str | None = None
    needs: NeedsChoice = NeedsChoice()
    code: str = ""
    ticket: TicketView | None = None
    outcome: dict[str, Any] = field(default_factory=dict)  # the hub's answer to a check-in
    print_status: str | None = None   # printing | printed | failed
    print_reason: str | None = None
    help_state: str | None = None     # sending | sent | failed
    problem: str | None = None        # the error code when the hub could not do it
    retry: dict[str, Any] | None = None
    reprints: int = 0
    issued_at: float = 0.0            # this kiosk's monotonic time when the ticket came
    page: int = 0
    came_from: str | None = None


def ticket_view(reply: dict[str, Any], lang: str, needs: NeedsChoice, settings: KioskSettings,
                site_id: str) -> TicketView | None:
    """The ticket of a hub's "ok" answer to take/checkin (None when the answer lacks one).
    Pure: the app also uses it on the hub link's thread to start printing at once."""
    if not reply.get("ok") or "ticket" not in reply:
        return None
    try:
        token = str(reply.get("token", ""))
        est = reply.get("est_wait_s", 0)
        return TicketView(
            ticket=str(reply["ticket"]), number=str(reply["number"]), service=str(reply["service"]),
            kind=str(reply.get("kind", "walk_in")), ahead=int(reply.get("ahead", 0)),
            # null: no counter of the service works any more today. No wait is shown then, rather
            # than a wrong one.
            est_wait_s=None if est is None else int(est), token=token,
            issued_ms=int(reply.get("issued_ms", 0)),
            lang=lang, qr_url=settings.qr_url(site_id, token, str(reply["number"])),
            appointment_ms=reply.get("appointment_ms"), needs=needs)
    except (KeyError, TypeError, ValueError):
        return None


def needs_from(d: dict[str, Any] | None) -> NeedsChoice:
    d = d or {}
    return NeedsChoice(d.get("interpreter"), bool(d.get("hearing_loop")), bool(d.get("accessible_room")))


def extract_code(text: str) -> str | None:
    """A booking code from what a barcode reader typed: the code itself, or a URL carrying it
    (`...?code=ABC123` or as its last path segment). None when nothing code-like is there."""
    s = (text or "").strip()
    if "://" in s or s.startswith("www."):
        u = urllib.parse.urlparse(s if "://" in s else "https://" + s)
        q = urllib.parse.parse_qs(u.query)
        for key in ("code", "c", "booking"):
            if q.get(key):
                s = q[key][0].strip()
                break
        else:
            parts = [p for p in u.path.split("/") if p]
            s = parts[-1] if parts else ""
    return s if _CODE_RE.match(s) else None


def idle_limits(settings: KioskSettings, screen: str, factor: int = 1) -> tuple[float, float]:
    """(quiet seconds before the "more time?" prompt, seconds left to answer it) on `screen`,
    after "More time" multiplied the quiet time by `factor` (1, 2, 4 ... MAX_MORE_TIME).

    On the ticket and help screens the total stays `ticket_idle_s` (the customer has their
    number; the screen stays to be read or photographed): the prompt leaves idle_warn_s of it
    to answer, or half of it when ticket_idle_s is shorter than twice that."""
    factor = max(1, min(MAX_MORE_TIME, int(factor)))
    if screen in (TICKET, HELP):
        total = settings.ticket_idle_s
        answer = min(settings.idle_warn_s, total / 2)
    else:
        total, answer = settings.idle_s, settings.idle_warn_s
    return (total - answer) * factor, answer


def next_factor(factor: int) -> int:
    """What one press of "More time" makes of the factor: doubled, at most MAX_MORE_TIME."""
    return min(MAX_MORE_TIME, max(1, factor) * 2)


class Flow:
    def __init__(self, site: Site, settings: KioskSettings, device_id: str, *,
                 languages: tuple[str, ...] | None = None, settle_s: float = SETTLE_S, now: float = 0.0) -> None:
        self.site = site
        self.settings = settings
        self.device_id = device_id
        self.languages = tuple(languages or site.languages)
        self.default_lang = site.default_language
        self.settle_s = settle_s
        self.lang = self.default_lang
        self.prefs = Prefs()
        self.c = Customer()
        self.screen = START
        self.busy: int | None = None
        self.busy_kind: str | None = None
        self._req = 0
        self.idle = IdleTimer(settings.idle_s, settings.idle_warn_s)
        self.more_time_factor = 1   # "More time" doubles it; back to 1 on the reset
        self.warnings = 0           # grows on every prompt shown (the app speaks each one once)
        self._answering = False     # the touch that pressed "More time" already closed the prompt
        self.warning = False
        self.printer_ok: bool | None = None
        self.printer_reason: str | None = None
        self.hub_ok: bool | None = None
        self.hours = Hours()     # from the hub's live state (on_live_state)
        self.effects: list[Send | Print] = []
        self.version = 0         # grows on every change the screen must show
        self.entered = 0         # grows on every screen entry (speech reads each new screen)
        self.resets = 0
        self._settle_until = now
        self.log: list[str] = []  # what happened, for tests and the bench (no personal data)

    # --- helpers --------------------------------------------------------------------------

    def drain(self) -> list[Send | Print]:
        out, self.effects = self.effects, []
        return out

    def _changed(self) -> None:
        self.version += 1

    def _go(self, screen: str, now: float) -> None:
        self.screen = screen
        self.entered += 1
        self._settle_until = now + self.settle_s
        self.warning = False
        self._answering = False
        self._apply_limits()
        self.idle.start(now)
        self._changed()

    def _apply_limits(self) -> None:
        before, answer = idle_limits(self.settings, self.screen, self.more_time_factor)
        self.idle.timeout_s, self.idle.warn_s = before + answer, answer

    def warn_after(self) -> float:
        """Quiet seconds before the prompt on this screen, now."""
        return idle_limits(self.settings, self.screen, self.more_time_factor)[0]

    def ready(self, now: float) -> bool:
        """True when an action would be taken now (not settling after a screen change)."""
        return now >= self._settle_until

    def _accept(self, now: float) -> bool:
        self.idle.touch(now)
        if self.warning:
            self.warning = False
            self._changed()
        return self.ready(now)

    @property
    def pristine(self) -> bool:
        return (self.screen == START and self.lang == self.default_lang and self.prefs == Prefs()
                and self.c == Customer() and self.busy is None)

    def _send(self, kind: str, payload: dict[str, Any]) -> int:
        self._req += 1
        self.busy, self.busy_kind = self._req, kind
        self.effects.append(Send(self._req, payload))
        self.log.append(f"send {kind}")
        self._changed()
        return self._req

    @property
    def general_advice(self) -> str:
        s = self.site.general_advice_service()
        return s.id if s is not None else next(iter(self.site.services))

    def services(self) -> list[str]:
        """The services in the grid: every service of the site but general advice, which has
        its own "I don't know which" button above the grid."""
        return [sid for sid, s in self.site.services.items() if not s.general_advice]

    # --- opening hours ----------------------------------------------------------------------

    @property
    def site_open(self) -> bool:
        return self.hours.open

    def service_open(self, service: str) -> bool:
        """False when no counter of the service works any more today (by the hub's estimate)."""
        return service not in self.hours.closed

    @property
    def walk_in_open(self) -> bool:
        """A walk-in number is offered: the site is open and some service still works today."""
        return self.hours.open and any(self.service_open(sid) for sid in self.site.services)

    # --- outside events -------------------------------------------------------------------

    def touch(self, now: float) -> None:
        """Any touch anywhere (also on no button): the customer is still there."""
        self.idle.touch(now)
        if self.warning:
            self.warning = False
            self._answering = True  # the touch may be the press of "More time" (its action follows)
            self._changed()

    def tick(self, now: float) -> str:
        """Called about once a second. Returns the idle state ('idle', 'ok', 'warn', 'reset')."""
        if self.pristine:
            self.idle.stop()
            return "idle"
        self.idle.active = True  # counts from the last touch, also on a changed start screen
        st = self.idle.state(now)
        if self.busy is not None and st != "ok":
            # Never reset under a request in flight: its answer (a ticket) must be shown.
            self.idle.touch(now)
            return "ok"
        if st == "warn" and not self.warning:
            self.warning = True
            self._answering = False
            self.warnings += 1
            self.log.append("warn")
            self._changed()
        elif st == "reset":
            self.reset(now)
        return st

    def idle_remaining(self, now: float) -> float:
        return self.idle.remaining(now)

    def on_printer_state(self, ok: bool, reason: str | None = None) -> None:
        if (ok, reason) != (self.printer_ok, self.printer_reason):
            self.printer_ok, self.printer_reason = ok, reason
            self._changed()

    def on_hub_state(self, connected: bool) -> None:
        if connected != self.hub_ok:
            self.hub_ok = connected
            self._changed()

    def on_live_state(self, state: dict[str, Any], now: float) -> None:
        """The hub's retained live state (bus.live.parse_state shape): opening hours and which
        services are closed for the rest of the day."""
        h = hours_from_state(state, self.site)
        if h != self.hours:
            self.hours = h
            self._changed()

    def on_printed(self, ticket: str, ok: bool, reason: str | None = None) -> None:
        t = self.c.ticket
        if t is None or t.ticket != ticket:
            return  # an earlier customer's ticket: nothing of it is shown any more
        self.c.print_status = "printed" if ok else "failed"
        self.c.print_reason = None if ok else reason
        self._changed()

    # --- start screen ---------------------------------------------------------------------

    def set_language(self, lang: str, now: float) -> None:
        if not self._accept(now) or lang not in self.languages:
            return
        if lang != self.lang:
            self.lang = lang
            self.entered += 1  # speech reads the screen again, in the new language
            self._changed()

    def toggle(self, pref: str, now: float) -> None:
        if not self._accept(now) or pref not in PREFS:
            return
        self.prefs = replace(self.prefs, **{pref: not getattr(self.prefs, pref)})
        if pref == "speak" and self.prefs.speak:
            self.entered += 1  # read the screen out at once
        self._changed()

    def take_number(self, now: float) -> None:
        if not self._accept(now) or self.busy is not None or not self.walk_in_open:
            return
        self.c = Customer(came_from=START)
        self._go(SERVICES, now)

    def have_appointment(self, now: float) -> None:
        if not self._accept(now) or self.busy is not None:
            return
        self.c = Customer()
        self._go(APPOINTMENT, now)

    def need_help(self, now: float) -> None:
        if not self._accept(now) or self.busy is not None:
            return
        self.c.help_state = "sending"
        self._send("help", {"cmd": "help", "device": self.device_id, "lang": self.lang})
        self._go(HELP, now)

    # --- services, needs ------------------------------------------------------------------

    def choose_service(self, service: str, now: float) -> None:
        if (not self._accept(now) or self.busy is not None or service not in self.site.services
                or not self.service_open(service)):
            return
        self.c.service = service
        self.c.needs = NeedsChoice()
        self._go(NEEDS, now)

    def dont_know(self, now: float) -> None:
        self.choose_service(self.general_advice, now)

    def page(self, delta: int, pages: int, now: float) -> None:
        if not self._accept(now):
            return
        p = max(0, min(pages - 1, self.c.page + delta))
        if p != self.c.page:
            self.c.page = p
            self.entered += 1
            self._changed()

    def toggle_need(self, need: str, now: float) -> None:
        if not self._accept(now) or need not in NEED_FLAGS or self.screen != NEEDS:
            return
        self.c.needs = replace(self.c.needs, **{need: not getattr(self.c.needs, need)})
        self._changed()

    def open_interpreter(self, now: float) -> None:
        if not self._accept(now) or self.screen != NEEDS:
            return
        self._go(INTERPRETER, now)

    def choose_interpreter(self, lang: str | None, now: float) -> None:
        if not self._accept(now) or self.screen != INTERPRETER:
            return
        if lang is not None and lang not in self.settings.interpreter_languages:
            return
        self.c.needs = replace(self.c.needs, interpreter=lang)
        self._go(NEEDS, now)

    def get_number(self, now: float) -> None:
        """The last step of a walk-in: ask the hub for a number."""
        if not self._accept(now) or self.busy is not None or self.screen != NEEDS or self.c.service is None:
            return
        if not self.hours.open:
            # The service point closed while the customer was choosing: the start screen says so.
            self.c = Customer()
            self._go(START, now)
            return
        if not self.service_open(self.c.service):
            # Its last counter stopped meanwhile: the services screen shows it closed.
            self.c.service, self.c.needs = None, NeedsChoice()
            self._go(SERVICES, now)
            return
        payload = {"cmd": "take", "service": self.c.service, "lang": self.lang, "needs": self.c.needs.to_dict(),
                   "request_id": new_request_id()}
        self.c.retry = payload
        self._send("take", payload)

    # --- appointments ---------------------------------------------------------------------

    def key(self, ch: str, now: float) -> None:
        if not self._accept(now) or self.screen != APPOINTMENT or self.busy is not None:
            return
        # Digits from the on-screen keypad; digits and letters from a keyboard (codes may have
        # letters), at any speed.
        if len(ch) == 1 and ch.isascii() and ch.isalnum() and len(self.c.code) < MAX_KEYPAD_CODE:
            self.c.code += ch.upper()
            self._changed()

    def delete(self, now: float) -> None:
        if not self._accept(now) or self.screen != APPOINTMENT or self.busy is not None:
            return
        if self.c.code:
            self.c.code = self.c.code[:-1]
            self._changed()

    def can_check_in(self) -> bool:
        return self.screen == APPOINTMENT and len(self.c.code) >= MIN_CODE and self.busy is None

    def check_in(self, now: float) -> None:
        if not self._accept(now) or not self.can_check_in():
            return
        self._check_in_code(self.c.code)

    def scanned(self, text: str, now: float) -> None:
        """A barcode/QR reader typed `text` and Enter, on whatever screen was showing."""
        self.idle.touch(now)
        if self.busy is not None:
            return
        code = extract_code(text)
        self.log.append("scan")
        if self.screen in (TICKET, HELP) or self.screen in CHECKIN_RESULTS:
            self.c = Customer()  # a new customer: the last one's number must not stay
        if code is None:
            self.c = Customer(outcome={"error": NOT_FOUND})
            self._go(NOT_FOUND, now)
            return
        self.c.code = ""  # a scanned code is never shown
        self._check_in_code(code)
        if self.screen != APPOINTMENT:
            self._go(APPOINTMENT, now)

    def _check_in_code(self, code: str) -> None:
        payload = {"cmd": "checkin", "code": code, "lang": self.lang, "needs": self.c.needs.to_dict(),
                   "request_id": new_request_id()}
        self.c.retry = payload
        self._send("checkin", payload)

    def walk_in_instead(self, now: float) -> None:
        """From a check-in answer: take a walk-in number (for the booked service when known and
        still served today). Not while the service point is closed."""
        if not self._accept(now) or self.busy is not None or not self.walk_in_open:
            return
        service = self.c.outcome.get("service")
        self.c = Customer(came_from=self.screen)
        if service in self.site.services and self.service_open(service):
            self.c.service = service
            self._go(NEEDS, now)
        else:
            self._go(SERVICES, now)

    def try_again(self, now: float) -> None:
        """From "not found": back to the keypad with an empty code."""
        if not self._accept(now) or self.busy is not None:
            return
        self.c = Customer()
        self._go(APPOINTMENT, now)

    def retry(self, now: float) -> None:
        """From the problem screen: send the same command again."""
        if not self._accept(now) or self.busy is not None or self.c.retry is None:
            return
        payload = dict(self.c.retry)
        self._send(payload["cmd"], payload)

    # --- ticket screen --------------------------------------------------------------------

    def can_reprint(self, now: float) -> bool:
        """The last ticket can be printed again for `reprint_s` after it came (timed on this
        kiosk's own clock: the hub's clock may differ), `max_reprints` times."""
        t = self.c.ticket
        return (t is not None and self.screen == TICKET and self.c.print_status != "printing"
                and self.c.reprints < self.settings.max_reprints
                and now - self.c.issued_at <= self.settings.reprint_s)

    def reprint(self, now: float) -> None:
        if not self._accept(now) or not self.can_reprint(now):
            return
        self.c.reprints += 1
        self.c.print_status = "printing"
        self.effects.append(Print(self.c.ticket, reprint=True))
        self.log.append("reprint")
        self._changed()

    # --- navigation -----------------------------------------------------------------------

    def back(self, now: float) -> None:
        if not self._accept(now) or self.busy is not None:
            return
        s = self.screen
        if s == INTERPRETER:
            self._go(NEEDS, now)
        elif s == NEEDS:
            came = self.c.came_from
            self.c.service, self.c.needs = None, NeedsChoice()
            self._go(SERVICES if came in (START, SERVICES, None) else START, now)
        elif s == SERVICES:
            self.c = Customer()
            self._go(START, now)
        else:
            self.start_over(now)

    def start_over(self, now: float) -> None:
        """The customer goes back to the start: their language and display choices stay."""
        if not self._accept(now) or self.busy is not None:
            return
        self.c = Customer()
        self._go(START, now)

    def done(self, now: float) -> None:
        """The customer is finished: everything back to how the next one should find it."""
        if not self._accept(now):
            return
        self.reset(now)

    def more_time(self, now: float) -> None:
        """ "More time" on the prompt: the customer stays where they were, with their language
        and settings, and the quiet time before the next prompt doubles (up to MAX_MORE_TIME)."""
        if self.warning or self._answering:
            self._answering = False
            self.more_time_factor = next_factor(self.more_time_factor)
            self.log.append(f"more time x{self.more_time_factor}")
            self._apply_limits()
        self.touch(now)

    def reset(self, now: float) -> None:
        """Back to the start and the default language, nothing of the last customer kept."""
        self.c = Customer()
        self.lang = self.default_lang
        self.prefs = Prefs()
        self.more_time_factor = 1
        self.busy = self.busy_kind = None
        self.resets += 1
        self.log.append("reset")
        self._go(START, now)
        self.idle.stop()

    # --- answers from the hub ---------------------------------------------------------------

    def on_reply(self, req: int, reply: dict[str, Any], now: float) -> None:
        if req != self.busy:
            return  # an answer to a request of a customer who is gone (reset meanwhile)
        kind = self.busy_kind
        self.busy = self.busy_kind = None
        self.idle.touch(now)
        ok = bool(reply.get("ok"))
        err = reply.get("error")
        self.log.append(f"reply {kind} {'ok' if ok else err}")
        if kind == "help":
            self.c.help_state = "sent" if ok else "failed"
            if self.screen != HELP:
                self._go(HELP, now)
            self._changed()
            return
        if ok:
            self._issued(reply, now)
            return
        if kind == "checkin" and err in CHECKIN_RESULTS:
            self.c.outcome = {k: v for k, v in reply.items() if k in
                              ("error", "service", "appointment_ms", "opens_ms", "number", "moved")}
            self._go(err, now)
            return
        self.c.problem = str(err or "unknown")
        self._go(PROBLEM, now)

    def _issued(self, reply: dict[str, Any], now: float) -> None:
        t = ticket_view(reply, self.lang, self.c.needs, self.settings, self.site.id)
        if t is None:
            self.c.problem = WireError.BAD_REPLY.value
            self._go(PROBLEM, now)
            return
        self.c.ticket = t
        self.c.issued_at = now
        self.c.code = ""
        self.c.retry = None
        self.c.print_status = "printing"
        self.effects.append(Print(t))
        self._go(TICKET, now)

    def visual_key(self) -> tuple:
        """Everything a screen is drawn from except `busy`: when only `busy` changed, the app
        updates the pressed button in place instead of building the screen again."""
        return (self.screen, self.entered, self.lang, self.prefs, repr(self.c), self.warning,
                self.printer_ok, self.printer_reason, self.hub_ok, self.hours)
