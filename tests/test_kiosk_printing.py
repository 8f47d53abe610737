"""The kiosk's printer worker and hub link without a window: a printer on a real
pseudo-terminal, the real hub on a real Mosquitto."""
from __future__ import annotations

import json
import time

import pytest

from core.store import EventStore
from kiosk import flow as F
from kiosk.printing import PrinterConfig, PrinterWorker, printer_config, ticket_layout
from kiosk.settings import parse_kiosk
from sim.escpos_decode import decode
from tests.support.pty_printer import PtyPrinter
from tests.support.wait import wait_until

SETTINGS = parse_kiosk({"printer_poll_s": 0.2, "reprint_s": 60})


def _ticket(n: int = 1, lang: str = "sv") -> F.TicketView:
    return F.TicketView(ticket=f"2026-11-23/K{n:03d}", number=f"K{n:03d}", service="kela", kind="walk_in", ahead=2,
                        est_wait_s=700, token="abcdefghijklmnop", issued_ms=1_795_000_000_000, lang=lang,
                        qr_url="https://queue.example.org/t/example-pp/abcdefghijklmnop")


@pytest.fixture
def pty():
    p = PtyPrinter().start()
    yield p
    p.stop()


@pytest.fixture
def worker_for(tmp_path, example_site):
    made = []

    def make(url):
        results = []
        w = PrinterWorker(PrinterConfig(url, status_timeout=0.2), example_site, SETTINGS,
                          store_path=str(tmp_path / "kiosk.sqlite"), device_id="kiosk-1", data_dir=tmp_path,
                          on_printed=lambda t, ok, reason: results.append((t, ok, reason)))
        w.results = results
        made.append(w)
        return w.start()
    yield make
    for w in made:
        w.stop()


def _kiosk_events(tmp_path, example_site):
    with EventStore(tmp_path / "kiosk.sqlite", example_site.id, "kiosk-1") as s:
        return [(e.type, e.data) for e in s.events()]


def test_a_ticket_prints_in_swedish_finnish_with_its_qr(pty, worker_for, tmp_path):
    w = worker_for(pty.url())
    assert w.wait_ready()
    w.submit(_ticket())
    [job] = pty.wait_jobs(1)
    wait_until(lambda: w.results, what="print result")
    assert w.results == [("2026-11-23/K001", True, None)]
    d = decode(job)
    assert "K001" in d.text and "FPA" in d.text and "Kela" in d.text
    assert d.qr_payloads == ["https://queue.example.org/t/example-pp/abcdefghijklmnop"]
    assert len(job) < 1024
    st = json.loads((tmp_path / "printer-status.json").read_text())
    assert st["status"] == "ok" and st["can_print"] and st["printed"] == 1


def test_paper_out_is_a_fault_event_and_recovery_follows(pty, worker_for, tmp_path, example_site):
    w = worker_for(pty.url())
    assert w.wait_ready()
    pty.set_state(paper="out")
    w.submit(_ticket(1))
    wait_until(lambda: w.results, what="print result")
    assert w.results == [("2026-11-23/K001", False, "paper_out")]
    assert pty.jobs() == []
    assert _kiosk_events(tmp_path, example_site) == [("printer.fault", {"reason": "paper_out", "status": "paper_out"})]
    st = json.loads((tmp_path / "printer-status.json").read_text())
    assert st == {**st, "status": "paper_out", "can_print": False, "paper": "out", "fault": "paper_out"}
    pty.set_state(paper="ok")
    wait_until(lambda: len(_kiosk_events(tmp_path, example_site)) == 2, what="recovered")
    assert _kiosk_events(tmp_path, example_site)[1][0] == "printer.recovered"
    w.submit(_ticket(1), reprint=True)  # the last ticket, printed again once the paper is back
    [job] = pty.wait_jobs(1)
    assert "K001" in decode(job).text


def test_no_answer_is_not_paper_out(pty, worker_for, tmp_path, example_site):
    pty.set_state(silent=True)
    w = worker_for(pty.url())
    assert w.wait_ready()
    assert _kiosk_events(tmp_path, example_site)[0][1]["reason"] == "no_answer"
    assert json.loads((tmp_path / "printer-status.json").read_text())["paper"] == "unknown"


def test_only_the_last_ticket_can_be_reprinted(pty, worker_for):
    w = worker_for(pty.url())
    w.submit(_ticket(1))
    w.submit(_ticket(2))
    w.submit(_ticket(1), reprint=True)
    wait_until(lambda: len(w.results) == 3, what="three results")
    assert w.results[2] == ("2026-11-23/K001", False, "reprint_expired")
    assert len(pty.wait_jobs(2)) == 2


def test_without_a_printer_the_kiosk_still_works(tmp_path, example_site):
    results = []
    w = PrinterWorker(printer_config({}), example_site, SETTINGS, store_path=None, device_id="kiosk-1",
                      data_dir=tmp_path, on_printed=lambda *a: results.append(a)).start()
    try:
        w.submit(_ticket())
        wait_until(lambda: results, what="result")
        assert results == [("2026-11-23/K001", False, "not_configured")]
        assert json.loads((tmp_path / "printer-status.json").read_text())["configured"] is False
    finally:
        w.stop()


def test_printer_config_is_checked():
    from core.config import ConfigError

    with pytest.raises(ConfigError) as e:
        printer_config({"url": "bogus:thing", "columns": 5, "colour": "red"})
    assert {i.field for i in e.value.issues} == {"printer.url", "printer.columns", "printer.colour"}
    assert printer_config({"url": "serial:/dev/ttyUSB0?baudrate=19200"}).url.startswith("serial:")


def test_the_paper_ticket_has_the_appointment_time_and_the_sites_wait_text(example_site):
    s = parse_kiosk({"where_to_wait": {"fi": "Odota aulassa A.", "en": "Wait in hall A."}})
    t = F.TicketView(**{**_ticket(lang="fi").__dict__, "kind": "appointment",
                        "appointment_ms": 1_795_000_000_000 + 600_000})
    text = ticket_layout(t, example_site, s).plain_text()
    assert "Odota aulassa A." in text and "K001" in text
    # Without the site's words in Russian the generic Russian text is printed, not the English
    # words (never another language without saying so).
    ru = ticket_layout(_ticket(lang="ru"), example_site, s).plain_text()
    assert "Wait in hall A." not in ru and "Odota" not in ru
    assert ticket_layout(_ticket(lang="ru"), example_site, parse_kiosk({})).plain_text() == ru


@pytest.mark.broker
def test_the_hub_link_asks_the_real_hub_and_never_hangs(tmp_path, broker, example_site):
    from kiosk.hub_link import MqttHubLink
    from tests.support.hubproc import HubProcess

    hub = HubProcess(tmp_path / "hub", broker.port).start()
    link = MqttHubLink(broker.url, example_site.id, "kiosk-1", timeout_s=1.0).start()
    got = []
    try:
        assert link.wait_connected(10)
        link.send(1, {"cmd": "take", "service": "kela", "lang": "fi", "needs": {}}, lambda r, rep: got.append((r, rep)))
        wait_until(lambda: got, what="answer")
        assert got[0][0] == 1 and got[0][1]["ok"] and got[0][1]["number"] == "K001"
        hub.terminate()
        t0 = time.monotonic()
        link.send(2, {"cmd": "help", "device": "kiosk-1", "lang": "fi"}, lambda r, rep: got.append((r, rep)))
        wait_until(lambda: len(got) == 2, timeout=5, what="timeout answer")
        assert got[1][1]["error"] == "timeout" and time.monotonic() - t0 < 3
    finally:
        link.close()
        hub.terminate()
