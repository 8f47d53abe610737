"""The kiosk in a real window under Xvfb, driven by simulated touches and barcode keystrokes,
against the real hub (hub.service) on a real Mosquitto, printing to an emulated printer on a
pseudo-terminal. Each test is one process running a scenario from tests/ui_scenarios/kiosk.py;
here the results are checked once more from the outside: the hub's store, the bytes that
reached the printer, the screenshots.
"""
from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from sim.escpos_decode import decode
from tests.support.kivy_driver import REPO, run_scenario

pytestmark = [pytest.mark.ui, pytest.mark.broker]
SHOTS = REPO / "test-output" / "screenshots"


def _events(path: Path, etype: str) -> list[dict]:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return [json.loads(d) for t, d in conn.execute("SELECT type, data FROM events ORDER BY seq") if t == etype]
    finally:
        conn.close()


def _run(name: str, tmp_path: Path, broker, timeout: float = 100) -> dict:
    return run_scenario(f"tests.ui_scenarios.kiosk:{name}", tmp_path, output_dir=SHOTS,
                        params={"broker_port": broker.port}, timeout=timeout)


def _shots_exist(result: dict, names: list[str]) -> None:
    got = {Path(p).stem for p in result["screenshots"]}
    missing = [n for n in names if f"kiosk-{n}" not in got]
    assert missing == [], missing
    for p in result["screenshots"]:
        assert Path(p).stat().st_size > 20_000, p  # a real picture, not an empty window


def test_walk_in_double_tap_and_idle_reset(tmp_path, broker):
    result = _run("walk_in_and_idle", tmp_path, broker)
    issued = _events(tmp_path / "hub" / "data" / "events.sqlite", "ticket.issued")
    assert [e["service"] for e in issued] == ["kela", "neuvonta", "poliisi"]  # one per double tap
    assert [e["lang"] for e in issued] == ["fi", "sv", "en"]
    jobs = sorted((tmp_path / "printed").glob("job-*.bin"))
    assert len(jobs) == 3
    for e, job in zip(issued, jobs):
        d = decode(job.read_bytes())
        text = d.text
        assert e["number"] in text
        assert d.qr_payloads == [f"https://queue.example.org/t/example-pp/{e['token']}"]
        assert len(job.read_bytes()) < 1024
    kela = decode(jobs[0].read_bytes()).text
    assert "Kela" in kela and "FPA" in kela  # Finnish and Swedish
    advice = decode(jobs[1].read_bytes()).text
    assert "Servicerådgivning" in advice and "Palveluneuvonta" in advice  # ä, å through the code page
    _shots_exist(result, [f"{s}-{lang}" for lang in ("fi", "sv", "en") for s in ("start", "services", "needs", "ticket")]
                 + ["interpreter-fi", "interpreter-en", "idle-prompt-en", "after-idle-reset"])


def test_every_appointment_answer_help_and_hub_trouble(tmp_path, broker):
    result = _run("appointments_and_help", tmp_path, broker)
    store = tmp_path / "hub" / "data" / "events.sqlite"
    issued = _events(store, "ticket.issued")
    assert sorted(e["kind"] for e in issued) == ["appointment"] * 3 + ["walk_in"] * 4
    assert all("code" not in e and "111111" not in json.dumps(e) for e in issued)  # codes never stored
    assert [e["lang"] for e in _events(store, "help.requested")] == ["fi", "sv", "en"]
    _shots_exist(result, [f"{s}-{lang}" for lang in ("fi", "sv", "en") for s in
                          ("appointment", "too-early", "other-day", "not-found", "too-late", "checked-in",
                           "already", "help", "problem")])


def test_printer_out_of_paper_no_answer_and_recovery(tmp_path, broker):
    result = _run("printer_faults", tmp_path, broker)
    kiosk_store = tmp_path / "kiosk" / "events.sqlite"
    faults = _events(kiosk_store, "printer.fault")
    assert [f["reason"] for f in faults] == ["paper_out", "no_answer"]
    assert len(_events(kiosk_store, "printer.recovered")) == 2
    status = json.loads((tmp_path / "kiosk" / "printer-status.json").read_text())
    assert status["status"] == "ok" and status["can_print"] is True
    assert len(_events(tmp_path / "hub" / "data" / "events.sqlite", "ticket.issued")) == 3
    assert len(list((tmp_path / "printed").glob("job-*.bin"))) == 1  # the reprint
    _shots_exist(result, ["start-printer-out-fi", "ticket-printer-out-fi", "ticket-printer-out-sv",
                          "ticket-printer-out-en", "ticket-reprinted-en"])


def test_low_layout_large_text_contrast_speech_and_landscape(tmp_path, broker):
    result = _run("accessibility", tmp_path, broker)
    _shots_exist(result, ["low-start-fi", "low-services-fi", "low-services-2-fi", "low-needs-fi",
                          "low-interpreter-fi", "low-ticket-fi", "low-appointment-fi", "low-help-fi",
                          "landscape-start-fi"])


def test_closed_before_opening_check_in_only(tmp_path, broker):
    result = _run("closed_before_opening", tmp_path, broker)
    issued = _events(tmp_path / "hub" / "data" / "events.sqlite", "ticket.issued")
    assert [(e["kind"], e["service"]) for e in issued] == [("appointment", "kela")]
    assert len(list((tmp_path / "printed").glob("job-*.bin"))) == 1
    _shots_exist(result, ["closed-fi", "closed-sv", "closed-en", "closed-checked-in-fi", "closed-low-fi"])


def test_a_service_closed_for_the_rest_of_the_day(tmp_path, broker):
    result = _run("service_closed_for_today", tmp_path, broker)
    _shots_exist(result, ["services-closed-today-fi", "services-closed-today-en"])
