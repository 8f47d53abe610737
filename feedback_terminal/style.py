"""Colours and symbols of the feedback screens that are not in uikit.theme's palettes.

Plain values (no Kivy), so that the tests check their contrast without a window.
"""
from __future__ import annotations

from uikit.theme import hex_rgba

#: The comment box is white like paper; typed text and the placeholder both reach 7:1 on it.
COMMENT_BG = hex_rgba("#FFFFFF")
COMMENT_TEXT = hex_rgba("#0E1A2B")
COMMENT_PLACEHOLDER = hex_rgba("#404854")

#: Kivy's bundled DejaVu Sans has ✓ ✔ ✘ ◑ ⌫ ⇧ ⇄ ▏, which Roboto (the default font) lacks.
SYMBOL_FONT = "data/fonts/DejaVuSans.ttf"
CHECK = "\u2713"
CURSOR = "\u258f"
#: A shape for each answer besides its words (for people who read little or another language).
ICONS = {"done": "\u2714", "started": "\u25d1", "not_done": "\u2718", "yes": "\u2714", "no": "\u2718"}
