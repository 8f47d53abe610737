"""Kivy building blocks of the counter panel: text, big buttons, framed boxes, need badges.
(Apps do not import each other, so this is the panel's own small copy of such pieces.)"""
from __future__ import annotations

import os
from functools import lru_cache

from kivy.graphics import Color, Line, Rectangle
from kivy.metrics import dp
from kivy.properties import ListProperty, NumericProperty
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.button import Button
from kivy.uix.label import Label

from uikit.theme import MIN_TARGET_MM

_SYSTEM = ("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf")


@lru_cache(maxsize=None)
def fonts() -> tuple[str, str, bool]:
    import kivy

    regular, bold = _SYSTEM
    if os.path.exists(regular) and os.path.exists(bold):
        return regular, bold, False
    bundled = os.path.join(os.path.dirname(kivy.__file__), "data", "fonts", "DejaVuSans.ttf")
    return bundled, bundled, True


def _font_kw(bold: bool, kw: dict) -> dict:
    regular, bold_font, synthetic = fonts()
    kw.setdefault("font_name", bold_font if bold else regular)
    if bold and synthetic:
        kw.setdefault("bold", True)
    return kw


class Text(Label):
    def __init__(self, bold: bool = False, halign: str = "left", valign: str = "middle", **kw):
        super().__init__(halign=halign, valign=valign, **_font_kw(bold, kw))
        self.bind(size=self._sync)

    def _sync(self, *_):
        self.text_size = self.size


class WrapText(Text):
    """Text as tall as its lines at the width it is given (a heading that wraps in a narrow column
    instead of being cut)."""

    def __init__(self, min_height: float = 0, **kw):
        self.min_height = min_height
        super().__init__(size_hint_y=None, **kw)
        self.bind(texture_size=self._fit)

    def _sync(self, *_):
        self.text_size = (self.width, None)

    def _fit(self, *_):
        self.height = max(self.min_height, self.texture_size[1])


def min_target_px() -> float:
    """15 mm on this screen (Kivy's mm follows the screen's DPI)."""
    from kivy.metrics import mm

    return mm(MIN_TARGET_MM)


class BigButton(Button):
    """A large touch target with a frame, so that a disabled button differs by more than colour
    (its frame is dashed-thin and the text is dimmed and says why elsewhere)."""

    def __init__(self, pal, primary: bool = False, bold: bool = True, **kw):
        self.pal = pal
        bg = pal.accent if primary else pal.button
        fg = pal.accent_text if primary else pal.button_text
        kw.setdefault("font_size", dp(24))
        super().__init__(background_normal="", background_down="", background_color=bg, color=fg,
                         disabled_color=list(fg[:3]) + [0.55], halign="center", valign="middle",
                         **_font_kw(bold, kw))
        self.background_disabled_normal = ""
        self.bind(size=self._sync, pos=self._frame, state=self._frame, disabled=self._frame)
        with self.canvas.after:
            self._fc = Color(*pal.button_text)
            self._fl = Line(rectangle=(0, 0, 1, 1), width=dp(1.5))
        self.min_height = min_target_px()

    def _sync(self, *_):
        self.text_size = (self.width - dp(16), self.height - dp(8))
        self._frame()

    def _frame(self, *_):
        w = dp(4) if self.state == "down" else dp(1.5)
        self._fl.width = w
        self._fl.rectangle = (self.x + w, self.y + w, max(1, self.width - 2 * w), max(1, self.height - 2 * w))
        self._fc.rgba = list(self.pal.button_text[:3]) + [0.35 if self.disabled else 1.0]


class Box(BoxLayout):
    bg = ListProperty([0, 0, 0, 0])
    frame = ListProperty([1, 1, 1, 1])
    frame_width = NumericProperty(1.5)

    def __init__(self, **kw):
        super().__init__(**kw)
        with self.canvas.before:
            self._c = Color(*self.bg)
            self._r = Rectangle()
            self._fc = Color(*self.frame)
            self._fl = Line(rectangle=(0, 0, 1, 1), width=1)
        self.bind(pos=self._redraw, size=self._redraw, bg=self._redraw, frame=self._redraw,
                  frame_width=self._redraw)

    def _redraw(self, *_):
        self._c.rgba, self._fc.rgba = self.bg, self.frame
        self._r.pos, self._r.size = self.pos, self.size
        w = max(1.0, float(self.frame_width))
        self._fl.width = w
        self._fl.rectangle = (self.x + w, self.y + w, max(1, self.width - 2 * w), max(1, self.height - 2 * w))


class Badge(Box):
    """An icon in a square frame, then the words: a customer's need."""

    def __init__(self, pal, icon: str, text: str, **kw):
        super().__init__(orientation="horizontal", spacing=dp(10), padding=(dp(6), dp(4)),
                         bg=list(pal.background), frame=list(pal.muted_text), frame_width=dp(1),
                         size_hint_y=None, height=dp(56), **kw)
        ib = Box(size_hint_x=None, width=dp(40), bg=list(pal.accent), frame=list(pal.accent_text))
        ib.add_widget(Text(text=icon, bold=True, font_size=dp(24), color=pal.accent_text, halign="center"))
        self.icon = ib
        self.label = Text(text=text, font_size=dp(19), color=pal.text, bold=True, max_lines=2)
        self.add_widget(ib)
        self.add_widget(self.label)
