"""The kiosk's screens, built from the flow state each time it changes.

Every screen has the same shape: information at the top (title, what to do, what is known) and
the controls below it. With the "low" layout the information takes the upper part and every
control sits in the lower `LOW_FRACTION` of the screen, within reach from a wheelchair.

A screen is built fresh on each change and the previous one is thrown away whole, so nothing
of a customer can linger in a hidden widget. All words come through gettext (domain "kiosk").
"""
from __future__ import annotations

import math
from typing import TYPE_CHECKING

from kivy.uix.boxlayout import BoxLayout
from kivy.uix.gridlayout import GridLayout
from kivy.uix.widget import Widget

from core.i18n import Translator, is_rtl, native_name
from uikit.mirror import mirror
from uikit.speech import has_voice

from . import flow as F
from . import texts as T
from .widgets import LOW_FRACTION, Btn, Fill, Icon, Look, Notice, QrView, Txt, spacer

if TYPE_CHECKING:  # pragma: no cover
    from .app import KioskApp


def _row(look: Look, *widgets: Widget) -> BoxLayout:
    b = BoxLayout(orientation="horizontal", spacing=look.gap)
    for w in widgets:
        b.add_widget(w)
    return b


def _grid(look: Look, widgets: list[Widget], cols: int, rows: int | None = None) -> GridLayout:
    rows = rows or max(1, math.ceil(len(widgets) / cols))
    g = GridLayout(cols=cols, rows=rows, spacing=look.gap)
    for w in widgets:
        g.add_widget(w)
    for _ in range(rows * cols - len(widgets)):
        g.add_widget(Widget())
    return g


def frame(look: Look, info: list[Widget], controls: list[tuple[Widget, float]], info_frac: float) -> Fill:
    root = Fill(look.p.background, orientation="vertical", padding=look.pad, spacing=look.gap)
    if look.low:
        info_frac = max(info_frac, 1.0 - LOW_FRACTION)
    top = BoxLayout(orientation="vertical", size_hint_y=info_frac, spacing=look.gap * 0.6)
    for w in info:
        top.add_widget(w)
    top.add_widget(Widget())
    bottom = BoxLayout(orientation="vertical", size_hint_y=1.0 - info_frac, spacing=look.gap)
    for w, weight in controls:
        w.size_hint_y = weight
        bottom.add_widget(w)
    root.add_widget(top)
    root.add_widget(bottom)
    return root


def _heading(look: Look, st: T.ScreenText, icon: str | None = None, lead_kind: str = "normal",
             lead_bold: bool = False) -> list[Widget]:
    out: list[Widget] = []
    title = Txt(look, st.title, "title", bold=True, pp_id="title")
    if icon:
        isz = look.font("title") * 1.1
        r = BoxLayout(orientation="horizontal", size_hint_y=None, spacing=look.gap)
        title.size_hint_x = 1
        r.add_widget(Icon(icon, look.p.text, isz))
        r.add_widget(title)
        title.bind(height=lambda w, h: setattr(r, "height", max(h, isz)))
        r.height = isz
        out.append(r)
    else:
        out.append(title)
    if st.lead:
        out.append(Txt(look, st.lead, lead_kind, bold=lead_bold, pp_id="lead"))
    return out


class Veil(Fill):
    """Covers the screen under the "more time?" prompt: a touch anywhere on it counts as "more
    time" (the app's root saw it first) and goes no further, to no button underneath."""

    def on_touch_down(self, touch):
        super().on_touch_down(touch)
        return True

    def on_touch_up(self, touch):
        super().on_touch_up(touch)
        return True


def read_out(tree: Widget, tr: Translator) -> list[str]:
    """Everything on a screen a person could read, in the order it was built (the reading
    order, taken before a right-to-left screen is mirrored): each text, and each button as one
    item with its second line and state. The language buttons are left out: each names its
    language in that language, which this language's voice cannot read."""
    from kivy.uix.label import Label

    out: list[str] = []

    def visit(w: Widget) -> None:
        pid = getattr(w, "pp_id", "")
        if pid.startswith("lang_") or pid == "qr":
            return
        if isinstance(w, Btn):
            out.append(T.describe_control(tr, w.text, w.sub_text, w.style == "selected",
                                          not w.disabled and w.on_tap is not None))
            return
        if isinstance(w, Label) and w.text.strip():
            out.append(w.text.strip())
        for k in reversed(w.children):  # Kivy keeps children last-added first
            visit(k)

    visit(tree)
    return out


class Screens:
    """Builds the widget tree of the flow's current screen."""

    def __init__(self, app: "KioskApp") -> None:
        self.app = app
        self.reading: list[str] = []  # the last screen built, read out (read_out)

    def act(self, name: str, *args):
        return lambda: self.app.act(name, *args)

    def build(self, flow: F.Flow, look: Look, tr: Translator) -> Widget:
        builder = getattr(self, f"_s_{flow.screen}", None)
        if builder is None:
            builder = self._s_result if flow.screen in F.CHECKIN_RESULTS else self._s_start
        tree = builder(flow, look, tr)
        self.reading = read_out(tree, tr)
        return mirror(tree) if is_rtl(flow.lang) else tree

    # --- shared pieces ----------------------------------------------------------------------

    def _footer(self, look: Look, tr: Translator, back: bool = True, help_: bool = True,
                start: bool = False) -> BoxLayout:
        _ = tr.gettext
        ws = []
        if back:
            ws.append(Btn(look, _("Back"), self.act("back"), icon="back", kind="normal", pp_id="back"))
        if start:
            ws.append(Btn(look, _("Start over"), self.act("start_over"), icon="back", kind="normal",
                          pp_id="start_over"))
        if help_:
            ws.append(Btn(look, _("I need help"), self.act("need_help"), icon="help", kind="normal",
                          pp_id="help", sends=True))
        return _row(look, *ws)

    def _notices(self, flow: F.Flow, look: Look, tr: Translator) -> list[tuple[Widget, float]]:
        out = []
        if flow.prefs.speak and not has_voice(flow.lang):
            # Read aloud is on, but this language has no voice: the screen is read in English,
            # and the customer is told so here, in their own language.
            out.append((Notice(look, T.no_voice_text(tr), icon="warning", pp_id="notice_no_voice"), 0.6))
        if flow.hub_ok is False:
            out.append((Notice(look, T.hub_notice(tr), pp_id="notice_hub"), 0.6))
        if flow.printer_ok is False and flow.printer_reason != "not_configured":
            out.append((Notice(look, T.printer_notice(tr), icon="printer", pp_id="notice_printer"), 0.6))
        return out

    # --- start ------------------------------------------------------------------------------

    def _s_start(self, flow: F.Flow, look: Look, tr: Translator) -> Widget:
        _ = tr.gettext
        st = T.screen_text(flow, tr)
        walk_in = flow.walk_in_open
        info = [Txt(look, flow.site.label(flow.lang), "small", color=look.p.muted_text, pp_id="site"),
                *(_heading(look, st) if walk_in else _heading(look, st, "clock", "large", lead_bold=True))]
        # Closed: when it opens (the lead, above) and what can still be done here, in words.
        info += [Txt(look, line, "large", pp_id=f"line{i}") for i, line in enumerate(st.lines)]
        busy = flow.busy is not None
        main = [
            # While no number is offered, checking in is the usual next step.
            Btn(look, _("I have an appointment"), self.act("have_appointment"),
                sub=_("Check in with your booking code"), pp_id="appointment",
                style="normal" if walk_in else "primary", kind="large" if walk_in or not look.portrait else "title"),
            Btn(look, _("I need help"), self.act("need_help"), sub=_("A member of staff will come to you"),
                icon="help", pp_id="help", sends=True, disabled=busy),
        ]
        if walk_in:
            # No walk-in number while the service point is closed (or nothing is served any more
            # today): the button is left out, not greyed out.
            main.insert(0, Btn(look, _("Take a number"), self.act("take_number"),
                               sub=_("Choose the service and get a queue number"), style="primary",
                               pp_id="take_number", kind="title" if look.portrait else "large"))
        langs = []
        for lang in flow.languages:
            sel = lang == flow.lang
            langs.append(Btn(look, native_name(lang), self.act("set_language", lang), style="selected" if sel else "normal",
                             icon="check" if sel else None, kind="normal", pp_id=f"lang_{lang}"))
        toggles = []
        labels = {"large_text": _("Larger text"), "high_contrast": _("Stronger contrast"),
                  "low_layout": _("Buttons lower down"), "speak": _("Read aloud")}
        for pref in F.PREFS:
            on = getattr(flow.prefs, pref)
            toggles.append(Btn(look, labels[pref], self.act("toggle", pref), icon="check_on" if on else "check_off",
                               style="selected" if on else "normal", kind="normal", halign="left",
                               pp_id=f"toggle_{pref}"))
        lang_cols = 4 if look.portrait else 7
        tog_cols = 2 if look.portrait else 4
        lang_rows = math.ceil(len(langs) / lang_cols)
        tog_rows = math.ceil(len(toggles) / tog_cols)
        controls: list[tuple[Widget, float]] = []
        if look.portrait:
            weights = (1.35, 1.1, 1.1) if walk_in else (1.35, 1.1)
            controls += list(zip(main, weights))
        else:
            controls.append((_row(look, *main), 1.5))
        controls += [
            (Txt(look, _("Language"), "small", color=look.p.muted_text, fill=True, valign="bottom"), 0.3),
            (_grid(look, langs, lang_cols), 0.72 * lang_rows),
            (Txt(look, _("Easier to see and use"), "small", color=look.p.muted_text, fill=True, valign="bottom"), 0.3),
            (_grid(look, toggles, tog_cols), 0.72 * tog_rows),
        ]
        controls += self._notices(flow, look, tr)
        if walk_in:
            return frame(look, info, controls, 0.2 if look.portrait else 0.24)
        return frame(look, info, controls, 0.3 if look.portrait else 0.34)

    # --- services ---------------------------------------------------------------------------

    def service_pages(self, flow: F.Flow, look: Look) -> tuple[int, int, int]:
        """(rows, cols, pages) of the service grid for this look: as many rows as fit at a
        height that holds a name and a two-line description."""
        n = len(flow.services())
        cols = 2 if look.portrait else 3
        info_frac = max(0.16, 1.0 - LOW_FRACTION) if look.low else 0.16
        avail = (look.H - 2 * look.pad) * (1 - info_frac)
        row_min = look.target(look.line_h("normal") + look.line_h("small", 2) + look.pad)
        bar = look.target(look.line_h("normal") * 1.9)
        fixed = row_min * 1.0 + bar  # "I don't know" and the footer
        rows_all = math.ceil(n / cols)
        rows = int((avail - fixed) // (row_min + look.gap))
        if rows >= rows_all:
            return rows_all, cols, 1
        rows = max(1, int((avail - fixed - bar) // (row_min + look.gap)))
        return rows, cols, math.ceil(n / (rows * cols))

    def _s_services(self, flow: F.Flow, look: Look, tr: Translator) -> Widget:
        _ = tr.gettext
        st = T.screen_text(flow, tr)
        rows, cols, pages = self.service_pages(flow, look)
        page = min(flow.c.page, pages - 1)
        ids = flow.services()[page * rows * cols:(page + 1) * rows * cols]
        adv = flow.site.services[flow.general_advice]
        closed = T.closed_service_text(tr)
        if flow.service_open(adv.id):
            dont_know = Btn(look, _("I don't know which service"), self.act("dont_know"),
                            sub=adv.describe(flow.lang) or adv.label(flow.lang), icon="help", style="primary",
                            pp_id="dont_know")
        else:
            # General advice itself is closed for today: said so, and nothing to tap.
            dont_know = Btn(look, _("I don't know which service"), None,
                            sub=f"{adv.label(flow.lang)}: {closed}", icon="clock", style="closed",
                            pp_id="dont_know", disabled=True)
        buttons = []
        for sid in ids:
            s = flow.site.services[sid]
            if flow.service_open(sid):
                buttons.append(Btn(look, s.label(flow.lang), self.act("choose_service", sid),
                                   sub=s.describe(flow.lang), kind="normal", halign="left", pp_id=f"service_{sid}"))
            else:
                # No counter works for it any more today: a closed box with a clock, not a button.
                buttons.append(Btn(look, s.label(flow.lang), None, sub=closed, icon="clock", style="closed",
                                   kind="normal", halign="left", pp_id=f"service_{sid}", disabled=True))
        controls: list[tuple[Widget, float]] = [(dont_know, 1.0), (_grid(look, buttons, cols, rows), rows * 1.0)]
        if pages > 1:
            # A page button that cannot be used is left out, not greyed out (grey text is hard
            # to read and looks like a fault).
            prev = Btn(look, _("Previous"), self.act("page", -1, pages), icon="back", kind="normal",
                       pp_id="page_prev") if page > 0 else Widget()
            nxt = Btn(look, _("More services"), self.act("page", 1, pages), icon="next", kind="normal",
                      pp_id="page_next") if page < pages - 1 else Widget()
            where = Txt(look, _("Page {page} of {pages}").format(page=page + 1, pages=pages), "normal",
                        halign="center", valign="middle", fill=True)
            controls.append((_row(look, prev, where, nxt), 0.75))
        controls.append((self._footer(look, tr), 0.75))
        return frame(look, _heading(look, st), controls, 0.16)

    # --- needs ------------------------------------------------------------------------------

    def _s_needs(self, flow: F.Flow, look: Look, tr: Translator) -> Widget:
        _ = tr.gettext
        st = T.screen_text(flow, tr)
        n = flow.c.needs
        busy = flow.busy is not None
        if n.interpreter:
            name, own = T.language_label(n.interpreter, flow.lang, tr)
            interp_sub = _("Language: {language}").format(language=name + (f" ({own})" if own else ""))
        else:
            interp_sub = _("Tap to choose the language")
        opts = [
            Btn(look, _("Interpreter"), self.act("open_interpreter"), sub=interp_sub,
                icon="check_on" if n.interpreter else "check_off", style="selected" if n.interpreter else "normal",
                halign="left", pp_id="need_interpreter"),
            Btn(look, _("Hearing loop"), self.act("toggle_need", "hearing_loop"), sub=_("For hearing aids"),
                icon="check_on" if n.hearing_loop else "check_off", style="selected" if n.hearing_loop else "normal",
                halign="left", pp_id="need_hearing_loop"),
            Btn(look, _("Accessible room"), self.act("toggle_need", "accessible_room"),
                sub=_("No steps, room for a wheelchair"), icon="check_on" if n.accessible_room else "check_off",
                style="selected" if n.accessible_room else "normal", halign="left", pp_id="need_accessible_room"),
        ]
        get = Btn(look, _("Getting your number…") if busy else _("Get my number"), self.act("get_number"),
                  style="primary", kind="title" if look.portrait else "large", pp_id="get_number", sends=True,
                  disabled=busy)
        controls = [(o, 1.0) for o in opts] + [(spacer(), 0.15), (get, 1.25), (self._footer(look, tr), 0.75)]
        info = _heading(look, st) + [Txt(look, line, "large", bold=True, pp_id="service") for line in st.lines]
        return frame(look, info, controls, 0.28)

    def _s_interpreter(self, flow: F.Flow, look: Look, tr: Translator) -> Widget:
        _ = tr.gettext
        st = T.screen_text(flow, tr)
        cur = flow.c.needs.interpreter
        buttons = []
        for code in flow.settings.interpreter_languages:
            name, own = T.language_label(code, flow.lang, tr)
            buttons.append(Btn(look, name, self.act("choose_interpreter", code), sub=own or "",
                               style="selected" if code == cur else "normal", icon="check" if code == cur else None,
                               kind="normal", pp_id=f"interp_{code}"))
        buttons.append(Btn(look, _("No interpreter"), self.act("choose_interpreter", None), kind="normal",
                           pp_id="interp_none"))
        cols = 2 if look.portrait else 4
        rows = math.ceil(len(buttons) / cols)
        controls = [(_grid(look, buttons, cols), rows * 1.0), (self._footer(look, tr, help_=False), 0.8)]
        return frame(look, _heading(look, st), controls, 0.18)

    # --- appointment ------------------------------------------------------------------------

    def _s_appointment(self, flow: F.Flow, look: Look, tr: Translator) -> Widget:
        _ = tr.gettext
        st = T.screen_text(flow, tr)
        busy = flow.busy is not None
        code = flow.c.code
        shown = " ".join(code[i:i + 4] for i in range(0, len(code), 4)) if code else "_ _ _ _"
        box = Fill(look.p.background, outline=look.p.text, radius=8, orientation="horizontal",
                   padding=(look.pad, look.pad * 0.3), spacing=look.gap)
        box.add_widget(Txt(look, _("Booking code"), "normal", fill=True, valign="middle", size_hint_x=0.45))
        box.add_widget(Txt(look, shown, "title", bold=True, fill=True, valign="middle", halign="right",
                           pp_id="code", size_hint_x=0.55))
        keys = [Btn(look, d, self.act("key", d), kind="title", pp_id=f"key_{d}", disabled=busy) for d in "123456789"]
        keys += [Btn(look, _("Delete"), self.act("delete"), icon="back", kind="normal", pp_id="key_delete",
                     disabled=busy or not code),
                 Btn(look, "0", self.act("key", "0"), kind="title", pp_id="key_0", disabled=busy), Widget()]
        pad = _grid(look, keys, 3, 4)
        pad.keep_ltr = True  # 1 2 3 from the left in every language, as on a phone
        if not look.portrait:
            pad = _row(look, Widget(size_hint_x=0.5), pad, Widget(size_hint_x=0.5))
        # The button appears once a code could be one (3 digits): a button that does nothing
        # when tapped would look broken.
        check = Btn(look, _("Checking…") if busy else _("Check in"), self.act("check_in"), style="primary",
                    kind="title" if look.portrait else "large", pp_id="check_in", sends=True,
                    disabled=busy) if (busy or flow.can_check_in()) else Widget()
        controls = [(box, 0.8), (pad, 4 * 0.85), (check, 1.0), (self._footer(look, tr), 0.7)]
        info = _heading(look, st) + [Txt(look, line, "large", bold=True) for line in st.lines]
        return frame(look, info, controls, 0.2)

    # --- results of a check-in ---------------------------------------------------------------

    def _s_result(self, flow: F.Flow, look: Look, tr: Translator) -> Widget:
        _ = tr.gettext
        st = T.screen_text(flow, tr)
        s = flow.screen
        icon = {F.NOT_FOUND: "cross", F.OTHER_DAY: "clock", F.TOO_EARLY: "clock", F.TOO_LATE: "clock",
                F.ALREADY: "check", F.CANCELLED: "cross"}[s]
        info = _heading(look, st, icon, "large") + [Txt(look, line, "large", bold=i == 0, pp_id=f"line{i}")
                                                    for i, line in enumerate(st.lines)]
        buttons: list[Btn] = []
        walk_in = flow.walk_in_open  # no walk-in number offered while the service point is closed
        if s == F.NOT_FOUND:
            buttons = [Btn(look, _("Try again"), self.act("try_again"), style="primary", pp_id="try_again")]
            if walk_in:
                buttons.append(Btn(look, _("Take a number"), self.act("walk_in_instead"), pp_id="walk_in"))
        elif s == F.OTHER_DAY and walk_in:
            buttons = [Btn(look, _("Take a number now"), self.act("walk_in_instead"), pp_id="walk_in")]
        elif s == F.CANCELLED and walk_in:
            buttons = [Btn(look, _("Take a number now"), self.act("walk_in_instead"), pp_id="walk_in")]
        elif s == F.TOO_LATE and walk_in:
            buttons = [Btn(look, _("Get a number"), self.act("walk_in_instead"), style="primary", pp_id="walk_in")]
        buttons.append(Btn(look, _("Back to start"), self.act("start_over"), icon="back",
                           style="normal" if buttons else "primary", pp_id="start_over"))
        controls: list[tuple[Widget, float]] = [(spacer(), max(0.1, 3.0 - len(buttons)))]
        controls += [(b, 1.0) for b in buttons]
        controls.append((self._footer(look, tr, back=False), 0.75))
        return frame(look, info, controls, 0.45)

    # --- ticket -----------------------------------------------------------------------------

    def _s_ticket(self, flow: F.Flow, look: Look, tr: Translator) -> Widget:
        _ = tr.gettext
        t = flow.c.ticket
        if t is None:
            return self._s_start(flow, look, tr)
        st = T.screen_text(flow, tr)
        svc = flow.site.services.get(t.service)
        info: list[Widget] = [
            Txt(look, _("Your number"), "large", halign="center", pp_id="your_number"),
            Txt(look, t.number, "huge", bold=True, halign="center", pp_id="number", scale=1.3),
            Txt(look, svc.label(flow.lang) if svc else t.service, "title", bold=True, halign="center",
                pp_id="service"),
            spacer(look.gap),
        ]
        for i, line in enumerate(st.lines[1:]):
            info.append(Txt(look, line, "large", halign="center", pp_id=f"line{i}"))
        side = min(look.W * 0.34, look.H * 0.19)
        qr_row = BoxLayout(orientation="horizontal", size_hint_y=None, height=side, spacing=look.gap * 2)
        qr = QrView(t.qr_url, side)
        qr.pp_id = "qr"
        qr_row.add_widget(qr)
        qr_row.add_widget(Txt(look, _("Scan the code to follow your turn on your phone."), "large", fill=True,
                              valign="middle"))
        info.append(spacer(look.gap * 2))
        info.append(qr_row)
        status = flow.c.print_status
        if status == "failed":
            if flow.c.print_reason == "not_configured":
                words = _("Please take a photo of this screen or write down your number.")
            else:
                words = T.print_text(tr, status)
            pnote: Widget = Notice(look, words, icon="warning", pp_id="print_status", kind="large")
            pnote.size_hint_y = None
            pnote.height = look.line_h("large", 4) + look.pad
        else:
            pnote = _row(look, Icon("printer", look.p.text, look.font("large") * 1.3),
                         Txt(look, T.print_text(tr, status), "large", bold=True, fill=True, valign="middle",
                             pp_id="print_status"))
            pnote.size_hint_y = None
            pnote.height = look.font("large") * 1.6
        info.append(spacer(look.gap))
        info.append(pnote)
        buttons = []
        if (status == "failed" and flow.c.print_reason != "not_configured" and flow.printer_ok is not False
                or status == "printed"):
            # Offered once the printer can print again, not while it is known to be down.
            if flow.can_reprint(self.app.now()):
                buttons.append(Btn(look, _("Print again"), self.act("reprint"), icon="printer", pp_id="reprint"))
        buttons.append(Btn(look, _("Done"), self.act("done"), style="primary", icon="check", pp_id="done"))
        controls = [(_row(look, *buttons), 1.0)]
        return frame(look, info, controls, 0.88)

    # --- help, problem ----------------------------------------------------------------------

    def _s_help(self, flow: F.Flow, look: Look, tr: Translator) -> Widget:
        _ = tr.gettext
        st = T.screen_text(flow, tr)
        icon = "warning" if flow.c.help_state == "failed" else "help"
        info = _heading(look, st, icon, "large")
        controls = [(spacer(), 2.0), (Btn(look, _("Back to start"), self.act("start_over"), icon="back",
                                          pp_id="start_over"), 1.0)]
        return frame(look, info, controls, 0.6)

    def _s_problem(self, flow: F.Flow, look: Look, tr: Translator) -> Widget:
        _ = tr.gettext
        st = T.screen_text(flow, tr)
        info = _heading(look, st, "warning", "large")
        busy = flow.busy is not None
        controls: list[tuple[Widget, float]] = [(spacer(), 0.5)]
        if flow.c.retry is not None:
            controls.append((Btn(look, _("Trying again…") if busy else _("Try again"), self.act("retry"),
                                 style="primary", pp_id="retry", sends=True, disabled=busy), 1.0))
        controls += [(Btn(look, _("I need help"), self.act("need_help"), icon="help", pp_id="help", sends=True,
                          disabled=busy), 1.0),
                     (Btn(look, _("Back to start"), self.act("start_over"), icon="back", pp_id="start_over"), 1.0)]
        return frame(look, info, controls, 0.45)

    # --- the "more time?" prompt ---------------------------------------------------------------

    def idle_overlay(self, flow: F.Flow, look: Look, tr: Translator, seconds: int) -> Widget:
        _ = tr.gettext
        veil = Veil(look.p.background[:3] + (0.92,), orientation="vertical", padding=look.pad * 2)
        veil.pp_id = "idle_overlay"
        panel = Fill(look.p.button, outline=look.p.text, radius=12, orientation="vertical",
                     padding=look.pad * 1.5, spacing=look.gap * 1.5, size_hint_y=None)
        t1 = Txt(look, _("Do you need more time?"), "title", bold=True, color=look.p.button_text, halign="center")
        t2 = Txt(look, T.idle_text(tr, seconds), "large", color=look.p.button_text, halign="center",
                 pp_id="idle_seconds")
        more = Btn(look, _("Yes, I need more time"), self.act("more_time"), style="primary", kind="title",
                   pp_id="more_time", size_hint_y=None, height=look.target(look.font("title") * 2.4))
        texts = [t1, t2]
        if flow.prefs.speak and not has_voice(flow.lang):
            texts.append(Txt(look, T.no_voice_text(tr), "large", color=look.p.button_text, halign="center",
                             pp_id="idle_no_voice"))
        for w in (*texts, more):
            panel.add_widget(w)

        def fit(*_a):
            panel.height = (sum(t.height for t in texts) + more.height + look.pad * 3
                            + look.gap * 1.5 * len(texts))
        for w in texts:
            w.bind(height=fit)
        fit()
        if look.low:
            veil.add_widget(Widget())
            veil.add_widget(panel)
        else:
            veil.add_widget(Widget())
            veil.add_widget(panel)
            veil.add_widget(Widget())
        return veil
