"""The demo's central web service: a login per role, an optional year of history, and, at the
end, screenshots of the national report, the site's report and the fleet view (headless
Chromium, when it is installed)."""
from __future__ import annotations

import logging
import secrets
from pathlib import Path
from typing import Any

from central import accounts
from central.store import CentralStore
from core.config import Site, loads_site
from sim.history import month_of_events
from sim.localnet import free_port, wait_port

log = logging.getLogger("demo.web")
#: the other service points of the history: (id, region, municipality, how busy)
OTHER_SITES = (("demo-espoo", "MK01", "Espoo", 1.4), ("demo-tampere", "MK06", "Tampere", 1.0),
               ("demo-oulu", "MK17", "Oulu", 0.8), ("demo-rovaniemi", "MK19", "Rovaniemi", 0.5))


CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]


def _chromium() -> str | None:
    import shutil

    try:
        import playwright  # noqa: F401
    except ImportError:
        log.warning("playwright is not installed: no screenshots of the web pages")
        return None
    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(chromium).exists():
        log.warning("chromium is not installed: no screenshots of the web pages")
        return None
    return chromium


def _month_back(today: Any, back: int) -> tuple[int, int]:
    n = today.year * 12 + today.month - 1 - back
    return n // 12, n % 12 + 1


class DemoWeb:
    def __init__(self, dsn: str, site: Site, site_text: str, logs: Path, *, port: int | None = None,
                 follow: tuple[str, Path] | None = None) -> None:
        """`follow`: the central broker's services' URL and the web user's password file, for the
        phone pages behind the tickets' QR codes."""
        self.dsn, self.site, self.site_text, self.logs = dsn, site, site_text, logs
        self.port = port or free_port()
        self.follow = follow
        self.logins: dict[str, tuple[str, str]] = {}  # role → (user, password)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def make_users(self) -> None:
        region = self.site.region or "MK01"
        with CentralStore(self.dsn) as db:
            for name, role, scope in (("national", "national", None), ("regional", "regional", region),
                                      ("site-team", "site", self.site.id), ("technician", "technician", None)):
                password = secrets.token_urlsafe(12)
                accounts.add_user(db.conn, name, role, password, scope)
                self.logins[role] = (name, password)

    def fill_history(self, months: int = 12) -> int:
        """A year of months before this one for the demo's site (under devices of their own) and
        four other service points; returns the events stored."""
        import datetime as _dt

        today = _dt.date.today()
        services = [s for s in self.site.services if s != "neuvonta"][:4] or list(self.site.services)
        n = 0
        with CentralStore(self.dsn) as db:
            others = []
            for sid, region, municipality, busy in OTHER_SITES:
                text = self.site_text.replace(f'id = "{self.site.id}"', f'id = "{sid}"', 1)
                text = text.replace('region = "MK01"', f'region = "{region}"', 1).replace(
                    'municipality = "Esimerkkikaupunki"', f'municipality = "{municipality}"', 1)
                db.begin()
                db.register_site(loads_site(text, sid), text)
                db.commit()
                others.append((sid, busy))
            for i, (sid, busy, suffix) in enumerate([(self.site.id, 1.0, "-archive"),
                                                     *((s, b, "") for s, b in others)]):
                seqs: dict[str, int] = {}
                for back in range(months, 0, -1):
                    year, month = _month_back(today, back)
                    events = month_of_events(sid, 1000 * i + back, month, seqs, year=year,
                                             services=(services[0], *services), busy=busy, device_suffix=suffix)
                    for k in range(0, len(events), 5000):
                        db.begin()
                        n += db.insert_events(events[k:k + 5000])
                        db.commit()
        return n

    def command(self) -> list[str]:
        import sys

        cmd = [sys.executable, "-m", "cli", "central", "web", "--db", self.dsn, "--port", str(self.port)]
        if self.follow is not None:
            cmd += ["--broker", self.follow[0], "--follow-password-file", str(self.follow[1])]
        return cmd

    def ticket_url(self) -> str:
        """What the kiosks put in the tickets' QR codes: this web service's phone page."""
        return f"{self.url}/t/{{site}}/{{token}}"

    def wait(self) -> bool:
        return wait_port(self.port, 30)

    def phone_screenshots(self, hub_store: Path, out: Path, stop: Any, timeout: float = 120.0) -> list[str]:
        """One customer's page at phone size (360 × 640): while waiting (with others ahead), and
        once a counter has called the ticket. Reads the hub's store for a waiting ticket's token
        (the QR code's), as the customer's phone would read the ticket."""
        import time
        import urllib.request

        from core.engine import QueueState
        from core.store import EventStore

        def waiting_token() -> str | None:
            if not hub_store.exists():
                return None
            store = EventStore(hub_store, self.site.id, "hub-1", check=False)
            try:
                st = QueueState(self.site).apply_all(store.iter_events())
            finally:
                store.close()
            best = [(st.position(t.id) or 0, t.token) for t in st.tickets.values()
                    if t.state == "waiting" and t.token and (st.position(t.id) or 0) >= 2]
            # The one nearest its turn that still has others ahead: it is called soonest.
            return min(best)[1] if best else None

        def page_state(url: str) -> str:
            try:
                with urllib.request.urlopen(url, timeout=5) as r:
                    html = r.read().decode()
            except OSError:
                return "none"
            return "called" if 'class="called"' in html else "waiting" if 'class="waiting' in html else "other"

        deadline = time.monotonic() + timeout
        url = None
        while url is None or page_state(url) != "waiting":
            if stop.is_set() or time.monotonic() > deadline:
                return []
            tok = waiting_token()
            url = f"{self.url}/t/{self.site.id}/{tok}" if tok else None
            stop.wait(1.0)
        shots = self._phone_shot(url, out, "phone-waiting.png")
        while page_state(url) != "called":
            if stop.is_set() or time.monotonic() > deadline:
                log.warning("the demo's customer was not called in time: no 'called' phone screenshot")
                return shots
            stop.wait(1.0)
        return shots + self._phone_shot(url, out, "phone-called.png")

    def _phone_shot(self, url: str, out: Path, name: str) -> list[str]:
        chromium = _chromium()
        if chromium is None:
            return []
        from playwright.sync_api import sync_playwright

        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
            ctx = browser.new_context(viewport={"width": 360, "height": 640}, is_mobile=True, has_touch=True)
            page = ctx.new_page()
            page.goto(url)
            page.screenshot(path=str(out / name), full_page=True)
            browser.close()
        return [name]

    def screenshots(self, out: Path) -> list[str]:
        """The national report, the site's report and the fleet view, as their users see them."""
        try:
            from playwright.sync_api import sync_playwright
        except ImportError:
            log.warning("playwright is not installed: no screenshots of the web pages")
            return []
        chromium = _chromium()
        if chromium is None:
            return []
        shots = []
        pages = (("national", "/reports/nation", "web-national-report.png"),
                 ("site", f"/reports/site/{self.site.id}", "web-site-report.png"),
                 ("technician", "/fleet", "web-fleet.png"))
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
            for role, path, name in pages:
                ctx = browser.new_context(viewport={"width": 1280, "height": 900})
                page = ctx.new_page()
                user, password = self.logins[role]
                page.goto(f"{self.url}/login?next={path}&lang=en")
                page.fill("#name", user)
                page.fill("#password", password)
                page.click("form.login button[type=submit]")
                page.wait_for_load_state()
                page.screenshot(path=str(out / name), full_page=True)
                shots.append(name)
                ctx.close()
            browser.close()
        return shots
