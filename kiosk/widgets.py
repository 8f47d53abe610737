"""The kiosk's building blocks: themed text, big buttons, drawn icons, notices, the QR view.

Every colour comes from a uikit.theme palette (text contrast at least 7:1), every size from the
theme's font sizes and the window size; every button is at least 15 mm both ways and has a
visible outline, so it reads as a button by its shape, not only by its colour. A selected
choice always shows a check mark as well as the highlight colour.
"""
from __future__ import annotations

import functools
import math
from collections.abc import Callable

from kivy.graphics import Color, Ellipse, Line, Rectangle, RoundedRectangle
from kivy.metrics import mm, sp
from kivy.properties import StringProperty
from kivy.uix.behaviors import ButtonBehavior
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.label import Label
from kivy.uix.widget import Widget
from kivy.utils import escape_markup

from uikit.theme import CAP_RATIO, HIGH_CONTRAST, LARGE_TEXT_SCALE, MIN_CAP_MM, MIN_TARGET_MM, STANDARD, font_sp

#: "low" layout: every control within this lower fraction of the screen height.
LOW_FRACTION = 0.55


class Look:
    """Palette, font sizes and window geometry for one rendering of a screen."""

    def __init__(self, large_text: bool, high_contrast: bool, low_layout: bool, size: tuple[float, float]) -> None:
        self.p = HIGH_CONTRAST if high_contrast else STANDARD
        self.large = large_text
        self.low = low_layout
        self.hc = high_contrast
        self.W, self.H = size
        self.portrait = self.H >= self.W
        self.pad = max(12.0, self.W * 0.025)
        self.gap = max(10.0, self.W * 0.014)
        self.min_target = mm(MIN_TARGET_MM)
        # The smallest font size whose capitals are MIN_CAP_MM tall on this screen (its DPI from
        # the device configuration: [kiosk] dpi or screen_inches); larger text scales it too.
        # Whole pixels, rounded up: fonts are drawn at integer sizes.
        self.min_font = float(math.ceil(mm(MIN_CAP_MM) / CAP_RATIO * (LARGE_TEXT_SCALE if large_text else 1.0)))

    def font(self, kind: str) -> float:
        return max(sp(font_sp(kind, self.large)), self.min_font)

    def line_h(self, kind: str, lines: int = 1) -> float:
        return self.font(kind) * 1.25 * lines

    def target(self, h: float) -> float:
        return max(self.min_target, h)


def _rgba(c, a: float | None = None):
    return (c[0], c[1], c[2], c[3] if a is None else a)


class Fill(BoxLayout):
    """A BoxLayout with a solid background (and an optional outline)."""

    def __init__(self, color, outline=None, radius: float = 0, outline_w: float = 2, **kw) -> None:
        super().__init__(**kw)
        self._color, self._outline, self._radius, self._ow = color, outline, radius, outline_w
        self.bind(pos=self._draw, size=self._draw)

    def _draw(self, *_a) -> None:
        self.canvas.before.clear()
        with self.canvas.before:
            Color(*self._color)
            if self._radius:
                RoundedRectangle(pos=self.pos, size=self.size, radius=[self._radius])
            else:
                Rectangle(pos=self.pos, size=self.size)
            if self._outline is not None:
                Color(*self._outline)
                if self._radius:
                    Line(rounded_rectangle=(self.x + 1, self.y + 1, self.width - 2, self.height - 2, self._radius),
                         width=self._ow)
                else:
                    Line(rectangle=(self.x + 1, self.y + 1, self.width - 2, self.height - 2), width=self._ow)


class Txt(Label):
    """Wrapped text that takes the height it needs (or fills, with fill=True)."""
    pp_id = StringProperty("")

    def __init__(self, look: Look, text: str, kind: str = "normal", *, bold: bool = False, color=None,
                 halign: str = "left", valign: str = "top", fill: bool = False, pp_id: str = "", scale: float = 1.0,
                 **kw) -> None:
        c = color or look.p.text
        super().__init__(text=text, font_size=look.font(kind) * scale, bold=bold, color=c, disabled_color=c,
                         halign=halign, valign=valign, **kw)
        self.pp_id = pp_id
        if fill:
            self.bind(size=lambda *_: setattr(self, "text_size", self.size))
        else:
            self.size_hint_y = None
            self.bind(width=lambda *_: setattr(self, "text_size", (self.width, None)),
                      texture_size=lambda *_: setattr(self, "height", self.texture_size[1]))


class Icon(Widget):
    """Simple drawn icons (no icon font needed): check boxes, warning, printer, arrows, help."""

    def __init__(self, kind: str, color, size_px: float, **kw) -> None:
        super().__init__(size_hint=(None, None), size=(size_px, size_px), **kw)
        self.kind, self.color = kind, color
        self.bind(pos=self._draw, size=self._draw)

    def mirror_self(self) -> None:
        """On a right-to-left screen "back" points right and "next" left (uikit.mirror)."""
        self.kind = {"back": "next", "next": "back"}.get(self.kind, self.kind)
        self._draw()

    def _draw(self, *_a) -> None:
        x, y, w, h = self.x, self.y, self.width, self.height
        lw = max(2.0, w * 0.07)
        self.canvas.clear()
        with self.canvas:
            Color(*self.color)
            k = self.kind
            if k in ("check_on", "check_off"):
                Line(rectangle=(x + lw, y + lw, w - 2 * lw, h - 2 * lw), width=lw)
                if k == "check_on":
                    Line(points=[x + w * 0.22, y + h * 0.52, x + w * 0.42, y + h * 0.28, x + w * 0.8, y + h * 0.75],
                         width=lw * 1.3, cap="round", joint="round")
            elif k == "check":
                Line(points=[x + w * 0.12, y + h * 0.52, x + w * 0.38, y + h * 0.22, x + w * 0.9, y + h * 0.8],
                     width=lw * 1.4, cap="round", joint="round")
            elif k == "warning":
                Line(points=[x + w / 2, y + h * 0.95, x + w * 0.03, y + h * 0.08, x + w * 0.97, y + h * 0.08],
                     width=lw, close=True, joint="round")
                Line(points=[x + w / 2, y + h * 0.68, x + w / 2, y + h * 0.36], width=lw * 1.2, cap="round")
                d = lw * 2.2
                Ellipse(pos=(x + w / 2 - d / 2, y + h * 0.2 - d / 2), size=(d, d))
            elif k == "printer":
                Line(rectangle=(x + w * 0.06, y + h * 0.3, w * 0.88, h * 0.4), width=lw)
                Line(rectangle=(x + w * 0.24, y + h * 0.7, w * 0.52, h * 0.24), width=lw)
                Line(rectangle=(x + w * 0.24, y + h * 0.04, w * 0.52, h * 0.34), width=lw)
                Line(points=[x + w * 0.32, y + h * 0.2, x + w * 0.68, y + h * 0.2], width=lw * 0.7)
            elif k == "back":
                Line(points=[x + w * 0.85, y + h / 2, x + w * 0.18, y + h / 2], width=lw, cap="round")
                Line(points=[x + w * 0.45, y + h * 0.8, x + w * 0.15, y + h / 2, x + w * 0.45, y + h * 0.2],
                     width=lw, cap="round", joint="round")
            elif k == "next":
                Line(points=[x + w * 0.15, y + h / 2, x + w * 0.82, y + h / 2], width=lw, cap="round")
                Line(points=[x + w * 0.55, y + h * 0.8, x + w * 0.85, y + h / 2, x + w * 0.55, y + h * 0.2],
                     width=lw, cap="round", joint="round")
            elif k == "help":
                Line(circle=(x + w / 2, y + h / 2, w / 2 - lw), width=lw)
                Line(bezier=[x + w * 0.36, y + h * 0.62, x + w * 0.38, y + h * 0.8, x + w * 0.64, y + h * 0.8,
                             x + w * 0.62, y + h * 0.6], width=lw)
                Line(points=[x + w * 0.62, y + h * 0.6, x + w * 0.5, y + h * 0.5, x + w * 0.5, y + h * 0.4],
                     width=lw, joint="round")
                d = lw * 1.8
                Ellipse(pos=(x + w / 2 - d / 2, y + h * 0.25 - d / 2), size=(d, d))
            elif k == "clock":
                Line(circle=(x + w / 2, y + h / 2, w / 2 - lw), width=lw)
                Line(points=[x + w / 2, y + h * 0.78, x + w / 2, y + h / 2, x + w * 0.7, y + h * 0.4],
                     width=lw, cap="round", joint="round")
            elif k == "cross":
                Line(circle=(x + w / 2, y + h / 2, w / 2 - lw), width=lw)
                Line(points=[x + w * 0.33, y + h * 0.33, x + w * 0.67, y + h * 0.67], width=lw, cap="round")
                Line(points=[x + w * 0.33, y + h * 0.67, x + w * 0.67, y + h * 0.33], width=lw, cap="round")


@functools.lru_cache(maxsize=4096)
def _word_width(word: str, size: float, bold: bool) -> float:
    from kivy.core.text import Label as CoreLabel

    return CoreLabel(font_size=size, bold=bold).get_extents(word)[0]


class Btn(ButtonBehavior, Fill):
    """A big button: an optional icon, a main text and an optional second line.

    style: "normal" (button colours), "primary" (the accent: the usual next step),
    "selected" (accent + a check mark icon: a chosen option), "closed" (what cannot be chosen now,
    e.g. a service closed for the rest of the day: no button colour, a thin muted outline, full
    contrast text that says why; made with `disabled=True` and no action).
    """
    pp_id = StringProperty("")

    def __init__(self, look: Look, text: str, on_tap: Callable[[], None] | None = None, *, sub: str = "",
                 icon: str | None = None, style: str = "normal", kind: str = "large", halign: str = "center",
                 pp_id: str = "", sends: bool = False, **kw) -> None:
        p = look.p
        if style in ("primary", "selected"):
            bg, fg = p.accent, p.accent_text
        elif style == "closed":
            bg, fg = p.background, p.text
        else:
            bg, fg = p.button, p.button_text
        if style == "closed":
            outline = p.muted_text
        else:
            outline = p.text if look.hc or style == "normal" else p.accent_text
        super().__init__(color=bg, outline=outline, radius=max(8.0, look.W * 0.012), outline_w=2.5 if look.hc else 1.6,
                         orientation="horizontal", padding=(look.pad * 0.9, look.pad * 0.4),
                         spacing=look.gap, **kw)
        self.look, self.fg, self.bg = look, fg, bg
        self.pp_id = pp_id
        self.on_tap = on_tap
        self.sends = sends
        self.text = text  # for tests and speech: the button's words
        self.sub_text, self.style = sub, style  # speech too (kiosk.keys reads a control out)
        if icon:
            isz = look.font(kind) * 1.15
            self.icon = Icon(icon, fg, isz)
            box = BoxLayout(orientation="vertical", size_hint_x=None, width=isz)
            box.add_widget(Widget())
            box.add_widget(self.icon)
            box.add_widget(Widget())
            self.add_widget(box)
        self._main_text, self._sub_text, self._kind = text, sub, kind
        self._scale = 1.0
        # The label is only as tall as its text (its texture too: a texture the size of the
        # whole button would cost a megabyte of memory per button), centred by two fillers.
        col = BoxLayout(orientation="vertical")
        lab = Label(markup=True, color=fg, disabled_color=fg, halign=halign, valign="middle",
                    font_size=look.font(kind), size_hint_y=None, height=0)
        col.add_widget(Widget())
        col.add_widget(lab)
        col.add_widget(Widget())
        col.bind(size=self._fit)
        self.add_widget(col)
        self.col = col
        self.label = lab
        self._set_markup()
        self._pressed = False

    def set_text(self, text: str) -> None:
        """New main words in place (e.g. "Getting your number…" while a request is in flight)."""
        self._main_text = self.text = text
        self._scale = 1.0
        self._set_markup()
        self._fit()

    def _set_markup(self) -> None:
        # Shrunk to fit, but never under the smallest readable size.
        main_px = max(self.look.font(self._kind) * self._scale, self.look.min_font)
        txt = f"[b]{escape_markup(self._main_text)}[/b]"
        if self._sub_text:
            sub_px = max(self.look.font("small") * self._scale, self.look.min_font)
            txt += f"\n[size={int(sub_px)}]{escape_markup(self._sub_text)}[/size]"
        self.label.font_size = main_px
        self.label.text = txt

    def _fit(self, *_a) -> None:
        """Shrink the words (down to 60 %) until they fit the button: no clipped line and no
        word broken in the middle."""
        lab, col = self.label, self.col
        if col.width <= 1 or col.height <= 1:
            return
        lab.text_size = (col.width, None)
        if self._scale != 1.0:
            self._scale = 1.0
            self._set_markup()
        for _ in range(8):
            lab.texture_update()
            fits = lab.texture_size[1] <= col.height and self._widest_word() <= col.width
            if fits or self._scale <= 0.6:
                break
            self._scale = max(0.6, self._scale * 0.9)
            self._set_markup()
        lab.texture_update()
        lab.height = min(col.height, lab.texture_size[1])

    def _widest_word(self) -> float:
        widest = 0.0
        for text, size, bold in ((self._main_text, self.look.font(self._kind) * self._scale, True),
                                 (self._sub_text, max(self.look.font("small") * self._scale, self.look.min_font),
                                  False)):
            size = max(size, self.look.min_font)
            for word in text.split():
                widest = max(widest, _word_width(word, round(size, 1), bold))
        return widest

    def on_press(self) -> None:
        self._pressed = True
        self._color = tuple(c * 0.75 for c in self.bg[:3]) + (1,)
        self._draw()

    def on_release(self) -> None:
        self._color = self.bg
        self._draw()
        if self.on_tap is not None and not self.disabled:
            self.on_tap()


class Notice(Fill):
    """Information that matters (the printer is down): warning colours, an icon AND words."""
    pp_id = StringProperty("")

    def __init__(self, look: Look, text: str, icon: str = "warning", pp_id: str = "", kind: str = "normal",
                 **kw) -> None:
        super().__init__(color=look.p.warning, outline=look.p.warning_text, radius=8,
                         orientation="horizontal", padding=(look.pad, look.pad * 0.5), spacing=look.gap, **kw)
        self.pp_id = pp_id
        isz = look.font(kind) * 1.6
        box = BoxLayout(orientation="vertical", size_hint_x=None, width=isz)
        box.add_widget(Widget())
        box.add_widget(Icon(icon, look.p.warning_text, isz))
        box.add_widget(Widget())
        self.add_widget(box)
        lab = Label(text=text, font_size=look.font(kind), color=look.p.warning_text,
                    disabled_color=look.p.warning_text, halign="left", valign="middle")
        lab.bind(size=lambda w, *_: setattr(w, "text_size", w.size))
        self.add_widget(lab)
        self.label = lab


class QrView(Widget):
    """The QR code texture scaled up, on a white square (its quiet zone is in the texture)."""

    def __init__(self, data: str, side: float, **kw) -> None:
        super().__init__(size_hint=(None, None), size=(side, side), **kw)
        from .qr import qr_texture

        self.data = data
        self.texture = qr_texture(data)
        self.bind(pos=self._draw, size=self._draw)

    def _draw(self, *_a) -> None:
        self.canvas.clear()
        with self.canvas:
            Color(1, 1, 1, 1)
            Rectangle(pos=self.pos, size=self.size, texture=self.texture)


def spacer(h: float | None = None, w: float | None = None) -> Widget:
    wd = Widget()
    if h is not None:
        wd.size_hint_y, wd.height = None, h
    if w is not None:
        wd.size_hint_x, wd.width = None, w
    return wd
