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

Sizes (access.py): every touch target is sized in millimetres on the real screen (the [feedback]
`dpi` setting, or the DPI the screen reports), at least 15 mm with at least 2 mm between targets,
and every button has an outline of at least 3:1 against the background. The start screen offers
"Larger text" and "Read aloud" as the kiosk does; with speech on, each screen is read in the
customer's language (uikit.speech), and a language without a voice is said on screen, never read
in another language.

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
from kivy.metrics import sp
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.button import Button
from kivy.uix.floatlayout import FloatLayout
from kivy.uix.label import Label
from kivy.uix.screenmanager import NoTransition, Screen, ScreenManager
from kivy.uix.widget import Widget
from kivy.utils import escape_markup

from core.i18n import Translator, is_rtl, native_name
from runtime.status import FEEDBACK_STATUS_FILE as STATUS_FILE
from runtime.status import write_app_status
from uikit.mirror import mirror
from uikit.speech import has_voice
from uikit.theme import PALETTES, font_sp

from . import style
from . import texts as T
from .access import GAP_MM, TARGET_MM, frame, px_per_mm
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

    def __init__(self, bg=(0, 0, 0, 0), border=None, border_w: float = 2.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        with self.canvas.before:
            self._bg_color = Color(*bg)
            self._bg = Rectangle(pos=self.pos, size=self.size)
            self._border_color = Color(*(border or (0, 0, 0, 0)))
            self._border = Line(rectangle=(*self.pos, *self.size), width=border_w)
        self.bind(pos=self._redraw, size=self._redraw)

    def set_bg(self, rgba) -> None:
        self._bg_color.rgba = rgba

    def _redraw(self, *_: Any) -> None:
        self._bg.pos, self._bg.size = self.pos, self.size
        self._border.rectangle = (*self.pos, *self.size)


class OutlinedButton(Button):
    """A secondary action: framed, not filled."""


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
                 clock=time.monotonic, speech_player: list[str] | None | str = "auto", **kwargs: Any) -> None:
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
        self.px_mm = 0.0          # pixels per millimetre of the screen (set in build)
        self._built_large: bool | None = None
        self.speech_player = speech_player
        self._speaker = None
        self.spoken: list[tuple[str, str]] = []     # (voice language, text) queued for speech
        self.speech_done: list[tuple[str, int]] = []  # (tag, bytes of audio) rendered
        self._spoken_key: tuple | None = None

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

    def fs(self, kind: str, scaled: bool = True) -> float:
        """A font size; "larger text" enlarges every kind but the titles (already the largest)
        and, with scaled=False, texts that must keep their room (the languages' own names)."""
        return sp(font_sp(kind, self.flow.large_text and scaled and kind != "title"))

    def mm(self, millimetres: float) -> float:
        """Millimetres on the real screen in pixels."""
        return millimetres * self.px_mm

    def line_h(self, kind: str, lines: int = 1) -> float:
        return self.fs(kind) * 1.3 * lines

    @property
    def target(self) -> float:
        """The least side of a touch target, in pixels."""
        return self.mm(TARGET_MM)

    @property
    def gap(self) -> float:
        """The least space between two touch targets, in pixels."""
        return self.mm(GAP_MM)

    def outline_w(self) -> float:
        return max(2.0, self.mm(0.6))

    def outline(self, widget, outlined: bool = False) -> None:
        """Every button's edge stands out from the background (3:1 or more), filled or not."""
        p = self.palette
        frame(widget, p.text if outlined else p.muted_text, self.outline_w())

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
        self.px_mm = px_per_mm(s.dpi)
        root = _Root(self)
        self.root_widget = root
        self.banner = Panel(size_hint=(1, None), pos_hint={"top": 1, "x": 0}, halign="center", valign="middle",
                            opacity=0, markup=True)
        wrap(self.banner)
        root.add_widget(self.banner)
        self.sm: ScreenManager | None = None
        self._build_screens()
        Window.bind(on_textinput=self._on_window_text, on_key_down=self._on_window_key)
        Clock.schedule_interval(self._tick, 0.2)
        self.refresh()
        return root

    def _build_screens(self) -> None:
        """(Re)build every screen at the current text size: at the start, and when the customer
        switches "larger text" (sizes follow the fonts; targets never shrink under their mm)."""
        root = self.root_widget
        current = self.flow.screen
        if self.sm is not None:
            root.remove_widget(self.sm)
        self.w = {}
        self._pressed = None
        self.sm = ScreenManager(transition=NoTransition())
        for name, builder in ((START, self._build_start), (OUTCOME, self._build_question),
                              (SELF, self._build_question), (COMMENT, self._build_comment),
                              (THANKS, self._build_thanks)):
            screen = Screen(name=name)
            screen.add_widget(builder(name))
            self.sm.add_widget(screen)
        self.sm.current = current
        root.add_widget(self.sm, index=len(root.children))  # under the banner
        self.banner.font_size = self.fs("large")
        self.banner.height = self.line_h("large", 2) + self.mm(4)
        self.banner.padding = (self.mm(4), self.mm(2))
        self._built_large = self.flow.large_text
        self._mirrored = False  # built left to right; refresh() turns it for Arabic script
        self._shown = None

    def _nav_h(self, font: str = "normal") -> float:
        """A row of one-line buttons: the text with room around it, never under the target size."""
        return max(self.target, self.line_h(font) + self.mm(6))

    def _buttons_row(self, items: list[tuple[str, str, Any]], font: str = "normal", height: float | None = None,
                     outlined: bool = False):
        """A row of buttons: (pp_id, text key, callback). Outlined ones (Skip, Finish) look
        different from the answers by shape: a frame, no fill."""
        row = BoxLayout(orientation="horizontal", spacing=max(self.gap, self.mm(4)), size_hint_y=None,
                        height=max(self.target, height or self._nav_h(font)))
        for pp_id, _text, cb in items:
            cls = OutlinedButton if outlined else Button
            b = cls(font_size=self.fs(font), background_normal="", background_down="",
                    background_color=self.palette.background if outlined else self.palette.button,
                    color=self.palette.text if outlined else self.palette.button_text,
                    halign="center", valign="middle", markup=True)
            self.outline(b, outlined)
            wrap(b)
            b.pp_id = pp_id
            b.bind(on_release=cb)
            row.add_widget(b)
            self.w[pp_id] = b
        return row

    def _toggle_button(self, pref: str):
        b = Button(font_size=self.fs("normal"), background_normal="", background_down="", markup=True,
                   halign="center", valign="middle")
        wrap(b)
        self.outline(b)
        b.pp_id = f"toggle-{pref}"
        b.pref = pref
        b.bind(on_release=self._on_toggle)
        self.w[b.pp_id] = b
        return b

    def _build_start(self, name: str):
        p = self.palette
        box = BoxLayout(orientation="vertical", padding=(self.mm(5), self.mm(3)), spacing=self.mm(2))
        # top: what the feedback concerns (or that speech has no voice here), and the two choices
        # that make the terminal easier to use, as on the kiosk
        top = BoxLayout(orientation="horizontal", spacing=max(self.gap, self.mm(4)), size_hint_y=None,
                        height=self._nav_h())
        self.w["concerns"] = wrap(Label(font_size=self.fs("normal"), color=p.text, halign="left", valign="middle",
                                        size_hint_x=1.0, markup=True))
        top.add_widget(self.w["concerns"])
        for pref in ("large_text", "speak"):
            t = self._toggle_button(pref)
            t.size_hint_x = 0.55 if self.flow.large_text else 0.42
            top.add_widget(t)
        self.w["question"] = wrap(Label(font_size=self.fs("title"), color=p.text, bold=True, size_hint_y=0.3,
                                        halign="center", valign="middle"))
        self.w["touch_hint"] = wrap(Label(font_size=self.fs("normal"), color=p.muted_text, size_hint_y=None,
                                          height=self.line_h("normal") + self.mm(1), halign="center",
                                          valign="middle"))
        faces = BoxLayout(orientation="horizontal", spacing=self.mm(4), size_hint_y=0.5)
        FaceButton = face_button_class()
        self.faces = []
        for rating, kind in enumerate(self.flow.faces, start=1):
            f = FaceButton(p, font_size=self.fs("normal"), kind=kind, rating=rating, padding=[0, self.mm(1.5)])
            f.pp_id = f"face-{rating}"
            f.bind(on_release=self._on_face)
            faces.add_widget(f)
            self.faces.append(f)
        self.w["anonymous"] = wrap(Label(font_size=self.fs("normal"), color=p.text, size_hint_y=None,
                                         height=self.line_h("normal") + self.fs("normal", scaled=False) * 1.3
                                         + self.mm(1),
                                         halign="center", valign="middle", markup=True))
        # At most seven languages a row (a site may offer thirteen): each button keeps 15 mm and
        # the 3 mm gaps, the rows as even as they can be (13: 7 + 6).
        codes = self.settings.flow.languages
        n_rows = max(1, -(-len(codes) // 7))
        per_row = -(-len(codes) // n_rows)
        gap = self.mm(3)
        langs = BoxLayout(orientation="vertical", spacing=gap, size_hint_y=None,
                          height=n_rows * self._nav_h() + (n_rows - 1) * gap)
        self.lang_buttons = {}
        for start in range(0, len(codes), per_row):
            row = BoxLayout(orientation="horizontal", spacing=gap)
            for lang in codes[start:start + per_row]:
                # wider for a longer name, so that "✓ Українська" in bold still fits
                b = Button(font_size=self.fs("normal", scaled=False), background_normal="", background_down="",
                           markup=True, size_hint_x=max(len(native_name(lang)), 6) + 4)
                self.outline(b)
                b.pp_id = f"lang-{lang}"
                b.lang = lang
                b.bind(on_release=self._on_lang)
                row.add_widget(b)
                self.lang_buttons[lang] = b
            langs.add_widget(row)
        for wdg in (top, self.w["question"], self.w["touch_hint"], faces, self.w["anonymous"], langs):
            box.add_widget(wdg)
        return box

    def _build_question(self, name: str):
        p = self.palette
        box = BoxLayout(orientation="vertical", padding=(self.mm(8), self.mm(4)), spacing=self.mm(2.5))
        saved = wrap(Label(font_size=self.fs("normal"), color=p.text, size_hint_y=None, height=self.line_h("normal"),
                           halign="center", valign="middle", markup=True))
        step = wrap(Label(font_size=self.fs("small"), color=p.muted_text, size_hint_y=None,
                          height=self.line_h("small"), halign="center", valign="middle"))
        question = wrap(Label(font_size=self.fs("title"), color=p.text, bold=True, size_hint_y=0.24,
                              halign="center", valign="middle"))
        hint = wrap(Label(font_size=self.fs("normal"), color=p.muted_text, size_hint_y=None,
                          height=self.line_h("normal"), halign="center", valign="middle"))
        self.w[f"{name}-saved"], self.w[f"{name}-step"] = saved, step
        self.w[f"{name}-question"], self.w[f"{name}-hint"] = question, hint
        values = ("done", "started", "not_done") if name == OUTCOME else ("yes", "no")
        answers = self._buttons_row([(f"{name}-{v}", "", partial(self._on_answer, name, v)) for v in values],
                                    font="large")
        answers.size_hint_y = 0.46
        nav = self._buttons_row([(f"{name}-skip", "", partial(self._on_skip)),
                                 (f"{name}-finish", "", partial(self._on_finish))], outlined=True)
        for wdg in (saved, step, question, hint, answers, Widget(size_hint_y=0.05), nav):
            box.add_widget(wdg)
        return box

    def _build_comment(self, name: str):
        """The keyboard takes what the texts leave; its keys are sized in mm (checked by the tests
        at the screen's physical size), Send and Skip sit beside the comment box."""
        p = self.palette
        pad_x, pad_y = self.mm(2), self.mm(1.5)
        box = BoxLayout(orientation="vertical", padding=(pad_x, pad_y), spacing=self.gap)
        head_h = (self.fs("small") * 2 + self.fs("large")) * 1.15
        head = BoxLayout(orientation="horizontal", size_hint_y=1, spacing=self.gap)
        texts = BoxLayout(orientation="vertical")
        self.w["comment-saved"] = wrap(Label(font_size=self.fs("small"), color=p.text, size_hint_y=1,
                                             halign="center", valign="middle", markup=True))
        self.w["comment-question"] = wrap(Label(font_size=self.fs("large"), color=p.text, bold=True,
                                                size_hint_y=self.fs("large") / self.fs("small"),
                                                halign="center", valign="middle"))
        self.w["comment-hint"] = wrap(Label(font_size=self.fs("small"), color=p.text, size_hint_y=1,
                                            halign="center", valign="middle"))
        for wdg in (self.w["comment-saved"], self.w["comment-question"], self.w["comment-hint"]):
            texts.add_widget(wdg)
        self.w["comment-count"] = Label(font_size=self.fs("small"), color=p.muted_text, size_hint_x=0.14,
                                        halign="right", valign="bottom")
        self.w["comment-count"].bind(size=lambda w, s: setattr(w, "text_size", s))
        head.add_widget(texts)
        head.add_widget(self.w["comment-count"])
        row_h = max(self._nav_h(), self.line_h("normal", 2) + self.mm(2))  # two lines of the comment
        row = BoxLayout(orientation="horizontal", spacing=max(self.gap, self.mm(3)), size_hint_y=None, height=row_h)
        self.w["comment-box"] = wrap(Panel(bg=style.COMMENT_BG, border=p.accent, border_w=self.outline_w(),
                                           font_size=self.fs("normal"), color=style.COMMENT_TEXT,
                                           halign="left", valign="top", padding=(self.mm(2), self.mm(1)),
                                           markup=True, size_hint_x=0.64))
        self.w["comment-box"].pp_id = "comment-box"
        row.add_widget(self.w["comment-box"])
        send = self._buttons_row([("comment-send", "", self._on_send)])
        skip = self._buttons_row([("comment-skip", "", self._on_skip)], outlined=True)
        for r in (send, skip):
            r.size_hint_x = 0.18
            r.size_hint_y = 1
            row.add_widget(r)
        self.kb_state = KeyboardState(layouts=layouts_for(self.flow.lang), max_len=self.settings.flow.comment_max,
                                      text=self.flow.draft)
        # The keyboard gets what the texts above leave, but never keys under the target size:
        # then the texts give way (they are one line each).
        rows = self.kb_state.layout()["rows"]
        kb_min = rows * self.mm(TARGET_MM - 0.5) + (rows - 1) * self.gap
        kb_h = max(kb_min, Window.height - 2 * pad_y - 2 * self.gap - head_h - row_h)
        self.keyboard = make_keyboard_widget(state=self.kb_state, palette=p, font_size=self.fs("normal"),
                                             size_hint_y=None, height=kb_h, gap=self.gap, outline=p.muted_text,
                                             outline_w=self.outline_w())
        self.keyboard.bind(on_text=self._on_typed)
        self.keyboard.keep_ltr = True  # keys stay where the layout puts them (uikit.mirror)
        for wdg in (head, row, self.keyboard):
            box.add_widget(wdg)
        return box

    def _build_thanks(self, name: str):
        p = self.palette
        box = BoxLayout(orientation="vertical", padding=(self.mm(10), self.mm(6)), spacing=self.mm(3))
        FaceButton = face_button_class()
        face = FaceButton(p, kind="very_satisfied", size_hint_y=0.4)
        face.label.size_hint_y = 0.001
        face.disabled = True
        self.w["thanks"] = wrap(Label(font_size=self.fs("title"), bold=True, color=p.text, size_hint_y=0.25,
                                      halign="center", valign="middle"))
        self.w["thanks-next"] = wrap(Label(font_size=self.fs("normal"), color=p.muted_text, size_hint_y=0.12,
                                           halign="center", valign="middle"))
        nav = self._buttons_row([("thanks-back", "", self._on_back)])
        nav.padding = (self.mm(40), 0)
        for wdg in (face, self.w["thanks"], self.w["thanks-next"], nav):
            box.add_widget(wdg)
        return box

    # --- showing ---------------------------------------------------------------------------

    def refresh(self) -> None:
        """Bring every widget in line with the flow (language, screen, banners)."""
        f, p, tr = self.flow, self.palette, self.tr
        if self._built_large != f.large_text:
            self._build_screens()
        assert self.sm is not None
        if is_rtl(f.lang) != self._mirrored:
            # Arabic, Persian, Sorani: the screens read from the right (faces from the right too,
            # as a right-to-left rating scale runs). Mirroring twice gives the original back.
            for screen in self.sm.screens:  # only the current one is the manager's child
                mirror(screen)
            self._mirrored = not self._mirrored
        if self.sm.current != f.screen:
            self.sm.current = f.screen
        # start
        service = f.service
        notes = []
        if f.speak and not has_voice(f.lang):
            # said in words, in the customer's language: never read in another one without saying so
            notes.append(f"[b]{tr(T.NO_VOICE)}[/b]")
        if service:
            names = self.settings.service_names.get(service, {})
            notes.append(tr(T.CONCERNS, service=names.get(f.lang) or names.get("en") or service))
        elif self.scan_note and self.now() < self._scan_note_until:
            notes.append(tr(self.scan_note))
        self.w["concerns"].text = "\n".join(notes)
        for pref, msg in (("large_text", T.LARGER_TEXT), ("speak", T.READ_ALOUD)):
            b, on = self.w[f"toggle-{pref}"], getattr(f, pref)
            b.text = (f"{CHECK} " if on else "") + tr(msg)
            b.background_color = p.accent if on else p.button
            b.color = p.accent_text if on else p.button_text
            b.bold = on
        self.w["question"].text = tr(T.QUESTION)
        self.w["touch_hint"].text = tr(T.TOUCH_A_FACE)
        self.w["anonymous"].text = (f"[b]{tr(T.ANONYMOUS)}[/b]\n"
                                    f"[size={int(self.fs('normal', scaled=False))}]{tr(T.NOTHING_STORED)}[/size]")
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
        self._speak_screen()

    def _state_key(self) -> tuple:
        f = self.flow
        return (f.screen, f.lang, f.error, f.warning, f.service, f.draft, f.large_text, f.speak,
                self.scan_note if self.now() < self._scan_note_until else None)

    # --- speech ----------------------------------------------------------------------------

    def speech_text(self) -> str:
        """What is read aloud of the screen shown: its texts and its buttons, in screen order."""
        f, tr = self.flow, self.tr
        parts: list[str] = []
        if f.error:
            parts.append(tr(T.SAVE_FAILED))
        elif f.warning:
            parts.append(tr(T.STILL_THERE))
        if f.screen == START:
            if self.w["concerns"].text and f.service:
                names = self.settings.service_names.get(f.service, {})
                parts.append(tr(T.CONCERNS, service=names.get(f.lang) or names.get("en") or f.service))
            parts += [tr(T.QUESTION), tr(T.TOUCH_A_FACE)]
            parts += [f"{i}: {tr(T.FACE_LABELS[kind])}" for i, kind in enumerate(f.faces, start=1)]
            parts += [tr(T.ANONYMOUS), tr(T.NOTHING_STORED), tr(T.LARGER_TEXT), tr(T.READ_ALOUD)]
        elif f.screen in (OUTCOME, SELF):
            if self._last_was_store and f.response is not None:
                parts.append(tr(T.RATING_SAVED if f.response.part == "rating" else T.ANSWER_SAVED))
            n, total = f.step()
            q, hint, answers = ((T.OUTCOME_Q, "", T.OUTCOME_ANSWERS) if f.screen == OUTCOME
                                else (T.SELF_Q, T.SELF_HINT, T.SELF_ANSWERS))
            parts += [tr(T.STEP, n=n, total=total), tr(q)] + ([tr(hint)] if hint else [])
            parts += [tr(m) for m in answers.values()] + [tr(T.SKIP), tr(T.FINISH)]
        elif f.screen == COMMENT:
            if self._last_was_store and f.response is not None:
                parts.append(tr(T.ANSWER_SAVED if f.response.part != "rating" else T.RATING_SAVED))
            parts += [tr(T.COMMENT_Q), tr(T.COMMENT_HINT), tr(T.SEND), tr(T.SKIP)]
        elif f.screen == THANKS:
            parts += [tr(T.THANKS), tr(T.THANKS_NEXT), tr(T.BACK_TO_START)]
        return " ".join(p if p.rstrip().endswith((".", "?", "!", ":")) else p + "." for p in parts if p.strip())

    def _speak_screen(self) -> None:
        """Read the screen when speech is on and something a listener must know changed: a new
        screen, the language, speech just switched on, a warning or a failed save."""
        f = self.flow
        key = (f.screen, f.lang, f.speak, f.error, f.warning, f.service, f.response.rev if f.response else None)
        if key == self._spoken_key:
            return
        self._spoken_key = key
        if f.speak and has_voice(f.lang):
            self.speak(self.speech_text())

    def speak(self, text: str) -> None:
        """Queue `text` in the customer's language. Never blocks; a failing speaker never stops the
        screen. A language without a voice is not spoken at all (the screen says so)."""
        lang = self.flow.lang
        if not has_voice(lang) or not text:
            return
        try:
            if self._speaker is None:
                from pathlib import Path

                from uikit.speech import Speaker

                self._speaker = Speaker(Path(self.settings.data_dir) / "speech", player=self.speech_player,
                                        speed=self.settings.speech_speed, on_done=self._speech_done)
            self._speaker.say([(lang, text)], tag=self.flow.screen)
            self.spoken.append((lang, text))
        except Exception:
            log.exception("feedback: speech failed")

    def _speech_done(self, utterance: Any, files: list) -> None:
        """On the speaker's thread: remember what was rendered (the files go away after)."""
        self.speech_done.append((utterance.tag, sum(f.stat().st_size for f in files if f.exists())))

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

    def _on_toggle(self, button) -> None:
        if self.flow.toggle(button.pref, self.now()):
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
        if self._speaker is not None:
            self._speaker.close(timeout=2)
        if self.buttons is not None:
            self.buttons.stop()
        if self.recorder is not None:
            self.recorder.stop()
        self._write_status()
