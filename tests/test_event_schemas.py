"""Every event type's schema and which role writes it (core/events.py): what the apps really
write passes, for their own role only; unknown keys, personal data, wrong types and times outside
the window are refused; typed free text is masked."""
import pytest

from core.engine import CheckIn, Needs, RequestHelp, TakeTicket
from core.events import (
    EVENT_DATA,
    EVENT_SCHEMAS,
    ROLE_EVENTS,
    TS_MAX_AGE_MS,
    TS_MAX_AHEAD_MS,
    Event,
    EventError,
    check_event,
    new_event_id,
    now_ms,
)
from core.privacy import MASK
from core.store import EventStore
from feedback_terminal.recorder import new_response
from hub.authority import QueueAuthority
from printer.device import PrinterMonitor
from printer.status import PrinterStatus

NOW = now_ms()


def event(etype, data, ts=NOW, device="d-1"):
    return Event(id=new_event_id(), site="s1", device=device, seq=1, type=etype, ts=ts, data=data)


def test_every_type_has_a_schema_naming_its_required_keys_and_a_writer():
    assert set(EVENT_SCHEMAS) == set(EVENT_DATA)
    for etype, required in EVENT_DATA.items():
        assert required <= set(EVENT_SCHEMAS[etype]), etype
    written = set().union(*ROLE_EVENTS.values())
    assert written == set(EVENT_DATA)
    assert "feedback.given" not in ROLE_EVENTS["kiosk"] and "ticket.issued" not in ROLE_EVENTS["feedback"]


def hub_events(example_site, tmp_path):
    """What a hub really writes in a busy day: every command the engine has."""
    from core.engine import (
        AnswerHelp,
        Appointment,
        CallNext,
        Cancel,
        CloseCounter,
        Finish,
        NoShow,
        OpenCounter,
        Recall,
        Transfer,
    )

    t0 = NOW - 3_600_000
    store = EventStore(tmp_path / "hub.sqlite", example_site.id, "hub-1")
    auth = QueueAuthority(example_site, store, [Appointment("123456", "kela", t0 + 600_000)], clock=lambda: t0)
    steps = [OpenCounter("1"), TakeTicket("kela", "sv", Needs("so", True, False)), CheckIn("123456", "en"),
             TakeTicket("kela"), TakeTicket("poliisi"), CallNext("1"), Recall("1"), Transfer("1", "vero"),
             CallNext("1"), NoShow("1"), CallNext("1"), Finish("1"), RequestHelp("kiosk-1", "fi")]
    for cmd in steps:
        assert auth.handle(cmd).get("ok"), cmd
    req = auth.state.help and next(iter(auth.state.help))
    assert auth.handle(AnswerHelp(req, "1"))["ok"]
    assert auth.handle(Cancel(next(t for t, x in auth.state.tickets.items() if x.state == "waiting"), "left"))["ok"]
    assert auth.handle(CloseCounter("1"))["ok"]
    evs = list(store.iter_events())
    store.close()
    return evs


def test_what_the_hub_writes_passes_for_the_hub_only(example_site, tmp_path):
    evs = hub_events(example_site, tmp_path)
    assert {e.type for e in evs} >= {"ticket.issued", "ticket.called", "ticket.recalled", "ticket.transferred",
                                     "ticket.no_show", "ticket.finished", "ticket.cancelled", "counter.opened",
                                     "counter.closed", "help.requested", "help.answered"}
    for ev in evs:
        assert check_event(ev, "hub", ev.ts) == ev, ev
        with pytest.raises(EventError, match="does not write"):
            check_event(ev, "kiosk", ev.ts)


def test_what_the_feedback_terminal_and_the_kiosk_write_passes_for_their_role():
    r = new_response(4, 5, "fi", "Europe/Helsinki", flags=["burst"], service="kela")
    r = r.answer("outcome", "done").answer("comment", "Hyvä palvelu, kiitos!")
    ev = event("feedback.given", r.data())
    assert check_event(ev, "feedback", NOW) == ev
    with pytest.raises(EventError):
        check_event(ev, "kiosk", NOW)
    mon = PrinterMonitor()
    trans = mon.observe(PrinterStatus.PAPER_OUT, NOW - 5000) + mon.observe(PrinterStatus.OK, NOW)
    for t in trans:
        pev = event(t.event_type, {**t.event_data, "status": t.status.value})
        assert check_event(pev, "kiosk", NOW) == pev
        with pytest.raises(EventError):
            check_event(pev, "feedback", NOW)


@pytest.mark.parametrize("data", [
    {"rating": 1, "scale": 5, "name": "Matti Meikäläinen"},
    {"rating": 1, "scale": 5, "hetu": "131052-308T"},
    {"rating": 1, "scale": 5, "phone": "040 123 4567"},
    {"rating": 1, "scale": 5, "rev": "x"},
    {"rating": 1, "scale": 5, "response": [1]},
    {"rating": 1, "scale": 5, "service": ["kela"]},
    {"rating": 1, "scale": 5, "language": "fi\u0000"},
    {"rating": 6, "scale": 5},
    {"rating": 4, "scale": 3},
    {"rating": True, "scale": 5},
    {"rating": 1, "scale": 5, "flags": ["Matti"]},
])
def test_feedback_shapes_the_issue_found_are_refused(data):
    with pytest.raises(EventError):
        check_event(event("feedback.given", data), "feedback", NOW)


@pytest.mark.parametrize("etype,data", [
    ("ticket.issued", {"ticket": "2026-11-23/K001", "number": "K001", "service": "kela", "day": "2026-11-23",
                       "kind": {}}),
    ("ticket.issued", {"ticket": "x", "number": "K001", "service": "kela", "day": "2026-11-23", "kind": "walk_in"}),
    ("ticket.called", {"ticket": "2026-11-23/K001", "counter": "1", "waited_s": -5}),
    ("help.requested", {"request": "r-1", "device": "Matti 131052-308T"}),
    ("help.requested", {"request": "r-1", "device": "kiosk-1", "lang": "😀"}),
    ("ticket.cancelled", {"ticket": "2026-11-23/K001", "reason": "asiakas Matti"}),
    ("printer.fault", {"reason": "Paper Out!"}),
])
def test_hub_and_kiosk_shapes_are_refused(etype, data):
    with pytest.raises(EventError):
        check_event(event(etype, data), None, NOW)


def test_times_outside_the_window_are_refused():
    ok = event("printer.recovered", {})
    assert check_event(ok, "kiosk", NOW + TS_MAX_AGE_MS) == ok
    for ts in (NOW - TS_MAX_AGE_MS - 1, NOW + TS_MAX_AHEAD_MS + 1, 2**53 - 1, 0):
        with pytest.raises(EventError, match="window"):
            check_event(event("printer.recovered", {}, ts=ts), "kiosk", NOW)


def test_typed_free_text_is_masked_not_refused():
    r = new_response(2, 5, "fi", "Europe/Helsinki").data()
    r["comment"] = "soita 040 123 4567, hetu 131052-308T\u202e"
    out = check_event(event("feedback.given", r), "feedback", NOW)
    assert out.data["comment"] == f"soita {MASK}, hetu {MASK}"
    assert out.id and out.seq == 1


def test_an_unknown_role_is_checked_by_the_schema_only():
    ev = event("feedback.given", {"rating": 3, "scale": 5})
    assert check_event(ev, None, NOW) == ev
    with pytest.raises(EventError):
        check_event(ev, "display", NOW)
