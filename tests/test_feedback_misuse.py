"""Misuse detection: flags for presses that come too fast or in bursts; nothing is dropped."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from feedback_terminal.misuse import BURST, INTERVAL, MisuseGuard


def judge(guard: MisuseGuard, times: list[float]) -> list[tuple[float, list[str]]]:
    """What the feedback app does: check each press and store it with its flags."""
    return [(t, guard.check(t)) for t in times]


def test_presses_far_apart_are_clean():
    assert judge(MisuseGuard(), [0, 5, 10, 60, 65]) == [(0, []), (5, []), (10, []), (60, []), (65, [])]


def test_interval_flag_counts_from_the_previous_press_even_if_flagged():
    stored = judge(MisuseGuard(min_interval_s=5), [0, 3, 7, 12.5])
    # 3 is too soon after 0; 7 is too soon after 3 (flagged presses count); 12.5 is clean
    assert stored == [(0, []), (3, [INTERVAL]), (7, [INTERVAL]), (12.5, [])]


def test_burst_flag_and_flagged_presses_are_returned_for_storage():
    guard = MisuseGuard(min_interval_s=0, burst_count=6, burst_window_s=20)
    times = [0, 1, 2, 3, 4, 5, 6, 7]
    stored = judge(guard, times)
    assert [t for t, _ in stored] == times  # every press is kept
    assert [flags for _, flags in stored] == [[]] * 6 + [[BURST]] * 2
    # the window slides: at 25.5 only 6 and 7 are within the last 20 s
    assert guard.check(25.5) == []


def test_button_masher_gets_both_flags():
    stored = judge(MisuseGuard(), [i * 0.5 for i in range(8)])
    assert stored[0][1] == []
    assert all(INTERVAL in flags for _, flags in stored[1:])
    assert [BURST in flags for _, flags in stored] == [False] * 6 + [True] * 2


def test_clock_going_backwards_does_not_flag_forever():
    guard = MisuseGuard(min_interval_s=5, burst_count=3, burst_window_s=20)
    judge(guard, [1000, 1001, 1002, 1003])
    assert guard.check(10) == []  # stepped back an age: judged as a first press
    assert guard.check(16) == []
    assert guard.check(17) == [INTERVAL]


def test_bad_parameters():
    with pytest.raises(ValueError):
        MisuseGuard(burst_count=0)
    with pytest.raises(ValueError):
        MisuseGuard(burst_window_s=0)


@given(st.lists(st.floats(-1e6, 1e6, allow_nan=False), max_size=50))
def test_any_times_give_known_flags_and_never_crash(times):
    guard = MisuseGuard()
    for t in times:
        assert set(guard.check(t)) <= {INTERVAL, BURST}


@given(st.lists(st.floats(5.001, 100), max_size=40))
def test_presses_at_least_min_interval_apart_are_clean(gaps):
    guard, t = MisuseGuard(), 0.0
    for gap in gaps:
        t += gap
        assert guard.check(t) == []
