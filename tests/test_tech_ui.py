"""The hidden technician screen in real windows under Xvfb (tests/ui_scenarios/tech_screens.py):
the kiosk and the display, each with the real hub on a real Mosquitto, opened with five simulated
taps in the top-left corner. Screenshots: test-output/screenshots/{kiosk,display}-technician.png.
"""
from __future__ import annotations

import pytest

from tests.support.kivy_driver import REPO, run_scenario

pytestmark = [pytest.mark.ui, pytest.mark.broker]
SHOTS = REPO / "test-output" / "screenshots"


def _shot(name: str) -> None:
    p = SHOTS / f"{name}.png"
    assert p.exists() and p.stat().st_size > 20_000, p  # a real picture, not an empty window


def test_kiosk_technician_screen(tmp_path, broker):
    run_scenario("tests.ui_scenarios.tech_screens:kiosk_technician", tmp_path, output_dir=SHOTS,
                 params={"broker_port": broker.port}, timeout=60)
    _shot("kiosk-technician")


def test_display_technician_screen(tmp_path, broker):
    # the display under Kivy's default clock, as in tests/test_display_ui.py
    run_scenario("tests.ui_scenarios.tech_screens:display_technician", tmp_path, output_dir=SHOTS,
                 params={"broker": broker.url}, timeout=60, env={"KIVY_CLOCK": "default"})
    _shot("display-technician")
