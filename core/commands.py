"""Commands on the wire: JSON objects to engine commands, and which role may send which.

Parsing never raises: a bad payload gives a CommandError with a stable code, which the hub
sends back as its answer.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from . import engine as e

MAX_COMMAND_BYTES = 4096

#: Which device role may send which command. The hub checks this against the sender's role.
ROLE_COMMANDS: dict[str, frozenset[str]] = {
    "kiosk": frozenset({"take", "checkin", "help"}),
    "counter": frozenset({"call", "recall", "finish", "no_show", "transfer", "cancel", "open", "close",
                          "help_answered", "take"}),
    "hub": frozenset({"take", "checkin", "help", "call", "recall", "finish", "no_show", "transfer",
                      "cancel", "open", "close", "help_answered"}),
    "display": frozenset(),
    "feedback": frozenset(),
}


@dataclass(frozen=True)
class CommandError:
    code: str  # malformed | unknown_command | too_large
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {"ok": False, "error": self.code, "message": self.message}

    def __bool__(self) -> bool:
        return False


def _str(obj: dict, key: str, maxlen: int = 64) -> str | CommandError:
    v = obj.get(key)
    if not isinstance(v, str) or not v or len(v) > maxlen:
        return CommandError("malformed", f"'{key}' must be a non-empty string of at most {maxlen} characters")
    return v


def _lang(obj: dict) -> str | CommandError:
    v = obj.get("lang", "fi")
    if not isinstance(v, str) or not 2 <= len(v) <= 8:
        return CommandError("malformed", "'lang' must be a language code")
    return v


def _needs(obj: dict) -> e.Needs | CommandError:
    v = obj.get("needs")
    if v is None:  # not `or {}`: that let [], 0, "" and false pass as "no needs"
        v = {}
    if not isinstance(v, dict):
        return CommandError("malformed", "'needs' must be an object")
    extra = set(v) - {"interpreter", "hearing_loop", "accessible_room"}
    if extra:
        return CommandError("malformed", f"unknown needs {sorted(extra)}")
    interp = v.get("interpreter")
    if interp is not None and (not isinstance(interp, str) or not 2 <= len(interp) <= 8):
        return CommandError("malformed", "'needs.interpreter' must be a language code")
    for k in ("hearing_loop", "accessible_room"):
        if k in v and not isinstance(v[k], bool):
            return CommandError("malformed", f"'needs.{k}' must be true or false")
    return e.Needs.from_dict(v)


def parse_command(obj: Any) -> e.Command | CommandError:
    if not isinstance(obj, dict):
        return CommandError("malformed", "a command must be a JSON object")
    name = obj.get("cmd")
    if not isinstance(name, str):
        return CommandError("malformed", "missing 'cmd'")
    builder = _BUILDERS.get(name)
    if builder is None:
        return CommandError("unknown_command", f"unknown command {name[:40]!r}")
    return builder(obj)


def parse_command_json(payload: bytes | str) -> e.Command | CommandError:
    # The limit is in bytes: a str of 4k characters can be 16 KB on the wire.
    size = (len(payload) if isinstance(payload, (bytes, bytearray))
            else len(payload.encode("utf-8", "surrogatepass")))
    if size > MAX_COMMAND_BYTES:
        return CommandError("too_large", f"command larger than {MAX_COMMAND_BYTES} bytes")
    try:
        obj = json.loads(payload)
    except (ValueError, UnicodeDecodeError) as exc:
        return CommandError("malformed", f"not valid JSON: {str(exc)[:80]}")
    except RecursionError:  # "[[[[..." within the size limit nests deeper than the parser goes
        return CommandError("malformed", "not valid JSON: nested too deeply")
    return parse_command(obj)


def command_name(cmd: e.Command) -> str:
    return _NAMES[type(cmd)]


def _first_error(*vals: Any) -> CommandError | None:
    return next((v for v in vals if isinstance(v, CommandError)), None)


def _build(cls, *vals: Any):
    """The command, or the first error among its fields. Not `_first_error(...) or cls(...)`:
    a CommandError is falsy, so that built the command with the error as a field value."""
    err = _first_error(*vals)
    return err if err is not None else cls(*vals)


def _take(o: dict):
    return _build(e.TakeTicket, _str(o, "service"), _lang(o), _needs(o))


def _checkin(o: dict):
    return _build(e.CheckIn, _str(o, "code", 32), _lang(o), _needs(o))


def _counter_cmd(cls):
    def build(o: dict):
        c = _str(o, "counter")
        return c if isinstance(c, CommandError) else cls(c)
    return build


def _transfer(o: dict):
    return _build(e.Transfer, _str(o, "counter"), _str(o, "service"))


def _cancel(o: dict):
    t = _str(o, "ticket")
    reason = o.get("reason", "cancelled")
    if not isinstance(reason, str) or len(reason) > 40:
        return CommandError("malformed", "'reason' must be a short string")
    return t if isinstance(t, CommandError) else e.Cancel(t, reason)


def _help(o: dict):
    return _build(e.RequestHelp, _str(o, "device"), _lang(o))


def _help_answered(o: dict):
    r = _str(o, "request", 96)
    c = o.get("counter")
    if c is not None and not isinstance(c, str):
        return CommandError("malformed", "'counter' must be a string")
    return r if isinstance(r, CommandError) else e.AnswerHelp(r, c)


_BUILDERS = {
    "take": _take, "checkin": _checkin,
    "call": _counter_cmd(e.CallNext), "recall": _counter_cmd(e.Recall), "finish": _counter_cmd(e.Finish),
    "no_show": _counter_cmd(e.NoShow), "open": _counter_cmd(e.OpenCounter), "close": _counter_cmd(e.CloseCounter),
    "transfer": _transfer, "cancel": _cancel, "help": _help, "help_answered": _help_answered,
}
_NAMES = {e.TakeTicket: "take", e.CheckIn: "checkin", e.CallNext: "call", e.Recall: "recall", e.Finish: "finish",
          e.NoShow: "no_show", e.OpenCounter: "open", e.CloseCounter: "close", e.Transfer: "transfer",
          e.Cancel: "cancel", e.RequestHelp: "help", e.AnswerHelp: "help_answered"}


def allowed(role: str, cmd: e.Command) -> bool:
    return command_name(cmd) in ROLE_COMMANDS.get(role, frozenset())
