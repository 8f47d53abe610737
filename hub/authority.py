"""The queue authority of a site, without any network: store + engine.

Used by the hub service (over MQTT) and by `palvelupiste queue ...` against a local store.
On start it folds its whole store, so a killed hub comes back with exactly its queue.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from core import commands
from core.config import Site
from core.engine import Appointment, Command, Engine, QueueState
from core.errors import WireError, error_reply
from core.events import Event, now_ms
from core.store import EventStore, StoreError


class QueueAuthority:
    def __init__(self, site: Site, store: EventStore, appointments: Iterable[Appointment] = (),
                 clock: Callable[[], int] = now_ms) -> None:
        self.site = site
        self.store = store
        self.clock = clock
        self.state = QueueState(site, appointments)
        self.state.apply_all(store.iter_events())
        self.engine = Engine(self.state, self._commit)
        self.last_events: list[Event] = []

    def _commit(self, items: list[tuple[str, dict[str, Any]]], now: int) -> list[Event]:
        events = self.store.append_many(items, ts=now)
        self.last_events.extend(events)
        return events

    def set_appointments(self, appointments: Iterable[Appointment]) -> None:
        self.state.set_appointments(appointments)

    def handle(self, cmd: Command, now: int | None = None) -> dict[str, Any]:
        """Run one engine command; the reply is sent only after its events are durable."""
        self.last_events = []
        try:
            return self.engine.handle(cmd, self.clock() if now is None else now)
        except StoreError as exc:
            # The state is untouched: events are applied only after they were stored.
            return error_reply(WireError.STORE_FAILED, str(exc))

    def housekeep(self, now: int | None = None) -> int:
        """Close the tickets left open from an earlier local day (a new day began with no command
        yet), so the displays do not show yesterday's queue in the morning. Returns how many."""
        from core.engine import housekeeping

        t = self.clock() if now is None else now
        items = housekeeping(self.state, t)
        if not items:
            return 0
        try:
            self.state.apply_all(self._commit(items, t))
        except StoreError:
            return 0  # tried again at the next heartbeat; the next command does it too
        return len(items)

    def handle_payload(self, payload: bytes | str, role: str = "hub", now: int | None = None) -> dict[str, Any]:
        """A JSON command as it comes off the wire, checked against the sender's role."""
        try:
            cmd = commands.parse_command_json(payload)
        except commands.CommandError as exc:
            return exc.to_dict()
        if not commands.allowed(role, cmd):
            return error_reply(WireError.NOT_ALLOWED, f"a {role} may not send '{commands.command_name(cmd)}'")
        return self.handle(cmd, now)

    def snapshot(self, now: int | None = None) -> dict[str, Any]:
        return self.state.snapshot(self.clock() if now is None else now)
