"""The feedback terminal's screens as a pure state machine: no Kivy, no clock, no store.

    start ──rating stored──▶ outcome ─▶ self_service ─▶ comment ─▶ thanks ─▶ start
                              (each follow-up: answer, Skip = next question, Finish = thanks)

The app asks the flow what to store, stores it (RecorderThread), and tells the flow when the
snapshot is durable (`stored`) or failed (`failed`); only then does the screen move on, so
whatever the screen confirmed is on disk. While a snapshot is being written, further taps
are ignored (a double tap does not answer twice); right after a screen change, taps are
ignored for `settle_s` so that a second tap of a shaky finger does not land on the next
screen's buttons.

Times are seconds on a monotonic clock passed in by the caller.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from core.privacy import COMMENT_MAX_DEFAULT, COMMENT_MAX_LIMIT
from uikit.idle import IdleTimer

from .recorder import OUTCOMES, SELF_SERVICE, Response

START, OUTCOME, SELF, COMMENT, THANKS = "start", "outcome", "self_service", "comment", "thanks"
SCREENS = (START, OUTCOME, SELF, COMMENT, THANKS)
FOLLOW_UPS = (OUTCOME, SELF, COMMENT)
ANSWERS = {OUTCOME: OUTCOMES, SELF: SELF_SERVICE}

#: Face kinds per scale, lowest rating first. Every kind has its own shape and words.
FACE_KINDS = {
    5: ("very_dissatisfied", "dissatisfied", "neutral", "satisfied", "very_satisfied"),
    4: ("very_dissatisfied", "dissatisfied", "satisfied", "very_satisfied"),
    3: ("dissatisfied", "neutral", "satisfied"),
}


@dataclass
class FlowSettings:
    scale: int = 5
    languages: tuple[str, ...] = ("fi", "sv", "en")
    default_language: str = "fi"
    follow_ups: tuple[str, ...] = FOLLOW_UPS
    idle_s: float = 25.0        # no touch this long on a question → back to start
    warn_s: float = 8.0         # "are you still there?" shown this long before the reset
    thanks_s: float = 6.0       # the thank-you screen stays this long
    settle_s: float = 0.35      # taps ignored right after a screen change
    comment_max: int = COMMENT_MAX_DEFAULT
    large_text: bool = False    # the customer's "larger text" at the start (the device's setting)
    speak: bool = False         # the customer's "read aloud" at the start

    def __post_init__(self) -> None:
        if self.scale not in FACE_KINDS:
            raise ValueError(f"scale must be 3, 4 or 5, not {self.scale!r}")
        if self.default_language not in self.languages:
            raise ValueError(f"default language {self.default_language!r} is not among {self.languages}")
        bad = [f for f in self.follow_ups if f not in FOLLOW_UPS]
        if bad:
            raise ValueError(f"unknown follow-up question(s) {bad}; known: {', '.join(FOLLOW_UPS)}")
        if len(set(self.follow_ups)) != len(self.follow_ups):
            raise ValueError("a follow-up question is listed twice")
        self.follow_ups = tuple(f for f in FOLLOW_UPS if f in self.follow_ups)  # fixed order
        if not 0 < self.warn_s < self.idle_s:
            raise ValueError("warn_s must be above 0 and below idle_s")
        if self.thanks_s <= 0 or self.settle_s < 0:
            raise ValueError("thanks_s must be above 0 and settle_s at least 0")
        if not 1 <= self.comment_max <= COMMENT_MAX_LIMIT:
            raise ValueError(f"comment_max must be 1..{COMMENT_MAX_LIMIT} characters")


@dataclass
class Flow:
    settings: FlowSettings
    screen: str = START
    lang: str = ""
    response: Response | None = None     # the last durable snapshot of the current response
    pending: Response | None = None      # a snapshot being written; its screen waits for it
    pending_rating: bool = False         # a rating is being written (its Response is built later)
    service: str | None = None           # attributed by a ticket read at this terminal
    draft: str = ""                      # the comment being typed
    error: bool = False                  # the last write failed (the screen says so)
    warning: bool = False                # "are you still there?"
    changed_at: float = 0.0              # when the screen last changed
    last_touch: float = 0.0
    resets: int = 0
    large_text: bool = False             # "larger text", chosen by the customer (or the device's default)
    speak: bool = False                  # "read aloud"
    history: deque = field(default_factory=lambda: deque(maxlen=50))  # the last screens shown
    idle: IdleTimer = field(init=False)

    def __post_init__(self) -> None:
        self.lang = self.lang or self.settings.default_language
        self.large_text, self.speak = self.settings.large_text, self.settings.speak
        self.idle = IdleTimer(timeout_s=self.settings.idle_s, warn_s=self.settings.warn_s)

    # --- queries ------------------------------------------------------------------------

    @property
    def faces(self) -> tuple[str, ...]:
        return FACE_KINDS[self.settings.scale]

    @property
    def busy(self) -> bool:
        return self.pending is not None or self.pending_rating

    def accepts_input(self, now: float) -> bool:
        return not self.busy and now - self.changed_at >= self.settings.settle_s

    def step(self) -> tuple[int, int]:
        """(n, total) of the current follow-up question, for "Question n of total"."""
        fu = self.settings.follow_ups
        return (fu.index(self.screen) + 1, len(fu)) if self.screen in fu else (0, len(fu))

    def idle_active(self) -> bool:
        """Whether the idle timer counts: anywhere but an untouched start screen."""
        return (self.screen != START or self.lang != self.settings.default_language
                or self.service is not None or self.error
                or (self.large_text, self.speak) != (self.settings.large_text, self.settings.speak))

    # --- transitions --------------------------------------------------------------------

    def _go(self, screen: str, now: float) -> None:
        self.screen = screen
        self.changed_at = now
        self.last_touch = now
        self.warning = False
        self.history.append(screen)

    def _next_after(self, screen: str) -> str:
        fu = self.settings.follow_ups
        if screen == START:
            return fu[0] if fu else THANKS
        i = fu.index(screen)
        return fu[i + 1] if i + 1 < len(fu) else THANKS

    def touch(self, now: float) -> None:
        self.last_touch = now
        self.warning = False

    def begin_rating(self, rating: int, now: float) -> bool:
        """A face was touched. True if the app should record the rating now."""
        self.touch(now)
        if self.screen != START or not self.accepts_input(now):
            return False
        if not 1 <= rating <= self.settings.scale:
            raise ValueError(f"rating {rating} outside 1..{self.settings.scale}")
        self.pending_rating = True
        self.error = False
        return True

    def rating_stored(self, response: Response, now: float, follow_up: bool = True) -> None:
        """A rating (from a touch or a button) is durable: it starts the current response.
        A button press arriving in the middle of another response starts a new one."""
        self.pending_rating = False
        self.response = response
        self.pending = None
        self.draft = ""
        self.error = False
        self._go(self._next_after(START) if follow_up else THANKS, now)

    def answer(self, part: str, value: str, now: float) -> Response | None:
        """A follow-up answered (for the comment: Send). Returns the snapshot to store."""
        self.touch(now)
        if self.screen != part or self.response is None or not self.accepts_input(now):
            return None
        if part in ANSWERS and value not in ANSWERS[part]:
            raise ValueError(f"{part}: unknown answer {value!r}")
        if part == COMMENT and not (value or "").strip():
            self.skip(now, force=True)  # Send with nothing typed is a skip
            return None
        snap = self.response.with_context(self.lang, self.service).answer(part, value, self.settings.comment_max)
        self.pending = snap
        self.error = False
        return snap

    def stored(self, snapshot: Response, now: float) -> None:
        """A follow-up snapshot is durable."""
        if self.pending is None or snapshot.id != self.pending.id or snapshot.rev != self.pending.rev:
            return  # a late callback of a response that is no longer on screen
        self.pending = None
        self.response = snapshot
        if snapshot.part == COMMENT:
            self.draft = ""
        self._go(self._next_after(snapshot.part), now)

    def failed(self, now: float) -> None:
        """A write failed: nothing is confirmed, the question stays, the screen says so."""
        self.pending = None
        self.pending_rating = False
        self.error = True
        self.changed_at = now

    def skip(self, now: float, force: bool = False) -> bool:
        """Skip this follow-up question (nothing stored)."""
        self.touch(now)
        if self.screen not in self.settings.follow_ups or (not force and not self.accepts_input(now)):
            return False
        self.error = False
        self._go(self._next_after(self.screen), now)
        return True

    def finish(self, now: float) -> bool:
        """End the response now: the thank-you screen (unanswered questions stay null)."""
        self.touch(now)
        if self.screen not in self.settings.follow_ups or not self.accepts_input(now):
            return False
        self.error = False
        self._go(THANKS, now)
        return True

    def back_to_start(self, now: float) -> None:
        """From the thank-you screen (a tap, or its time is up), or by the idle reset."""
        self.response = None
        self.pending = None
        self.pending_rating = False
        self.draft = ""
        self.service = None
        self.error = False
        self.lang = self.settings.default_language
        self.large_text, self.speak = self.settings.large_text, self.settings.speak
        self._go(START, now)

    def set_language(self, lang: str, now: float) -> bool:
        self.touch(now)
        if lang not in self.settings.languages or self.busy:
            return False
        self.lang = lang
        return True

    def toggle(self, pref: str, now: float) -> bool:
        """The customer's "larger text" or "read aloud", switched on the start screen; both go
        back to the device's defaults with the language when the customer has gone."""
        self.touch(now)
        if pref not in ("large_text", "speak") or self.screen != START or self.busy:
            return False
        setattr(self, pref, not getattr(self, pref))
        return True

    def attribute(self, service: str | None, now: float) -> None:
        """A ticket read at the terminal: the current (or next) response concerns this service."""
        self.touch(now)
        self.service = service

    def type_text(self, text: str) -> None:
        if self.screen == COMMENT and not self.busy:
            self.draft = (self.draft + text)[: self.settings.comment_max]

    def set_draft(self, text: str) -> None:
        if self.screen == COMMENT and not self.busy:
            self.draft = text[: self.settings.comment_max]

    def tick(self, now: float) -> str | None:
        """Advance timers. Returns "reset" when the screen went back to the start."""
        if self.busy:
            return None
        if self.screen == THANKS:
            if now - self.changed_at >= self.settings.thanks_s:
                self.back_to_start(now)
                self.resets += 1
                return "reset"
            return None
        self.idle.active = self.idle_active()
        self.idle.last_touch = self.last_touch
        state = self.idle.state(now)
        if state == "reset":
            self.back_to_start(now)
            self.resets += 1
            return "reset"
        self.warning = state == "warn"
        return None
