"""Sending the fleet's alerts: each alert that starts or clears goes to a webhook (an HTTPS POST of
JSON) and by e-mail (SMTP with STARTTLS), as central.toml's [alerts] says (central/settings.py).
`palvelupiste central alerts` runs `run` every minute (palvelupiste-central-alerts.timer).

A run: refresh the alerts table from what holds now (central/fleet.refresh_alerts), then deliver
every message not yet delivered — this run's and any an earlier run could not deliver — and record
`sent_ms` only for those that every configured channel accepted. So an alert is announced once when
it starts and once when it clears, and a webhook or mail server that is down gets the messages on
the first run after it is back. Two runs never overlap (an advisory lock; the second one waits for
nothing and does nothing).

Each channel gets every pending message: a webhook request per message (stopping at its first
failure in a run, so a dead server costs one timeout a minute), one e-mail listing them all. When
one channel fails and the other succeeds, the messages stay pending and the one that succeeded gets
them again on the next run: every message carries a stable id (JSON "id"; the e-mail's Message-ID
is made from the ids) for a receiver to drop the repeat. The table has one sent_ms per alert, not
one per channel.

What a message holds: site and device ids, the alert's kind, times and numbers — nothing else (the
tables hold nothing about a citizen either). A webhook URL's path may be a secret token: only its
scheme and host are ever printed or logged.
"""
from __future__ import annotations

import datetime as _dt
import hashlib
import http.client
import json
import smtplib
import ssl
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formatdate
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psycopg

from core import fleet as F
from core.events import valid_id

from .fleet import CLEARED, STARTED, StoredAlert, mark_sent, pending_alerts, refresh_alerts
from .settings import AlertSettings

#: the advisory lock a whole run holds (refresh + delivery), so two runs never deliver the same message
RUN_LOCK = 0x616C7274  # "alrt"
USER_AGENT = "palvelupiste-alerts"
#: what is read of a webhook's answer at most
MAX_ANSWER_BYTES = 65536


class DeliveryError(Exception):
    """A channel did not take a message; the text says why (without the webhook URL's path)."""


@dataclass
class RunResult:
    changed: list[StoredAlert] = field(default_factory=list)     # started or cleared in this run
    pending: list[StoredAlert] = field(default_factory=list)     # due: this run's and earlier undelivered
    delivered: list[StoredAlert] = field(default_factory=list)   # every configured channel took them
    failures: list[str] = field(default_factory=list)            # "webhook …: reason", "e-mail …: reason"
    channels: tuple[str, ...] = ()
    dry_run: bool = False
    busy: bool = False                                           # another run held the lock: nothing done

    @property
    def ok(self) -> bool:
        return not self.failures


# --- what a message says -------------------------------------------------------------------------

def safe_id(value: Any) -> str:
    """A site or device id as it may appear in a message (anything else as a digest of it)."""
    if value is None:
        return "-"
    if valid_id(value) or value == F.CENTRAL_SITE:
        return str(value)
    return "id-" + hashlib.sha256(str(value).encode("utf-8", "replace")).hexdigest()[:12]


def _numbers(values: dict[str, Any]) -> dict[str, int | float]:
    return {str(k): v for k, v in values.items()
            if isinstance(k, str) and k.replace("_", "").isalnum() and k.isascii()
            and isinstance(v, (int, float)) and not isinstance(v, bool)}


def _utc(ms: Any) -> str:
    if not isinstance(ms, (int, float)) or isinstance(ms, bool):
        return "?"
    return _dt.datetime.fromtimestamp(ms / 1000, _dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def safe_key(a: StoredAlert) -> str:
    """The alert's key as it may appear in a message (its kind, site and device made safe)."""
    kind = a.kind if a.kind in F.KINDS else "alert"
    return F.alert_key(kind, safe_id(a.site), None if a.device is None else safe_id(a.device))


def message_id(a: StoredAlert) -> str:
    """Stable over retries: the alert's key, when this occurrence started, and the event."""
    return f"{safe_key(a)}@{a.first_ms}:{a.event}"


def describe(a: StoredAlert) -> str:
    """One line of English: the event, kind, ids and numbers."""
    v = _numbers(a.values)
    what = {
        F.OFFLINE: lambda: f"offline since {_utc(v.get('since_ms'))}, {v.get('offline_open_min', '?')} min of it "
                           "in opening hours",
        F.PAPER_NEAR_END: lambda: "printer paper near its end",
        F.PAPER_OUT: lambda: "printer out of paper",
        F.BACKLOG: lambda: f"unsynced backlog growing: {v.get('from_backlog', '?')} -> {v.get('backlog', '?')} events "
                           f"in {v.get('span_min', '?')} min",
        F.CLOCK: lambda: f"clock off by {v.get('offset_s', '?')} s",
        F.CERTIFICATE: lambda: f"the central broker's TLS certificate expires {_utc(v.get('not_after_ms'))} "
                               f"({v.get('days_left', '?')} days)",
        F.FEED: lambda: f"booking feed failing since {_utc(v.get('since_ms'))}, {v.get('failed_open_min', '?')} min "
                        "of it in opening hours (the fleet view says why)",
    }.get(a.kind, lambda: "alert")()
    where = "central" if a.site == F.CENTRAL_SITE else safe_id(a.site) + (
        f" {safe_id(a.device)}" if a.device is not None else "")
    kind = a.kind if a.kind in F.KINDS else "alert"
    if a.event == CLEARED:
        return f"CLEARED {kind} at {where}: was {what} (from {_utc(a.first_ms)} to {_utc(a.cleared_ms)})"
    return f"ALERT {kind} at {where}: {what}"


def payload(a: StoredAlert) -> dict[str, Any]:
    """The webhook's JSON for one message (a "text" line too, for chat webhooks that show it)."""
    return {"source": "palvelupiste", "id": message_id(a), "event": a.event,
            "kind": a.kind if a.kind in F.KINDS else "alert", "key": safe_key(a),
            "site": safe_id(a.site), "device": None if a.device is None else safe_id(a.device),
            "first_ms": a.first_ms, "last_ms": a.last_ms, "cleared_ms": a.cleared_ms,
            "values": _numbers(a.values), "text": describe(a)}


def mail_message(settings: AlertSettings, alerts: Sequence[StoredAlert], now_ms: int) -> EmailMessage:
    started = sum(1 for a in alerts if a.event == STARTED)
    cleared = len(alerts) - started
    msg = EmailMessage()
    parts = ([f"{started} alert{'s' if started != 1 else ''} started"] if started else []) + \
        ([f"{cleared} cleared"] if cleared else [])
    msg["Subject"] = "palvelupiste fleet: " + ", ".join(parts)
    msg["From"] = settings.mail_from
    msg["To"] = ", ".join(settings.mail_to)
    msg["Date"] = formatdate(now_ms / 1000, usegmt=True)
    digest = hashlib.sha256("\n".join(message_id(a) for a in alerts).encode("utf-8")).hexdigest()[:32]
    msg["Message-ID"] = f"<{digest}@alerts.palvelupiste>"
    lines = [describe(a) for a in alerts]
    lines += ["", "Message ids (the same message sent again carries the same ids):"]
    lines += [f"  {message_id(a)}" for a in alerts]
    lines += ["", "The fleet view has the details. This message holds only site and device ids and numbers."]
    msg.set_content("\n".join(lines) + "\n")
    return msg


# --- the channels --------------------------------------------------------------------------------

def url_shown(url: str) -> str:
    """The webhook URL as it may be printed: scheme and host only (the path may be a token)."""
    try:
        p = urlsplit(url)
        return f"{p.scheme}://{p.netloc.rsplit('@', 1)[-1]}/…"
    except ValueError:
        return "(the webhook URL)"


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirect is an error: a POST must reach the configured server itself."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


def post_webhook(settings: AlertSettings, body: dict[str, Any]) -> int:
    """POST `body` as JSON; returns the HTTP status (2xx), else DeliveryError."""
    where = f"webhook {url_shown(settings.webhook_url)}"
    try:
        ctx = ssl.create_default_context(cafile=settings.webhook_ca_file or None)
    except (OSError, ssl.SSLError) as exc:
        raise DeliveryError(f"{where}: cannot read webhook_ca_file {settings.webhook_ca_file}: {exc}") from None
    opener = urllib.request.build_opener(urllib.request.HTTPSHandler(context=ctx), _NoRedirect())
    data = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    req = urllib.request.Request(settings.webhook_url, data=data, method="POST",
                                 headers={"Content-Type": "application/json", "User-Agent": USER_AGENT})
    try:
        with opener.open(req, timeout=settings.timeout_s) as resp:
            status = int(resp.status)
            resp.read(MAX_ANSWER_BYTES)
    except urllib.error.HTTPError as exc:
        raise DeliveryError(f"{where}: HTTP {exc.code}") from None
    except urllib.error.URLError as exc:
        raise DeliveryError(f"{where}: {exc.reason}") from None
    except (OSError, http.client.HTTPException, ValueError) as exc:
        raise DeliveryError(f"{where}: {type(exc).__name__}: {exc}") from None
    if not 200 <= status < 300:
        raise DeliveryError(f"{where}: HTTP {status}")
    return status


def _password(settings: AlertSettings) -> str | None:
    if not settings.smtp_user:
        return None
    try:
        text = Path(settings.smtp_password_file).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise DeliveryError(f"e-mail: cannot read smtp_password_file {settings.smtp_password_file} "
                            f"({getattr(exc, 'strerror', None) or exc})") from None
    if not text or "\n" in text:
        raise DeliveryError(f"e-mail: smtp_password_file {settings.smtp_password_file} must hold one line")
    return text


def send_mail(settings: AlertSettings, msg: EmailMessage) -> list[str]:
    """Send through the SMTP server (STARTTLS first when configured; refused without it). Returns the
    recipients the server refused (the others got it); DeliveryError when nobody did."""
    where = f"e-mail via {settings.smtp_host}:{settings.smtp_port}"
    password = _password(settings)
    try:
        ctx = ssl.create_default_context(cafile=settings.smtp_ca_file or None) if settings.smtp_starttls else None
    except (OSError, ssl.SSLError) as exc:
        raise DeliveryError(f"{where}: cannot read smtp_ca_file {settings.smtp_ca_file}: {exc}") from None
    try:
        with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=settings.timeout_s) as smtp:
            smtp.ehlo()
            if ctx is not None:
                smtp.starttls(context=ctx)   # SMTPNotSupportedError when the server cannot
                smtp.ehlo()
            if settings.smtp_user and password is not None:
                smtp.login(settings.smtp_user, password)
            refused = smtp.send_message(msg)
    except smtplib.SMTPRecipientsRefused:
        raise DeliveryError(f"{where}: every recipient refused") from None
    except (smtplib.SMTPException, OSError, ssl.SSLError, ValueError) as exc:
        raise DeliveryError(f"{where}: {type(exc).__name__}: {str(exc)[:300]}") from None
    return sorted(refused)


def channels(settings: AlertSettings) -> tuple[str, ...]:
    return (("webhook",) if settings.webhook else ()) + (("e-mail",) if settings.mail else ())


def deliver(settings: AlertSettings, alerts: Sequence[StoredAlert], now_ms: int,
            say: Callable[[str], None] = lambda line: None) -> tuple[list[StoredAlert], list[str]]:
    """Send `alerts` on every configured channel; returns (the ones every channel took, failures).
    With no channel configured every one counts as delivered (the fleet view shows them)."""
    if not alerts:
        return [], []
    ok = {a.key: True for a in alerts}
    failures: list[str] = []
    if settings.webhook:
        for i, a in enumerate(alerts):
            try:
                post_webhook(settings, payload(a))
            except DeliveryError as exc:
                failures.append(str(exc))
                for rest in alerts[i:]:      # one timeout per run for a dead server, not one per alert
                    ok[rest.key] = False
                break
    if settings.mail:
        try:
            refused = send_mail(settings, mail_message(settings, alerts, now_ms))
            if refused:
                say(f"e-mail: the server refused {', '.join(refused)}; the others got it")
        except DeliveryError as exc:
            failures.append(str(exc))
            ok = dict.fromkeys(ok, False)
    return [a for a in alerts if ok[a.key]], failures


# --- the broker's certificate --------------------------------------------------------------------

def certificate_not_after_ms(path: str | Path) -> int | None:
    """The expiry of the PEM certificate at `path` (UTC ms), or None when it cannot be read (the
    central doctor's certificate check reads it the same way)."""
    decode = getattr(getattr(ssl, "_ssl", None), "_test_decode_cert", None)
    if decode is None or not Path(path).is_file():
        return None
    try:
        return int(ssl.cert_time_to_seconds(decode(str(path))["notAfter"]) * 1000)
    except (ssl.SSLError, OSError, KeyError, ValueError, TypeError):
        return None


# --- one run -------------------------------------------------------------------------------------

def run(conn: psycopg.Connection, settings: AlertSettings, now_ms: int, *,
        broker_cert_not_after_ms: int | None = None, dry_run: bool = False,
        say: Callable[[str], None] = lambda line: None) -> RunResult:
    """Refresh the alerts table and deliver what is due. `dry_run`: work out the same, send nothing
    and change nothing. `say`: progress lines (the command prints them)."""
    result = RunResult(channels=channels(settings), dry_run=dry_run)
    if dry_run:
        with conn.transaction(force_rollback=True):
            result.changed = refresh_alerts(conn, now_ms, broker_cert_not_after_ms=broker_cert_not_after_ms)
            result.pending = pending_alerts(conn)
        return result
    row = conn.execute("SELECT pg_try_advisory_lock(%s)", (RUN_LOCK,)).fetchone()
    if not (row and row[0]):
        result.busy = True
        return result
    try:
        result.changed = refresh_alerts(conn, now_ms, broker_cert_not_after_ms=broker_cert_not_after_ms)
        result.pending = pending_alerts(conn)
        result.delivered, result.failures = deliver(settings, result.pending, now_ms, say)
        if result.delivered:
            mark_sent(conn, result.delivered, now_ms)
    finally:
        conn.execute("SELECT pg_advisory_unlock(%s)", (RUN_LOCK,))
    return result
