"""The display's logic without a window: calls, highlight, list, zones, staleness, spoken text,
settings."""
import pytest

from core.config import ConfigError
from display.announce import announcement, spoken_number
from display.model import LATE_CALL_S, Call, DisplayModel, wait_minutes
from display.settings import DisplaySettings, parse_display


def call(n, counter="1", service="kela", kind="walk_in", recall=False, ts=1000, ticket=None):
    return {"ticket": ticket or f"2026-11-23/{n}", "number": n, "counter": counter, "service": service,
            "kind": kind, "recall": recall, "ts": ts}


def state(calls=(), ts=10_000, waiting=None, hb=10):
    services = {s: {"waiting": (waiting or {}).get(s, 0), "est_wait_s": 600, "open_counters": 1}
                for s in ("neuvonta", "kela", "poliisi")}
    return {"ts": ts, "heartbeat_s": hb, "services": services, "counters": {}, "calls": list(calls), "help": []}


@pytest.fixture
def model(example_site):
    m = DisplayModel(example_site, DisplaySettings(highlight_s=8), started=0.0)
    m.on_link(True, 0.0)
    return m


def test_new_call_is_highlighted_then_moves_to_the_list(model):
    model.on_state(state(), 1.0)
    c = model.on_call(call("K001"), 2.0)
    assert c is not None and model.big_call(5.0).number == "K001"
    assert model.recent(5.0) == []
    assert model.big_call(10.5) is None
    assert [x.number for x in model.recent(10.5)] == ["K001"]
    assert model.tick(10.5)  # the screen must change when the highlight ends


def test_a_new_call_ends_the_previous_highlight_and_the_list_keeps_at_least_six(model, example_site):
    model.on_state(state(), 1.0)
    for i in range(1, 10):
        model.on_call(call(f"K{i:03d}", ts=1000 + i), 2.0 + i * 0.1)
    assert model.big_call(3.0).number == "K009"
    assert [x.number for x in model.recent(3.0)] == ["K008", "K007", "K006", "K005", "K004", "K003", "K002"]
    assert DisplaySettings().history >= 6


def test_the_same_call_from_message_and_state_counts_once(model):
    model.on_state(state(), 1.0)
    assert model.on_call(call("K001", ts=5000), 2.0) is not None
    assert model.on_state(state([call("K001", ts=5000)], ts=5100), 2.1) == []
    assert model.on_call(call("K001", ts=5000), 2.2) is None  # a QoS 1 duplicate


def test_recall_highlights_again_and_the_list_shows_the_ticket_once(model):
    model.on_state(state(), 1.0)
    model.on_call(call("K001", ts=1000), 2.0)
    model.on_call(call("K002", ts=2000), 3.0)
    model.on_call(call("K001", ts=3000, recall=True), 20.0)
    big = model.big_call(21.0)
    assert big.number == "K001" and big.recall
    assert [x.number for x in model.recent(21.0)] == ["K002"]
    assert [x.number for x in model.recent(40.0)] == ["K001", "K002"]


def test_first_state_fills_the_list_silently_later_missed_calls_are_new(model):
    assert model.on_state(state([call("K002", ts=9000), call("K001", ts=8000)], ts=9500), 1.0) == []
    assert model.big_call(1.5) is None
    assert [x.number for x in model.recent(1.5)] == ["K002", "K001"]
    # a call whose message was lost while the link was down arrives inside a later state
    fresh = model.on_state(state([call("K003", ts=20_000), call("K002", ts=9000)], ts=20_500), 2.0)
    assert [c.number for c in fresh] == ["K003"] and model.big_call(2.5).number == "K003"
    # too old by the hub's clock: only listed
    old = model.on_state(state([call("K004", ts=21_000)], ts=21_000 + int(LATE_CALL_S * 1000) + 1), 3.0)
    assert old == [] and "K004" in [c.number for c in model.recent(30.0)]


def test_zone_by_service_ignores_other_services(example_site):
    m = DisplayModel(example_site, parse_display({"services": ["poliisi"]}, set(example_site.services)))
    m.on_state(state(), 0.0)
    assert m.on_call(call("K001", service="kela"), 1.0) is None
    assert m.on_call(call("K001", service="poliisi", counter="3", ts=2000), 2.0) is not None  # transferred
    assert [r.id for r in m.services] == ["poliisi"]


def test_zone_for_appointment_customers_only(example_site):
    m = DisplayModel(example_site, parse_display({"appointments_only": True}))
    m.on_state(state(), 0.0)
    assert m.on_call(call("K001"), 1.0) is None
    assert m.on_call(call("K002", kind="appointment", ts=2000), 1.0) is not None
    w = DisplayModel(example_site, parse_display({"walk_ins_only": True}))
    w.on_state(state(), 0.0)
    assert w.on_call(call("K002", kind="appointment"), 1.0) is None


def test_stale_when_link_down_hub_offline_or_no_state(model):
    assert not model.stale(1.0)                 # start-up grace
    assert model.stale(10.0)                    # never a state
    model.on_state(state(hb=2), 10.0)
    assert not model.stale(11.0)
    assert model.stale(10.0 + 2.5 * 2 + 2.1)    # no heartbeat for 2.5 heartbeats + 2 s
    model.on_state(state(hb=2), 20.0)
    model.on_hub_availability(False, 20.5)
    assert model.stale(20.6)
    model.on_hub_availability(True, 21.0)
    model.on_link(False, 21.0)
    assert model.stale(21.1)
    model.on_link(True, 22.0)
    model.on_state(state(hb=2), 22.1)
    assert not model.stale(22.2)


def test_labels_cycle_through_the_languages_and_the_layout_shifts_a_little(model):
    langs = {model.label_language(t) for t in range(0, 60, 2)}
    assert langs == {"fi", "sv", "en"}
    shifts = {model.shift(t * 120.0) for t in range(20)}
    assert len(shifts) > 5
    assert all(abs(dx) <= 6 and abs(dy) <= 6 for dx, dy in shifts)


def test_spoken_number_and_announcement_texts(example_site):
    assert spoken_number("K042") == "K 42"
    assert spoken_number("AB007") == "A B 7"
    assert spoken_number("K100") == "K 100"
    c = Call.from_message(call("A042", counter="3"))
    assert announcement(c, example_site, ("fi", "sv", "en")) == [
        ("fi", "Numero A 42, Tiski 3"), ("sv", "Nummer A 42, Lucka 3"), ("en", "Number A 42, Counter 3")]


def test_wait_minutes_rounds_up_and_coarsely_above_ten():
    assert [wait_minutes(s) for s in (10, 60, 61, 540, 660, 1500)] == [1, 1, 2, 9, 15, 25]


def test_settings_are_checked_field_by_field(example_site):
    s = parse_display({"orientation": "portrait", "services": ["kela"], "languages": ["fi", "sv", "en"],
                       "chime": False}, set(example_site.services))
    assert s.portrait and s.services == ("kela",) and not s.chime and s.size == (1080, 1920)
    with pytest.raises(ConfigError) as e:
        parse_display({"orientation": "sideways", "services": ["nope"], "history": 3, "languages": ["de"],
                       "appointments_only": True, "walk_ins_only": True, "colour": 1}, set(example_site.services))
    fields = {i.field for i in e.value.issues}
    assert fields == {"display.orientation", "display.services", "display.history", "display.languages",
                      "display.walk_ins_only", "display.colour"}


# --- opening hours, services closed for the day ------------------------------------------------

def _hel_ms(y, mo, d, h, mi=0):
    import datetime as dt
    from zoneinfo import ZoneInfo

    return int(dt.datetime(y, mo, d, h, mi, tzinfo=ZoneInfo("Europe/Helsinki")).timestamp() * 1000)


def test_closed_state_says_when_it_opens(model, example_site):
    from core.i18n import Translator
    from display.model import opening_text

    assert model.open  # before any state
    rev = model.revision
    tue_0750, opens = _hel_ms(2026, 11, 24, 7, 50), _hel_ms(2026, 11, 24, 8, 0)
    model.on_state({**state(ts=tue_0750), "open": False, "opens_ms": opens}, 1.0)
    assert not model.open and model.opens_ms == opens and model.revision > rev
    rev = model.revision
    model.on_state({**state(ts=tue_0750 + 10_000), "open": False, "opens_ms": opens}, 2.0)  # a heartbeat
    assert model.revision == rev

    def text(lang, opens_ms, hub_ms):
        return opening_text(example_site, Translator(lang, "display", example_site.timezone), opens_ms, hub_ms)

    assert [text(lg, opens, tue_0750) for lg in ("fi", "sv", "en")] == [
        "Avautuu tänään klo 8.00", "Öppnar i dag kl. 08:00", "Opens today at 08:00"]
    tue_1700 = _hel_ms(2026, 11, 24, 17, 0)
    assert text("fi", _hel_ms(2026, 11, 25, 8, 0), tue_1700) == "Avautuu huomenna klo 8.00"
    fri_1700, mon = _hel_ms(2026, 11, 27, 17, 0), _hel_ms(2026, 11, 30, 8, 0)
    assert [text(lg, mon, fri_1700) for lg in ("fi", "sv", "en")] == [
        "Avautuu maanantaina 30. marraskuuta klo 8.00", "Öppnar måndagen den 30 november kl. 08:00",
        "Opens Monday 30 November at 08:00"]
    assert text("en", None, fri_1700) == ""  # nothing within the hub's look-ahead: only "closed"
    # no empty queues while closed; a queue with people in it (checked in early) is shown
    model.on_state({**state(ts=tue_0750, waiting={"kela": 1}), "open": False, "opens_ms": opens}, 2.5)
    assert [r.id for r in model.visible_services()] == ["kela"]
    model.on_state(state(ts=tue_0750 + 20_000), 3.0)  # a state without the fields: open
    assert model.open and model.opens_ms is None


def test_real_engine_state_before_opening(tmp_path):
    """The state a real queue authority builds from the real example site (open 08:00) at 07:50."""
    from pathlib import Path

    from core.config import load_site
    from core.store import EventStore
    from hub.authority import QueueAuthority

    site = load_site(Path(__file__).resolve().parent.parent / "assets" / "sites" / "example.toml")
    store = EventStore(tmp_path / "hub.sqlite", site.id, "hub-1")
    try:
        snap = QueueAuthority(site, store).snapshot(_hel_ms(2026, 11, 24, 7, 50))
    finally:
        store.close()
    m = DisplayModel(site, DisplaySettings(), started=0.0)
    m.on_state({**snap, "heartbeat_s": 10}, 1.0)
    assert not m.open and m.opens_ms == _hel_ms(2026, 11, 24, 8, 0) and m.hub_ms == snap["ts"]


def test_a_service_closed_for_today_shows_so_instead_of_a_wait(example_site):
    from core.i18n import Translator
    from display.model import service_wait_text

    m = DisplayModel(example_site, parse_display({"services": ["kela", "poliisi", "vero"]},
                                                 set(example_site.services)))
    s = state(waiting={"kela": 2, "poliisi": 3})
    s["services"]["poliisi"]["est_wait_s"] = None   # still three waiting: they are served
    s["services"]["vero"] = {"waiting": 0, "est_wait_s": None, "open_counters": 0}
    m.on_state(s, 1.0)
    rows = {r.id: r for r in m.services}
    assert not rows["kela"].closed_today and rows["poliisi"].closed_today and rows["vero"].closed_today
    assert [r.id for r in m.visible_services()] == ["kela", "poliisi", "vero"]  # a zone shows them all
    fi, sv, en = (Translator(lg, "display") for lg in ("fi", "sv", "en"))
    assert service_wait_text(rows["vero"], fi) == "suljettu tältä päivältä"
    assert service_wait_text(rows["vero"], sv) == "stängt för i dag"
    assert service_wait_text(rows["vero"], en) == "closed for today"
    assert service_wait_text(rows["poliisi"], en) == "waiting · no new numbers today"
    assert service_wait_text(rows["kela"], en) == "waiting · about 10 min"
    # an estimate missing altogether (an older hub) is not "closed"
    del s["services"]["vero"]["est_wait_s"]
    m.on_state(s, 2.0)
    assert not {r.id: r for r in m.services}["vero"].closed_today
