"""TicketPrinter through a real pseudo-terminal, with an emulated printer on the other end."""
from __future__ import annotations

import threading
import time

import pytest

from printer.device import PrinterMonitor, TicketPrinter
from printer.layout import TicketInfo, build_ticket
from printer.status import PrinterStatus as S
from sim.escpos_decode import decode
from tests.support.pty_printer import PtyPrinter

QR = "https://palvelupiste.example/t/A001"
TIMEOUT = 0.25  # status answer timeout: short, so the silent-printer tests stay fast


def layout(lang="sv", number="A001"):
    return build_ticket(TicketInfo(
        site_name="Servicepunkten Åbo", number=number,
        service_names={"fi": "Poliisin lupapalvelut", "sv": "Polisens tillståndstjänster",
                       "en": "Police permit services"},
        lang=lang, people_ahead=2, est_wait_min=10, issued_ms=1_751_360_700_000,
        where_to_wait=None, qr_url=QR))


@pytest.fixture
def emu():
    with PtyPrinter() as p:
        yield p


@pytest.fixture
def kiosk(emu):
    seen = []
    mon = PrinterMonitor(on_transition=seen.append)
    tp = TicketPrinter(emu.url(), status_timeout=TIMEOUT, monitor=mon)
    tp.transitions = seen
    yield tp
    tp.close()


def sync(tp: TicketPrinter) -> None:
    """One more answered query: the emulator has consumed everything written before it."""
    assert tp.status() is not S.NO_ANSWER


def test_ticket_arrives_whole(emu, kiosk):
    r = kiosk.print_ticket(layout("sv"))
    assert r.printed and r.status is S.OK and 0 < r.bytes_sent < 1024
    [job] = emu.wait_jobs(1)
    assert len(job) == r.bytes_sent  # status queries are not part of the printed job
    d = decode(job)
    assert d.inits == 1 and d.codepage_selects == [19] and d.cuts == 1
    assert "Servicepunkten Åbo" in d.text and "Polisens tillståndstjänster" in d.text
    assert "Poliisin lupapalvelut" in d.text and "Före dig i kön: 2" in d.text
    assert d.qr_payloads == [QR]
    assert emu.queries()[:2] == [1, 4]  # asked before printing
    assert kiosk.transitions == []


def test_paper_out_does_not_print_and_reports_fault(emu, kiosk):
    emu.set_state(paper="out")
    r = kiosk.print_ticket(layout())
    assert not r.printed and r.status is S.PAPER_OUT and r.bytes_sent == 0
    sync(kiosk)
    assert emu.printed() == b"" and emu.jobs(complete=False) == []
    [t] = kiosk.transitions
    assert (t.event_type, t.event_data) == ("printer.fault", {"reason": "paper_out"})


def test_silent_printer_is_no_answer_not_paper_out(emu, kiosk):
    emu.set_state(silent=True)
    t0 = time.monotonic()
    assert kiosk.status() is S.NO_ANSWER
    assert time.monotonic() - t0 < TIMEOUT + 0.5  # one timeout, not one per question
    r = kiosk.print_ticket(layout())
    assert not r.printed and r.status is S.NO_ANSWER
    assert [t.reason for t in kiosk.transitions] == ["no_answer"]
    emu.set_state(silent=False)
    sync(kiosk)
    assert emu.printed() == b""


def test_recovery_is_reported_and_printing_resumes(emu, kiosk):
    emu.set_state(cover_open=True)
    assert kiosk.status() is S.COVER_OPEN
    emu.set_state(cover_open=False, paper="out")
    assert kiosk.status() is S.PAPER_OUT
    emu.set_state(paper="ok")
    assert kiosk.status() is S.OK
    assert [(t.kind, t.reason) for t in kiosk.transitions] == [
        ("fault", "cover_open"), ("fault", "paper_out"), ("recovered", "paper_out")]
    assert kiosk.print_ticket(layout()).printed
    emu.wait_jobs(1)


def test_near_end_prints_but_says_so(emu, kiosk):
    emu.set_state(paper="near_end")
    r = kiosk.print_ticket(layout("fi"))
    assert r.printed and r.status is S.PAPER_NEAR_END and r.status.paper == "near_end"
    assert "Edelläsi jonossa: 2" in decode(emu.wait_jobs(1)[0]).text
    assert kiosk.transitions == []  # not a fault


def test_printer_error_blocks_printing(emu, kiosk):
    emu.set_state(error=True)
    r = kiosk.print_ticket(layout())
    assert not r.printed and r.status is S.ERROR
    assert 3 in emu.queries()  # the error cause was asked


def test_missing_device_is_disconnected_then_reconnects(tmp_path):
    line = tmp_path / "ttyPRINTER"  # like a udev symlink that appears when the cable is in
    with PtyPrinter() as emu:
        tp = TicketPrinter(f"serial:{line}?baudrate=19200", status_timeout=TIMEOUT)
        assert tp.status() is S.DISCONNECTED
        r = tp.print_ticket(layout())
        assert not r.printed and r.status is S.DISCONNECTED and r.bytes_sent == 0
        line.symlink_to(emu.path)
        # The same object opens the line now (a bare python-escpos object would not retry).
        assert tp.status() is S.OK
        assert tp.print_ticket(layout()).printed
        emu.wait_jobs(1)
        tp.close()


def test_status_off_prints_blind(tmp_path):
    out = tmp_path / "tickets.bin"
    tp = TicketPrinter(f"file:{out}?status=off")
    r = tp.print_ticket(layout())
    tp.close()
    assert r.printed and r.status is S.UNCHECKED
    assert out.read_bytes().startswith(b"\x1b@\x1bt\x13")


def test_polling_and_printing_from_threads_keep_jobs_whole(emu, kiosk):
    stop = threading.Event()
    statuses = []

    def poll():
        while not stop.is_set():
            statuses.append(kiosk.status())

    poller = threading.Thread(target=poll)
    poller.start()
    try:
        results = []
        workers = [threading.Thread(target=lambda n=n: results.append(
            kiosk.print_ticket(layout(number=f"A{n:03d}")))) for n in range(1, 6)]
        for w in workers:
            w.start()
        for w in workers:
            w.join(timeout=10)
    finally:
        stop.set()
        poller.join(timeout=10)
    assert all(r.printed for r in results) and len(results) == 5
    jobs = emu.wait_jobs(5)
    numbers = sorted(next(li.text for li in decode(j).lines if li.width == 4) for j in jobs)
    assert numbers == ["A001", "A002", "A003", "A004", "A005"]
    assert all(decode(j).cuts == 1 and decode(j).status_queries == [] for j in jobs)
    assert statuses and set(statuses) == {S.OK}


def test_emulator_sees_a_query_split_across_reads():
    with PtyPrinter(paper="near_end") as emu:
        emu._feed(b"\x1b@ab\x10")
        emu._feed(b"\x04")
        emu._feed(b"\x04cd\x10\x05x")  # DLE not followed by EOT is just data
        assert emu.queries() == [4]
        assert emu.printed() == b"\x1b@abcd\x10\x05x"
        assert emu.raw() == b"\x1b@ab\x10\x04\x04cd\x10\x05x"
