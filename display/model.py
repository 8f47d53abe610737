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
- Opening hours come with the state: while it says `"open": false` the display says the service
  point is closed and when it opens (`opening_text`), instead of empty queues; a service whose
  estimate is null (no counter of it works any more today) shows "closed for today" instead of a
  wait. Before any state, and for a state without these fields, the site counts as open.
"""
from __future__ import annotations

import datetime as _dt
import functools
import math
from collections import deque
from dataclasses import dataclass
from typing import Any

from babel import Locale
from babel import dates as babel_dates

from core.config import Site
from core.i18n import Translator

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
    est_wait_s: int | None   # None: no counter of the service works any more today
    open_counters: int

    @property
    def closed_today(self) -> bool:
        return self.est_wait_s is None


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
        self.open = True                        # by the opening hours, as the hub's state says
        self.opens_ms: int | None = None        # the next opening while closed (None: not known)
        self.hub_ms: int | None = None          # the hub's clock in the last state: "today" counts from it
        self._hub_day: _dt.date | None = None
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
            est = None if "est_wait_s" in s and s["est_wait_s"] is None else _int(s.get("est_wait_s"))
            rows.append(ServiceRow(sid, _int(s.get("waiting")), est, _int(s.get("open_counters"))))
        changed = rows != self.services
        self.services = rows
        is_open = state.get("open", True)
        is_open = is_open if isinstance(is_open, bool) else True
        opens = state.get("opens_ms")
        opens = opens if isinstance(opens, int) and not isinstance(opens, bool) else None
        ts = state.get("ts")
        if isinstance(ts, int) and not isinstance(ts, bool):
            self.hub_ms = ts
        day = _local_date(self.site, self.hub_ms) if self.hub_ms is not None else None
        if (is_open, opens, day) != (self.open, self.opens_ms, self._hub_day):
            self.open, self.opens_ms, self._hub_day = is_open, opens, day
            changed = True

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
        with people waiting or a counter open. While the service point is closed, only queues
        with people in them (booked customers checked in before opening): no empty queues."""
        if not self.open:
            return [r for r in self.services if r.waiting]
        if self.settings.services:
            return list(self.services)
        return [r for r in self.services if r.waiting or r.open_counters]

    def label_language(self, wall: float) -> str:
        """The language of the fixed labels at wall-clock time `wall`: each of the display's
        languages in turn, in their order, for `label_cycle_s` seconds."""
        langs = self.settings.languages
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


#: Babel locale for the times and dates the display writes: Finland reads the 24-hour clock.
_TIME_LOCALE = {"en": "en_GB"}
#: The day of an opening as it fits "Opens {date} at {time}" (Finnish: the weekday in the essive,
#: as CLDR gives it in a date; Swedish: "måndagen den 7 december").
_OPENING_DATE = {"fi": "EEEE d. MMMM", "sv": "EEEE'en den' d MMMM", "en": "EEEE d MMMM",
                 "et": "EEEE, d. MMMM", "ru": "EEEE, d MMMM", "uk": "EEEE, d MMMM"}


@functools.lru_cache(maxsize=None)
def _locale(lang: str) -> Locale:
    try:
        return Locale.parse(_TIME_LOCALE.get(lang, lang))
    except Exception:
        return Locale.parse("en_GB")


def _local_date(site: Site, ms: int) -> _dt.date:
    return _dt.datetime.fromtimestamp(ms / 1000, tz=_dt.timezone.utc).astimezone(site.tz).date()


def opening_day(site: Site, opens_ms: int, hub_ms: int | None) -> str:
    """"today", "tomorrow" or "date": how to say when the site opens, counted from the hub's clock."""
    if hub_ms is None:
        return "date"
    days = (_local_date(site, opens_ms) - _local_date(site, hub_ms)).days
    return {0: "today", 1: "tomorrow"}.get(days, "date")


def opening_text(site: Site, t: Translator, opens_ms: int | None, hub_ms: int | None) -> str:
    """When the closed service point opens, in `t`'s language and the site's time zone ("" when
    it is not known: the hub found no opening within its look-ahead)."""
    if opens_ms is None:
        return ""
    when = t.local(int(opens_ms))
    loc = _locale(t.lang)
    time = babel_dates.format_time(when, format="short", locale=loc)
    day = opening_day(site, opens_ms, hub_ms)
    if day == "today":
        return t("Opens today at {time}").format(time=time)
    if day == "tomorrow":
        return t("Opens tomorrow at {time}").format(time=time)
    date = babel_dates.format_date(when, format=_OPENING_DATE.get(t.lang, "EEEE d MMMM"), locale=loc)
    return t("Opens {date} at {time}").format(date=date, time=time)


def service_wait_text(row: ServiceRow, t: Translator) -> str:
    """The second line of a service's tile: how many wait and about how long, "no queue", or that
    no counter works for it any more today."""
    if row.closed_today:
        # People already waiting are still served: for them it is the newcomers that are turned away.
        if row.waiting:
            return t.ngettext("waiting", "waiting", row.waiting) + " · " + t("no new numbers today")
        return t("closed for today")
    if row.waiting:
        return t.ngettext("waiting", "waiting", row.waiting) + " · " + \
            t("about {n} min").format(n=wait_minutes(row.est_wait_s or 0))
    return t("no queue")


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
