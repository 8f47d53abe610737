"""Commands on the wire: parsing (a command, or CommandError and nothing else), role permissions,
and the hub's answers."""
from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core import commands as c
from core import engine as e
from core.commands import (
    MAX_COMMAND_BYTES,
    ROLE_COMMANDS,
    CommandError,
    allowed,
    command_name,
    parse_command,
    parse_command_json,
)
from core.errors import WireError
from core.store import EventStore
from hub.authority import QueueAuthority

json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=12)
json_values = st.recursive(json_scalars, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.text(max_size=10), inner, max_size=4), max_leaves=16)

VALID = {
    "take": ({"cmd": "take", "service": "kela", "lang": "sv",
              "needs": {"interpreter": "ru", "hearing_loop": True, "accessible_room": False}},
             e.TakeTicket("kela", "sv", e.Needs("ru", True, False))),
    "checkin": ({"cmd": "checkin", "code": "ABC-123"}, e.CheckIn("ABC-123", "fi", e.Needs())),
    "call": ({"cmd": "call", "counter": "3"}, e.CallNext("3")),
    "recall": ({"cmd": "recall", "counter": "3"}, e.Recall("3")),
    "finish": ({"cmd": "finish", "counter": "3", "outcome": "advice"}, e.Finish("3", "advice")),
    "call_number": ({"cmd": "call_number", "counter": "3", "number": "K012"}, e.CallNumber("3", "K012")),
    "park": ({"cmd": "park", "counter": "3"}, e.Park("3")),
    "requeue": ({"cmd": "requeue", "counter": "3", "number": "K012"}, e.Requeue("3", "K012")),
    "no_show": ({"cmd": "no_show", "counter": "3"}, e.NoShow("3")),
    "open": ({"cmd": "open", "counter": "H1"}, e.OpenCounter("H1")),
    "close": ({"cmd": "close", "counter": "H1"}, e.CloseCounter("H1")),
    "transfer": ({"cmd": "transfer", "counter": "3", "service": "dvv"}, e.Transfer("3", "dvv")),
    "cancel": ({"cmd": "cancel", "ticket": "2026-11-23/K001", "reason": "left"}, e.Cancel("2026-11-23/K001", "left")),
    "help": ({"cmd": "help", "device": "kiosk-1", "lang": "en"}, e.RequestHelp("kiosk-1", "en")),
    "help_answered": ({"cmd": "help_answered", "request": "kiosk-1-1700", "counter": "2"},
                      e.AnswerHelp("kiosk-1-1700", "2")),
}


@pytest.mark.parametrize("name", sorted(VALID))
def test_each_command_parses(name):
    obj, expected = VALID[name]
    assert parse_command(obj) == expected
    assert parse_command_json(json.dumps(obj)) == expected
    assert parse_command_json(json.dumps(obj).encode()) == expected
    assert command_name(expected) == name


def test_defaults():
    assert parse_command({"cmd": "take", "service": "kela"}) == e.TakeTicket("kela", "fi", e.Needs())
    assert parse_command({"cmd": "cancel", "ticket": "2026-11-23/K001"}) == e.Cancel("2026-11-23/K001", "cancelled")
    assert parse_command({"cmd": "help_answered", "request": "r"}) == e.AnswerHelp("r", None)
    assert parse_command({"cmd": "take", "service": "kela", "needs": None}).needs == e.Needs()


MALFORMED = [
    ({}, "malformed"), ({"cmd": None}, "malformed"), ({"cmd": 5}, "malformed"), ([], "malformed"),
    ("take", "malformed"), (None, "malformed"), (5, "malformed"),
    ({"cmd": "explode"}, "unknown_command"), ({"cmd": "state"}, "unknown_command"),
    ({"cmd": "take"}, "malformed"), ({"cmd": "take", "service": ""}, "malformed"),
    ({"cmd": "take", "service": 5}, "malformed"), ({"cmd": "take", "service": "x" * 65}, "malformed"),
    ({"cmd": "take", "service": "kela", "lang": "x"}, "malformed"),
    ({"cmd": "take", "service": "kela", "lang": 5}, "malformed"),
    ({"cmd": "take", "service": "kela", "needs": []}, "malformed"),
    ({"cmd": "take", "service": "kela", "needs": [1]}, "malformed"),
    ({"cmd": "take", "service": "kela", "needs": 0}, "malformed"),
    ({"cmd": "take", "service": "kela", "needs": ""}, "malformed"),
    ({"cmd": "take", "service": "kela", "needs": {"name": "Matti"}}, "malformed"),
    ({"cmd": "take", "service": "kela", "needs": {"interpreter": 5}}, "malformed"),
    ({"cmd": "take", "service": "kela", "needs": {"interpreter": "x"}}, "malformed"),
    ({"cmd": "take", "service": "kela", "needs": {"hearing_loop": "yes"}}, "malformed"),
    ({"cmd": "take", "service": "kela", "needs": {"accessible_room": 1}}, "malformed"),
    ({"cmd": "checkin"}, "malformed"), ({"cmd": "checkin", "code": "x" * 33}, "malformed"),
    ({"cmd": "call"}, "malformed"), ({"cmd": "call", "counter": 3}, "malformed"),
    ({"cmd": "finish", "counter": None}, "malformed"), ({"cmd": "open", "counter": ["1"]}, "malformed"),
    ({"cmd": "transfer", "counter": "3"}, "malformed"), ({"cmd": "transfer", "service": "kela"}, "malformed"),
    ({"cmd": "cancel"}, "malformed"), ({"cmd": "cancel", "ticket": "t", "reason": 5}, "malformed"),
    ({"cmd": "cancel", "ticket": "t", "reason": "x" * 41}, "malformed"),
    ({"cmd": "help"}, "malformed"), ({"cmd": "help", "device": "k", "lang": ""}, "malformed"),
    ({"cmd": "help_answered"}, "malformed"), ({"cmd": "help_answered", "request": "r", "counter": 2}, "malformed"),
]


def _error(parse, payload) -> CommandError:
    with pytest.raises(CommandError) as info:
        parse(payload)
    return info.value


@pytest.mark.parametrize("obj,code", MALFORMED)
def test_malformed_payloads_give_an_error_code(obj, code):
    err = _error(parse_command, obj)
    assert err.code == code and isinstance(err.code, WireError), err
    assert isinstance(err, ValueError) and str(err) == err.message  # a real exception, with its reason
    assert err.to_dict() == {"ok": False, "error": code, "message": err.message}
    again = _error(parse_command_json, json.dumps(obj))
    assert (again.code, again.message) == (err.code, err.message)


def test_payload_level_errors():
    assert _error(parse_command_json, "{").code == "malformed"
    assert _error(parse_command_json, b"\xff\xfe{").code == "malformed"
    assert _error(parse_command_json, "").code == "malformed"
    assert _error(parse_command_json, b"x" * (MAX_COMMAND_BYTES + 1)).code == "too_large"
    # The limit is in bytes, not characters.
    wide = json.dumps({"cmd": "take", "service": "kela", "pad": "€" * 1500}, ensure_ascii=False)
    assert len(wide) < MAX_COMMAND_BYTES < len(wide.encode())
    assert _error(parse_command_json, wide).code == "too_large"
    # Nesting deeper than the JSON parser goes, within the size limit.
    assert _error(parse_command_json, "[" * 4000).code == "malformed"
    assert _error(parse_command_json, '{"a":[' * 600).code == "malformed"


def _outcome(parse, payload):
    """The parsed command, or the CommandError raised; anything else raised fails the test."""
    try:
        return parse(payload)
    except CommandError as exc:
        return exc


@given(json_values)
@settings(max_examples=400)
def test_any_json_value(obj):
    res = _outcome(parse_command, obj)
    assert isinstance(res, (CommandError, *_COMMAND_TYPES))
    assert type(_outcome(parse_command_json, json.dumps(obj))) is type(res)


@given(st.sampled_from(sorted(c._BUILDERS)),
       st.dictionaries(st.sampled_from(["service", "code", "counter", "ticket", "reason", "device", "request",
                                        "lang", "needs", "x"]), json_values, max_size=5))
@settings(max_examples=400)
def test_known_command_with_arbitrary_fields(name, fields):
    res = _outcome(parse_command, {"cmd": name, **fields})
    if isinstance(res, CommandError):
        assert res.code == "malformed"
    else:
        assert command_name(res) == name
        for f in ("service", "code", "counter", "ticket", "device", "request"):
            if hasattr(res, f) and f in fields and name != "help_answered":
                assert isinstance(getattr(res, f), str) and getattr(res, f)


@given(st.binary(max_size=5000))
@settings(max_examples=300)
def test_arbitrary_bytes(raw):
    assert isinstance(_outcome(parse_command_json, raw), (CommandError, *_COMMAND_TYPES))


_COMMAND_TYPES = (e.TakeTicket, e.CheckIn, e.CallNext, e.Recall, e.Finish, e.NoShow, e.Transfer, e.Cancel,
                  e.OpenCounter, e.CloseCounter, e.RequestHelp, e.AnswerHelp)


# --- roles ----------------------------------------------------------------------------------

def test_role_permissions():
    cmds = {name: cmd for name, (_, cmd) in VALID.items()}
    expect = {
        "kiosk": {"take", "checkin", "help"},
        "counter": {"call", "recall", "finish", "no_show", "transfer", "cancel", "open", "close",
                    "help_answered", "take", "call_number", "park", "requeue"},
        "hub": set(VALID),
        "display": set(),
        "feedback": set(),
        "stranger": set(),
    }
    for role, names in expect.items():
        assert {n for n, cmd in cmds.items() if allowed(role, cmd)} == names, role
    # Every command the wire knows is allowed to someone, and every role named exists in config.
    assert set().union(*ROLE_COMMANDS.values()) == set(VALID)
    from core.config import ROLES
    assert set(ROLE_COMMANDS) == set(ROLES)


def test_hub_answers_every_payload_and_checks_the_role(tmp_path, example_site):
    with EventStore(tmp_path / "hub.sqlite", example_site.id, "hub-1") as store:
        auth = QueueAuthority(example_site, store, clock=lambda: 1_790_000_000_000)
        r = auth.handle_payload(json.dumps({"cmd": "open", "counter": "1"}), role="kiosk")
        assert r == {"ok": False, "error": "not_allowed", "message": "a kiosk may not send 'open'"}
        assert store.last_seq == 0
        assert auth.handle_payload(b"\x00garbage", role="hub")["error"] == "malformed"
        assert auth.handle_payload(json.dumps({"cmd": "nope"}), role="hub")["error"] == "unknown_command"
        r = auth.handle_payload(json.dumps({"cmd": "take", "service": "kela"}), role="kiosk")
        assert r["ok"] and r["number"] == "K001"
        assert auth.handle_payload(json.dumps({"cmd": "call", "counter": "1"}), role="display")["error"] == "not_allowed"
        assert auth.handle_payload(json.dumps({"cmd": "call", "counter": "1"}), role="counter")["error"] == \
            "counter_closed"
        assert store.last_seq == 1


# --- field validation: nothing a person did not have to type gets into an event ------------------

@pytest.fixture
def hub(tmp_path):
    from core.config import load_device
    from hub.service import HubService
    from tests.support.hubproc import write_device_config

    svc = HubService(load_device(write_device_config(tmp_path / "hub", 1)))
    svc.open_store()
    yield svc
    svc.store.close()


@pytest.mark.parametrize("lang", ["fi\x00", "f\u0007i", "😀", "131052-308T", "\ud800", "\udfff", "FI", "fi ",
                                  "xx", "de", ["fi"], 5])
def test_lang_is_one_of_the_sites_languages_and_anything_else_is_malformed(hub, lang):
    kiosk = next(d for d, r in hub.site.devices.items() if r == "kiosk")
    for cmd in ({"cmd": "take", "service": next(iter(hub.site.services))}, {"cmd": "help", "device": kiosk}):
        payload = json.dumps({**cmd, "lang": lang}).encode("utf-8", "surrogatepass")
        r = hub.handle_command(payload, kiosk)
        assert r["ok"] is False and r["error"] == "malformed", (lang, r)
    assert hub.store.last_seq == 0


def test_a_help_request_names_its_sender_and_no_one_else(hub):
    kiosk = next(d for d, r in hub.site.devices.items() if r == "kiosk")
    for device in ("Matti Meikäläinen 131052-308T", "counter-1", "hub-1", "kiosk-1 "):
        r = hub.handle_command(json.dumps({"cmd": "help", "device": device}), kiosk)
        assert r["error"] == "malformed", (device, r)
    assert hub.store.last_seq == 0
    r = hub.handle_command(json.dumps({"cmd": "help", "device": kiosk, "lang": hub.site.languages[-1]}), kiosk)
    assert r["ok"]
    (ev,) = hub.store.events()
    assert ev.data["device"] == kiosk and ev.data["lang"] == hub.site.languages[-1]


@pytest.mark.parametrize("payload", [
    {"cmd": "help_answered", "request": "r-1", "counter": "asiakas Matti"},
    {"cmd": "help_answered", "request": "r-1", "counter": "no-such-counter"},
    {"cmd": "help_answered", "request": "Matti 040 123 4567"},
    {"cmd": "cancel", "ticket": "2026-11-23/K001", "reason": "asiakas Matti Meikäläinen"},
    {"cmd": "cancel", "ticket": "Matti"},
    {"cmd": "transfer", "counter": "1", "service": "kela\x00"},
    {"cmd": "open", "counter": "\ud800"},
    {"cmd": "checkin", "code": "131052 308T\n"},
    {"cmd": "take", "service": "kela", "needs": {"interpreter": "\ud800"}},
])
def test_every_other_field_is_an_id_a_code_or_a_word(hub, payload):
    counter = next(d for d, r in hub.site.devices.items() if r == "counter")
    r = hub.handle_command(json.dumps(payload).encode("utf-8", "surrogatepass"), counter)
    assert r["error"] == "malformed", (payload, r)
    assert hub.store.last_seq == 0
