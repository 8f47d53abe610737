"""The test driver itself: it opens a real Kivy window, taps it and takes a screenshot."""
from pathlib import Path

import pytest

from tests.support.kivy_driver import run_scenario

pytestmark = pytest.mark.ui


def test_driver_taps_a_real_window_and_takes_a_screenshot(tmp_path):
    result = run_scenario("tests.ui_scenarios.smoke:tap_button", tmp_path, output_dir=tmp_path / "shots")
    shot = Path(result["screenshots"][0])
    assert shot.exists() and shot.stat().st_size > 1000
