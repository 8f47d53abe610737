"""A screen for a right-to-left language, mirrored as a whole: not only its letters.

Arabic, Persian and Sorani readers start at the right: the first of a row of buttons, a
button's icon, the start of a paragraph and the "back" arrow all belong on the right
(LIBRARY-NOTES: mirror the layout, not only the letters). Screens are built left to right
once; `mirror` turns a finished widget tree around in place, before its first layout, so each
screen needs no second version:

  - a horizontal BoxLayout takes its children in the reverse order (and its padding mirrored);
  - a GridLayout fills its rows from the right;
  - a Label aligned "left" is aligned "right" and the other way round (centred stays centred);
  - a widget with a `mirror_self()` method (a drawn arrow) turns itself.

What must not turn (a number, a QR code) has nothing here to turn: digits keep their order in
a right-to-left line (Unicode's bidi rules, applied by uikit.textrender). A numeric keypad keeps
1 2 3 from the left, as on every phone in those languages: a widget with `keep_ltr = True` is
left as it is, with everything inside it.
"""
from __future__ import annotations

from typing import Any

_HALIGN = {"left": "right", "right": "left"}
_GRID = {"lr-tb": "rl-tb", "rl-tb": "lr-tb", "lr-bt": "rl-bt", "rl-bt": "lr-bt"}


def mirror(root: Any) -> Any:
    """Mirror `root` and everything under it in place; returns `root`."""
    from kivy.uix.boxlayout import BoxLayout
    from kivy.uix.gridlayout import GridLayout
    from kivy.uix.label import Label

    def turn(w: Any) -> None:
        if getattr(w, "keep_ltr", False):
            return
        for k in list(w.children):
            turn(k)
        if isinstance(w, BoxLayout) and w.orientation == "horizontal":
            kids = list(w.children)  # Kivy keeps them last-added first
            w.clear_widgets()
            for k in kids:
                w.add_widget(k)
            left, top, right, bottom = w.padding
            w.padding = [right, top, left, bottom]
        elif isinstance(w, GridLayout):
            w.orientation = _GRID.get(w.orientation, w.orientation)
        if isinstance(w, Label):
            w.halign = _HALIGN.get(w.halign, w.halign)
        own = getattr(w, "mirror_self", None)
        if callable(own):
            own()

    turn(root)
    return root
