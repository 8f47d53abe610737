import atexit
import os
import shutil
import tempfile
from pathlib import Path

import pytest

# Kivy must not read pytest's argv nor write into the user's home.
os.environ.setdefault("KIVY_NO_ARGS", "1")
os.environ.setdefault("KIVY_NO_CONSOLELOG", "1")
if "KIVY_HOME" not in os.environ:
    # made once per run (and removed at its end: hundreds were left in /tmp before)
    os.environ["KIVY_HOME"] = tempfile.mkdtemp(prefix="kivy-home-")
    atexit.register(shutil.rmtree, os.environ["KIVY_HOME"], ignore_errors=True)

REPO = Path(__file__).resolve().parent.parent
#: Screenshots and other artefacts a test run leaves for people to look at.
OUTPUT = Path(os.environ.get("PALVELUPISTE_TEST_OUTPUT", REPO / "test-output"))


def pytest_sessionstart(session):
    from core.i18n import compile_all

    compile_all()


@pytest.fixture
def broker(tmp_path):
    """A fresh anonymous Mosquitto on a free port (for tests about things other than auth)."""
    from tests.support.broker import MosquittoBroker

    b = MosquittoBroker(tmp_path / "broker").start()
    yield b
    b.stop()


@pytest.fixture
def clients(broker):
    """`clients(device)`: a started HubClient of the example site on `broker`, closed after the test."""
    from bus.hubclient import HubClient

    made = []

    def make(device: str) -> HubClient:
        c = HubClient(broker.url, "example-pp", device, min_backoff_s=0.05, max_backoff_s=0.5).start()
        made.append(c)
        return c

    yield make
    for c in made:
        c.close()


@pytest.fixture(scope="session")
def output_dir() -> Path:
    OUTPUT.mkdir(parents=True, exist_ok=True)
    return OUTPUT


@pytest.fixture(scope="session")
def example_site():
    from core.config import load_site
    from tests.support.sites import EXAMPLE_SITE  # open all day: the tests run at any hour

    return load_site(EXAMPLE_SITE)


@pytest.fixture(scope="session")
def postgres():
    """One PostgreSQL cluster for the run (tests/support/postgres.py); each test takes
    `postgres.fresh_database()`."""
    from sim.postgres import PostgresCluster

    with PostgresCluster() as cluster:
        yield cluster


@pytest.fixture
def central_dsn(postgres):
    """A fresh, empty central database (its schema is made by the first store that opens it)."""
    return postgres.fresh_database()


@pytest.fixture
def fake_bin(tmp_path):
    """A `palvelupiste` executable for units' ExecStart (systemd-analyze verify wants one)."""
    b = tmp_path / "bin" / "palvelupiste"
    b.parent.mkdir()
    b.write_text("#!/bin/sh\nexit 0\n")
    b.chmod(0o755)
    return b


@pytest.fixture(scope="module")
def browser():
    """Debian's Chromium, headless, driven by Playwright (tests/support/web.py), one per module."""
    from playwright.sync_api import sync_playwright

    from tests.support.web import launch_browser

    with sync_playwright() as p:
        b = launch_browser(p)
        yield b
        b.close()
