"""The doctor's checks of the device's links: the site and central brokers answer a real MQTT 5
connect with the device's own user and password, and the sync backlog (events the central side
has not acknowledged yet) is not growing old.

`open_store_ro` reads the event store without writing to it; the doctor's event store check
(appliance.checks) uses it too.
"""
from __future__ import annotations

import json
import os
import socket
import sqlite3
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.config import Broker
from runtime.checks import FAIL, OK, SKIP, WARN, Check, Context, Result, age
from runtime.status import STATUS_FILE

BACKLOG_WARN_S = 15 * 60
BACKLOG_FAIL_S = 24 * 3600


@dataclass(frozen=True)
class ProbeResult:
    outcome: str   # ok | auth | unreachable | tls | timeout | refused | error
    detail: str
    ms: int | None = None


_PROBE_REASONS_AUTH = {134, 135, 140}  # bad user name or password, not authorized, bad auth method


def mqtt_probe(broker: Broker, username: str | None, password: str | None, client_id: str,
               timeout: float = 3.0) -> ProbeResult:
    """One real MQTT 5 connect (and a clean disconnect), within `timeout` seconds."""
    import paho.mqtt.client as paho
    from paho.mqtt.enums import CallbackAPIVersion

    got: dict[str, Any] = {}
    done = threading.Event()

    def on_connect(client, userdata, flags, reason_code, properties):
        got["rc"] = reason_code
        done.set()

    def on_disconnect(client, userdata, flags, reason_code, properties):
        got.setdefault("disc", reason_code)
        done.set()

    c = paho.Client(callback_api_version=CallbackAPIVersion.VERSION2, client_id=client_id,
                    protocol=paho.MQTTv5)
    c.connect_timeout = timeout
    c.on_connect, c.on_disconnect = on_connect, on_disconnect
    if username is not None:
        c.username_pw_set(username, password)
    t0 = time.monotonic()
    try:
        if broker.tls:
            c.tls_set(ca_certs=broker.ca_file, certfile=broker.cert_file, keyfile=broker.key_file,
                      cert_reqs=ssl.CERT_REQUIRED, tls_version=ssl.PROTOCOL_TLS_CLIENT)
        c.connect(broker.host, broker.port, keepalive=10)
    except ssl.SSLError as exc:
        return ProbeResult("tls", f"TLS handshake failed: {exc.reason or exc}")
    except socket.gaierror as exc:
        return ProbeResult("unreachable", f"cannot resolve {broker.host}: {exc.strerror or exc}")
    except (TimeoutError, socket.timeout):
        return ProbeResult("timeout", f"no connection to {broker.host}:{broker.port} within {timeout:g} s")
    except OSError as exc:
        return ProbeResult("unreachable", f"cannot connect to {broker.host}:{broker.port}: {exc.strerror or exc}")
    deadline = t0 + timeout
    try:
        while not done.is_set() and time.monotonic() < deadline:
            err = c.loop(timeout=0.05)
            if err != paho.MQTT_ERR_SUCCESS and not done.is_set():
                if "rc" not in got:
                    got["loop"] = err
                    break
    except ssl.SSLError as exc:
        return ProbeResult("tls", f"TLS handshake failed: {exc.reason or exc}")
    except OSError as exc:
        return ProbeResult("unreachable", f"connection to {broker.host}:{broker.port} broke: {exc}")
    ms = int((time.monotonic() - t0) * 1000)
    try:
        if "rc" in got and not got["rc"].is_failure:
            c.disconnect()
            c.loop(timeout=0.05)
    except Exception:  # only tidying up
        pass
    finally:
        try:
            sock = c.socket()
            if sock is not None:
                sock.close()
        except Exception:
            pass
    rc = got.get("rc")
    if rc is None:
        if "loop" in got or "disc" in got:
            return ProbeResult("refused", f"{broker.host}:{broker.port} closed the connection without an answer "
                                          "(not an MQTT broker, or TLS expected?)")
        return ProbeResult("timeout", f"{broker.host}:{broker.port}: no answer to CONNECT within {timeout:g} s")
    if not rc.is_failure:
        return ProbeResult("ok", f"connected to {broker.host}:{broker.port}", ms)
    if rc.value in _PROBE_REASONS_AUTH:
        return ProbeResult("auth", f"{broker.host}:{broker.port} refused user {username!r}: {rc}")
    return ProbeResult("error", f"{broker.host}:{broker.port} refused the connection: {rc}")


def _broker_check(ctx: Context, which: str) -> Result:
    name = f"{which} broker"
    d = ctx.device
    if d is None:
        return Result(name, SKIP, "no valid device configuration")
    b = d.site_broker if which == "site" else d.central_broker
    if b is None:
        return Result(name, FAIL, f"no [{which}_broker] in the device configuration",
                      "run palvelupiste provision again with --site-broker and --central-broker")
    try:
        password = b.password()
    except OSError as exc:
        return Result(name, FAIL, f"password file {b.password_file}: {exc.strerror or exc}",
                      "run palvelupiste provision again (it writes the password files; run the doctor as root "
                      "or as the service user to read them)")
    if b.username and password is None:
        return Result(name, FAIL, f"user {b.username!r} has no password_file", "run palvelupiste provision again")
    cid = f"{b.username or d.id}-doctor-{os.getpid()}"
    r = ctx.sources.mqtt_probe(b, b.username, password, cid, ctx.timeout)
    if r.outcome == "ok":
        who = f" as {b.username!r}" if b.username else " without a user name"
        return Result(name, OK, f"{r.detail}{who}" + (f" in {r.ms} ms" if r.ms is not None else ""))
    if r.outcome == "auth":
        if which == "site":
            hint = (f"the hub's Mosquitto has another password for {b.username!r}: copy the hub's "
                    f"/etc/palvelupiste/site-credentials/{d.id}.password to {b.password_file} (or this file to the "
                    "hub) and run palvelupiste provision on the hub again; the device must be in the site's "
                    "[[devices]]")
        else:
            hint = (f"the central broker does not know this password for {b.username!r}: send "
                    "/etc/palvelupiste/central-broker.entry (a hash, safe to send) to the central administrators")
        return Result(name, FAIL, f"password refused: {r.detail}", hint)
    if r.outcome == "tls":
        return Result(name, FAIL, r.detail, "check ca_file in the device configuration and the clock "
                                            "(certificates are valid only at the right date)")
    if which == "site":
        hint = ("is the hub on and its broker running (on the hub: systemctl status mosquitto)? same network? "
                "the URL in [site_broker]? without the hub the kiosk cannot hand out numbers")
    else:
        hint = ("the internet connection, DNS and the firewall (outgoing port "
                f"{b.port}); the site keeps working offline and the events wait in the store")
    return Result(name, FAIL, r.detail, hint)


@contextmanager
def open_store_ro(path: str) -> Iterator[sqlite3.Connection]:
    """A read-only connection to the event store. SQLite may still make its -wal/-shm files: run
    as root, they get the store's owner, so that the services are never locked out by the doctor."""
    side = [Path(path + s) for s in ("-wal", "-shm")]
    before = {p for p in side if p.exists()}
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
        try:
            yield conn
        finally:
            conn.close()
    finally:
        _give_store_owner(path, [p for p in side if p not in before])


def _give_store_owner(store: str, made: list[Path]) -> None:
    if os.geteuid() != 0:
        return
    try:
        st = os.stat(store)
        for p in made:
            if p.exists() and p.stat().st_uid != st.st_uid:
                os.chown(p, st.st_uid, st.st_gid)
    except OSError:
        pass


def check_backlog(ctx: Context) -> Result:
    name = "sync backlog"
    d = ctx.device
    if d is None:
        return Result(name, SKIP, "no valid device configuration")
    store = ctx.result("event store")
    if store is not None and store.status == FAIL:
        return Result(name, SKIP, "no event store" if not Path(d.store).is_file() else "store unreadable")
    if not Path(d.store).is_file():
        return Result(name, SKIP, "no event store")
    try:
        with open_store_ro(d.store) as conn:
            meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
            last, acked = int(meta.get("last_seq", 0)), int(meta.get("acked_seq", 0))
            row = conn.execute("SELECT ts FROM events WHERE seq > ? ORDER BY seq LIMIT 1", (acked,)).fetchone()
    except sqlite3.DatabaseError as exc:
        busy = "locked" in str(exc) or "busy" in str(exc)
        return Result(name, SKIP, "store busy" if busy else "store unreadable")
    return _backlog(ctx, d.data_dir, last, acked, row[0] if row else None)


def _backlog(ctx: Context, data_dir: str, last: int, acked: int, oldest_ms: int | None) -> Result:
    name = "sync backlog"
    st_path = Path(data_dir) / STATUS_FILE
    try:
        doc = json.loads(st_path.read_text(encoding="utf-8"))
        since = ctx.sources.now() - st_path.stat().st_mtime
        agent = (f"; sync agent {'connected' if doc.get('connected') else 'NOT connected'} "
                 f"({age(since)} ago)")
    except (OSError, ValueError, AttributeError):
        agent = "; no report from the sync agent yet"
    backlog = last - acked
    if backlog <= 0:
        what = "no events yet" if last == 0 else f"all {last} events acknowledged by the central side"
        return Result(name, OK, what + agent)
    age_s = ctx.sources.now() - oldest_ms / 1000 if oldest_ms else 0.0
    detail = f"{backlog} events not yet acknowledged, the oldest from {age(age_s)} ago{agent}"
    hint = ("is the sync agent running (systemctl status palvelupiste-sync; journalctl -u palvelupiste-sync)? "
            "the central broker reachable (see above)? nothing is lost: the events wait in the store")
    if age_s > BACKLOG_FAIL_S:
        return Result(name, FAIL, detail, hint)
    if age_s > BACKLOG_WARN_S:
        return Result(name, WARN, detail, hint)
    return Result(name, OK, detail)


BACKLOG = Check("sync backlog", check_backlog)
SITE_BROKER = Check("site broker", lambda ctx: _broker_check(ctx, "site"), network=True)
CENTRAL_BROKER = Check("central broker", lambda ctx: _broker_check(ctx, "central"), network=True)
