"""The page behind a ticket's QR code (issue 15), the centre's half: the real `central web` process
with its follow link to a real Mosquitto (standing in for the central broker: the tests publish what
a site's bridge would), a real PostgreSQL holding the site's configuration, and Debian's Chromium.

What a page shows for each state, in the ticket's language; live updates without a reload; the same
"not found" for a guessed, an expired and another site's token, with no telling timing; "I'm not
coming" sent once and only for a waiting ticket; the link-down notice; the weight of the page; an
axe-core scan; screenshots at 360 × 640 in fi, sv, en and ru (test-output/phone/)."""
from __future__ import annotations

import datetime as _dt
import json
import secrets
import statistics
import time
import urllib.error
import urllib.request
from zoneinfo import ZoneInfo

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from bus import topics
from central.follow import FollowBoard
from central.store import CentralStore
from core.config import loads_site
from core.follow import follow_key, snapshot_bytes
from tests.support.broker import MosquittoBroker
from tests.support.national import site_text
from tests.support.wait import wait_until
from tests.support.web import WebService

SITE = "site-a"
TZ = ZoneInfo("Europe/Helsinki")
PHONE = {"width": 360, "height": 640}


def today(offset: int = 0) -> str:
    return (_dt.datetime.now(TZ).date() + _dt.timedelta(days=offset)).isoformat()


def token() -> str:
    return secrets.token_urlsafe(12)


class Central:
    """The test's own client on the broker: publishes as the site's bridge would, hears the cancels."""

    def __init__(self, port: int) -> None:
        self.cancels: list[dict] = []
        self.c = paho.Client(callback_api_version=CallbackAPIVersion.VERSION2, client_id="test-bridge",
                             protocol=paho.MQTTv5)
        self.c.on_message = lambda c, u, m: self.cancels.append(json.loads(m.payload))
        self.c.connect("127.0.0.1", port)
        self.c.subscribe(topics.follow_cancel(SITE), qos=1)
        self.c.loop_start()

    def snapshot(self, tickets: dict[str, dict], day: str | None = None, site: str = SITE) -> None:
        now = int(time.time() * 1000)
        self.c.publish(topics.follow(site), snapshot_bytes(site, day or today(), now, tickets), qos=1,
                       retain=True).wait_for_publish(5)

    def bridge(self, up: bool) -> None:
        self.c.publish(topics.bridge_state(SITE), b"1" if up else b"0", qos=1, retain=True).wait_for_publish(5)

    def close(self) -> None:
        self.c.loop_stop()
        self.c.disconnect()


@pytest.fixture(scope="module")
def setup(postgres, tmp_path_factory):
    work = tmp_path_factory.mktemp("follow")
    dsn = postgres.fresh_database()
    with CentralStore(dsn) as db:
        for site in (SITE, "site-b"):
            db.begin()
            db.register_site(loads_site(site_text(site)), site_text(site))
            db.commit()
    broker = MosquittoBroker(work / "broker").start()
    pw = work / "web.password"
    pw.write_text("secret\n")
    central = Central(broker.port)
    web = WebService(dsn, work, ["--broker", f"mqtt://127.0.0.1:{broker.port}", "--follow-password-file",
                                 str(pw)]).start()
    yield web, central
    web.stop()
    central.close()
    broker.stop()


def get(url: str, data: bytes | None = None, headers: dict | None = None) -> tuple[int, str]:
    req = urllib.request.Request(url, data=data, headers=headers or {})
    opener = urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(req, timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *a, **kw):  # type: ignore[no-untyped-def]
        return None


def shown(web, central, tickets: dict[str, dict], tok: str, **kw) -> None:
    """Publish a snapshot and wait until the web service serves it for `tok`."""
    central.snapshot(tickets, **kw)
    want = tickets[follow_key(tok)]["n"]
    wait_until(lambda: want in get(f"{web.url}/t/{SITE}/{tok}")[1] and
               get(f"{web.url}/t/{SITE}/{tok}")[0] == 200, 10, f"the page of {want}")


@pytest.fixture
def phone(browser):
    ctx = browser.new_context(viewport=PHONE, device_scale_factor=1, is_mobile=True, has_touch=True)
    page = ctx.new_page()
    yield page
    ctx.close()


def test_the_board_keeps_todays_tickets_of_a_site_only():
    board = FollowBoard(clock=lambda: 1000)
    a, b = token(), token()
    assert board.snapshot(SITE, snapshot_bytes(SITE, "2026-12-03", 5, {follow_key(a): {"n": "K1", "s": "kela",
                                                                                        "st": "waiting"}}))
    assert board.find(SITE, a, "2026-12-03").ticket["n"] == "K1"
    assert board.find(SITE, a, "2026-12-04") is None          # yesterday's ticket
    assert board.find("site-b", a, "2026-12-03") is None      # another site's
    assert board.find(SITE, b, "2026-12-03") is None          # a guess
    assert board.find(SITE, "../../etc", "2026-12-03") is None
    # a broken snapshot (another site's name, bad JSON, a malformed ticket) replaces nothing
    assert not board.snapshot(SITE, snapshot_bytes("site-b", "2026-12-03", 6, {}))
    assert not board.snapshot(SITE, b"{not json")
    assert not board.snapshot(SITE, snapshot_bytes(SITE, "2026-12-03", 7, {follow_key(b): {"n": "K2"}}))
    assert board.find(SITE, a, "2026-12-03") is not None and board.refused == 3
    board.bridge(SITE, b"0")
    assert board.find(SITE, a, "2026-12-03").link_down


def test_a_waiting_ticket_then_called_without_a_reload(setup, phone, output_dir):
    web, central = setup
    mine, other = token(), token()
    tickets = {follow_key(mine): {"n": "K012", "s": "kela", "st": "waiting", "a": 4, "e": [600, 900], "l": "sv"},
               follow_key(other): {"n": "K011", "s": "kela", "st": "waiting", "a": 3, "e": [540, 800], "l": "fi"}}
    shown(web, central, tickets, mine)
    phone.goto(f"{web.url}/t/{SITE}/{mine}")
    body = phone.inner_text("main")
    assert "K012" in body and "K011" not in body          # only this ticket
    assert phone.get_attribute("html", "lang") == "sv"      # the language the ticket was taken in
    assert "4 kunder före dig" in body and "10–15 min" in body
    # The counter calls it: the open page shows where to go, by itself.
    tickets[follow_key(mine)] = {"n": "K012", "s": "kela", "st": "called", "c": "2", "ct": 1, "l": "sv"}
    central.snapshot(tickets)
    phone.wait_for_selector(".called", timeout=5000)
    assert "Lucka 2" in phone.inner_text(".called")        # the counter's name in the ticket's language


def test_not_found_is_the_same_for_a_guess_yesterday_and_another_site(setup):
    web, central = setup
    todays, old = token(), token()
    central.snapshot({follow_key(old): {"n": "P001", "s": "poliisi", "st": "waiting", "a": 0, "l": "fi"}},
                     day=today(-1), site="site-b")
    shown(web, central, {follow_key(todays): {"n": "K020", "s": "kela", "st": "waiting", "a": 1, "l": "fi"}}, todays)
    urls = {"guessed": f"{web.url}/t/{SITE}/{token()}", "yesterday's": f"{web.url}/t/site-b/{old}",
            "another site's": f"{web.url}/t/site-b/{todays}", "no such site": f"{web.url}/t/nowhere/{todays}"}
    answers = {name: get(url) for name, url in urls.items()}
    assert {s for s, _ in answers.values()} == {404}
    # The same page (its language links lead back to the address asked, whatever it was).
    same = {body.replace(urls[name].removeprefix(web.url), "PATH") for name, (_, body) in answers.items()}
    assert len(same) == 1, "every 'not found' page is the same page"
    # No timing that tells them apart: the medians of 40 requests each lie within 5 ms.
    times: dict[str, list[float]] = {name: [] for name in urls}
    for _ in range(40):
        for name, url in urls.items():
            t0 = time.perf_counter()
            get(url)
            times[name].append(time.perf_counter() - t0)
    medians = [statistics.median(v) for v in times.values()]
    assert max(medians) - min(medians) < 0.005, dict(zip(urls, medians))


def test_im_not_coming_is_sent_once(setup, phone):
    web, central = setup
    mine = token()
    key = follow_key(mine)
    tickets = {key: {"n": "K030", "s": "kela", "st": "waiting", "a": 2, "e": [300, 420], "l": "en"}}
    shown(web, central, tickets, mine)
    before = len(central.cancels)
    phone.goto(f"{web.url}/t/{SITE}/{mine}")
    phone.click("text=I'm not coming")
    phone.click("button.danger")
    phone.wait_for_url(f"**/t/{SITE}/{mine}?lang=en")
    assert "Cancelling" in phone.inner_text("#live")
    wait_until(lambda: len(central.cancels) == before + 1, 5, "the cancel on the broker")
    assert central.cancels[-1]["key"] == key and "token" not in json.dumps(central.cancels[-1])
    # A second press, and a replay from another address: nothing more is sent.
    assert get(f"{web.url}/t/{SITE}/{mine}/cancel", b"")[0] == 303
    assert get(f"{web.url}/t/{SITE}/{mine}/cancel", b"", {"X-Forwarded-For": "203.0.113.9"})[0] == 303
    # A forged token: not found, nothing sent.
    assert get(f"{web.url}/t/{SITE}/{token()}/cancel", b"")[0] == 404
    # A marker: another ticket's cancel. The link keeps order, so one sent wrongly above would
    # have arrived before it.
    marker = token()
    tickets[follow_key(marker)] = {"n": "K031", "s": "kela", "st": "waiting", "a": 3, "l": "en"}
    shown(web, central, tickets, marker)
    assert get(f"{web.url}/t/{SITE}/{marker}/cancel", b"")[0] == 303
    wait_until(lambda: len(central.cancels) == before + 2, 5, "the marker's cancel")
    assert [c["key"] for c in central.cancels[before:]] == [key, follow_key(marker)]
    # The hub's answer: cancelled by the customer.
    tickets[key] = {"n": "K030", "s": "kela", "st": "cancelled", "x": True, "l": "en"}
    central.snapshot(tickets)
    phone.wait_for_selector("text=You cancelled this ticket", timeout=5000)
    assert phone.locator("text=I'm not coming").count() == 0 or "Cancel" not in phone.inner_text("#live")


def test_cancels_are_rate_limited_per_address(setup):
    web, central = setup
    mine = token()
    shown(web, central, {follow_key(mine): {"n": "K040", "s": "kela", "st": "waiting", "a": 5, "l": "fi"}}, mine)
    hdr = {"X-Forwarded-For": "198.51.100.7"}
    for _ in range(20):
        get(f"{web.url}/t/{SITE}/{token()}/cancel", b"", hdr)  # guessing
    status, body = get(f"{web.url}/t/{SITE}/{mine}/cancel", b"", hdr)
    assert status == 429
    # From another address the customer's own press still works.
    assert get(f"{web.url}/t/{SITE}/{mine}/cancel", b"", {"X-Forwarded-For": "198.51.100.8"})[0] == 303


def test_the_link_down_notice_and_catching_up(setup, phone):
    web, central = setup
    mine = token()
    tickets = {follow_key(mine): {"n": "K050", "s": "kela", "st": "waiting", "a": 6, "e": [900, 1500], "l": "fi"}}
    shown(web, central, tickets, mine)
    phone.goto(f"{web.url}/t/{SITE}/{mine}")
    central.bridge(False)
    phone.wait_for_selector(".down", timeout=5000)
    assert "yhteys" in phone.inner_text(".down")
    central.bridge(True)
    tickets[follow_key(mine)]["a"] = 2
    central.snapshot(tickets)
    phone.wait_for_selector(".down", state="detached", timeout=5000)
    assert "2 asiakasta" in phone.inner_text("#live")


def test_the_page_weighs_under_30_kb_and_works_without_javascript(setup, browser):
    web, central = setup
    mine = token()
    shown(web, central, {follow_key(mine): {"n": "K060", "s": "kela", "st": "waiting", "a": 3, "e": [600, 900],
                                            "l": "fi"}}, mine)
    ctx = browser.new_context(viewport=PHONE)
    page = ctx.new_page()
    responses: list = []
    page.on("response", lambda r: responses.append(r))
    page.goto(f"{web.url}/t/{SITE}/{mine}", wait_until="load")
    # everything but the event stream, which stays open
    sizes = {r.url: len(r.body()) for r in responses if "/live" not in r.url}
    ctx.close()
    assert any(u.endswith(".js") for u in sizes) and any(u.endswith(".css") for u in sizes)
    assert sum(sizes.values()) < 30_720, sizes
    nojs = browser.new_context(viewport=PHONE, java_script_enabled=False)
    page = nojs.new_page()
    page.goto(f"{web.url}/t/{SITE}/{mine}")
    assert "K060" in page.inner_text("main") and "30" in page.inner_text(".note")
    assert page.locator("#remind").is_hidden()  # the reminder needs the script: not offered without it
    nojs.close()


STATES = {
    "waiting": {"st": "waiting", "a": 7, "e": [1200, 1800]},
    "almost": {"st": "waiting", "a": 1, "e": [120, 300]},
    "called": {"st": "called", "c": "3", "ct": 1},
    "cancelled": {"st": "cancelled", "x": True},
}


@pytest.mark.parametrize("lang", ["fi", "sv", "en", "ru"])
def test_every_state_passes_axe_and_is_photographed(setup, phone, lang, output_dir):
    from axe_playwright_python.sync_playwright import Axe

    web, central = setup
    axe = Axe()
    options = {"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]},
               "resultTypes": ["violations"]}
    shots = output_dir / "phone"
    shots.mkdir(parents=True, exist_ok=True)
    toks = {name: token() for name in STATES}
    tickets = {follow_key(toks[name]): {"n": f"P{i:03d}", "s": "poliisi", "l": lang, **st}
               for i, (name, st) in enumerate(STATES.items())}
    shown(web, central, tickets, toks["waiting"])
    found = {}
    for name in STATES:
        phone.goto(f"{web.url}/t/{SITE}/{toks[name]}?lang={lang}")
        found[name] = axe.run(phone, options=options)
        phone.screenshot(path=str(shots / f"{name}-{lang}.png"), full_page=True)
    phone.goto(f"{web.url}/t/{SITE}/{token()}?lang={lang}")
    found["not-found"] = axe.run(phone, options=options)
    phone.screenshot(path=str(shots / f"not-found-{lang}.png"), full_page=True)
    phone.goto(f"{web.url}/t/{SITE}/{toks['waiting']}/cancel?lang={lang}")
    found["cancel"] = axe.run(phone, options=options)
    central.bridge(False)
    phone.goto(f"{web.url}/t/{SITE}/{toks['waiting']}?lang={lang}")
    phone.wait_for_selector(".down")
    found["link-down"] = axe.run(phone, options=options)
    phone.screenshot(path=str(shots / f"link-down-{lang}.png"), full_page=True)
    central.bridge(True)
    bad = {p: r.generate_report() for p, r in found.items() if r.violations_count}
    assert not bad, bad


def test_many_open_pages_hear_one_change(setup, browser):
    """Ten phones open on one site; one snapshot wakes them all (each shows its own ticket). Each
    phone is its own browser context: a browser keeps at most six connections to one host, and an
    open page holds one for its event stream."""
    web, central = setup
    toks = [token() for _ in range(10)]
    tickets = {follow_key(t): {"n": f"N{i:03d}", "s": "neuvonta", "st": "waiting", "a": i + 3, "l": "en"}
               for i, t in enumerate(toks)}
    shown(web, central, tickets, toks[0])
    contexts = [browser.new_context(viewport=PHONE) for _ in toks]
    pages = []
    for ctx, t in zip(contexts, toks):
        p = ctx.new_page()
        p.goto(f"{web.url}/t/{SITE}/{t}")
        pages.append(p)
    for i, t in enumerate(toks):
        tickets[follow_key(t)]["a"] = i
    central.snapshot(tickets)
    for i, p in enumerate(pages):
        want = "You are next." if i == 0 else f"{i} customer" if i == 1 else f"{i} customers"
        p.wait_for_selector(f"text={want}", timeout=5000)
        assert f"N{i:03d}" in p.inner_text("h1")
    for ctx in contexts:
        ctx.close()


def test_a_snapshot_with_personal_looking_text_is_refused(setup):
    """Only the shapes of core/follow.py get through: a number that is not a short code is refused
    and the last good snapshot stays."""
    web, central = setup
    mine = token()
    good = {follow_key(mine): {"n": "K070", "s": "kela", "st": "waiting", "a": 1, "l": "fi"}}
    shown(web, central, good, mine)
    central.snapshot({follow_key(mine): {"n": "Matti Meikäläinen 010101-123N", "s": "kela", "st": "waiting"}})
    wait_until(lambda: "snapshot of site site-a refused" in web.log.read_text(), 10, "the refusal in the log")
    assert "K070" in get(f"{web.url}/t/{SITE}/{mine}")[1]
    assert "Matti" not in web.log.read_text()


def test_the_reminder_and_the_call_alert(setup, browser):
    """The customer asks to be alerted at 3 ahead: the phone vibrates (and beeps) when 3 are ahead,
    and again once called. navigator.vibrate is recorded (a headless browser has no motor)."""
    web, central = setup
    mine = token()
    key = follow_key(mine)
    tickets = {key: {"n": "K080", "s": "kela", "st": "waiting", "a": 6, "e": [900, 1200], "l": "en"}}
    shown(web, central, tickets, mine)
    # bypass_csp: Playwright's wait_for_function evaluates a string, which the page's CSP forbids
    ctx = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True, bypass_csp=True)
    ctx.add_init_script("navigator.vibrate = () => { window.__buzz = (window.__buzz || 0) + 1; return true; };")
    page = ctx.new_page()
    page.goto(f"{web.url}/t/{SITE}/{mine}")
    page.wait_for_function("document.getElementById('live').dataset.connected === '1'")
    page.select_option("#remind-n", "3")
    page.click("#remind-on")  # a tap: the alert as it will be, and sound unlocked
    assert page.evaluate("window.__buzz") == 1
    assert "when 3 are ahead" in page.inner_text("#remind-state")
    tickets[key]["a"] = 4
    central.snapshot(tickets)
    page.wait_for_selector("text=4 customers ahead of you")
    assert page.evaluate("window.__buzz") == 1  # not yet
    tickets[key]["a"] = 3
    central.snapshot(tickets)
    page.wait_for_function("window.__buzz === 2", timeout=5000)
    assert "Only 3 ahead of you now" in page.inner_text("#remind-state")
    tickets[key] = {"n": "K080", "s": "kela", "st": "called", "c": "1", "ct": 1, "l": "en"}
    central.snapshot(tickets)
    page.wait_for_function("window.__buzz === 3", timeout=5000)
    assert "Counter 1" in page.inner_text(".called")
    # The choice is kept for this ticket's page: a reload remembers it.
    assert page.evaluate(f"localStorage.getItem('pp-remind-{key}')") == "3"
    ctx.close()
