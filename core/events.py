"""The event envelope: everything that happens on a device is one of these.

An event is appended to the store of the device where it happened before anything else is done
with it. Parsing is strict: anything that does not fit raises `EventError` (and nothing else
does), so a reader catches that one exception and dead-letters the message instead of dying.
"""
from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from .follow import CUSTOMER_CANCEL_REASON
from .privacy import COMMENT_MAX_LIMIT, clean_comment, has_controls
from .schema import Bool, Choice, Int, Invalid, ListOf, Number, Text, Type

SCHEMA_VERSION = 1

#: Event types and the data keys each must carry (more keys are allowed).
EVENT_DATA: dict[str, frozenset[str]] = {
    "ticket.issued": frozenset({"ticket", "number", "service", "day", "kind"}),
    "ticket.called": frozenset({"ticket", "counter"}),
    "ticket.recalled": frozenset({"ticket", "counter"}),
    "ticket.finished": frozenset({"ticket"}),
    "ticket.no_show": frozenset({"ticket"}),
    "ticket.transferred": frozenset({"ticket", "from_service", "to_service"}),
    "ticket.cancelled": frozenset({"ticket", "reason"}),
    "ticket.parked": frozenset({"ticket", "counter"}),
    "ticket.requeued": frozenset({"ticket"}),
    "counter.opened": frozenset({"counter"}),
    "counter.closed": frozenset({"counter"}),
    "help.requested": frozenset({"request", "device"}),
    "help.answered": frozenset({"request"}),
    "feedback.given": frozenset({"rating", "scale"}),
    "printer.fault": frozenset({"reason"}),
    "printer.recovered": frozenset(),
}
EVENT_TYPES = frozenset(EVENT_DATA)


class _OrNull(Type):
    """`type` or JSON null (a question skipped, a time not known)."""

    def __init__(self, type_: Type) -> None:
        self.type = type_
        self.label = f"{type_.label} or null"

    def check(self, value, ctx):
        return None if value is None else self.type.check(value, ctx)


class _Object(Type):
    """A JSON object with exactly these keys allowed (`required` among them)."""

    def __init__(self, fields: Mapping[str, Type], required: frozenset[str] = frozenset()) -> None:
        self.fields, self.required = dict(fields), required
        self.label = "an object"

    def check(self, value, ctx):
        if not isinstance(value, dict):
            raise Invalid("must be an object")
        for k, v in value.items():
            t = self.fields.get(k) if isinstance(k, str) else None
            if t is None:
                raise Invalid(f"unknown key {str(k)[:40]!r}")
            try:
                t.check(v, ctx)
            except Invalid as exc:
                raise Invalid(f"{k}: {exc}") from None
        missing = self.required - value.keys()
        if missing:
            raise Invalid(f"needs {sorted(missing)}")
        return value


def _plain_text(max_len: int) -> Callable[[str], str | None]:
    def test(v: str) -> str | None:
        if len(v) > max_len:
            return f"must be at most {max_len} characters"
        return "must not contain control characters" if has_controls(v) else None
    return test


_SHORT_ID = Text(test=lambda v: None if valid_id(v) else "must be a short id", label="a short id")
#: Patterns of the values that also arrive in commands (core.commands checks them the same way).
TICKET_PATTERN = r"\d{4}-\d{2}-\d{2}/[A-Z]{1,2}\d{3,7}"
LANG_PATTERN = r"[a-z]{2,3}"
REQUEST_PATTERN = r"[A-Za-z0-9_.-]{1,128}"
_TICKET = Text(pattern=TICKET_PATTERN, label="a ticket id (2026-11-23/K001)")
NUMBER_PATTERN = r"[A-Z]{1,2}\d{3,7}"
_NUMBER = Text(pattern=NUMBER_PATTERN, label="a ticket number (K001)")
_DAY = Text(pattern=r"\d{4}-\d{2}-\d{2}", label="a date (2026-11-23)")
_LANG = Text(pattern=LANG_PATTERN, label="a language code")
_TOKEN = Text(pattern=r"[A-Za-z0-9_-]{1,64}", label="a random token")
_WORD = Text(pattern=r"[a-z][a-z0-9_]{0,31}", label="a lower-case word")
_REQUEST = Text(pattern=REQUEST_PATTERN, label="a help request id")
_REF = Text(pattern=r"[0-9a-f]{16,64}", label="a hex reference")
_MS = Int(0, 2**53 - 1)
_SECONDS = _OrNull(Int(0, 10**9))
_COUNT = Int(0, 10**6)
_KINDS = Choice("walk_in", "appointment")
#: Why a ticket was cancelled: a clerk picks one (no free text); "day_closed" only by the hub's housekeeping.
CANCEL_REASONS = ("cancelled", "left", "duplicate", "mistake")
#: Reasons only the hub itself writes, never a command: its housekeeping's, and the customer's own
#: cancel from the phone page (core.follow), which the hub acts on for the customer.
HUB_CANCEL_REASONS = ("day_closed", CUSTOMER_CANCEL_REASON)
_NEEDS = _Object({"interpreter": _OrNull(_LANG), "hearing_loop": Bool(), "accessible_room": Bool()})
#: Feedback answers (feedback_terminal.recorder writes them; the figures read them).
FEEDBACK_SCALES = (3, 4, 5)
FEEDBACK_OUTCOMES = ("done", "started", "not_done")
FEEDBACK_SELF_SERVICE = ("yes", "no")
FEEDBACK_PARTS = ("rating", "outcome", "self_service", "comment")
FEEDBACK_INPUTS = ("touch", "button")
FEEDBACK_FLAGS = ("interval", "burst")

#: Every key each event type may carry and what it must be (EVENT_DATA says which are required;
#: any other key is refused, so nothing personal can ride along). Checked by `check_event`.
EVENT_SCHEMAS: dict[str, dict[str, Type]] = {
    "ticket.issued": {
        "ticket": _TICKET, "number": _NUMBER, "n": Int(1, 10**7), "service": _SHORT_ID, "day": _DAY,
        "kind": _KINDS, "lang": _LANG, "needs": _NEEDS, "token": _TOKEN, "ahead": _COUNT,
        "est_wait_s": _OrNull(Number(0, 10**9)), "appointment_ms": _MS, "appointment_ref": _REF,
        "room": _SHORT_ID},
    "ticket.called": {"ticket": _TICKET, "counter": _SHORT_ID, "service": _SHORT_ID, "number": _NUMBER,
                      "kind": _KINDS, "waited_s": _SECONDS, "by_number": Bool(), "from": Choice("parked")},
    "ticket.recalled": {"ticket": _TICKET, "counter": _SHORT_ID, "number": _NUMBER},
    "ticket.finished": {"ticket": _TICKET, "counter": _SHORT_ID, "service": _SHORT_ID, "service_s": _SECONDS,
                        "outcome": _SHORT_ID},
    "ticket.parked": {"ticket": _TICKET, "counter": _SHORT_ID, "service": _SHORT_ID, "number": _NUMBER,
                      "service_s": _SECONDS},
    "ticket.requeued": {"ticket": _TICKET, "counter": _SHORT_ID, "service": _SHORT_ID, "number": _NUMBER},
    "ticket.no_show": {"ticket": _TICKET, "counter": _SHORT_ID, "service": _SHORT_ID},
    "ticket.transferred": {"ticket": _TICKET, "counter": _SHORT_ID, "from_service": _SHORT_ID,
                           "to_service": _SHORT_ID, "service_s": _SECONDS},
    "ticket.cancelled": {"ticket": _TICKET, "reason": Choice(*CANCEL_REASONS, *HUB_CANCEL_REASONS),
                         "service": _SHORT_ID},
    "counter.opened": {"counter": _SHORT_ID},
    "counter.closed": {"counter": _SHORT_ID},
    "help.requested": {"request": _REQUEST, "device": _SHORT_ID, "lang": _LANG},
    "help.answered": {"request": _REQUEST, "counter": _OrNull(_SHORT_ID)},
    "feedback.given": {
        "response": Text(pattern=r"[0-9a-f]{8,32}", label="a response id"), "part": Choice(*FEEDBACK_PARTS),
        "rev": Int(1, 100), "rating": Int(1, 5), "scale": Choice(*FEEDBACK_SCALES),
        "outcome": _OrNull(Choice(*FEEDBACK_OUTCOMES)), "self_service": _OrNull(Choice(*FEEDBACK_SELF_SERVICE)),
        "comment": _OrNull(Text(test=_plain_text(COMMENT_MAX_LIMIT))), "language": _LANG,
        "input": Choice(*FEEDBACK_INPUTS), "flags": ListOf(Choice(*FEEDBACK_FLAGS)),
        "local_time": Text(pattern=r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}([+-]\d{2}:\d{2}|Z)", label="a local time"),
        "service": _OrNull(_SHORT_ID)},
    "printer.fault": {"reason": _WORD, "status": _WORD, "fault_ms": _OrNull(Int(0, 2**53 - 1))},
    "printer.recovered": {"reason": _WORD, "status": _WORD, "fault_ms": _OrNull(Int(0, 2**53 - 1))},
}
#: Free-text fields a person types: masked (core.privacy) before they are stored centrally.
FREE_TEXT: dict[str, tuple[str, ...]] = {"feedback.given": ("comment",)}

#: Which device role writes which event types (grep the apps' `append`: the hub's engine writes
#: the queue's events, the kiosk its printer's, the feedback terminal the answers). The ingest
#: refuses any other type from a device of that role.
ROLE_EVENTS: dict[str, frozenset[str]] = {
    "hub": frozenset(t for t in EVENT_DATA if t.startswith(("ticket.", "counter.", "help."))),
    "kiosk": frozenset({"printer.fault", "printer.recovered"}),
    "feedback": frozenset({"feedback.given"}),
    "counter": frozenset(),
    "display": frozenset(),
}

#: How far an event's time may lie from its receive time: a device may come back after months
#: offline with its backlog, but a clock years off or in the future is a broken or forged event.
TS_MAX_AGE_MS = 400 * 86_400_000
TS_MAX_AHEAD_MS = 86_400_000


def _feedback_cross(data: dict[str, Any]) -> str | None:
    rating, scale = data.get("rating"), data.get("scale")
    if isinstance(rating, int) and isinstance(scale, int) and rating > scale:
        return f"rating {rating} is above the scale {scale}"
    return None


_CROSS_CHECKS: dict[str, Callable[[dict[str, Any]], str | None]] = {"feedback.given": _feedback_cross}

#: No "." in ids: a device's central user name is "<site>.<device>", and only a separator that
#: ids cannot contain keeps two (site, device) pairs from giving one user name.
_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
#: Event ids: uuid4 hex here, but any short token of safe characters from other writers.
_EVENT_ID_RE = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
#: Largest JSON text of one event that is accepted; keeps a runaway payload out of every store.
MAX_EVENT_BYTES = 16 * 1024


def valid_id(value: Any) -> bool:
    """Site, device, service and counter ids: short, ASCII letters, digits, '-' and '_', usable as
    one MQTT topic level, a file name and one part of a central user name."""
    # fullmatch: with match(), "$" also matches before a trailing newline ("hub-1\n").
    return isinstance(value, str) and bool(_ID_RE.fullmatch(value))


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def new_event_id() -> str:
    return uuid.uuid4().hex


@dataclass(frozen=True, slots=True)
class Event:
    id: str
    site: str
    device: str
    seq: int
    type: str
    ts: int
    data: dict[str, Any] = field(default_factory=dict)
    v: int = SCHEMA_VERSION

    def to_dict(self) -> dict[str, Any]:
        return {
            "v": self.v, "id": self.id, "site": self.site, "device": self.device,
            "seq": self.seq, "type": self.type, "ts": self.ts, "data": self.data,
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, separators=(",", ":"))


class EventError(ValueError):
    """Why something is not a valid event. `field` names the offending part where there is one."""

    def __init__(self, reason: str, field: str | None = None) -> None:
        super().__init__(f"{field}: {reason}" if field else reason)
        self.reason = reason
        self.field = field


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def parse_event(obj: Any) -> Event:
    """A dict (decoded JSON) to an Event. Raises EventError saying what is wrong."""
    if not isinstance(obj, dict):
        raise EventError("an event must be a JSON object")
    if "v" not in obj:
        raise EventError("missing", "v")
    # `True == 1` and `1.0 == 1` in Python: a bool or float version must not pass as 1.
    if not _is_int(obj["v"]) or obj["v"] != SCHEMA_VERSION:
        raise EventError(f"unsupported schema version {obj['v']!r} (this side reads {SCHEMA_VERSION})", "v")
    for key in ("id", "site", "device", "seq", "type", "ts", "data"):
        if key not in obj:
            raise EventError("missing", key)
    extra = set(obj) - {"v", "id", "site", "device", "seq", "type", "ts", "data"}
    if extra:
        # str(): a dict built in code may mix key types, and sorting those would raise.
        raise EventError(f"unknown field(s) {sorted(map(str, extra))}")
    if not isinstance(obj["id"], str) or not _EVENT_ID_RE.fullmatch(obj["id"]):
        raise EventError("must be 8 to 64 letters, digits, '-' or '_'", "id")
    for key in ("site", "device"):
        if not valid_id(obj[key]):
            raise EventError("must be a short id of letters, digits, '-' or '_'", key)
    if not _is_int(obj["seq"]) or obj["seq"] < 1:
        raise EventError("must be a positive integer", "seq")
    if not _is_int(obj["ts"]) or not 0 <= obj["ts"] < 2**53:
        raise EventError("must be UTC epoch milliseconds", "ts")
    etype = obj["type"]
    if not isinstance(etype, str) or etype not in EVENT_DATA:  # a list or dict is unhashable
        raise EventError(f"unknown event type {etype!r}", "type")
    data = obj["data"]
    if not isinstance(data, dict):
        raise EventError("must be an object", "data")
    missing = EVENT_DATA[etype] - data.keys()
    if missing:
        raise EventError(f"{etype} needs {sorted(missing)}", "data")
    return Event(id=obj["id"], site=obj["site"], device=obj["device"], seq=obj["seq"],
                 type=etype, ts=obj["ts"], data=data, v=obj["v"])


def parse_event_json(text: str | bytes) -> Event:
    """JSON text as it comes off the wire to an Event. Raises EventError, and nothing else."""
    # The limit is in bytes: a str of 16k characters can be 64 KB on the wire.
    size = len(text) if isinstance(text, (bytes, bytearray)) else len(text.encode("utf-8", "surrogatepass"))
    if size > MAX_EVENT_BYTES:
        raise EventError(f"event larger than {MAX_EVENT_BYTES} bytes")
    try:
        obj = json.loads(text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise EventError(f"not valid JSON: {exc}") from None
    except RecursionError:  # "[[[[..." within the size limit nests deeper than the parser goes
        raise EventError("not valid JSON: nested too deeply") from None
    return parse_event(obj)


def check_event(ev: Event, role: str | None, received_ms: int) -> Event:
    """The event as it may be stored centrally, or EventError saying why not: its type must be
    one the sender's `role` writes (None: the role is not known, only the schema is checked), its
    data must fit EVENT_SCHEMAS exactly, its time must lie within the window around `received_ms`.
    Free text is masked on the way (core.privacy), so the returned event may differ in `data`."""
    if role is not None and ev.type not in ROLE_EVENTS.get(role, frozenset()):
        raise EventError(f"a {role} does not write {ev.type} events", "type")
    if not received_ms - TS_MAX_AGE_MS <= ev.ts <= received_ms + TS_MAX_AHEAD_MS:
        raise EventError("outside the accepted window around the receive time", "ts")
    data = ev.data
    free = FREE_TEXT.get(ev.type)
    if free and any(isinstance(data.get(k), str) for k in free):
        data = dict(data)
        for k in free:
            if isinstance(data.get(k), str):
                data[k] = clean_comment(data[k], COMMENT_MAX_LIMIT)
    schema = EVENT_SCHEMAS[ev.type]
    for key, value in data.items():
        t = schema.get(key)
        if t is None:
            raise EventError(f"unknown key {str(key)[:40]!r}", "data")
        try:
            t.check(value, {})
        except Invalid as exc:
            raise EventError(str(exc), f"data.{key}") from None
    cross = _CROSS_CHECKS.get(ev.type)
    problem = cross(data) if cross else None
    if problem:
        raise EventError(problem, "data")
    return ev if data is ev.data else replace(ev, data=data)
