"""The fleet's alerts end to end: the real PostgreSQL of the run (the `central_dsn` fixture), the
statuses written as the ingest writes them (CentralStore.set_status), central/fleet.py keeping the
alerts table, and central/alerts.py delivering to servers of the test's own — an HTTPS webhook
(a throw-away CA from sim/tlsca.py) and an SMTP server with STARTTLS and a login, both on threads
here. Times are fixed (a Monday in November 2026, the test site open 08–16 Helsinki time), except
for the command's own run, which uses the wall clock on a site open all day."""
from __future__ import annotations

import base64
import http.server
import json
import os
import queue
import shutil
import socketserver
import ssl
import subprocess
import sys
import threading
from dataclasses import replace
from pathlib import Path

import pytest

from appliance import central_role as C
from central import alerts as A
from central import fleet as CF
from central import settings as S
from central.store import CentralStore
from core.config import loads_site
from core.events import now_ms
from tests.support.wait import next_item
from tests.test_fleet import ALWAYS, ALWAYS_TEXT, SITE, SITE_TEXT, at
from tests.test_provision import run_cli

MIN = 60_000
REPO = Path(__file__).resolve().parent.parent
SMTP_USER, SMTP_PASSWORD = "alerts", "a long test password"


# --- the test's own servers -------------------------------------------------------------------------

class _Served:
    """What both test servers share: a server thread, the queue of what arrived, shutting down."""

    server: socketserver.BaseServer
    received: queue.Queue

    def serve(self) -> None:
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def drained(self) -> list:
        out = []
        while not self.received.empty():
            out.append(self.received.get_nowait())
        return out

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Webhook(_Served):
    """An HTTPS server on 127.0.0.1: each POST's JSON goes to `received` when `answer` is 2xx; every
    attempt is counted."""

    def __init__(self, tls) -> None:
        self.received: queue.Queue = queue.Queue()
        self.attempts = 0
        self.answer = 204
        hook = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 — http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                hook.attempts += 1
                if 200 <= hook.answer < 300:
                    hook.received.put((self.path, self.headers.get("Content-Type"), json.loads(body)))
                self.send_response(hook.answer)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(tls.certfile, tls.keyfile)
        self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True)
        self.serve()

    def url(self, path: str = "/hook/secret-token") -> str:
        return f"https://127.0.0.1:{self.port}{path}"


class Smtp(_Served):
    """A small SMTP server on 127.0.0.1: EHLO, STARTTLS, AUTH PLAIN (only after STARTTLS), MAIL, RCPT,
    DATA, RSET, NOOP, QUIT. Each accepted message goes to `received` as a dict."""

    def __init__(self, tls) -> None:
        self.received: queue.Queue = queue.Queue()
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(tls.certfile, tls.keyfile)
        box = self

        class Handler(socketserver.StreamRequestHandler):
            def reply(self, line: str) -> None:
                self.wfile.write(line.encode() + b"\r\n")
                self.wfile.flush()

            def handle(self) -> None:
                tls_on, user, sender, rcpts = False, None, None, []
                self.reply("220 127.0.0.1 ESMTP test")
                while True:
                    raw = self.rfile.readline(4096)
                    if not raw:
                        return
                    line = raw.decode("utf-8", "replace").rstrip("\r\n")
                    verb = line.split(" ", 1)[0].upper()
                    if verb in ("EHLO", "HELO"):
                        caps = ["127.0.0.1", "8BITMIME", "SMTPUTF8"] + (["AUTH PLAIN"] if tls_on else ["STARTTLS"])
                        for i, cap in enumerate(caps):
                            self.reply(("250 " if i == len(caps) - 1 else "250-") + cap)
                    elif verb == "STARTTLS" and not tls_on:
                        self.reply("220 go ahead")
                        self.request = ctx.wrap_socket(self.request, server_side=True)
                        self.rfile = self.request.makefile("rb")
                        self.wfile = self.request.makefile("wb")
                        tls_on = True
                    elif verb == "AUTH" and tls_on:
                        parts = line.split(" ")
                        _, name, password = base64.b64decode(parts[2]).decode().split("\0")
                        if (name, password) == (SMTP_USER, SMTP_PASSWORD):
                            user = name
                            self.reply("235 ok")
                        else:
                            self.reply("535 no")
                    elif verb == "MAIL":
                        sender, rcpts = line.split(":", 1)[1].split()[0].strip("<>"), []
                        self.reply("250 ok")
                    elif verb == "RCPT":
                        rcpts.append(line.split(":", 1)[1].strip().strip("<>"))
                        self.reply("250 ok")
                    elif verb == "DATA":
                        self.reply("354 go on")
                        data = []
                        while True:
                            d = self.rfile.readline()
                            if d in (b".\r\n", b""):
                                break
                            data.append(d[1:] if d.startswith(b"..") else d)
                        box.received.put({"from": sender, "to": rcpts, "data": b"".join(data), "tls": tls_on,
                                          "user": user})
                        self.reply("250 queued")
                    elif verb in ("RSET", "NOOP"):
                        self.reply("250 ok")
                    elif verb == "QUIT":
                        self.reply("221 bye")
                        return
                    else:
                        self.reply("502 not here")

        class Server(socketserver.ThreadingTCPServer):
            daemon_threads = True
            allow_reuse_address = True

        self.server = Server(("127.0.0.1", 0), Handler)
        self.serve()



@pytest.fixture(scope="module")
def tls(tmp_path_factory):
    from sim.tlsca import make_ca

    return make_ca(tmp_path_factory.mktemp("ca"))


@pytest.fixture
def webhook(tls):
    w = Webhook(tls)
    yield w
    w.close()


@pytest.fixture
def smtp(tls):
    s = Smtp(tls)
    yield s
    s.close()


@pytest.fixture
def password_file(tmp_path):
    p = tmp_path / "smtp.password"
    p.write_text(SMTP_PASSWORD + "\n")
    p.chmod(0o600)
    return p


def settings_for(tls, webhook: Webhook | None = None, smtp: Smtp | None = None,
                 password_file: Path | None = None) -> S.AlertSettings:
    s = S.AlertSettings(timeout_s=5.0)
    if webhook is not None:
        s = replace(s, webhook_url=webhook.url(), webhook_ca_file=tls.cafile)
    if smtp is not None:
        s = replace(s, smtp_host="127.0.0.1", smtp_port=smtp.port, smtp_ca_file=tls.cafile,
                    mail_from="palvelupiste@example.fi", mail_to=("tekniikka@example.fi", "paivystys@example.fi"),
                    smtp_user=SMTP_USER if password_file else "", smtp_password_file=str(password_file or ""))
    return s


@pytest.fixture
def store(central_dsn):
    db = CentralStore(central_dsn)
    db.register_site(SITE, SITE_TEXT, when=at(2026, 11, 1))
    yield db
    db.close()


def online(db: CentralStore, device: str, when: int, **status) -> None:
    db.set_status("test-pp", device, "availability", "online", when)
    db.set_status("test-pp", device, "status", json.dumps({"v": 1, "site": "test-pp", "device": device,
                                                           "version": "0.1.0", "ts": when, "backlog": 0, **status}),
                  when)


# --- the alerts table ---------------------------------------------------------------------------------

def test_an_offline_device_in_opening_hours_raises_one_alert_sent_once_cleared_once(store, tls, webhook, smtp,
                                                                                     password_file):
    cfg = settings_for(tls, webhook, smtp, password_file)
    t0 = at(2026, 11, 2, 9)        # Monday, open 08–16
    online(store, "kiosk-1", t0)
    online(store, "display-1", t0)
    r = A.run(store.conn, cfg, t0 + MIN)
    assert (r.changed, r.pending, r.failures) == ([], [], [])

    went = t0 + 30 * MIN
    store.set_status("test-pp", "kiosk-1", "availability", "offline", went)   # the last will
    assert A.run(store.conn, cfg, went + 10 * MIN).changed == []               # ten minutes: not yet

    r = A.run(store.conn, cfg, went + 11 * MIN)
    assert [(a.event, a.key) for a in r.changed] == [("started", "offline/test-pp/kiosk-1")]
    assert r.ok and [a.key for a in r.delivered] == ["offline/test-pp/kiosk-1"]
    path, ctype, body = next_item(webhook.received, what="the webhook's POST")
    assert path == "/hook/secret-token" and ctype == "application/json"
    assert body["event"] == "started" and body["kind"] == "offline"
    assert (body["site"], body["device"]) == ("test-pp", "kiosk-1")
    assert body["values"] == {"since_ms": went, "offline_open_min": 11.0}
    assert body["id"] == f"offline/test-pp/kiosk-1@{went + 11 * MIN}:started"
    mail = next_item(smtp.received, what="the alert by e-mail")
    assert mail["tls"] and mail["user"] == SMTP_USER and mail["from"] == "palvelupiste@example.fi"
    assert mail["to"] == ["tekniikka@example.fi", "paivystys@example.fi"]
    text = mail["data"].decode()
    assert "Subject: palvelupiste fleet: 1 alert started" in text and "ALERT offline at test-pp kiosk-1" in text

    # it holds: the table follows it, nothing is sent again
    for minutes in (12, 20, 39):
        r = A.run(store.conn, cfg, went + minutes * MIN)
        assert (r.changed, r.pending) == ([], [])
    assert webhook.drained() == [] and smtp.drained() == [] and webhook.attempts == 1
    (row,) = CF.stored_alerts(store.conn)
    assert (row.first_ms, row.last_ms, row.cleared_ms, row.sent_ms) == (went + 11 * MIN, went + 39 * MIN, None,
                                                                       went + 11 * MIN)
    assert row.values["offline_open_min"] == 39.0

    back = went + 40 * MIN
    online(store, "kiosk-1", back)
    r = A.run(store.conn, cfg, back + MIN)
    assert [(a.event, a.key) for a in r.changed] == [("cleared", "offline/test-pp/kiosk-1")] and r.ok
    _, _, body = next_item(webhook.received, what="the clearing's POST")
    assert body["event"] == "cleared" and body["cleared_ms"] == back + MIN
    assert "CLEARED offline at test-pp kiosk-1" in next_item(smtp.received, what="the clearing by e-mail")[
        "data"].decode()
    for minutes in (2, 3):
        assert A.run(store.conn, cfg, back + minutes * MIN).pending == []
    assert webhook.drained() == [] and smtp.drained() == [] and webhook.attempts == 2
    assert CF.stored_alerts(store.conn) == []
    (row,) = CF.stored_alerts(store.conn, active_only=False)
    assert (row.cleared_ms, row.sent_ms) == (back + MIN, back + MIN)
    # the fleet view says the same: online again, 40 minutes offline in opening hours this month
    fl = CF.load_fleet(store.conn, back + 2 * MIN)
    kiosk = next(v for v in fl.devices if v.device == "kiosk-1")
    assert (kiosk.availability, kiosk.since_ms, kiosk.offline_open_min) == ("online", back, 40.0)
    assert fl.alerts == []


def test_a_webhook_that_is_down_gets_the_messages_on_the_next_run_and_once(store, tls, webhook):
    cfg = settings_for(tls, webhook)
    t0 = at(2026, 11, 2, 9)
    online(store, "display-1", t0)
    store.set_status("test-pp", "kiosk-1", "availability", "offline", t0)
    webhook.answer = 503
    r = A.run(store.conn, cfg, t0 + 11 * MIN)
    assert [a.event for a in r.changed] == ["started"] and r.delivered == []
    assert r.failures == [f"webhook https://127.0.0.1:{webhook.port}/…: HTTP 503"]   # never the token
    assert CF.stored_alerts(store.conn)[0].sent_ms is None
    r = A.run(store.conn, cfg, t0 + 12 * MIN)                 # still down: tried again, still pending
    assert r.changed == [] and [a.key for a in r.pending] == ["offline/test-pp/kiosk-1"] and not r.ok
    assert webhook.attempts == 2 and webhook.drained() == []

    webhook.answer = 200
    r = A.run(store.conn, cfg, t0 + 13 * MIN)
    assert r.ok and [a.key for a in r.delivered] == ["offline/test-pp/kiosk-1"]
    _, _, body = next_item(webhook.received, what="the retried POST")
    assert body["event"] == "started" and body["id"] == f"offline/test-pp/kiosk-1@{t0 + 11 * MIN}:started"
    assert A.run(store.conn, cfg, t0 + 14 * MIN).pending == [] and webhook.drained() == []

    # down again when it clears: the clearing waits, then goes once
    webhook.answer = 500
    online(store, "kiosk-1", t0 + 20 * MIN)
    r = A.run(store.conn, cfg, t0 + 21 * MIN)
    assert [a.event for a in r.changed] == ["cleared"] and not r.ok
    webhook.answer = 204
    r = A.run(store.conn, cfg, t0 + 22 * MIN)
    assert r.ok and [a.event for a in r.delivered] == ["cleared"]
    _, _, body = next_item(webhook.received, what="the clearing, once the webhook is back")
    assert body["event"] == "cleared"
    assert A.run(store.conn, cfg, t0 + 23 * MIN).pending == [] and webhook.drained() == []
    # a server that does not answer at all, and a certificate nobody vouched for, are failures too
    gone = replace(cfg, webhook_url=f"https://127.0.0.1:{webhook.port}/x")
    webhook.close()
    with pytest.raises(A.DeliveryError):
        A.post_webhook(gone, {"x": 1})


def test_a_webhook_whose_certificate_is_not_trusted_is_not_sent_to(tls, webhook, tmp_path):
    from sim.tlsca import make_ca

    other = make_ca(tmp_path / "other-ca")
    with pytest.raises(A.DeliveryError, match="CERTIFICATE_VERIFY_FAILED"):
        A.post_webhook(replace(settings_for(tls, webhook), webhook_ca_file=other.cafile), {"x": 1})
    assert webhook.attempts == 0


def test_every_kind_in_the_table_and_only_numbers_in_the_messages(store, tls, webhook):
    cfg = settings_for(tls, webhook)
    t0 = at(2026, 11, 2, 10)
    for i in range(4):  # a backlog sample every five minutes, growing
        store.set_status("test-pp", "kiosk-1", "status", json.dumps({"ts": t0 + i * 5 * MIN, "backlog": 10 * (i + 1)}),
                         t0 + i * 5 * MIN)
    now = t0 + 16 * MIN
    store.set_status("test-pp", "kiosk-1", "availability", "online", t0)
    store.set_status("test-pp", "kiosk-1", "status", json.dumps({
        "ts": now + 5 * MIN, "backlog": 45, "printer": {"status": "paper_out", "paper": "out"}}), now)
    r = A.run(store.conn, cfg, now + 30_000, broker_cert_not_after_ms=now + 10 * 86_400_000)
    assert sorted(a.key for a in r.changed) == ["backlog/test-pp/kiosk-1", "certificate/*", "clock/test-pp/kiosk-1",
                                                "paper_out/test-pp/kiosk-1"]
    bodies = {b["kind"]: b for _, _, b in (next_item(webhook.received, what=f"message {i}") for i in range(4))}
    assert bodies["backlog"]["values"] == {"backlog": 45, "from_backlog": 10, "span_min": 15.0}
    assert bodies["clock"]["values"] == {"offset_s": 300.0}
    assert bodies["certificate"]["site"] == "*" and bodies["certificate"]["values"]["days_left"] == 10.0
    for b in bodies.values():
        assert set(b) == {"source", "id", "event", "kind", "key", "site", "device", "first_ms", "last_ms",
                          "cleared_ms", "values", "text"}
        assert all(isinstance(v, (int, float)) for v in b["values"].values())
    # the certificate's expiry unknown this time: its alert stays as it was (neither cleared nor sent)
    r = A.run(store.conn, cfg, now + 60_000)
    assert "certificate/*" not in [a.key for a in r.changed]
    assert "certificate/*" in [a.key for a in CF.stored_alerts(store.conn)]
    # renewed: cleared
    r = A.run(store.conn, cfg, now + 90_000, broker_cert_not_after_ms=now + 400 * 86_400_000)
    assert ("cleared", "certificate/*") in [(a.event, a.key) for a in r.changed]
    # a regional list sees its sites' alerts and the central one
    assert {a.site for a in CF.stored_alerts(store.conn, ["test-pp"], active_only=False)} == {"test-pp", "*"}
    assert {a.site for a in CF.stored_alerts(store.conn, ["elsewhere"], active_only=False)} == {"*"}


def test_backlog_samples_older_than_two_days_are_pruned_and_the_last_hour_still_alerts(store):
    """status_samples would grow by ~260,000 rows a day at 150 sites: `central prune` (its daily
    timer) deletes those older than SAMPLES_KEEP_MS whether or not a retention is set; the fleet
    view reads only the last hour, so its backlog alert works as before."""
    from central.store import SAMPLES_KEEP_MS

    t0 = at(2026, 11, 2, 10)
    now = t0 + 3 * 86_400_000
    for start in (t0, now - 20 * MIN):  # three days ago, and a growing backlog just now
        for i in range(4):
            store.set_status("test-pp", "kiosk-1", "status",
                             json.dumps({"ts": start + i * 5 * MIN, "backlog": 10 * (i + 1)}), start + i * 5 * MIN)

    def kept() -> list[int]:
        return [r[0] for r in store.conn.execute("SELECT ms FROM status_samples WHERE site = 'test-pp' ORDER BY ms")]

    assert len(kept()) == 8
    assert store.prune_samples(now) == 4
    assert kept() == [now - 20 * MIN + i * 5 * MIN for i in range(4)]
    assert min(kept()) >= now - SAMPLES_KEEP_MS
    assert store.prune_samples(now) == 0  # again: nothing more
    store.set_status("test-pp", "kiosk-1", "availability", "online", now - 20 * MIN)
    store.set_status("test-pp", "kiosk-1", "status", json.dumps({"ts": now, "backlog": 45}), now)
    assert "backlog" in [a.kind for a in CF.load_fleet(store.conn, now + MIN).alerts]
    out = subprocess.run([sys.executable, "-m", "cli", "central", "prune", "--db", store.dsn], cwd=REPO,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "backlog samples older than 2 days" in out.stdout


def test_the_fleet_of_some_sites_only(store):
    other = SITE_TEXT.replace('id = "test-pp"', 'id = "other-pp"')
    store.register_site(loads_site(other), other, when=at(2026, 11, 1))
    t0 = at(2026, 11, 2, 9)
    online(store, "kiosk-1", t0)
    store.set_status("other-pp", "kiosk-1", "availability", "offline", t0)
    fl = CF.load_fleet(store.conn, t0 + 30 * MIN, ["other-pp"])
    assert {v.site for v in fl.devices} == {"other-pp"} and [a.key for a in fl.alerts] == ["offline/other-pp/kiosk-1"]
    everything = CF.load_fleet(store.conn, t0 + 30 * MIN)
    assert {(v.site, v.device) for v in everything.devices} == {(s, d) for s in ("test-pp", "other-pp")
                                                                for d in ("kiosk-1", "display-1")}
    never = next(v for v in everything.devices if (v.site, v.device) == ("test-pp", "display-1"))
    assert never.availability is None and never.offline_open_ms == 0 and never.alerts == ()
    assert CF.load_fleet(store.conn, t0 + 30 * MIN, month="2026-10").devices[0].month == "2026-10"
    with pytest.raises(ValueError):
        CF.load_fleet(store.conn, t0, month="2026-13")
    assert CF.sites_of_region(store.conn, "MK01") == []


def test_two_refreshes_at_once_take_turns(central_dsn):
    """Two connections refresh together: each start is reported by exactly one of them."""
    a, b = CentralStore(central_dsn), CentralStore(central_dsn)
    try:
        a.register_site(SITE, SITE_TEXT, when=at(2026, 11, 1))
        for d in ("kiosk-1", "display-1"):
            a.set_status("test-pp", d, "availability", "offline", at(2026, 11, 2, 9))
        out: list = []
        threads = [threading.Thread(target=lambda s=s: out.extend(CF.refresh_alerts(s.conn, at(2026, 11, 2, 10))))
                   for s in (a, b)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert sorted(x.key for x in out) == ["offline/test-pp/display-1", "offline/test-pp/kiosk-1"]
    finally:
        a.close()
        b.close()


# --- the command and its units -----------------------------------------------------------------------

def central_toml(path: Path, tls, dsn: str, alerts: dict) -> Path:
    lines = ["[database]", f"dsn = {json.dumps(dsn)}", "", "[broker]", 'url = "mqtts://127.0.0.1:8883"',
             f"ca_file = {json.dumps(tls.cafile)}", f"cert_file = {json.dumps(tls.certfile)}",
             f"key_file = {json.dumps(tls.keyfile)}", "", "[alerts]"]
    lines += [f"{k} = {json.dumps(v)}" for k, v in alerts.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_the_command_refreshes_and_sends(central_dsn, tls, webhook, smtp, password_file, tmp_path):
    db = CentralStore(central_dsn)
    try:
        db.register_site(ALWAYS, ALWAYS_TEXT)   # the command runs on the wall clock: a site open all day
        db.set_status("test-pp", "kiosk-1", "availability", "offline", now_ms() - 20 * MIN)
    finally:
        db.close()
    conf = central_toml(tmp_path / "central.toml", tls, central_dsn, {
        "webhook_url": webhook.url(), "webhook_ca_file": tls.cafile, "timeout_s": 5,
        "smtp_host": "127.0.0.1", "smtp_port": smtp.port, "smtp_ca_file": tls.cafile, "smtp_user": SMTP_USER,
        "smtp_password_file": str(password_file), "mail_from": "palvelupiste@example.fi",
        "mail_to": ["tekniikka@example.fi"]})
    # a dry run: says what would happen, and nothing happens
    rc, out, err = run_cli("central", "alerts", "--config", str(conf), "--dry-run")
    assert rc == 0, err
    assert "started  certificate/*" in out and "started  offline/test-pp/kiosk-1" in out   # the CA lasts 2 days
    assert "would send (webhook, e-mail): ALERT offline at test-pp kiosk-1" in out and "nothing was changed" in out
    assert webhook.attempts == 0 and smtp.drained() == []
    db = CentralStore(central_dsn)
    try:
        assert CF.stored_alerts(db.conn, active_only=False) == []
    finally:
        db.close()
    # the run: both sent on both channels
    rc, out, err = run_cli("central", "alerts", "--config", str(conf), "--db", central_dsn)
    assert rc == 0, err
    assert "sent 2 message(s) (webhook, e-mail)" in out
    kinds = {next_item(webhook.received, what="a POST")[2]["kind"] for _ in range(2)}
    assert kinds == {"certificate", "offline"}
    mail = next_item(smtp.received, what="the e-mail")["data"].decode()
    assert "2 alerts started" in mail
    # and again: nothing new
    rc, out, err = run_cli("central", "alerts", "--config", str(conf))
    assert rc == 0 and "sent" not in out and webhook.drained() == [] and smtp.drained() == []
    # a webhook that fails: exit 1, said on stderr without the URL's path
    webhook.answer = 503
    db = CentralStore(central_dsn)
    try:
        db.set_status("test-pp", "display-1", "availability", "offline", now_ms() - 20 * MIN)
    finally:
        db.close()
    rc, out, err = run_cli("central", "alerts", "--config", str(conf))
    assert rc == 1 and "HTTP 503" in err and "secret-token" not in err + out
    # a bad [alerts] table is a configuration error (exit 2, every problem named)
    bad = central_toml(tmp_path / "bad.toml", tls, central_dsn, {"webhook_url": "http://example.fi/x",
                                                                  "mail_to": ["x@example.fi"]})
    rc, _, err = run_cli("central", "alerts", "--config", str(bad))
    assert rc == 2 and "alerts.webhook_url" in err and "alerts.smtp_host" in err


def test_the_alerts_units_are_the_files_in_the_repository_and_verify(tmp_path, fake_bin):
    d = REPO / "systemd" / "central"
    assert C.render_alerts_unit() == (d / C.ALERTS_UNIT).read_text()
    assert "OnCalendar=minutely" in C.unit_template(C.ALERTS_TIMER)
    exe = shutil.which("systemd-analyze")
    if exe is None:
        pytest.fail("systemd-analyze is not installed (apt-get install systemd)")
    units = tmp_path / "units"
    units.mkdir()
    (units / C.ALERTS_UNIT).write_text(C.render_alerts_unit(str(fake_bin)))
    (units / C.ALERTS_TIMER).write_text(C.unit_template(C.ALERTS_TIMER))
    (units / C.DB_UNIT).write_text(C.render_db_unit(str(fake_bin)))
    r = subprocess.run([exe, "verify", C.ALERTS_UNIT, C.ALERTS_TIMER], capture_output=True, text=True, timeout=60,
                       env={**os.environ, "SYSTEMD_UNIT_PATH": f"{units}:"})
    assert r.returncode == 0, r.stderr + r.stdout
    assert [x for x in r.stderr.splitlines() if x.strip()] == [], r.stderr


def test_provisioning_installs_and_enables_the_alerts_timer(tmp_path, fake_bin):
    from appliance import units as U
    from tests.test_central_role import CentralHost, in_root

    h = CentralHost(tmp_path, fake_bin)
    root = h.root
    assert C.render_alerts_unit(str(fake_bin)) == in_root(root, f"{U.UNIT_DIR}/{C.ALERTS_UNIT}").read_text()
    assert in_root(root, f"{U.UNIT_DIR}/{C.ALERTS_TIMER}").read_text() == C.unit_template(C.ALERTS_TIMER)
    assert os.readlink(in_root(root, f"{U.UNIT_DIR}/timers.target.wants/{C.ALERTS_TIMER}")) == \
        f"{U.UNIT_DIR}/{C.ALERTS_TIMER}"
    # an SMTP password file named in [alerts] is handed to the service user at boot; the timer is
    # enabled (and started) on a live host
    conf = in_root(root, S.CENTRAL_CONFIG)
    conf.write_text(conf.read_text() + '\n[alerts]\nsmtp_host = "smtp.example.fi"\nsmtp_user = "alerts"\n'
                    'smtp_password_file = "/etc/palvelupiste/central/smtp.password"\n'
                    'mail_from = "pp@example.fi"\nmail_to = ["t@example.fi"]\n')
    plan = C.make_plan(C.CentralOptions(root=str(root), bin=str(fake_bin)))
    plan.live = True
    assert [i.path for i in plan.changes] == [U.TMPFILES_FILE]
    assert ["systemctl", "enable", "--now", C.ALERTS_TIMER, C.WEB_UNIT] in C._commands(plan, h.settings())
    rc, out, err = h.provision()
    assert rc == 0, err
    assert "z /etc/palvelupiste/central/smtp.password 0600 palvelupiste palvelupiste -" in \
        in_root(root, U.TMPFILES_FILE).read_text()
