"""The central web service (issue 14), for real: the `palvelupiste central web` process, a real
PostgreSQL with two simulated sites' October and November, and Debian's Chromium driven by
Playwright. Logging in per role, who may see what (403 otherwise), the numbers against the
views, CSV downloads, CSRF, the login throttle, and an axe-core scan of every page in fi, sv, en
(no violation at WCAG 2.1 A or AA). Screenshots go to test-output/web/."""
from __future__ import annotations

import csv
import io
import urllib.error
import urllib.request
from zoneinfo import ZoneInfo

import psycopg
import pytest

from central import accounts
from central.store import CentralStore
from tests.support.national import fill
from tests.support.web import WebService, log_in

PASSWORD = "correct horse battery staple"
USERS = {"nat": ("national", None), "reg": ("regional", "MK01"), "team-a": ("site", "site-a"),
         "tech": ("technician", None)}
HOME = {"nat": "/reports/nation", "reg": "/reports/region/MK01", "team-a": "/reports/site/site-a", "tech": "/fleet"}
PAGES = ["/reports/nation", "/reports/region/MK01", "/reports/site/site-a", "/reports/authority/kela",
         "/comments/site/site-a", "/fleet"]


#: comments sent through the ingest (which masks what looks personal) this month at site-a
COMMENTS = [(5, "Kiitos, nopea palvelu!"), (1, "<script>alert('x')</script> jonotin liian kauan"),
            (2, "Soittakaa minulle 040 123 4567"), (4, "Hyvä neuvonta"), (5, "Selkeät ohjeet")]


def send_comments(db) -> str:
    """Feedback with comments, as the terminal sends it; returns the month (now, local time)."""
    import datetime as _dt
    import json

    from bus import topics
    from central.ingest import Ingest
    from core.events import Event, now_ms

    t0 = now_ms() - 60_000
    events = [Event(id=f"cm{i:08d}", site="site-a", device="feedback-1", seq=10_000 + i, type="feedback.given",
                    ts=t0 + i, data={"response": f"c0ffee{i:02x}", "rev": 1, "rating": r, "scale": 5,
                                     "comment": text}).to_dict() for i, (r, text) in enumerate(COMMENTS)]
    # the terminal's first 9,999 events are not part of this test: the ack would wait for them
    res = Ingest(db).handle(topics.events("site-a", "feedback-1"),
                            json.dumps({"site": "site-a", "device": "feedback-1", "events": events}).encode())
    assert res.stored == len(COMMENTS), res
    return _dt.datetime.fromtimestamp(t0 / 1000, tz=ZoneInfo("Europe/Helsinki")).strftime("%Y-%m")


@pytest.fixture(scope="module")
def web(postgres, tmp_path_factory):
    dsn = postgres.fresh_database()
    with CentralStore(dsn) as db:
        fill(db, months=(10, 11))
        for name, (role, scope) in USERS.items():
            accounts.add_user(db.conn, name, role, PASSWORD, scope)
        month = send_comments(db)
        # a booking feed that fails, beside one that works (the fleet view's import health)
        db.conn.execute("INSERT INTO booking_feeds (feed, site, last_attempt_ms, last_ok_ms, imported, skipped, "
                        "error, failing_since_ms) VALUES ('kela-site-a', 'site-a', 2, 1, 120, 3, "
                        "'varaus.example: no complete answer within 20 s', 2), "
                        "('vero-site-b', 'site-b', 2, 2, 45, 0, NULL, NULL)")
        db.conn.commit()
    svc = WebService(dsn, tmp_path_factory.mktemp("web")).start()
    svc.comment_month = month  # type: ignore[attr-defined]
    yield svc
    svc.stop()


@pytest.fixture
def page(browser):
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    yield ctx.new_page()
    ctx.close()


def fetch(url: str, data: bytes | None = None, headers: dict | None = None):
    """(status, location, body) without following redirects."""
    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *a, **k):
            return None

    opener = urllib.request.build_opener(NoRedirect)
    try:
        r = opener.open(urllib.request.Request(url, data=data, headers=headers or {}), timeout=10)
        return r.status, r.headers.get("Location"), r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Location"), e.read()


def test_every_route_asks_for_a_login_first(web):
    for path in ["/", *PAGES, "/reports/site/site-a?csv=headline"]:
        status, location, _ = fetch(web.url + path)
        assert status == 303 and location.startswith("/login?next="), path


@pytest.mark.parametrize("name", list(USERS))
def test_each_role_lands_on_its_page(web, page, name, output_dir):
    log_in(page, web.url, name, PASSWORD)
    assert page.url == web.url + HOME[name]
    assert page.locator("h1").count() == 1
    shots = output_dir / "web"
    shots.mkdir(exist_ok=True)
    for lang in ("fi", "sv", "en"):
        page.goto(f"{web.url}{HOME[name]}?lang={lang}")
        assert page.locator("html").get_attribute("lang") == lang
        page.screenshot(path=str(shots / f"{name}-{lang}.png"), full_page=True)


def test_a_site_team_sees_its_site_only(web, page):
    log_in(page, web.url, "team-a", PASSWORD)
    for path in ("/reports/site/site-b", "/reports/site/site-b?csv=headline", "/reports/site/site-b?format=pdf",
                 "/comments/site/site-b", "/reports/region/MK19", "/reports/nation",
                 "/reports/authority/kela?csv=sites", "/fleet"):
        r = page.request.get(web.url + path, max_redirects=0)
        assert r.status == 403, path
    assert page.request.get(web.url + "/reports/site/site-a").status == 200


def test_a_regional_user_sees_its_region_and_its_sites(web, page):
    log_in(page, web.url, "reg", PASSWORD)
    assert page.request.get(web.url + "/reports/site/site-a").status == 200  # site-a is in MK01
    for path in ("/reports/site/site-b", "/reports/region/MK19", "/reports/nation", "/fleet"):
        assert page.request.get(web.url + path, max_redirects=0).status == 403, path


def test_a_technician_sees_the_fleet_and_no_report(web, page):
    log_in(page, web.url, "tech", PASSWORD)
    assert "site-a" in page.inner_text("main")
    feeds = page.inner_text("section[aria-labelledby=h-feeds]")
    assert "kela-site-a" in feeds and "varaus.example: no complete answer within 20 s" in feeds
    assert "vero-site-b" in feeds and "45" in feeds
    for path in PAGES[:-1]:
        assert page.request.get(web.url + path, max_redirects=0).status == 403, path


def test_the_report_shows_what_the_views_give(web, page):
    log_in(page, web.url, "nat", PASSWORD, "/reports/site/site-a?month=2026-11&lang=en")
    with psycopg.connect(web.dsn) as conn:
        tickets, median, prev = conn.execute(
            "SELECT m.tickets, m.waiting_median_min, p.tickets FROM monthly_site m JOIN monthly_site p "
            "ON p.site = m.site AND p.month = '2026-10' WHERE m.site = 'site-a' AND m.month = '2026-11'").fetchone()
    row = page.locator("table.figures tr", has=page.locator("th", has_text="Tickets")).first
    cells = row.locator("td").all_inner_texts()
    assert cells == [f"{tickets:,}", f"{prev:,}"]
    row = page.locator("table.figures tr", has=page.locator("th", has_text="Waiting time, median")).first
    assert row.locator("td").first.inner_text() == f"{median:.1f}"
    # Finnish: a decimal comma
    page.goto(web.url + "/reports/site/site-a?month=2026-11&lang=fi")
    row = page.locator("table.figures tr", has=page.locator("th", has_text="Odotusaika, mediaani")).first
    assert row.locator("td").first.inner_text() == f"{median:.1f}".replace(".", ",")


def test_tables_download_as_csv(web, page):
    log_in(page, web.url, "nat", PASSWORD)
    r = page.request.get(web.url + "/reports/nation?month=2026-11&csv=sites&lang=en")
    assert r.status == 200 and r.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(r.text().lstrip("\ufeff"))))
    assert rows[0][0] == "site" and {x[0] for x in rows[1:]} == {"site-a", "site-b"}
    with page.expect_download() as got:
        page.goto(web.url + "/reports/nation?month=2026-11&lang=en")
        page.click("text=Download the key figures (CSV)")
    assert got.value.suggested_filename == "nation-fi-2026-11-headline.csv"


def test_every_table_downloads(web, page):
    log_in(page, web.url, "nat", PASSWORD)
    for table in ("headline", "authorities", "regions", "sites", "outcomes", "transfers", "trend", "heat", "side"):
        r = page.request.get(f"{web.url}/reports/nation?month=2026-11&csv={table}&lang=en")
        rows = list(csv.reader(io.StringIO(r.text().lstrip("\ufeff"))))
        assert r.status == 200 and len(rows) >= 2, (table, rows[:3])
    # transfers from → to: the same total as the view
    r = page.request.get(f"{web.url}/reports/nation?month=2026-11&csv=transfers&lang=en")
    rows = list(csv.reader(io.StringIO(r.text().lstrip("\ufeff"))))
    with psycopg.connect(web.dsn) as conn:
        total = conn.execute("SELECT sum(n) FROM rollup_transfers WHERE month = '2026-11'").fetchone()[0]
    assert sum(int(x[2]) for x in rows[1:] if x[2].isdigit()) == total
    assert page.request.get(f"{web.url}/reports/nation?month=2026-11&csv=nothing").status == 404


def test_the_users_command(web, tmp_path):
    import json
    import subprocess
    import sys

    from tests.support.web import REPO

    pw = tmp_path / "pw"
    pw.write_text("a long enough password\n")

    def users(*args):
        return subprocess.run([sys.executable, "-m", "cli", "central", "users", *args, "--db", web.dsn], cwd=REPO,
                              capture_output=True, text=True)

    assert users("add", "kirsi", "--role", "regional", "--scope", "MK19", "--password-file", str(pw)).returncode == 0
    bad = users("add", "x1", "--role", "regional", "--password-file", str(pw))
    assert bad.returncode == 2 and "needs --scope" in bad.stderr
    listed = json.loads(users("list", "--json").stdout)
    assert {"name": "kirsi", "role": "regional", "scope": "MK19"}.items() <= \
        next(u for u in listed if u["name"] == "kirsi").items()
    assert "password" not in json.dumps(listed) and "argon2" not in json.dumps(listed)
    with psycopg.connect(web.dsn) as conn:
        assert accounts.authenticate(conn, "kirsi", "a long enough password", "test") is not None
        pw.write_text("another long password\n")
        assert users("reset", "kirsi", "--password-file", str(pw)).returncode == 0
        assert accounts.authenticate(conn, "kirsi", "a long enough password", "test") is None
        assert users("remove", "kirsi").returncode == 0
        assert accounts.authenticate(conn, "kirsi", "another long password", "test") is None
    assert users("remove", "kirsi").returncode == 2


def test_forms_need_their_csrf_token(web, page):
    status, _, _ = fetch(web.url + "/login", data=b"name=nat&password=" + PASSWORD.replace(" ", "+").encode(),
                         headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert status == 400  # no CSRF cookie, no token: not even checked
    log_in(page, web.url, "nat", PASSWORD)
    r = page.request.post(web.url + "/logout", form={"csrf": "forged"}, max_redirects=0)
    assert r.status == 403
    assert page.request.get(web.url + "/reports/nation").status == 200  # still logged in
    page.click("form.logout button")
    assert "/login" in page.url
    assert page.request.get(web.url + "/reports/nation", max_redirects=0).status == 303


def test_wrong_passwords_are_throttled(web, browser):
    with psycopg.connect(web.dsn, autocommit=True) as conn:
        accounts.add_user(conn, "victim", "site", PASSWORD, "site-b")
    ctx = browser.new_context()
    page = ctx.new_page()
    for _ in range(accounts.MAX_FAILURES_PER_NAME):
        log_in(page, web.url, "victim", "not the password at all")
        assert "Wrong user name or password" in page.inner_text("main") or "Väärä" in page.inner_text("main")
    log_in(page, web.url, "victim", PASSWORD)  # the right one, too late
    assert "/login" in page.url and page.locator(".error").count() == 1
    ctx.close()


@pytest.mark.parametrize("lang", ["fi", "sv", "en"])
def test_no_accessibility_violation_on_any_page(web, page, lang, output_dir):
    """Every page, in each language: axe-core finds nothing at WCAG 2.1 A and AA; a screenshot
    of each goes to test-output/web/pages/."""
    from axe_playwright_python.sync_playwright import Axe

    axe = Axe()
    options = {"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]},
               "resultTypes": ["violations"]}
    shots = output_dir / "web" / "pages"
    shots.mkdir(parents=True, exist_ok=True)
    page.goto(f"{web.url}/login?lang={lang}")
    found = {"/login": axe.run(page, options=options)}
    page.screenshot(path=str(shots / f"login-{lang}.png"), full_page=True)
    log_in(page, web.url, "nat", PASSWORD)
    for path in [*PAGES, "/reports/site/nowhere", "/sites/site-a/config"]:
        page.goto(f"{web.url}{path}?lang={lang}")
        found[path] = axe.run(page, options=options)
        page.screenshot(path=str(shots / f"{path.strip('/').replace('/', '-')}-{lang}.png"), full_page=True)
    bad = {p: r.generate_report() for p, r in found.items() if r.violations_count}
    assert not bad, bad


def test_comments_are_shown_escaped_masked_and_filtered(web, page):
    month = web.comment_month
    log_in(page, web.url, "team-a", PASSWORD, f"/comments/site/site-a?month={month}&lang=en")
    text = page.inner_text("table.comments")
    assert "<script>alert('x')</script> jonotin liian kauan" in text  # shown as text ...
    assert page.locator("table.comments script").count() == 0        # ... never as an element
    assert "040 123 4567" not in text                                  # masked by the ingest
    assert len(page.locator("table.comments tbody tr").all()) == len(COMMENTS)
    page.select_option("#face", "negative")
    page.click("form.choose button")
    rows = page.locator("table.comments tbody tr").all_inner_texts()
    assert len(rows) == 2 and all("Negative" in r for r in rows)
    assert page.request.get(f"{web.url}/comments/site/site-b?month={month}", max_redirects=0).status == 403


def test_the_report_has_its_charts_and_a_pdf(web, page, tmp_path, output_dir):
    import shutil
    import subprocess

    log_in(page, web.url, "nat", PASSWORD, "/reports/nation?month=2026-11&lang=fi")
    charts = page.locator("svg[role=img]")
    assert charts.count() >= 5  # per authority, region, site; the heat map; sites side by side; trends
    for i in range(charts.count()):
        assert charts.nth(i).get_attribute("aria-labelledby")
    r = page.request.get(web.url + "/reports/nation?month=2026-11&format=pdf&lang=fi")
    assert r.status == 200 and r.headers["content-type"] == "application/pdf" and r.body()[:5] == b"%PDF-"
    pdf = tmp_path / "nation.pdf"
    pdf.write_bytes(r.body())
    subprocess.run([shutil.which("pdftoppm") or "pdftoppm", "-png", "-r", "50", str(pdf), str(tmp_path / "p")],
                   check=True, timeout=60)
    pages = sorted(tmp_path.glob("p-*.png"))
    assert len(pages) >= 2
    shutil.copy(pages[0], output_dir / "web" / "nation-report-pdf-page1.png")
    text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    assert "Kuukausiraportti" in text and "Koko maa" in text
    assert page.request.get(web.url + "/reports/site/site-b?month=2026-11&format=pdf").status == 200
