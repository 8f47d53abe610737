"""Benchmarks of the MQTT side (not a test). The LAST line of output is one JSON object:

    cmd_rtt_p50_ms, cmd_rtt_p99_ms   a command's round trip device → site broker → hub (durable
                                     append) → answer, over the local Mosquitto with the project's
                                     site broker template, passwords and ACL (hub/service.py,
                                     hub/client.py); kiosk "take" and counter "call"/"finish"
    drain_events_per_s               one device store with BENCH_DRAIN (100,000) unsynced events →
                                     sync agent (a process) → central broker → ingest (a process)
                                     → every event acknowledged (the device's acked_seq); target ≥ 5,000/s
    ingest_events_per_s              BENCH_DEVICES (200) simulated devices publishing their batches
                                     at once (BENCH_PER_DEVICE events each) → all stored centrally

Everything runs on this machine: Mosquitto from systemd/mosquitto/*.in, real processes for the
agent and the ingest (`python -m cli ...`). Knobs (environment): BENCH_CMDS (300 rounds),
BENCH_DRAIN, BENCH_DEVICES, BENCH_PER_DEVICE (500), BENCH_INGEST_WORKERS (1), BENCH_DIR.
"""
from __future__ import annotations

import getpass
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bus import (
    brokerconf,
    topics,  # noqa: E402
)
from bus.link import Connected, LinkOptions, MqttLink, PubAck  # noqa: E402
from core.config import load_device, load_site  # noqa: E402
from core.events import Event  # noqa: E402
from tests.support.broker import MosquittoBroker, free_port  # noqa: E402
from tests.support.syncproc import (  # noqa: E402
    Central,
    fill_store,
    store_seqs,
    wait_ingest_subscribed,
    wait_item,
    wait_until,
    write_device,
)

EXAMPLE = REPO / "assets" / "sites" / "example.toml"


def env_int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    k = min(len(values) - 1, max(0, int(round(p / 100 * (len(values) - 1)))))
    return values[k]


# --- command round trip over the site broker ---------------------------------------------------

def bench_cmd_rtt(work: Path, rounds: int) -> dict:
    from bus.hubclient import HubClient
    from hub.service import HubService

    site = load_site(EXAMPLE)
    d = work / "site-broker"
    d.mkdir(parents=True)
    users = {dev: f"pw-{dev}" for dev in site.devices}
    brokerconf.write_password_file(d / "passwd", users)
    (d / "acl").write_text(brokerconf.render_site_acl(site.id, site.devices))
    port = free_port()
    hub_port = free_port()
    brokerconf.write_password_file(d / "hub-passwd", {"hub-1": users["hub-1"]})
    conf = brokerconf.render_site_broker_conf(data_dir=d, password_file=d / "passwd", hub_password_file=d / "hub-passwd",
                                              acl_file=d / "acl", port=port, hub_port=hub_port,
                                              bind_address="127.0.0.1", user=getpass.getuser())
    broker = MosquittoBroker(d, port=port, config_text=conf).start()
    hubdir = work / "hub"
    hubdir.mkdir()
    (hubdir / "site.toml").write_text(EXAMPLE.read_text())
    (hubdir / "hub.pw").write_text(users["hub-1"])
    (hubdir / "hub.toml").write_text(
        f'[device]\nid = "hub-1"\nrole = "hub"\nsite = "{site.id}"\nsite_config = "site.toml"\ndata_dir = "data"\n\n'
        f'[site_broker]\nurl = "{brokerconf.site_hub_url(hub_port)}"\nusername = "hub-1"\npassword_file = "{hubdir / "hub.pw"}"\n')
    hub = HubService(load_device(hubdir / "hub.toml"), site=site).start_in_thread()
    kiosk = HubClient(f"mqtt://127.0.0.1:{port}", site.id, "kiosk-1", password=users["kiosk-1"]).start()
    counter = HubClient(f"mqtt://127.0.0.1:{port}", site.id, "counter-1", password=users["counter-1"]).start()
    try:
        assert hub.wait_connected(10) and kiosk.wait_connected(10) and counter.wait_connected(10)
        wait_until(lambda: kiosk.request({"cmd": "state"}, timeout=0.5).get("ok"), 10, what="the hub answering")
        desk = next(iter(site.counters))  # the clerk at counter-1 works at the site's first counter
        service = site.counters[desk].services[0]
        r = counter.request({"cmd": "open", "counter": desk})
        assert r.get("ok"), r
        rtts, oks = [], 0
        for _ in range(rounds):
            for client, payload in ((kiosk, {"cmd": "take", "service": service, "lang": "fi", "needs": {}}),
                                    (counter, {"cmd": "call", "counter": desk}),
                                    (counter, {"cmd": "finish", "counter": desk})):
                t = time.perf_counter()
                r = client.request(payload, timeout=10)
                rtts.append((time.perf_counter() - t) * 1000)
                oks += bool(r.get("ok"))
        return {"cmd_rtt_p50_ms": round(statistics.median(rtts), 2), "cmd_rtt_p99_ms": round(pct(rtts, 99), 2),
                "cmd_rtt_max_ms": round(max(rtts), 2), "cmd_count": len(rtts), "cmd_ok": oks}
    finally:
        kiosk.close()
        counter.close()
        hub.stop()
        broker.stop()


# --- draining one device's backlog --------------------------------------------------------------

def bench_drain(work: Path, n: int) -> dict:
    c = Central(work / "drain", ["kiosk-1"], site="bench-site").start()
    try:
        toml = write_device(work / "drain-dev", c, "kiosk-1",
                            sync={"batch_events": 200, "window": 8, "ack_timeout_s": 20.0, "ack_timeout_max_s": 60.0,
                                  "nosub_retry_s": 0.5, "poll_s": 0.5, "status_interval_s": 5.0,
                                  "status_min_interval_s": 1.0})
        t = time.perf_counter()
        fill_store(toml, "bench-site", "kiosk-1", n, chunk=5000)
        fill_s = time.perf_counter() - t
        c.start_ingest()
        probe = c.link(topics.central_username("bench-site", "kiosk-1"))
        wait_item(probe, lambda i: isinstance(i, Connected))
        wait_ingest_subscribed(probe, "bench-site", "kiosk-1")
        probe.stop()
        t = time.perf_counter()
        c.start_agent(toml)
        wait_until(lambda: store_seqs(toml)[1] == n, 600, "the whole backlog acknowledged", interval=0.02)
        dt = time.perf_counter() - t
        central = c.count("kiosk-1")
        assert central == n and c.watermark("kiosk-1") == n, (central, c.watermark("kiosk-1"))
        return {"drain_events_per_s": round(n / dt), "drain_events": n, "drain_s": round(dt, 2),
                "drain_fill_s": round(fill_s, 2)}
    finally:
        c.stop_all()


# --- many devices at once -----------------------------------------------------------------------

def bench_ingest(work: Path, devices: int, per_device: int, workers: int) -> dict:
    names = [f"dev-{i:03d}" for i in range(devices)]
    c = Central(work / "ingest", names, site="bench-site").start()
    batch_events = 100
    links: list[MqttLink] = []
    try:
        for w in range(workers):
            c.start_ingest(f"ingest-{w}")
        # Pre-built batches: the devices only publish.
        payloads: dict[str, list[bytes]] = {}
        for name in names:
            evs = [Event(id=f"{name}-{s:08d}", site="bench-site", device=name, seq=s, type="feedback.given",
                         ts=1_795_000_000_000 + s, data={"rating": s % 5 + 1, "scale": 5}).to_json()
                   for s in range(1, per_device + 1)]
            payloads[name] = [('{"site":"bench-site","device":"%s","events":[%s]}'
                               % (name, ",".join(evs[i:i + batch_events]))).encode()
                              for i in range(0, per_device, batch_events)]
        for name in names:
            user = topics.central_username("bench-site", name)
            links.append(MqttLink(LinkOptions("127.0.0.1", c.device_port, user, username=user, password=c.users[user],
                                              max_inflight=100)).start())
        for link in links:
            assert link.wait_connected(30)
        wait_ingest_subscribed(links[0], "bench-site", names[0])
        go = threading.Barrier(devices + 1)
        refused = []

        def device(link: MqttLink, name: str) -> None:
            go.wait()
            mids = set()
            for p in payloads[name]:
                rc, mid = link.publish(topics.events("bench-site", name), p, qos=1)
                mids.add(mid)
            deadline = time.monotonic() + 120
            while mids and time.monotonic() < deadline:
                try:
                    item = link.inbox.get(timeout=1)
                except Exception:
                    continue
                if isinstance(item, PubAck) and item.mid in mids:
                    mids.discard(item.mid)
                    if item.code != 0:
                        refused.append(item.code)

        threads = [threading.Thread(target=device, args=(link, name)) for link, name in zip(links, names)]
        for t in threads:
            t.start()
        total = devices * per_device
        go.wait()
        t0 = time.perf_counter()
        wait_until(lambda: c.count() >= total, 600, "every event stored", interval=0.05)
        dt = time.perf_counter() - t0
        for t in threads:
            t.join(30)
        assert c.count() == total and not refused, (c.count(), refused[:5])
        wms = c.query("SELECT count(*) FROM watermarks WHERE seq = ?", (per_device,))[0][0]
        return {"ingest_events_per_s": round(total / dt), "ingest_devices": devices, "ingest_events": total,
                "ingest_s": round(dt, 2), "ingest_workers": workers, "ingest_devices_fully_acked": wms}
    finally:
        for link in links:
            link.stop()
        c.stop_all()


def main() -> int:
    base = os.environ.get("BENCH_DIR")
    work = Path(tempfile.mkdtemp(prefix="sync-bench-", dir=base))
    out: dict = {}
    out.update(bench_cmd_rtt(work, env_int("BENCH_CMDS", 300)))
    print(json.dumps(out))
    out.update(bench_drain(work, env_int("BENCH_DRAIN", 100_000)))
    print(json.dumps(out))
    out.update(bench_ingest(work, env_int("BENCH_DEVICES", 200), env_int("BENCH_PER_DEVICE", 500),
                            env_int("BENCH_INGEST_WORKERS", 1)))
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
