"""Attribution (optional per site): a ticket read at the terminal tells which SERVICE the
feedback concerns. Only the service id is kept; the ticket number, its token, the URL and
anything else read are dropped at once and never stored, logged or shown.

The reader is a QR/barcode scanner that types like a keyboard: a fast burst of characters
ended by Enter. `ScanBuffer` collects such bursts from window key events (slow typing is not
a scan), and `service_from_scan` finds the service in what was read:

* a `service=` (or `s=`) query parameter or a path segment that is a service id of the site
  (ticket URL templates can carry `{service}`);
* a ticket number or ticket id — "K042", "2026-11-23/K042", or `n=`/`number=`/`ticket=` in a
  URL — mapped to the service by its prefix in the site configuration. The kiosk's QR URL
  carries the number when its template has `{number}`, e.g.
  `ticket_url = "https://queue.example.org/t/{site}/{token}?n={number}"` (kiosk/settings.py);
  the default template (site and token only) cannot be attributed without a lookup;
* a JSON object with "service" or "number".

A payload naming another site (`site=` in a URL, "site" in JSON), or nothing recognisable, attributes nothing: the feedback then
belongs to the site, as it does without a reader. A transferred customer keeps the number of the
first service, so the prefix names that one; a URL with `{service}` has the same limit.
"""
from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import parse_qs, unquote, urlsplit

_NUMBER_RE = re.compile(r"(?:^|[/:#=\s])(?:\d{4}-\d{2}-\d{2}/)?([A-Z]{1,2})(\d{1,4})(?=$|[/?&#\s])")
MAX_SCAN_LEN = 512


@dataclass(frozen=True)
class Attribution:
    """What the terminal may keep of a scan: a service id, or None with a reason for the log."""

    service: str | None
    reason: str


def service_from_scan(payload: str, services: Mapping[str, str], site: str | None = None) -> Attribution:
    """`services` maps service id → ticket prefix (e.g. {"kela": "K"})."""
    text = (payload or "").strip()
    if not text:
        return Attribution(None, "empty scan")
    if len(text) > MAX_SCAN_LEN:
        return Attribution(None, "scan too long")
    by_prefix = {prefix: sid for sid, prefix in services.items()}

    def from_number(value: str) -> str | None:
        m = _NUMBER_RE.search("/" + value.strip().upper())
        return by_prefix.get(m.group(1)) if m else None

    if text.startswith("{"):
        try:
            obj = json.loads(text)
        except ValueError:
            return Attribution(None, "unreadable JSON")
        if not isinstance(obj, dict):
            return Attribution(None, "unreadable JSON")
        if site and obj.get("site") not in (None, site):
            return Attribution(None, "ticket of another site")
        if obj.get("service") in services:
            return Attribution(obj["service"], "service in the code")
        for key in ("number", "ticket"):
            if isinstance(obj.get(key), str) and (sid := from_number(obj[key])):
                return Attribution(sid, "ticket number prefix")
        return Attribution(None, "no service in the code")

    parts = urlsplit(text)
    if parts.scheme and parts.netloc:
        segments = [unquote(s) for s in parts.path.split("/") if s]
        query = parse_qs(parts.query)
        q_site = (query.get("site") or [None])[0]
        if site and ((q_site and q_site != site)):
            return Attribution(None, "ticket of another site")
        for key in ("service", "s"):
            for value in query.get(key, []):
                if value in services:
                    return Attribution(value, "service in the code")
        for seg in segments:
            if seg in services:
                return Attribution(seg, "service in the code")
        for key in ("n", "number", "ticket"):
            for value in query.get(key, []):
                if sid := from_number(value):
                    return Attribution(sid, "ticket number prefix")
        for seg in segments:
            if seg != site and (sid := from_number(seg)):
                return Attribution(sid, "ticket number prefix")
        return Attribution(None, "no service in the code")

    if text in services:
        return Attribution(text, "service in the code")
    if sid := from_number(text):
        return Attribution(sid, "ticket number prefix")
    return Attribution(None, "not a ticket code")


class ScanBuffer:
    """Tells a scanner's burst of key presses from a person typing, from key events alone.

    A scanner sends a whole code in a few milliseconds per character and ends with Enter.
    Characters further apart than `gap_s` start a new burst; Enter completes it when it has at
    least `min_len` characters. `feed_char(ch, t)` / `feed_enter(t)` take window key events
    with a monotonic time; `feed_enter` returns the scanned text or None.
    """

    def __init__(self, gap_s: float = 0.08, min_len: int = 3, max_len: int = MAX_SCAN_LEN) -> None:
        self.gap_s, self.min_len, self.max_len = gap_s, min_len, max_len
        self._chars: list[str] = []
        self._last = float("-inf")

    def feed_char(self, ch: str, t: float) -> None:
        if t - self._last > self.gap_s:
            self._chars = []
        self._last = t
        if len(self._chars) < self.max_len:
            self._chars.append(ch)

    def feed_enter(self, t: float) -> str | None:
        text = "".join(self._chars) if t - self._last <= self.gap_s else ""
        self._chars = []
        self._last = float("-inf")
        return text if len(text) >= self.min_len else None
