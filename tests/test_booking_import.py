"""Booking feeds imported by the central service (issue 17): fetched from an HTTPS server of the
test's own (a throw-away CA), parsed, compared and stored in the run's PostgreSQL, all or nothing.

- a feed imported, then one booking moved, one cancelled, one added: exactly those three changes,
  numbered in order for the site; a second import of the same feed changes nothing;
- names, phone numbers and e-mail addresses in the feed reach no table (every column of every
  table is searched);
- a malformed feed (not iCalendar, a broken line, a time zone that does not exist, a 50 MB
  answer, a server that never answers, a certificate not trusted) gives a clear reason, keeps
  the last good bookings and imports nothing half-way; the next good fetch clears the error;
- a dropped CSV and JSON list (kind drop) read with the same rules.
"""
from __future__ import annotations

import datetime as dt
import http.server
import json
import socketserver
import ssl
import threading
import time
from pathlib import Path

import psycopg
import pytest

from central.bookings.feeds import Feed
from central.bookings.fetch import FetchError, fetch
from central.bookings.store import changes_since, feed_health, import_feed, site_key
from central.store import CentralStore
from core.config import load_site
from sim.tlsca import make_ca
from tests.test_booking_feeds import PERSONAL, event, feed, personal_lines

REPO = Path(__file__).resolve().parents[1]
SITE = load_site(REPO / "assets" / "sites" / "example.toml")
HEL = SITE.tz


def _now_ms(day: dt.date, h: int = 8) -> int:
    return int(dt.datetime(day.year, day.month, day.day, h, tzinfo=HEL).timestamp() * 1000)


TODAY = dt.date(2026, 12, 3)
NOW = _now_ms(TODAY)


def ics(*bookings: tuple[str, str, str], extra: tuple[str, ...] = ()) -> bytes:
    """A feed of (code, HHMM today or tomorrow as 'D+1 HHMM', status) bookings, with personal data."""
    parts = []
    for i, (code, when, status) in enumerate(bookings):
        day = TODAY + dt.timedelta(days=1) if when.startswith("D+1 ") else TODAY
        hhmm = when.removeprefix("D+1 ")
        parts.append(event(f"UID:{code}-{i}@varaus.example", f"DTSTART;TZID=Europe/Helsinki:{day:%Y%m%d}T{hhmm}00",
                           "DURATION:PT20M", f"X-BOOKING-CODE:{code}", "LOCATION:Huone 2",
                           "X-BOOKING-NEEDS:induktiosilmukka", *([f"STATUS:{status}"] if status else []),
                           *personal_lines(i), *extra))
    return feed(*parts)


class _Server:
    """An HTTPS server of the test's own: paths map to (status, body) or to a behaviour."""

    def __init__(self, tls_dir: Path) -> None:
        self.files = make_ca(tls_dir)
        self.routes: dict[str, object] = {}
        self.stop = threading.Event()
        routes, stop = self.routes, self.stop

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):  # quiet
                pass

            def do_GET(self):
                what = routes.get(self.path.split("?")[0])
                if what == "never":
                    stop.wait(60)  # accepts, never answers
                    return
                if what == "huge":
                    self.send_response(200)
                    self.send_header("Content-Type", "text/calendar")
                    self.end_headers()  # no Content-Length: only reading tells
                    chunk = b"X" * 65536
                    try:
                        for _ in range(50 * 16):  # 50 MB
                            self.wfile.write(chunk)
                    except OSError:
                        pass
                    return
                if what is None:
                    self.send_response(404)
                    self.end_headers()
                    return
                body = what if isinstance(what, bytes) else b""
                self.send_response(200)
                self.send_header("Content-Type", "text/calendar")
                self.send_header("Content-Length", str(len(body)))
                self.send_header("ETag", f'"{hash(body) & 0xFFFFFFFF:x}"')
                self.end_headers()
                self.wfile.write(body)

        class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
            daemon_threads = True

        self.httpd = Server(("127.0.0.1", 0), Handler)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(self.files.certfile, self.files.keyfile)
        self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def url(self, path: str) -> str:
        return f"https://127.0.0.1:{self.port}{path}"

    def close(self) -> None:
        self.stop.set()
        self.httpd.shutdown()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    s = _Server(tmp_path_factory.mktemp("tls"))
    yield s
    s.close()


@pytest.fixture()
def conn(central_dsn):
    CentralStore(central_dsn).close()  # the migrations
    with psycopg.connect(central_dsn) as c:
        yield c


def kela_feed(server, path: str = "/kela.ics", **kw) -> Feed:
    return Feed(id="kela-example", site=SITE.id, service="kela", url=server.url(path), ca_file=server.files.cafile,
                options={"rooms": {"Huone 2": "H2"}, "need_tokens": {"induktiosilmukka": "hearing_loop"},
                         "code_property": "X-BOOKING-CODE", "room_property": "LOCATION",
                         "needs_property": "X-BOOKING-NEEDS"}, **kw)


def test_imported_then_moved_cancelled_added_gives_exactly_those_changes(server, conn):
    f = kela_feed(server)
    server.routes["/kela.ics"] = ics(("4711", "1030", ""), ("4712", "1100", ""), ("4713", "D+1 0900", ""))
    first = import_feed(conn, f, SITE, NOW)
    assert first.ok and first.imported == 3 and first.changes == 3 and (first.first_seq, first.last_seq) == (1, 3)
    assert [b["op"] for _, b in changes_since(conn, SITE.id, 0)] == ["new", "new", "new"]
    # moved 4711 to 14:00, cancelled 4712, added 4714; 4713 untouched
    server.routes["/kela.ics"] = ics(("4711", "1400", ""), ("4712", "1100", "CANCELLED"), ("4713", "D+1 0900", ""),
                                     ("4714", "1500", ""))
    second = import_feed(conn, f, SITE, NOW + 60_000)
    assert second.ok and second.changes == 3 and (second.first_seq, second.last_seq) == (4, 6)
    got = changes_since(conn, SITE.id, 3)
    key = site_key(conn, SITE.id, NOW)
    from core.engine import appointment_ref

    by_op = {b["op"]: b for _, b in got}
    assert set(by_op) == {"moved", "cancelled", "new"}
    assert by_op["moved"]["key"] == appointment_ref(key, "4711")
    assert by_op["moved"]["at_ms"] == _now_ms(TODAY, 14) and by_op["moved"]["room"] == "H2"
    assert by_op["moved"]["needs"] == {"hearing_loop": True}
    assert by_op["cancelled"] == {"op": "cancelled", "key": appointment_ref(key, "4712")}
    assert by_op["new"]["key"] == appointment_ref(key, "4714")
    # the same feed again: nothing new for the site
    again = import_feed(conn, f, SITE, NOW + 120_000)
    assert again.ok and again.changes == 0 and changes_since(conn, SITE.id, 6) == []
    (h,) = feed_health(conn, [SITE.id])
    assert h.error is None and h.imported == 4 and h.last_ok_ms == NOW + 120_000


def test_nothing_personal_reaches_any_table(server, conn):
    f = kela_feed(server, "/personal.ics")
    server.routes["/personal.ics"] = ics(("4711", "1030", ""), ("4712", "1100", ""))
    assert import_feed(conn, f, SITE, NOW).ok
    tables = [r[0] for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")]
    dump = []
    for t in tables:
        dump += [json.dumps(row, default=str, ensure_ascii=False) for row in conn.execute(f'SELECT * FROM "{t}"')]
    text = "\n".join(dump)
    assert "4711" not in text and "4712" not in text  # the codes only as references
    found = [p for p in PERSONAL if p in text]
    assert found == [], found


@pytest.mark.parametrize("name, body, reason", [
    ("not-ical", b"<html><body>Login</body></html>", "not an icalendar"),
    ("broken-line", None, "line"),
    ("bad-zone", None, "time zone"),
])
def test_a_malformed_feed_keeps_the_last_good_bookings(server, conn, name, body, reason):
    f = kela_feed(server, f"/{name}.ics")
    server.routes[f"/{name}.ics"] = ics(("4711", "1030", ""), ("4712", "1100", ""))
    assert import_feed(conn, f, SITE, NOW).ok
    before = conn.execute("SELECT key, start_ms FROM bookings ORDER BY key").fetchall()
    seq = changes_since(conn, SITE.id, 0)
    if name == "broken-line":
        body = ics(("4711", "1400", "")).replace(b"X-BOOKING-CODE:4711", b"X-BOOKING-CODE 4711")
    elif name == "bad-zone":
        body = ics(("4711", "1400", "")).replace(b"TZID=Europe/Helsinki", b"TZID=Europe/Atlantis")
    server.routes[f"/{name}.ics"] = body
    out = import_feed(conn, f, SITE, NOW + 60_000)
    assert not out.ok and reason in out.reason.lower(), out.reason
    assert conn.execute("SELECT key, start_ms FROM bookings ORDER BY key").fetchall() == before
    assert changes_since(conn, SITE.id, 0) == seq  # nothing half-way
    (h,) = feed_health(conn, [SITE.id])
    assert h.error == out.reason and h.failing_since_ms == NOW + 60_000 and h.last_ok_ms == NOW
    # still failing an hour later: since when stays; then a good fetch clears it
    assert not import_feed(conn, f, SITE, NOW + 3_600_000).ok
    assert feed_health(conn, [SITE.id])[0].failing_since_ms == NOW + 60_000
    server.routes[f"/{name}.ics"] = ics(("4711", "1030", ""), ("4712", "1100", ""))
    assert import_feed(conn, f, SITE, NOW + 3_700_000).ok
    assert feed_health(conn, [SITE.id])[0].error is None


def test_a_50_mb_answer_a_silent_server_and_an_untrusted_certificate(server, conn, tmp_path):
    server.routes["/huge.ics"] = "huge"
    server.routes["/never.ics"] = "never"
    t0 = time.monotonic()
    with pytest.raises(FetchError, match="over the 10 MB limit"):
        fetch(server.url("/huge.ics"), ca_file=server.files.cafile, max_bytes=10 * 1024 * 1024, timeout_s=30)
    with pytest.raises(FetchError, match="no complete answer within 2 s"):
        fetch(server.url("/never.ics"), ca_file=server.files.cafile, timeout_s=2)
    assert time.monotonic() - t0 < 20
    with pytest.raises(FetchError, match="not trusted"):
        fetch(server.url("/huge.ics"))  # the system's CAs do not know the test's own
    # through an import: the reason is recorded, nothing is stored
    f = kela_feed(server, "/never.ics", timeout_s=1.0)
    out = import_feed(conn, f, SITE, NOW)
    assert not out.ok and "no complete answer" in out.reason and "/never" not in out.reason
    assert conn.execute("SELECT count(*) FROM bookings").fetchone() == (0,)


def test_a_dropped_csv_and_json_list(conn, tmp_path):
    drop = tmp_path / "drop"
    drop.mkdir()
    f = Feed(id="vero-drop", site=SITE.id, service="vero", kind="drop", drop_dir=str(drop),
             options={"rooms": {"Huone 1": "H1"}})
    missing = import_feed(conn, f, SITE, NOW)
    assert not missing.ok and "no vero-drop.csv or vero-drop.json" in missing.reason
    (drop / "vero-drop.csv").write_text(
        "code,time,duration_min,room,needs,status,name,phone\n"
        "A-100,2026-12-03T10:30,20,Huone 1,\"hearing_loop,interpreter:ar\",,Matti Meikäläinen,+358 40 123 4567\n"
        "A-101,2026-12-03T11:00,,,,,Liisa Virtanen,0401234567\n"
        "??,2026-12-03T12:00,,,,,Ville Vallaton,050-765 4321\n", encoding="utf-8")
    out = import_feed(conn, f, SITE, NOW)
    assert out.ok and out.imported == 2 and out.skipped == 1 and out.changes == 2
    bodies = [b for _, b in changes_since(conn, SITE.id, 0)]
    assert bodies[0]["needs"] == {"hearing_loop": True, "interpreter": "ar"} and bodies[0]["room"] == "H1"
    # the same file again is not read again; a JSON list replaces it
    assert import_feed(conn, f, SITE, NOW + 1000).unchanged
    (drop / "vero-drop.csv").unlink()
    (drop / "vero-drop.json").write_text(json.dumps({"bookings": [
        {"code": "A-100", "time": "2026-12-03T10:30", "duration_min": 20, "room": "Huone 1",
         "needs": ["hearing_loop", "interpreter:ar"], "name": "Matti Meikäläinen"}]}), encoding="utf-8")
    out = import_feed(conn, f, SITE, NOW + 2000)
    assert out.ok and out.changes == 1 and changes_since(conn, SITE.id, 2)[0][1]["op"] == "cancelled"
    text = json.dumps(conn.execute("SELECT * FROM bookings").fetchall(), default=str, ensure_ascii=False)
    assert "Matti" not in text and "A-100" not in text
    (drop / "vero-drop.json").write_text("[{\"code\": \"A-102\", \"time\": \"kello 10\"}]", encoding="utf-8")
    bad = import_feed(conn, f, SITE, NOW + 3000)
    assert not bad.ok and bad.reason == "item 1: the time is not ISO 8601 (2026-12-03T10:30)"


def test_feeds_are_declared_in_central_toml():
    from central.settings import parse_central
    from core.config import ConfigError

    base = {"broker": {"url": "mqtts://central.example:8883"}}
    s = parse_central({**base, "feeds": [
        {"id": "kela-example", "site": "example-pp", "service": "kela", "url": "https://varaus.example/k.ics",
         "rooms": {"Huone 2": "H2"}, "max_mb": 5},
        {"id": "vero-drop", "site": "example-pp", "service": "vero", "kind": "drop", "drop_dir": "/srv/drop"}]})
    kela, vero = s.feeds
    assert (kela.kind, kela.every_min, kela.max_bytes) == ("ical", 10.0, 5 * 2**20)
    assert kela.mapping("Europe/Helsinki").rooms == {"Huone 2": "H2"} and vero.drop_dir == "/srv/drop"
    with pytest.raises(ConfigError) as e:
        parse_central({**base, "feeds": [
            {"id": "a", "site": "s", "service": "kela", "url": "http://plain.example/a.ics"},
            {"id": "a", "site": "s", "service": "kela", "kind": "drop"},
            {"id": "b", "site": "s", "service": "kela", "kind": "push"}]})
    msgs = {i.field: i.message for i in e.value.issues}
    assert msgs["feeds[0] (a).url"].startswith("must be an https:// URL")
    assert msgs["feeds[1] (a).drop_dir"] == "a drop feed needs the directory its files are dropped in"
    assert msgs["feeds[2] (b).token_file"] == "a push feed needs the file that holds its token"
    assert msgs["feeds[1].id"] == "duplicate feed id"


def test_a_pushed_list_needs_its_own_token_and_is_imported_like_a_dropped_one(conn, central_dsn, tmp_path):
    """POST /bookings/<feed> of the real `central web` process, configured from central.toml: the
    authority's own token or a 404 that says nothing more; too large refused; the list left for the
    bookings daemon, which imports it like a dropped one (nothing personal kept)."""
    import urllib.error
    import urllib.request

    from tests.support.web import WebService

    tokens = tmp_path / "tokens"
    tokens.mkdir()
    (tokens / "vero").write_text("s3cret-vero\n")
    (tokens / "kela").write_text("s3cret-kela\n")
    push_dir = tmp_path / "push"
    central_toml = tmp_path / "central.toml"
    central_toml.write_text(f"""[broker]
url = "mqtts://central.example:8883"

[[feeds]]
id = "vero-push"
site = "{SITE.id}"
service = "vero"
kind = "push"
token_file = "{tokens / 'vero'}"
max_mb = 0.1

[[feeds]]
id = "kela-push"
site = "{SITE.id}"
service = "kela"
kind = "push"
token_file = "{tokens / 'kela'}"
""")
    web = WebService(central_dsn, tmp_path, ["--feeds-config", str(central_toml), "--push-dir", str(push_dir)]).start()
    body = "code,time,name\nP-1,2026-12-03T10:30,Matti Meikäläinen\n".encode()
    try:
        def post(feed: str, token: str, data: bytes = body) -> int:
            req = urllib.request.Request(f"{web.url}/bookings/{feed}", data=data, method="POST",
                                         headers={"Authorization": f"Bearer {token}", "Content-Type": "text/csv"})
            try:
                with urllib.request.urlopen(req, timeout=10) as r:
                    return r.status
            except urllib.error.HTTPError as e:
                return e.code

        assert post("vero-push", "s3cret-kela") == 404  # another authority's token
        assert post("nope", "s3cret-vero") == 404
        assert post("vero-push", "") == 404
        assert post("vero-push", "s3cret-vero", b"x" * 200_000) == 413
        assert post("vero-push", "s3cret-vero") == 202
        assert (push_dir / "vero-push.csv").read_bytes() == body
    finally:
        web.stop()
    assert "Matti" not in web.log.read_text(encoding="utf-8", errors="replace")
    from central.settings import load_central

    vero = next(f for f in load_central(central_toml).feeds if f.id == "vero-push")
    out = import_feed(conn, vero, SITE, NOW, push_dir=push_dir)
    assert out.ok and out.imported == 1
    text = json.dumps(conn.execute("SELECT * FROM bookings").fetchall(), default=str, ensure_ascii=False)
    assert "Matti" not in text and "P-1" not in text
