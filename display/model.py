"""What the number display shows, as plain data with the time passed in (no Kivy, no network).

The hub sends two kinds of live message (bus/live.py): a call message for every call and recall
(displays react to it at once), and the retained state (waiting counts, estimates, the last calls)
re-published at least every `heartbeat_s`. A call is known by (ticket, ts): the same call arrives
both as a call message and inside the next state, and is shown and spoken once.

Rules:
- The newest call of this display's zone is highlighted in the big area for `highlight_s`; then it
  moves to the top of the list of the last calls. A new call ends the previous highlight at once.
- A recall is a new call of the same ticket: highlighted and spoken again; the list shows each
  ticket once, at its latest call.
- The first state after start fills the list silently (nobody is called twice because the screen
  restarted). Later, a call found only in a state (its call message was lost while the link was
  down) is treated as new when it is recent, else it only joins the list.
- Stale: the link is down, the hub said "offline", or no state arrived for `stale_after` seconds
  (from the settings, else 2.5 heartbeats + 2 s). The last calls stay on screen.
"""
from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from typing import Any

from core.config import Site

from .settings import DisplaySettings

#: A call seen only in a state counts as new (spoken, highlighted) when it is at most this old
#: by the hub's own clock (state ts − call ts).
LATE_CALL_S = 60.0
#: No stale notice during the first seconds after start, while the retained state arrives.
STARTUP_GRACE_S = 3.0


@dataclass(frozen=True)
class Call:
    ticket: str
    number: str
    counter: str
    service: str | None
    kind: str
    recall: bool
    ts: int  # the hub's clock, UTC ms

    @property
    def key(self) -> tuple[str, int]:
        return (self.ticket, self.ts)

    @classmethod
    def from_message(cls, m: dict[str, Any]) -> "Call | None":
        number, counter = m.get("number"), m.get("counter")
        if not isinstance(number, str) or not isinstance(counter, str):
            return None
        ts = m.get("ts")
        ts = ts if isinstance(ts, int) and not isinstance(ts, bool) else 0
        ticket = m.get("ticket") if isinstance(m.get("ticket"), str) else number
        kind = m.get("kind") if m.get("kind") in ("walk_in", "appointment") else "walk_in"
        svc = m.get("service") if isinstance(m.get("service"), str) else None
        return cls(ticket, number, counter, svc, kind, bool(m.get("recall")), ts)


@dataclass(frozen=True)
class ServiceRow:
    id: str
    waiting: int
    est_wait_s: int
    open_counters: int


class DisplayModel:
    def __init__(self, site: Site, settings: DisplaySettings, started: float = 0.0) -> None:
        self.site = site
        self.settings = settings
        self.started = started
        self.current: Call | None = None
        self.highlight_until = -math.inf
        self.history: list[Call] = []          # newest first, one per ticket, without `current`
        self.services: list[ServiceRow] = []
        self.heartbeat_s: float | None = None
        self.last_rx: float | None = None
        self.connected = False
        self.hub_online: bool | None = None
        self.had_state = False
        self._seen: deque[tuple[str, int]] = deque(maxlen=256)
        self._seen_set: set[tuple[str, int]] = set()
        self.revision = 0                       # grows with every change the screen must show
        self._was_stale: bool | None = None
        self._was_highlighted = False

    # --- input ----------------------------------------------------------------------------

    def on_call(self, msg: dict[str, Any], now: float) -> Call | None:
        """A call message. Returns the call when it is new for this display (to show and speak)."""
        call = Call.from_message(msg)
        if call is None or not self.settings.shows(call.service, call.kind):
            return None
        if not self._remember(call.key):
            return None
        self._take(call, now, highlight=True)
        return call

    def on_state(self, state: dict[str, Any], now: float) -> list[Call]:
        """A state message. Returns the calls in it that are new and recent enough to be spoken,
        oldest first."""
        self.last_rx = now
        hb = state.get("heartbeat_s")
        if isinstance(hb, (int, float)) and not isinstance(hb, bool) and hb > 0:
            self.heartbeat_s = float(hb)
        rows = []
        svc = state.get("services") or {}
        for sid in self.site.services:
            s = svc.get(sid)
            if not isinstance(s, dict) or not self.settings.shows(sid, None):
                continue
            rows.append(ServiceRow(sid, _int(s.get("waiting")), _int(s.get("est_wait_s")),
                                   _int(s.get("open_counters"))))
        changed = rows != self.services
        self.services = rows

        fresh: list[Call] = []
        state_ts = state.get("ts") if isinstance(state.get("ts"), int) else 0
        calls = [c for c in (Call.from_message(m) for m in reversed(state.get("calls") or [])
                             if isinstance(m, dict)) if c is not None]  # oldest first
        for call in calls:
            if not self.settings.shows(call.service, call.kind) or not self._remember(call.key):
                continue
            if self.had_state and state_ts - call.ts <= LATE_CALL_S * 1000:
                self._take(call, now, highlight=True)
                fresh.append(call)
            else:
                self._file(call)
            changed = True
        self.had_state = True
        if changed:
            self.revision += 1
        return fresh

    def on_link(self, connected: bool, now: float) -> None:
        if connected != self.connected:
            self.connected = connected
            self.revision += 1

    def on_hub_availability(self, online: bool, now: float) -> None:
        if online != self.hub_online:
            self.hub_online = online
            self.revision += 1

    def tick(self, now: float) -> bool:
        """Time passing: ends a highlight, notices staleness. True when the screen must change."""
        changed = False
        hl = self.highlighted(now)
        if self._was_highlighted and not hl:
            changed = True
        self._was_highlighted = hl
        st = self.stale(now)
        if st != self._was_stale:
            changed = changed or self._was_stale is not None or st
            self._was_stale = st
        if changed:
            self.revision += 1
        return changed

    # --- output ---------------------------------------------------------------------------

    def stale_after(self) -> float:
        if self.settings.stale_after_s > 0:
            return self.settings.stale_after_s
        return 2.5 * (self.heartbeat_s or 10.0) + 2.0

    def stale(self, now: float) -> bool:
        if self.last_rx is None:
            return now - self.started > STARTUP_GRACE_S
        if not self.connected or self.hub_online is False:
            return True
        return now - self.last_rx > self.stale_after()

    def highlighted(self, now: float) -> bool:
        return self.current is not None and now < self.highlight_until

    def big_call(self, now: float) -> Call | None:
        """The call in the big area: the newest one while it is highlighted."""
        return self.current if self.highlighted(now) else None

    def recent(self, now: float) -> list[Call]:
        """The list of the last calls, newest first (the current one joins once its highlight ends)."""
        items = list(self.history)
        if self.current is not None and not self.highlighted(now):
            items.insert(0, self.current)
        return items[: self.settings.history]

    def visible_services(self) -> list[ServiceRow]:
        """Service rows to show: a zone shows all of its services; the whole site shows the ones
        with people waiting or a counter open."""
        if self.settings.services:
            return list(self.services)
        return [r for r in self.services if r.waiting or r.open_counters]

    def label_language(self, wall: float) -> str:
        langs = self.settings.label_languages
        return langs[int(wall // self.settings.label_cycle_s) % len(langs)]

    def shift(self, wall: float) -> tuple[int, int]:
        """Burn-in protection: a small offset that changes every `shift_interval_s`, walking
        around the centre (golden angle) so that no edge stays in one place."""
        px = self.settings.shift_px
        if px <= 0:
            return (0, 0)
        step = int(wall // self.settings.shift_interval_s)
        angle = step * 2.399963
        r = px * (1 + step % 3) / 3
        return (round(r * math.cos(angle)), round(r * math.sin(angle)))

    # --- internals ------------------------------------------------------------------------

    def _remember(self, key: tuple[str, int]) -> bool:
        if key in self._seen_set:
            return False
        if len(self._seen) == self._seen.maxlen:
            self._seen_set.discard(self._seen[0])
        self._seen.append(key)
        self._seen_set.add(key)
        return True

    def _take(self, call: Call, now: float, highlight: bool) -> None:
        cur = self.current
        if cur is not None and call.ts < cur.ts:  # an older call arriving late: straight to the list
            self._file(call)
            self.revision += 1
            return
        self.current = None
        if cur is not None:
            self._file(cur)
        self.history = [c for c in self.history if c.ticket != call.ticket]
        self.current = call
        self.highlight_until = now + self.settings.highlight_s if highlight else -math.inf
        self._was_highlighted = highlight
        self.revision += 1

    def _file(self, call: Call) -> None:
        if self.current is not None and self.current.ticket == call.ticket and call.ts <= self.current.ts:
            return
        items = [c for c in self.history if c.ticket != call.ticket or c.ts > call.ts]
        if any(c.ticket == call.ticket for c in items):
            self.history = items
            return
        items.append(call)
        items.sort(key=lambda c: c.ts, reverse=True)
        self.history = items[: max(self.settings.history, 6) + 1]


def _int(v: Any) -> int:
    return int(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else 0


def counter_label(site: Site, counter: str, lang: str) -> str:
    c = site.counters.get(counter)
    return c.label(lang) if c is not None else counter


def counter_names(site: Site, counter: str, langs: tuple[str, ...]) -> list[str]:
    """The counter's name in each language, without repeats ("Tiski 3", "Lucka 3", "Counter 3")."""
    out: list[str] = []
    for lang in langs:
        n = counter_label(site, counter, lang)
        if n not in out:
            out.append(n)
    return out


def wait_minutes(est_wait_s: int) -> int:
    """Whole minutes, rounded up to the next 5 above 10 min (a display should not promise 13)."""
    m = max(1, math.ceil(est_wait_s / 60))
    return m if m <= 10 else 5 * math.ceil(m / 5)
