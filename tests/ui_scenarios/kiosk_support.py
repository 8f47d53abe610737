"""What every kiosk UI scenario needs, inside the scenario's own process.

    env = KioskEnv(ctx, kiosk={"idle_s": 10})   # the real hub (hub.service) on the test's Mosquitto,
    app = ctx.start(env.app)                     # a printer emulator on a pseudo-terminal, and the
                                                 # kiosk built from a device TOML like on a device
    env.clock.advance(10)                        # the kiosk's idle time passes (SteppedClock)
The hub runs here, in a thread, with its own store and a clock set to 12:00 local time today (so
"too early" and "too late" work whatever time the tests run); Mosquitto is the parent's.

The site file is the example site open all day (tests/support/sites.py) unless `site_file` names
another; with real opening hours, `hub_at=(7, 50)` sets the hub's clock to that time of the next
regular working day (`working_day`), so the scenario sees the same hours whatever day it runs:

    env = KioskEnv(ctx, site_file=REAL_SITE, hub_at=(7, 50), appointments=[("808080", "kela", 10)])
"""
from __future__ import annotations

import datetime as dt
import json
import sqlite3
from pathlib import Path
from zoneinfo import ZoneInfo

from core.config import load_device, load_site
from core.events import now_ms
from tests.support.hubproc import EXAMPLE_SITE, write_device_config
from tests.support.kivy_driver import SteppedClock
from tests.support.pty_printer import PtyPrinter

MIN = 60_000
CODES = {  # per language, so the three rounds of a scenario do not meet each other's bookings
    "fi": {"ok": "100001", "early": "200001", "late": "300001", "other": "400001"},
    "sv": {"ok": "100002", "early": "200002", "late": "300002", "other": "400002"},
    "en": {"ok": "100003", "early": "200003", "late": "300003", "other": "400003"},
}
UNKNOWN_CODE = "999999"


def _toml(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{k} = {_toml(x)}" for k, x in v.items()) + " }"
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml(x) for x in v) + "]"
    return json.dumps(str(v), ensure_ascii=False)


class _Say:
    """A condition's description computed when it is shown (the driver formats it on timeout)."""

    def __init__(self, fn) -> None:
        self.fn = fn

    def __str__(self) -> str:
        return self.fn()

    __format__ = lambda self, spec: str(self)  # noqa: E731


def working_day(site) -> dt.date:
    """The first day from today (the site's date) on which the site keeps regular hours: open
    from 08:00 until 16:00 or later (no weekend, holiday or short day)."""
    from core.hours import site_span

    day = dt.datetime.now(ZoneInfo(site.timezone)).date()
    for _ in range(366):
        span = site_span(site, day)
        if span is not None and span[0] == dt.time(8, 0) and span[1] >= dt.time(16, 0):
            return day
        day += dt.timedelta(days=1)
    raise AssertionError("the site has no regular working day within a year")


def site_copy(path: Path, work: Path, counter_hours: dict[str, str]) -> Path:
    """A copy of the site file at `path` with planned hours for some counters (in `work`)."""
    import re

    text = Path(path).read_text(encoding="utf-8")
    for cid, hours in counter_hours.items():
        text, n = re.subn(rf'(\[\[counters\]\]\nid = "{cid}"\n(?:(?!\[).*\n)*?services = .*\n)',
                          rf'\1hours = "{hours}"\n', text)
        assert n == 1, f"counter {cid} not found in {path}"
    out = Path(work) / f"site-{Path(path).stem}-hours.toml"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    return out


class KioskEnv:
    def __init__(self, ctx, kiosk: dict | None = None, printer: bool = True, settle_s: float = 0.05,
                 tech_info=None, site_file: Path = EXAMPLE_SITE, hub_at: tuple[int, int] | None = None,
                 appointments: tuple[tuple[str, str, int], ...] = ()) -> None:
        """`hub_at`: the hub's clock at this local time of `working_day` (default: 12:00 today);
        `appointments`: more bookings (code, service, minutes after the hub's start time)."""
        self.ctx = ctx
        self.clock = SteppedClock()
        self.work = Path(ctx.workdir)
        self.port = int(ctx.params["broker_port"])
        self.site_file = Path(site_file)
        self.site = load_site(self.site_file)
        tz = ZoneInfo(self.site.timezone)
        if hub_at is None:
            start = dt.datetime.now(tz).replace(hour=12, minute=0, second=0, microsecond=0)
        else:
            start = dt.datetime.combine(working_day(self.site), dt.time(*hub_at), tzinfo=tz)
        self.shift = int(start.timestamp() * 1000) - now_ms()  # advance_hub() adds to it
        self.noon = int(start.timestamp() * 1000)  # the hub's start time (12:00 unless hub_at)
        # --- the hub ---------------------------------------------------------------------
        self.hub_dir = self.work / "hub"
        self.hub_config = write_device_config(self.hub_dir, self.port, heartbeat_s=2.0, site_config=self.site_file)
        self.hub_device = load_device(self.hub_config)
        appts = [{"code": code, "service": svc, "at_ms": self.noon + m * MIN} for code, svc, m in appointments]
        for lang, c in CODES.items():
            appts += [{"code": c["ok"], "service": "poliisi", "at_ms": self.noon + 5 * MIN},
                      {"code": c["early"], "service": "kela", "at_ms": self.noon + 180 * MIN},
                      {"code": c["late"], "service": "vero", "at_ms": self.noon - 30 * MIN},
                      {"code": c["other"], "service": "dvv", "at_ms": self.noon + 2 * 24 * 60 * MIN}]
        (self.hub_dir / "data" / "appointments.json").write_text(json.dumps(appts))
        self.hub = None
        self.start_hub()
        # --- the printer at the end of a pseudo-terminal ------------------------------------
        self.pty = PtyPrinter().start() if printer else None
        # --- the kiosk, from a device configuration -----------------------------------------
        k = {"idle_s": 30, "idle_warn_s": 8, "ticket_idle_s": 60, "hub_timeout_s": 2, "printer_poll_s": 0.5}
        k.update(kiosk or {})
        self.kiosk_dir = self.work / "kiosk"
        lines = ["[device]", 'id = "kiosk-1"', 'role = "kiosk"', 'site = "example-pp"',
                 f"site_config = {_toml(str(self.site_file))}", f"data_dir = {_toml(str(self.kiosk_dir))}", "",
                 "[site_broker]", f'url = "mqtt://127.0.0.1:{self.port}"', "", "[kiosk]"]
        lines += [f"{key} = {_toml(v)}" for key, v in k.items()]
        if self.pty is not None:
            lines += ["", "[printer]", f"url = {_toml(self.pty.url())}", "status_timeout = 0.3"]
        self.device_config = self.work / "kiosk.toml"
        self.device_config.write_text("\n".join(lines) + "\n", encoding="utf-8")
        # Kivy set up as `palvelupiste kiosk` sets it up (one input provider, no multisampling...),
        # before the kiosk's window exists.
        from cli.kiosk_cmd import kivy_settings
        from kiosk.app import build_from_device
        from kiosk.settings import kiosk_settings
        from uikit.launch import configure_kivy

        configure_kivy(kivy_settings(kiosk_settings(load_device(self.device_config))))
        self.app = build_from_device(self.device_config, speech_player=None, settle_s=settle_s, clock=self.clock,
                                     tech_info=tech_info)

    # --- hub ---------------------------------------------------------------------------------

    def hub_now(self) -> int:
        return now_ms() + self.shift

    def advance_hub(self, seconds: float) -> None:
        """Move the hub's clock on: time passes at the site without the scenario waiting for it."""
        self.shift += int(seconds * 1000)

    def start_hub(self) -> None:
        from hub.service import HubService

        self.hub = HubService(self.hub_device, self.site, clock=self.hub_now, appointments_poll_s=0.2,
                              link_kw={"min_backoff_s": 0.05, "max_backoff_s": 0.5}).start_in_thread()
        assert self.hub.wait_connected(10), "the hub did not connect to the broker"

    def stop_hub(self) -> None:
        self.hub.stop()

    def _events(self, path: Path, etype: str | None = None) -> list[tuple[str, dict]]:
        if not path.exists():
            return []
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            rows = conn.execute("SELECT type, data FROM events ORDER BY seq").fetchall()
        finally:
            conn.close()
        return [(t, json.loads(d)) for t, d in rows if etype is None or t == etype]

    def hub_events(self, etype: str | None = None) -> list[tuple[str, dict]]:
        return self._events(self.hub_dir / "data" / "events.sqlite", etype)

    def kiosk_events(self, etype: str | None = None) -> list[tuple[str, dict]]:
        return self._events(self.kiosk_dir / "events.sqlite", etype)

    def printer_status(self) -> dict:
        p = self.kiosk_dir / "printer-status.json"
        return json.loads(p.read_text()) if p.exists() else {}

    # --- scenario steps (generators: `yield from env.tap("take_number")`) ---------------------

    def rendered(self) -> bool:
        return self.app.settled()

    def has(self, pp_id: str) -> bool:
        try:
            self.ctx.find(self.app.root, pp_id)
            return True
        except AssertionError:
            return False

    def widget(self, pp_id: str):
        return self.ctx.find(self.app.root, pp_id)

    def tap(self, pp_id: str, double: bool = False):
        a = self.app
        yield self.ctx.until(lambda: self.rendered() and a.flow.ready(a.now()) and self.has(pp_id)
                             and not self.widget(pp_id).disabled,
                             _Say(lambda: f"'{pp_id}' ready on screen {a.flow.screen} (log {a.flow.log[-4:]}, "
                                          f"texts {a.all_texts()[:6]})"), timeout=10)
        self.ctx.tap(self.widget(pp_id), double=double)

    def screen(self, name: str, timeout: float = 10.0):
        yield self.ctx.until(lambda: self.app.flow.screen == name and self.rendered(),
                             f"screen {name} (now {self.app.flow.screen})", timeout=timeout)

    def shot(self, name: str):
        yield self.ctx.until(self.rendered, "rendered")
        yield self.ctx.frames(2)
        self.ctx.screenshot(f"kiosk-{name}")

    def type_code(self, code: str):
        for i, ch in enumerate(code, start=1):
            yield from self.tap(f"key_{ch}")
            yield self.ctx.until(lambda i=i: len(self.app.flow.c.code) == i, f"{i} digits typed")

    def scan(self, code: str):
        """The barcode reader types the code and Enter, wherever the customer is."""
        yield self.ctx.until(lambda: self.app.flow.busy is None, "nothing in flight")
        self.ctx.key(code + "\n")

    def save_jobs(self) -> None:
        out = self.work / "printed"
        out.mkdir(exist_ok=True)
        if self.pty is not None:
            for i, job in enumerate(self.pty.jobs(), start=1):
                (out / f"job-{i:03d}.bin").write_bytes(job)
