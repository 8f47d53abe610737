"""The technician screen of the kiosk and the display: who this device is, where it can be
reached, and the doctor's verdict — opened by the hidden corner gesture (uikit.techgesture).

    access = TechAccess(known=..., texts=..., gather=...).install()   # in the app's build()

`TechAccess.install()` watches the window's touch-downs (before any widget sees them). Five taps
in the top-left corner within three seconds open a full-screen overlay on top of the app:
device id, site, software version, host name, network addresses, configuration file, the
brokers, then the doctor's checks (OK / WARN / FAIL / SKIP, the detail and the fix), with a large
"Close" button. It closes by itself 60 s after it was opened or last touched. The app below goes
on as before (the kiosk's idle reset still runs); while the overlay is open it takes every touch,
and for half a second after "Close" touches are swallowed, so a double tap on "Close" cannot
press the button underneath.

Nothing slow runs on the UI thread: `gather` runs in a worker thread, first without the doctor
(version, addresses: at once), then with it; "Running the self-test…" is shown until that arrives.
Results come back through Kivy's clock. What it shows comes from a function handed in by the
command that started the app (`InfoSource`: appliance.techinfo with the doctor's broker probes; no
app and nothing here imports appliance/). Without one the overlay shows what the app knows itself:
device, site, brokers, version and host, and says that the self-test is not available.

The words come from the app (`texts()` returns a `TechTexts` made with the app's own gettext
domain, so each app's catalog holds them). The doctor's check names, details and hints are the
doctor's own (English, as `palvelupiste doctor` prints them). No secret is shown: brokers are
shown by URL and user name only, and `redact` removes anything password-like from every text.

The pure part (texts, rows, redaction, gathering) imports no Kivy; the widget code imports Kivy
inside functions.
"""
from __future__ import annotations

import functools
import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from .techgesture import CornerTaps, corner_side

log = logging.getLogger(__name__)

CLOSE_S = 60.0
QUIET_S = 0.5
STATUS_ORDER = ("FAIL", "WARN", "OK", "SKIP")


# --- words ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class TechTexts:
    """The overlay's words. The defaults are the English msgids; each app builds one with its
    own gettext domain (kiosk/technician.py, display/technician.py)."""
    title: str = "Technician information"
    device: str = "Device"
    site: str = "Site"
    version: str = "Software version"
    host: str = "Host name"
    addresses: str = "Network addresses"
    no_addresses: str = "none (no network)"
    config: str = "Configuration"
    site_broker: str = "Site broker"
    central_broker: str = "Central broker"
    not_configured: str = "not configured"
    broker_user: str = "{url} (user {user})"
    self_test: str = "Self-test"
    checking: str = "Running the self-test…"
    failed: str = "The self-test could not run: {error}"
    counts: str = "Failed: {failed} · Warnings: {warnings} · OK: {ok}"
    fix: str = "Fix: {hint}"
    checked_at: str = "Checked at {time}"
    close: str = "Close"
    closes_in: str = "Closes by itself in {seconds} s"

    def names(self) -> list[str]:
        return [f.name for f in fields(self)]


# --- what is shown -------------------------------------------------------------------------------

@dataclass(frozen=True)
class Known:
    """What the app knows without asking anything (read on the UI thread)."""
    device: str
    role: str
    site: str
    site_name: str = ""


@dataclass(frozen=True)
class BrokerView:
    which: str            # "site" | "central"
    url: str | None       # None: not configured
    user: str | None = None


@dataclass(frozen=True)
class Gathered:
    """What the worker found: the handed-in InfoSource's answer (or BasicInfo) and the brokers
    (URL and user only)."""
    info: Any                                  # appliance.techinfo.TechInfo, or BasicInfo
    brokers: tuple[BrokerView, ...] = ()
    doctor_ran: bool = False
    note: str | None = None                    # why the doctor did not run


_URL_SECRET = re.compile(r"(\b[a-z][a-z0-9+.-]*://[^/\s:@]*):[^@/\s]*@", re.I)
_KEY_SECRET = re.compile(r"(?i)\b(password|passwd|pwd|secret|api[_-]?key)(\s*[=:]\s*)(?![\s/])\S+")


def redact(text: str) -> str:
    """`text` without anything that looks like a secret: the password of a URL's user part
    (scheme://user:secret@host → scheme://user@host) and `password=…` / `secret: …` values."""
    text = _URL_SECRET.sub(r"\1@", text or "")
    return _KEY_SECRET.sub(r"\1\2***", text)


def broker_view(which: str, broker: Any) -> BrokerView:
    """A broker (core.config.Broker, a URL string or None) as shown: URL and user name only —
    never its password (the file's content is not read here)."""
    if broker is None:
        return BrokerView(which, None)
    if isinstance(broker, str):
        return BrokerView(which, redact(broker))
    return BrokerView(which, redact(str(getattr(broker, "url", "") or "")) or None,
                      getattr(broker, "username", None) or None)


#: What the app is handed (by the command that starts it, which may reach appliance/: the
#: version, host, addresses and the doctor): called in the worker thread as
#:     info(config_path, device=..., run_doctor=..., printer_status=..., timeout=...)
#: and returning an object with TechInfo's fields (appliance.techinfo.TechInfo).
InfoSource = Callable[..., Any]


@dataclass(frozen=True)
class BasicInfo:
    """What the overlay finds out by itself when no InfoSource was handed in: no self-test, no
    addresses (reading them is the appliance's job)."""
    version: str
    hostname: str
    config_path: str
    collected_at: float
    addresses: tuple | None = None
    doctor: dict | None = None
    doctor_result: str | None = None
    doctor_counts: dict = field(default_factory=dict)


def basic_info(config_path: str) -> BasicInfo:
    import socket

    from runtime.status import software_version

    return BasicInfo(software_version(), socket.gethostname(), config_path, time.time())


def gather(config_path: str | Path | None, *, info: InfoSource | None = None, device: Any = None,
           run_doctor: bool = True, printer_status: Callable[[], str] | None = None, timeout: float = 2.0,
           broker_fallback: Any = None) -> Gathered:
    """The worker's job (blocks for seconds with run_doctor): `info` and the brokers.
    `printer_status`: the app's own reading of its printer, so that the doctor does not open the
    port the app holds."""
    from core.config import ConfigError, load_device

    if device is None and config_path:
        try:
            device = load_device(config_path)
        except ConfigError:
            device = None
    note = None
    if run_doctor and not config_path:
        run_doctor, note = False, "the device configuration is not known to this app"
    if run_doctor and info is None:
        run_doctor, note = False, "this app was started without the self-test"
    path = str(config_path or "-")
    if info is None:
        found = basic_info(path)
    else:
        found = info(path, device=device, run_doctor=run_doctor, printer_status=printer_status, timeout=timeout)
    if device is not None:
        brokers = (broker_view("site", device.site_broker), broker_view("central", device.central_broker))
    else:
        brokers = (broker_view("site", broker_fallback), BrokerView("central", None))
    return Gathered(found, brokers, doctor_ran=run_doctor, note=note)


@dataclass(frozen=True)
class Row:
    kind: str              # "pair" | "heading" | "summary" | "check" | "note"
    ident: str             # pp_id of the row's widget
    key: str = ""          # pair: the label; check: the check's name
    value: str = ""        # pair: the value; check: the detail; summary / note: the words
    status: str = ""       # summary / check: OK | WARN | FAIL | SKIP
    hint: str = ""         # check: "Fix: …" (WARN and FAIL only)


def _slug(s: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", s.lower()).strip("_")


def about_rows(known: Known, got: Gathered | None, t: TechTexts) -> list[Row]:
    """Who and where: the device, the site, the software, the addresses, the brokers."""
    pending = "…"
    info = got.info if got is not None else None
    site = known.site + (f" — {known.site_name}" if known.site_name and known.site_name != known.site else "")
    rows = [Row("pair", "tech_device", t.device, f"{known.device} ({known.role})"),
            Row("pair", "tech_site", t.site, site)]
    if info is None:
        rows += [Row("pair", "tech_version", t.version, pending), Row("pair", "tech_host", t.host, pending),
                 Row("pair", "tech_addresses", t.addresses, pending)]
    else:
        rows += [Row("pair", "tech_version", t.version, info.version),
                 Row("pair", "tech_host", t.host, info.hostname)]
        if info.addresses is not None:  # None: not known to this app (no InfoSource handed in)
            addrs = [a.address if a.address.endswith(f"%{a.interface}") else f"{a.address} ({a.interface})"
                     for a in info.addresses]
            rows.append(Row("pair", "tech_addresses", t.addresses, "\n".join(addrs) if addrs else t.no_addresses))
        if info.config_path and info.config_path != "-":
            rows.append(Row("pair", "tech_config", t.config, info.config_path))
    labels = {"site": t.site_broker, "central": t.central_broker}
    for which in ("site", "central"):
        b = next((b for b in (got.brokers if got else ()) if b.which == which), None)
        if got is None:
            value = pending
        elif b is None or b.url is None:
            value = t.not_configured
        elif b.user:
            value = t.broker_user.format(url=b.url, user=b.user)
        else:
            value = b.url
        rows.append(Row("pair", f"tech_{which}_broker", labels[which], value))
    return [Row(r.kind, r.ident, r.key, redact(r.value)) for r in rows]


def doctor_rows(got: Gathered | None, t: TechTexts, *, error: str | None = None, checking: bool = True,
                clock: Callable[[float], str] | None = None) -> list[Row]:
    """The doctor's verdict: a summary, then every check (problems first), or "running…"."""
    rows = [Row("heading", "tech_doctor", value=t.self_test)]
    info = got.info if got is not None else None
    if error is not None:
        return rows + [Row("note", "tech_doctor_error", value=redact(t.failed.format(error=error)))]
    if info is None or info.doctor is None:
        if checking:
            return rows + [Row("note", "tech_checking", value=t.checking)]
        why = (got.note if got is not None else None) or "no result"
        return rows + [Row("note", "tech_doctor_error", value=redact(t.failed.format(error=why)))]
    c = info.doctor_counts
    rows.append(Row("summary", "tech_doctor_result", status=info.doctor_result or "",
                    value=t.counts.format(failed=c.get("FAIL", 0), warnings=c.get("WARN", 0), ok=c.get("OK", 0))))
    checks = list(info.doctor.get("checks", []))
    checks.sort(key=lambda r: STATUS_ORDER.index(r["status"]) if r["status"] in STATUS_ORDER else 0)
    for r in checks:
        hint = r.get("hint") or ""
        shown_hint = t.fix.format(hint=hint) if hint and r["status"] in ("FAIL", "WARN") else ""
        rows.append(Row("check", f"tech_check_{_slug(r['check'])}", redact(r["check"]), redact(r.get("detail", "")),
                        r["status"], redact(shown_hint)))
    when = (clock or (lambda ts: time.strftime("%H:%M:%S", time.localtime(ts))))(info.collected_at)
    rows.append(Row("note", "tech_checked_at", value=t.checked_at.format(time=when)))
    return rows


# --- the gesture and the overlay (Kivy) ----------------------------------------------------------

#: Text colours on the overlay's background (STANDARD palette #0E1A2B); all at least 7:1. The
#: status is always a word too (OK / WARN / FAIL / SKIP), never the colour alone.
STATUS_COLOURS = {"OK": "#8FE388", "WARN": "#FFD23F", "FAIL": "#FF8A80", "SKIP": "#D6E0EE"}
HINT_COLOUR = "#FFE08A"

_DEJAVU = ("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf")


def _fonts() -> dict[str, str]:
    """DejaVu Sans when installed (covers → … · and Cyrillic), else Kivy's default font."""
    regular, bold = _DEJAVU
    if Path(regular).exists() and Path(bold).exists():
        return {"font_name": regular}
    return {}


class TechAccess:
    """The corner gesture on the app's window and the overlay it opens (see the module docstring).

    known():          Known — device, role, site (UI thread; no I/O)
    texts():          TechTexts in the language to show (called when the overlay opens)
    gather(doctor):   Gathered — in a worker thread: first gather(False), then gather(True)
    """

    def __init__(self, *, known: Callable[[], Known], texts: Callable[[], TechTexts],
                 gather: Callable[[bool], Gathered], close_s: float = CLOSE_S, quiet_s: float = QUIET_S,
                 gesture: CornerTaps | None = None, now: Callable[[], float] = time.monotonic) -> None:
        self.known, self.texts, self.gather = known, texts, gather
        self.close_s, self.quiet_s = close_s, quiet_s
        self.gesture = gesture or CornerTaps()
        self.now = now
        self.overlay = None
        self.got: Gathered | None = None       # the newest result of the worker
        self.error: str | None = None
        self.checking = False                  # the doctor is running
        self.opened = 0                        # how often the overlay opened (tests)
        self.gathers = 0                       # how often the worker ran
        self._worker: threading.Thread | None = None
        self._deadline = 0.0
        self._quiet_until = 0.0
        self._timer = None
        self._texts: TechTexts | None = None
        self._installed = False

    # --- the gesture ------------------------------------------------------------------------

    def install(self) -> "TechAccess":
        from kivy.core.window import Window

        if not self._installed:
            Window.bind(on_touch_down=self._on_window_touch)
            self._installed = True
        return self

    def uninstall(self) -> None:
        from kivy.core.window import Window

        if self._installed:
            Window.unbind(on_touch_down=self._on_window_touch)
            self._installed = False
        self.close()

    def _on_window_touch(self, window, touch) -> bool:
        """Every touch-down, before any widget. True only when the touch is the gesture's last
        tap or falls right after "Close": nothing else of the app's input changes."""
        if self.overlay is not None:
            return False  # the overlay, on top, takes it
        if getattr(touch, "is_mouse_scrolling", False):
            return False
        now = self.now()
        if now < self._quiet_until:
            return True
        from kivy.metrics import mm

        w, h = window.size
        self.gesture.side_px = corner_side(mm(1), w, h)
        if self.gesture.feed(touch.x, touch.y, w, h, now):
            self.open()
            return True
        return False

    # --- open, close --------------------------------------------------------------------------

    @property
    def is_open(self) -> bool:
        return self.overlay is not None

    def open(self) -> None:
        from kivy.clock import Clock
        from kivy.core.window import Window

        if self.overlay is not None:
            return
        self.opened += 1
        self._texts = self.texts()
        if self._worker is None or not self._worker.is_alive():
            self.got, self.error = None, None
            self._start_worker()
        self.overlay = _build_overlay(self, self._texts, tuple(Window.size))
        Window.add_widget(self.overlay)
        self._deadline = self.now() + self.close_s
        self._timer = Clock.schedule_interval(self._tick, 0.5)
        self._refresh()

    def close(self, *_a, quiet: bool = True) -> None:
        """Take the overlay away. After "Close" (quiet) touches are swallowed for `quiet_s`: the
        second tap of a double tap must not press what lies under the button."""
        if self.overlay is None:
            return
        from kivy.core.window import Window

        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        Window.remove_widget(self.overlay)
        self.overlay = None
        self.gesture.reset()
        if quiet:
            self._quiet_until = self.now() + self.quiet_s

    def touched(self) -> None:
        """A touch on the overlay: the technician is reading, the 60 s start again."""
        self._deadline = self.now() + self.close_s

    def seconds_left(self) -> int:
        return max(0, int(round(self._deadline - self.now())))

    def _tick(self, _dt: float) -> None:
        if self.overlay is None:
            return
        if self.now() >= self._deadline:
            self.close(quiet=False)  # nobody is tapping: nothing to guard against
            return
        self.overlay.set_countdown(self._texts.closes_in.format(seconds=self.seconds_left()))

    # --- the worker -------------------------------------------------------------------------

    def _start_worker(self) -> None:
        from kivy.clock import Clock

        self.checking = True
        self.gathers += 1

        def post(got: Gathered | None, error: str | None, final: bool) -> None:
            Clock.schedule_once(lambda _dt: self._arrived(got, error, final), 0)

        def run() -> None:
            try:
                post(self.gather(False), None, False)
                post(self.gather(True), None, True)
            except Exception as exc:  # noqa: BLE001 — shown on the screen, never a crash
                log.exception("technician screen: gathering failed")
                post(None, f"{type(exc).__name__}: {exc}", True)

        self._worker = threading.Thread(target=run, name="technician-info", daemon=True)
        self._worker.start()

    def _arrived(self, got: Gathered | None, error: str | None, final: bool) -> None:
        if got is not None:
            self.got = got
        if error is not None:
            self.error = error
        if final:
            self.checking = False
        self._refresh()

    @property
    def doctor_shown(self) -> bool:
        """The doctor's result is on the screen (not "running…")."""
        return self.overlay is not None and not self.checking and self.got is not None \
            and self.got.info.doctor is not None

    def _refresh(self) -> None:
        if self.overlay is None:
            return
        t = self._texts
        self.overlay.show(about_rows(self.known(), self.got, t),
                          doctor_rows(self.got, t, error=self.error, checking=self.checking))
        self.overlay.set_countdown(t.closes_in.format(seconds=self.seconds_left()))

    def texts_on_screen(self) -> list[str]:
        """Every text of the overlay (tests)."""
        if self.overlay is None:
            return []
        return [w.text for w in self.overlay.walk(restrict=True) if isinstance(getattr(w, "text", None), str)
                and w.text]


@functools.lru_cache(maxsize=None)
def _classes():
    """The Kivy widget classes, made on first use (importing this module needs no Kivy)."""
    from kivy.graphics import Color, Line, Rectangle
    from kivy.uix.boxlayout import BoxLayout
    from kivy.uix.button import Button
    from kivy.uix.label import Label

    class Back(BoxLayout):
        def __init__(self, bg, frame=None, frame_w: float = 2.0, **kw) -> None:
            super().__init__(**kw)
            self._bg, self._frame, self._fw = bg, frame, frame_w
            self.bind(pos=self._draw, size=self._draw)

        def _draw(self, *_a) -> None:
            self.canvas.before.clear()
            with self.canvas.before:
                Color(*self._bg)
                Rectangle(pos=self.pos, size=self.size)
                if self._frame is not None:
                    Color(*self._frame)
                    Line(rectangle=(self.x + 1, self.y + 1, self.width - 2, self.height - 2), width=self._fw)

    class Overlay(Back):
        """Full screen, opaque, takes every touch (the app below sees none)."""

        def on_touch_down(self, touch):
            self.access.touched()
            super().on_touch_down(touch)
            return True

        def on_touch_move(self, touch):
            super().on_touch_move(touch)
            return True

        def on_touch_up(self, touch):
            super().on_touch_up(touch)
            return True

        def set_countdown(self, text: str) -> None:
            if self.countdown.text != text:
                self.countdown.text = text

        def show(self, about: list[Row], doctor: list[Row]) -> None:
            self.fill(self.about_box, about)
            self.fill(self.doctor_box, doctor)

    class Wrapped(Label):
        """Text that wraps at its width and is as tall as its lines."""

        def __init__(self, **kw) -> None:
            kw.setdefault("halign", "left")
            kw.setdefault("valign", "top")
            super().__init__(size_hint_y=None, **kw)
            self.bind(width=lambda w, v: setattr(w, "text_size", (v, None)),
                      texture_size=lambda w, ts: setattr(w, "height", ts[1]))
            self.text_size = (self.width, None)  # a fixed width never fires the binding above

    return {"Back": Back, "Overlay": Overlay, "Wrapped": Wrapped, "BoxLayout": BoxLayout, "Button": Button,
            "Label": Label}


def _build_overlay(access: TechAccess, t: TechTexts, size: tuple[float, float]):
    from kivy.core.text import Label as CoreLabel
    from kivy.metrics import mm
    from kivy.uix.scrollview import ScrollView
    from kivy.utils import escape_markup

    from .theme import STANDARD as P

    K = _classes()
    BoxLayout, Wrapped = K["BoxLayout"], K["Wrapped"]
    W, H = size
    u = max(0.5, min(W, H) / 1080.0)
    landscape = W > H * 1.15
    f = max(15.0, (23.0 if landscape else 25.0) * u)   # body text
    pad, gap = 28.0 * u, 14.0 * u
    font = _fonts()
    top = {"top": 1}  # a row's cells start at its top (a BoxLayout puts short ones at the bottom)

    ov = K["Overlay"](P.background, orientation="vertical", padding=pad, spacing=gap)
    ov.access = access
    ov.pp_id = "tech_overlay"

    title = K["Label"](text=t.title, bold=True, font_size=f * 1.6, color=P.text, halign="left", valign="middle",
                       size_hint_y=None, height=f * 2.2, **font)
    title.bind(size=lambda w, s: setattr(w, "text_size", s))
    title.pp_id = "tech_title"
    ov.add_widget(title)

    def column() -> BoxLayout:
        b = BoxLayout(orientation="vertical", size_hint_y=None, spacing=gap * 0.6)
        b.bind(minimum_height=b.setter("height"))
        return b

    about, doctor = column(), column()
    inner = W - 2 * pad
    if landscape:
        body = BoxLayout(orientation="horizontal", spacing=pad * 1.5)
        for box, share in ((about, 0.38), (doctor, 0.62)):
            sv = ScrollView(size_hint_x=share, do_scroll_x=False, bar_width=max(4.0, 6 * u))
            sv.add_widget(box)
            body.add_widget(sv)
        about_w = (inner - pad * 1.5) * 0.38
    else:
        body = ScrollView(do_scroll_x=False, bar_width=max(4.0, 6 * u))
        both = column()
        both.spacing = gap * 1.5
        both.add_widget(about)
        both.add_widget(doctor)
        body.add_widget(both)
        about_w = inner
    ov.add_widget(body)
    ov.about_box, ov.doctor_box = about, doctor

    # The labels' column: as wide as the widest label (bold would not be wider: they are regular),
    # at most 42 % of the column; a longer label wraps at a space.
    widest = max(CoreLabel(text=k, font_size=f, **font).get_extents(k)[0]
                 for k in (t.device, t.site, t.version, t.host, t.addresses, t.config, t.site_broker,
                           t.central_broker))
    key_w = min(widest + f * 0.6, about_w * 0.42)
    tag_w = f * 3.2

    cd = K["Label"](text="", font_size=f * 0.95, color=P.muted_text, halign="center", valign="middle",
                    size_hint_y=None, height=f * 1.6, **font)
    cd.bind(size=lambda w, s: setattr(w, "text_size", s))
    cd.pp_id = "tech_countdown"
    ov.add_widget(cd)
    ov.countdown = cd

    close = K["Button"](text=t.close, bold=True, font_size=f * 1.7, color=P.accent_text,
                        background_normal="", background_down="", background_color=P.accent,
                        size_hint=(1, None), height=max(mm(15), f * 4.0), **font)
    close.pp_id = "tech_close"
    close.bind(on_release=access.close)
    ov.add_widget(close)
    ov.close_button = close

    def tag(status: str) -> str:
        return f"[b][color={STATUS_COLOURS.get(status, STATUS_COLOURS['SKIP'])}]{escape_markup(status)}[/color][/b]"

    def pair(left, right) -> BoxLayout:
        row = BoxLayout(orientation="horizontal", size_hint_y=None, spacing=gap)

        def fit(*_a) -> None:
            row.height = max(left.height, right.height)
        for w in (left, right):
            w.pos_hint = top
            w.bind(height=fit)
            row.add_widget(w)
        return row

    def fill(box: BoxLayout, rows: list[Row]) -> None:
        box.clear_widgets()
        for r in rows:
            if r.kind == "pair":
                k = Wrapped(text=r.key, font_size=f, color=P.muted_text, size_hint_x=None, width=key_w, **font)
                v = Wrapped(text=r.value, font_size=f, bold=True, color=P.text, **font)
                v.pp_id = r.ident
                box.add_widget(pair(k, v))
            elif r.kind == "heading":
                h = Wrapped(text=r.value, font_size=f * 1.25, bold=True, color=P.text, **font)
                h.pp_id = r.ident
                box.add_widget(h)
            elif r.kind == "note":
                n = Wrapped(text=r.value, font_size=f, color=P.muted_text, **font)
                n.pp_id = r.ident
                box.add_widget(n)
            else:  # summary, check: the status word in a column of its own, then the words
                s = Wrapped(text=tag(r.status), markup=True, font_size=f, size_hint_x=None, width=tag_w,
                            color=P.text, **font)
                if r.kind == "summary":
                    words = f"[b]{escape_markup(r.value)}[/b]"
                else:
                    words = f"[b]{escape_markup(r.key)}[/b]: {escape_markup(r.value)}"
                    if r.hint:
                        words += f"\n[color={HINT_COLOUR}]{escape_markup(r.hint)}[/color]"
                v = Wrapped(text=words, markup=True, font_size=f, color=P.text, **font)
                v.pp_id = r.ident
                v.status = r.status
                box.add_widget(pair(s, v))

    ov.fill = fill
    return ov
