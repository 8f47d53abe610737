"""Commands on the wire: JSON objects to engine commands, and which role may send which.

A payload either parses to an engine command or raises `CommandError` with a stable wire code
(core.errors), which the hub sends back as its answer. An exception rather than a returned
error value: every field check can simply raise, no caller can mistake an error for a command
(the old value was falsy and once ended up as a field of a built command), and the cost is paid
only by bad payloads, which are rare; a valid command goes through without any.
"""
from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from . import engine as e
from .appointments import CODE_RE
from .errors import WireError, error_reply
from .events import CANCEL_REASONS, LANG_PATTERN, NUMBER_PATTERN, REQUEST_PATTERN, TICKET_PATTERN, valid_id

if TYPE_CHECKING:
    from .config import Site

MAX_COMMAND_BYTES = 4096

#: Which device role may send which command. The hub checks this against the sender's role.
ROLE_COMMANDS: dict[str, frozenset[str]] = {
    "kiosk": frozenset({"take", "checkin", "help"}),
    "counter": frozenset({"call", "recall", "finish", "no_show", "transfer", "cancel", "open", "close",
                          "help_answered", "take", "call_number", "park", "requeue"}),
    "hub": frozenset({"take", "checkin", "help", "call", "recall", "finish", "no_show", "transfer",
                      "cancel", "open", "close", "help_answered", "call_number", "park", "requeue"}),
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


# Every field of a command is an id, a code or a word: no field takes free text, so nothing a
# person types (a name, an identity code) can reach an event. A value that does not fit, a lone
# surrogate or a control character included, is `malformed`.
_LANG_RE = re.compile(LANG_PATTERN)
_TICKET_RE = re.compile(TICKET_PATTERN)
_REQUEST_RE = re.compile(REQUEST_PATTERN)
_NUMBER_RE = re.compile(NUMBER_PATTERN)


def _id(obj: dict, key: str) -> str:
    v = obj.get(key)
    if not valid_id(v):
        raise _malformed(f"'{key}' must be a short id of letters, digits, '-' or '_'")
    return str(v)


def _match(obj: dict, key: str, rx: re.Pattern[str], what: str) -> str:
    v = obj.get(key)
    if not isinstance(v, str) or not rx.fullmatch(v):
        raise _malformed(f"'{key}' must be {what}")
    return v


def _lang(obj: dict) -> str:
    v = obj.get("lang", "fi")
    if not isinstance(v, str) or not _LANG_RE.fullmatch(v):
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
    if interp is not None and (not isinstance(interp, str) or not _LANG_RE.fullmatch(interp)):
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
    return e.TakeTicket(_id(o, "service"), _lang(o), _needs(o))


def _checkin(o: dict) -> e.Command:
    code = o.get("code")
    if not isinstance(code, str) or not CODE_RE.fullmatch(code.strip()):
        raise _malformed("'code' must be an appointment code of 3 to 32 letters, digits or '-'")
    return e.CheckIn(code, _lang(o), _needs(o))


def _counter_cmd(cls: Callable[[str], e.Command]) -> Callable[[dict], e.Command]:
    def build(o: dict) -> e.Command:
        return cls(_id(o, "counter"))
    return build


def _finish(o: dict) -> e.Command:
    outcome = o.get("outcome")
    if outcome is not None and not valid_id(outcome):
        raise _malformed("'outcome' must be an outcome id")
    return e.Finish(_id(o, "counter"), outcome)


def _number(o: dict) -> str:
    return _match(o, "number", _NUMBER_RE, "a ticket number like K012")


def _call_number(o: dict) -> e.Command:
    return e.CallNumber(_id(o, "counter"), _number(o))


def _requeue(o: dict) -> e.Command:
    return e.Requeue(_id(o, "counter"), _number(o))


def _transfer(o: dict) -> e.Command:
    return e.Transfer(_id(o, "counter"), _id(o, "service"))


def _cancel(o: dict) -> e.Command:
    t = _match(o, "ticket", _TICKET_RE, "a ticket id like 2026-11-23/K001")
    reason = o.get("reason", "cancelled")
    if not isinstance(reason, str) or reason not in CANCEL_REASONS:
        raise _malformed(f"'reason' must be one of {', '.join(CANCEL_REASONS)}")
    return e.Cancel(t, reason)


def _help(o: dict) -> e.Command:
    return e.RequestHelp(_id(o, "device"), _lang(o))


def _help_answered(o: dict) -> e.Command:
    r = _match(o, "request", _REQUEST_RE, "a help request id")
    c = o.get("counter")
    if c is not None and not valid_id(c):
        raise _malformed("'counter' must be a short id")
    return e.AnswerHelp(r, c)


_BUILDERS: dict[str, Callable[[dict], e.Command]] = {
    "take": _take, "checkin": _checkin,
    "call": _counter_cmd(e.CallNext), "recall": _counter_cmd(e.Recall), "finish": _finish,
    "call_number": _call_number, "park": _counter_cmd(e.Park), "requeue": _requeue,
    "no_show": _counter_cmd(e.NoShow), "open": _counter_cmd(e.OpenCounter), "close": _counter_cmd(e.CloseCounter),
    "transfer": _transfer, "cancel": _cancel, "help": _help, "help_answered": _help_answered,
}
_NAMES = {e.TakeTicket: "take", e.CheckIn: "checkin", e.CallNext: "call", e.Recall: "recall", e.Finish: "finish",
          e.NoShow: "no_show", e.OpenCounter: "open", e.CloseCounter: "close", e.Transfer: "transfer",
          e.Cancel: "cancel", e.RequestHelp: "help", e.AnswerHelp: "help_answered", e.CallNumber: "call_number",
          e.Park: "park", e.Requeue: "requeue"}


def allowed(role: str, cmd: e.Command) -> bool:
    return command_name(cmd) in ROLE_COMMANDS.get(role, frozenset())


def check_for_site(cmd: e.Command, site: "Site", sender: str | None = None) -> None:
    """What only the site can tell: a language the site offers, a help request in the name of
    its sender (never another device, never free text), an answering counter of the site.
    Raises CommandError (`malformed`)."""
    lang = getattr(cmd, "lang", None)
    if lang is not None and lang not in site.languages:
        raise _malformed(f"'lang' must be one of the site's languages: {', '.join(site.languages)}")
    if isinstance(cmd, e.RequestHelp) and sender is not None and cmd.device != sender:
        raise _malformed("'device' must be the id of the device that sends the request")
    if isinstance(cmd, e.AnswerHelp) and cmd.counter is not None and cmd.counter not in site.counters:
        raise _malformed(f"no counter {cmd.counter!r} at this site")
