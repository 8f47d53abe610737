"""A site's configuration uploaded from the web (issue 14, part 6): checked whole as check-config
does, every problem shown with its line, and a good file published retained to the site over a
real central Mosquitto, as `central publish-config` does; nothing is sent from a bad file."""
from __future__ import annotations

import pytest

from bus import topics
from bus.retained import fetch_retained
from central import accounts
from central.store import CentralStore
from core.config import Broker
from tests.support.national import site_text
from tests.support.syncproc import Central
from tests.support.web import WebService, launch_browser, log_in

PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="module")
def setup(postgres, tmp_path_factory):
    dsn = postgres.fresh_database()
    with CentralStore(dsn) as db:
        accounts.add_user(db.conn, "nat", "national", PASSWORD)
        accounts.add_user(db.conn, "team-a", "site", PASSWORD, "site-a")
        accounts.add_user(db.conn, "team-b", "site", PASSWORD, "site-b")
    work = tmp_path_factory.mktemp("webcfg")
    central = Central(work / "central", ["hub-1"], site="site-a", pg_dsn=dsn).start()
    web = WebService(dsn, work, ["--broker", central.url, "--username", "publisher",
                                 "--password-file", central.pwfile("publisher")]).start()
    broker = Broker(url=central.url, username="publisher", password_file=central.pwfile("publisher"))
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = launch_browser(p)
        yield web, broker, browser, work
        browser.close()
    web.stop()
    central.stop_all()


def upload(page, web, site, path):
    page.goto(f"{web.url}/sites/{site}/config?lang=en")
    page.set_input_files("#file", str(path))
    page.click("form[enctype] button[type=submit]")


def test_a_good_file_is_published_and_a_bad_one_is_not(setup):
    web, broker, browser, work = setup
    page = browser.new_context().new_page()
    log_in(page, web.url, "team-a", PASSWORD)
    good = work / "site-a.toml"
    good.write_text(site_text("site-a"), encoding="utf-8")
    upload(page, web, "site-a", good)
    assert "valid and was sent to the site" in page.inner_text("main")
    assert fetch_retained(broker, topics.config("site-a")) == good.read_bytes()
    # A file with two problems: both named with their lines, nothing sent.
    text = site_text("site-a").replace('region = "MK01"', 'region = "MK99"', 1)
    text = text.replace("target_wait_min = 30", 'target_wait_min = "soon"', 1)
    bad = work / "bad.toml"
    bad.write_text(text, encoding="utf-8")
    upload(page, web, "site-a", bad)
    rows = page.locator("table.problems tbody tr").all_inner_texts()
    assert len(rows) == 2, rows
    lines = text.splitlines()
    for row in rows:
        line = int(row.split("\t")[0])
        assert "MK99" in lines[line - 1] or '"soon"' in lines[line - 1], (row, lines[line - 1])
    assert fetch_retained(broker, topics.config("site-a")) == good.read_bytes()  # the good one stays
    # Not even TOML: the line of the syntax error.
    broken = work / "broken.toml"
    broken.write_text('[site]\nid = "site-a"\nname = {fi = "x"\n', encoding="utf-8")
    upload(page, web, "site-a", broken)
    assert page.locator("table.problems tbody tr").first.inner_text().startswith("3")
    # Another site's file, or another site: refused.
    other = work / "other.toml"
    other.write_text(site_text("site-b"), encoding="utf-8")
    upload(page, web, "site-a", other)
    assert "not site-a" in page.inner_text("table.problems")
    assert page.request.get(f"{web.url}/sites/site-b/config", max_redirects=0).status == 403
    r = page.request.post(f"{web.url}/sites/site-a/config", multipart={"csrf": "forged", "text": "x"},
                          max_redirects=0)
    assert r.status == 403


def test_the_upload_page_is_accessible(setup):
    from axe_playwright_python.sync_playwright import Axe

    web, _broker, browser, work = setup
    page = browser.new_context().new_page()
    log_in(page, web.url, "nat", PASSWORD)
    bad = work / "bad2.toml"
    bad.write_text(site_text("site-a").replace('region = "MK01"', 'region = "MK99"', 1), encoding="utf-8")
    for lang in ("fi", "sv", "en"):
        page.goto(f"{web.url}/sites/site-a/config?lang={lang}")
        page.set_input_files("#file", str(bad))
        page.click("form[enctype] button[type=submit]")
        result = Axe().run(page, options={"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a",
                                                                                "wcag21aa"]}})
        assert result.violations_count == 0, result.generate_report()
