"""The kiosk app: Kivy window, touches, the barcode reader, idle reset, speech.

The app only draws `kiosk.flow.Flow` and forwards input to it, and hands it the hub's retained
live state (opening hours, services closed for the day). Nothing here waits: the hub is
asked on the hub link's thread, tickets are printed on the printer worker's thread, speech is
rendered and played on the speaker's thread; their answers come back through Kivy's clock.

Kivy is set up by the one start-up path (uikit.launch, from `palvelupiste kiosk`): exactly one
touch input provider, Escape never closes the app, the kiosk's window size (default portrait
1080x1920), full screen on the device. Time comes from `clock` (default time.monotonic): the idle
reset, the settle time and the barcode reader's gaps all read it, so a test can move it forward.

Five taps in the top-left corner within three seconds open the technician screen (device, site,
version, addresses, brokers, the doctor's result as told by `tech_info`, handed in by the
command): kiosk/technician.py, uikit/techoverlay.py.
"""
from __future__ import annotations

import gc
import logging
import math
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from core.config import Device, Site
from core.events import now_ms
from uikit.appsupport import close_all
from uikit.techoverlay import InfoSource

from . import flow as F
from . import keys
from . import texts as T
from .settings import KioskSettings

log = logging.getLogger(__name__)

#: Keystrokes further apart than this start a new code: a reader types a whole code in
#: milliseconds, so a stray key long ago is not glued to the next scan.
SCAN_GAP_S = 1.0
MAX_SCAN_LEN = 256
TICK_S = 0.25
#: The hub link must be down this long before the start screen says so.
HUB_DOWN_NOTICE_S = 5.0


def _kivy_app_base():
    from kivy.app import App

    return App


class KioskApp(_kivy_app_base()):
    title = "palvelupiste"

    def __init__(self, site: Site, device_id: str, settings: KioskSettings, hub: Any, printer: Any = None, *,
                 data_dir: str | Path, speech_player: list[str] | None | str = "auto",
                 settle_s: float = F.SETTLE_S, fullscreen: bool = False, device_config: str | Path | None = None,
                 device: Any = None, clock: Callable[[], float] = time.monotonic,
                 tech_info: InfoSource | None = None, **kw: Any) -> None:
        super().__init__(**kw)
        self.site = site
        self.device_id = device_id
        self.settings = settings
        self.hub = hub
        self.printer = printer
        self.data_dir = Path(data_dir)
        self.speech_player = speech_player
        self.fullscreen = fullscreen
        self.device_config = str(device_config) if device_config else None  # for the technician screen
        self.device = device
        self.clock = clock
        self.tech_info = tech_info  # what the technician screen shows beyond what the app knows
        self.tech = None  # the technician screen (kiosk.technician), made in build()
        self.flow = F.Flow(site, settings, device_id, settle_s=settle_s, now=clock())
        self.screen_widget = None
        self.spoken: list[tuple[str, str]] = []  # (voice language, text) queued for speech
        self.speech_done: list[tuple[str, int]] = []  # (screen, bytes of audio) rendered
        self.renders = 0
        self._speaker = None
        self._rendered_version = -1
        self._spoken_entered = 0
        self._spoken_warnings = 0
        self._spoken_status: tuple | None = None
        self._overlay_secs: int | None = None
        self._scan_buf = ""
        self._scan_last = 0.0
        self._focus: str | None = None  # the pp_id the keys reached (kiosk.keys)
        self._focus_group = None
        self._key_help_due = False
        self.volume = settings.speech_volume
        if speech_player == "auto":
            from uikit.speech import speech_output

            try:
                cards = Path("/proc/asound/cards").read_text()
            except OSError:
                cards = ""
            self.speech_player, self.volume = speech_output(settings.headphones, cards, settings.speech_volume,
                                                            settings.headphone_volume)
        self._hub_down_since: float | None = None
        self._render_trigger = None
        self._rendered_frame = 0
        self._rendered_key: tuple | None = None
        self._rendered_screen: str | None = None
        self._fast_printed: set[str] = set()
        self._pending_state: dict[str, Any] | None = None
        self._state_scheduled = False
        self._state_lock = threading.Lock()

    # --- time -------------------------------------------------------------------------------

    def now(self) -> float:
        return self.clock()

    @staticmethod
    def now_ms() -> int:
        return now_ms()

    @property
    def screen_name(self) -> str:
        return self.flow.screen

    # --- Kivy life cycle --------------------------------------------------------------------

    def build(self):
        from kivy.clock import Clock
        from kivy.core.window import Window
        from kivy.uix.floatlayout import FloatLayout

        if not self.fullscreen and tuple(Window.size) != tuple(self.settings.window):
            Window.size = self.settings.window  # a window made without the kiosk's Kivy settings (a test)

        app = self

        class KioskRoot(FloatLayout):
            def on_touch_down(self, touch):
                app.touch()
                return super().on_touch_down(touch)

        self.root_box = KioskRoot()
        self._render_trigger = Clock.create_trigger(self._render, 0)
        Window.bind(on_key_down=self._on_key_down, on_textinput=self._on_textinput)
        self._render()
        Clock.schedule_interval(self._tick, TICK_S)
        from . import technician

        # Five taps in the top-left corner: the technician screen, above everything (see there).
        self.tech = technician.install(self)
        return self.root_box

    def on_start(self) -> None:
        if self.printer is not None:
            self.printer.on_printed = self._printed_from_thread
            self.printer.on_status = self._status_from_thread
            self.printer.start()
        on_state = getattr(self.hub, "on_state", None)
        if on_state is not None:
            on_state(self._state_from_thread)  # the hub's retained live state: opening hours
        self.hub.start()

    def on_stop(self) -> None:
        close_all("kiosk", getattr(self.hub, "close", None), getattr(self.printer, "stop", None),
                  getattr(self._speaker, "close", None))

    # --- input ------------------------------------------------------------------------------

    def touch(self) -> None:
        """Any touch anywhere."""
        before = self.flow.version
        self.flow.touch(self.now())
        if self.flow.version != before:
            self._schedule_render()

    def act(self, name: str, *args: Any) -> None:
        """A button's action: call the flow, then carry out what it asks."""
        now = self.now()
        getattr(self.flow, name)(*args, now)
        self._after_input()

    def _after_input(self) -> None:
        self._run_effects()
        flow = self.flow
        if flow.busy is not None and self.screen_widget is not None:
            # Disable what would send again at once, not only at the next render.
            for w in self.screen_widget.walk(restrict=True):
                if getattr(w, "sends", False):
                    w.disabled = True
            if flow.visual_key() == self._rendered_key:
                # Only "a request is in flight" changed: say so on the pressed button and do not
                # build the screen again (that would hold the interpreter while the answer comes).
                self._show_busy()
                self._rendered_version = flow.version
        if flow.version != self._rendered_version:
            self._schedule_render()

    def _show_busy(self) -> None:
        _ = self.translator().gettext
        words = {"get_number": _("Getting your number…"), "check_in": _("Checking…"), "retry": _("Trying again…")}
        for w in self.screen_widget.walk(restrict=True):
            pid = getattr(w, "pp_id", "")
            if pid in words and hasattr(w, "set_text"):
                w.set_text(words[pid])

    def _on_textinput(self, _window, text: str) -> None:
        now = self.now()
        if now - self._scan_last > SCAN_GAP_S:
            self._scan_buf = ""
        self._scan_last = now
        self._scan_buf = (self._scan_buf + text)[-MAX_SCAN_LEN:]

    def _on_key_down(self, _window, key: int, _scancode: int, codepoint: Any, modifiers: Any) -> bool:
        typing = self.flow.screen == F.APPOINTMENT
        if key in (keys.ENTER, keys.KP_ENTER):
            # A barcode reader types fast and ends with Enter: that is a scanned code, on any
            # screen (on the code screen its characters went into the code too; a scan replaces
            # it). A person at a keypad is slower: their Enter checks in what they typed.
            code, self._scan_buf = self._scan_buf, ""
            if code.strip() and self.now() - self._scan_last <= SCAN_GAP_S and (not typing or len(code) > 1):
                self.act("scanned", code)
                return True
            if typing and self._focus is None and self.flow.can_check_in():
                self.act("check_in")
                return True
        if key == keys.BACKSPACE:
            self._scan_buf = ""  # a reader never corrects itself: this is a person typing
        cmd = keys.key_command(key, codepoint if isinstance(codepoint, str) else None, tuple(modifiers or ()), typing)
        if cmd is not None:
            self.on_key_command(cmd)
        return True  # Escape must never close the kiosk; no key goes further

    def on_key_command(self, cmd: keys.Command) -> None:
        """A kiosk key (kiosk.keys): move, choose, go back, repeat, louder or quieter, or type."""
        self.touch()
        if cmd.name in keys.NAVIGATION and not self.flow.prefs.speak:
            # The way in without sight: the first key turns speech on and says how the keys work;
            # the screen is then read out as on any screen change.
            self._key_help_due = True  # said before the screen, when it is read out (_render)
            self.act("toggle", "speak")
            return
        if cmd.name == keys.TYPE:
            self._set_focus(None)
            self.act("key", cmd.char)
        elif cmd.name == keys.DELETE:
            self.act("delete")
        elif cmd.name in (keys.NEXT, keys.PREV):
            self._hush()
            order = [w.pp_id for w in self._key_targets()]
            self._set_focus(keys.move(order, self._focus, 1 if cmd.name == keys.NEXT else -1))
            self._speak_focus()
        elif cmd.name == keys.SELECT:
            w = self._focused()
            if w is None:
                self.on_key_command(keys.Command(keys.NEXT))
            elif not w.disabled and w.on_tap is not None:
                w.on_tap()
            else:
                self._speak_focus()
        elif cmd.name == keys.BACK:
            for pid in ("back", "start_over", "done", "try_again"):
                w = self._widget(pid)
                if w is not None and not w.disabled and w.on_tap is not None:
                    w.on_tap()
                    break
        elif cmd.name == keys.REPEAT:
            self._hush()
            self.repeat()
        elif cmd.name in (keys.LOUDER, keys.QUIETER):
            from uikit.speech import VOLUME_MAX, VOLUME_MIN

            step = 20 if cmd.name == keys.LOUDER else -20
            self.volume = max(VOLUME_MIN, min(VOLUME_MAX, self.volume + step))
            if self._speaker is not None:
                self._speaker.volume = self.volume
            self.repeat()  # heard at the new volume

    def _widget(self, pp_id: str):
        if self.screen_widget is None:
            return None
        return next((w for w in self.screen_widget.walk(restrict=True) if getattr(w, "pp_id", "") == pp_id), None)

    def _key_targets(self) -> list:
        """The screen's buttons in reading order (the language's direction)."""
        from core.i18n import is_rtl

        from .widgets import Btn

        if self.screen_widget is None:
            return []
        found = {w.pp_id: w for w in self.screen_widget.walk(restrict=True)
                 if isinstance(w, Btn) and w.pp_id and w.width > 0}
        order = keys.reading_order([(pid, w.x, w.top, w.height) for pid, w in found.items()],
                                   is_rtl(self.flow.lang))
        return [found[pid] for pid in order]

    def _focused(self):
        return self._widget(self._focus) if self._focus else None

    def _set_focus(self, pp_id: str | None) -> None:
        self._focus = pp_id
        self._draw_focus()

    def _draw_focus(self, *_a) -> None:
        """A thick outline around the focused button, in the accent colour: sighted keyboard
        users see where they are (WCAG 2.4.7)."""
        from kivy.graphics import Color, InstructionGroup, Line

        if self._focus_group is not None:
            self.root_box.canvas.after.remove(self._focus_group)
            self._focus_group = None
        w = self._focused()
        if w is None:
            return
        g = InstructionGroup()
        g.add(Color(*self.look().p.accent))
        g.add(Line(rectangle=(w.x - 6, w.y - 6, w.width + 12, w.height + 12), width=4))
        self.root_box.canvas.after.add(g)
        self._focus_group = g

    def _speak_focus(self) -> None:
        w = self._focused()
        if w is None:
            return
        text = T.describe_control(self.translator(), w.text, getattr(w, "sub_text", ""),
                                  getattr(w, "style", "") == "selected", not w.disabled and w.on_tap is not None)
        self.speak(text, tag="focus")

    def _announce(self, now: tuple, before: tuple | None, tr) -> None:
        flow = self.flow
        if before is None or before[0] != now[0]:
            return
        said = []
        if now[1] != before[1] and flow.screen == F.TICKET and now[1] in ("printed", "failed"):
            said.append(T.print_text(tr, now[1]))
        if now[2] != before[2] and flow.screen == F.HELP and now[2] in ("sent", "failed"):
            said.append(T.screen_text(flow, tr).speech())
        if now[3] is False and before[3] is not False and flow.printer_reason != "not_configured":
            said.append(T.printer_notice(tr))
        if now[4] is False and before[4] is not False:
            said.append(T.hub_notice(tr))
        for text in said:
            self.speak(text, tag="status")

    def _hush(self) -> None:
        if self._speaker is not None:
            self._speaker.interrupt()

    def repeat(self) -> None:
        """Say again what was said last (the screen when nothing was)."""
        if self.spoken:
            self._say(*self.spoken[-1], tag="repeat")
        else:
            self.speak(T.speech_text(self.flow, self.translator()))

    # --- effects ----------------------------------------------------------------------------

    def _run_effects(self) -> None:
        for e in self.flow.drain():
            if isinstance(e, F.Send):
                self.hub.send(e.req, e.payload,
                              lambda req, reply, payload=e.payload: self._reply_from_thread(req, reply, payload))
            elif isinstance(e, F.Print):
                if not e.reprint and e.ticket.ticket in self._fast_printed:
                    self._fast_printed.discard(e.ticket.ticket)  # already sent to the printer
                elif self.printer is not None:
                    self.printer.submit(e.ticket, e.reprint)
                else:
                    self.flow.on_printed(e.ticket.ticket, False, "not_configured")

    def _reply_from_thread(self, req: int, reply: dict[str, Any], payload: dict[str, Any] | None = None) -> None:
        """On the hub link's thread. A new ticket goes to the printer from here, at once: the
        UI thread may be in the middle of drawing a frame (tens of ms with software GL)."""
        from kivy.clock import Clock

        if self.printer is not None and payload and payload.get("cmd") in ("take", "checkin"):
            t = F.ticket_view(reply, str(payload.get("lang", self.flow.default_lang)),
                              F.needs_from(payload.get("needs")), self.settings, self.site.id)
            if t is not None:
                self._fast_printed.add(t.ticket)
                self.printer.submit(t)
        Clock.schedule_once(lambda _dt: self._on_reply(req, reply), 0)

    def _on_reply(self, req: int, reply: dict[str, Any]) -> None:
        self.flow.on_reply(req, reply, self.now())
        self._after_input()

    def _state_from_thread(self, state: dict[str, Any]) -> None:
        """On the hub link's thread: the hub's live state (bus.live shape). Only the newest one
        waiting is applied (a backlog of heartbeats is not drawn one by one)."""
        from kivy.clock import Clock

        with self._state_lock:
            self._pending_state = state
            if self._state_scheduled:
                return
            self._state_scheduled = True
        Clock.schedule_once(self._apply_state, 0)

    def _apply_state(self, _dt: float = 0) -> None:
        with self._state_lock:
            state, self._pending_state, self._state_scheduled = self._pending_state, None, False
        if state is not None:
            self.flow.on_live_state(state, self.now())
            self._after_input()

    def _printed_from_thread(self, ticket: str, ok: bool, reason: str | None) -> None:
        from kivy.clock import Clock

        def apply(_dt):
            self.flow.on_printed(ticket, ok, reason)
            self._after_input()
        Clock.schedule_once(apply, 0)

    def _status_from_thread(self, can_print: bool, status: str) -> None:
        from kivy.clock import Clock

        def apply(_dt):
            self.flow.on_printer_state(can_print, None if can_print else status)
            self._after_input()
        Clock.schedule_once(apply, 0)

    # --- clock ------------------------------------------------------------------------------

    def _tick(self, _dt: float) -> None:
        now = self.now()
        connected = bool(getattr(self.hub, "connected", True))
        if connected:
            self._hub_down_since = None
            self.flow.on_hub_state(True)
        else:
            self._hub_down_since = self._hub_down_since or now
            if now - self._hub_down_since >= HUB_DOWN_NOTICE_S:
                self.flow.on_hub_state(False)
        self.flow.tick(now)
        if self.flow.warning:
            secs = max(1, math.ceil(self.flow.idle_remaining(now)))
            if secs != self._overlay_secs:
                self._schedule_render()
        if self.flow.version != self._rendered_version:
            self._schedule_render()
        self._run_effects()

    # --- drawing ----------------------------------------------------------------------------

    def _schedule_render(self) -> None:
        if self._render_trigger is not None:
            self._render_trigger()

    def look(self):
        from kivy.core.window import Window

        from .widgets import Look

        p = self.flow.prefs
        return Look(p.large_text, p.high_contrast, p.low_layout, tuple(Window.size))

    def translator(self):
        return T.tr_for(self.flow.lang, self.site)

    def _render(self, *_a) -> None:
        from kivy.core.window import Window

        from .screens import Screens

        flow = self.flow
        look = self.look()
        tr = self.translator()
        Window.clearcolor = look.p.background
        screens = Screens(self)
        self.root_box.clear_widgets()
        if self.screen_widget is not None and flow.screen != self._rendered_screen:
            # The old screen's widgets hold each other in cycles: collect them soon, so their
            # text textures go instead of piling up until the collector runs by itself. After
            # the new screen is drawn, and within the settle time in which taps are ignored.
            from kivy.clock import Clock

            Clock.schedule_once(lambda _dt: gc.collect(), 0.05)
        if flow.screen != self._rendered_screen:
            self._focus = None  # a new screen: the keys start from its first control
        self._rendered_screen = flow.screen
        self.screen_widget = screens.build(flow, look, tr)
        self.root_box.add_widget(self.screen_widget)
        from kivy.clock import Clock

        Clock.schedule_once(self._draw_focus, 0)  # the same control, in the new widgets, once laid out
        self._overlay_secs = None
        if flow.warning:
            secs = max(1, math.ceil(flow.idle_remaining(self.now())))
            self._overlay_secs = secs
            self.root_box.add_widget(screens.idle_overlay(flow, look, tr, secs))
        self._rendered_version = flow.version
        self._rendered_key = flow.visual_key()
        self.renders += 1
        from kivy.clock import Clock

        self._rendered_frame = Clock.frames
        status = (flow.screen, flow.c.print_status, flow.c.help_state, flow.printer_ok, flow.hub_ok)
        if flow.entered != self._spoken_entered:
            self._spoken_entered = flow.entered
            if flow.prefs.speak:
                self._hush()
                if self._key_help_due:
                    self._key_help_due = False
                    self.speak(T.key_help(tr))
                # Every element in order, as built; the ticket's own words spell its number out.
                self.speak(T.speech_text(flow, tr) if flow.screen == F.TICKET else ". ".join(screens.reading))
        elif flow.prefs.speak and status != self._spoken_status:
            # A change on the same screen (the ticket printed or not, help sent or not, the
            # printer or the hub gone or back) is said as it is shown.
            self._announce(status, self._spoken_status, tr)
        self._spoken_status = status
        if flow.warning and flow.warnings != self._spoken_warnings:
            self._spoken_warnings = flow.warnings
            if flow.prefs.speak:
                self.speak_warning(self._overlay_secs or 1)

    # --- speech -----------------------------------------------------------------------------

    def speak(self, text: str, tag: str | None = None) -> None:
        """Queue `text` for speech in the customer's language. Where espeak-ng has no voice for
        it the screen is read in English, and says first, in English, that it does so (never
        another language without saying so; the screen says it in the customer's language).
        Never blocks; a failing speaker never stops the screen."""
        from uikit.speech import has_voice

        lang = self.flow.lang
        if not has_voice(lang):
            # The screen in English, said to be so; a single control's words cannot be (they
            # are in the customer's language), so for those only the notice.
            en = T.tr_for("en", self.site)
            lang, text = "en", T.no_voice_text(en) + ("" if tag else " " + T.speech_text(self.flow, en))
        self._say(lang, text, tag=tag or self.flow.screen)

    def _say(self, lang: str, text: str, tag: str) -> None:
        from uikit.speech import Speaker

        try:
            if self._speaker is None:
                self._speaker = Speaker(self.data_dir / "speech", player=self.speech_player,
                                        speed=self.settings.speech_speed, on_done=self._speech_done)
                self._speaker.volume = self.volume
            self._speaker.say([(lang, text)], tag=tag)
            self.spoken.append((lang, text))
        except Exception:
            log.exception("kiosk: speech failed")

    def speak_warning(self, seconds: int) -> None:
        """The "more time?" prompt read aloud, in the customer's language. A language without a
        voice is not read in another one: the prompt says so on screen (screens.idle_overlay)."""
        from uikit.speech import Speaker, has_voice

        lang = self.flow.lang
        if not has_voice(lang):
            log.info("kiosk: no voice for %s: the prompt says so on screen", lang)
            return
        text = T.idle_speech(self.translator(), seconds)
        try:
            if self._speaker is None:
                self._speaker = Speaker(self.data_dir / "speech", player=self.speech_player,
                                        speed=self.settings.speech_speed, on_done=self._speech_done)
            self._speaker.say([(lang, text)], tag="idle_warning")
            self.spoken.append((lang, text))
        except Exception:
            log.exception("kiosk: speech failed")

    def _speech_done(self, utterance: Any, files: list[Path]) -> None:
        """On the speaker's thread: remember what was rendered (the files go away after)."""
        size = sum(f.stat().st_size for f in files if f.exists())
        self.speech_done.append((utterance.tag, size))

    # --- inspection (tests, the bench) ------------------------------------------------------

    def settled(self) -> bool:
        """The flow's state is drawn and laid out (layouts settle in the frames after a build)."""
        from kivy.clock import Clock

        return (self.screen_widget is not None and self._rendered_version == self.flow.version
                and Clock.frames >= self._rendered_frame + 2)

    def all_texts(self) -> list[str]:
        """Every text of every widget in the window: what a person could read off it."""
        from kivy.core.window import Window

        out = []
        for root in Window.children:
            for w in root.walk(restrict=False):
                t = getattr(w, "text", None)
                if isinstance(t, str) and t:
                    out.append(t)
                d = getattr(w, "data", None)
                if isinstance(d, str) and d:
                    out.append(d)
        return out


def build(device: Device, *, fullscreen: bool = False, local: bool = False, device_config: str | Path | None = None,
          **app_kw: Any) -> KioskApp:
    """The kiosk app for a device configuration: site, [kiosk], [printer], the hub link.
    `local`: no hub, numbers from a queue in this process (trying the kiosk out on a desk)."""
    from core.config import load_site

    from .hub_link import LocalHubLink, link_for_device
    from .printing import PrinterWorker, printer_config
    from .settings import kiosk_settings

    site = load_site(device.site_config)
    settings = kiosk_settings(device)
    pconf = printer_config(device.section("printer"), f"{device.id}: [printer]")
    if local:
        hub = LocalHubLink(site, str(Path(device.data_dir) / "local-hub.sqlite"), timeout_s=settings.hub_timeout_s)
    else:
        hub = link_for_device(device, site, settings.hub_timeout_s)
    printer = PrinterWorker(pconf, site, settings, store_path=device.store, device_id=device.id,
                            data_dir=device.data_dir)
    return KioskApp(site, device.id, settings, hub, printer, data_dir=device.data_dir, fullscreen=fullscreen,
                    device_config=device_config, device=device, **app_kw)


def build_from_device(device_config: str | Path, **kw: Any) -> KioskApp:
    """`build` for a device configuration file (tests and the bench build the kiosk this way)."""
    from core.config import load_device

    return build(load_device(device_config), device_config=device_config, **kw)
