"""Sizes in millimetres and outline contrast: what makes every touch target of the terminal usable.

Targets are sized from millimetres on the real screen, never from pixels: `px_per_mm` comes from
the [feedback] `dpi` setting (a screen that reports a wrong DPI) or from what the screen reports.
Every target is at least MIN_TARGET_MM both ways with at least MIN_GAP_MM to its neighbours, and
its edge (a fill or an outline) reaches MIN_OUTLINE_CONTRAST against the background (WCAG 1.4.11,
non-text contrast). Plain values and maths: the tests use the same functions on the widget tree.
"""
from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from uikit.theme import MIN_TARGET_MM, contrast

__all__ = ["MIN_TARGET_MM", "MIN_GAP_MM", "MIN_OUTLINE_CONTRAST", "TARGET_MM", "GAP_MM", "px_per_mm",
           "edge_contrast", "rect_gap", "contrast"]

#: The least distance between two touch targets.
MIN_GAP_MM = 2.0
#: The least contrast of a target's edge (fill or outline) against the background.
MIN_OUTLINE_CONTRAST = 3.0
#: What the terminal uses: a margin above the limits, for rounding to whole pixels.
TARGET_MM = 16.0
GAP_MM = 2.5
MM_PER_INCH = 25.4


def px_per_mm(dpi: float = 0.0) -> float:
    """Pixels per millimetre of the screen: from `dpi` when it is set (> 0), otherwise from the
    DPI the screen reports to Kivy."""
    if dpi > 0:
        return dpi / MM_PER_INCH
    from kivy.metrics import Metrics

    return float(Metrics.dpi) / MM_PER_INCH


def edge_contrast(background: tuple[float, ...], edges: Iterable[tuple[float, ...]]) -> float:
    """The best WCAG contrast of a target's edge colours (its fill, its outline) against the
    background it stands on; 1.0 when it has none."""
    return max((contrast(c, background) for c in edges), default=1.0)


def rect_gap(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> float:
    """The shortest distance between two rectangles (x, y, w, h); 0 when they touch or overlap."""
    dx = max(0.0, max(a[0], b[0]) - min(a[0] + a[2], b[0] + b[2]))
    dy = max(0.0, max(a[1], b[1]) - min(a[1] + a[3], b[1] + b[3]))
    return math.hypot(dx, dy)


def frame(widget: Any, rgba: tuple[float, ...], width: float) -> None:
    """Draw an outline of `width` px just inside the widget's edge (canvas.after), following it."""
    from kivy.graphics import Color, Line

    with widget.canvas.after:
        widget.pp_outline_color = Color(*rgba)
        line = Line(rectangle=(0, 0, 1, 1), width=width)

    def redraw(*_a: Any) -> None:
        h = width / 2
        line.rectangle = (widget.x + h, widget.y + h, max(0, widget.width - width), max(0, widget.height - width))

    widget.bind(pos=redraw, size=redraw)
    redraw()
