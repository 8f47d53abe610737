"""Text and targets on the kiosk at its physical size (issue 16): the panel's size comes from the
device configuration ([kiosk] screen_inches = 21.5 on a 1080x1920 window: 102.5 dpi); every
text a citizen reads has capitals (alef in Arabic) at least 4.5 mm tall, larger still with
"Larger text", and every button is at least 15 mm both ways and 2 mm from the next. Measured from the widget tree
of a real window: each label's font size (each [size=N] run of a markup label) and the ink
height of the script's reference glyph in the font that draws it."""
from __future__ import annotations

import pytest

from feedback_terminal.access import MIN_GAP_MM, rect_gap
from tests.support.kivy_driver import REPO, run_scenario
from uikit.theme import LARGE_TEXT_SCALE, MIN_CAP_MM, MIN_TARGET_MM

pytestmark = [pytest.mark.ui, pytest.mark.broker]


def test_every_text_and_target_at_the_panel_size(tmp_path, broker):
    r = run_scenario("tests.ui_scenarios.kiosk:text_sizes", tmp_path, output_dir=REPO / "test-output" / "screenshots",
                     params={"broker_port": broker.port}, timeout=200)
    sizes = r["sizes"]
    assert sizes["settings_dpi"] == pytest.approx(102.5, abs=0.1)  # hypot(1080, 1920) / 21.5
    assert sizes["dpi"] == pytest.approx(102.5, abs=0.1)  # what Kivy's mm() used
    small = []
    for name, m in sizes["screens"].items():
        assert m["texts"] and m["targets"], name
        floor = MIN_CAP_MM * (LARGE_TEXT_SCALE * 0.97 if name.endswith("large") else 1.0)
        small += [(name, text, mm) for text, mm in m["texts"] if mm < floor]
        small += [(name, pid, w, h) for pid, w, h, _ in m["targets"] if min(w, h) < MIN_TARGET_MM]
        # and at least 2 mm apart, so that a trembling finger does not hit the neighbour
        rects = [(pid, rect) for pid, _, _, rect in m["targets"]]
        small += [(name, a, b, round(rect_gap(ra, rb), 1)) for i, (a, ra) in enumerate(rects)
                  for b, rb in rects[i + 1:] if rect_gap(ra, rb) < MIN_GAP_MM]
    assert small == [], small
    assert len(sizes["screens"]) == 16  # 4 screens x 2 text sizes x en, ar
