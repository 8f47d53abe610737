"""The feedback terminal's screen flow, on-screen keyboard logic and face shapes — without a window."""
from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from feedback_terminal.faces import SHAPES, geometry
from feedback_terminal.flow import COMMENT, FACE_KINDS, OUTCOME, SELF, START, THANKS, Flow, FlowSettings
from feedback_terminal.keyboard import LAYOUT_DIR, Key, KeyboardState, LayoutError, layouts_for, load_layout
from feedback_terminal.recorder import Response, new_response


def _flow(**kw) -> Flow:
    kw.setdefault("settle_s", 0.3)
    return Flow(FlowSettings(languages=("fi", "sv", "en"), **kw))


def _rate(f: Flow, rating: int, now: float, lang_tz="Europe/Helsinki") -> Response:
    assert f.begin_rating(rating, now)
    r = new_response(rating, f.settings.scale, f.lang, lang_tz, service=f.service)
    f.rating_stored(r, now)
    return r


def _answer(f: Flow, part: str, value: str, now: float) -> Response:
    snap = f.answer(part, value, now)
    assert snap is not None
    f.stored(snap, now)
    return snap


def test_rate_then_answer_everything():
    f = _flow()
    r = _rate(f, 4, 1.0)
    assert f.screen == OUTCOME and f.response is r
    assert f.step() == (1, 3)
    s2 = _answer(f, OUTCOME, "started", 2.0)
    assert f.screen == SELF and (s2.rev, s2.part, s2.outcome) == (2, "outcome", "started")
    s3 = _answer(f, SELF, "yes", 3.0)
    assert f.screen == COMMENT and s3.self_service == "yes" and s3.outcome == "started"
    f.set_draft("Hyvä palvelu")
    s4 = _answer(f, COMMENT, f.draft, 4.0)
    assert f.screen == THANKS and s4.comment == "Hyvä palvelu" and s4.rev == 4
    assert s4.id == r.id  # one response, four snapshots
    f.tick(4.0 + f.settings.thanks_s)
    assert f.screen == START and f.response is None


def test_skip_every_question_stores_nothing_more():
    f = _flow()
    _rate(f, 1, 1.0)
    for now, screen in ((2.0, SELF), (3.0, COMMENT), (4.0, THANKS)):
        assert f.skip(now)
        assert f.screen == screen
    assert f.response.rev == 1 and f.pending is None


def test_finish_ends_at_once_and_send_without_text_is_a_skip():
    f = _flow()
    _rate(f, 2, 1.0)
    assert f.finish(2.0) and f.screen == THANKS
    f.back_to_start(3.0)
    _rate(f, 3, 4.0)
    f.skip(5.0)
    f.skip(6.0)
    assert f.screen == COMMENT
    assert f.answer(COMMENT, "   ", 7.0) is None and f.screen == THANKS


def test_follow_ups_can_be_configured_and_keep_their_order():
    f = _flow(follow_ups=(COMMENT, OUTCOME))
    assert f.settings.follow_ups == (OUTCOME, COMMENT)
    _rate(f, 5, 1.0)
    assert f.screen == OUTCOME and f.step() == (1, 2)
    f.skip(2.0)
    assert f.screen == COMMENT and f.step() == (2, 2)
    g = _flow(follow_ups=())
    _rate(g, 5, 1.0)
    assert g.screen == THANKS


def test_nothing_moves_until_the_store_returns_and_double_taps_are_ignored():
    f = _flow()
    assert f.begin_rating(4, 1.0)
    assert not f.begin_rating(4, 1.05), "a second tap while the first is being written"
    assert f.screen == START and f.busy
    f.rating_stored(new_response(4, 5, "fi", "UTC"), 1.1)
    assert f.screen == OUTCOME
    assert f.answer(OUTCOME, "done", 1.2) is None, "taps right after the screen changed are ignored"
    snap = f.answer(OUTCOME, "done", 1.5)
    assert snap is not None and f.screen == OUTCOME
    assert f.answer(OUTCOME, "not_done", 1.9) is None and not f.skip(1.9) and not f.finish(1.9)
    f.stored(snap, 2.0)
    assert f.screen == SELF


def test_a_failed_write_confirms_nothing_and_lets_the_customer_try_again():
    f = _flow()
    assert f.begin_rating(3, 1.0)
    f.failed(1.1)
    assert f.screen == START and f.error and not f.busy and f.response is None
    assert f.begin_rating(3, 2.0) and not f.error
    f.rating_stored(new_response(3, 5, "fi", "UTC"), 2.1)
    snap = f.answer(OUTCOME, "done", 3.0)
    f.failed(3.1)
    assert f.screen == OUTCOME and f.error and f.response.rev == 1
    f.stored(snap, 3.2)  # a late success of a snapshot no longer pending changes nothing
    assert f.screen == OUTCOME


def test_idle_warns_then_resets_to_the_start_and_the_default_language():
    f = _flow(idle_s=20, warn_s=8)
    assert f.set_language("sv", 0.0)
    _rate(f, 2, 1.0)
    assert f.response.language == "sv"
    assert f.tick(12.0) is None and not f.warning
    assert f.tick(13.5) is None and f.warning
    f.touch(14.0)
    assert not f.warning and f.tick(30.0) is None
    assert f.tick(34.1) == "reset"
    assert f.screen == START and f.lang == "fi" and f.response is None and f.resets == 1


def test_idle_on_the_start_screen_only_undoes_a_language_or_attribution():
    f = _flow(idle_s=20, warn_s=8)
    assert f.tick(1000.0) is None and f.resets == 0  # an untouched start screen just waits
    f.set_language("en", 1000.0)
    f.attribute("kela", 1001.0)
    assert f.tick(1021.5) == "reset" and f.lang == "fi" and f.service is None


def test_a_button_press_in_the_middle_starts_a_new_response():
    f = _flow()
    first = _rate(f, 4, 1.0)
    _answer(f, OUTCOME, "done", 2.0)
    pressed = new_response(1, 5, f.lang, "UTC", input="button")
    f.rating_stored(pressed, 3.0)
    assert f.response is pressed and f.screen == OUTCOME and f.response.id != first.id
    f.rating_stored(new_response(2, 5, f.lang, "UTC", input="button"), 4.0, follow_up=False)
    assert f.screen == THANKS


def test_attribution_and_language_go_into_the_next_snapshot():
    f = _flow()
    _rate(f, 5, 1.0)
    f.attribute("kela", 1.5)
    f.set_language("en", 1.6)
    snap = _answer(f, OUTCOME, "done", 2.0)
    assert (snap.service, snap.language) == ("kela", "en")
    f.back_to_start(3.0)
    assert f.service is None and f.lang == "fi"


def test_comment_is_capped_while_typing():
    f = _flow(comment_max=10)
    _rate(f, 3, 1.0)
    f.skip(2.0)
    f.skip(3.0)
    f.set_draft("x" * 50)
    assert len(f.draft) == 10
    f.type_text("yyy")
    assert len(f.draft) == 10


@pytest.mark.parametrize("bad", [dict(scale=6), dict(default_language="de"), dict(follow_ups=("age",)),
                                 dict(idle_s=5, warn_s=5), dict(comment_max=0)])
def test_bad_flow_settings_are_refused(bad):
    with pytest.raises(ValueError):
        FlowSettings(languages=("fi", "sv", "en"), **bad)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["rate", "outcome", "self", "comment", "skip", "finish", "back",
                                           "lang", "tick", "fail"]),
                          st.integers(1, 5), st.floats(0.0, 40.0)), max_size=40))
def test_any_sequence_of_taps_keeps_the_flow_consistent(steps):
    """Random taps and timings: the flow never shows a follow-up without a stored rating, revs
    only grow, and every snapshot it asks to store belongs to the response on screen."""
    f = _flow()
    now = 0.0
    for action, n, dt in steps:
        now += dt
        if action == "rate":
            if f.begin_rating(n, now):
                f.rating_stored(new_response(n, 5, f.lang, "UTC"), now)
        elif action in ("outcome", "self", "comment"):
            part = {"outcome": OUTCOME, "self": SELF, "comment": COMMENT}[action]
            value = {"outcome": ["done", "started", "not_done"][n % 3], "self": ["yes", "no"][n % 2],
                     "comment": "ok" * n}[action]
            before = f.response
            snap = f.answer(part, value, now)
            if snap is not None:
                assert snap.id == before.id and snap.rev == before.rev + 1
                f.stored(snap, now)
        elif action == "skip":
            f.skip(now)
        elif action == "finish":
            f.finish(now)
        elif action == "back":
            f.back_to_start(now)
        elif action == "lang":
            f.set_language(["fi", "sv", "en"][n % 3], now)
        elif action == "tick":
            f.tick(now)
        elif action == "fail":
            if f.begin_rating(n, now):
                f.failed(now)
        if f.screen in (OUTCOME, SELF, COMMENT):
            assert f.response is not None
        assert not f.busy


# --- keyboard ------------------------------------------------------------------------------

def _key(state: KeyboardState, ident: str) -> Key:
    for row in state.rows():
        for k in row:
            if k.ident == ident:
                return k
    raise AssertionError(f"no key {ident!r} in {state.layout_name}/{state.mode}")


def test_finnish_swedish_layout_has_a_o_and_aa_and_their_capitals():
    s = KeyboardState()
    for ch in "äöå":
        s.press(_key(s, ch))
    s.press(_key(s, "shift"))
    s.press(_key(s, "Ä"))
    assert s.mode == "normal", "shift is for one letter"
    s.press(_key(s, "shift"))
    s.press(_key(s, "Ö"))
    s.press(_key(s, "shift"))
    s.press(_key(s, "Å"))
    s.press(_key(s, "spacebar"))
    s.press(_key(s, "backspace"))
    assert s.text == "äöåÄÖÅ"


def test_special_layer_layout_switch_and_cap():
    s = KeyboardState(layouts=layouts_for("fi"), max_len=3)
    s.press(_key(s, "special"))
    s.press(_key(s, "@"))
    s.press(_key(s, "special"))
    assert s.mode == "normal"
    s.press(_key(s, "layout"))
    assert s.layout_name == "ru"
    s.press(_key(s, "ж"))
    s.press(_key(s, "layout"))
    assert s.layout_name == "uk"
    s.press(_key(s, "ї"))
    assert not s.press(_key(s, "є")), "capped at max_len"
    assert s.text == "@жї"
    assert layouts_for("uk")[0] == "uk" and layouts_for("sv")[0] == "fi_sv"


@pytest.mark.parametrize("path", sorted(LAYOUT_DIR.glob("*.json")), ids=lambda p: p.stem)
def test_layouts_are_vkeyboard_json_with_full_rows(path):
    lay = load_layout(path)
    assert {"title", "description", "cols", "rows"} <= set(lay)
    for mode in ("normal", "shift", "special"):
        for r in range(1, lay["rows"] + 1):
            row = lay[f"{mode}_{r}"]
            assert sum(k[3] for k in row) == lay["cols"], f"{mode}_{r}"
    letters = {k[1] for r in range(1, lay["rows"] + 1) for k in lay[f"normal_{r}"] if k[1]}
    if path.stem == "fi_sv":
        assert {"ä", "ö", "å"} <= letters
    shifted = {k[1] for r in range(1, lay["rows"] + 1) for k in lay[f"shift_{r}"] if k[1]}
    assert {c.upper() for c in letters if c.isalpha()} <= shifted


def test_a_broken_layout_is_refused(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"rows": 1, "normal_1": [["a", "a", "a", 1]]}))
    with pytest.raises(LayoutError):
        load_layout(bad)


# --- faces ---------------------------------------------------------------------------------

def test_every_face_has_its_own_shape():
    """Meaning never by colour alone: mouth curve, open mouth, eyes and brows differ."""
    shapes = {}
    for kind in SHAPES:
        g = geometry(kind, 0, 0, 100)
        mouth_corner_y = g["mouth"][1]
        sag = mouth_corner_y - g["mouth_mid_y"]  # > 0 smile, < 0 frown
        shapes[kind] = (round(sag, 1), g["mouth_open"], "eye_arcs" in g, "brows" in g)
    assert len(set(shapes.values())) == len(SHAPES)
    order = ["very_dissatisfied", "dissatisfied", "neutral", "satisfied", "very_satisfied"]
    sags = [shapes[k][0] for k in order]
    assert sags == sorted(sags) and sags[0] < 0 and sags[2] == 0 and sags[-1] > 0
    for scale, kinds in FACE_KINDS.items():
        assert len(kinds) == scale and all(k in SHAPES for k in kinds)
