"""The event envelope: strict parsing that gives an Event or raises EventError, and nothing else."""
from __future__ import annotations

import json
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.events import (
    EVENT_DATA,
    MAX_EVENT_BYTES,
    SCHEMA_VERSION,
    Event,
    EventError,
    parse_event,
    parse_event_json,
    valid_id,
)

json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20)
json_values = st.recursive(json_scalars, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.text(max_size=10), inner, max_size=4), max_leaves=20)


def parsed(obj):
    """The Event, or the EventError raised; any other exception fails the test."""
    try:
        return parse_event(obj)
    except EventError as exc:
        return exc


def parsed_json(text):
    try:
        return parse_event_json(text)
    except EventError as exc:
        return exc


def valid(**over) -> dict:
    d = {"v": 1, "id": "0123456789abcdef0123456789abcdef", "site": "example-pp", "device": "hub-1",
         "seq": 7, "type": "ticket.called", "ts": 1_790_000_000_000,
         "data": {"ticket": "2026-11-23/K001", "counter": "3"}}
    d.update(over)
    return d


def data_for(etype: str) -> dict:
    return {k: "x" for k in EVENT_DATA[etype]}


def test_valid_event_parses_and_round_trips():
    ev = parsed(valid())
    assert isinstance(ev, Event)
    assert (ev.seq, ev.type, ev.site, ev.device, ev.v) == (7, "ticket.called", "example-pp", "hub-1", 1)
    assert parsed_json(ev.to_json()) == ev
    assert parsed_json(ev.to_json().encode()) == ev
    assert ev.to_dict() == valid()


@pytest.mark.parametrize("etype", sorted(EVENT_DATA))
def test_every_type_parses_with_its_keys_and_not_without(etype):
    assert isinstance(parsed(valid(type=etype, data=data_for(etype))), Event)
    for key in EVENT_DATA[etype]:
        d = data_for(etype)
        del d[key]
        err = parsed(valid(type=etype, data=d))
        assert isinstance(err, EventError) and err.field == "data" and key in err.reason
    # More keys than needed are fine.
    assert isinstance(parsed(valid(type=etype, data={**data_for(etype), "extra": [1, 2]})), Event)


@pytest.mark.parametrize("field", ["v", "id", "site", "device", "seq", "type", "ts", "data"])
def test_missing_field_names_it(field):
    d = valid()
    del d[field]
    err = parsed(d)
    assert isinstance(err, EventError) and err.field == field and "missing" in err.reason
    assert str(err).startswith(f"{field}:")


@pytest.mark.parametrize("field,value", [
    ("v", 0), ("v", 2), ("v", "1"), ("v", True), ("v", 1.0), ("v", None),
    ("id", "short"), ("id", "x" * 65), ("id", 12345678901), ("id", "has space 12345"), ("id", "ä" * 10),
    ("id", "abc/defgh"), ("id", None), ("id", "0123456789abcdef\n"),
    ("site", ""), ("site", "a/b"), ("site", "a b"), ("site", "x" * 65), ("site", 5), ("site", "-lead"),
    ("site", "+"), ("site", "#"), ("device", "hub 1"), ("device", None), ("device", "ä"),
    ("seq", 0), ("seq", -1), ("seq", True), ("seq", 1.0), ("seq", "1"), ("seq", None),
    ("ts", -1), ("ts", 2**53), ("ts", 1.5), ("ts", True), ("ts", "0"),
    ("type", "ticket.exploded"), ("type", 5), ("type", None), ("type", "TICKET.ISSUED"), ("type", []),
    ("type", {"a": 1}), ("site", "hub-1\n"),
    ("data", []), ("data", "x"), ("data", None),
])
def test_bad_field_is_an_error_naming_it(field, value):
    err = parsed(valid(**{field: value}))
    assert isinstance(err, EventError), f"{field}={value!r} was accepted"
    assert err.field == field
    with pytest.raises(ValueError, match=re.escape(str(err))):  # a real exception, with its reason
        parse_event(valid(**{field: value}))


def test_bool_is_never_taken_for_an_int():
    for key in ("v", "seq", "ts"):
        assert isinstance(parsed(valid(**{key: True})), EventError)
        assert isinstance(parsed(valid(**{key: False})), EventError)


def test_unknown_top_level_field_and_non_objects():
    err = parsed(valid(extra=1))
    assert isinstance(err, EventError) and "extra" in err.reason
    for obj in (None, [], "x", 1, [valid()]):
        assert isinstance(parsed(obj), EventError)
    # A dict built in code (not from JSON) with mixed key types: still an error, not a TypeError.
    assert isinstance(parsed({**valid(), 1: 2, "z": 3}), EventError)


def test_oversized_and_broken_json():
    big = valid(data={"ticket": "t", "counter": "c", "pad": "x" * MAX_EVENT_BYTES})
    for text in (json.dumps(big), json.dumps(big).encode()):
        err = parsed_json(text)
        assert isinstance(err, EventError) and "larger" in err.reason
    # The limit is in bytes: 6,000 characters of 3-byte text are 18 KB.
    wide = json.dumps(valid(data={"ticket": "t", "counter": "c", "pad": "€" * 6000}), ensure_ascii=False)
    assert len(wide) < MAX_EVENT_BYTES < len(wide.encode())
    assert isinstance(parsed_json(wide), EventError)
    # Just under the limit is fine.
    ok = json.dumps(valid(data={"ticket": "t", "counter": "c", "pad": "x" * (MAX_EVENT_BYTES - 400)}))
    assert isinstance(parsed_json(ok), Event)
    for text in ("", "{", "nope", b"\xff\xfe\x00", b"{\"v\": 1,", "[" * 10_000, "{\"a\":" * 3000,
                 "NaN", "1e999999"):
        assert isinstance(parsed_json(text), EventError), text[:20]


def test_valid_id():
    assert valid_id("hub-1") and valid_id("a") and valid_id("Ab_c-9") and valid_id("x" * 64)
    for bad in ("", "x" * 65, "-a", ".a", "a.b", "a/b", "a+b", "a#", "ä", None, 1, b"hub", "hub-1\n", "a\nb"):
        assert not valid_id(bad)


@given(json_values)
@settings(max_examples=300)
def test_any_json_value_parses_to_event_or_error(obj):
    assert isinstance(parsed(obj), (Event, EventError))
    assert isinstance(parsed_json(json.dumps(obj)), (Event, EventError))


@given(st.sampled_from(["v", "id", "site", "device", "seq", "type", "ts", "data"]), json_values)
@settings(max_examples=400)
def test_one_field_replaced_by_anything(field, value):
    """Replace one field of a valid event by any JSON value: either it is an error, or the
    value obeys every rule of that field."""
    res = parsed(valid(**{field: value}))
    if isinstance(res, EventError):
        assert res.field in (field, "data")
        return
    v = getattr(res, field)
    if field == "v":
        assert v == SCHEMA_VERSION and type(v) is int
    elif field in ("seq", "ts"):
        assert type(v) is int and v >= (1 if field == "seq" else 0)
    elif field in ("site", "device"):
        assert valid_id(v)
    elif field == "id":
        assert isinstance(v, str) and 8 <= len(v) <= 64 and v.isascii()
    elif field == "type":
        assert v in EVENT_DATA
    elif field == "data":
        assert isinstance(v, dict) and EVENT_DATA["ticket.called"] <= v.keys()


@given(st.dictionaries(st.sampled_from(["v", "id", "site", "device", "seq", "type", "ts", "data", "x"]),
                       json_values))
@settings(max_examples=150)
def test_any_envelope_shaped_dict(obj):
    assert isinstance(parsed(obj), (Event, EventError))


@given(st.binary(max_size=300))
@settings(max_examples=300)
def test_arbitrary_bytes(raw):
    assert isinstance(parsed_json(raw), (Event, EventError))
