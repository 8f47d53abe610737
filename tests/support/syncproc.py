"""Sync tests' plumbing: a secured central broker built from the project's own templates, device
configurations, sync agents and ingest workers as real subprocesses, and the final equality check.

Nothing here mocks MQTT: the broker is Mosquitto with systemd/mosquitto/central-broker.conf.in,
the ACL from bus.brokerconf.render_central_acl() and password files written by
bus.brokerconf.write_password_file(): the services' (ingest, publisher) on `port`/`url`, the
devices' on `device_port`/`device_url` (plain MQTT unless `tls` is given).
"""
from __future__ import annotations

import getpass
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from bus import brokerconf, topics
from bus.link import Connected, ConnectFailed, LinkOptions, MqttLink, PubAck
from tests.support.broker import MosquittoBroker, free_port
from tests.support.wait import next_item, wait_until  # the sync and ingest tests take wait_until from here too

REPO = Path(__file__).resolve().parent.parent.parent
SITE = "test-site"

FAST_SYNC = {"batch_events": 200, "window": 8, "ack_timeout_s": 1.5, "ack_timeout_max_s": 2.0, "nosub_retry_s": 0.3,
             "ack_wait_s": 2.0, "poll_s": 0.1, "status_interval_s": 0.5, "status_min_interval_s": 0.2,
             "min_backoff_s": 0.05, "max_backoff_s": 0.5, "keepalive_s": 5}


def password_for(user: str) -> str:
    return f"pw-{user}-secret"


SERVICE_USERS = ("ingest", "publisher")


class Central:
    """The central broker (secured, from the project's templates) plus paths for the central DB."""

    def __init__(self, workdir: Path, devices: Iterable[str], site: str = SITE, tls: brokerconf.TlsFiles | None = None,
                 tls_port: int | None = None, pg_dsn: str | None = None) -> None:
        """`pg_dsn`: the central store (a PostgreSQL database: the `central_dsn` fixture); needed
        only to start an ingest or read the store."""
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.site = site
        self.devices = list(devices)
        self.pg_dsn = pg_dsn
        self.db = pg_dsn or ""  # what `--db` of the central commands takes
        self.passwd = self.workdir / "passwd"
        self.service_passwd = self.workdir / "service-passwd"
        self.acl = self.workdir / "acl"
        services = {u: password_for(u) for u in SERVICE_USERS}
        devices_pw = {}
        for d in self.devices:
            u = topics.central_username(site, d)
            devices_pw[u] = password_for(u)
        self.users = {**services, **devices_pw}
        brokerconf.write_password_file(self.service_passwd, services)
        brokerconf.write_password_file(self.passwd, devices_pw)
        self.acl.write_text(brokerconf.render_central_acl({site: self.devices}))
        for u, p in self.users.items():
            (self.workdir / f"{u}.pw").write_text(p + "\n")
        self.port = free_port()
        self.device_port = tls_port or free_port()
        self.tls = tls
        conf = brokerconf.render_central_broker_conf(
            data_dir=self.workdir / "mosq", password_file=self.passwd, service_password_file=self.service_passwd,
            acl_file=self.acl, tls=tls, port=self.port, device_port=self.device_port, device_bind_address="127.0.0.1",
            user=getpass.getuser())
        (self.workdir / "mosq").mkdir(exist_ok=True)
        self.broker = MosquittoBroker(self.workdir / "mosq", port=self.port, config_text=conf)
        self.procs: list[subprocess.Popen] = []

    @property
    def url(self) -> str:
        """The services' listener (ingest, publisher)."""
        return f"mqtt://127.0.0.1:{self.port}"

    @property
    def device_url(self) -> str:
        """The devices' listener."""
        return f"{'mqtts' if self.tls else 'mqtt'}://127.0.0.1:{self.device_port}"

    def pwfile(self, user: str) -> str:
        return str(self.workdir / f"{user}.pw")

    def start(self) -> "Central":
        self.broker.start()
        return self

    # --- processes ---------------------------------------------------------------------------

    def spawn(self, args: list[str], log_name: str) -> subprocess.Popen:
        env = dict(os.environ, PYTHONPATH=str(REPO), PYTHONUNBUFFERED="1")
        logf = open(self.workdir / log_name, "ab")
        p = subprocess.Popen([sys.executable, "-m", "cli", *args], cwd=REPO, env=env, stdout=logf, stderr=logf)
        logf.close()
        self.procs.append(p)
        return p

    def start_ingest(self, name: str = "ingest-a") -> subprocess.Popen:
        """An ingest worker; `name` names its log and is its client-id instance ("ingest/<name>")."""
        assert self.pg_dsn, "an ingest needs the central store: Central(..., pg_dsn=central_dsn)"
        return self.spawn(["central", "ingest", "--db", self.db, "--broker", self.url,
                           "--username", "ingest", "--password-file", self.pwfile("ingest"),
                           "--client-id", name, "--log-level", "INFO"], f"{name}.log")

    def start_agent(self, device_toml: Path, name: str | None = None) -> subprocess.Popen:
        return self.spawn(["sync", "--config", str(device_toml), "--log-level", os.environ.get("PP_SYNC_LOG", "INFO")], f"{name or Path(device_toml).stem}.log")

    def log(self, name: str) -> str:
        try:
            return (self.workdir / name).read_text(errors="replace")
        except OSError:
            return ""

    def stop_all(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in self.procs:
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(5)
        self.procs.clear()
        self.broker.stop()

    # --- MQTT clients as any of the users ------------------------------------------------------

    def link(self, user: str | None, client_id: str | None = None,
             subscriptions: list[tuple[str, int]] | None = None, password: str | None = None,
             port: int | None = None) -> MqttLink:
        """A plain-MQTT link as `user`: on the services' listener for the services, on the devices'
        one for everybody else (unless `port` says otherwise)."""
        if port is None:
            port = self.port if user in SERVICE_USERS else self.device_port
        if client_id is None:
            client_id = topics.client_id(user, f"t{time.monotonic_ns()}") if user in SERVICE_USERS \
                else (user or f"anonymous-{time.monotonic_ns()}")
        opts = LinkOptions("127.0.0.1", port, client_id, username=user,
                           password=self.users.get(user or "") if password is None else password,
                           subscriptions=list(subscriptions or []), min_backoff_s=0.05, max_backoff_s=0.5)
        return MqttLink(opts).start()

    # --- the central database --------------------------------------------------------------------

    def query(self, sql: str, args: tuple = ()) -> list[tuple]:
        """`sql` with ? placeholders on the central store ([] before its schema exists)."""
        import psycopg

        assert self.pg_dsn, "this Central has no database (pg_dsn)"
        try:
            with psycopg.connect(self.pg_dsn) as pconn:
                return pconn.execute(sql.replace("?", "%s"), args).fetchall()
        except psycopg.errors.UndefinedTable:
            return []

    def count(self, device: str | None = None) -> int:
        if device is None:
            rows = self.query("SELECT count(*) FROM events")
        else:
            rows = self.query("SELECT count(*) FROM events WHERE site=? AND device=?", (self.site, device))
        return rows[0][0] if rows else 0

    def watermark(self, device: str) -> int:
        rows = self.query("SELECT seq FROM watermarks WHERE site=? AND device=?", (self.site, device))
        return rows[0][0] if rows else 0

    def dead_letters(self) -> list[tuple]:
        return self.query("SELECT reason, count, payload_bytes, device FROM dead_letter ORDER BY id")


def write_device(workdir: Path, central: Central, device: str, role: str = "kiosk", sync: dict | None = None,
                 extra: str = "", device_keys: dict | None = None) -> Path:
    """A device configuration whose central broker is `central`, with the FAST_SYNC settings.
    `device_keys` adds keys to [device] (e.g. site_config); `extra` appends tables."""
    workdir = Path(workdir) / device
    workdir.mkdir(parents=True, exist_ok=True)
    user = topics.central_username(central.site, device)
    opts = dict(FAST_SYNC, **(sync or {}))
    lines = [
        "[device]", f'id = "{device}"', f'role = "{role}"', f'site = "{central.site}"', 'data_dir = "data"',
        *[f"{k} = {json.dumps(v)}" for k, v in (device_keys or {}).items()],
        "", "[central_broker]", f'url = "{central.device_url}"', f'username = "{user}"',
        f'password_file = "{central.pwfile(user)}"',
        *([f'ca_file = "{central.tls.cafile}"'] if central.tls else []), "", "[sync]",
    ]
    lines += [f"{k} = {json.dumps(v)}" for k, v in opts.items()]
    path = workdir / f"{device}.toml"
    path.write_text("\n".join(lines) + "\n" + extra)
    return path


def device_store_path(device_toml: Path) -> Path:
    return Path(device_toml).parent / "data" / "events.sqlite"


def store_seqs(device_toml: Path) -> tuple[int, int]:
    """(last_seq, acked_seq) of a device store, read without disturbing the writers."""
    p = device_store_path(device_toml)
    if not p.exists():
        return 0, 0
    conn = sqlite3.connect(str(p), timeout=10)
    try:
        meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
    except sqlite3.OperationalError:
        return 0, 0
    finally:
        conn.close()
    return int(meta.get("last_seq", 0)), int(meta.get("acked_seq", 0))


def fill_store(device_toml: Path, site: str, device: str, n: int, chunk: int = 1000) -> int:
    """Append n events (in transactions of `chunk`) the way the apps do; returns last_seq."""
    from core.store import EventStore

    with EventStore(device_store_path(device_toml), site, device) as store:
        done = 0
        while done < n:
            k = min(chunk, n - done)
            store.append_many([("feedback.given", {"rating": (done + i) % 5 + 1, "scale": 5}) for i in range(k)])
            done += k
        return store.last_seq


def wait_synced(central: Central, tomls: dict[str, Path], timeout: float = 30.0) -> None:
    def done() -> bool:
        for dev, toml in tomls.items():
            last, acked = store_seqs(toml)
            if last == 0 or acked != last:
                return False
        return True
    try:
        wait_until(done, timeout, "every device's acked_seq == last_seq", interval=0.05)
    except AssertionError:
        state = {d: store_seqs(t) for d, t in tomls.items()}
        wms = {d: (central.count(d), central.watermark(d)) for d in tomls}
        logs = "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-3000:]}"
                         for p in central.workdir.glob("*.log"))
        raise AssertionError(f"not synced: device (last, acked) {state}; central (rows, watermark) {wms}\n{logs}")


def assert_synced(central: Central, tomls: dict[str, Path]) -> None:
    """events on the devices == rows in the central database: no gap, no duplicate, acked == last."""
    from core.store import EventStore

    for dev, toml in tomls.items():
        with EventStore(device_store_path(toml), central.site, dev) as store:
            local = [(e.seq, e.id, e.type, e.ts) for e in store.iter_events()]
            last, acked = store.last_seq, store.acked_seq
        rows = central.query("SELECT seq, id, type, ts FROM events WHERE site=? AND device=? ORDER BY seq",
                             (central.site, dev))
        assert last > 0
        assert acked == last, f"{dev}: acked_seq {acked} != last_seq {last}"
        assert [r[0] for r in rows] == list(range(1, last + 1)), f"{dev}: central rows are not exactly 1..{last}"
        assert [tuple(r) for r in rows] == local, f"{dev}: central rows differ from the device's events"
        assert central.watermark(dev) == last, f"{dev}: central watermark {central.watermark(dev)} != {last}"


def wait_item(link: MqttLink, pred: Callable[[Any], bool], timeout: float = 10.0) -> Any:
    """The first item on the link's inbox that satisfies `pred` (earlier ones are dropped)."""
    return next_item(link.inbox, pred, timeout)


def connect_result(link: MqttLink, timeout: float = 10.0) -> Any:
    """Connected, or the first ConnectFailed."""
    return wait_item(link, lambda i: isinstance(i, (Connected, ConnectFailed)), timeout)


def publish_wait(link: MqttLink, topic: str, payload: bytes, retain: bool = False, timeout: float = 10.0) -> PubAck:
    rc, mid = link.publish(topic, payload, qos=1, retain=retain)
    assert rc == 0, rc
    return wait_item(link, lambda i: isinstance(i, PubAck) and i.mid == mid, timeout)


def publish_until_delivered(link: MqttLink, topic: str, payload: bytes, timeout: float = 15.0) -> PubAck:
    """Publish (QoS 1) again until the PUBACK no longer says 0x10 "No matching subscribers": the
    way to know that a subscriber's SUBSCRIBE has been processed. Exactly one copy is delivered."""
    def delivered() -> PubAck | None:
        ack = publish_wait(link, topic, payload)
        assert not ack.failure, ack
        return ack if ack.code == 0 else None

    return wait_until(delivered, timeout, f"a subscriber to {topic}", interval=0.05)


def wait_ingest_subscribed(link: MqttLink, site: str, device: str, timeout: float = 15.0) -> None:
    """Publish empty batches (as the device) until an ingest worker receives them; then take the
    ack {"seq": ...} that the empty batch earned out of the inbox, if the link subscribed it."""
    empty = json.dumps({"site": site, "device": device, "events": []}).encode()
    publish_until_delivered(link, topics.events(site, device), empty, timeout)
    if (topics.ack(site, device), 1) in link.opts.subscriptions:
        from bus.link import Message
        wait_item(link, lambda i: isinstance(i, Message) and i.topic == topics.ack(site, device))
