"""Feedback responses as durable `feedback.given` events.

How a response is stored (and how reports count it once)
-------------------------------------------------------
A response begins with a rating (a face touched or a button pressed). The rating is appended
as a `feedback.given` event *before* the screen confirms it; each optional follow-up answer
that is given (outcome, self-service, comment) is appended as another `feedback.given` event
before the screen moves on. Every event is a complete snapshot of the response so far:

    {"response": "9f3c…",   random per response, links the snapshots; nothing else in it
     "part": "rating",      what this snapshot added: rating | outcome | self_service | comment
     "rev": 1,              1 for the rating, +1 per answer given
     "rating": 4, "scale": 5,
     "outcome": "done" | "started" | "not_done" | null,
     "self_service": "yes" | "no" | null,
     "comment": "…" | null,
     "language": "fi", "input": "touch" | "button",
     "flags": [],           misuse guard's reasons ("interval", "burst"); [] = clean
     "local_time": "2026-11-23T14:05+02:00",   the site's local time, to the minute
     "service": "kela" | null}                 only when a ticket was read at the terminal

A report counts each response once by keeping, per `response`, the snapshot with the highest
`rev` (equivalently the highest device sequence), and leaves out responses with flags
(`latest_responses()` here; `REPORT_SQL` for a device's store). A power
cut or a SIGKILL after any confirmed answer leaves a valid last snapshot: nothing the screen
confirmed is lost, and a response never counts twice. Skipped questions stay null.

Nothing identifying is stored: no ticket number or token (attribution keeps only the service),
no device-local counter that could be joined to a ticket; the comment is the only free text,
and personal identity codes and phone numbers typed into it are masked (DESIGN.md: Privacy).
"""
from __future__ import annotations

import datetime as _dt
import logging
import queue
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from core.events import (
    FEEDBACK_INPUTS,
    FEEDBACK_OUTCOMES,
    FEEDBACK_PARTS,
    FEEDBACK_SCALES,
    FEEDBACK_SELF_SERVICE,
    Event,
)
from core.figures import latest_feedback
from core.privacy import COMMENT_MAX_DEFAULT, MASK, clean_comment  # the masking rule lives in core
from core.store import EventStore

__all__ = ["COMMENT_MAX_DEFAULT", "MASK", "clean_comment"]

log = logging.getLogger(__name__)

EVENT_TYPE = "feedback.given"
# Declared with the event's schema in core.events (the ingest checks them too).
SCALES = FEEDBACK_SCALES
OUTCOMES = FEEDBACK_OUTCOMES
SELF_SERVICE = FEEDBACK_SELF_SERVICE
PARTS = FEEDBACK_PARTS
INPUTS = FEEDBACK_INPUTS


def new_response_id() -> str:
    """Random, never derived from anything about the customer or the device."""
    return secrets.token_hex(8)


def local_time(now_s: float, tz: str) -> str:
    """The site's local time to the minute, with its UTC offset (ISO 8601)."""
    dt = _dt.datetime.fromtimestamp(now_s, tz=ZoneInfo(tz))
    return dt.replace(second=0, microsecond=0).isoformat(timespec="minutes")


@dataclass(frozen=True)
class Response:
    """One customer's answers, as far as they have gone. Immutable: each answer makes a new one."""

    id: str
    rating: int
    scale: int
    language: str
    local_time: str
    input: str = "touch"
    flags: tuple[str, ...] = ()
    service: str | None = None
    outcome: str | None = None
    self_service: str | None = None
    comment: str | None = None
    part: str = "rating"
    rev: int = 1

    def __post_init__(self) -> None:
        if self.scale not in SCALES:
            raise ValueError(f"scale must be one of {SCALES}, not {self.scale!r}")
        if isinstance(self.rating, bool) or not isinstance(self.rating, int) or not 1 <= self.rating <= self.scale:
            raise ValueError(f"rating must be 1..{self.scale}, not {self.rating!r}")
        if self.outcome not in (None, *OUTCOMES):
            raise ValueError(f"outcome must be one of {OUTCOMES} or None, not {self.outcome!r}")
        if self.self_service not in (None, *SELF_SERVICE):
            raise ValueError(f"self_service must be one of {SELF_SERVICE} or None, not {self.self_service!r}")
        if self.part not in PARTS:
            raise ValueError(f"part must be one of {PARTS}")
        if self.input not in INPUTS:
            raise ValueError(f"input must be one of {INPUTS}")

    def answer(self, part: str, value: Any, comment_max: int = COMMENT_MAX_DEFAULT) -> "Response":
        """The next snapshot with one follow-up answer added (or replaced)."""
        if part == "outcome":
            return replace(self, outcome=value, part=part, rev=self.rev + 1)
        if part == "self_service":
            return replace(self, self_service=value, part=part, rev=self.rev + 1)
        if part == "comment":
            return replace(self, comment=clean_comment(value, comment_max), part=part, rev=self.rev + 1)
        raise ValueError(f"no follow-up question {part!r}")

    def with_context(self, language: str | None = None, service: str | None = None) -> "Response":
        """Language and attributed service as they are when the next answer is given."""
        return replace(self, language=language or self.language,
                       service=service if service is not None else self.service)

    def data(self) -> dict[str, Any]:
        return {
            "response": self.id, "part": self.part, "rev": self.rev,
            "rating": self.rating, "scale": self.scale,
            "outcome": self.outcome, "self_service": self.self_service, "comment": self.comment,
            "language": self.language, "input": self.input, "flags": list(self.flags),
            "local_time": self.local_time, "service": self.service,
        }


def new_response(rating: int, scale: int, language: str, tz: str, *, input: str = "touch",
                 flags: list[str] | tuple[str, ...] = (), service: str | None = None,
                 now_s: float | None = None) -> Response:
    return Response(id=new_response_id(), rating=rating, scale=scale, language=language,
                    local_time=local_time(time.time() if now_s is None else now_s, tz),
                    input=input, flags=tuple(flags), service=service)


def latest_responses(events: list[Event] | list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The reporting rule: per response id, the data of its last snapshot (highest rev, then
    highest seq). Accepts Events or plain data dicts (in sequence order). The rule itself is
    core.figures.latest_feedback, which the central figures use too."""
    datas = [ev.data if isinstance(ev, Event) else ev for ev in events
             if not isinstance(ev, Event) or ev.type == EVENT_TYPE]
    return latest_feedback(d for d in datas if d.get("response"))


#: One row (the data JSON) per response with its last snapshot, misuse-flagged responses left
#: out — for a device's own store (SQLite). The central database applies the same rule as events
#: arrive (its `feedback_responses` table, central/rollups.py).
REPORT_SQL = """
SELECT e.data FROM events e
WHERE e.type = 'feedback.given'
  AND json_array_length(e.data, '$.flags') = 0
  AND NOT EXISTS (
    SELECT 1 FROM events later
    WHERE later.type = 'feedback.given'
      AND json_extract(later.data, '$.response') = json_extract(e.data, '$.response')
      AND json_extract(later.data, '$.rev') > json_extract(e.data, '$.rev'))
"""


class Recorder:
    """Appends response snapshots to the device's store. Owned by one thread (the store's)."""

    def __init__(self, store: EventStore) -> None:
        self.store = store

    def record(self, response: Response) -> Event:
        """Returns when the snapshot is durable (EventStore.append is)."""
        return self.store.append(EVENT_TYPE, response.data())


@dataclass
class _Job:
    response: Response
    on_done: Callable[[Response, Event | None, Exception | None], None] | None
    submitted: float = field(default_factory=time.perf_counter)


class RecorderThread:
    """One writer thread that owns the store connection; responses are appended in the order
    they were submitted, and `on_done(response, event, error)` is called (on the writer thread)
    once each is durable — or has failed. The UI confirms only in that callback.

    Several threads may submit (the Kivy thread for touches, the button reader for presses).
    """

    def __init__(self, store_path: str | Path, site: str, device: str,
                 on_durable: Callable[[Response, float, float], None] | None = None) -> None:
        self.store_path, self.site, self.device = Path(store_path), site, device
        # (response, submitted, durable) in time.perf_counter() seconds, for the bench
        self.on_durable = on_durable
        self._q: queue.Queue[_Job | None] = queue.Queue()
        self._ready = threading.Event()
        self._open_error: Exception | None = None
        self._thread = threading.Thread(target=self._run, name="feedback-recorder", daemon=True)
        self.written = 0
        self.failed = 0

    def start(self) -> "RecorderThread":
        self._thread.start()
        self._ready.wait()
        if self._open_error is not None:
            raise self._open_error
        return self

    def submit(self, response: Response,
               on_done: Callable[[Response, Event | None, Exception | None], None] | None = None) -> None:
        self._q.put(_Job(response, on_done))

    def pending(self) -> int:
        return self._q.qsize()

    def stop(self, timeout: float = 10.0) -> None:
        """Write what is queued, then close the store."""
        if self._thread.is_alive():
            self._q.put(None)
            self._thread.join(timeout)

    def _run(self) -> None:
        try:
            store = EventStore(self.store_path, self.site, self.device)
        except Exception as exc:  # reported by start()
            self._open_error = exc
            self._ready.set()
            return
        recorder = Recorder(store)
        self._ready.set()
        try:
            while True:
                job = self._q.get()
                if job is None:
                    return
                event: Event | None = None
                error: Exception | None = None
                try:
                    event = recorder.record(job.response)
                    self.written += 1
                except Exception as exc:  # disk full, store broken: the screen must not confirm
                    log.error("feedback not stored: %s", exc)
                    error = exc
                    self.failed += 1
                if self.on_durable is not None and event is not None:
                    self.on_durable(job.response, job.submitted, time.perf_counter())
                if job.on_done is not None:
                    try:
                        job.on_done(job.response, event, error)
                    except Exception:
                        log.exception("feedback on_done callback failed")
        finally:
            store.close()
