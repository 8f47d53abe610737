"""The kiosk without touch: what a key means, and the order in which the screen's controls are
visited (EN 301 549 5.1.3, 5.2 and 5.5.2: a closed device must be usable without sight).

Any keyboard works: a USB numeric keypad, a tactile key set that presents itself as a keyboard
(the usual kind), a full keyboard. SDL2 reads every keyboard the system has, so keys reach the
kiosk through Kivy's window like a barcode reader's do; no evdev device of its own is opened.

    arrows, Tab / Shift+Tab, keypad 2 4 6 8   next and previous control
    Enter, Space, keypad 5                    choose the control ("select")
    Escape, Backspace, keypad /               back (Backspace deletes a digit of a booking code)
    keypad *                                  repeat what was said last
    keypad + and -                            louder, quieter
The first of these pressed while speech is off turns it on and says how the keys work: a blind
person has no way to find the on-screen "Read aloud" button. On the booking-code screen digits
and letters type the code, at any speed (a keypad is not a barcode reader), and the keypad's
digit keys type rather than move.
Pure: no Kivy here; the app turns Kivy's key events into `key_command` calls.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

NEXT, PREV, SELECT, BACK, REPEAT, LOUDER, QUIETER, TYPE, DELETE = (
    "next", "prev", "select", "back", "repeat", "louder", "quieter", "type", "delete")
#: The commands that turn speech on when it is off (and then do nothing else).
NAVIGATION = frozenset({NEXT, PREV, SELECT, BACK, REPEAT, LOUDER, QUIETER})

# Kivy's key codes (SDL2 keysyms folded by Kivy).
TAB, ENTER, KP_ENTER, ESCAPE, BACKSPACE, SPACE = 9, 13, 271, 27, 8, 32
UP, DOWN, RIGHT, LEFT = 273, 274, 275, 276
KP = {n: 256 + n for n in range(10)}          # keypad 0..9
KP_DIVIDE, KP_MULTIPLY, KP_MINUS, KP_PLUS = 267, 268, 269, 270

_KEYPAD_MOVES = {KP[2]: NEXT, KP[6]: NEXT, KP[8]: PREV, KP[4]: PREV, KP[5]: SELECT}
_KEYS = {DOWN: NEXT, RIGHT: NEXT, UP: PREV, LEFT: PREV, ENTER: SELECT, KP_ENTER: SELECT, SPACE: SELECT,
         ESCAPE: BACK, KP_DIVIDE: BACK, KP_MULTIPLY: REPEAT, KP_PLUS: LOUDER, KP_MINUS: QUIETER}


@dataclass(frozen=True)
class Command:
    name: str
    char: str = ""  # the character typed (TYPE)


def key_command(key: int, codepoint: str | None, modifiers: Sequence[str], typing_code: bool) -> Command | None:
    """What a key press means. `typing_code`: the booking-code screen is showing (digits and
    letters type, Backspace deletes, Space does not select). None: not a kiosk key."""
    ch = codepoint or ""
    if typing_code:
        if len(ch) == 1 and ch.isascii() and ch.isalnum():
            return Command(TYPE, ch.upper())
        if key == BACKSPACE:
            return Command(DELETE)
    if key == TAB:
        return Command(PREV if "shift" in modifiers else NEXT)
    if key == BACKSPACE:
        return Command(BACK)
    if key in _KEYPAD_MOVES and not (typing_code and ch.isdigit()):
        return Command(_KEYPAD_MOVES[key])
    if key in _KEYS and not (typing_code and key == SPACE):
        return Command(_KEYS[key])
    # "*", "+" and "-" typed on the main keys mean nothing: a barcode reader types them inside
    # codes and URLs (only the keypad's keys repeat and change the volume).
    return None


def reading_order(targets: Sequence[tuple[str, float, float, float]], rtl: bool) -> list[str]:
    """Ids of (id, x, top, height) controls in the order a reader meets them: rows from the top
    (controls whose vertical middles are within half a height of each other share a row), each
    row from the left, or from the right for a right-to-left language."""
    rows: list[list[tuple[str, float, float, float]]] = []
    for t in sorted(targets, key=lambda t: -(t[2] - t[3] / 2)):
        mid = t[2] - t[3] / 2
        if rows and abs((rows[-1][0][2] - rows[-1][0][3] / 2) - mid) <= rows[-1][0][3] / 2:
            rows[-1].append(t)
        else:
            rows.append([t])
    out: list[str] = []
    for row in rows:
        out += [t[0] for t in sorted(row, key=lambda t: -t[1] if rtl else t[1])]
    return out


def move(order: Sequence[str], current: str | None, step: int) -> str | None:
    """The next (step 1) or previous (-1) id after `current`, wrapping round; the first (or the
    last) when nothing or something gone is focused."""
    if not order:
        return None
    if current not in order:
        return order[0] if step > 0 else order[-1]
    return order[(order.index(current) + step) % len(order)]
