"""The queue authority of a site, without any network: store + engine.

Used by the hub service (over MQTT) and by `palvelupiste queue ...` against a local store.
On start it folds its whole store, so a killed hub comes back with exactly its queue.

A command off the wire with correlation data runs in one store transaction with the answer it
gets (`core.store`: `answers`): the hub's events and the record that this request was answered are
durable together, so a retry after a crash gets the first answer and runs nothing. Inside that
transaction the engine applies its events before the commit; nothing leaves the hub before the
commit (the answer is sent after `handle` returns), and a transaction that fails after events were
applied folds the state again from the store, which then holds none of them.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from core import commands
from core.config import Site
from core.engine import Appointment, Command, Engine, HelpLimits, QueueState
from core.errors import WireError, error_reply
from core.events import Event, now_ms
from core.store import EventStore, StoreError


class QueueAuthority:
    def __init__(self, site: Site, store: EventStore, appointments: Iterable[Appointment] = (),
                 clock: Callable[[], int] = now_ms, help_limits: HelpLimits | None = None,
                 ref_key: bytes | None = None) -> None:
        self.site = site
        self.store = store
        self.clock = clock
        self._appointments = list(appointments)
        # The site's key from the centre (its feeds' bookings carry references made with it), or
        # the hub's own for appointment lists, which carry the codes themselves.
        self._ref_key = ref_key or store.local_secret("appointment_ref")
        self._help_limits = help_limits
        self.last_events: list[Event] = []
        self._fold()

    def _fold(self) -> None:
        self.state = QueueState(self.site, self._appointments, ref_key=self._ref_key,
                                help_limits=self._help_limits)
        self.state.apply_all(self.store.iter_events())
        self.engine = Engine(self.state, self._commit)

    def _commit(self, items: list[tuple[str, dict[str, Any]]], now: int) -> list[Event]:
        events = self.store.append_many(items, ts=now)
        self.last_events.extend(events)
        return events

    def set_appointments(self, appointments: Iterable[Appointment]) -> None:
        self._appointments = list(appointments)
        self.state.set_appointments(self._appointments)

    def handle(self, cmd: Command, now: int | None = None,
               request: tuple[str, bytes] | None = None) -> dict[str, Any]:
        """Run one engine command; the reply is sent only after its events are durable.
        `request`: (sender device, correlation data) of a command off the wire. A request that
        was accepted before, by this hub or by one since killed, gets its first answer and runs
        no more. Refusals and commands without events leave no record: they changed nothing, and
        a retry runs again against the queue as it is then."""
        self.last_events = []
        t = self.clock() if now is None else now
        if request is None:
            try:
                return self.engine.handle(cmd, t)
            except StoreError as exc:
                # The state is untouched: events are applied only after they were stored.
                return error_reply(WireError.STORE_FAILED, str(exc))
        try:
            with self.store.transaction():
                first = self.store.answer(*request)
                if first is not None:
                    return first
                reply = self.engine.handle(cmd, t)
                if reply.get("ok") and self.last_events:
                    self.store.record_answer(*request, reply)
            return reply
        except BaseException as exc:
            if self.last_events:  # applied, but rolled back: the state must not keep them
                self.last_events = []
                self._fold()
            if isinstance(exc, StoreError):
                return error_reply(WireError.STORE_FAILED, str(exc))
            raise

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

    def handle_payload(self, payload: bytes | str, role: str = "hub", now: int | None = None,
                       sender: str | None = None, correlation: bytes | None = None) -> dict[str, Any]:
        """A JSON command as it comes off the wire, checked against the sender's role and the site
        (`sender`: the device id the message came from, when known; with `correlation`, its MQTT
        correlation data, a repeated request gets its first answer: see `handle`)."""
        try:
            cmd = commands.parse_command_json(payload)
            if not commands.allowed(role, cmd):
                return error_reply(WireError.NOT_ALLOWED, f"a {role} may not send '{commands.command_name(cmd)}'")
            commands.check_for_site(cmd, self.site, sender)
        except commands.CommandError as exc:
            return exc.to_dict()
        return self.handle(cmd, now, (sender, correlation) if sender is not None and correlation else None)

    def snapshot(self, now: int | None = None) -> dict[str, Any]:
        return self.state.snapshot(self.clock() if now is None else now)
