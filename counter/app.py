"""The clerk's call panel (Kivy): pick the counter, then one tap calls the next customer.

Shows the services the counter serves with their waiting counts, the current customer (number,
service, waiting time, needs in words with an icon), the parked customers (the counter's own
first) and today's no-shows, help requests from the kiosk, and the buttons: call next, call a
number (a keypad of the counter's prefix letters and digits; a keyboard works too), call again,
finish (with the outcome chooser when the service has outcomes), did not come, park, transfer (a
chooser of services), open and pause/close; "Call back" on each parked customer, "Back in queue"
on each no-show. Every command goes to the hub over the site bus from a worker thread
(counter/hub_link.py); the answer is shown in words — the hub's error codes are translated.
What can be tapped, the outcome choices and the keypad's rules are counter/model.py's.
"""
from __future__ import annotations

import logging
import time
from typing import Any

from kivy.app import App
from kivy.clock import Clock
from kivy.metrics import dp
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.gridlayout import GridLayout
from kivy.uix.modalview import ModalView
from kivy.uix.scrollview import ScrollView

from core.config import Site
from core.errors import WireError, error_reply
from uikit.appsupport import close_all

from .model import (
    BACK,
    CLEAR,
    NumberEntry,
    PanelView,
    buttons,
    error_text,
    finish_label,
    keypad_keys,
    keypad_letters,
    panel_view,
    success_text,
    translator,
)
from .settings import CounterSettings
from .widgets import Badge, BigButton, Box, Text, WrapText

log = logging.getLogger(__name__)

#: After a successful "call next", further taps on it are ignored this long (a double tap).
CALL_GUARD_S = 1.0


class CounterApp(App):
    title = "palvelupiste — counter"

    def __init__(self, site: Site, settings: CounterSettings, *, broker: Any = None, device: str = "counter-1",
                 username: str | None = None, password: str | None = None, link_factory=None, **kw: Any) -> None:
        super().__init__(**kw)
        self.site = site
        self.settings = settings
        self.broker, self.device = broker, device
        self.username, self.password = username, password
        self.counter: str | None = settings.counter if settings.counter in site.counters else None
        self.t = translator(settings.lang, site)
        self.state: dict[str, Any] | None = None
        self.connected = False
        self.link = None
        self._link_factory = link_factory
        self.replies: list[tuple[str, dict[str, Any]]] = []   # (command, answer), for tests and logs
        self.status_kind = ""       # "" | "ok" | "error" | "busy"
        self.view: PanelView | None = None
        self._shown: Any = None
        self.busy = False
        self._call_guard_until = 0.0
        self.transfer_view: ModalView | None = None
        self.number_view: ModalView | None = None
        self.outcome_view: ModalView | None = None
        self._outcome_for: str | None = None   # the number the outcome chooser was opened for
        self.entry: NumberEntry | None = None

    # --- lifecycle ------------------------------------------------------------------------

    def build(self):
        from kivy.core.window import Window

        from uikit.theme import PALETTES

        self.pal = PALETTES[self.settings.palette]
        Window.clearcolor = self.pal.background
        self.root_box = BoxLayout(orientation="vertical")
        if self._link_factory is not None:
            self.link = self._link_factory(self)
        elif self.broker is not None:
            from .hub_link import CounterLink

            self.link = CounterLink(self.broker, self.site.id, self.device,
                                    on_state=lambda st: Clock.schedule_once(lambda dt: self._on_state(st), 0),
                                    on_link=lambda up: Clock.schedule_once(lambda dt: self._on_link(up), 0),
                                    username=self.username, password=self.password,
                                    timeout=self.settings.timeout_s)
        if self.link is not None:
            self.link.start()
        if self.counter is None:
            self.show_picker()
        else:
            self.show_panel(self.counter)
        Clock.schedule_interval(lambda dt: self._tick(), 1.0)
        return self.root_box

    def on_stop(self):
        close_all("counter", self.link and self.link.close)

    # --- from the hub (UI thread) -------------------------------------------------------------

    def _on_state(self, st: dict[str, Any]) -> None:
        self.state = st
        self.refresh()

    def _on_link(self, up: bool) -> None:
        if up != self.connected:
            self.connected = up
            self.refresh()

    def _tick(self) -> None:
        if getattr(self, "clock_label", None) is not None:
            self.clock_label.text = self.t.format_time(int(time.time() * 1000))

    # --- commands -------------------------------------------------------------------------

    def send(self, cmd: str, **extra: Any) -> None:
        """One command at a time: while one is on its way the buttons are off, so a double tap on
        "call next" cannot call (and finish) two customers. A call right after a call needs a
        moment's pause too (a bouncing finger on a touch screen)."""
        if self.counter is None or self.busy:
            return
        if cmd == "call" and time.monotonic() < self._call_guard_until:
            return
        if cmd != "call":
            self._call_guard_until = 0.0  # the guard is against a second tap on "call next", not after other work
        self.busy = True
        self._set_buttons()
        payload = {"cmd": cmd, "counter": self.counter, **extra}
        self._status(self.t("Sending…"), "busy")
        if self.link is None:
            self._on_reply(cmd, error_reply(WireError.TIMEOUT, "no link to the hub", connected=False))
            return
        self.link.send(payload, lambda reply: Clock.schedule_once(lambda dt: self._on_reply(cmd, reply, payload), 0))

    def _on_reply(self, cmd: str, reply: dict[str, Any], sent: dict[str, Any] | None = None) -> None:
        self.busy = False
        if cmd == "call" and reply.get("ok"):
            self._call_guard_until = time.monotonic() + CALL_GUARD_S
        self.replies.append((cmd, reply))
        self._set_buttons()
        if reply.get("ok"):
            self._status(success_text(self.t, self.site, cmd, reply, sent), "ok")
        else:
            self._status(error_text(self.t, reply, sent=sent, site=self.site), "error")

    def _status(self, text: str, kind: str) -> None:
        self.status_kind = kind
        if getattr(self, "status", None) is None:
            return
        icon = {"ok": "\u2713", "error": "\u26a0", "busy": "\u2026"}.get(kind, "")
        self.status_icon.text = icon
        self.status.text = text
        pal = self.pal
        if kind == "error":
            self.status_box.bg, self.status_box.frame = list(pal.warning), list(pal.warning_text)
            self.status.color = self.status_icon.color = pal.warning_text
        else:
            self.status_box.bg, self.status_box.frame = list(pal.background), list(pal.muted_text)
            self.status.color = self.status_icon.color = pal.text

    # --- screens --------------------------------------------------------------------------

    def show_picker(self) -> None:
        t, pal = self.t, self.pal
        self.counter = None
        self.status = None
        self.root_box.clear_widgets()
        box = BoxLayout(orientation="vertical", padding=dp(24), spacing=dp(16))
        box.add_widget(Text(text=t("Choose your counter"), bold=True, font_size=dp(40), color=pal.text,
                            size_hint_y=None, height=dp(70)))
        box.add_widget(Text(text=self.site.label(t.lang), font_size=dp(22), color=pal.muted_text,
                            size_hint_y=None, height=dp(36)))
        grid = GridLayout(cols=2 if len(self.site.counters) > 4 else 1, spacing=dp(14), size_hint_y=None)
        grid.bind(minimum_height=grid.setter("height"))
        for cid, c in self.site.counters.items():
            services = ", ".join(self.site.services[s].label(t.lang) for s in c.services)
            b = BigButton(pal, text=f"{c.label(t.lang)}\n[size={int(dp(18))}]{services}[/size]", markup=True,
                          size_hint_y=None, height=max(dp(96), self._min_target()), font_size=dp(28))
            b.pp_id = f"pick_{cid}"
            b.bind(on_release=lambda _b, cid=cid: self.show_panel(cid))
            grid.add_widget(b)
        sv = ScrollView()
        sv.add_widget(grid)
        box.add_widget(sv)
        self.root_box.add_widget(box)

    def _min_target(self) -> float:
        from .widgets import min_target_px

        return min_target_px()

    def show_panel(self, counter: str) -> None:
        t, pal = self.t, self.pal
        self.counter = counter
        self.root_box.clear_widgets()
        outer = BoxLayout(orientation="vertical", padding=dp(16), spacing=dp(12))

        # top: counter, open/closed, connection, clock, change counter
        top = BoxLayout(orientation="horizontal", size_hint_y=None, height=dp(64), spacing=dp(12))
        self.counter_label = Text(bold=True, font_size=dp(34), color=pal.text)
        self.open_badge = Box(orientation="horizontal", size_hint_x=None, width=dp(260), padding=(dp(8), 0),
                              spacing=dp(6), bg=list(pal.background), frame=list(pal.text))
        self.open_icon = Text(bold=True, font_size=dp(28), color=pal.text, size_hint_x=None, width=dp(34),
                              halign="center")
        self.open_text = Text(bold=True, font_size=dp(22), color=pal.text)
        self.open_badge.add_widget(self.open_icon)
        self.open_badge.add_widget(self.open_text)
        self.link_label = Text(font_size=dp(20), color=pal.muted_text, size_hint_x=None, width=dp(250),
                               halign="right")
        self.clock_label = Text(bold=True, font_size=dp(30), color=pal.text, size_hint_x=None, width=dp(100),
                                halign="right")
        change = BigButton(pal, text=t("Change counter"), font_size=dp(18), size_hint_x=None, width=dp(190))
        change.pp_id = "change_counter"
        change.bind(on_release=lambda *_: self.show_picker())
        for w in (self.counter_label, self.open_badge, self.link_label, self.clock_label, change):
            top.add_widget(w)
        outer.add_widget(top)

        body = BoxLayout(orientation="horizontal", spacing=dp(16))
        left = BoxLayout(orientation="vertical", spacing=dp(12), size_hint_x=0.6)

        # the current customer
        cur = Box(orientation="vertical", padding=dp(14), spacing=dp(6), bg=list(pal.background),
                  frame=list(pal.muted_text), frame_width=dp(1.5))
        self.cur_head = Text(text=t("Current customer"), bold=True, font_size=dp(22), color=pal.muted_text,
                             size_hint_y=None, height=dp(32))
        line = BoxLayout(orientation="horizontal", size_hint_y=None, height=dp(96), spacing=dp(16))
        self.cur_number = Text(bold=True, font_size=dp(76), color=pal.text, size_hint_x=0.42)
        self.cur_number.pp_id = "current_number"
        info = BoxLayout(orientation="vertical", size_hint_x=0.58)
        self.cur_service = Text(bold=True, font_size=dp(24), color=pal.text)
        self.cur_waited = Text(font_size=dp(22), color=pal.muted_text)
        info.add_widget(self.cur_service)
        info.add_widget(self.cur_waited)
        line.add_widget(self.cur_number)
        line.add_widget(info)
        self.needs_box = GridLayout(cols=2, spacing=dp(8), size_hint_y=None, height=0)
        cur.add_widget(self.cur_head)
        cur.add_widget(line)
        cur.add_widget(self.needs_box)
        cur.add_widget(BoxLayout())  # the rest of the box stays empty below
        left.add_widget(cur)

        # one tap: call next; beside it, a given number (the customer at the desk shows a ticket)
        calls = BoxLayout(orientation="horizontal", spacing=dp(10), size_hint_y=None,
                          height=max(dp(110), self._min_target()))
        self.call_btn = BigButton(pal, primary=True, text=t("Call next customer"), font_size=dp(34), size_hint_x=0.66)
        self.call_btn.pp_id = "call_next"
        self.call_btn.bind(on_release=lambda *_: self.send("call"))
        calls.add_widget(self.call_btn)
        self.call_number_btn = self._btn(calls, t("Call a number…"), "call_number", self.open_number)
        self.call_number_btn.size_hint_x = 0.34
        left.add_widget(calls)

        # the current customer's buttons: five in a row, in type that keeps "Kutsu uudelleen" whole
        row = GridLayout(cols=5, spacing=dp(8), size_hint_y=None, height=max(dp(84), self._min_target()))
        fs = {"font_size": dp(19)}
        self.recall_btn = self._btn(row, t("Call again"), "recall", lambda: self.send("recall"), **fs)
        self.finish_btn = self._btn(row, t("Finish"), "finish", self.finish, **fs)
        self.noshow_btn = self._btn(row, t("Did not come"), "no_show", lambda: self.send("no_show"), **fs)
        self.park_btn = self._btn(row, t("Park"), "park", lambda: self.send("park"), **fs)
        self.transfer_btn = self._btn(row, t("Transfer…"), "transfer", self.open_transfer, **fs)
        left.add_widget(row)
        row2 = GridLayout(cols=2, spacing=dp(10), size_hint_y=None, height=max(dp(72), self._min_target()))
        self.open_btn = self._btn(row2, t("Open the counter"), "open", lambda: self.send("open"))
        self.close_btn = self._btn(row2, t("Pause / close the counter"), "close", lambda: self.send("close"))
        left.add_widget(row2)

        self.status_box = Box(orientation="horizontal", size_hint_y=None, height=dp(64), padding=(dp(10), dp(4)),
                              spacing=dp(10), bg=list(pal.background), frame=list(pal.muted_text))
        self.status_icon = Text(bold=True, font_size=dp(30), color=pal.text, size_hint_x=None, width=dp(40),
                                halign="center")
        self.status = Text(font_size=dp(21), color=pal.text, bold=True)
        self.status.pp_id = "status"
        self.status_box.add_widget(self.status_icon)
        self.status_box.add_widget(self.status)
        left.add_widget(self.status_box)
        body.add_widget(left)

        # right, one column that scrolls when it is long: the counter's queues, help requests from
        # the kiosk, parked customers, today's no-shows
        right = ScrollView(size_hint_x=0.4, do_scroll_x=False, bar_width=dp(8))
        self.right_col = BoxLayout(orientation="vertical", spacing=dp(12), size_hint_y=None)
        self.right_col.bind(minimum_height=self.right_col.setter("height"))
        self.queue_box, self.queue_head, self.queue_rows = self._section()
        self.help_box, self.help_head, self.help_rows = self._section()
        self.parked_box, self.parked_head, self.parked_rows = self._section()
        self.noshow_box, self.noshow_head, self.noshow_rows = self._section()
        right.add_widget(self.right_col)
        body.add_widget(right)
        outer.add_widget(body)
        self.root_box.add_widget(outer)
        self._status(t("Ready."), "")
        self.refresh(force=True)

    def _section(self) -> tuple[Box, Text, BoxLayout]:
        """A framed part of the right column: a heading and rows, as tall as they are."""
        pal = self.pal
        box = Box(orientation="vertical", padding=dp(12), spacing=dp(6), bg=list(pal.background),
                  frame=list(pal.muted_text), size_hint_y=None)
        head = WrapText(bold=True, font_size=dp(22), color=pal.muted_text, min_height=dp(34))
        rows = BoxLayout(orientation="vertical", spacing=dp(6), size_hint_y=None)
        rows.bind(minimum_height=rows.setter("height"))
        box.add_widget(head)
        box.add_widget(rows)

        def fit(*_) -> None:
            box.height = head.height + rows.height + dp(30)  # padding and spacing

        head.bind(height=fit)
        rows.bind(height=fit)
        fit()
        self.right_col.add_widget(box)
        return box, head, rows

    def _set_buttons(self) -> None:
        """Each button enabled as the model says (counter.model.buttons)."""
        if getattr(self, "status", None) is None or self.view is None:
            return
        states = buttons(self.view, busy=self.busy, known=self.state is not None)
        for w in self.root_box.walk(restrict=True):
            ident = getattr(w, "pp_id", None)
            if ident in states:
                w.disabled = not states[ident]

    def _btn(self, parent, text: str, ident: str, action, **kw: Any) -> BigButton:
        b = BigButton(self.pal, text=text, font_size=kw.pop("font_size", dp(22)), **kw)
        b.pp_id = ident
        b.bind(on_release=lambda *_: action())
        parent.add_widget(b)
        return b

    def _row_height(self) -> float:
        return max(dp(60), self._min_target())

    # --- refresh from the state -------------------------------------------------------------

    def refresh(self, force: bool = False) -> None:
        if self.counter is None or getattr(self, "status", None) is None:
            return
        t, pal = self.t, self.pal
        v = panel_view(t, self.site, self.counter, self.state)
        key = (v, self.connected, self.state is not None)
        if not force and key == self._shown:
            return  # a heartbeat with nothing new: no widgets rebuilt, no frame drawn
        self._shown = key
        self.view = v
        self.counter_label.text = v.counter_name
        known = self.state is not None
        self.open_icon.text = ("\u2713" if v.open else "\u2715") if known else "?"
        self.open_text.text = (t("Open") if v.open else t("Closed")) if known else t("Waiting for the queue system")
        self.link_label.text = t("Connected") if self.connected else t("No connection")
        self._tick()

        c = v.current
        self.cur_number.text = c.number if c else "—"
        self.cur_service.text = c.service_name if c else t("No customer at the counter")
        self.cur_waited.text = c.waited if c else ""
        self.needs_box.clear_widgets()
        needs = c.needs if c else []
        for n in needs:
            b = Badge(pal, n.icon, n.text)
            b.pp_id = f"need_{n.key}"
            self.needs_box.add_widget(b)
        self.needs_box.height = ((len(needs) + 1) // 2) * dp(64)

        if self.outcome_view is not None and (c is None or c.number != self._outcome_for):
            self.outcome_view.dismiss(animation=False)  # the customer it was for is no longer here
        waiting = v.waiting_total
        self.call_btn.text = t("Call next customer") + "\n" + \
            t.ngettext("{n} waiting", "{n} waiting", waiting).format(n=waiting)
        self.finish_btn.text = finish_label(t, v)

        self.queue_head.text = t("Queues of this counter")
        self.queue_rows.clear_widgets()
        for s in v.services:
            row = BoxLayout(orientation="horizontal", size_hint_y=None, height=dp(40))
            row.add_widget(Text(text=s.name, bold=True, font_size=dp(20), color=pal.text, size_hint_x=0.55,
                                shorten=True))
            row.add_widget(Text(text=s.text, font_size=dp(20), color=pal.text if s.waiting else pal.muted_text,
                                size_hint_x=0.45))
            self.queue_rows.add_widget(row)

        self.help_head.text = t("Help requests from the kiosk")
        self.help_rows.clear_widgets()
        if not v.help:
            self._none_row(self.help_rows, t("No open help requests."))
        for hl in v.help:
            row = Box(orientation="vertical", size_hint_y=None, height=dp(58) + self._row_height(), padding=dp(6),
                      spacing=dp(4), bg=list(pal.warning), frame=list(pal.warning_text))
            row.add_widget(Text(text="\u26a0 " + hl.text, bold=True, font_size=dp(19), color=pal.warning_text))
            go = BigButton(pal, text=t("I'm going"), font_size=dp(22), size_hint_y=None, height=self._row_height())
            go.pp_id = f"help_go_{hl.request}"
            go.bind(on_release=lambda *_b, r=hl.request: self.send("help_answered", request=r))
            row.add_widget(go)
            self.help_rows.add_widget(row)

        self.parked_head.text = t("Parked customers ({n})").format(n=len(v.parked))
        self.parked_rows.clear_widgets()
        if not v.parked:
            self._none_row(self.parked_rows, t("Nobody is parked."))
        for p in v.parked:
            self._list_row(self.parked_rows, p.number, p.text, t("Call back"), f"call_back_{p.number}",
                           lambda n=p.number: self.send("call_number", number=n), mine=p.own)

        self.noshow_head.text = t("Did not come today")
        self.noshow_rows.clear_widgets()
        if not v.no_shows:
            self._none_row(self.noshow_rows, t("Nobody so far."))
        for ns in v.no_shows:
            self._list_row(self.noshow_rows, ns.number, ns.text, t("Back in queue"), f"requeue_{ns.number}",
                           lambda n=ns.number: self.send("requeue", number=n))
        self._set_buttons()

    def _none_row(self, rows: BoxLayout, text: str) -> None:
        rows.add_widget(Text(text=text, font_size=dp(20), color=self.pal.muted_text, size_hint_y=None, height=dp(36)))

    def _list_row(self, rows: BoxLayout, number: str, text: str, action_text: str, ident: str, action,
                  mine: bool = False) -> None:
        """A number, what it is (service, where), and one button for it."""
        pal = self.pal
        row = BoxLayout(orientation="horizontal", size_hint_y=None, height=self._row_height(), spacing=dp(8))
        row.add_widget(Text(text=number, bold=True, font_size=dp(28), color=pal.text, size_hint_x=0.27))
        row.add_widget(Text(text=text, bold=mine, font_size=dp(18), color=pal.text if mine else pal.muted_text,
                            size_hint_x=0.38, max_lines=2, shorten=True))
        self._btn(row, action_text, ident, action, font_size=dp(20), size_hint_x=0.35)
        rows.add_widget(row)

    # --- finish, with the outcome chooser ---------------------------------------------------

    def finish(self) -> None:
        """One tap finishes; when the customer's service has outcomes, the tap offers them first."""
        v = self.view
        if v is not None and v.current is not None and v.current.outcomes:
            self.open_outcomes()
        else:
            self.send("finish")

    def open_outcomes(self) -> None:
        v = self.view
        if v is None or v.current is None:
            return
        t, pal = self.t, self.pal
        mv = ModalView(size_hint=(0.7, 0.85), auto_dismiss=True, background_color=(0, 0, 0, 0.7))
        box = Box(orientation="vertical", padding=dp(18), spacing=dp(10), bg=list(pal.background),
                  frame=list(pal.text), frame_width=dp(2))
        box.add_widget(Text(text=t("Finish {number}: what came of the visit?").format(number=v.current.number),
                            bold=True, font_size=dp(28), color=pal.text, size_hint_y=None, height=dp(56)))
        box.add_widget(Text(text=t("Only the outcome is recorded, nothing about the customer."), font_size=dp(19),
                            color=pal.muted_text, size_hint_y=None, height=dp(32)))
        grid = GridLayout(cols=2, spacing=dp(10), size_hint_y=None)
        grid.bind(minimum_height=grid.setter("height"))
        for o in v.current.outcomes:
            b = BigButton(pal, primary=True, text=o.name, font_size=dp(24), size_hint_y=None,
                          height=max(dp(84), self._min_target()))
            b.pp_id = f"outcome_{o.id}"
            b.bind(on_release=lambda _b, oid=o.id: self._finish_with(oid))
            grid.add_widget(b)
        sv = ScrollView()
        sv.add_widget(grid)
        box.add_widget(sv)
        bottom = GridLayout(cols=2, spacing=dp(10), size_hint_y=None, height=max(dp(76), self._min_target()))
        self._btn(bottom, t("Finish without outcome"), "finish_no_outcome", lambda: self._finish_with(None))
        self._btn(bottom, t("Cancel"), "finish_cancel", mv.dismiss)
        box.add_widget(bottom)
        mv.add_widget(box)
        mv.bind(on_dismiss=lambda *_: setattr(self, "outcome_view", None))
        self.outcome_view, self._outcome_for = mv, v.current.number
        mv.open()

    def _finish_with(self, outcome: str | None) -> None:
        if self.outcome_view is not None:
            self.outcome_view.dismiss(animation=False)  # gone at once: the next tap reaches the panel
        if outcome is None:
            self.send("finish")
        else:
            self.send("finish", outcome=outcome)

    # --- call a number: the keypad ------------------------------------------------------------

    def open_number(self) -> None:
        """The keypad: the prefix letters of this counter's services, the digits, erase and clear;
        a keyboard types into it too (Enter calls, Escape closes)."""
        if self.counter is None or self.number_view is not None:
            return
        from kivy.core.window import Window

        t, pal = self.t, self.pal
        letters = keypad_letters(self.site, self.counter)
        self.entry = NumberEntry(letters, {s.prefix for s in self.site.services.values()})
        mv = ModalView(size_hint=(0.62, 0.94), auto_dismiss=True, background_color=(0, 0, 0, 0.7))
        box = Box(orientation="vertical", padding=dp(16), spacing=dp(10), bg=list(pal.background),
                  frame=list(pal.text), frame_width=dp(2))
        box.add_widget(Text(text=t("Call a number"), bold=True, font_size=dp(28), color=pal.text,
                            size_hint_y=None, height=dp(44)))
        shown = Box(orientation="horizontal", size_hint_y=None, height=dp(84), padding=(dp(12), 0),
                    bg=list(pal.background), frame=list(pal.text), frame_width=dp(2))
        self.entry_label = Text(bold=True, font_size=dp(56), color=pal.text, halign="center")
        self.entry_label.pp_id = "number_entered"
        shown.add_widget(self.entry_label)
        box.add_widget(shown)
        self.entry_hint = Text(font_size=dp(19), color=pal.muted_text, size_hint_y=None, height=dp(30),
                               halign="center")
        box.add_widget(self.entry_hint)
        keys = keypad_keys(letters)
        n_letters = len(letters)
        lgrid = GridLayout(cols=max(3, min(n_letters, 5)), spacing=dp(8), size_hint_y=None,
                           height=((n_letters + 4) // 5) * (max(dp(64), self._min_target()) + dp(8)))
        dgrid = GridLayout(cols=3, spacing=dp(8))
        labels = {BACK: "\u232b", CLEAR: t("Clear")}
        for k in keys:
            parent = lgrid if k.isalpha() and k not in (BACK, CLEAR) else dgrid
            b = BigButton(pal, text=labels.get(k, k), font_size=dp(30 if k != CLEAR else 22))
            b.pp_id = f"key_{k}"
            b.bind(on_release=lambda _b, k=k: self._key(k))
            parent.add_widget(b)
        box.add_widget(lgrid)
        box.add_widget(dgrid)
        bottom = GridLayout(cols=2, spacing=dp(10), size_hint_y=None, height=max(dp(80), self._min_target()))
        self._btn(bottom, t("Cancel"), "number_cancel", mv.dismiss)
        self.entry_call = BigButton(pal, primary=True, text="", font_size=dp(26))
        self.entry_call.pp_id = "number_call"
        self.entry_call.bind(on_release=lambda *_: self._call_entered())
        bottom.add_widget(self.entry_call)
        box.add_widget(bottom)
        mv.add_widget(box)

        def on_textinput(_w, text: str) -> bool:
            for ch in text:
                self._key(ch)
            return True

        def on_key_down(_w, key: int, _scancode, _codepoint, _mods) -> bool | None:
            if key == 8:             # backspace
                self._key(BACK)
            elif key == 127:         # delete
                self._key(CLEAR)
            elif key in (13, 271):   # enter, keypad enter
                self._call_entered()
            else:
                return None
            return True

        def closed(*_) -> None:
            Window.unbind(on_textinput=on_textinput, on_key_down=on_key_down)
            self.number_view = None

        Window.bind(on_textinput=on_textinput, on_key_down=on_key_down)
        mv.bind(on_dismiss=closed)
        self.number_view = mv
        self._show_entry()
        mv.open()

    def _key(self, key: str) -> None:
        if self.entry is not None and self.entry.press(key):
            self._show_entry()

    def _show_entry(self) -> None:
        e, t = self.entry, self.t
        if e is None:
            return
        number = e.number
        self.entry_label.text = e.text or "—"
        self.entry_hint.text = t("Calls {number} to this counter.").format(number=number) if number else e.problem(t)
        self.entry_call.text = t("Call {number}").format(number=number) if number else t("Call")
        self.entry_call.disabled = number is None

    def _call_entered(self) -> None:
        number = self.entry.number if self.entry is not None else None
        if number is None or self.number_view is None or self.busy:
            return  # incomplete, or a command still on its way: the keypad stays with what was typed
        self.number_view.dismiss(animation=False)  # gone at once: the next tap reaches the panel
        self.send("call_number", number=number)

    # --- transfer chooser -------------------------------------------------------------------

    def open_transfer(self) -> None:
        v = self.view
        if v is None or v.current is None:
            return
        t, pal = self.t, self.pal
        mv = ModalView(size_hint=(0.8, 0.9), auto_dismiss=True, background_color=(0, 0, 0, 0.7))
        box = Box(orientation="vertical", padding=dp(18), spacing=dp(10), bg=list(pal.background),
                  frame=list(pal.text), frame_width=dp(2))
        box.add_widget(Text(text=t("Transfer {number} to which service? The customer keeps the number.").format(
            number=v.current.number), bold=True, font_size=dp(26), color=pal.text, size_hint_y=None, height=dp(80)))
        grid = GridLayout(cols=3 if len(self.site.services) > 10 else 2, spacing=dp(10), size_hint_y=None)
        grid.bind(minimum_height=grid.setter("height"))
        for sid, s in self.site.services.items():
            if sid == v.current.service:
                continue
            b = BigButton(pal, text=s.label(t.lang), font_size=dp(20), size_hint_y=None,
                          height=max(dp(76), self._min_target()))
            b.pp_id = f"transfer_to_{sid}"
            b.bind(on_release=lambda _b, sid=sid: self._transfer(sid))
            grid.add_widget(b)
        sv = ScrollView()
        sv.add_widget(grid)
        box.add_widget(sv)
        cancel = BigButton(pal, text=t("Cancel"), font_size=dp(22), size_hint_y=None,
                           height=max(dp(70), self._min_target()))
        cancel.pp_id = "transfer_cancel"
        cancel.bind(on_release=lambda *_: mv.dismiss())
        box.add_widget(cancel)
        mv.add_widget(box)
        mv.bind(on_dismiss=lambda *_: setattr(self, "transfer_view", None))
        self.transfer_view = mv
        mv.open()

    def _transfer(self, service: str) -> None:
        if self.transfer_view is not None:
            self.transfer_view.dismiss()
        self.send("transfer", service=service)
