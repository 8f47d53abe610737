"""Commands on the wire: JSON objects to engine commands, and which role may send which.

A payload either parses to an engine command or raises `CommandError` with a stable wire code
(core.errors), which the hub sends back as its answer. An exception rather than a returned
error value: every field check can simply raise, no caller can mistake an error for a command
(the old value was falsy and once ended up as a field of a built command), and the cost is paid
only by bad payloads, which are rare; a valid command goes through without any.
"""
from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from . import engine as e
from .errors import WireError, error_reply

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


class CommandError(ValueError):
    """A payload that is not a command: `code` is malformed, unknown_command or too_large."""

    def __init__(self, code: WireError, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    def to_dict(self) -> dict[str, Any]:
        return error_reply(self.code, self.message)


def _malformed(message: str) -> CommandError:
    return CommandError(WireError.MALFORMED, message)


def _str(obj: dict, key: str, maxlen: int = 64) -> str:
    v = obj.get(key)
    if not isinstance(v, str) or not v or len(v) > maxlen:
        raise _malformed(f"'{key}' must be a non-empty string of at most {maxlen} characters")
    return v


def _lang(obj: dict) -> str:
    v = obj.get("lang", "fi")
    if not isinstance(v, str) or not 2 <= len(v) <= 8:
        raise _malformed("'lang' must be a language code")
    return v


def _needs(obj: dict) -> e.Needs:
    v = obj.get("needs")
    if v is None:  # not `or {}`: that let [], 0, "" and false pass as "no needs"
        v = {}
    if not isinstance(v, dict):
        raise _malformed("'needs' must be an object")
    extra = set(v) - {"interpreter", "hearing_loop", "accessible_room"}
    if extra:
        # str(): a dict built in code may mix key types, and sorting those would raise.
        raise _malformed(f"unknown needs {sorted(map(str, extra))}")
    interp = v.get("interpreter")
    if interp is not None and (not isinstance(interp, str) or not 2 <= len(interp) <= 8):
        raise _malformed("'needs.interpreter' must be a language code")
    for k in ("hearing_loop", "accessible_room"):
        if k in v and not isinstance(v[k], bool):
            raise _malformed(f"'needs.{k}' must be true or false")
    return e.Needs.from_dict(v)


def parse_command(obj: Any) -> e.Command:
    """A decoded JSON value to an engine command. Raises CommandError, and nothing else."""
    if not isinstance(obj, dict):
        raise _malformed("a command must be a JSON object")
    name = obj.get("cmd")
    if not isinstance(name, str):
        raise _malformed("missing 'cmd'")
    builder = _BUILDERS.get(name)
    if builder is None:
        raise CommandError(WireError.UNKNOWN_COMMAND, f"unknown command {name[:40]!r}")
    return builder(obj)


def parse_command_json(payload: bytes | str) -> e.Command:
    """A payload as it comes off the wire to an engine command. Raises CommandError, and nothing else."""
    # The limit is in bytes: a str of 4k characters can be 16 KB on the wire.
    size = (len(payload) if isinstance(payload, (bytes, bytearray))
            else len(payload.encode("utf-8", "surrogatepass")))
    if size > MAX_COMMAND_BYTES:
        raise CommandError(WireError.TOO_LARGE, f"command larger than {MAX_COMMAND_BYTES} bytes")
    try:
        obj = json.loads(payload)
    except (ValueError, UnicodeDecodeError) as exc:
        raise _malformed(f"not valid JSON: {str(exc)[:80]}") from None
    except RecursionError:  # "[[[[..." within the size limit nests deeper than the parser goes
        raise _malformed("not valid JSON: nested too deeply") from None
    return parse_command(obj)


def command_name(cmd: e.Command) -> str:
    return _NAMES[type(cmd)]


def _take(o: dict) -> e.Command:
    return e.TakeTicket(_str(o, "service"), _lang(o), _needs(o))


def _checkin(o: dict) -> e.Command:
    return e.CheckIn(_str(o, "code", 32), _lang(o), _needs(o))


def _counter_cmd(cls: Callable[[str], e.Command]) -> Callable[[dict], e.Command]:
    def build(o: dict) -> e.Command:
        return cls(_str(o, "counter"))
    return build


def _transfer(o: dict) -> e.Command:
    return e.Transfer(_str(o, "counter"), _str(o, "service"))


def _cancel(o: dict) -> e.Command:
    t = _str(o, "ticket")
    reason = o.get("reason", "cancelled")
    if not isinstance(reason, str) or len(reason) > 40:
        raise _malformed("'reason' must be a short string")
    return e.Cancel(t, reason)


def _help(o: dict) -> e.Command:
    return e.RequestHelp(_str(o, "device"), _lang(o))


def _help_answered(o: dict) -> e.Command:
    r = _str(o, "request", 96)
    c = o.get("counter")
    if c is not None and not isinstance(c, str):
        raise _malformed("'counter' must be a string")
    return e.AnswerHelp(r, c)


_BUILDERS: dict[str, Callable[[dict], e.Command]] = {
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
