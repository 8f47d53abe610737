"""Small Kivy building blocks of the number display: framed panels, labels that fit their box,
a warning triangle drawn as a shape (no font needs to carry the glyph)."""
from __future__ import annotations

import os
from functools import lru_cache

from kivy.graphics import Color, InstructionGroup, Line, Rectangle, Triangle
from kivy.graphics.texture import Texture
from kivy.properties import ListProperty, NumericProperty
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.label import Label
from kivy.uix.widget import Widget


@lru_cache(maxsize=None)
def white() -> "Texture":
    """A 1×1 white texture for plain shapes. A Rectangle without a texture that is taken out of a
    canvas and put back later drew with whatever texture was bound last (a label's glyphs
    stretched over a panel); an explicit texture avoids that."""
    from kivy.graphics.texture import Texture

    tex = Texture.create(size=(1, 1), colorfmt="rgba")
    tex.blit_buffer(b"\xff\xff\xff\xff", colorfmt="rgba", bufferfmt="ubyte")
    return tex


_SYSTEM_FONTS = ("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",
                 "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")


@lru_cache(maxsize=None)
def fonts() -> tuple[str, str, bool]:
    """(regular, bold, bold_is_synthetic): DejaVu Sans (wide glyph coverage: ä ö å → ⚠ ♿ Cyrillic),
    from the system when installed, else the copy that ships with Kivy (regular only)."""
    import kivy

    bold, regular = _SYSTEM_FONTS
    if os.path.exists(bold) and os.path.exists(regular):
        return regular, bold, False
    bundled = os.path.join(os.path.dirname(kivy.__file__), "data", "fonts", "DejaVuSans.ttf")
    return bundled, bundled, True


class Text(Label):
    """A label drawn from a tight texture, aligned by hand inside its box.

    Kivy's usual way to align (text_size = size) renders every label into a texture as large as
    its box, and blending those box-sized textures made each frame of a 1920×1080 screen cost
    ~150 ms more with software GL (Mesa llvmpipe). Here the texture holds only the glyphs; with
    `wrap=True` it is as wide as the box (needed to wrap), but only as tall as the lines."""

    def __init__(self, bold: bool = False, halign: str = "left", valign: str = "middle", wrap: bool = False, **kw):
        regular, bold_font, synthetic = fonts()
        kw.setdefault("font_name", bold_font if bold else regular)
        if bold and synthetic:
            kw.setdefault("bold", True)
        super().__init__(halign=halign, valign=valign, **kw)
        self.wrap = wrap
        self.canvas.clear()  # replace the class rule's centred rectangle
        with self.canvas:
            Color(1, 1, 1, 1)  # the texture carries the text's colour already
            self._rect = Rectangle()
        self._drawn = True
        self.bind(texture=self._place, texture_size=self._place, pos=self._place, size=self._place,
                  halign=self._place)
        if wrap:
            self.bind(width=self._sync)
        self._place()

    def _sync(self, *_):
        self.text_size = (self.width, None)

    def _place(self, *_):
        tex = self.texture if self.text else None
        # An empty label draws nothing at all: every draw call costs with software GL.
        if (tex is not None) != self._drawn:
            self._drawn = tex is not None
            (self.canvas.add if self._drawn else self.canvas.remove)(self._rect)
        if tex is None:
            return
        self._rect.texture = tex
        tw, th = self.texture_size
        (bx, by), (bw, bh) = self.pos, self.size  # not center_x/right/top: stale inside callbacks
        if self.halign == "left":
            x = bx
        elif self.halign == "right":
            x = bx + bw - tw
        else:
            x = bx + (bw - tw) / 2
        y = by + (bh - th) / 2 if self.valign == "middle" else (by + bh - th if self.valign == "top" else by)
        self._rect.pos = (int(x), int(y))
        self._rect.size = (tw, th)


class FitText(Text):
    """Text that shrinks its font to fit its box (long counter or service names from a site
    configuration). With `lines=2` a long text may wrap to two lines when that keeps it larger
    than one shrunken line would be."""

    max_font = NumericProperty(40)
    lines = NumericProperty(1)

    def __init__(self, **kw):
        super().__init__(wrap=kw.get("lines", 1) >= 2, **kw)
        self.bind(text=self._fit, size=self._fit, max_font=self._fit)

    def _fit(self, *_):
        if not self.text or self.width <= 1:
            self.font_size = self.max_font
            return
        from kivy.core.text import Label as CoreLabel

        w, _h = CoreLabel(font_size=self.max_font, font_name=self.font_name, bold=self.bold).get_extents(self.text)
        avail = self.width * 0.97
        one = min(self.max_font if w <= avail else self.max_font * avail / w, self.height / 1.18)
        size = one
        if self.lines >= 2 and w > avail:
            # wrapping wastes some of each line: count on 85 % of two widths
            two = min(self.max_font, self.max_font * 2 * avail * 0.85 / w, self.height / 2.36)
            if two > one * 1.15:
                size = two
        # DejaVu's line is about 1.17 × the font size: keep the glyphs inside the box's height.
        self.font_size = max(8, size)


class Panel(BoxLayout):
    """A box with a background and a frame. The frame is part of the meaning (a new call has a
    heavy frame set inside the box, with the word and the ▶ ◀ marks), never the colour alone."""

    bg = ListProperty([0, 0, 0, 0])  # transparent: nothing drawn (the screen's background shows)
    frame = ListProperty([1, 1, 1, 1])
    frame_width = NumericProperty(2)
    frame_inset = NumericProperty(0)  # the frame's distance from the box's edge

    def __init__(self, **kw):
        super().__init__(**kw)
        # The background lives in its own group, filled with add() and emptied with clear().
        # (Canvas.insert() of a Rectangle put its texture binding after it: the rectangle drew
        # with the texture bound last — a label's glyphs stretched over the panel.)
        with self.canvas.before:
            self._bg_group = InstructionGroup()
            self._fr_c = Color(*self.frame)
            self._fr_l = Line(rectangle=(0, 0, 1, 1), width=1, joint="miter", texture=white())
        self._bg_c = Color(*self.bg)
        self._bg_r = Rectangle(pos=self.pos, size=self.size, texture=white())
        self._bg_on = False
        self.bind(pos=self._redraw, size=self._redraw, bg=self._redraw, frame=self._redraw,
                  frame_width=self._redraw, frame_inset=self._redraw)
        self._redraw()

    def _redraw(self, *_):
        on = self.bg[3] > 0
        if on != self._bg_on:
            self._bg_on = on
            self._bg_group.clear()
            if on:
                self._bg_group.add(self._bg_c)
                self._bg_group.add(self._bg_r)
        self._bg_c.rgba = self.bg
        self._bg_r.pos, self._bg_r.size = self.pos, self.size
        self._fr_c.rgba = self.frame
        fw = max(1.0, float(self.frame_width))
        d = float(self.frame_inset) + fw
        self._fr_l.width = fw
        self._fr_l.rectangle = (self.x + d, self.y + d, max(1, self.width - 2 * d), max(1, self.height - 2 * d))


class WarningIcon(Widget):
    """A warning triangle with an exclamation mark, drawn as shapes."""

    color = ListProperty([0, 0, 0, 1])
    mark = ListProperty([1, 1, 1, 1])

    def __init__(self, **kw):
        super().__init__(**kw)
        with self.canvas:
            self._c = Color(*self.color)
            self._t = Triangle(points=[0, 0, 0, 0, 0, 0], texture=white())
            self._m = Color(*self.mark)
            self._bar = Rectangle(texture=white())
            self._dot = Rectangle(texture=white())
        self.bind(pos=self._redraw, size=self._redraw, color=self._redraw, mark=self._redraw)

    def _redraw(self, *_):
        # From pos and size, not center_x/center_y: inside a size callback those cached alias
        # properties can still hold the previous value.
        (x, y), (w, h) = self.pos, self.size
        s = max(0.0, min(w, h))
        cx, cy = x + w / 2, y + h / 2
        x0, y0 = cx - s / 2, cy - s * 0.43
        self._c.rgba, self._m.rgba = self.color, self.mark
        self._t.points = [x0, y0, x0 + s, y0, x0 + s / 2, y0 + s * 0.87]
        bw = s * 0.11
        self._bar.pos, self._bar.size = (cx - bw / 2, y0 + s * 0.3), (bw, s * 0.34)
        self._dot.pos, self._dot.size = (cx - bw / 2, y0 + s * 0.1), (bw, bw)
