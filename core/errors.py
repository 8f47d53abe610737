"""The error codes of the site bus, declared once.

Every answer to a command is a JSON object with "ok". A failure carries one of these codes as
"error", a "message" for logs and technicians (never shown to a citizen as it is), and sometimes
more fields (see `WireError.meaning`). The values are the wire format: kiosks, counter panels and
scripts compare them, so a value never changes once released; add a new member instead.

Each member says where it comes from (`origin`) and which commands can be answered with it
(`commands`, None for any command), so that a UI can check it has words for every code it can
receive (tests/test_wire_errors.py), and the README's table is checked against this enum.
"""
from __future__ import annotations

from enum import StrEnum
from typing import Any

#: Origins: the hub's answer; made on the device by the hub client when no answer came;
#: made by a local command-line tool before anything was sent.
HUB, CLIENT, TOOL = "hub", "client", "tool"

_CHECKIN = frozenset({"checkin"})
_SERVING = frozenset({"recall", "finish", "no_show", "transfer", "park"})


class WireError(StrEnum):
    # `meaning`, `origin` and `commands` ride along with each value: one line per code, here only.
    meaning: str
    origin: str
    commands: frozenset[str] | None

    def __new__(cls, value: str, meaning: str, origin: str, commands: frozenset[str] | None = None) -> "WireError":
        member = str.__new__(cls, value)
        member._value_ = value
        member.meaning = meaning
        member.origin = origin
        member.commands = commands
        return member

    # --- the queue engine's refusals (core.engine.Reject): nothing happened ---------------------
    UNKNOWN_SERVICE = ("unknown_service", "the service is not offered at this site", HUB,
                       frozenset({"take", "transfer"}))
    UNKNOWN_CODE = "unknown_code", "no appointment with this booking code", HUB, _CHECKIN
    ALREADY_CHECKED_IN = ("already_checked_in", "the appointment is already checked in; the answer carries "
                          "its number", HUB, _CHECKIN)
    OTHER_DAY = "other_day", "the appointment is on another day; the answer carries its time", HUB, _CHECKIN
    TOO_EARLY = ("too_early", "check-in for the appointment has not opened yet; the answer carries opens_ms",
                 HUB, _CHECKIN)
    TOO_LATE = "too_late", "the appointment time has passed; a walk-in number is possible", HUB, _CHECKIN
    BOOKING_CANCELLED = ("booking_cancelled", "the authority cancelled the appointment; the answer carries its "
                         "time", HUB, _CHECKIN)
    UNKNOWN_COUNTER = ("unknown_counter", "no such counter at this site", HUB,
                       frozenset({"call", "open", "close", "call_number", "requeue"}) | _SERVING)
    COUNTER_CLOSED = ("counter_closed", "the counter is closed; open it first", HUB,
                      frozenset({"call", "call_number"}))
    NOTHING_WAITING = ("nothing_waiting", "nobody is waiting for the services of the counter", HUB,
                       frozenset({"call"}))
    NO_CURRENT_TICKET = "no_current_ticket", "the counter is not serving anyone", HUB, _SERVING
    SAME_SERVICE = "same_service", "the ticket is already in that service", HUB, frozenset({"transfer"})
    UNKNOWN_TICKET = "unknown_ticket", "no such ticket", HUB, frozenset({"cancel"})
    NOT_OPEN = "not_open", "the ticket is already finished, cancelled or a no-show", HUB, frozenset({"cancel"})
    UNKNOWN_NUMBER = ("unknown_number", "no ticket with this number today", HUB,
                      frozenset({"call_number", "requeue"}))
    NOT_CALLABLE = ("not_callable", "the ticket is not waiting or parked (already called, finished, cancelled "
                    "or a no-show); the answer carries its state", HUB, frozenset({"call_number"}))
    NOT_NO_SHOW = ("not_no_show", "only a no-show can be put back in the queue; the answer carries the "
                   "ticket's state", HUB, frozenset({"requeue"}))
    UNKNOWN_OUTCOME = ("unknown_outcome", "not an outcome of the ticket's service; the answer carries the "
                       "service's outcomes", HUB, frozenset({"finish"}))
    UNKNOWN_REQUEST = ("unknown_request", "no open help request with this id", HUB,
                       frozenset({"help_answered"}))
    HELP_FULL = ("help_full", "the site has as many open help requests as it takes ([hub] help_per_site); "
                 "nothing was stored, the answer carries how many are open", HUB, frozenset({"help"}))

    # --- the command itself (core.commands.CommandError) and the hub service ---------------------
    MALFORMED = ("malformed", "not JSON, not an object, or a field missing or of the wrong type "
                 "(also from the client when the command cannot be made JSON)", HUB)
    UNKNOWN_COMMAND = "unknown_command", "'cmd' names no command the hub knows", HUB
    TOO_LARGE = "too_large", "the command is larger than the hub reads (core.commands.MAX_COMMAND_BYTES)", HUB
    RETAINED = "retained", "the command was published with retain; it is refused, never run", HUB
    NOT_ALLOWED = ("not_allowed", "the device is not in the site's [[devices]], or its role may not send "
                   "this command", HUB)
    STORE_FAILED = ("store_failed", "the events could not be stored (a full disk): nothing happened", HUB)
    INTERNAL = "internal", "a bug in the hub or the device's worker; the service keeps running", HUB

    # --- made on the device by bus.hubclient: no answer from the hub ------------------------------
    TIMEOUT = ("timeout", "no answer in time; \"connected\": false means there was no connection and "
               "nothing was sent", CLIENT)
    CLOSED = "closed", "the client or worker was closed before an answer came; maybe nothing was sent", CLIENT
    WRONG_THREAD = "wrong_thread", "a request from the client's own callback thread (a bug in the app)", CLIENT
    SEND_FAILED = "send_failed", "the MQTT library could not publish the command", CLIENT
    REFUSED = "refused", "the broker refused the command (the device's credentials or ACL)", CLIENT
    BAD_REPLY = "bad_reply", "the hub's answer is not a JSON object or lacks what it must carry", CLIENT

    # --- made by the command-line tools before anything is sent ----------------------------------
    BAD_BROKER_URL = "bad_broker_url", "the broker URL cannot be used", TOOL
    BAD_PASSWORD_FILE = "bad_password_file", "the broker password file cannot be read", TOOL
    BAD_ID = "bad_id", "a site or device id that cannot be an MQTT topic level", TOOL
    BAD_APPOINTMENTS = ("bad_appointments", "the appointment list given to `palvelupiste queue` cannot be read",
                        TOOL, _CHECKIN)

    def answers(self, command: str) -> bool:
        """Whether an answer to `command` can carry this code."""
        return self.commands is None or command in self.commands


def error_reply(code: WireError, message: str, **detail: Any) -> dict[str, Any]:
    """The one shape of a failed answer. The code goes out as a plain str: the JSON is the same
    either way, and an in-process reply then compares and prints exactly like a decoded one."""
    return {"ok": False, "error": code.value, "message": message, **detail}
