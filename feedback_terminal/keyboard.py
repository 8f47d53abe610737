"""On-screen keyboard for the comment: Finnish/Swedish letters (ä ö å), and Russian and
Ukrainian ones, for one finger.

Layouts are JSON in Kivy's VKeyboard format (assets/keyboards/*.json: "normal_<row>",
"shift_<row>", "special_<row>" lists of [label, text, keycode, width]), so Kivy's own VKeyboard
can load them too. The widget here is not VKeyboard, on purpose: VKeyboard's shift and "special"
keys only work while held down (it expects two fingers), its keys repeat when held, and its
look comes from fixed images. Here shift is sticky for one letter, "?123" toggles, nothing
repeats, and the keys are ordinary high-contrast buttons of at least 15 mm.

`KeyboardState` is the pure part (what a key does to the text); `OnScreenKeyboard` draws it.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core import resources

from .style import SYMBOL_FONT

LAYOUT_DIR = resources.asset("keyboards")
MODES = ("normal", "shift", "special")
#: The layout a language starts with; the ⇄ key cycles through the others.
LANG_LAYOUT = {"ru": "ru", "uk": "uk"}
LAYOUT_ORDER = ("fi_sv", "ru", "uk")


class LayoutError(ValueError):
    pass


def load_layout(name_or_path: str | Path) -> dict[str, Any]:
    """A layout by name ("fi_sv") or path, checked: every row of every mode is a list of
    [label, text|null, keycode|null, width] and the rows of a mode have equal widths."""
    path = Path(name_or_path)
    if path.suffix != ".json":
        path = LAYOUT_DIR / f"{name_or_path}.json"
    try:
        layout = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise LayoutError(f"{path}: cannot read the keyboard layout: {exc}") from None
    rows = layout.get("rows")
    if not isinstance(rows, int) or rows < 1:
        raise LayoutError(f"{path}: 'rows' must be a positive integer")
    for mode in MODES:
        for r in range(1, rows + 1):
            row = layout.get(f"{mode}_{r}")
            if not isinstance(row, list) or not row:
                raise LayoutError(f"{path}: missing row {mode}_{r}")
            for key in row:
                if (not isinstance(key, list) or len(key) != 4 or not isinstance(key[0], str)
                        or not (key[1] is None or isinstance(key[1], str))
                        or not isinstance(key[3], (int, float)) or key[3] <= 0):
                    raise LayoutError(f"{path}: bad key {key!r} in {mode}_{r}")
    return layout


@dataclass(frozen=True)
class Key:
    label: str
    text: str | None
    code: str | None
    width: float

    @property
    def ident(self) -> str:
        """Stable name for tests and logs: the text typed, or the special key's name."""
        if self.code in ("backspace", "shift", "special", "layout", "capslock", "enter", "spacebar", "escape", "tab"):
            return self.code
        return self.text or self.code or self.label


@dataclass
class KeyboardState:
    """What the keys do. Shift is one-shot (the next letter only); "?123" switches layers."""

    layouts: tuple[str, ...] = ("fi_sv",)
    max_len: int = 500
    text: str = ""
    layout_index: int = 0
    shift: bool = False
    special: bool = False
    _cache: dict[str, dict[str, Any]] = field(default_factory=dict, repr=False)

    @property
    def layout_name(self) -> str:
        return self.layouts[self.layout_index]

    def layout(self, name: str | None = None) -> dict[str, Any]:
        name = name or self.layout_name
        if name not in self._cache:
            self._cache[name] = load_layout(name)
        return self._cache[name]

    @property
    def mode(self) -> str:
        return "special" if self.special else ("shift" if self.shift else "normal")

    def rows(self) -> list[list[Key]]:
        lay = self.layout()
        return [[Key(*k) for k in lay[f"{self.mode}_{r}"]] for r in range(1, lay["rows"] + 1)]

    def next_layout_short(self) -> str:
        if len(self.layouts) < 2:
            return ""
        nxt = self.layouts[(self.layout_index + 1) % len(self.layouts)]
        return self.layout(nxt).get("short", nxt)

    def press(self, key: Key) -> bool:
        """Apply one key. Returns True if the text changed."""
        code = key.code
        if code == "backspace":
            if self.text:
                self.text = self.text[:-1]
                return True
            return False
        if code == "shift":
            self.shift = not self.shift
            self.special = False
            return False
        if code == "special":
            self.special = not self.special
            self.shift = False
            return False
        if code == "layout":
            if len(self.layouts) > 1:
                self.layout_index = (self.layout_index + 1) % len(self.layouts)
                self.shift = self.special = False
            return False
        if code in ("enter", "escape", "tab", "capslock"):
            return False
        ch = key.text
        if not ch or len(self.text) + len(ch) > self.max_len:
            return False
        self.text += ch
        if self.shift:
            self.shift = False
        return True

    def reset(self, layouts: tuple[str, ...] | None = None) -> None:
        self.text = ""
        self.shift = self.special = False
        self.layout_index = 0
        if layouts:
            self.layouts = layouts


def layouts_for(lang: str) -> tuple[str, ...]:
    first = LANG_LAYOUT.get(lang, "fi_sv")
    return (first,) + tuple(x for x in LAYOUT_ORDER if x != first)


# --- the Kivy widget ----------------------------------------------------------------------

def make_keyboard_widget(**kwargs):
    """Imported lazily so that the pure part needs no Kivy."""
    return _widget_class()(**kwargs)


_CLS = None


def _widget_class():
    global _CLS
    if _CLS is not None:
        return _CLS
    from kivy.metrics import dp, sp
    from kivy.properties import NumericProperty, ObjectProperty, StringProperty
    from kivy.uix.boxlayout import BoxLayout
    from kivy.uix.button import Button

    from .access import frame

    class OnScreenKeyboard(BoxLayout):
        """Rows of buttons from a KeyboardState. Dispatches `on_text` after each change."""

        palette = ObjectProperty(None)
        font_size = NumericProperty(sp(32))
        space_label = StringProperty("")
        __events__ = ("on_text",)

        def __init__(self, state: KeyboardState, palette, gap: float | None = None, outline=None,
                     outline_w: float = 2.0, **kwargs) -> None:
            self.gap = dp(6) if gap is None else gap
            self.outline, self.outline_w = outline, outline_w
            kwargs.setdefault("orientation", "vertical")
            kwargs.setdefault("spacing", self.gap)
            super().__init__(**kwargs)
            self.state = state
            self.palette = palette
            self.keys: dict[str, Button] = {}
            self.rebuild()

        def on_text(self, text: str) -> None:
            pass

        def on_space_label(self, *_: Any) -> None:
            if hasattr(self, "state"):
                self.rebuild()

        def rebuild(self) -> None:
            """Show the state's keys. When the rows keep their shape (normal ↔ shift) the
            buttons are reused and only relabelled; otherwise they are made anew."""
            rows = self.state.rows()
            shape = [[k.width for k in row] for row in rows]
            if shape != getattr(self, "_shape", None):
                self.clear_widgets()
                self._buttons = []
                for row in rows:
                    box = BoxLayout(orientation="horizontal", spacing=self.gap)
                    total = sum(k.width for k in row)
                    line = []
                    for key in row:
                        b = Button(font_size=self.font_size, size_hint_x=key.width / total,
                                   background_normal="", background_down="")
                        b.bind(on_release=self._on_key)
                        if self.outline is not None:
                            frame(b, self.outline, self.outline_w)
                        box.add_widget(b)
                        line.append(b)
                    self._buttons.append(line)
                    self.add_widget(box)
                self._shape = shape
            self.keys = {}
            p = self.palette
            for row, line in zip(rows, self._buttons):
                for key, b in zip(row, line):
                    label = key.label
                    if key.code == "spacebar":
                        label = self.space_label
                    elif key.code == "layout":
                        label = self.state.next_layout_short()
                    active = (key.code == "shift" and self.state.shift) or (key.code == "special" and self.state.special)
                    b.text = label
                    b.font_name = SYMBOL_FONT if key.code in ("backspace", "shift", "layout") else "Roboto"
                    b.background_color = p.accent if active else p.button
                    b.color = p.accent_text if active else p.button_text
                    b.bold = active
                    b.pp_id = f"key-{key.ident}"
                    b.pp_key = key
                    hidden = key.code == "layout" and len(self.state.layouts) < 2
                    b.disabled, b.opacity = hidden, 0 if hidden else 1
                    self.keys[key.ident] = b

        def _on_key(self, button) -> None:
            key: Key = button.pp_key
            mode_before = (self.state.mode, self.state.layout_index)
            changed = self.state.press(key)
            if (self.state.mode, self.state.layout_index) != mode_before:
                self.rebuild()
            if changed:
                self.dispatch("on_text", self.state.text)

        def set_state(self, state: KeyboardState) -> None:
            self.state = state
            self.rebuild()

    _CLS = OnScreenKeyboard
    return _CLS
