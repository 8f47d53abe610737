"""`make demo` headless for a short simulated period: the whole service point on one machine.

Runs the real command (brokers with passwords and ACLs, hub, ingest, sync agents, every app on
its own Xvfb, emulated printer, simulated crowd) and checks its summary: no ticket lost, every
event of every device in the central database, a screenshot of every window; with --history, the
web service's pages (a year of five sites behind them) as screenshots, and one customer's phone
page while waiting and once called.
"""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.slow
@pytest.mark.skipif(not shutil.which("Xvfb"), reason="Xvfb is not installed (make install installs it)")
def test_demo_runs_a_whole_service_point_headless(tmp_path):
    out = tmp_path / "demo"
    env = {k: v for k, v in os.environ.items() if k != "DISPLAY"}
    proc = subprocess.run([sys.executable, "-m", "cli", "demo", "--headless", "--duration", "35", "--speed", "150",
                           "--output", str(out), "--history"], cwd=REPO, env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    s = json.loads((out / "summary.json").read_text())
    assert s["tickets"] > 5, s
    assert s["calls"] > 0 and s["ticket_states"].get("finished", 0) > 0, s
    assert s["tickets_neither_called_nor_waiting"] == [], s
    assert s["all_events_central"] is True, s["devices"]
    for dev, d in s["devices"].items():
        assert d["events"] == d["acked"] == d["central"], (dev, d)
    assert s["devices"]["hub-1"]["events"] > s["tickets"]
    assert s["dead_letters"] == 0
    assert set(s["windows"]) == {"kiosk-1", "display-1", "counter-1", "feedback-1"}
    for w in s["windows"]:
        shot = out / "screenshots" / f"{w}.png"
        assert shot.exists() and shot.stat().st_size > 5000, w
    assert s["feedback"] > 0 and s["devices"]["feedback-1"]["central"] >= s["feedback"]
    assert "Summary" in proc.stdout
    # The web service: a login per role printed, and its pages as their users see them.
    assert "Reports and fleet view: http://127.0.0.1:" in proc.stdout and "technician" in proc.stdout
    assert sorted(s["web_screenshots"]) == ["web-fleet.png", "web-national-report.png", "web-site-report.png"]
    for name in s["web_screenshots"]:
        assert (out / "screenshots" / name).stat().st_size > 20_000, name
    # One customer's phone page (the ticket's QR code leads to the demo's web service, through the
    # site broker's bridge): while waiting, and once called.
    assert s["phone_screenshots"] == ["phone-waiting.png", "phone-called.png"], s.get("phone_screenshots")
    for name in s["phone_screenshots"]:
        assert (out / "screenshots" / name).stat().st_size > 5_000, name
