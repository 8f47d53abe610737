"""Down the wire, device side: the site configuration and the appointment list from the centre.

`DownwireKeeper`, run by each device's sync agent: the retained copies arrive on every connect;
each is checked again (core.downwire) and, when it differs from the copy on disk, written
atomically. A device that starts with the broker unreachable keeps using the last copy on disk:
nothing here ever deletes it.
"""
from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bus import topics
from core.bookbook import Book, BookError, apply_batch, book_from_json, book_to_json
from core.config import Site
from core.downwire import DownwireError, appointments_bytes, check_appointments_payload, validate_site_config
from core.events import now_ms
from runtime.files import atomic_write, read_bytes

log = logging.getLogger(__name__)


def digest(data: bytes | None) -> str | None:
    return hashlib.sha256(data).hexdigest() if data is not None else None


class DownwireKeeper:
    """Keeps the last good copy of the site configuration and the appointment list on disk."""

    def __init__(self, site_id: str, site_config_path: str | Path, appointments_path: str | Path,
                 bookings_path: str | Path | None = None, clock: Callable[[], int] = now_ms) -> None:
        """`bookings_path`: keep the book of the feeds' bookings there (the hub's agent only)."""
        self.site_id = site_id
        self.config_path = Path(site_config_path)
        self.appointments_path = Path(appointments_path)
        self.bookings_path = Path(bookings_path) if bookings_path else None
        self.clock = clock
        #: set when a batch of booking changes came after a missing one: ask for those after it
        self.ask_since: int | None = None
        self.refused = 0
        self.last_error: str | None = None
        self._summary: dict[str, Any] = {}
        self._summary_sig: tuple | None = None

    @property
    def topics(self) -> list[str]:
        out = [topics.config(self.site_id), topics.appointments(self.site_id)]
        if self.bookings_path is not None:
            out.append(topics.bookings(self.site_id))
        return out

    def handle(self, topic: str, payload: bytes) -> str:
        """'written', 'unchanged', 'ignored' (empty: a retained message cleared) or 'refused'."""
        if not payload:
            return "ignored"
        try:
            if topic == topics.config(self.site_id):
                return self._config(payload)
            if topic == topics.appointments(self.site_id):
                return self._appointments(payload)
            if self.bookings_path is not None and topic == topics.bookings(self.site_id):
                return self._bookings(payload)
            return "ignored"
        except DownwireError as exc:
            self.refused += 1
            self.last_error = str(exc)
            log.error("down the wire: refused %s: %s", topic, exc)
            return "refused"

    def _config(self, payload: bytes) -> str:
        try:
            text = payload.decode("utf-8")
        except UnicodeDecodeError:
            raise DownwireError("site configuration is not UTF-8 text") from None
        validate_site_config(self.site_id, text, topics.config(self.site_id))
        if read_bytes(self.config_path) == payload:
            return "unchanged"
        atomic_write(self.config_path, payload)
        log.info("down the wire: new site configuration written to %s", self.config_path)
        return "written"

    def current_site(self) -> Site | None:
        raw = read_bytes(self.config_path)
        if raw is None:
            return None
        try:
            return validate_site_config(self.site_id, raw.decode("utf-8"), str(self.config_path))
        except (DownwireError, UnicodeDecodeError):
            return None

    def _appointments(self, payload: bytes) -> str:
        items = check_appointments_payload(payload, self.current_site())
        data = appointments_bytes(items)
        if read_bytes(self.appointments_path) == data:
            return "unchanged"
        atomic_write(self.appointments_path, data)
        log.info("down the wire: %d appointments written to %s", len(items), self.appointments_path)
        return "written"

    def book(self) -> Book:
        """The book on disk (an empty one when there is none or it cannot be read)."""
        raw = read_bytes(self.bookings_path) if self.bookings_path is not None else None
        if raw is None:
            return Book()
        try:
            return book_from_json(raw)
        except (ValueError, BookError):
            log.error("down the wire: %s cannot be read: starting the book again", self.bookings_path)
            return Book()

    def _bookings(self, payload: bytes) -> str:
        """A batch of the centre's booking changes into the book, in order, each once, durably
        (core/bookbook.py); after a missing batch, `ask_since` says from where to ask again."""
        assert self.bookings_path is not None
        try:
            batch = json.loads(payload)
        except ValueError:
            raise DownwireError("booking changes are not JSON") from None
        if not isinstance(batch, dict):
            raise DownwireError("booking changes are not a JSON object")
        book = self.book()
        try:
            new, ask = apply_batch(book, batch, self.clock())
        except BookError as exc:
            raise DownwireError(f"booking changes refused: {exc}") from None
        if ask is not None:
            self.ask_since = ask
            log.warning("down the wire: booking changes from %s on, but the book has %d: asking again", batch.get("from"),
                        ask)
            return "gap"
        self.ask_since = None
        if new is book:
            return "unchanged"
        atomic_write(self.bookings_path, book_to_json(new))
        log.info("down the wire: booking changes %d..%d applied (%d bookings)", book.seq + 1, new.seq, len(new.items))
        return "written"

    def summary(self) -> dict[str, Any]:
        """What the device holds now (for its status message); re-read only when a file changed."""
        sig = tuple(_stat_sig(p) for p in (self.config_path, self.appointments_path))
        if self._summary_sig != sig or not self._summary:
            cfg = read_bytes(self.config_path)
            appts = read_bytes(self.appointments_path)
            count = None
            if appts is not None:
                try:
                    doc = json.loads(appts)
                    count = len(doc) if isinstance(doc, list) else None
                except ValueError:
                    count = None
            self._summary = {"site_config_sha256": digest(cfg), "appointments_sha256": digest(appts),
                             "appointments": count}
            self._summary_sig = sig
        return dict(self._summary, downwire_refused=self.refused)


def _stat_sig(path: Path) -> tuple | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_ino, st.st_mtime_ns, st.st_size)
