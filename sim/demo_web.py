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


def _month_back(today: Any, back: int) -> tuple[int, int]:
    n = today.year * 12 + today.month - 1 - back
    return n // 12, n % 12 + 1


class DemoWeb:
    def __init__(self, dsn: str, site: Site, site_text: str, logs: Path) -> None:
        self.dsn, self.site, self.site_text, self.logs = dsn, site, site_text, logs
        self.port = free_port()
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

        return [sys.executable, "-m", "cli", "central", "web", "--db", self.dsn, "--port", str(self.port)]

    def wait(self) -> bool:
        return wait_port(self.port, 30)

    def screenshots(self, out: Path) -> list[str]:
        """The national report, the site's report and the fleet view, as their users see them."""
        try:
            from playwright.sync_api import sync_playwright
        except ImportError:
            log.warning("playwright is not installed: no screenshots of the web pages")
            return []
        import shutil

        chromium = shutil.which("chromium") or "/usr/bin/chromium"
        if not Path(chromium).exists():
            log.warning("chromium is not installed: no screenshots of the web pages")
            return []
        shots = []
        pages = (("national", "/reports/nation", "web-national-report.png"),
                 ("site", f"/reports/site/{self.site.id}", "web-site-report.png"),
                 ("technician", "/fleet", "web-fleet.png"))
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium, args=[
                "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--no-first-run"])
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
