"""The hidden technician screen in real windows under Xvfb (tests/ui_scenarios/tech_screens.py):
the kiosk and the display, each with the real hub on a real Mosquitto, opened with five simulated
taps in the top-left corner. Each test writes its screenshots into its own directory and checks
the ones this run wrote, never a file an earlier run left."""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.kivy_driver import run_scenario

pytestmark = [pytest.mark.ui, pytest.mark.broker]


def _shot(result: dict, shots: Path, name: str) -> None:
    p = shots / f"{name}.png"
    assert str(p) in result["screenshots"], result["screenshots"]
    assert p.stat().st_size > 20_000, p  # a real picture, not an empty window


def test_kiosk_technician_screen(tmp_path, broker):
    shots = tmp_path / "shots"
    result = run_scenario("tests.ui_scenarios.tech_screens:kiosk_technician", tmp_path, output_dir=shots,
                          params={"broker_port": broker.port}, timeout=60)
    _shot(result, shots, "kiosk-technician")


def test_display_technician_screen(tmp_path, broker):
    shots = tmp_path / "shots"
    # the display under Kivy's default clock, as in tests/test_display_ui.py
    result = run_scenario("tests.ui_scenarios.tech_screens:display_technician", tmp_path, output_dir=shots,
                          params={"broker": broker.url}, timeout=60, env={"KIVY_CLOCK": "default"})
    _shot(result, shots, "display-technician")


def test_display_technician_screen_without_the_doctor_handed_in(tmp_path, broker):
    shots = tmp_path / "shots"
    result = run_scenario("tests.ui_scenarios.tech_screens:display_without_doctor", tmp_path, output_dir=shots,
                          params={"broker": broker.url}, timeout=60, env={"KIVY_CLOCK": "default"})
    _shot(result, shots, "display-technician-without-doctor")
