"""The smiley feedback terminal (Kivy).

Screens (feedback_terminal.flow): the faces → "Did you get your matter done?" → "Could you
handle this yourself next time?" → a comment on the on-screen keyboard → thank you → back to
the faces. Every follow-up is optional (Skip, or Finish to end at once). The start screen says
the feedback is anonymous and offers the site's languages by their own names; after a short
idle time the terminal returns to the faces and the default language.

A rating is stored the moment it is given and each answer as it is given; the screen moves on
only once the store has returned (RecorderThread callback), so whatever the screen confirmed
survives a SIGKILL or a power cut. Physical buttons (button_source.py) go through the same
Terminal.press() path as a touched face, misuse flags included.

Time comes from `clock` (default time.monotonic): the idle warning and reset, the thank-you
screen's time and the settle time all read it, so a test moves it forward instead of waiting.
"""
from __future__ import annotations

import logging
import sys
import time
from collections import deque
from functools import partial
from typing import Any

from kivy.app import App
from kivy.clock import Clock
from kivy.core.window import Window
from kivy.graphics import Color, Line, Rectangle
from kivy.metrics import dp, sp
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.button import Button
from kivy.uix.floatlayout import FloatLayout
from kivy.uix.label import Label
from kivy.uix.screenmanager import NoTransition, Screen, ScreenManager
from kivy.uix.widget import Widget
from kivy.utils import escape_markup

from core.i18n import Translator, native_name
from runtime.status import FEEDBACK_STATUS_FILE as STATUS_FILE
from runtime.status import write_app_status
from uikit.theme import PALETTES, font_sp

from . import style
from . import texts as T
from .attribution import ScanBuffer, service_from_scan
from .faces import face_button_class
from .flow import COMMENT, OUTCOME, SELF, START, THANKS, Flow
from .keyboard import KeyboardState, layouts_for, make_keyboard_widget
from .misuse import MisuseGuard
from .recorder import RecorderThread, Response
from .settings import FeedbackSettings
from .terminal import Terminal

log = logging.getLogger(__name__)

SWITCH_INTERVAL_S = 0.0005
PRESSED_MARK_DELAY_S = 0.08
CHECK = f"[font={style.SYMBOL_FONT}]{style.CHECK}[/font]"
CURSOR = f"[font={style.SYMBOL_FONT}]{style.CURSOR}[/font]"


class Panel(Label):
    """A label with its own background (banners, the comment box)."""

    def __init__(self, bg=(0, 0, 0, 0), border=None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        with self.canvas.before:
            self._bg_color = Color(*bg)
            self._bg = Rectangle(pos=self.pos, size=self.size)
            self._border_color = Color(*(border or (0, 0, 0, 0)))
            self._border = Line(rectangle=(*self.pos, *self.size), width=dp(2))
        self.bind(pos=self._redraw, size=self._redraw)

    def set_bg(self, rgba) -> None:
        self._bg_color.rgba = rgba

    def _redraw(self, *_: Any) -> None:
        self._bg.pos, self._bg.size = self.pos, self.size
        self._border.rectangle = (*self.pos, *self.size)


class OutlinedButton(Button):
    """A secondary action: framed, not filled."""

    def set_frame(self, rgba) -> None:
        with self.canvas.after:
            Color(*rgba)
            self._frame = Line(rectangle=(*self.pos, *self.size), width=dp(2))
        self.bind(pos=self._redraw_frame, size=self._redraw_frame)

    def _redraw_frame(self, *_: Any) -> None:
        self._frame.rectangle = (self.x + dp(1), self.y + dp(1), self.width - dp(2), self.height - dp(2))


def wrap(label: Label) -> Label:
    """Wrap the label's text to its width (Kivy labels do not wrap by default)."""
    label.bind(size=lambda w, s: setattr(w, "text_size", (s[0], s[1])))
    return label


class _Root(FloatLayout):
    """Every touch counts as activity for the idle timer, wherever it lands."""

    def __init__(self, app: "FeedbackApp", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.app = app

    def on_touch_down(self, touch) -> bool:
        self.app.on_any_touch()
        return super().on_touch_down(touch)


class FeedbackApp(App):
    title = "palvelupiste — palaute / respons / feedback"

    def __init__(self, settings: FeedbackSettings, *, button_source=None, window_size: tuple[int, int] | None = None,
                 clock=time.monotonic, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.settings = settings
        self.palette = PALETTES[settings.palette]
        self.button_source = button_source
        self.window_size = window_size
        self.clock = clock
        self.flow = Flow(settings.flow)
        # (response, rev, part) the screen confirmed, the last ones; bounded for a months-long uptime
        self.confirmed: deque[tuple[str, int, str]] = deque(maxlen=100)
        self.confirmed_total = 0
        self.scans: deque[str | None] = deque(maxlen=20)   # services attributed (None: unreadable)
        self._last_was_store = False
        self.recorder: RecorderThread | None = None
        self.terminal: Terminal | None = None
        self.buttons = None
        self.button_status: dict[str, Any] = {"configured": settings.buttons is not None or button_source is not None,
                                              "present": None, "detail": "", "stuck": []}
        self.scan_note: str | None = None
        self._scan_note_until = 0.0
        self._scan = ScanBuffer(gap_s=settings.scan_gap_s)
        self._pressed: Widget | None = None
        self._shown: tuple | None = None
        self.w: dict[str, Any] = {}

    # --- properties for tests and status -----------------------------------------------------

    @property
    def screen_name(self) -> str:
        return self.flow.screen

    def tr(self, message: str, **fmt: Any) -> str:
        text = Translator(self.flow.lang, "feedback", self.settings.tz).gettext(message)
        return text.format(**fmt) if fmt else text

    def now(self) -> float:
        return self.clock()

    # --- building --------------------------------------------------------------------------

    def fs(self, kind: str) -> float:
        return sp(font_sp(kind, self.settings.large_text))

    def build(self):
        if self.window_size:
            Window.size = self.window_size
        Window.clearcolor = self.palette.background
        # The recorder thread needs the GIL for a moment between its SQLite calls; with the
        # default 5 ms switch interval the UI thread's Python work (layout, refresh) delays it.
        sys.setswitchinterval(SWITCH_INTERVAL_S)
        s = self.settings
        self.recorder = RecorderThread(s.store, s.site, s.device).start()
        guard = MisuseGuard(s.misuse.min_interval_s, s.misuse.burst_count, s.misuse.burst_window_s)
        self.terminal = Terminal(self.recorder, guard, scale=s.flow.scale, tz=s.tz,
                                 context=lambda: (self.flow.lang, self.flow.service),
                                 on_rating=self._rating_done)
        self.sm = ScreenManager(transition=NoTransition())
        for name, builder in ((START, self._build_start), (OUTCOME, self._build_question),
                              (SELF, self._build_question), (COMMENT, self._build_comment),
                              (THANKS, self._build_thanks)):
            screen = Screen(name=name)
            screen.add_widget(builder(name))
            self.sm.add_widget(screen)
        root = _Root(self)
        root.add_widget(self.sm)
        self.banner = Panel(font_size=self.fs("large"), size_hint=(1, None), height=dp(110),
                            pos_hint={"top": 1, "x": 0}, halign="center", valign="middle", opacity=0,
                            markup=True, padding=(dp(20), dp(10)))
        wrap(self.banner)
        root.add_widget(self.banner)
        Window.bind(on_textinput=self._on_window_text, on_key_down=self._on_window_key)
        Clock.schedule_interval(self._tick, 0.2)
        self.refresh()
        return root

    def _buttons_row(self, items: list[tuple[str, str, Any]], font: str = "normal", height: float | None = None,
                     outlined: bool = False):
        """A row of buttons: (pp_id, text key, callback). Outlined ones (Skip, Finish) look
        different from the answers by shape: a frame, no fill."""
        row = BoxLayout(orientation="horizontal", spacing=dp(24), size_hint_y=None,
                        height=height or dp(96))
        for pp_id, _text, cb in items:
            cls = OutlinedButton if outlined else Button
            b = cls(font_size=self.fs(font), background_normal="", background_down="",
                    background_color=self.palette.background if outlined else self.palette.button,
                    color=self.palette.text if outlined else self.palette.button_text,
                    halign="center", valign="middle", markup=True)
            if outlined:
                b.set_frame(self.palette.text)
            wrap(b)
            b.pp_id = pp_id
            b.bind(on_release=cb)
            row.add_widget(b)
            self.w[pp_id] = b
        return row

    def _build_start(self, name: str):
        p = self.palette
        box = BoxLayout(orientation="vertical", padding=(dp(40), dp(24)), spacing=dp(12))
        self.w["concerns"] = wrap(Label(font_size=self.fs("normal"), color=p.text, size_hint_y=None, height=dp(44),
                                        halign="center", valign="middle"))
        self.w["question"] = wrap(Label(font_size=self.fs("title"), color=p.text, bold=True, size_hint_y=0.22,
                                        halign="center", valign="middle"))
        self.w["touch_hint"] = wrap(Label(font_size=self.fs("normal"), color=p.muted_text, size_hint_y=None,
                                          height=dp(44), halign="center", valign="middle"))
        faces = BoxLayout(orientation="horizontal", spacing=dp(16), size_hint_y=0.5)
        FaceButton = face_button_class()
        self.faces = []
        for rating, kind in enumerate(self.flow.faces, start=1):
            f = FaceButton(p, font_size=self.fs("normal"), kind=kind, rating=rating)
            f.pp_id = f"face-{rating}"
            f.bind(on_release=self._on_face)
            faces.add_widget(f)
            self.faces.append(f)
        self.w["anonymous"] = wrap(Label(font_size=self.fs("normal"), color=p.text, size_hint_y=None, height=dp(86),
                                         halign="center", valign="middle", markup=True))
        langs = BoxLayout(orientation="horizontal", spacing=dp(12), size_hint_y=None, height=dp(84))
        self.lang_buttons = {}
        for lang in self.settings.flow.languages:
            # wider for a longer name, so that "✓ Українська" in bold still fits
            b = Button(font_size=self.fs("normal"), background_normal="", background_down="", markup=True,
                       size_hint_x=len(native_name(lang)) + 4)
            b.pp_id = f"lang-{lang}"
            b.lang = lang
            b.bind(on_release=self._on_lang)
            langs.add_widget(b)
            self.lang_buttons[lang] = b
        for wdg in (self.w["concerns"], self.w["question"], self.w["touch_hint"], faces, self.w["anonymous"], langs):
            box.add_widget(wdg)
        return box

    def _build_question(self, name: str):
        p = self.palette
        box = BoxLayout(orientation="vertical", padding=(dp(48), dp(28)), spacing=dp(14))
        saved = wrap(Label(font_size=self.fs("normal"), color=p.text, size_hint_y=None, height=dp(48),
                           halign="center", valign="middle", markup=True))
        step = wrap(Label(font_size=self.fs("small"), color=p.muted_text, size_hint_y=None, height=dp(36),
                          halign="center", valign="middle"))
        question = wrap(Label(font_size=self.fs("title"), color=p.text, bold=True, size_hint_y=0.3,
                              halign="center", valign="middle"))
        hint = wrap(Label(font_size=self.fs("normal"), color=p.muted_text, size_hint_y=None, height=dp(48),
                          halign="center", valign="middle"))
        self.w[f"{name}-saved"], self.w[f"{name}-step"] = saved, step
        self.w[f"{name}-question"], self.w[f"{name}-hint"] = question, hint
        values = ("done", "started", "not_done") if name == OUTCOME else ("yes", "no")
        answers = self._buttons_row([(f"{name}-{v}", "", partial(self._on_answer, name, v)) for v in values],
                                    font="large", height=dp(170))
        answers.size_hint_y = 0.4
        answers.height = 0
        nav = self._buttons_row([(f"{name}-skip", "", partial(self._on_skip)),
                                 (f"{name}-finish", "", partial(self._on_finish))], outlined=True)
        for wdg in (saved, step, question, hint, answers, Widget(size_hint_y=0.05), nav):
            box.add_widget(wdg)
        return box

    def _build_comment(self, name: str):
        p = self.palette
        box = BoxLayout(orientation="vertical", padding=(dp(40), dp(16)), spacing=dp(10))
        self.w["comment-saved"] = wrap(Label(font_size=self.fs("small"), color=p.text, size_hint_y=None,
                                             height=dp(34), halign="center", valign="middle", markup=True))
        self.w["comment-question"] = wrap(Label(font_size=self.fs("large"), color=p.text, bold=True,
                                                size_hint_y=None, height=dp(56), halign="center", valign="middle"))
        self.w["comment-hint"] = wrap(Label(font_size=self.fs("small"), color=p.text, size_hint_y=None,
                                            height=dp(34), halign="center", valign="middle"))
        self.w["comment-box"] = wrap(Panel(bg=style.COMMENT_BG, border=p.accent, font_size=self.fs("normal"),
                                           color=style.COMMENT_TEXT, size_hint_y=None, height=dp(104),
                                           halign="left", valign="top", padding=(dp(16), dp(10)), markup=True))
        self.w["comment-box"].pp_id = "comment-box"
        self.w["comment-count"] = Label(font_size=self.fs("small"), color=p.muted_text, size_hint_y=None,
                                        height=dp(28), halign="right")
        self.w["comment-count"].bind(size=lambda w, s: setattr(w, "text_size", s))
        self.kb_state = KeyboardState(layouts=layouts_for(self.flow.lang), max_len=self.settings.flow.comment_max)
        self.keyboard = make_keyboard_widget(state=self.kb_state, palette=p, font_size=self.fs("normal"),
                                             size_hint_y=1)
        self.keyboard.bind(on_text=self._on_typed)
        nav = BoxLayout(orientation="horizontal", spacing=dp(24), size_hint_y=None, height=dp(84))
        nav.add_widget(self._buttons_row([("comment-send", "", self._on_send)], height=dp(84)))
        nav.add_widget(self._buttons_row([("comment-skip", "", self._on_skip)], height=dp(84), outlined=True))
        for wdg in (self.w["comment-saved"], self.w["comment-question"], self.w["comment-hint"],
                    self.w["comment-box"], self.w["comment-count"], self.keyboard, nav):
            box.add_widget(wdg)
        return box

    def _build_thanks(self, name: str):
        p = self.palette
        box = BoxLayout(orientation="vertical", padding=(dp(60), dp(40)), spacing=dp(20))
        FaceButton = face_button_class()
        face = FaceButton(p, kind="very_satisfied", size_hint_y=0.4)
        face.label.size_hint_y = 0.001
        face.disabled = True
        self.w["thanks"] = wrap(Label(font_size=self.fs("title"), bold=True, color=p.text, size_hint_y=0.25,
                                      halign="center", valign="middle"))
        self.w["thanks-next"] = wrap(Label(font_size=self.fs("normal"), color=p.muted_text, size_hint_y=0.12,
                                           halign="center", valign="middle"))
        nav = self._buttons_row([("thanks-back", "", self._on_back)])
        nav.padding = (dp(300), 0)
        for wdg in (face, self.w["thanks"], self.w["thanks-next"], nav):
            box.add_widget(wdg)
        return box

    # --- showing ---------------------------------------------------------------------------

    def refresh(self) -> None:
        """Bring every widget in line with the flow (language, screen, banners)."""
        f, p, tr = self.flow, self.palette, self.tr
        if self.sm.current != f.screen:
            self.sm.current = f.screen
        # start
        service = f.service
        if service:
            names = self.settings.service_names.get(service, {})
            self.w["concerns"].text = tr(T.CONCERNS, service=names.get(f.lang) or names.get("en") or service)
        elif self.scan_note and self.now() < self._scan_note_until:
            self.w["concerns"].text = tr(self.scan_note)
        else:
            self.w["concerns"].text = ""
        self.w["question"].text = tr(T.QUESTION)
        self.w["touch_hint"].text = tr(T.TOUCH_A_FACE)
        self.w["anonymous"].text = f"[b]{tr(T.ANONYMOUS)}[/b]\n{tr(T.NOTHING_STORED)}"
        for face in self.faces:
            face.text = tr(T.FACE_LABELS[face.kind])
            face.selected = f.pending_rating and face is self._pressed
        for lang, b in self.lang_buttons.items():
            current = lang == f.lang
            b.text = (f"{CHECK} " if current else "") + native_name(lang)
            b.background_color = p.accent if current else p.button
            b.color = p.accent_text if current else p.button_text
            b.bold = current
        # follow-up questions
        n, total = f.step()
        saved_text = ""
        if f.response is not None and self._last_was_store:
            saved_text = f"{CHECK} " + tr(T.RATING_SAVED if f.response.part == "rating" else T.ANSWER_SAVED)
        for name, q, hint, answers in ((OUTCOME, T.OUTCOME_Q, "", T.OUTCOME_ANSWERS),
                                       (SELF, T.SELF_Q, T.SELF_HINT, T.SELF_ANSWERS)):
            self.w[f"{name}-saved"].text = saved_text if f.screen == name else ""
            self.w[f"{name}-step"].text = tr(T.STEP, n=n, total=total) if f.screen == name else ""
            self.w[f"{name}-question"].text = tr(q)
            self.w[f"{name}-hint"].text = tr(hint) if hint else ""
            for value, msg in answers.items():
                b = self.w[f"{name}-{value}"]
                b.text = f"[font={style.SYMBOL_FONT}][size={int(self.fs('title'))}]{style.ICONS[value]}[/size][/font]\n{tr(msg)}"
                pressed = f.pending is not None and b is self._pressed
                b.background_color = p.accent if pressed else p.button
                b.color = p.accent_text if pressed else p.button_text
            self.w[f"{name}-skip"].text = tr(T.SKIP)
            self.w[f"{name}-finish"].text = tr(T.FINISH)
        # comment
        self.w["comment-saved"].text = saved_text if f.screen == COMMENT else ""
        self.w["comment-question"].text = tr(T.COMMENT_Q)
        self.w["comment-hint"].text = tr(T.COMMENT_HINT)
        box = self.w["comment-box"]
        if f.draft:
            box.text, box.color, box.italic = escape_markup(f.draft) + CURSOR, style.COMMENT_TEXT, False
        else:  # the hint in italics, so that it is not taken for typed text
            box.text, box.color, box.italic = tr(T.COMMENT_PLACEHOLDER), style.COMMENT_PLACEHOLDER, True
        self.w["comment-count"].text = f"{len(f.draft)} / {self.settings.flow.comment_max}"
        self.keyboard.space_label = tr(T.KEY_SPACE)
        self.w["comment-send"].text = tr(T.SEND)
        self.w["comment-skip"].text = tr(T.SKIP)
        # thanks
        self.w["thanks"].text = tr(T.THANKS)
        self.w["thanks-next"].text = tr(T.THANKS_NEXT)
        self.w["thanks-back"].text = tr(T.BACK_TO_START)
        # banner: a failed write outranks the idle warning
        if f.error:
            self.banner.text = f"[b]!  {tr(T.SAVE_FAILED)}[/b]"
            self.banner.set_bg(p.warning)
            self.banner.color = p.warning_text
            self.banner.opacity = 1
        elif f.warning:
            self.banner.text = f"[b]{tr(T.STILL_THERE)}[/b]"
            self.banner.set_bg(p.accent)
            self.banner.color = p.accent_text
            self.banner.opacity = 1
        else:
            self.banner.opacity = 0
            self.banner.text = ""
        self._shown = self._state_key()

    def _state_key(self) -> tuple:
        f = self.flow
        return (f.screen, f.lang, f.error, f.warning, f.service, f.draft,
                self.scan_note if self.now() < self._scan_note_until else None)

    # --- input -----------------------------------------------------------------------------

    def on_any_touch(self) -> None:
        self.flow.touch(self.now())
        if self.flow.warning:
            self.flow.warning = False
            self.refresh()

    def _on_face(self, face) -> None:
        now = self.now()
        if not self.flow.begin_rating(int(face.rating), now):
            return
        self.terminal.press(int(face.rating), input="touch")
        self._pressed = face
        self._mark_pressed_later()

    def _mark_pressed_later(self) -> None:
        """Mark the pressed face or answer only if the write takes a while (a slow SD card).
        Normally the write returns within a few ms and the next screen is the only change:
        drawing a frame in between would hold the GIL the recorder thread needs for its
        SQLite calls (Kivy renders with the GIL held), and delay the write itself."""
        def mark(_dt: float) -> None:
            w = self._pressed
            if w is None or not self.flow.busy:
                return
            if hasattr(w, "selected"):
                w.selected = True
            else:
                w.background_color, w.color = self.palette.accent, self.palette.accent_text
        Clock.schedule_once(mark, PRESSED_MARK_DELAY_S)

    def _rating_done(self, response: Response, event, error) -> None:
        Clock.schedule_once(partial(self._apply_rating, response, event, error), -1)

    def _apply_rating(self, response: Response, event, error, _dt: float = 0) -> None:
        now = self.now()
        if error is not None:
            self.flow.failed(now)
        else:
            self.flow.rating_stored(response, now,
                                    follow_up=response.input == "touch" or self.settings.button_follow_up)
            self.confirmed.append((response.id, response.rev, response.part))
            self.confirmed_total += 1
            self._last_was_store = True
            self._enter_screen()
        self._pressed = None
        self.refresh()

    def _on_answer(self, part: str, value: str, button) -> None:
        snap = self.flow.answer(part, value, self.now())
        if snap is None:
            return
        self.terminal.answer(snap, self._answer_done)
        self._pressed = button
        self._mark_pressed_later()

    def _on_send(self, button) -> None:
        f = self.flow
        if not f.draft.strip():
            if f.skip(self.now()):
                self._last_was_store = False
                self._enter_screen()
            self.refresh()
            return
        self._on_answer(COMMENT, f.draft, button)

    def _answer_done(self, snapshot: Response, event, error) -> None:
        Clock.schedule_once(partial(self._apply_answer, snapshot, event, error), -1)

    def _apply_answer(self, snapshot: Response, event, error, _dt: float = 0) -> None:
        now = self.now()
        if error is not None:
            self.flow.failed(now)
        else:
            self.flow.stored(snapshot, now)
            self.confirmed.append((snapshot.id, snapshot.rev, snapshot.part))
            self.confirmed_total += 1
            self._last_was_store = True
            self._enter_screen()
        self._pressed = None
        self.refresh()

    def _on_skip(self, *_: Any) -> None:
        if self.flow.skip(self.now()):
            self._last_was_store = False
            self._enter_screen()
        self.refresh()

    def _on_finish(self, *_: Any) -> None:
        if self.flow.finish(self.now()):
            self._enter_screen()
        self.refresh()

    def _on_back(self, *_: Any) -> None:
        if self.flow.screen == THANKS and self.flow.accepts_input(self.now()):
            self.flow.back_to_start(self.now())
            self._enter_screen()
        self.refresh()

    def _on_lang(self, button) -> None:
        if self.flow.set_language(button.lang, self.now()):
            self.refresh()

    def _on_typed(self, _kb, text: str) -> None:
        self.flow.touch(self.now())
        self.flow.set_draft(text)
        self.refresh()

    def _enter_screen(self) -> None:
        """Per-screen set-up when the flow has moved."""
        if self.flow.screen == COMMENT:
            self.kb_state.reset(layouts_for(self.flow.lang))
            self.kb_state.text = self.flow.draft
            self.keyboard.set_state(self.kb_state)
        elif self.flow.screen == START:
            self.kb_state.reset(layouts_for(self.flow.lang))

    # --- ticket reader (attribution) -------------------------------------------------------

    def _on_window_text(self, _window, text: str) -> None:
        for ch in text:
            self._scan.feed_char(ch, self.now())

    def _on_window_key(self, _window, key: int, _scancode, _codepoint, _modifiers) -> bool:
        if key not in (13, 271):  # Enter, keypad Enter
            return False
        payload = self._scan.feed_enter(self.now())
        if payload is None:
            return False
        if not self.settings.attribution:
            return True  # no reader configured here: ignore, store nothing
        result = service_from_scan(payload, self.settings.services, self.settings.site)
        del payload  # the ticket's token or number goes no further than this function
        log.info("ticket read: %s", result.reason)
        self.scans.append(result.service)
        if result.service:
            self.flow.attribute(result.service, self.now())
            self.scan_note = None
        else:
            self.flow.touch(self.now())
            self.scan_note = T.SCAN_UNKNOWN
            self._scan_note_until = self.now() + 8
        self.refresh()
        return True

    # --- timers ----------------------------------------------------------------------------

    def _tick(self, _dt: float) -> None:
        now = self.now()
        if self.flow.tick(now) == "reset":
            self._enter_screen()
            self._last_was_store = False
            self.scan_note = None
        if self._state_key() != self._shown:
            self.refresh()

    # --- physical buttons ------------------------------------------------------------------

    def on_start(self) -> None:
        self._start_buttons()
        self._write_status()  # also the sign (for the demo and the tests) that the terminal is up

    def _start_buttons(self) -> None:
        cfg = self.settings.buttons
        if cfg is None:
            return
        from .button_source import ButtonReader, EvdevSource, ReaderThread
        from .buttons import ButtonDecoder

        source = self.button_source or EvdevSource(cfg)
        reader = ButtonReader(source, ButtonDecoder(cfg), on_press=self._button_press,
                              on_stuck=lambda code: self._button_state(), on_unstuck=lambda code: self._button_state(),
                              on_device=lambda present: self._button_state())
        self.buttons = ReaderThread(reader).start()

    def _button_press(self, rating: int, t: float) -> None:
        """On the reader's thread: straight to the recorder, without waiting for a frame."""
        self.terminal.press(rating, t, input="button")

    def _button_state(self) -> None:
        def update(_dt: float) -> None:
            from .buttons import key_name

            r = self.buttons.reader if self.buttons else None
            if r is None:
                return
            self.button_status.update(present=r.present, detail=r.detail,
                                      stuck=sorted(key_name(c) for c in r.stuck_keys))
            self._write_status()
        Clock.schedule_once(update, -1)

    def _write_status(self) -> None:
        """<data_dir>/feedback-status.json: buttons present / stuck, stores done and failed.
        Informative (like printer-status.json for the kiosk): atomic rename, no fsync."""
        status = {"ts": int(time.time() * 1000), "buttons": self.button_status,
                  "stored": self.recorder.written if self.recorder else 0,
                  "store_failures": self.recorder.failed if self.recorder else 0}
        try:
            write_app_status(self.settings.data_dir, STATUS_FILE, status)
        except OSError as exc:
            log.warning("cannot write %s: %s", STATUS_FILE, exc)

    def on_stop(self) -> None:
        if self.buttons is not None:
            self.buttons.stop()
        if self.recorder is not None:
            self.recorder.stop()
        self._write_status()
