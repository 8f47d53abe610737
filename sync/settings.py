"""The [sync] section of every device's configuration (the sync agent's options), declared once
(core.schema). Every key is optional; the defaults suit a site on an ordinary internet line."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from core.schema import Field, Int, Number, Section, load


@dataclass(frozen=True)
class SyncOptions:
    batch_events: int = 200
    batch_bytes: int = 64 * 1024
    window: int = 8
    ack_timeout_s: float = 20.0
    ack_timeout_max_s: float = 120.0
    ack_wait_s: float = 3.0
    nosub_retry_s: float = 1.0
    poll_s: float = 0.5
    status_interval_s: float = 30.0
    status_min_interval_s: float = 1.0
    checkpoint_interval_s: float = 600.0
    prune_interval_s: float = 86_400.0
    keep_days: float = 30.0
    keepalive_s: int = 30
    min_backoff_s: float = 0.5
    max_backoff_s: float = 30.0

    @classmethod
    def from_section(cls, sec: dict[str, Any], source: str = "<device>") -> "SyncOptions":
        """The device TOML's [sync] table (every key optional)."""
        options: SyncOptions = load(SYNC, sec, source)
        return options


_SECONDS = Number(0, None, lo_open=True, unit="seconds")
_COUNT = Int(0, None, lo_open=True)

SYNC = Section("sync", (
    Field("batch_events", _COUNT, 200, "events per published batch, at most"),
    Field("batch_bytes", Int(20_000), 64 * 1024, "bytes per batch, at most (one event may be 16 KB)"),
    Field("window", _COUNT, 8, "batches published and not yet acknowledged by the centre, at most"),
    Field("ack_timeout_s", _SECONDS, 20.0, "no acknowledgement this long: the batches are sent again"),
    Field("ack_timeout_max_s", _SECONDS, 120.0, "that timeout doubles on each retry up to this"),
    Field("ack_wait_s", _SECONDS, 3.0, "after connecting, how long to wait for the centre's retained acknowledgement"),
    Field("nosub_retry_s", _SECONDS, 1.0, 'first retry after "no matching subscribers" (doubles)'),
    Field("poll_s", _SECONDS, 0.5, "how often the outbox is looked at for new events"),
    Field("status_interval_s", _SECONDS, 30.0, "the device status is published this often"),
    Field("status_min_interval_s", _SECONDS, 1.0, "and, when it changes, no more often than this"),
    Field("checkpoint_interval_s", _SECONDS, 600.0, "the SQLite WAL is checkpointed this often"),
    Field("prune_interval_s", _SECONDS, 86_400.0, "acknowledged old events are pruned this often"),
    Field("keep_days", Number(0, None, lo_open=True, unit="days"), 30.0, "acknowledged events are kept this long"),
    Field("keepalive_s", _COUNT, 30, "MQTT keepalive, in seconds"),
    Field("min_backoff_s", _SECONDS, 0.5, "first reconnect delay"),
    Field("max_backoff_s", _SECONDS, 30.0, "longest reconnect delay"),
), make=lambda v: SyncOptions(**v), description="the sync agent: the outbox to the central broker")
