"""The number display: a Kivy screen for a TV in the waiting room (landscape 1920×1080, or
portrait), fed by the hub's live messages.

Cheap when idle (the target is < 3 % of one core): nothing runs per frame. The frame loop uses
Kivy's *interruptible* clock with a low `max_fps`, so it sleeps between frames; a call message
arriving on the hub client's thread is handed over with `Clock.schedule_once`, which wakes the
sleeping loop at once, and the frame showing the call is drawn in that same loop iteration. A
one-second tick does the rest (the clock text changes once a minute; the fixed labels change
language every few seconds; a highlight ends; the layout shifts a few pixels now and then).
Kivy redraws only when something changed.

The interruptible clock is chosen before Kivy's clock is imported, by the one start-up path
(uikit.launch, from `palvelupiste display`): the clock's kind is fixed at import time. Started any
other way (a test driver), the app still sets the frame ceiling.
"""
from __future__ import annotations

import datetime as _dt
import json
import logging
import tempfile
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kivy.app import App  # imports kivy.clock: its kind is chosen before this module is imported

from core.config import Site
from core.i18n import Translator
from uikit.appsupport import close_all
from uikit.techoverlay import InfoSource

from .model import DisplayModel, ServiceRow, counter_label, counter_names, opening_text, service_wait_text
from .settings import DisplaySettings, check_against_site

log = logging.getLogger(__name__)


class DisplayApp(App):
    title = "palvelupiste — display"

    def __init__(self, site: Site, settings: DisplaySettings, *, broker: Any = None, device: str = "display-1",
                 username: str | None = None, password: str | None = None, speech_dir: str | Path | None = None,
                 player: Any = "settings", speech_on_done=None, keep_speech_files: bool = False,
                 link_factory=None, device_config: str | Path | None = None, tech_info: InfoSource | None = None,
                 wall_clock: Callable[[], float] | None = None, **kw: Any) -> None:
        # Languages the site does not offer, or without a display catalog: refused before a window
        # opens (the CLI may have read the [display] section without the site's languages at hand).
        check_against_site(settings, site)
        super().__init__(**kw)
        self.site = site
        self.settings = settings
        # The wall clock (epoch seconds) that paces the labels' languages, the clock text and the
        # burn-in shift; injectable so that a test can step through the languages.
        self.wall_clock: Callable[[], float] = wall_clock or time.time
        self.broker = broker
        self.device = device
        self.username, self.password = username, password
        # For the technician screen (display/technician.py): the configuration it checks, and what
        # it shows beyond what the app knows (handed in by the command that starts the display).
        self.device_config = str(device_config) if device_config else None
        self.tech_info = tech_info
        self.tech = None
        self.model = DisplayModel(site, settings, started=time.monotonic())
        self._events: deque = deque()
        self._wake_pending = False
        self._shown_rev = -1
        self._shown_lang = None
        self._shown_shift = None
        self._marks: list[dict[str, Any]] = []
        self._frame_log = open(settings.frame_log, "a", buffering=1) if settings.frame_log else None
        self.frames_shown: list[dict[str, Any]] = []   # the same records, for tests in this process
        self.link = None
        self._link_factory = link_factory
        self.announcer = None
        self.announced: list[Any] = []                 # calls handed to speech, in order
        self._speech_after_frame: list[Any] = []
        self._speech_timer = None
        if settings.speech and settings.languages:
            from .announce import Announcer

            if player == "settings":
                ap = settings.audio_player
                player = None if ap == "none" else ("auto" if ap == "auto" else list(ap))
            work = Path(speech_dir) if speech_dir else Path(tempfile.mkdtemp(prefix="pp-display-speech-"))
            self.announcer = Announcer(site, settings.languages, work, chime=settings.chime, player=player,
                                       on_done=speech_on_done, keep_files=keep_speech_files)
        self._t: dict[str, Translator] = {}

    # --- lifecycle ------------------------------------------------------------------------

    def build(self):
        from kivy.clock import Clock
        from kivy.core.window import Window

        from uikit.theme import PALETTES

        # The clock kind is fixed when kivy.clock is first imported; the frame ceiling can
        # still be set here when the app was not started by uikit.launch (a test driver).
        try:
            Clock._max_fps = float(self.settings.max_fps)
        except Exception:
            pass
        self.palette = PALETTES[self.settings.palette]
        Window.clearcolor = self.palette.background
        if self.settings.portrait and Window.width > Window.height:
            Window.rotation = 90  # the TV hangs on its side and the screen is not rotated by the OS
        self.screen = DisplayScreen(self)
        self._orig_flip = Window.flip
        Window.flip = self._flip
        Clock.schedule_interval(self._tick, 1.0)
        Clock.schedule_once(lambda dt: self._refresh(force=True), 0)
        if self._link_factory is not None:
            self.link = self._link_factory(self._on_link_event)
        elif self.broker is not None:
            from .hub_link import DisplayLink

            self.link = DisplayLink(self.broker, self.site, self.device, self._on_link_event,
                                    username=self.username, password=self.password)
        if self.link is not None:
            self.link.start()
        from . import technician

        # Five taps in the top-left corner: the technician screen over the calls (see there).
        self.tech = technician.install(self)
        return self.screen

    def on_stop(self):
        close_all("display", self.link and self.link.close,
                  self.announcer and (lambda: self.announcer.close(timeout=1.0)),
                  self._frame_log and self._frame_log.close)

    # --- events from the hub link (any thread) -----------------------------------------------

    def _on_link_event(self, ev) -> None:
        from kivy.clock import Clock

        self._events.append(ev)
        if not self._wake_pending:
            self._wake_pending = True
            Clock.schedule_once(self._drain, 0)  # wakes the interruptible clock at once

    def _drain(self, dt=0) -> None:
        self._wake_pending = False
        now = time.monotonic()
        m = self.model
        urgent = False
        while self._events:
            kind, data = self._events.popleft()
            if kind == "call":
                call = m.on_call(data, now)
                if call is not None:
                    self._announce(call, now)
                    urgent = True
            elif kind == "state":
                for call in m.on_state(data, now):
                    self._announce(call, now)
                    urgent = True
            elif kind == "link":
                m.on_link(bool(data), now)
            elif kind == "hub":
                m.on_hub_availability(bool(data), now)
        m.tick(now)
        # A call is drawn at once. Other news (waiting counts right after a call, heartbeats,
        # the link) waits for the one-second tick: one frame per call instead of two, so the
        # next call is not queued behind a frame nobody is waiting for.
        if urgent:
            self._refresh()

    def _announce(self, call, rx: float) -> None:
        self._marks.append({"number": call.number, "ticket": call.ticket, "counter": call.counter,
                            "ts": call.ts, "recall": call.recall, "rx": rx})
        self.announced.append(call)
        if self.announcer is not None:
            # Spoken after the frame that shows it: espeak-ng rendering on the same cores would
            # otherwise slow down the very frame people are waiting for (software GL).
            self._speech_after_frame.append(call)
            if self._speech_timer is None:
                from kivy.clock import Clock

                self._speech_timer = Clock.schedule_once(self._release_speech, 0.5)

    def _release_speech(self, *_):
        if self._speech_timer is not None:
            self._speech_timer.cancel()
            self._speech_timer = None
        calls, self._speech_after_frame = self._speech_after_frame, []
        for call in calls:
            self.announcer.announce(call)

    # --- frames ---------------------------------------------------------------------------

    def _flip(self, *a, **kw):
        """Window.flip, and then: the calls received since the last frame are on screen now."""
        r = self._orig_flip(*a, **kw)
        if self._marks:
            shown = time.monotonic()
            marks, self._marks = self._marks, []
            for mk in marks:
                mk["shown"] = shown
                self.frames_shown.append(mk)
                if self._frame_log is not None:
                    self._frame_log.write(json.dumps(mk) + "\n")
        if self._speech_after_frame:
            self._release_speech()
        return r

    # --- time -----------------------------------------------------------------------------

    def _tick(self, dt) -> None:
        now = time.monotonic()
        self.model.tick(now)
        self._refresh()

    def translator(self, lang: str) -> Translator:
        t = self._t.get(lang)
        if t is None:
            t = self._t[lang] = Translator(lang, "display", self.site.timezone)
        return t

    def _refresh(self, force: bool = False) -> None:
        now, wall = time.monotonic(), self.wall_clock()
        m = self.model
        lang = m.label_language(wall)
        shift = m.shift(wall)
        if shift != self._shown_shift:
            self._shown_shift = shift
            self.screen.set_shift(shift)
        self.screen.set_clock(self._clock_text(wall))
        if force or m.revision != self._shown_rev or lang != self._shown_lang:
            self._shown_rev, self._shown_lang = m.revision, lang
            self.screen.show(m, now, self.translator(lang))

    def _clock_text(self, wall: float) -> str:
        t = self.translator(self.site.default_language)
        return t.format_time(_dt.datetime.fromtimestamp(wall, tz=_dt.timezone.utc))


# --- the screen ---------------------------------------------------------------------------------

from kivy.uix.boxlayout import BoxLayout  # noqa: E402
from kivy.uix.gridlayout import GridLayout  # noqa: E402
from kivy.uix.widget import Widget  # noqa: E402

from .widgets import FitText, Panel, Text, WarningIcon  # noqa: E402


class _Tile(Panel):
    """One service's queue: how many wait, the service's name and about how long."""

    def __init__(self, u: float, pal, **kw):
        super().__init__(orientation="horizontal", padding=(12 * u, 4 * u), spacing=12 * u,
                         frame=list(pal.muted_text), frame_width=max(1.5, 2 * u), **kw)
        self.count = FitText(bold=True, max_font=60 * u, color=pal.text, size_hint_x=None, width=92 * u,
                             halign="center")
        right = BoxLayout(orientation="vertical")
        self.name = FitText(bold=True, max_font=32 * u, color=pal.text, size_hint_y=0.6, lines=2)
        self.wait = FitText(max_font=30 * u, color=pal.muted_text, size_hint_y=0.4)
        right.add_widget(self.name)
        right.add_widget(self.wait)
        self.add_widget(self.count)
        self.add_widget(right)


class DisplayScreen(Widget):
    def __init__(self, app: DisplayApp, **kw):
        super().__init__(**kw)
        from kivy.core.window import Window

        self.app = app
        self.pal = pal = app.palette
        s = app.settings
        self.portrait = s.portrait
        w, h = Window.size
        self.u = u = (min(w, h) / 1080.0) if min(w, h) > 0 else 1.0
        self.margin = 22 * u + s.shift_px
        self.shift = (0, 0)
        # No background rectangle: the window's clear colour is the background (one full-screen
        # layer less to fill on every frame, which counts with software GL).

        self.content = BoxLayout(orientation="vertical", spacing=18 * u)
        self.add_widget(self.content)
        self.pp_id = "display"

        # top bar: the site's name (and zone), the time
        top = BoxLayout(orientation="horizontal", size_hint_y=None, height=(130 if self.portrait else 96) * u)
        names = BoxLayout(orientation="vertical")
        self.site_name = FitText(bold=True, max_font=(40 if self.portrait else 44) * u, color=pal.text)
        self.zone_name = FitText(max_font=32 * u, color=pal.muted_text, size_hint_y=None, height=0, opacity=0)
        names.add_widget(self.site_name)
        names.add_widget(self.zone_name)
        self.clock = Text(bold=True, font_size=88 * u, color=pal.text, halign="right", size_hint_x=None,
                          width=300 * u)
        self.clock.pp_id = "clock"
        top.add_widget(names)
        top.add_widget(self.clock)
        self.content.add_widget(top)

        main = BoxLayout(orientation="vertical" if self.portrait else "horizontal", spacing=22 * u)
        if self.portrait:
            main.size_hint_y = None
            main.height = 1300 * u
        # the newest call
        self.call_panel = Panel(orientation="vertical", padding=(30 * u, 22 * u), spacing=0,
                                size_hint=(1, None) if self.portrait else (0.57, 1),
                                height=660 * u, frame_width=3 * u)
        self.call_panel.pp_id = "call_panel"
        self.call_head = FitText(bold=True, max_font=54 * u, size_hint_y=None, height=70 * u, halign="center")
        self.call_number = FitText(bold=True, max_font=300 * u, halign="center")
        self.call_number.pp_id = "call_number"
        self.call_counter = FitText(bold=True, max_font=120 * u, size_hint_y=None, height=140 * u, halign="center")
        self.call_counter.pp_id = "call_counter"
        self.call_others = FitText(max_font=52 * u, size_hint_y=None, height=66 * u, halign="center")
        for wdg in (self.call_head, self.call_number, self.call_counter, self.call_others):
            self.call_panel.add_widget(wdg)
        main.add_widget(self.call_panel)

        # the last calls
        self.hist_panel = Panel(orientation="vertical", padding=(30 * u, 18 * u), spacing=0,
                                frame=list(pal.muted_text), frame_width=2 * u,
                                size_hint=(1, 1) if self.portrait else (0.43, 1))
        self.hist_head = Text(bold=True, font_size=46 * u, color=pal.muted_text, size_hint_y=None, height=66 * u)
        self.hist_panel.add_widget(self.hist_head)
        self.hist_empty = FitText(max_font=52 * u, color=pal.muted_text, size_hint_y=None, height=0, opacity=0)
        self.hist_panel.add_widget(self.hist_empty)
        self.rows = []
        for i in range(s.history):
            row = BoxLayout(orientation="horizontal", spacing=20 * u)
            num = FitText(bold=True, max_font=72 * u, color=pal.text, size_hint_x=0.4)
            cnt = FitText(bold=True, max_font=62 * u, color=pal.text, size_hint_x=0.6)
            num.pp_id, cnt.pp_id = f"history_number_{i}", f"history_counter_{i}"
            row.add_widget(num)
            row.add_widget(cnt)
            self.rows.append((row, num, cnt))
            self.hist_panel.add_widget(row)
        main.add_widget(self.hist_panel)
        self.content.add_widget(main)

        # waiting per service
        self.svc_panel = Panel(orientation="vertical", padding=(24 * u, 12 * u), spacing=10 * u,
                               frame=list(pal.muted_text), frame_width=2 * u,
                               size_hint_y=1 if self.portrait else None, height=300 * u)
        self.svc_head = Text(bold=True, font_size=40 * u, color=pal.muted_text, size_hint_y=None, height=50 * u)
        self.svc_panel.add_widget(self.svc_head)
        cols = 2 if self.portrait else 3
        self.max_tiles = cols * (3 if self.portrait else 2)
        self.grid = GridLayout(cols=cols, spacing=12 * u, row_force_default=True, row_default_height=96 * u,
                               size_hint_y=None)
        self.grid.bind(minimum_height=self.grid.setter("height"))
        self.tiles = [_Tile(u, pal) for _ in range(self.max_tiles)]
        self.svc_empty = Text(font_size=38 * u, color=pal.muted_text, halign="center")
        self.svc_panel.add_widget(self.grid)
        self.svc_filler = Widget()
        self.svc_panel.add_widget(self.svc_filler)
        self.content.add_widget(self.svc_panel)
        self._tiles_shown = -1

        # the stale notice: discreet, a shape and words
        self.notice = Panel(orientation="horizontal", padding=(18 * u, 6 * u), spacing=16 * u,
                            bg=list(pal.warning), frame=list(pal.warning_text), frame_width=2 * u,
                            size_hint_y=None, height=0, opacity=0)
        self.notice.pp_id = "stale_notice"
        icon = WarningIcon(size_hint_x=None, width=54 * u, color=list(pal.warning_text), mark=list(pal.warning))
        self.notice_text = Text(font_size=30 * u, color=pal.warning_text, max_lines=2, wrap=True)
        self.notice.add_widget(icon)
        self.notice.add_widget(self.notice_text)
        self.content.add_widget(self.notice)
        self.notice_visible = False

        self.bind(pos=self._layout, size=self._layout)

    # --- geometry -------------------------------------------------------------------------

    def _layout(self, *_):
        m = self.margin
        self.content.size = (self.width - 2 * m, self.height - 2 * m)
        self.content.pos = (self.x + m + self.shift[0], self.y + m + self.shift[1])

    def set_shift(self, shift):
        self.shift = shift
        self._layout()

    def set_clock(self, text: str) -> None:
        if self.clock.text != text:
            self.clock.text = text

    # --- content --------------------------------------------------------------------------

    def show(self, m: DisplayModel, now: float, t: Translator) -> None:
        site, pal, s = self.app.site, self.pal, self.app.settings
        lang = t.lang
        self.site_name.text = site.label(lang)
        zone = []
        if s.appointments_only:
            zone.append(t("Appointment customers"))
        elif s.walk_ins_only:
            zone.append(t("Walk-in customers"))
        if s.services:
            zone.append(", ".join(site.services[x].label(lang) for x in s.services if x in site.services))
        self.zone_name.text = " · ".join(zone)
        self.zone_name.height = (40 * self.u) if zone else 0
        self.zone_name.opacity = 1 if zone else 0

        big = m.big_call(now)
        p = self.call_panel
        if big is not None:
            p.bg, p.frame, p.frame_width, p.frame_inset = list(pal.accent), list(pal.accent_text), 6 * self.u, 12 * self.u
            fg = pal.accent_text
            self.call_head.text = "\u25b6 " + t("Now calling") + " \u25c0"
            self.call_number.text = big.number
            primary = site.default_language
            self.call_counter.text = "\u2192 " + counter_label(site, big.counter, primary)
            others = [n for n in counter_names(site, big.counter, s.languages)
                      if n != counter_label(site, big.counter, primary)]
            self.call_others.text = " / ".join(others)
            self.highlighted = True
        elif not m.open:
            # Closed by the opening hours: said in the big area, with when it opens, in full
            # contrast (a call made before opening still takes the area, above).
            p.bg, p.frame, p.frame_width, p.frame_inset = [0, 0, 0, 0], list(pal.text), 3 * self.u, 0
            fg = pal.text
            self.call_head.text = t("The service point is closed")
            self.call_number.text = ""
            self.call_counter.text = opening_text(site, t, m.opens_ms, m.hub_ms)
            self.call_others.text = ""
            self.highlighted = False
        else:
            p.bg, p.frame, p.frame_width, p.frame_inset = [0, 0, 0, 0], list(pal.muted_text), 2 * self.u, 0
            fg = pal.muted_text
            self.call_head.text = t("Now calling")
            self.call_number.text = ""
            self.call_counter.text = t("Your number will be shown here")
            self.call_others.text = ""
            self.highlighted = False
        for wdg in (self.call_head, self.call_number, self.call_counter, self.call_others):
            wdg.color = fg
        self.call_counter.max_font = (130 if big is not None else 80 if not m.open else 60) * self.u

        self.hist_head.text = t("Last calls")
        recent = m.recent(now)
        for i, (row, num, cnt) in enumerate(self.rows):
            if i < len(recent):
                c = recent[i]
                num.text = c.number
                cnt.text = "\u2192 " + counter_label(site, c.counter, lang)
            else:
                num.text = cnt.text = ""
        self.hist_empty.text = "" if recent else t("No calls yet")
        self.hist_empty.height = 0 if recent else 90 * self.u
        self.hist_empty.opacity = 0 if recent else 1

        self.svc_head.text = t("Waiting now")
        rows = m.visible_services()[: self.max_tiles]
        if len(rows) != self._tiles_shown:
            self._tiles_shown = len(rows)
            self.grid.clear_widgets()
            if self.svc_empty.parent is not None:
                self.svc_panel.remove_widget(self.svc_empty)
            if rows:
                for tile in self.tiles[: len(rows)]:
                    self.grid.add_widget(tile)
            else:
                self.svc_panel.add_widget(self.svc_empty)
            self.svc_panel.remove_widget(self.svc_filler)
            self.svc_panel.add_widget(self.svc_filler)
        for tile, r in zip(self.tiles, rows):
            self._fill_tile(tile, r, t)
        # Closed: no "nobody is waiting" over empty queues, but the closed service point.
        self.svc_empty.text = t("Nobody is waiting right now.") if m.open else t("The service point is closed")

        stale = m.stale(now)
        self.notice_text.text = t("Queue information is not updating right now. The latest calls are still shown.")
        if stale != self.notice_visible:
            self.notice_visible = stale
            self.notice.opacity = 1 if stale else 0
            self.notice.height = 70 * self.u if stale else 0

    def _fill_tile(self, tile: _Tile, r: ServiceRow, t: Translator) -> None:
        svc = self.app.site.services[r.id]
        tile.name.text = svc.label(t.lang)
        tile.count.text = str(r.waiting)
        tile.wait.text = service_wait_text(r, t)
