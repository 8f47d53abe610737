"""Following one's turn on a phone (the page behind the ticket's QR code): what the site tells the
centre about each ticket, and what the centre may ask back. Pure: shapes, keys and checks, used by
the hub (which builds and publishes) and by the central web service (which reads and serves).

Privacy: a ticket is known outside the site only by `follow_key(token)`, a hash of the random
token printed in its QR code (core.engine: 96 bits, `secrets.token_urlsafe(12)`). The snapshot
carries what the page shows and nothing else: the number, the service, the place in the queue,
the estimate, where to go once called, the language the ticket was taken in. Whoever reads the
centre's broker learns no token, so cannot open anybody's page or cancel anybody's ticket.

Snapshot, retained, QoS 1, on ``pp/<site>/follow`` (published by the hub on the site broker; the
site broker's bridge copies it to the central broker; bus/topics.py)::

    {"v": 1, "site": "example-pp", "day": "2026-12-03",   # the site's local day of the tickets
     "ts": 1764770000000,                                  # the hub's clock when built (UTC ms)
     "tickets": {"<key>": {"n": "K012", "s": "kela", "st": "waiting", "a": 3, "e": [600, 900],
                           "l": "fi"},
                 "<key>": {"n": "K010", "s": "kela", "st": "called", "c": "3", "ct": 1764769990000,
                           "l": "sv"}, ...}}

    st  waiting | called | done | cancelled | missed   (missed: a no-show)
    a   tickets ahead in the hub's own call order (waiting only)
    e   the engine's estimate [low, high] in seconds (waiting only; null when no counter of the
        service works any more today)
    c   the counter or room the ticket was called to (called, and done); ct when (UTC ms)
    x   true when the customer cancelled it from the page (cancelled only)

Only the day's tickets that have a token are in it; a new day starts with an empty one. The
message stays under SNAPSHOT_BUDGET bytes (the hub leaves the oldest finished tickets out first).

Cancel, QoS 1, not retained, on ``pp/<site>/follow/cancel`` (published by the central web service
on the central broker; the bridge copies it to the site broker, where only the hub may read it)::

    {"v": 1, "key": "<key>", "req": "<random id>", "ts": 1764770000000}

The hub cancels the waiting ticket of today whose key it is, once, with the reason
CUSTOMER_CANCEL_REASON; for any other key, or a ticket no longer waiting, it does nothing. The
result reaches the page in the next snapshot (st "cancelled", x true).
"""
from __future__ import annotations

import hashlib
import json
import re
from typing import Any

FOLLOW_VERSION = 1
#: the reason of a ticket.cancelled the customer asked for on the page
CUSTOMER_CANCEL_REASON = "customer"
#: the snapshot's upper bound: a sixteenth of the brokers' packet limit (bus/live.py's budget)
SNAPSHOT_BUDGET = 65_536
STATUSES = ("waiting", "called", "done", "cancelled", "missed")
_KEY = re.compile(r"[0-9a-f]{32}")
_TOKEN = re.compile(r"[A-Za-z0-9_-]{16,64}")
_REQ = re.compile(r"[A-Za-z0-9_-]{8,64}")
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


class FollowError(ValueError):
    """A snapshot or a cancel that does not have the shape above; the message says what."""


def valid_token(token: str) -> bool:
    """Could `token` be a ticket's token at all (checked before anything is looked up)."""
    return isinstance(token, str) and _TOKEN.fullmatch(token) is not None


def follow_key(token: str) -> str:
    """The ticket's name outside the site: 128 bits of SHA-256 over the token."""
    return hashlib.sha256(b"palvelupiste follow\0" + token.encode("utf-8")).hexdigest()[:32]


def _int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _short_text(v: Any, limit: int = 64) -> bool:
    return isinstance(v, str) and 0 < len(v) <= limit and all(c.isprintable() for c in v)


def check_ticket(key: Any, t: Any) -> dict[str, Any]:
    """One ticket of a snapshot, checked; FollowError otherwise."""
    if not isinstance(key, str) or not _KEY.fullmatch(key):
        raise FollowError("a ticket's key must be 32 hexadecimal digits")
    if not isinstance(t, dict):
        raise FollowError(f"ticket {key}: must be an object")
    if not _short_text(t.get("n"), 16) or not _short_text(t.get("s")):
        raise FollowError(f"ticket {key}: n (number) and s (service) are short texts")
    if t.get("st") not in STATUSES:
        raise FollowError(f"ticket {key}: st must be one of {', '.join(STATUSES)}")
    if "a" in t and not (_int(t["a"]) and 0 <= t["a"] < 100_000):
        raise FollowError(f"ticket {key}: a (ahead) must be a count")
    e = t.get("e")
    if e is not None and not (isinstance(e, list) and len(e) == 2 and all(_int(x) and 0 <= x < 86_400 * 2 for x in e)
                              and e[0] <= e[1]):
        raise FollowError(f"ticket {key}: e must be [low, high] seconds")
    if "c" in t and not _short_text(t["c"]):
        raise FollowError(f"ticket {key}: c (counter) must be a short text")
    if "ct" in t and not (_int(t["ct"]) and t["ct"] >= 0):
        raise FollowError(f"ticket {key}: ct must be UTC milliseconds")
    if "l" in t and not _short_text(t["l"], 16):
        raise FollowError(f"ticket {key}: l (language) must be a language code")
    return t


def check_snapshot(payload: bytes | str, site: str) -> dict[str, Any]:
    """A snapshot as it arrives from `site`; FollowError for anything else (too large, not JSON,
    another site's, a malformed ticket: a broken snapshot replaces nothing)."""
    if len(payload) > SNAPSHOT_BUDGET:
        raise FollowError(f"snapshot of {len(payload)} bytes is larger than {SNAPSHOT_BUDGET}")
    try:
        doc = json.loads(payload)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise FollowError(f"not JSON: {str(exc)[:100]}") from None
    if not isinstance(doc, dict) or doc.get("v") != FOLLOW_VERSION:
        raise FollowError(f"a snapshot is an object with v = {FOLLOW_VERSION}")
    if doc.get("site") != site:
        raise FollowError(f"the snapshot says site {str(doc.get('site'))[:64]!r}, the topic {site!r}")
    if not isinstance(doc.get("day"), str) or not _DAY.fullmatch(doc["day"]):
        raise FollowError("day must be YYYY-MM-DD")
    if not _int(doc.get("ts")) or doc["ts"] < 0:
        raise FollowError("ts must be UTC milliseconds")
    tickets = doc.get("tickets")
    if not isinstance(tickets, dict):
        raise FollowError("tickets must be an object")
    for key, t in tickets.items():
        check_ticket(key, t)
    return doc


def snapshot_bytes(site: str, day: str, ts: int, tickets: dict[str, dict[str, Any]]) -> bytes:
    return json.dumps({"v": FOLLOW_VERSION, "site": site, "day": day, "ts": ts, "tickets": tickets},
                      ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def cancel_bytes(key: str, req: str, ts: int) -> bytes:
    return json.dumps({"v": FOLLOW_VERSION, "key": key, "req": req, "ts": ts}, separators=(",", ":")).encode()


def check_cancel(payload: bytes | str) -> dict[str, Any]:
    """A cancel as the hub receives it; FollowError for anything else."""
    if len(payload) > 1024:
        raise FollowError("a cancel is small")
    try:
        doc = json.loads(payload)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise FollowError(f"not JSON: {str(exc)[:100]}") from None
    if not isinstance(doc, dict) or doc.get("v") != FOLLOW_VERSION:
        raise FollowError(f"a cancel is an object with v = {FOLLOW_VERSION}")
    if not isinstance(doc.get("key"), str) or not _KEY.fullmatch(doc["key"]):
        raise FollowError("key must be 32 hexadecimal digits")
    if not isinstance(doc.get("req"), str) or not _REQ.fullmatch(doc["req"]):
        raise FollowError("req must be a random id")
    if not _int(doc.get("ts")) or doc["ts"] < 0:
        raise FollowError("ts must be UTC milliseconds")
    return doc
