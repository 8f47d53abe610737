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
from dataclasses import dataclass, field
from typing import Any

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
    "counter.opened": frozenset({"counter"}),
    "counter.closed": frozenset({"counter"}),
    "help.requested": frozenset({"request", "device"}),
    "help.answered": frozenset({"request"}),
    "feedback.given": frozenset({"rating", "scale"}),
    "printer.fault": frozenset({"reason"}),
    "printer.recovered": frozenset(),
}
EVENT_TYPES = frozenset(EVENT_DATA)

_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
#: Event ids: uuid4 hex here, but any short token of safe characters from other writers.
_EVENT_ID_RE = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
#: Largest JSON text of one event that is accepted; keeps a runaway payload out of every store.
MAX_EVENT_BYTES = 16 * 1024


def valid_id(value: Any) -> bool:
    """Site and device ids: short, ASCII, usable as one MQTT topic level and a file name."""
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
            raise EventError("must be a short id of letters, digits, '-', '_' or '.'", key)
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
