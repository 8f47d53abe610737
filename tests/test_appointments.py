"""Appointment lists: taken whole or refused whole, naming the line; no personal data."""
from __future__ import annotations

import datetime as _dt
import json
from zoneinfo import ZoneInfo

import pytest

from core.appointments import (
    AppointmentFileError,
    appointments_from_json,
    appointments_to_json,
    load_appointments,
    parse_appointments,
)
from core.engine import Appointment

HEL = ZoneInfo("Europe/Helsinki")


def ms(y, mo, d, h, mi, tz=HEL):
    return int(_dt.datetime(y, mo, d, h, mi, tzinfo=tz).timestamp() * 1000)


def test_csv_with_local_times(example_site):
    text = "code,service,time\nABC123,kela,2026-11-23T10:30\nXY-77,poliisi,2026-07-01T08:00\n"
    appts = parse_appointments(text, example_site)
    assert appts == [Appointment("ABC123", "kela", ms(2026, 11, 23, 10, 30)),
                     Appointment("XY-77", "poliisi", ms(2026, 7, 1, 8, 0))]
    # Naive times are the site's local time: 10:30 in November is 08:30 UTC, in July 05:00 UTC.
    assert appts[0].at_ms == ms(2026, 11, 23, 8, 30, _dt.timezone.utc)
    assert appts[1].at_ms == ms(2026, 7, 1, 5, 0, _dt.timezone.utc)


def test_json_forms_and_explicit_offsets(example_site):
    items = [{"code": "ABC123", "service": "kela", "time": "2026-11-23T10:30:00+00:00"}]
    for text in (json.dumps(items), json.dumps({"appointments": items})):
        assert parse_appointments(text, example_site) == [Appointment("ABC123", "kela",
                                                                      ms(2026, 11, 23, 10, 30, _dt.timezone.utc))]
    assert parse_appointments("code,service,time\n", example_site) == []


@pytest.mark.parametrize("text,where,what", [
    ("code,service,time,name\nABC123,kela,2026-11-23T10:30,Matti\n", "line 2", "personal data"),
    ("code,service,time,Hetu\nABC123,kela,2026-11-23T10:30,x\n", "line 2", "personal data"),
    ('[{"code": "ABC123", "service": "kela", "time": "2026-11-23T10:30", "phone": "040"}]', "item 1",
     "personal data"),
    ("code,service,time\nABC123,kela,2026-11-23T10:30\nAB,kela,2026-11-23T10:30\n", "line 3", "code must be"),
    ("code,service,time\nABC123,nope,2026-11-23T10:30\n", "line 2", "unknown service"),
    ("code,service,time\nABC123,kela,tomorrow\n", "line 2", "not ISO 8601"),
    ("code,service,time\nABC123,kela\n", "line 2", "missing time"),
    ("code,service,time\nABC123,kela,2026-11-23T10:30,extra\n", "line 2", "more fields"),
    ("code,service,time\nABC123,kela,2026-11-23T10:30\nABC123,dvv,2026-11-23T11:00\n", "entry 2", "appears twice"),
    ("", "line 1", "empty file"),
    ("[1]", "item 1", "must be an object"),
    ('{"x": []}', "file", "expected a list"),
    ('[{"code": "ABC123", "service": "kela", "time": 5}]', "item 1", "ISO 8601"),
    ("[{", "line 1", "not valid JSON"),
])
def test_bad_files_are_refused_whole_naming_the_place(example_site, text, where, what):
    with pytest.raises(AppointmentFileError) as exc:
        parse_appointments(text, example_site)
    assert exc.value.where == where and what in str(exc.value)


def test_load_from_file_and_wire_form(example_site, tmp_path):
    p = tmp_path / "appts.csv"
    p.write_text("\ufeffcode,service,time\nABC123,kela,2026-11-23T10:30\n", encoding="utf-8")  # Excel's BOM
    appts = load_appointments(p, example_site)
    assert appts[0].code == "ABC123"
    assert appointments_from_json(json.loads(json.dumps(appointments_to_json(appts)))) == appts
    with pytest.raises(AppointmentFileError, match="cannot read"):
        load_appointments(tmp_path / "missing.csv", example_site)


# --- the reference a checked-in appointment leaves in the events ---------------------------------

def _checked_in_ref(example_site, store_path, code="123456"):
    from core.engine import CheckIn
    from core.store import EventStore
    from hub.authority import QueueAuthority

    at = ms(2026, 11, 23, 10, 0)
    with EventStore(store_path, example_site.id, "hub-1") as store:
        auth = QueueAuthority(example_site, store, [Appointment(code, "kela", at)], clock=lambda: at)
        r = auth.handle(CheckIn(code))
        assert r["ok"], r
        (ev,) = store.events()
        # A second check-in after a restart (same store, so the same key) is still recognised.
        again = QueueAuthority(example_site, store, [Appointment(code, "kela", at)], clock=lambda: at)
        assert again.handle(CheckIn(code))["error"] == "already_checked_in"
    return ev.data["appointment_ref"]


def test_the_reference_cannot_be_recomputed_from_the_site_id_and_the_code(example_site, tmp_path):
    import hashlib
    import hmac

    ref = _checked_in_ref(example_site, tmp_path / "hub.sqlite")
    assert "123456" not in ref
    # Every 6-digit code, with every public value as the salt or the key: no match (the old
    # sha256(site:code) gave the code back within a second).
    site = example_site.id.encode()
    for n in range(1_000_000):
        code = b"%06d" % n
        for cand in (hashlib.sha256(site + b":" + code).hexdigest(),
                     hmac.new(site, code, hashlib.sha256).hexdigest()):
            assert not cand.startswith(ref[:16]), code
    # Another hub (another store) has another key: the same code gives another reference.
    assert _checked_in_ref(example_site, tmp_path / "other.sqlite") != ref
