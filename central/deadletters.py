"""Dead letters: what the ingest could not store, kept (masked, cut) with the reason, one row per
distinct (topic, reason, payload) with a count."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass

#: The raw payload kept with a dead letter is cut to this many bytes.
DEAD_PAYLOAD_BYTES = 4096


def dead_text(payload: bytes | str, limit: int = DEAD_PAYLOAD_BYTES) -> str:
    if isinstance(payload, str):
        payload = payload.encode("utf-8", "surrogatepass")
    return payload[:limit].decode("utf-8", "backslashreplace")


@dataclass(frozen=True)
class DeadLetter:
    reason: str
    topic: str
    payload: bytes | str
    site: str | None = None
    device: str | None = None
    seq: int | None = None


def raw_payload(d: DeadLetter) -> bytes:
    return d.payload.encode("utf-8", "surrogatepass") if isinstance(d.payload, str) else bytes(d.payload)


def dead_letter_digest(d: DeadLetter, raw: bytes) -> str:
    """What makes two dead letters one row (with a count): topic, reason and payload."""
    h = hashlib.sha256()
    for part in (d.topic.encode("utf-8", "surrogatepass"), d.reason.encode("utf-8", "surrogatepass"), raw):
        h.update(len(part).to_bytes(8, "big"))
        h.update(part)
    return h.hexdigest()


def dead_seq(d: DeadLetter) -> int | None:
    """The dead letter's sequence number as stored: an int that fits a 64-bit column, or nothing."""
    return d.seq if isinstance(d.seq, int) and not isinstance(d.seq, bool) and abs(d.seq) < 2**63 else None
