"""The central web service for tests: the real `palvelupiste central web` process against a real
PostgreSQL, and a real headless Chromium (Debian's) driven by Playwright."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from sim.localnet import free_port, wait_port

REPO = Path(__file__).resolve().parent.parent.parent
CHROMIUM = "/usr/bin/chromium"
#: Chromium as root in a container, with nothing reaching out to the internet
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


class WebService:
    def __init__(self, dsn: str, log_dir: Path, extra: list[str] | None = None) -> None:
        self.dsn, self.port = dsn, free_port()
        self.extra = extra or []  # more `central web` options (e.g. --broker …)
        self.log = log_dir / "web.log"
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "WebService":
        self.proc = subprocess.Popen([sys.executable, "-m", "cli", "central", "web", "--db", self.dsn,
                                      "--port", str(self.port), *self.extra], cwd=REPO, stdout=self.log.open("wb"),
                                     stderr=subprocess.STDOUT)
        if not wait_port(self.port, 30):
            raise RuntimeError(f"the web service did not start: {self.log.read_text()[-2000:]}")
        return self

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
            self.proc = None


def launch_browser(playwright):
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


def log_in(page, base: str, name: str, password: str, path: str = "/") -> None:
    page.goto(base + path)
    page.fill("#name", name)
    page.fill("#password", password)
    page.click("form.login button[type=submit]")
