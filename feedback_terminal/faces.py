"""The smiley faces, drawn with Kivy canvas instructions.

Each kind differs in SHAPE, not only in colour (all faces have the same colour on purpose):
    very_dissatisfied  deep frown, sad eyebrows (raised towards the middle)
    dissatisfied       slight frown
    neutral            straight mouth
    satisfied          smile
    very_satisfied     wide open smile (a filled "D"), eyes closed in happy arcs
and each is labelled in words under the face. `geometry(kind, cx, cy, r)` is plain maths and
is tested without a window.
"""
from __future__ import annotations

from typing import Any

#: kind → (mouth curve: + smile / - frown, in face radii; open mouth; happy eyes; brows)
SHAPES = {
    "very_dissatisfied": (-0.24, False, False, True),   # with sad brows
    "dissatisfied": (-0.12, False, False, False),
    "neutral": (0.0, False, False, False),
    "satisfied": (0.14, False, False, False),
    "very_satisfied": (0.26, True, True, False),
}


def geometry(kind: str, cx: float, cy: float, r: float) -> dict[str, Any]:
    """Points of the face's features for a face of radius r centred at (cx, cy)."""
    curve, open_mouth, happy_eyes, brows = SHAPES[kind]
    out: dict[str, Any] = {"kind": kind}
    ex, ey, er = 0.36 * r, 0.22 * r, 0.11 * r
    if happy_eyes:
        # closed eyes, arcs bulging upwards: ^ ^
        out["eye_arcs"] = [[cx + s * ex - er * 1.3, cy + ey - er * 0.3, cx + s * ex, cy + ey + er * 1.6,
                            cx + s * ex + er * 1.3, cy + ey - er * 0.3] for s in (-1, 1)]
    else:
        out["eyes"] = [(cx + s * ex - er, cy + ey - er, 2 * er, 2 * er) for s in (-1, 1)]
    if brows:
        # inner ends high, outer ends low: sad (not angry) brows
        out["brows"] = [[cx + s * (ex + er * 1.7), cy + ey + er * 1.7, cx + s * (ex - er * 1.3), cy + ey + er * 3.0]
                        for s in (-1, 1)]
    mw = 0.46 * r                   # half width of the mouth
    my = cy - 0.36 * r              # height of the mouth corners
    depth = curve * r               # how far the middle of the mouth sags (smile) or rises (frown)
    if curve < 0:
        my -= 0.08 * r              # a frown sits a little lower
    # quadratic Bezier: the middle of the curve is halfway between the corners and the control
    ctrl_y = my - 2 * depth
    out["mouth"] = [cx - mw, my, cx, ctrl_y, cx + mw, my]
    out["mouth_open"] = open_mouth
    out["mouth_mid_y"] = (my + ctrl_y) / 2
    return out


def bezier(points: list[float], n: int = 24) -> list[float]:
    """A quadratic Bezier as a polyline (for the filled open mouth)."""
    x0, y0, x1, y1, x2, y2 = points
    out = []
    for i in range(n + 1):
        t = i / n
        a, b, c = (1 - t) ** 2, 2 * (1 - t) * t, t * t
        out += [a * x0 + b * x1 + c * x2, a * y0 + b * y1 + c * y2]
    return out


_CLS = None


def face_button_class():
    """FaceButton: the face drawing with its words underneath, as one big touch target."""
    global _CLS
    if _CLS is not None:
        return _CLS
    from kivy.graphics import Color, Ellipse, Line, Mesh
    from kivy.metrics import dp, sp
    from kivy.properties import BooleanProperty, ListProperty, NumericProperty, StringProperty
    from kivy.uix.behaviors import ButtonBehavior
    from kivy.uix.boxlayout import BoxLayout
    from kivy.uix.label import Label
    from kivy.uix.widget import Widget

    class FaceDrawing(Widget):
        kind = StringProperty("neutral")
        selected = BooleanProperty(False)
        face_color = ListProperty([1, 0.82, 0.25, 1])
        ink_color = ListProperty([0.05, 0.1, 0.17, 1])
        ring_color = ListProperty([1, 1, 1, 1])

        def __init__(self, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.bind(pos=self.redraw, size=self.redraw, kind=self.redraw, selected=self.redraw,
                      face_color=self.redraw, ink_color=self.redraw, ring_color=self.redraw)
            self.redraw()

        def redraw(self, *_: Any) -> None:
            self.canvas.clear()
            r = max(1.0, min(self.width, self.height) / 2 - dp(10))
            cx, cy = self.center
            g = geometry(self.kind, cx, cy, r)
            lw = max(2.0, r * 0.06)
            with self.canvas:
                if self.selected:
                    Color(*self.ring_color)
                    Line(circle=(cx, cy, r + dp(7)), width=dp(4))
                Color(*self.face_color)
                Ellipse(pos=(cx - r, cy - r), size=(2 * r, 2 * r))
                Color(*self.ink_color)
                Line(circle=(cx, cy, r), width=max(1.5, r * 0.03))
                for e in g.get("eyes", []):
                    Ellipse(pos=e[:2], size=e[2:])
                for arc in g.get("eye_arcs", []):
                    Line(bezier=arc, width=lw * 0.8, cap="round")
                for brow in g.get("brows", []):
                    Line(points=brow, width=lw * 0.8, cap="round")
                if g["mouth_open"]:
                    pts = bezier(g["mouth"])
                    verts = []
                    for i in range(0, len(pts), 2):
                        verts += [pts[i], pts[i + 1], 0, 0]
                    n = len(verts) // 4
                    Mesh(vertices=verts, indices=list(range(n)), mode="triangle_fan")
                    Line(points=pts + pts[:2], width=lw * 0.6, close=True)
                else:
                    Line(bezier=g["mouth"], width=lw, cap="round")

    class FaceButton(ButtonBehavior, BoxLayout):
        rating = NumericProperty(0)
        kind = StringProperty("neutral")
        text = StringProperty("")
        selected = BooleanProperty(False)

        def __init__(self, palette, font_size: float = sp(30), **kwargs: Any) -> None:
            kwargs.setdefault("orientation", "vertical")
            kwargs.setdefault("spacing", dp(8))
            kwargs.setdefault("padding", dp(6))
            super().__init__(**kwargs)
            self.drawing = FaceDrawing(kind=self.kind, face_color=palette.accent, ink_color=palette.accent_text,
                                       ring_color=palette.text)
            self.label = Label(text=self.text, font_size=font_size, color=palette.text, halign="center",
                               valign="top", size_hint_y=0.34)
            self.label.bind(size=lambda w, s: setattr(w, "text_size", (s[0], None)))
            self.add_widget(self.drawing)
            self.add_widget(self.label)
            self.bind(text=lambda *_: setattr(self.label, "text", self.text),
                      kind=lambda *_: setattr(self.drawing, "kind", self.kind),
                      selected=self._on_selected)

        def _on_selected(self, *_: Any) -> None:
            self.drawing.selected = self.selected
            self.label.bold = self.selected

    _CLS = FaceButton
    return _CLS
