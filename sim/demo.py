"""The whole service point on one machine: what `make demo` runs.

Two Mosquittos (the site bus and a stand-in for the central broker, both with a password per
device and the project's ACLs; the devices reach the central one over TLS, with a throw-away CA
made by openssl at start, sim.tlsca), the hub, the central ingest, a sync agent per device, the
kiosk with an emulated printer on a pseudo-terminal, a number display, a counter panel and
the feedback terminal — and a simulated stream of customers and clerks (sim.crowd).

With a screen ($DISPLAY set) the windows appear and it runs until Ctrl-C; without one each
window gets its own Xvfb, and after `--duration` seconds it writes screenshots of every
window and a summary to the output folder. Either way Ctrl-C stops everything cleanly.
"""
from __future__ import annotations

import importlib.util
import json
import logging
import os
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bus import brokerconf, topics
from core import resources
from core.config import load_site
from sim.localnet import free_port, wait_port
from sim.sites import always_open_text
from sim.tlsca import make_ca
from sim.xvfb import Xvfb

log = logging.getLogger("demo")
EXAMPLE_SITE = resources.example_site()

#: device id → role; the simulated crowd has its own identities, so the apps keep theirs.
DEVICES = {"hub-1": "hub", "kiosk-1": "kiosk", "display-1": "display", "counter-1": "counter",
           "feedback-1": "feedback"}
SIM_DEVICES = {"sim-kiosk": "kiosk", "sim-clerk": "counter"}
#: Windows of the apps: (device, CLI arguments, window size)
APPS = (
    ("kiosk-1", ["kiosk"], (1080, 1920)),
    ("display-1", ["display"], (1920, 1080)),
    ("counter-1", ["counter", "panel"], (1280, 800)),
    ("feedback-1", ["feedback"], (1280, 800)),
)


@dataclass
class Proc:
    name: str
    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)
    popen: subprocess.Popen | None = None
    logfile: Path | None = None

    def start(self, logdir: Path) -> "Proc":
        self.logfile = logdir / f"{self.name}.log"
        env = dict(os.environ)
        env.update(self.env)
        with self.logfile.open("ab") as f:
            # Own process group: Ctrl-C in the terminal goes to the demo, which stops each
            # child in order (apps, agents, then brokers) instead of all at once.
            self.popen = subprocess.Popen(self.argv, stdout=f, stderr=subprocess.STDOUT, env=env,
                                          start_new_session=True)
        return self

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def stop(self, timeout: float = 8.0) -> None:
        if not self.alive():
            return
        assert self.popen is not None
        self.popen.terminate()
        try:
            self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait(5)


class ServicePoint:
    def __init__(self, out: Path, *, speed: float = 60.0, duration: float | None = None,
                 headless: bool | None = None, seed: int = 1, apps: bool = True, history: bool = False) -> None:
        self.out = out.resolve()
        self.work = self.out / "run"
        self.logs = self.out / "logs"
        self.shots = self.out / "screenshots"
        self.tickets_dir = self.out / "tickets"
        self.feedback_presses = self.out / "run" / "feedback-presses.txt"
        self.speed = speed
        self.duration = duration
        self.headless = (not os.environ.get("DISPLAY")) if headless is None else headless
        self.seed = seed
        self.with_apps = apps
        self.history = history
        self.procs: list[Proc] = []
        self.app_procs: dict[str, Proc] = {}
        self.xservers: list[Xvfb] = []
        self.passwords: dict[str, str] = {}
        self.stop_event = threading.Event()
        self.printer = None
        self.crowd = None
        self.site = None
        self.pg: Any = None  # sim.postgres.PostgresCluster, once started
        self.web: Any = None  # sim.demo_web.DemoWeb, once started
        self._phone: threading.Thread | None = None  # one customer's phone page, headless
        self._phone_stop = threading.Event()
        self.phone_shots: list[str] = []

    # --- preparation --------------------------------------------------------------------------

    def prepare(self) -> None:
        if self.work.exists():
            shutil.rmtree(self.work)
        for d in (self.work, self.logs, self.shots, self.tickets_dir):
            d.mkdir(parents=True, exist_ok=True)
        for old in list(self.shots.glob("*.png")) + list(self.tickets_dir.glob("*")):
            old.unlink()
        # Open whenever the demo runs (the example's real hours would show a closed site at night).
        text = always_open_text(EXAMPLE_SITE.read_text(encoding="utf-8"))
        for dev, role in SIM_DEVICES.items():
            text += f'\n[[devices]]\nid = "{dev}"\nrole = "{role}"\n'
        self.site_file = self.work / "site.toml"
        self.site_file.write_text(text, encoding="utf-8")
        self.site = load_site(self.site_file)
        sid = self.site.id
        # central_port: the devices' TLS listener; central_service_port: the ingest's own.
        self.site_port, self.central_port, self.central_service_port = free_port(), free_port(), free_port()
        self.hub_port = free_port()  # the hub's own listener on the site broker
        all_devices = {**DEVICES, **SIM_DEVICES}
        users = {dev: secrets.token_urlsafe(18) for dev in all_devices}
        central_users = {topics.central_username(sid, dev): secrets.token_urlsafe(18) for dev in DEVICES}
        # The site broker's bridge to the central broker (the phone pages' ticket states and cancels)
        central_users[brokerconf.bridge_username(sid)] = secrets.token_urlsafe(18)
        service_users = {"ingest": secrets.token_urlsafe(18), "publisher": secrets.token_urlsafe(18),
                         brokerconf.WEB_USER: secrets.token_urlsafe(18)}
        # the web service's port is known before the kiosks' configurations: their QR codes lead to it
        self.web_port = free_port()
        self.passwords = {**users, **central_users, **service_users}
        me = _user()
        # site broker
        sb = self.work / "site-broker"
        sb.mkdir()
        brokerconf.write_password_file(sb / "passwd", users)
        hubs = [dev for dev, role in DEVICES.items() if role == "hub"]
        brokerconf.write_password_file(sb / "hub-passwd", {dev: users[dev] for dev in hubs})
        (sb / "acl").write_text(brokerconf.render_site_acl(sid, all_devices))
        self.tls = make_ca(self.work / "ca", "palvelupiste demo CA")
        bridge = brokerconf.SiteBridge(sid, "127.0.0.1", self.central_port,
                                       central_users[brokerconf.bridge_username(sid)], cafile=str(self.tls.cafile))
        (sb / "mosquitto.conf").write_text(brokerconf.render_site_broker_conf(
            data_dir=sb, password_file=sb / "passwd", hub_password_file=sb / "hub-passwd", acl_file=sb / "acl",
            port=self.site_port, hub_port=self.hub_port, bind_address="127.0.0.1", user=me, bridge=bridge))
        (sb / "mosquitto.conf").chmod(0o600)  # it holds the bridge's password
        # central broker: the devices over TLS, as in production; the ingest on its own listener
        cb = self.work / "central-broker"
        cb.mkdir()
        brokerconf.write_password_file(cb / "passwd", central_users)
        brokerconf.write_password_file(cb / "service-passwd", service_users)
        (cb / "acl").write_text(brokerconf.render_central_acl({sid: list(DEVICES)}, bridges=[sid]))
        (cb / "mosquitto.conf").write_text(brokerconf.render_central_broker_conf(
            data_dir=cb, password_file=cb / "passwd", service_password_file=cb / "service-passwd",
            acl_file=cb / "acl", tls=self.tls, port=self.central_service_port, bind_address="127.0.0.1",
            device_port=self.central_port, device_bind_address="127.0.0.1", user=me))
        for name, pw in self.passwords.items():
            p = self.work / "secrets" / f"{name}.password"
            p.parent.mkdir(exist_ok=True)
            p.write_text(pw)
            p.chmod(0o600)
        self.device_configs = {dev: self._device_config(dev, role) for dev, role in DEVICES.items()}

    def secret(self, name: str) -> Path:
        return self.work / "secrets" / f"{name}.password"

    def _device_config(self, dev: str, role: str) -> Path:
        sid = self.site.id
        d = self.work / dev
        d.mkdir(parents=True, exist_ok=True)
        shutil.copy(self.site_file, d / "site.toml")
        # The hub on its own listener of the site broker, as provisioned (bus.brokerconf).
        site_url = brokerconf.site_hub_url(self.hub_port) if role == "hub" else f"mqtt://127.0.0.1:{self.site_port}"
        lines = [
            "[device]", f'id = "{dev}"', f'role = "{role}"', f'site = "{sid}"', f'data_dir = "{d}"',
            f'site_config = "{d / "site.toml"}"', "",
            "[site_broker]", f'url = "{site_url}"', f'username = "{dev}"',
            f'password_file = "{self.secret(dev)}"', "",
            "[central_broker]", f'url = "mqtts://127.0.0.1:{self.central_port}"',
            f'username = "{topics.central_username(sid, dev)}"',
            f'password_file = "{self.secret(topics.central_username(sid, dev))}"', f'ca_file = "{self.tls.cafile}"', "",
            "[sync]", "status_interval_s = 5", "",
        ]
        lines += self._role_section(dev, role)
        path = d / "device.toml"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return path

    def _role_section(self, dev: str, role: str) -> list[str]:
        if role == "hub":
            return ["[hub]", "heartbeat_s = 5"]
        if role == "kiosk":
            return ["[kiosk]", f'ticket_url = "http://127.0.0.1:{self.web_port}/t/{{site}}/{{token}}"',
                    "", "[printer]", 'url = "{printer_url}"']
        if role == "display":
            return ["[display]", 'orientation = "landscape"', "speak = true"]
        if role == "feedback":
            return ["[feedback]", "scale = 5"]
        if role == "counter":
            return ["[counter]", 'counter = "1"']
        return []

    # --- processes ----------------------------------------------------------------------------

    def _cli(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "cli", *args]

    def start_infrastructure(self) -> None:
        mosq = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        for name, port in (("site-broker", self.site_port), ("central-broker", self.central_port)):
            p = Proc(name, [mosq, "-c", str(self.work / name / "mosquitto.conf")]).start(self.logs)
            self.procs.append(p)
            if not wait_port(port, 10):
                raise RuntimeError(f"{name} did not start; see {p.logfile}")
        from central.store import CentralStore
        from sim.postgres import PostgresCluster

        # The central store: a PostgreSQL cluster of the demo's own (thrown away at the end; the
        # analysts' tables of the month are exported to central-export/ first).
        self.pg = PostgresCluster().start()
        self.central_db = self.pg.create_database("central")
        with CentralStore(self.central_db) as store:
            store.begin()
            store.register_site(self.site, self.site_file.read_text(encoding="utf-8"))
            store.commit()
        # The web service, with a login per role (and a year behind today with --history).
        from sim.demo_web import DemoWeb

        self.web = DemoWeb(self.central_db, self.site, self.site_file.read_text(encoding="utf-8"), self.logs,
                           port=self.web_port, follow=(f"mqtt://127.0.0.1:{self.central_service_port}",
                                                       self.secret(brokerconf.WEB_USER)))
        self.web.make_users()
        if self.history:
            log.info("filling a year of history …")
            log.info("history: %d events", self.web.fill_history())
        self.procs.append(Proc("web", self.web.command()).start(self.logs))
        if not self.web.wait():
            raise RuntimeError(f"the web service did not start; see {self.logs}")
        self.procs.append(Proc("ingest", self._cli(
            "central", "ingest", "--db", self.central_db, "--broker", f"mqtt://127.0.0.1:{self.central_service_port}",
            "--username", "ingest", "--password-file", str(self.secret("ingest")))).start(self.logs))
        self.procs.append(Proc("hub", self._cli("hub", "--config", str(self.device_configs["hub-1"])))
                          .start(self.logs))
        for dev in DEVICES:
            self.procs.append(Proc(f"sync-{dev}", self._cli("sync", "--config", str(self.device_configs[dev])))
                              .start(self.logs))

    def start_printer(self) -> None:
        from sim.printer_emulator import PtyPrinter

        self.printer = PtyPrinter().start()
        cfg = self.device_configs["kiosk-1"]
        cfg.write_text(cfg.read_text().replace("{printer_url}", self.printer.url()))
        threading.Thread(target=self._collect_tickets, name="tickets", daemon=True).start()

    def _collect_tickets(self) -> None:
        from sim.printer_render import job_text, render_png

        written = 0
        while not self.stop_event.is_set():
            jobs = self.printer.jobs()
            for job in jobs[written:]:
                written += 1
                base = self.tickets_dir / f"ticket-{written:04d}"
                try:
                    base.with_suffix(".txt").write_text(job_text(job), encoding="utf-8")
                    render_png(job, base.with_suffix(".png"))
                except Exception as exc:  # a rendering problem must not stop the demo
                    log.warning("could not render ticket %d: %s", written, exc)
            self.stop_event.wait(0.5)

    def start_apps(self) -> None:
        for dev, args, size in APPS:
            module = {"kiosk": "kiosk.app", "display": "display.app", "counter": "counter.app",
                      "feedback": "feedback_terminal.app"}[args[0]]
            # find_spec, not import: importing an app module here would open a Kivy window in
            # the demo's own process.
            if importlib.util.find_spec(module) is None:
                log.warning("%s is not available: skipped", module)
                continue
            env = {"KIVY_HOME": str(self.work / dev / "kivy"), "PALVELUPISTE_SCREENSHOT_DIR": str(self.shots)}
            if self.headless:
                x = Xvfb(size).start()
                self.xservers.append(x)
                env["DISPLAY"] = x.display
            # The apps' own start-up path with the simulation's drivers handed in (sim/apps.py):
            # the kiosk plays a customer through its own screens every few seconds, so tickets
            # are really printed; the feedback terminal plays what the crowd appends to a file.
            drivers = {"kiosk": ["--customers-every", "6"],
                       "feedback": ["--presses", str(self.feedback_presses)]}.get(args[0], [])
            argv = [sys.executable, "-m", "sim.apps", *args, "--config", str(self.device_configs[dev]), *drivers]
            p = Proc(dev, argv, env).start(self.logs)
            self.procs.append(p)
            self.app_procs[dev] = p

    def feedback_input(self):
        """How simulated customers press a smiley: lines in a file that the feedback app plays
        through its own screens and button path (sim.feedback_customers), when the app runs."""
        if "feedback-1" not in self.app_procs:
            return None
        from sim.feedback_customers import DemoPresses

        return DemoPresses(self.feedback_presses, seed=self.seed)

    def start_crowd(self) -> None:
        from sim.crowd import Crowd

        self.crowd = Crowd(self.site, f"mqtt://127.0.0.1:{self.site_port}", self.passwords,
                           speed=self.speed, seed=self.seed, feedback=self.feedback_input())
        self.crowd.start()

    # --- the run ------------------------------------------------------------------------------

    def run(self) -> dict[str, Any]:
        self.prepare()
        interrupted = False
        prev = signal.signal(signal.SIGTERM, lambda *_: self.stop_event.set())
        try:
            self.start_infrastructure()
            if self.with_apps:
                self.start_printer()
                self.start_apps()
            self.start_crowd()
            if self.headless and self.web is not None:
                self._phone = threading.Thread(target=self._phone_screenshots, name="phone", daemon=True)
                self._phone.start()
            print(f"Service point running: site broker mqtt://127.0.0.1:{self.site_port}, "
                  f"central broker mqtts://127.0.0.1:{self.central_port}; output in {self.out}")
            if self.web is not None:
                print(f"Reports and fleet view: {self.web.url}  (logins for this run only)")
                for role, (user, password) in self.web.logins.items():
                    print(f"  {role:11} user {user:11} password {password}")
            print("Ctrl-C stops it." if self.duration is None else f"Running for {self.duration:g} s …")
            deadline = None if self.duration is None else time.monotonic() + self.duration
            while not self.stop_event.is_set():
                if deadline is not None and time.monotonic() >= deadline:
                    break
                self.stop_event.wait(0.5)
                dead = [p.name for p in self.procs if not p.alive()]
                if dead:
                    raise RuntimeError(f"stopped unexpectedly: {', '.join(dead)} (logs in {self.logs})")
        except KeyboardInterrupt:
            interrupted = True
        finally:
            signal.signal(signal.SIGTERM, prev)
        return self.finish(interrupted)

    def _phone_screenshots(self) -> None:
        try:
            self.phone_shots = self.web.phone_screenshots(self.work / "hub-1" / "events.sqlite", self.shots,
                                                          self._phone_stop, timeout=self.duration or 120.0)
        except Exception as exc:  # the demo's summary matters more than its pictures
            log.warning("phone screenshots failed: %s", exc)

    def finish(self, interrupted: bool = False) -> dict[str, Any]:
        if self._phone is not None:
            self._phone.join(60)  # the customer's page once called, if the counters are about to
            self._phone_stop.set()
            self._phone.join(30)
        if self.crowd is not None:
            self.crowd.stop()
        summary: dict[str, Any] = {}
        try:
            self._screenshots()
            # The apps stopped before the last sync: an app that records one more event (an idle
            # reset, a late touch) after the wait would leave its device one event behind.
            for p in self.app_procs.values():
                p.stop()
            self._wait_synced(timeout=60)
            summary = self.summary()
            if self.headless and self.web is not None:
                try:
                    summary["web_screenshots"] = self.web.screenshots(self.shots)
                    summary["phone_screenshots"] = self.phone_shots
                except Exception as exc:  # the demo's summary matters more than its pictures
                    log.warning("web screenshots failed: %s", exc)
            (self.out / "summary.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False))
        finally:
            self.stop()
        summary["interrupted"] = interrupted
        return summary

    def stop(self) -> None:
        """Every process, the database, the X servers and the printer, stopped."""
        self.stop_event.set()
        for p in reversed(self.procs):
            p.stop()
        if self.pg is not None:
            self.pg.stop()
        for x in self.xservers:
            x.stop()
        if self.printer is not None:
            self.printer.stop()

    def _screenshots(self, timeout: float = 15.0) -> None:
        for p in self.app_procs.values():
            if p.alive():
                p.popen.send_signal(signal.SIGUSR1)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all((self.shots / f"{dev}.png").exists() for dev in self.app_procs):
                return
            time.sleep(0.2)
        log.warning("not every window answered the screenshot request")

    def _stores(self) -> dict[str, Any]:
        from core.store import EventStore

        out = {}
        for dev in DEVICES:
            path = self.work / dev / "events.sqlite"
            if path.exists():
                out[dev] = EventStore(path, self.site.id, dev, check=False)
        return out

    def _wait_synced(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            stores = self._stores()
            try:
                if all(s.acked_seq == s.last_seq for s in stores.values()):
                    return
            finally:
                for s in stores.values():
                    s.close()
            time.sleep(0.3)
        log.warning("not everything was acknowledged by the central side within %ss", timeout)

    def summary(self) -> dict[str, Any]:
        from central.export import export
        from central.monthly import per_site
        from central.store import CentralStore
        from core.engine import QueueState

        stores = self._stores()
        try:
            hub = stores["hub-1"]
            st = QueueState(self.site).apply_all(hub.iter_events())
            states: dict[str, int] = {}
            for t in st.tickets.values():
                states[t.state] = states.get(t.state, 0) + 1
            lost = [t.number for t in st.tickets.values() if t.state != "waiting" and t.called_ms is None
                    and t.state not in ("cancelled",)]
            devices = {dev: {"events": s.last_seq, "acked": s.acked_seq} for dev, s in stores.items()}
            feedback = 0
            if "feedback-1" in stores:
                feedback = sum(1 for e in stores["feedback-1"].iter_events() if e.type == "feedback.given")
        finally:
            for s in stores.values():
                s.close()
        from core.figures import SITE_LEVEL

        with CentralStore(self.central_db) as db:
            for dev in devices:
                devices[dev]["central"] = db.count_events(self.site.id, dev)
                seqs = db.seqs(self.site.id, dev)
                devices[dev]["central_gap_free"] = seqs == list(range(1, len(seqs) + 1))
            dead = db.dead_letter_count()
            # What the regional and national teams read: the analysts' views (a figure from fewer
            # than 5 tickets or responses withheld), and the month's tables as CSV files.
            fig = per_site(db.conn, site=self.site.id).get(self.site.id, {})
            for month in fig:
                export(db.conn, month, "csv", self.out / "central-export")
        return {
            "site": self.site.id,
            "tickets": len(st.tickets),
            "ticket_states": states,
            "calls": sum(1 for t in st.tickets.values() if t.called_ms is not None),
            "tickets_neither_called_nor_waiting": lost,
            "printed_tickets": len(list(self.tickets_dir.glob("*.txt"))),
            "feedback": feedback,
            "devices": devices,
            "all_events_central": all(d["events"] == d["central"] and d["central_gap_free"] for d in devices.values()),
            "dead_letters": dead,
            "screenshots": sorted(p.name for p in self.shots.glob("*.png")),
            "windows": sorted(self.app_procs),
            "crowd": self.crowd.stats() if self.crowd else {},
            # what the regional and national teams read (palvelupiste central figures)
            "figures": {m: v["services"].get(SITE_LEVEL) for m, v in fig.items()},
        }


def _user() -> str:
    import getpass

    return getpass.getuser()


def print_summary(s: dict[str, Any], out: Path) -> None:
    print(f"\nSummary ({out / 'summary.json'}):")
    print(f"  tickets {s.get('tickets')}  calls {s.get('calls')}  states {s.get('ticket_states')}")
    print(f"  printed tickets {s.get('printed_tickets')}  feedback {s.get('feedback')}  dead letters {s.get('dead_letters')}")
    for dev, d in (s.get("devices") or {}).items():
        print(f"  {dev:11} events {d['events']:5}  acknowledged {d['acked']:5}  in central database {d['central']:5}")
    print(f"  every event in the central database: {s.get('all_events_central')}")
    print(f"  screenshots: {', '.join(s.get('screenshots', [])) or '-'}")
