"""The booking feeds of central.toml: one `[[feeds]]` entry per site, authority and service.

    [[feeds]]
    id = "kela-example"            # names the feed on the fleet view and in the push URL
    site = "example-pp"
    service = "kela"               # the site's service its bookings are for
    kind = "ical"                  # "ical": an iCalendar feed over HTTPS, fetched every `every_min`
                                   # "drop": a CSV or JSON file dropped as <drop_dir>/<id>.csv|.json
                                   # "push": POSTed to the web service at /bookings/<id> with a token
    url = "https://booking.example/kela/example.ics"
    ca_file = ""                   # a CA of the booking system's own (empty: the system's CAs)
    every_min = 10
    timeout_s = 20                 # the whole fetch, connection to last byte
    max_mb = 10                    # a larger answer is refused whole (MiB)
    code_property = "X-BOOKING-CODE"   # where the code the customer types is (central/bookings/ical.py)
    code_pattern = ""              # or a pattern searched in code_fields
    room_property = "LOCATION"
    rooms = { "Huone 1" = "H1" }   # the feed's room names -> the site's rooms
    default_duration_min = 30
    token_file = "/etc/palvelupiste/central/feeds/kela-example.token"   # push

Declared once here (core.schema); central/settings.py puts the section into central.toml.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from core.schema import REQUIRED, Check, Choice, Field, Int, ListOf, Number, Section, Text, Texts

if TYPE_CHECKING:  # icalendar (central extras) is imported only where a feed is parsed
    from .ical import FeedMapping

#: The fetch enforces the same limit while reading; the parser refuses anything larger.
MAX_FEED_BYTES = 10 * 1024 * 1024

DEFAULT_NEED_TOKENS: Mapping[str, str] = {
    "hearing_loop": "hearing_loop", "hearing-loop": "hearing_loop", "induktiosilmukka": "hearing_loop",
    "hörslinga": "hearing_loop",
    "accessible_room": "accessible_room", "accessible-room": "accessible_room", "esteetön": "accessible_room",
    "esteeton": "accessible_room", "tillgänglig": "accessible_room",
}


_ID = r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}"
KINDS = ("ical", "drop", "push")


def _https(url: str) -> str | None:
    if not re.match(r"^https://[^/\s]+", url or ""):
        return "must be an https:// URL (a booking feed travels encrypted)"
    return None


def _pattern(p: str) -> str | None:
    try:
        re.compile(p)
    except re.error as exc:
        return f"is not a regular expression: {exc}"
    return None


def _feed_checks(v: dict[str, Any], ctx: Mapping[str, Any]) -> list[tuple[str, str]]:
    out = []
    if v["kind"] == "ical" and not v["url"]:
        out.append(("url", "an ical feed needs its https:// url"))
    if v["kind"] == "drop" and not v["drop_dir"]:
        out.append(("drop_dir", "a drop feed needs the directory its files are dropped in"))
    if v["kind"] == "push" and not v["token_file"]:
        out.append(("token_file", "a push feed needs the file that holds its token"))
    return out


FEED = Section("feeds", (
    Field("id", Text(pattern=_ID, label="a feed id"), REQUIRED, "the feed's id", example="kela-example"),
    Field("site", Text(pattern=_ID, label="a site id"), REQUIRED, "the site its bookings are for"),
    Field("service", Text(pattern=_ID, label="a service id"), REQUIRED, "the site's service of its bookings"),
    Field("kind", Choice(*KINDS), "ical", "ical (fetched over HTTPS), drop (a file in drop_dir) or push (POSTed)"),
    Field("url", Text(test=_https, label="an https:// URL"), "", "the iCalendar feed (kind ical)"),
    Field("ca_file", Text(label="a path"), "", "a CA of the booking system's own (empty: the system's)"),
    Field("drop_dir", Text(label="a directory"), "", "where <id>.csv or <id>.json is dropped (kind drop)"),
    Field("token_file", Text(label="a path"), "", "the file holding the push token (kind push)"),
    Field("every_min", Number(1, 1440, unit="minutes"), 10.0, "how often the feed is fetched or looked at"),
    Field("timeout_s", Number(1, 300, unit="seconds"), 20.0, "the whole fetch may take this long"),
    Field("max_mb", Number(0.1, 200), MAX_FEED_BYTES / 2**20, "a larger feed is refused whole"),
    Field("code_property", Text(label="a property name"), "X-BOOKING-CODE", "the property with the booking code"),
    Field("code_pattern", Text(test=_pattern, label="a regular expression"), "",
          "or a pattern (group 'code') searched in code_fields"),
    Field("code_fields", ListOf(Text(label="a property name")), ["LOCATION", "DESCRIPTION"],
          "where code_pattern is searched"),
    Field("room_property", Text(label="a property name"), "LOCATION", "the property naming the room"),
    Field("room_pattern", Text(test=_pattern, label="a regular expression"), "", "narrows room_property"),
    Field("rooms", Texts(), {}, "the feed's room names -> the site's rooms (counters of kind room)"),
    Field("needs_property", Text(label="a property name"), "X-BOOKING-NEEDS", "the property listing needs"),
    Field("need_tokens", Texts(), {}, "more need words -> hearing_loop, accessible_room or interpreter:<lang>"),
    Field("default_duration_min", Int(1, 600), 30, "a booking without an end lasts this long"),
), checks=(Check(("kind", "url", "drop_dir", "token_file"), _feed_checks),), description="a booking feed")


@dataclass(frozen=True)
class Feed:
    id: str
    site: str
    service: str
    kind: str = "ical"
    url: str = ""
    ca_file: str = ""
    drop_dir: str = ""
    token_file: str = ""
    every_min: float = 10.0
    timeout_s: float = 20.0
    max_bytes: int = MAX_FEED_BYTES
    options: Mapping[str, Any] = field(default_factory=dict)

    def mapping(self, tz: str) -> "FeedMapping":
        """How this feed's events become bookings, in the site's time zone."""
        from .ical import FeedMapping

        o = self.options
        tokens = dict(DEFAULT_NEED_TOKENS)
        tokens.update({k.lower(): v for k, v in (o.get("need_tokens") or {}).items()})
        return FeedMapping(service=self.service, tz=tz, code_property=o.get("code_property") or None,
                           code_pattern=o.get("code_pattern") or None,
                           code_fields=tuple(o.get("code_fields") or ("LOCATION", "DESCRIPTION")),
                           room_property=o.get("room_property") or None, room_pattern=o.get("room_pattern") or None,
                           rooms=dict(o.get("rooms") or {}), needs_property=o.get("needs_property") or None,
                           need_tokens=tokens, default_duration_min=int(o.get("default_duration_min") or 30),
                           max_bytes=self.max_bytes)


_OPTIONS = ("code_property", "code_pattern", "code_fields", "room_property", "room_pattern", "rooms",
            "needs_property", "need_tokens", "default_duration_min")


def feed_from_values(v: dict[str, Any]) -> Feed:
    return Feed(id=v["id"], site=v["site"], service=v["service"], kind=v["kind"], url=v["url"],
                ca_file=v["ca_file"], drop_dir=v["drop_dir"], token_file=v["token_file"],
                every_min=float(v["every_min"]), timeout_s=float(v["timeout_s"]),
                max_bytes=int(float(v["max_mb"]) * 2**20), options={k: v[k] for k in _OPTIONS})


def feeds_checks(feeds: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """Feed ids are unique (they name the push URL and the fleet view's row)."""
    seen: set[str] = set()
    out = []
    for i, f in enumerate(feeds):
        if f and f.get("id"):
            if f["id"] in seen:
                out.append((f"feeds[{i}].id", "duplicate feed id"))
            seen.add(f["id"])
    return out
