"""DLE EOT answers -> PrinterStatus, and status sequences -> fault / recovered."""
from __future__ import annotations

import pytest

from printer.device import PrinterMonitor, Transition
from printer.status import PrinterStatus as S
from printer.status import combine, is_status_byte, paper_state, query, status_byte


def test_queries():
    assert [query(n) for n in (1, 2, 3, 4)] == [b"\x10\x04\x01", b"\x10\x04\x02",
                                                b"\x10\x04\x03", b"\x10\x04\x04"]
    with pytest.raises(ValueError):
        query(5)


def test_status_byte_shape():
    assert is_status_byte(0x12) and is_status_byte(0x1E) and is_status_byte(0x72)
    assert not is_status_byte(0x00) and not is_status_byte(0x11) and not is_status_byte(0x13)
    assert not is_status_byte(0x92)  # bit 7 set


@pytest.mark.parametrize("p1, p2, p3, p4, expected", [
    (0x12, None, None, 0x12, S.OK),
    (0x12, None, None, 0x1E, S.PAPER_NEAR_END),        # both near-end bits
    (0x12, None, None, 0x16, S.PAPER_NEAR_END),        # one near-end bit is enough
    (0x1A, 0x32, None, 0x72, S.PAPER_OUT),             # offline, stopped at paper end
    (0x12, None, None, 0x72, S.PAPER_OUT),             # "online" but the roll sensor says out
    (0x1A, 0x16, None, 0x12, S.COVER_OPEN),
    (0x1A, 0x36, None, 0x72, S.COVER_OPEN),            # cover open wins: close it first
    (0x1A, 0x52, 0x1A, 0x12, S.ERROR),                 # autocutter error
    (0x1A, 0x12, None, 0x12, S.OFFLINE),               # offline, no cause given
    (None, None, None, None, S.NO_ANSWER),
    (None, None, None, 0x72, S.NO_ANSWER),             # nothing counts without the first answer
])
def test_combine(p1, p2, p3, p4, expected):
    assert combine(p1, p2, p3, p4) is expected


def test_no_answer_is_not_paper_out():
    assert combine(None) is S.NO_ANSWER and S.NO_ANSWER is not S.PAPER_OUT
    assert S.NO_ANSWER.paper == "unknown" and S.PAPER_OUT.paper == "out"
    assert S.PAPER_NEAR_END.paper == "near_end" and S.OK.paper == "ok"


def test_emulated_bytes_parse_back():
    for paper in ("ok", "near_end", "out"):
        for cover in (False, True):
            for err in (False, True):
                b = {n: status_byte(n, paper=paper, cover_open=cover, error=err) for n in (1, 2, 3, 4)}
                assert all(is_status_byte(v) for v in b.values())
                st = combine(b[1], b[2], b[3], b[4])
                want = (S.COVER_OPEN if cover else S.PAPER_OUT if paper == "out" else
                        S.ERROR if err else S.PAPER_NEAR_END if paper == "near_end" else S.OK)
                assert st is want, (paper, cover, err)
    assert paper_state(0x72) == "out"


def test_can_print():
    assert {s for s in S if s.can_print} == {S.OK, S.PAPER_NEAR_END, S.UNCHECKED}


def test_monitor_fault_then_recovered():
    seen: list[Transition] = []
    m = PrinterMonitor(on_transition=seen.append)
    assert m.observe(S.OK, 1000) == []
    assert m.observe(S.PAPER_NEAR_END, 2000) == []  # a warning, not a fault
    [t] = m.observe(S.PAPER_OUT, 3000)
    assert (t.kind, t.reason, t.event_type, t.event_data) == (
        "fault", "paper_out", "printer.fault", {"reason": "paper_out"})
    assert m.observe(S.PAPER_OUT, 4000) == []  # reported once
    [t2] = m.observe(S.COVER_OPEN, 5000)        # a new reason is reported
    assert t2.kind == "fault" and t2.reason == "cover_open"
    [r] = m.observe(S.OK, 9000)
    assert (r.kind, r.reason, r.fault_ms, r.event_type) == ("recovered", "cover_open", 6000,
                                                             "printer.recovered")
    assert m.observe(S.OK, 10000) == [] and m.fault is None
    assert [x.kind for x in seen] == ["fault", "fault", "recovered"]


def test_monitor_no_answer_and_confirm():
    m = PrinterMonitor(confirm=2)
    assert m.observe(S.NO_ANSWER) == []           # one silent poll may be a glitch
    [t] = m.observe(S.NO_ANSWER)
    assert t.reason == "no_answer"
    assert m.observe(S.OK)[0].kind == "recovered"
    assert m.observe(S.NO_ANSWER) == [] and m.observe(S.OK) == []  # glitch: nothing to report


def test_monitor_starting_in_fault_reports_it():
    m = PrinterMonitor()
    assert [t.kind for t in m.observe(S.DISCONNECTED)] == ["fault"]
    assert m.observe(S.UNCHECKED)[0].kind == "recovered"
