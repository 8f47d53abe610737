"""A booking system that pushes its list: POST /bookings/<feed> with the feed's token (issue 17).

    curl -H "Authorization: Bearer $TOKEN" -H "Content-Type: text/csv" --data-binary @list.csv \
         https://palvelupiste.example/bookings/vero-example

Each `kind = "push"` feed of central.toml has its own token in its own file (`token_file`): an
authority can push only its own feed. The body (CSV or JSON, central/bookings/table.py; or
iCalendar) is checked for size only and left whole, atomically, as <push_dir>/<feed>.<ext>; the
bookings daemon imports it on its next round with the same rules as any feed (all or nothing, its
health on the fleet view). The answer says accepted (202) or why not; a wrong token and an unknown
feed get the same 404, so feeds cannot be found by guessing. Nothing of the body is logged.
"""
from __future__ import annotations

import hmac
import logging
import os
from collections.abc import Sequence
from pathlib import Path

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from central.bookings.feeds import Feed
from runtime.files import atomic_write

log = logging.getLogger(__name__)


def _token(path: str) -> str | None:
    try:
        return Path(path).read_text(encoding="utf-8").strip() or None
    except OSError:
        return None


class PushFeeds:
    def __init__(self, feeds: Sequence[Feed], push_dir: Path) -> None:
        self.feeds = {f.id: f for f in feeds if f.kind == "push"}
        self.push_dir = Path(push_dir)

    async def receive(self, request: Request) -> Response:
        feed = self.feeds.get(request.path_params.get("feed", ""))
        auth = request.headers.get("authorization", "")
        given = auth[7:].strip() if auth.lower().startswith("bearer ") else ""
        token = _token(feed.token_file) if feed is not None else None
        if feed is None or token is None or not given or not hmac.compare_digest(given.encode(), token.encode()):
            return PlainTextResponse("no such feed\n", status_code=404)
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > feed.max_bytes:
            return PlainTextResponse("too large\n", status_code=413)
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > feed.max_bytes:
                return PlainTextResponse("too large\n", status_code=413)
        if not body.strip():
            return PlainTextResponse("empty\n", status_code=400)
        head = bytes(body[:64]).lstrip(b"\xef\xbb\xbf \r\n\t")
        ext = "json" if head[:1] in (b"[", b"{") else "ics" if head.upper().startswith(b"BEGIN:VCALENDAR") else "csv"
        self.push_dir.mkdir(parents=True, exist_ok=True)
        for other in ("json", "csv", "ics"):
            if other != ext:
                try:
                    os.unlink(self.push_dir / f"{feed.id}.{other}")  # the newest list is the one
                except FileNotFoundError:
                    pass
        atomic_write(self.push_dir / f"{feed.id}.{ext}", bytes(body))
        log.info("bookings: feed %s pushed (%d bytes)", feed.id, len(body))
        return PlainTextResponse("accepted: imported on the next round\n", status_code=202)
