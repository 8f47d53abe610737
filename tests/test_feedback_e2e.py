"""The feedback terminal end to end: what the screen confirmed survives a SIGKILL; feedback given
by touches reaches the central database through the real broker and the sync agent.

Both run the real app in its own process under the test run's X server (tests/ui_scenarios/feedback.py).
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from feedback_terminal.recorder import EVENT_TYPE, latest_responses
from tests.support.kivy_driver import REPO

SITE_TOML = REPO / "assets" / "sites" / "example.toml"


def _need_display() -> None:
    if not os.environ.get("DISPLAY"):
        pytest.skip("no X display: run the UI tests under Xvfb (make test does)")


def _open_store(data_dir: Path):
    from core.store import EventStore

    return EventStore(data_dir / "events.sqlite", "example-pp", "feedback-1")


@pytest.mark.ui
def test_sigkill_right_after_the_screen_confirmed_loses_nothing(tmp_path, output_dir):
    """The app rates and answers by touch; the moment the screen has confirmed the answer the
    scenario writes a marker, the test SIGKILLs the process, and the store has everything the
    screen confirmed."""
    _need_display()
    marker = tmp_path / "confirmed.json"
    params = {"marker": str(marker), "tag": "feedback-scale4",
              "feedback": {"scale": 4, "settle_s": 0.15}}
    env = dict(os.environ, KIVY_NO_ARGS="1", KIVY_NO_CONSOLELOG="1", KIVY_NO_FILELOG="1",
               KIVY_HOME=str(tmp_path / "kivy-home"), PYTHONPATH=str(REPO))
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.support.kivy_driver", "tests.ui_scenarios.feedback:sigkill", str(tmp_path),
         str(output_dir / "screenshots"), json.dumps(params), "120"],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not marker.exists():
            if proc.poll() is not None:
                out, err = proc.communicate()
                pytest.fail(f"the app ended before confirming (exit {proc.returncode}):\n{out[-3000:]}\n{err[-3000:]}")
            if time.monotonic() > deadline:
                pytest.fail("no confirmation from the app within 60 s")
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        proc.communicate()
    assert proc.returncode == -signal.SIGKILL
    info = json.loads(marker.read_text())
    confirmed = [tuple(c) for c in info["confirmed"]]
    assert [c[2] for c in confirmed] == ["rating", "outcome"], confirmed
    assert info["screen"] == "self_service"

    with _open_store(tmp_path / "data") as store:
        assert store.integrity_check() == "ok"
        events = [e for e in store.events() if e.type == EVENT_TYPE]
    stored = {(e.data["response"], e.data["rev"], e.data["part"]) for e in events}
    assert set(confirmed) <= stored, f"confirmed {confirmed}, stored {stored}"
    latest = latest_responses(events)
    assert len(latest) == 1
    (resp,) = latest.values()
    assert (resp["rating"], resp["scale"], resp["outcome"], resp["self_service"]) == (2, 4, "started", None)


@pytest.mark.ui
@pytest.mark.broker
def test_feedback_reaches_the_central_database_through_the_broker_and_the_sync_agent(tmp_path, output_dir,
                                                                                      central_dsn):
    _need_display()
    from tests.support.kivy_driver import run_scenario
    from tests.support.syncproc import Central, assert_synced, wait_synced, write_device

    central = Central(tmp_path / "central", ["feedback-1"], site="example-pp", pg_dsn=central_dsn).start()
    try:
        central.start_ingest()
        toml = write_device(tmp_path, central, "feedback-1", role="feedback",
                            extra='\n[feedback]\nscale = 3\nsettle_s = 0.15\nfullscreen = false\n'
                                  '[feedback.misuse]\nmin_interval_s = 0.5\n')
        data = toml.parent / "data"
        data.mkdir(parents=True, exist_ok=True)
        shutil.copy(SITE_TOML, data / "site.toml")  # where the agent keeps the site config it got
        central.start_agent(toml)  # syncs while the app appends: two processes on one store
        responses = [[3, "done", "yes", "Nopea ja ystävällinen palvelu, kiitos! ÄÖÅ"],
                     [1, "not_done", "no", "Jono oli pitkä"]]
        (tmp_path / "app").mkdir()
        run_scenario("tests.ui_scenarios.feedback:rate_and_answer", tmp_path / "app",
                     output_dir=output_dir / "screenshots",
                     params={"device_toml": str(toml), "responses": responses, "tag": "feedback-scale3"})
        wait_synced(central, {"feedback-1": toml}, timeout=30)
        assert_synced(central, {"feedback-1": toml})
    finally:
        central.stop_all()

    rows = central.query("SELECT data FROM events WHERE site=? AND device=? AND type=? ORDER BY seq",
                         ("example-pp", "feedback-1", EVENT_TYPE))
    assert len(rows) == 2 * 4  # rating + outcome + self-service + comment, per response
    latest = list(latest_responses([json.loads(r[0]) for r in rows]).values())
    got = [[d["rating"], d["outcome"], d["self_service"], d["comment"]] for d in latest]
    assert got == responses
    assert all(d["scale"] == 3 and d["language"] == "fi" and d["input"] == "touch" for d in latest)
    # The reporting rule on the central database: its roll-ups keep each response once, with the
    # answers of its last snapshot.
    reported = central.query("SELECT response, rev, flagged, outcome FROM feedback_responses")
    assert sorted(r[0] for r in reported) == sorted(d["response"] for d in latest)
    assert all(r[1] == 4 and r[2] is False for r in reported)
    assert sorted(r[3] for r in reported) == sorted(d["outcome"] for d in latest)
