"""The kiosk without touch (issue 16; EN 301 549 5.1.3, 5.2, 5.5.2): what each key means, the
order in which the keys visit the controls, and the kiosk driven by key events only, in a real
window, from the start screen to a printed ticket and to a booking check-in with speech on."""
from __future__ import annotations

import pytest

from core.i18n import translator
from kiosk import flow as F
from kiosk import keys as K
from kiosk import texts as T
from tests.support.kivy_driver import REPO, run_scenario


def cmd(key, char=None, mods=(), typing=False):
    c = K.key_command(key, char, mods, typing)
    return None if c is None else (c.name, c.char) if c.char else c.name


def test_the_keys_of_a_keyboard_and_a_numeric_keypad():
    assert cmd(K.DOWN) == cmd(K.RIGHT) == cmd(K.TAB) == cmd(K.KP[2], "2") == cmd(K.KP[6]) == K.NEXT
    assert cmd(K.UP) == cmd(K.LEFT) == cmd(K.TAB, mods=("shift",)) == cmd(K.KP[8]) == cmd(K.KP[4]) == K.PREV
    assert cmd(K.ENTER) == cmd(K.KP_ENTER) == cmd(K.SPACE, " ") == cmd(K.KP[5], "5") == K.SELECT
    assert cmd(K.ESCAPE) == cmd(K.BACKSPACE) == cmd(K.KP_DIVIDE, "/") == K.BACK
    assert cmd(K.KP_MULTIPLY, "*") == K.REPEAT
    # what a barcode reader types inside a code or a URL means nothing outside the code screen
    assert cmd(56, "*") is None and cmd(45, "-") is None and cmd(43, "+") is None and cmd(ord("7"), "7") is None
    assert cmd(K.KP_PLUS, "+") == K.LOUDER and cmd(K.KP_MINUS, "-") == K.QUIETER
    assert cmd(ord("a"), "a") is None  # a letter means nothing outside the code screen


def test_on_the_code_screen_digits_and_letters_type_and_backspace_deletes():
    assert cmd(K.KP[2], "2", typing=True) == (K.TYPE, "2")  # a keypad types, it does not move
    assert cmd(ord("b"), "b", typing=True) == (K.TYPE, "B")  # codes may have letters
    assert cmd(K.BACKSPACE, typing=True) == K.DELETE
    assert cmd(K.DOWN, typing=True) == K.NEXT and cmd(K.ESCAPE, typing=True) == K.BACK
    assert cmd(K.SPACE, " ", typing=True) is None


def test_reading_order_rows_from_the_top_then_the_reading_direction():
    # (id, x, top, height): two rows of two, a lone button below (Kivy's y grows upwards).
    t = [("b", 500, 900, 100), ("a", 0, 905, 100), ("d", 500, 700, 100), ("c", 0, 700, 100), ("e", 0, 500, 80)]
    assert K.reading_order(t, rtl=False) == ["a", "b", "c", "d", "e"]
    assert K.reading_order(t, rtl=True) == ["b", "a", "d", "c", "e"]
    assert K.move(["a", "b"], None, 1) == "a" and K.move(["a", "b"], None, -1) == "b"
    assert K.move(["a", "b"], "b", 1) == "a" and K.move(["a", "b"], "gone", 1) == "a"
    assert K.move([], None, 1) is None


def test_a_control_is_described_with_its_state():
    tr = translator("en", "kiosk")
    assert T.describe_control(tr, "Larger text", "", True, True) == "Larger text, selected"
    assert T.describe_control(tr, "Kela", "Benefits", False, False) == "Kela, Benefits, not available"


def test_a_booking_code_typed_at_any_speed(example_site):
    from kiosk.settings import parse_kiosk

    f = F.Flow(example_site, parse_kiosk({}), "kiosk-1", settle_s=0, now=0.0)
    f.have_appointment(1.0)
    for i, ch in enumerate("ab12"):
        f.key(ch, 10.0 + 30 * i)  # thirty seconds between keys: nothing is lost
    assert f.c.code == "AB12" and f.can_check_in()


@pytest.mark.ui
@pytest.mark.broker
def test_keys_only_to_a_ticket_and_a_check_in_with_speech(tmp_path, broker):
    player = tmp_path / "player"
    player.write_text("#!/bin/sh\nexit 0\n")
    player.chmod(0o755)
    r = run_scenario("tests.ui_scenarios.kiosk:keys_only", tmp_path, output_dir=REPO / "test-output" / "screenshots",
                     params={"broker_port": broker.port, "player": [str(player)]}, timeout=150)
    tr = translator("fi", "kiosk")
    spoken = r["spoken"]
    # The first key said how the keys work, then the start screen was read.
    assert r["first"][0] == T.key_help(tr)
    # Every element of the screen, in the order it is shown (the language buttons excepted).
    from core.config import load_site
    from tests.support.sites import EXAMPLE_SITE

    screen = r["first"][1]
    shown = [load_site(EXAMPLE_SITE).name["fi"], tr("Welcome"), tr("Take a number"), tr("I have an appointment"),
             tr("I need help"), tr("Language"), tr("Easier to see and use"), tr("Larger text"),
             tr("Stronger contrast"), tr("Buttons lower down"), tr("Read aloud")]
    at_ = [screen.find(x) for x in shown]
    assert -1 not in at_ and at_ == sorted(at_), (screen, at_)
    assert "Svenska" not in screen and "English" not in screen

    def at(pred, after: int, what: str) -> int:
        for i in range(after + 1, len(spoken)):
            if pred(spoken[i]):
                return i
        raise AssertionError(f"not said after #{after}: {what}\n" + "\n".join(spoken))

    i = at(lambda t: t.startswith(tr("Take a number")), 0, "the focused 'Take a number'")
    i = at(lambda t: t.startswith("Kela"), i, "the focused Kela")
    i = at(lambda t: t.startswith(tr("Hearing loop")), i, "the focused hearing loop")
    i = at(lambda t: t.startswith(tr("Get my number")), i, "the focused 'Get my number'")
    your = tr("Your number is {number}.").split("{")[0]
    i = at(lambda t: t.startswith(your), i, "the ticket")
    i = at(lambda t: t.startswith(your), i, "the ticket repeated (star)")
    i = at(lambda t: t.startswith(tr("I have an appointment")), i, "the focused 'I have an appointment'")
    at(lambda t: t.startswith(your), i, "the checked-in booking's number")
    # The printout's state is said, on entering the screen or when it changes there.
    assert any(T.print_text(tr, "printed") in t for t in spoken), spoken
    events = r["events"]
    assert [e["kind"] for e in events] == ["walk_in", "appointment"], events
    assert events[0]["needs"]["hearing_loop"] is True and events[0]["service"] == "kela"
    assert r["volume"] == 120
